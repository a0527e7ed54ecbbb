"""Shared parts of the corpus preparers: one cut per audio file, rejects recorded, manifests written.

A preparer writes, under its output folder:

- ``cuts_<split>.jsonl.gz``: the lhotse manifest (labels as ``cut.custom`` string fields such as
  ``emotion``, ``gender``, ``age_bin``; the speaker on the supervision);
- ``rejects.jsonl``: one line per file that could not be used (when any), in the one rejects format
  (:mod:`clsp.data.rejects`: ``cut_id`` null, ``manifest``, ``code``, ``message``) plus its ``path``;
- ``prepare.json``: counts per label, what was skipped by design (e.g. IEMOCAP's other emotions) and why.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lhotse import Recording, SupervisionSegment
from lhotse.cut import MonoCut

from clsp.data.manifest import split_manifest_path, write_cuts
from clsp.data.rejects import REJECTS_NAME, reject_record
from clsp.outputs import atomic_write_text
from clsp.errors import ClspError


@dataclass
class Prepared:
    """What a preparer made: the cuts, the files it could not use and the counts of what it skipped."""

    cuts: list[MonoCut] = field(default_factory=list)
    rejects: list[dict[str, str]] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)

    def reject(self, path: str | Path, code: str, message: str) -> None:
        self.rejects.append({"path": str(path), "code": code, "message": message})


def file_cut(path: Path, cut_id: str, custom: dict[str, Any], speaker: str | None = None,
             gender: str | None = None, text: str = "") -> MonoCut:
    """A cut spanning the whole audio file (its header gives rate and length); the labels go to ``custom``."""
    recording = Recording.from_file(path, recording_id=cut_id)
    if recording.duration <= 0:
        raise ValueError("empty audio")
    sup = SupervisionSegment(id=cut_id, recording_id=cut_id, start=0.0, duration=recording.duration, channel=0,
                             text=text, language="English", speaker=speaker, gender=gender)
    return MonoCut(id=cut_id, start=0.0, duration=recording.duration, channel=0, recording=recording,
                   supervisions=[sup], custom=custom)


def add_file(prepared: Prepared, path: Path, cut_id: str, custom: dict[str, Any], **kwargs: Any) -> None:
    """Append the file's cut, or record it as a reject when its audio cannot be read."""
    try:
        prepared.cuts.append(file_cut(path, cut_id, custom, **kwargs))
    except Exception as e:  # soundfile/ffmpeg/lhotse errors on broken files
        prepared.reject(path, "unreadable_audio", f"unreadable audio ({type(e).__name__}: {e})")


def require_dir(root: str | Path, corpus: str) -> Path:
    p = Path(root)
    if not p.is_dir():
        raise ClspError(f"{p}: {corpus} folder not found")
    return p


def label_counts(cuts: Iterable[MonoCut], fields: Iterable[str]) -> dict[str, dict[str, int]]:
    fields = list(fields)
    counts: dict[str, Counter] = {f: Counter() for f in fields}
    for cut in cuts:
        for f in fields:
            if (cut.custom or {}).get(f) is not None:
                counts[f][str(cut.custom[f])] += 1
    return {f: dict(sorted(c.items())) for f, c in counts.items()}


def write_prepared(prepared: Prepared, out_dir: str | Path, corpus: str, root: str | Path, split: str,
                   fields: Iterable[str]) -> dict[str, Any]:
    """Write the manifest, ``rejects.jsonl`` and ``prepare.json``; returns the summary."""
    if not prepared.cuts:
        detail = f" ({len(prepared.rejects)} rejected, e.g. {prepared.rejects[0]['message']})" if prepared.rejects else ""
        raise ClspError(f"{root}: no usable {corpus} clips found{detail}")
    out = Path(out_dir)
    manifest = write_cuts(sorted(prepared.cuts, key=lambda c: c.id), split_manifest_path(out, split))
    rejects = out / REJECTS_NAME
    if prepared.rejects:
        lines = [json.dumps(reject_record(None, r["code"], r["message"], manifest.name, path=r["path"])) + "\n"
                 for r in prepared.rejects]
        atomic_write_text(rejects, "".join(lines))
    elif rejects.exists():
        rejects.unlink()
    summary = {
        "corpus": corpus,
        "root": str(Path(root).resolve()) if Path(root).exists() else str(root),
        "manifest": str(manifest),
        "clips": len(prepared.cuts),
        "hours": round(sum(c.duration for c in prepared.cuts) / 3600, 4),
        "labels": label_counts(prepared.cuts, fields),
        "skipped": dict(sorted(prepared.skipped.items())),
        "rejected": len(prepared.rejects),
    }
    (out / "prepare.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
