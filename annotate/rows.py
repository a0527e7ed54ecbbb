"""Expansion of cuts into rows: one generation request per (cut, kind, seed).

View k (0-based) of a (cut, kind) uses seed ``cfg.seed + k``. A row's caption id is
``make_caption_id(cut_id, kind, CaptionSource(engine, model, prompt_id, seed), 0)``; it is also the
request id, so reruns recognise a row as done by the caption it wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from lhotse.cut import Cut

from annotate.engines.base import GenerationRequest, SamplingConfig
from annotate.prompts import PromptTemplate, tag_values
from clsp.data.captions import Caption, CaptionSource, make_caption_id

_THINK = re.compile(r"^\s*<think>.*?</think>", re.DOTALL)


@dataclass(frozen=True)
class Row:
    cut_id: str
    kind: str
    seed: int
    caption_id: str


@dataclass(frozen=True)
class RowPlan:
    """What every row of a run shares: engine, model and prompt (the caption source), kinds and seeds."""

    engine: str
    model: str | None
    prompt_id: str
    kinds: tuple[str, ...]
    seeds: tuple[int, ...]

    def source(self, seed: int) -> CaptionSource:
        return CaptionSource(engine=self.engine, model=self.model, prompt_id=self.prompt_id, seed=seed)

    def rows(self, cut_id: str) -> list[Row]:
        """All rows of a cut: kinds × seeds, kind-major."""
        return [Row(cut_id, kind, seed, make_caption_id(cut_id, kind, self.source(seed), 0))
                for kind in self.kinds for seed in self.seeds]

    def caption(self, row: Row, text: str) -> Caption:
        return Caption(id=row.caption_id, kind=row.kind, text=text, source=self.source(row.seed))  # type: ignore[arg-type]


def make_request(
    row: Row,
    cut: Cut,
    audio: np.ndarray,
    template: PromptTemplate,
    sampling: SamplingConfig,
    prompt_id: str,
    tag_fields: list[str] | None = None,
    with_messages: bool = True,
) -> GenerationRequest:
    """The request of one row. ``audio``: (S,) float32 at 16 kHz. ``tag_fields`` (or None) fill the tag block.

    ``meta`` carries ``cut_id``, ``kind``, ``seed``, ``prompt_id`` and ``transcript`` (the joined
    supervision texts, or None). ``with_messages=False`` (engines that take no prompt) sends none.
    """
    texts = [s.text for s in cut.supervisions if s.text]
    meta: dict[str, Any] = {"cut_id": row.cut_id, "kind": row.kind, "seed": row.seed, "prompt_id": prompt_id,
                            "transcript": " ".join(texts) if texts else None}
    messages = template.messages(row.kind, tag_values(cut, tag_fields) if tag_fields else None) if with_messages else ()
    return GenerationRequest(request_id=row.caption_id, messages=messages, audio=audio, seed=row.seed,
                             sampling=sampling, meta=meta)


def clean_output(text: str | None) -> str:
    """A model's answer as a caption: a leading ``<think>…</think>`` block removed, whitespace trimmed."""
    return _THINK.sub("", text or "").strip()
