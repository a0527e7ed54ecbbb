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
import hashlib
import json
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lhotse import CutSet
from lhotse.cut import Cut
from lhotse.lazy import Dillable

from clsp.data.captions import get_captions
from clsp.errors import ClspError, ManifestError
from clsp.outputs import atomic_path, is_temp_name

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
        found = (sorted(p.name for p in Path(data_dir).glob("cuts_*.jsonl.gz") if not is_temp_name(p.name))
                 if Path(data_dir).is_dir() else [])
        hint = f" (found: {', '.join(found)})" if found else ""
        raise ManifestError(f"{data_dir}: no '{path.name}' manifest for split '{split}'{hint}")
    return path


def read_cuts(path: str | Path, recording: bool = True, unique_ids: bool = True) -> CutSet:
    """Open a ``.jsonl.gz`` (or ``.jsonl``) CutSet manifest lazily; every cut is checked as it is read.

    The one manifest loader of every stage: a damaged (truncated) gzip stream, a line that is not JSON,
    an object that is not a lhotse cut or breaks the data model (see :func:`validate_cut`), a cut without a
    recording (unless ``recording=False``) and a repeated cut id (unless ``unique_ids=False``) raise a
    one-line :class:`ManifestError` naming the file and line.
    """
    p = Path(path)
    if not p.is_file():
        raise ManifestError(f"{p}: manifest not found")
    if not p.name.endswith((".jsonl.gz", ".jsonl")):
        raise ManifestError(f"{p}: expected a .jsonl.gz or .jsonl lhotse CutSet manifest")
    return CutSet(CheckedCuts(p, recording=recording, unique_ids=unique_ids))


class CheckedCuts(Dillable):
    """The lazy source behind :func:`read_cuts`: iterating yields checked cuts; ``len`` counts the lines."""

    def __init__(self, path: Path, recording: bool = True, unique_ids: bool = True):
        self.path, self.recording, self.unique_ids = Path(path), recording, unique_ids
        self._len: int | None = None

    def __iter__(self) -> Iterator[Cut]:
        seen: set[int] = set()
        n = 0
        for lineno, raw in iter_raw(self.path):
            cut = _cut_from_dict(raw, f"{self.path}:{lineno}")
            try:
                validate_cut(cut, check_audio=False, require_recording=self.recording)
            except ManifestError as e:
                raise ManifestError(f"{self.path}:{lineno}: {e}") from None
            if self.unique_ids:
                h = id_hash(cut.id)
                if h in seen:
                    raise ManifestError(f"{self.path}:{lineno}: cut id '{cut.id}' appears twice (cut ids must be "
                                        "unique in a manifest)")
                seen.add(h)
            n += 1
            yield cut
        self._len = n

    def __len__(self) -> int:
        if self._len is None:
            self._len = count_cuts(self.path)
        return self._len

    def __add__(self, other):
        from lhotse.lazy import LazyIteratorChain

        return LazyIteratorChain(self, other)


def write_cuts(cuts: Iterable[Cut], path: str | Path) -> Path:
    """Write cuts one by one to a ``.jsonl.gz`` (or ``.jsonl``) manifest, atomically: a temporary file
    (:func:`clsp.outputs.temp_path`, which no input glob matches) renamed into place."""
    p = Path(path)
    with atomic_path(p) as tmp:
        with (gzip.open(tmp, "wt", encoding="utf-8") if p.name.endswith(".gz")
              else open(tmp, "w", encoding="utf-8")) as f:
            for cut in cuts:
                f.write(json.dumps(cut.to_dict(), ensure_ascii=False) + "\n")
    return p


def count_cuts(path: str | Path) -> int:
    """Non-blank lines of a manifest (a damaged gzip stream is a one-line :class:`ManifestError`)."""
    p = Path(path)
    try:
        with (gzip.open(p, "rb") if p.name.endswith(".gz") else open(p, "rb")) as f:
            return sum(1 for line in f if line.strip())
    except (EOFError, OSError, zlib.error) as e:
        raise ManifestError(damaged_message(p, None, e)) from None


