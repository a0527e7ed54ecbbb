"""RAVDESS (Zenodo 1188976, CC BY-NC-SA 4.0) audio-only files → a manifest for emotion and gender.

Layout of ``Audio_Speech_Actors_01-24.zip`` (and the song zip): ``ROOT/Actor_12/03-01-05-01-02-01-12.wav``.
The file name is seven 2-digit fields: modality (03 = audio-only), vocal channel (01 speech, 02 song),
emotion (01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised),
intensity (01 normal, 02 strong), statement (01 "Kids are talking by the door", 02 "Dogs are sitting by
the door"), repetition (01, 02), actor (01-24: odd = male, even = female).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from eval.corpora.common import Prepared, add_file, require_dir, write_prepared

EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fearful",
            "07": "disgust", "08": "surprised"}
INTENSITY = {"01": "normal", "02": "strong"}
STATEMENTS = {"01": "Kids are talking by the door.", "02": "Dogs are sitting by the door."}
_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def parse_name(stem: str) -> dict[str, Any] | None:
    """The labels in a RAVDESS file name, or None when it does not follow the convention."""
    m = _NAME.match(stem)
    if m is None:
        return None
    modality, channel, emotion, intensity, statement, repetition, actor = m.groups()
    if emotion not in EMOTIONS or intensity not in INTENSITY or statement not in STATEMENTS or not 1 <= int(actor) <= 24:
        return None
    return {"modality": modality, "vocal_channel": "speech" if channel == "01" else "song" if channel == "02" else None,
            "emotion": EMOTIONS[emotion], "intensity": INTENSITY[intensity], "statement": statement,
            "repetition": int(repetition), "actor": int(actor), "gender": "male" if int(actor) % 2 else "female"}


def prepare_ravdess(root: str | Path, out_dir: str | Path, split: str = "test",
                    include_song: bool = False) -> dict[str, Any]:
    """Write ``OUT/cuts_<split>.jsonl.gz`` (custom: emotion, emotional_intensity, gender, vocal_channel, actor)."""
    root = require_dir(root, "RAVDESS")
    prepared = Prepared()
    for wav in sorted(root.rglob("*.wav")):
        info = parse_name(wav.stem)
        if info is None or info["vocal_channel"] is None:
            prepared.reject(wav, "bad_file_name", "file name is not a RAVDESS name (MM-VV-EE-II-SS-RR-AA, e.g. 03-01-05-01-02-01-12)")
            continue
        if info["vocal_channel"] == "song" and not include_song:
            prepared.skipped["song (vocal channel 02)"] += 1
            continue
        custom = {"emotion": info["emotion"], "emotional_intensity": info["intensity"], "gender": info["gender"],
                  "vocal_channel": info["vocal_channel"], "actor": info["actor"]}
        add_file(prepared, wav, wav.stem, custom, speaker=f"Actor_{info['actor']:02d}", gender=info["gender"],
                 text=STATEMENTS[wav.stem.split("-")[4]])
    return write_prepared(prepared, out_dir, "RAVDESS", root, split, ("emotion", "gender", "emotional_intensity"))
