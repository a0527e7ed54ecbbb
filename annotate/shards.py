"""Resumable, crash-safe output: per-run shards and the merged manifest built from them.

Layout under the output directory, for an input manifest ``cuts_train.jsonl.gz``::

    shards/cuts_train/<run_id>.jsonl   one lhotse cut per line (a uncompressed CutSet manifest): a cut
                                       (or VAD piece) whose requests have all come back, holding only the
                                       captions written by that run
    cuts_train.jsonl.gz                the merged manifest, rebuilt from every shard at the end of a run

Each run appends to a shard of its own; a line is written with one ``write`` and flushed at once (a
``kill -9`` then loses only requests still in flight) and fsync'ed every few lines (for power loss).
Readers skip a torn last line. Caption ids are stable, so the merge unions captions by id and a rerun
recognises every (cut, kind, seed) already written.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from lhotse.cut import Cut
from lhotse.serialization import deserialize_item

from clsp.data.captions import CAPTIONS_FIELD, add_captions, get_captions
from clsp.data.manifest import id_hash, write_cuts
from clsp.errors import ManifestError

log = logging.getLogger(__name__)


def manifest_stem(path: Path) -> str:
    """``cuts_train.jsonl.gz`` -> ``cuts_train``."""
    name = path.name
    for ext in (".jsonl.gz", ".jsonl"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return path.stem


def new_run_id() -> str:
    """Sortable by start time: ``20260101T120000.123456-<pid>``."""
    t = time.time()
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}-{os.getpid()}"


class ShardWriter:
    """Appends cuts to one shard file; every line flushed, fsync'ed every ``fsync_every`` lines and on close."""

    def __init__(self, path: Path, fsync_every: int = 32):
        self.path = path
        self.fsync_every = fsync_every
        self._f: Any = None  # opened on the first line: a run with nothing to write leaves no file
        self._unsynced = 0
        self.lines = 0

    def write(self, cut: Cut) -> None:
        if self._f is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(self.path, "a", encoding="utf-8")
        self._f.write(json.dumps(cut.to_dict(), ensure_ascii=False) + "\n")
        self._f.flush()
        self.lines += 1
        self._unsynced += 1
        if self._unsynced >= self.fsync_every:
            self.sync()

    def sync(self) -> None:
        os.fsync(self._f.fileno())
        self._unsynced = 0

    def close(self) -> None:
        if self._f is not None and not self._f.closed:
            self.sync()
            self._f.close()


def iter_shard_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(byte_offset, cut dict)`` of each complete line of a shard; a torn last line is skipped."""
    with open(path, "rb") as f:
        offset = 0
        for lineno, raw in enumerate(f, 1):
            start, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            try:
                if not raw.endswith(b"\n"):
                    raise ValueError("no newline")
                yield start, json.loads(raw)
            except ValueError:
                if f.read(1):  # not the last line: this is damage, not an interrupted write
                    raise ManifestError(f"{path}:{lineno}: not a JSON cut line (damaged shard)") from None
                log.warning("%s: ignoring a torn last line (an interrupted run)", path)


def source_id(cut_dict: dict[str, Any]) -> str:
    """The input cut a shard line came from: the VAD parent of a piece, else the cut itself."""
    vad = (cut_dict.get("custom") or {}).get("vad")
    return vad["parent"] if isinstance(vad, dict) and "parent" in vad else cut_dict["id"]


@dataclass
class ShardIndex:
    """What the shards of one manifest hold: done caption ids (as 64-bit hashes, sorted), where each input
    cut's lines are (``(file index, byte offset)``), and the piece ids of VAD-split cuts."""

    files: list[Path] = field(default_factory=list)
    done: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    lines: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    pieces: dict[str, list[str]] = field(default_factory=dict)
    piece_counts: dict[str, int] = field(default_factory=dict)
    _handles: dict[int, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, shard_dir: Path) -> ShardIndex:
        index = cls(files=sorted(shard_dir.glob("*.jsonl")) if shard_dir.is_dir() else [])
        hashes: list[int] = []
        for i, path in enumerate(index.files):
            for offset, d in iter_shard_lines(path):
                src = source_id(d)
                index.lines.setdefault(src, []).append((i, offset))
                if src != d["id"]:
                    ids = index.pieces.setdefault(src, [])
                    if d["id"] not in ids:
                        ids.append(d["id"])
                    index.piece_counts[src] = int(d["custom"]["vad"].get("count", 0))
                hashes.extend(id_hash(c["id"]) for c in (d.get("custom") or {}).get(CAPTIONS_FIELD, []))
        index.done = np.unique(np.asarray(hashes, dtype=np.uint64))
        return index

    def is_done(self, caption_id: str) -> bool:
        h = np.uint64(id_hash(caption_id))
        i = int(np.searchsorted(self.done, h))
        return i < len(self.done) and self.done[i] == h

    @property
    def num_done(self) -> int:
        return int(self.done.size)

    def all_pieces(self, cut_id: str) -> list[str] | None:
        """The piece ids of a VAD-split input cut when every piece is in the shards, else None."""
        ids = self.pieces.get(cut_id)
        return ids if ids and len(ids) == self.piece_counts.get(cut_id) else None

    def cuts_of(self, cut_id: str) -> list[Cut]:
        """The shard cuts of input cut ``cut_id`` (itself or its VAD pieces in order), one per id, with their
        captions from every shard unioned by caption id. Files stay open until :meth:`close`."""
        merged: dict[str, Cut] = {}
        for file_idx, offset in self.lines.get(cut_id, []):
            if file_idx not in self._handles:
                self._handles[file_idx] = open(self.files[file_idx], "rb")
            f = self._handles[file_idx]
            f.seek(offset)
            cut = deserialize_item(json.loads(f.readline()))
            merged[cut.id] = add_captions(merged[cut.id], get_captions(cut)) if cut.id in merged else cut
        return [merged[k] for k in sorted(merged)]  # piece ids end in a zero-padded index

    def close(self) -> None:
        for f in self._handles.values():
            f.close()
        self._handles.clear()


def write_manifest_stream(cuts: Iterator[Cut], path: Path) -> tuple[int, float]:
    """Write cuts one by one to a ``.jsonl(.gz)`` manifest, atomically (:func:`clsp.data.manifest.write_cuts`).
    Returns (number of cuts, total seconds)."""
    totals = [0, 0.0]

    def counted() -> Iterator[Cut]:
        for cut in cuts:
            totals[0] += 1
            totals[1] += cut.duration
            yield cut

    write_cuts(counted(), path)
    return totals[0], totals[1]