def id_hash(text: str) -> int:
    """A 64-bit hash of a cut or caption id (sets of them stay small for millions of ids)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def damaged_message(p: Path, lineno: int | None, e: BaseException) -> str:
    """The one line for a manifest whose (gzip) stream cannot be read to its end."""
    where = f" after line {lineno}" if lineno else ""
    return f"{p}: the file is damaged{where} ({type(e).__name__}: {e}); was it cut short by an interrupted write?"


def resolve_inputs(inputs: Iterable[Path], out: Path) -> list[Path]:
    """Manifests named by ``inputs`` (files, or data directories holding ``cuts_*.jsonl.gz``) for a stage that
    writes one manifest of the same file name per input into ``out`` (annotate, verify): names must be unique,
    no input may lie in ``out`` and ``out`` must be a folder. Temporary files of an interrupted write
    (:func:`clsp.outputs.is_temp_name`) are never inputs."""
    manifests: list[Path] = []
    for p in map(Path, inputs):
        if p.is_dir():
            found = sorted(m for m in p.glob("cuts_*.jsonl.gz") if not is_temp_name(m.name))
            if not found:
                raise ManifestError(f"{p}: no cuts_*.jsonl.gz manifest in this directory")
            manifests.extend(found)
        elif p.is_file():
            if not p.name.endswith((".jsonl.gz", ".jsonl")) or is_temp_name(p.name):
                raise ManifestError(f"{p}: expected a .jsonl.gz lhotse CutSet manifest or a data directory")
            manifests.append(p)
        else:
            raise ManifestError(f"{p}: input not found")
    twice = [n for n, k in Counter(m.name for m in manifests).items() if k > 1]
    if twice:
        raise ClspError(f"two inputs share the file name {twice[0]!r}: their outputs would collide in {out}")
    if Path(out).exists() and not Path(out).is_dir():
        raise ClspError(f"{out}: --output must be a folder, but a file of that name exists")
    for m in manifests:
        if m.resolve().parent == Path(out).resolve():
            raise ClspError(f"{m}: the input lies in the output directory; choose another --output")
    return manifests


def iter_raw(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, dict)`` of a manifest, with a clear error for lines that are not JSON."""
    p = Path(path)
    lineno = 0
    try:
        with (gzip.open(p, "rt", encoding="utf-8") if p.name.endswith(".gz") else open(p, encoding="utf-8")) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield lineno, json.loads(line)
                except json.JSONDecodeError as e:
                    raise ManifestError(f"{p}:{lineno}: not a JSON object ({e.msg})") from None
    except (EOFError, OSError, zlib.error, UnicodeDecodeError) as e:
        raise ManifestError(damaged_message(p, lineno, e)) from None


def validate_cut(cut: Cut, check_audio: bool = True, require_recording: bool = True) -> None:
    """Raise :class:`ManifestError` naming the cut if it does not follow the data model."""
    where = f"cut '{cut.id}'"
    if cut.duration is None or not cut.duration > 0:
        raise ManifestError(f"{where}: duration must be > 0 seconds, got {cut.duration}")
    if not cut.has_recording:
        if require_recording:
            raise ManifestError(f"{where}: has no recording (every stage needs the cut's audio)")
    elif check_audio:
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
    """Read a whole manifest eagerly (:func:`read_cuts`), also checking that audio files exist."""
    cuts = []
    for cut in read_cuts(path):
        if check_audio:
            try:
                validate_cut(cut, check_audio=True)
            except ManifestError as e:
                raise ManifestError(f"{path}: {e}") from None
        cuts.append(cut)
    return cuts


def _cut_from_dict(raw: Any, where: str) -> Cut:
    from lhotse.serialization import deserialize_item

    if not isinstance(raw, dict) or "id" not in raw:
        raise ManifestError(f"{where}: expected a lhotse cut object with an 'id', got {type(raw).__name__}")
    try:
        cut = deserialize_item(raw)
    except Exception as e:  # lhotse's own deserialisation errors
        raise ManifestError(f"{where}: cut '{raw.get('id')}' is not a valid lhotse cut "
                            f"({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(cut, Cut):
        raise ManifestError(f"{where}: '{raw.get('id')}' is a {type(cut).__name__}, not a cut")
    return cut


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
