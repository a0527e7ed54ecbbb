"""Style similarity: does the model's similarity follow human ratings? (Pearson and Spearman r)

The ratings file is a CSV with a header row and these columns (any order; others are ignored):

==========  ========  ===============================================================================
column      required  meaning
==========  ========  ===============================================================================
audio       yes       the rated speech clip: a path, absolute or relative to the CSV's folder
text        one of    a style description: the pair is speech↔text
ref_audio   one of    a second clip (path as ``audio``): the pair is speech↔speech
rating      yes       the human similarity rating, a number on any scale (higher = more similar)
group       no        a subset name (e.g. ``intrinsic`` / ``situational``): figures are also given per group
==========  ========  ===============================================================================

Each row fills exactly one of ``text`` and ``ref_audio``. A bad row stops the run with one line naming
``file:line`` and the problem. Correlations are computed per pair kind (speech↔text, speech↔speech) and
per (kind, group), with the local ``evaluate`` module ``eval/metrics/correlation``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from clsp.errors import ClspError
from eval.embed import embed_audio
from eval.metrics import load_metric

REQUIRED = ("audio", "rating")
KINDS = ("speech_text", "speech_speech")


@dataclass(frozen=True)
class RatedPair:
    line: int  # line number in the CSV (1 = header)
    audio: str
    rating: float
    text: str | None = None
    ref_audio: str | None = None
    group: str | None = None

    @property
    def kind(self) -> str:
        return "speech_text" if self.text is not None else "speech_speech"


def _audio_path(value: str, base: Path, where: str, column: str) -> str:
    path = Path(value) if Path(value).is_absolute() else base / value
    if not path.is_file():
        raise ClspError(f"{where}: column '{column}': audio file '{value}' not found")
    return str(path)


def read_pairs(path: str | Path) -> list[RatedPair]:
    """Parse and check a ratings CSV (see the module docstring); audio paths come back resolved."""
    p = Path(path)
    if not p.is_file():
        raise ClspError(f"{p}: ratings file not found")
    with open(p, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if missing or not {"text", "ref_audio"} & set(header):
            need = missing + ([] if {"text", "ref_audio"} & set(header) else ["text or ref_audio"])
            raise ClspError(f"{p}:1: missing column(s) {', '.join(need)} (header: {', '.join(header) or 'empty'})")
        pairs = []
        for row in reader:
            where = f"{p}:{reader.line_num}"
            if None in row:
                raise ClspError(f"{where}: more fields than the header has columns")
            text = (row.get("text") or "").strip() or None
            ref = (row.get("ref_audio") or "").strip() or None
            if (text is None) == (ref is None):
                raise ClspError(f"{where}: fill exactly one of 'text' (speech-text pair) and 'ref_audio' "
                                "(speech-speech pair)")
            audio = (row.get("audio") or "").strip()
            if not audio:
                raise ClspError(f"{where}: column 'audio' is empty")
            try:
                rating = float(row["rating"])
            except (TypeError, ValueError):
                raise ClspError(f"{where}: column 'rating' must be a number, got {row['rating']!r}") from None
            if not math.isfinite(rating):
                raise ClspError(f"{where}: column 'rating' must be a finite number, got {row['rating']!r}")
            pairs.append(RatedPair(
                line=reader.line_num, audio=_audio_path(audio, p.parent, where, "audio"), rating=rating, text=text,
                ref_audio=_audio_path(ref, p.parent, where, "ref_audio") if ref else None,
                group=(row.get("group") or "").strip() or None))
    if not pairs:
        raise ClspError(f"{p}: no rated pairs (only a header)")
    return pairs


def pair_similarities(model, pairs: Sequence[RatedPair], batch_size: int = 16,
                      progress: bool | None = None) -> list[float]:
    """Model cosine similarity of each pair; every distinct clip and text is embedded once."""
    clips = sorted({p.audio for p in pairs} | {p.ref_audio for p in pairs if p.ref_audio})
    texts = sorted({p.text for p in pairs if p.text})
    clip_row = {c: i for i, c in enumerate(clips)}
    text_row = {t: i for i, t in enumerate(texts)}
    speech = embed_audio(model, clips, batch_size=batch_size, progress=progress)
    text = model.encode_text(texts) if texts else torch.zeros(0, speech.shape[1])
    sims = []
    for p in pairs:
        other = text[text_row[p.text]] if p.text is not None else speech[clip_row[p.ref_audio]]
        sims.append(float(speech[clip_row[p.audio]] @ other))
    return sims


def style_similarity(model, pairs: Sequence[RatedPair], batch_size: int = 16, progress: bool | None = None) -> dict:
    """Pearson/Spearman r per pair kind and per (kind, group), and every pair's model similarity."""
    sims = pair_similarities(model, pairs, batch_size, progress)
    metric = load_metric("correlation")
    subsets: dict[tuple[str, str | None], list[int]] = {}
    for i, p in enumerate(pairs):
        subsets.setdefault((p.kind, None), []).append(i)
        if p.group is not None:
            subsets.setdefault((p.kind, p.group), []).append(i)
    result: dict = {kind: None for kind in KINDS}
    result["by_group"] = {}
    for (kind, group), idx in sorted(subsets.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        figures = metric.compute(predictions=[sims[i] for i in idx], references=[pairs[i].rating for i in idx])
        if group is None:
            result[kind] = figures
        else:
            result["by_group"][f"{kind}/{group}"] = figures
    result["pairs"] = [{"line": p.line, "kind": p.kind, "group": p.group, "rating": p.rating, "similarity": s}
                       for p, s in zip(pairs, sims)]
    return result
