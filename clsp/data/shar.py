"""Lhotse Shar exports of a manifest: the cuts and their audio in numbered shards read sequentially.

A Shar folder (written by :func:`export_shar`, ``clsp manifest export-shar``) holds, per shard ``NNNNNN``,
``cuts.NNNNNN.jsonl.gz`` (the cuts with every custom field: captions, style labels, segments) and
``recording.NNNNNN.tar`` (each cut's audio as FLAC, lossless for our 16-bit audio, in the same order).
Training reads it with lhotse's own :meth:`lhotse.CutSet.from_shar`: one open tar per shard, read front to
back, instead of one small file per clip.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from lhotse import CutSet
from lhotse.utils import fastcopy

from clsp.data.manifest import id_hash, read_cuts
from clsp.errors import ClspError, ManifestError
from clsp.outputs import temp_path

AUDIO_FORMAT = "flac"  # lossless for 16-bit PCM: the round trip keeps every sample
_READER_NOTES = ("shard_origin", "shar_epoch")  # what LazySharIterator adds to each cut's custom fields
_SHARD = re.compile(r"^(cuts|recording)\.(\d{6})\.(jsonl\.gz|tar)$")


def export_shar(manifest: str | Path, out: str | Path, shard_size: int = 1000) -> dict[str, Any]:
    """Write ``manifest``'s cuts and audio to a new Shar folder ``out`` (``shard_size`` cuts per shard).

    The folder is written under a temporary name and renamed into place when complete, so an interrupted
    export never looks like a finished one. ``out`` must not exist or be empty. Returns counts:
    ``{"cuts", "shards", "seconds" (of audio), "bytes", "wall_s"}``.
    """
    if shard_size < 1:
        raise ClspError(f"--shard-size must be >= 1, got {shard_size}")
    dest = Path(out)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ClspError(f"{dest}: --out must be a new or empty folder (a Shar export is written whole)")
    cuts = read_cuts(manifest)
    for cut in cuts:  # every audio file is there before a byte is written
        for src in cut.recording.sources:
            if src.type == "file" and not Path(src.source).is_file():
                raise ManifestError(f"{manifest}: cut '{cut.id}': audio file '{src.source}' not found")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(dest)
    shutil.rmtree(tmp, ignore_errors=True)
    start = time.perf_counter()
    try:
        tmp.mkdir()
        paths = cuts.to_shar(tmp, fields={"recording": AUDIO_FORMAT}, shard_size=shard_size)
        os.replace(tmp, dest)  # replaces an empty folder too
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    n, seconds = 0, 0.0
    for cut in read_cuts(manifest):
        n += 1
        seconds += cut.duration
    return {"cuts": n, "shards": len(paths["cuts"]), "seconds": round(seconds, 1),
            "bytes": sum(p.stat().st_size for p in dest.iterdir()), "wall_s": round(time.perf_counter() - start, 2)}


def is_shar_dir(path: str | Path) -> bool:
    """True when ``path`` is a folder holding ``cuts.000000.jsonl.gz`` (the first shard of a Shar export)."""
    return (Path(path) / "cuts.000000.jsonl.gz").is_file()


def shar_shards(path: str | Path) -> list[tuple[Path, Path]]:
    """``[(cuts.NNNNNN.jsonl.gz, recording.NNNNNN.tar), ...]`` of a Shar folder, in shard order; anything else
    (no shards, a missing partner, a gap, a stray file) is a one-line :class:`ManifestError` naming the folder."""
    p = Path(path)
    expected = "a Lhotse Shar export (cuts.NNNNNN.jsonl.gz + recording.NNNNNN.tar, from `clsp manifest export-shar`)"
    if not p.is_dir():
        raise ManifestError(f"{p}: not found; expected {expected}")
    shards: dict[str, dict[str, Path]] = {}
    for f in p.iterdir():
        m = _SHARD.match(f.name)
        if m is None:
            raise ManifestError(f"{p}: '{f.name}' is not part of {expected}")
        shards.setdefault(m.group(2), {})[m.group(1)] = f
    if not shards:
        raise ManifestError(f"{p}: not {expected}: no shards in it")
    pairs = []
    for i, key in enumerate(sorted(shards)):
        if key != f"{i:06d}" or set(shards[key]) != {"cuts", "recording"}:
            raise ManifestError(f"{p}: shard {key} is incomplete or out of sequence; expected {expected}")
        pairs.append((shards[key]["cuts"], shards[key]["recording"]))
    return pairs


def check_shar(path: str | Path) -> int:
    """Read every cut of a Shar folder's manifests (not its audio) against the data model, as :func:`read_cuts`
    does, with ids unique over all shards; returns the number of cuts."""
    seen: set[int] = set()
    for cuts_path, _ in shar_shards(path):
        for cut in read_cuts(cuts_path):
            h = id_hash(cut.id)
            if h in seen:
                raise ManifestError(f"{cuts_path}: cut id '{cut.id}' appears in two shards")
            seen.add(h)
    return len(seen)


def read_shar(path: str | Path) -> CutSet:
    """A Shar folder as a lazy CutSet (lhotse's :meth:`CutSet.from_shar`), shards in order: the cuts come in
    the order of the exported manifest, each with its audio in memory and the custom fields it was exported
    with (the reader's own ``shard_origin`` / ``shar_epoch`` notes are dropped)."""
    pairs = shar_shards(path)
    return CutSet.from_shar(fields={"cuts": [c for c, _ in pairs], "recording": [r for _, r in pairs]}).map(
        _without_reader_notes)


def _without_reader_notes(cut):
    custom = {k: v for k, v in (cut.custom or {}).items() if k not in _READER_NOTES}
    return fastcopy(cut, custom=custom or None)
