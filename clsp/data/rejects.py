"""``rejects.jsonl``: what a long job left out and why, one JSON object per line (annotate, augment,
search build, eval prepare)::

    {"cut_id": "a-001", "manifest": "cuts_train.jsonl.gz", "code": "missing_file",
     "message": "audio file '/data/a-001.wav' not found"}

``cut_id`` is null for an input that never became a cut (eval prepare: a file it could not read; the
file is in ``path``); ``manifest`` names the input manifest (or null). Some records carry more fields
(annotate's engine failures: ``kind``, ``seed``, ``request_id``).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

REJECTS_NAME = "rejects.jsonl"


def reject_record(cut_id: str | None, code: str, message: str, manifest: str | None = None,
                  **extra: Any) -> dict[str, Any]:
    return {"cut_id": cut_id, "manifest": manifest, "code": code, "message": message, **extra}


class RejectLog:
    """Appends records to a ``rejects.jsonl`` (each line flushed at once; thread-safe) and counts them by code.

    ``mode="w"`` starts the file afresh (annotate: one run's rejects), ``"a"`` continues it (a resumed
    search build; the file is then created on the first record).
    """

    def __init__(self, path: str | Path, mode: str = "w"):
        self.path, self.mode = Path(path), mode
        self._f: Any = None
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        if mode == "w":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(self.path, "w", encoding="utf-8")

    def add(self, cut_id: str | None, code: str, message: str, manifest: str | None = None, **extra: Any) -> None:
        line = json.dumps(reject_record(cut_id, code, message, manifest, **extra), ensure_ascii=False) + "\n"
        with self._lock:
            if self._f is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._f = open(self.path, "a", encoding="utf-8")
            self._f.write(line)
            self._f.flush()
            self.counts[code] += 1

    def close(self) -> None:
        with self._lock:
            if self._f is not None:
                self._f.close()
                self._f = None

    def __enter__(self) -> RejectLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_complete_lines(path: str | Path) -> list[dict[str, Any]]:
    """The JSON objects of the complete lines of a JSONL file that is appended to as a job runs (none when it
    does not exist); reading stops at a line cut short by a crash."""
    p = Path(path)
    if not p.is_file():
        return []
    out = []
    for line in p.read_text(encoding="utf-8").splitlines(keepends=True):
        if not line.endswith("\n"):
            break
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return out
