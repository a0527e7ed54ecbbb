"""Reading, writing and checking the lhotse CutSet manifests that every stage exchanges.

A data directory holds one manifest per split, named ``cuts_<split>.jsonl.gz`` (``train``, ``dev``,
``test``, and ``heldout`` for a synthetic corpus with a held-out voice source). Each cut is a lhotse
``MonoCut`` with one supervision (transcript in ``text``, speaker in
``speaker``) and custom fields:

- ``captions``: caption records (see :mod:`clsp.data.captions`);
- style attributes, one string each: ``gender``, ``pitch``, ``pitch_range``, ``speaking_rate``,
  ``loudness``, ``voice_quality``, ``emotion`` (a value of ``"varying"`` means it changes within the clip);
- ``style_segments``: ``[{"start": s, "end": s, <attribute>: value, ...}]`` in seconds, when known.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lhotse import CutSet
from lhotse.cut import Cut

from clsp.data.captions import get_captions
from clsp.errors import ClspError, ManifestError

STYLE_FIELDS: tuple[str, ...] = (
    "gender",
    "pitch",
    "pitch_range",
    "speaking_rate",
    "loudness",
    "voice_quality",
    "emotion",
)
SPLITS: tuple[str, ...] = ("train", "dev", "test")
# A corpus may also hold a split whose whole voice source (one engine) never appears in training: `clsp synth`'s
# ``heldout_source`` clips, written as ``cuts_heldout.jsonl.gz`` (only when the config names such a source).
HELDOUT_SPLIT = "heldout"


def split_manifest_path(data_dir: str | Path, split: str) -> Path:
    return Path(data_dir) / f"cuts_{split}.jsonl.gz"


def find_split_manifest(data_dir: str | Path, split: str) -> Path:
    """The ``split`` manifest of a data directory written by ``clsp synth`` or ``clsp annotate``."""
    path = split_manifest_path(data_dir, split)
    if not path.is_file():
        found = sorted(p.name for p in Path(data_dir).glob("cuts_*.jsonl.gz")) if Path(data_dir).is_dir() else []
        hint = f" (found: {', '.join(found)})" if found else ""
        raise ManifestError(f"{data_dir}: no '{path.name}' manifest for split '{split}'{hint}")
    return path


def read_cuts(path: str | Path) -> CutSet:
    """Open a ``.jsonl.gz`` (or ``.jsonl``) CutSet manifest lazily."""
    p = Path(path)
    if not p.is_file():
        raise ManifestError(f"{p}: manifest not found")
    if not (p.name.endswith(".jsonl.gz") or p.name.endswith(".jsonl")):
        raise ManifestError(f"{p}: expected a .jsonl.gz or .jsonl lhotse CutSet manifest")
    return CutSet.from_jsonl_lazy(p)


def write_cuts(cuts: Iterable[Cut], path: str | Path) -> Path:
    """Write cuts to a ``.jsonl.gz`` manifest (atomically: a temp file renamed into place)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp.jsonl.gz")
    (cuts if isinstance(cuts, CutSet) else CutSet.from_cuts(cuts)).to_file(tmp)
    tmp.replace(p)
    return p


def resolve_inputs(inputs: Iterable[Path], out: Path) -> list[Path]:
    """Manifests named by ``inputs`` (files, or data directories holding ``cuts_*.jsonl.gz``) for a stage that
    writes one manifest of the same file name per input into ``out`` (annotate, verify): names must be unique
    and no input may lie in ``out``."""
    manifests: list[Path] = []
    for p in map(Path, inputs):
        if p.is_dir():
            found = sorted(p.glob("cuts_*.jsonl.gz"))
            if not found:
                raise ManifestError(f"{p}: no cuts_*.jsonl.gz manifest in this directory")
            manifests.extend(found)
        elif p.is_file():
            if not p.name.endswith((".jsonl.gz", ".jsonl")):
                raise ManifestError(f"{p}: expected a .jsonl.gz lhotse CutSet manifest or a data directory")
            manifests.append(p)
        else:
            raise ManifestError(f"{p}: input not found")
    twice = [n for n, k in Counter(m.name for m in manifests).items() if k > 1]
    if twice:
        raise ClspError(f"two inputs share the file name {twice[0]!r}: their outputs would collide in {out}")
    for m in manifests:
        if m.resolve().parent == Path(out).resolve():
            raise ClspError(f"{m}: the input lies in the output directory; choose another --output")
    return manifests


