"""CREMA-D (github.com/CheyneyComputerScience/CREMA-D, ODbL) → a manifest for emotion, gender and age.

Layout of the repository: ``ROOT/AudioWAV/1001_DFA_ANG_XX.wav`` and ``ROOT/VideoDemographics.csv``
(columns ``ActorID,Age,Sex,Race,Ethnicity``). A file name is actor id (1001-1091), sentence code (12
sentences, e.g. DFA = "Don't forget a jacket"), emotion (ANG, DIS, FEA, HAP, NEU, SAD) and level (LO,
MD, HI, XX = unspecified). Age bins follow CLSP's evaluation: 0-19, 20-39, 40-59, 60+ (years).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from clsp.errors import ClspError
from eval.corpora.common import Prepared, add_file, require_dir, write_prepared

EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fearful", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
SENTENCES = {
    "IEO": "It's eleven o'clock.", "TIE": "That is exactly what happened.", "IOM": "I'm on my way to the meeting.",
    "IWW": "I wonder what this is about.", "TAI": "The airplane is almost full.", "MTI": "Maybe tomorrow it will be cold.",
    "IWL": "I would like a new alarm clock.", "ITH": "I think I have a doctor's appointment.",
    "DFA": "Don't forget a jacket.", "ITS": "I think I've seen this before.",
    "TSI": "The surface is slick.", "WSI": "We'll stop in a couple of minutes.",
}
AGE_BINS = ((20, "0-19"), (40, "20-39"), (60, "40-59"), (10**9, "60+"))
_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


def age_bin(age: int) -> str:
    return next(name for upper, name in AGE_BINS if age < upper)


def read_demographics(path: Path) -> dict[str, dict[str, Any]]:
    """``VideoDemographics.csv`` → actor id → {age, gender}; bad rows raise naming file:line."""
    out = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"ActorID", "Age", "Sex"} - set(reader.fieldnames or [])
        if missing:
            raise ClspError(f"{path}:1: missing column(s) {', '.join(sorted(missing))}")
        for row in reader:
            try:
                age = int(row["Age"])
            except (TypeError, ValueError):
                raise ClspError(f"{path}:{reader.line_num}: column 'Age' must be an integer, got {row['Age']!r}") from None
            out[row["ActorID"].strip()] = {"age": age, "gender": row["Sex"].strip().lower()}
    return out


def prepare_cremad(root: str | Path, out_dir: str | Path, split: str = "test") -> dict[str, Any]:
    """Write ``OUT/cuts_<split>.jsonl.gz`` (custom: emotion, emotion_level, gender, age, age_bin, actor)."""
    root = require_dir(root, "CREMA-D")
    found = sorted(root.rglob("VideoDemographics.csv"))
    if not found:
        raise ClspError(f"{root}: VideoDemographics.csv not found (it is in the CREMA-D repository's root)")
    actors = read_demographics(found[0])
    prepared = Prepared()
    for wav in sorted(root.rglob("*.wav")):
        m = _NAME.match(wav.stem)
        if m is None or m[3] not in EMOTIONS or m[4] not in LEVELS:
            prepared.reject(wav, "bad_file_name", "file name is not a CREMA-D name (ActorID_SEN_EMO_LV, e.g. 1001_DFA_ANG_XX)")
            continue
        actor, sentence, emotion, level = m.groups()
        custom: dict[str, Any] = {"emotion": EMOTIONS[emotion], "emotion_level": LEVELS[level], "actor": actor}
        demo = actors.get(actor)
        if demo is None:
            prepared.skipped["actor not in VideoDemographics.csv (kept, without age/gender)"] += 1
        else:
            custom.update(gender=demo["gender"], age=demo["age"], age_bin=age_bin(demo["age"]))
        add_file(prepared, wav, wav.stem, custom, speaker=actor, gender=custom.get("gender"),
                 text=SENTENCES.get(sentence, ""))
    return write_prepared(prepared, out_dir, "CREMA-D", root, split, ("emotion", "gender", "age_bin"))
