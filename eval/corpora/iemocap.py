"""IEMOCAP (USC, licence on request) → a manifest for 4-class zero-shot emotion classification.

Expected layout of the release (``IEMOCAP_full_release``)::

    ROOT/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav   # one file per utterance
    ROOT/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt                # the consensus labels
    ... Session2..Session5

An EmoEvaluation line reads ``[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]``
(times in seconds, utterance id, label, valence/activation/dominance). The 4 classes of the literature
(and CLSP): neutral, happy (``hap`` and ``exc`` merged), sad, angry; other labels (frustration,
surprise, ``xxx`` = no agreement, ...) are skipped and counted. Gender is the first letter of the
utterance id's last part (``F000`` = the session's female speaker); the speaker id is ``Ses01F``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from clsp.errors import ClspError
from eval.corpora.common import Prepared, add_file, require_dir, write_prepared

LABELS = {"neu": "neutral", "hap": "happy", "exc": "happy", "sad": "sad", "ang": "angry"}
_LINE = re.compile(r"^\[(?P<start>[\d.]+)\s*-\s*(?P<end>[\d.]+)\]\t(?P<utt>\S+)\t(?P<label>\w+)\t\[(?P<vad>[^\]]*)\]")


def read_emo_evaluation(path: Path) -> list[dict[str, Any]]:
    """The utterance lines of one EmoEvaluation file (other lines are the annotators' details)."""
    out = []
    for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.startswith("["):
            continue
        m = _LINE.match(line)
        if m is None:
            raise ClspError(f"{path}:{lineno}: not an EmoEvaluation utterance line "
                            "('[start - end]<TAB>utterance<TAB>label<TAB>[v, a, d]')")
        vad = [float(v) for v in m["vad"].split(",") if v.strip()]
        out.append({"utt": m["utt"], "label": m["label"], "vad": vad})
    return out


def prepare_iemocap(root: str | Path, out_dir: str | Path, split: str = "test") -> dict[str, Any]:
    """Write ``OUT/cuts_<split>.jsonl.gz`` (custom: emotion, gender, session, iemocap_label, vad)."""
    root = require_dir(root, "IEMOCAP")
    sessions = sorted(p for p in root.glob("Session*") if p.is_dir())
    if not sessions:
        raise ClspError(f"{root}: no Session1..Session5 folders (expected the IEMOCAP_full_release layout)")
    prepared = Prepared()
    for session in sessions:
        label_files = sorted((session / "dialog" / "EmoEvaluation").glob("*.txt"))
        if not label_files:
            raise ClspError(f"{session}: no dialog/EmoEvaluation/*.txt label files")
        for label_file in label_files:
            for item in read_emo_evaluation(label_file):
                utt, code = item["utt"], item["label"]
                if code not in LABELS:
                    prepared.skipped[f"label '{code}' (not one of the 4 classes)"] += 1
                    continue
                wav = session / "sentences" / "wav" / utt.rsplit("_", 1)[0] / f"{utt}.wav"
                if not wav.is_file():
                    prepared.reject(wav, "missing_file", f"labelled in {label_file.name} but the wav is missing")
                    continue
                letter = utt.rsplit("_", 1)[-1][:1].upper()
                gender = {"F": "female", "M": "male"}.get(letter)
                custom = {"emotion": LABELS[code], "iemocap_label": code, "session": session.name,
                          "vad": item["vad"]}
                if gender:
                    custom["gender"] = gender
                add_file(prepared, wav, utt, custom, speaker=f"{utt[:5]}{letter}", gender=gender)
    return write_prepared(prepared, out_dir, "IEMOCAP", root, split, ("emotion", "gender", "session"))