def iter_raw(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, dict)`` of a manifest, with a clear error for lines that are not JSON."""
    p = Path(path)
    opener = gzip.open if p.name.endswith(".gz") else open
    with opener(p, "rt") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise ManifestError(f"{p}:{lineno}: not a JSON object ({e.msg})") from None


def validate_cut(cut: Cut, check_audio: bool = True) -> None:
    """Raise :class:`ManifestError` naming the cut if it does not follow the data model."""
    where = f"cut '{cut.id}'"
    if cut.duration is None or cut.duration <= 0:
        raise ManifestError(f"{where}: duration must be > 0 seconds, got {cut.duration}")
    if not cut.has_recording:
        raise ManifestError(f"{where}: has no recording")
    if check_audio:
        for src in cut.recording.sources:
            if src.type == "file" and not Path(src.source).is_file():
                raise ManifestError(f"{where}: audio file '{src.source}' not found")
    get_captions(cut)  # checks every caption record
    custom = cut.custom or {}
    for name in STYLE_FIELDS:
        if name in custom and not isinstance(custom[name], str):
            raise ManifestError(f"{where}: style field '{name}' must be a string, got {type(custom[name]).__name__}")
    segs = custom.get("style_segments")
    if segs is not None:
        if not isinstance(segs, list):
            raise ManifestError(f"{where}: 'style_segments' must be a list")
        for i, s in enumerate(segs):
            if not isinstance(s, dict) or not {"start", "end"} <= set(s) or not s["start"] < s["end"]:
                raise ManifestError(f"{where}: style_segments[{i}] needs 'start' < 'end' in seconds")


def load_checked(path: str | Path, check_audio: bool = True) -> list[Cut]:
    """Read a whole manifest eagerly, checking every cut; errors name the file and the cut id."""
    p = Path(path)
    cuts = []
    for lineno, raw in iter_raw(p):
        try:
            cut = _cut_from_dict(raw)
        except ManifestError:
            raise
        except Exception as e:  # lhotse's own deserialisation errors
            cid = raw.get("id", "?") if isinstance(raw, dict) else "?"
            raise ManifestError(f"{p}:{lineno}: cut '{cid}' is not a valid lhotse cut ({type(e).__name__}: {e})") from None
        try:
            validate_cut(cut, check_audio=check_audio)
        except ManifestError as e:
            raise ManifestError(f"{p}: {e}") from None
        cuts.append(cut)
    return cuts


def _cut_from_dict(raw: Any) -> Cut:
    from lhotse.serialization import deserialize_item

    if not isinstance(raw, dict) or "id" not in raw:
        raise ManifestError("expected a cut object with an 'id'")
    return deserialize_item(raw)


def summarize(cuts: Iterable[Cut]) -> dict[str, Any]:
    """Counts for a manifest: cuts, hours, captions by kind/status/engine, style attribute values."""
    n = 0
    seconds = 0.0
    caps: Counter[str] = Counter()
    attrs: dict[str, Counter[str]] = {name: Counter() for name in STYLE_FIELDS}
    speakers: set[str] = set()
    for cut in cuts:
        n += 1
        seconds += cut.duration
        for c in get_captions(cut):
            caps[f"{c.kind}/{c.status}/{c.source.engine}"] += 1
        for name in STYLE_FIELDS:
            value = (cut.custom or {}).get(name)
            if value is not None:
                attrs[name][value] += 1
        for s in cut.supervisions:
            if s.speaker:
                speakers.add(s.speaker)
    return {
        "cuts": n,
        "hours": round(seconds / 3600, 4),
        "speakers": len(speakers),
        "captions": dict(sorted(caps.items())),
        "attributes": {k: dict(sorted(v.items())) for k, v in attrs.items() if v},
    }
