"""Caption records attached to lhotse cuts.

Every stage (synth, annotate, verify, train, eval) reads and writes the same record, stored as a
list of plain dicts in ``cut.custom["captions"]``::

    {"id": "s0-00012/fine/acoustic/3",           # unique within the cut, stable across reruns
     "kind": "global" | "fine",                   # global: one sentence; fine: detailed, time-aware
     "text": "A man speaks slowly ...",
     "source": {"engine": "synth" | "acoustic" | "vllm" | "openai" | "transformers" | "import",
                "model": str | None, "prompt_id": str | None, "seed": int | None},
     "status": "pending" | "kept" | "rejected",
     "reasons": ["negation: 'not'", ...]}          # why it was rejected; on a kept caption, checks that could
                                                   # not decide ("acoustic:uncertain:..."); empty when pending

Functions here never mutate a cut: they return copies (lhotse's ``with_custom`` convention).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from lhotse.cut import Cut

from clsp.errors import ManifestError

CaptionKind = Literal["global", "fine"]
CaptionStatus = Literal["pending", "kept", "rejected"]
KINDS: tuple[str, ...] = ("global", "fine")
STATUSES: tuple[str, ...] = ("pending", "kept", "rejected")
CAPTIONS_FIELD = "captions"


@dataclass(frozen=True)
class CaptionSource:
    """Where a caption came from. ``seed`` is the sampling seed of the generating request."""

    engine: str
    model: str | None = None
    prompt_id: str | None = None
    seed: int | None = None


@dataclass(frozen=True)
class Caption:
    id: str
    kind: CaptionKind
    text: str
    source: CaptionSource
    status: CaptionStatus = "pending"
    reasons: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "text": self.text,
            "source": dataclasses.asdict(self.source),
            "status": self.status,
            "reasons": list(self.reasons),
        }

    @staticmethod
    def from_dict(data: Any, where: str = "caption") -> Caption:
        """Parse and check one record; errors name ``where`` (e.g. ``"cut 'x' captions[2]"``)."""
        if not isinstance(data, dict):
            raise ManifestError(f"{where}: expected a caption record (mapping), got {type(data).__name__}")
        for key in ("id", "kind", "text", "source"):
            if key not in data:
                raise ManifestError(f"{where}: missing field '{key}'")
        if not isinstance(data["id"], str) or not data["id"]:
            raise ManifestError(f"{where}: field 'id' must be a non-empty string")
        if data["kind"] not in KINDS:
            raise ManifestError(f"{where}: field 'kind' must be 'global' or 'fine', got {data['kind']!r}")
        if not isinstance(data["text"], str):
            raise ManifestError(f"{where}: field 'text' must be a string, got {type(data['text']).__name__}")
        status = data.get("status", "pending")
        if status not in STATUSES:
            raise ManifestError(f"{where}: field 'status' must be one of {', '.join(STATUSES)}, got {status!r}")
        reasons = data.get("reasons", [])
        if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
            raise ManifestError(f"{where}: field 'reasons' must be a list of strings")
        src = data["source"]
        if not isinstance(src, dict) or not isinstance(src.get("engine"), str):
            raise ManifestError(f"{where}: field 'source' must be a mapping with a string 'engine'")
        unknown = set(src) - {"engine", "model", "prompt_id", "seed"}
        if unknown:
            raise ManifestError(f"{where}: unknown field(s) in 'source': {', '.join(sorted(unknown))}")
        seed = src.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ManifestError(f"{where}: field 'source.seed' must be an integer or null")
        return Caption(
            id=data["id"],
            kind=data["kind"],
            text=data["text"],
            source=CaptionSource(
                engine=src["engine"], model=src.get("model"), prompt_id=src.get("prompt_id"), seed=seed
            ),
            status=status,
            reasons=tuple(reasons),
        )

    def with_status(self, status: CaptionStatus, reasons: Iterable[str] = ()) -> Caption:
        return dataclasses.replace(self, status=status, reasons=tuple(reasons))


def make_caption_id(cut_id: str, kind: str, source: CaptionSource, index: int = 0) -> str:
    """A stable id: the same (cut, kind, engine, prompt, seed, index) always gives the same id."""
    parts = [cut_id, kind, source.engine]
    if source.prompt_id:
        parts.append(source.prompt_id)
    parts.append("s" + ("-" if source.seed is None else str(source.seed)))
    parts.append(str(index))
    return "/".join(parts)


def get_captions(
    cut: Cut,
    kind: str | None = None,
    status: str | Iterable[str] | None = None,
    engine: str | Iterable[str] | None = None,
) -> list[Caption]:
    """The cut's captions, optionally only those of ``kind``/``status``/``engine`` (in stored order)."""
    raw = (cut.custom or {}).get(CAPTIONS_FIELD, [])
    if not isinstance(raw, list):
        raise ManifestError(f"cut '{cut.id}': custom field 'captions' must be a list, got {type(raw).__name__}")
    caps = [Caption.from_dict(d, where=f"cut '{cut.id}' captions[{i}]") for i, d in enumerate(raw)]
    statuses = {status} if isinstance(status, str) else set(status) if status is not None else None
    engines = {engine} if isinstance(engine, str) else set(engine) if engine is not None else None
    return [
        c
        for c in caps
        if (kind is None or c.kind == kind)
        and (statuses is None or c.status in statuses)
        and (engines is None or c.source.engine in engines)
    ]


def has_captions(cut: Cut, kind: str | None = None, status: str | None = None, min_count: int = 1) -> bool:
    return len(get_captions(cut, kind=kind, status=status)) >= min_count


def with_captions(cut: Cut, captions: Iterable[Caption]) -> Cut:
    """A copy of ``cut`` whose caption list is exactly ``captions`` (ids must be unique)."""
    caps = list(captions)
    seen: set[str] = set()
    for c in caps:
        if c.id in seen:
            raise ManifestError(f"cut '{cut.id}': duplicate caption id '{c.id}'")
        seen.add(c.id)
    return cut.with_custom(CAPTIONS_FIELD, [c.to_dict() for c in caps])


def add_captions(cut: Cut, captions: Iterable[Caption]) -> Cut:
    """A copy of ``cut`` with ``captions`` appended; a caption whose id is already there replaces it."""
    new = list(captions)
    new_ids = {c.id for c in new}
    kept = [c for c in get_captions(cut) if c.id not in new_ids]
    return with_captions(cut, kept + new)


def filter_captions(cut: Cut, keep: Callable[[Caption], bool]) -> Cut:
    """A copy of ``cut`` holding only the captions for which ``keep(caption)`` is true."""
    return with_captions(cut, [c for c in get_captions(cut) if keep(c)])


def update_captions(cut: Cut, fn: Callable[[Caption], Caption]) -> Cut:
    """A copy of ``cut`` with ``fn`` applied to every caption (e.g. to set a verification status)."""
    return with_captions(cut, [fn(c) for c in get_captions(cut)])


def caption_texts(cut: Cut, kind: str, status: str | Iterable[str] | None = "kept") -> list[str]:
    """Texts of the cut's captions of ``kind``; by default only the kept ones."""
    return [c.text for c in get_captions(cut, kind=kind, status=status)]
