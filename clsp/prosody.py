"""Measured prosody of a clip (Praat analyses through parselmouth).

Units: seconds, Hz, semitones, dB. Used to check that synthetic audio carries its labels and,
later, by the acoustic captioner and the acoustic verifier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import parselmouth

PITCH_FLOOR_HZ = 60.0
PITCH_CEILING_HZ = 500.0


@dataclass(frozen=True)
class Prosody:
    duration: float  # s
    f0_median_hz: float | None  # None when (almost) nothing is voiced
    f0_range_semitones: float | None  # 10th-90th percentile span of voiced F0
    voiced_fraction: float  # voiced frames / active-speech frames
    hnr_db: float  # mean harmonics-to-noise ratio over active frames
    rms_dbfs: float  # RMS of active speech (frames within 35 dB of the loudest), dB re full scale
    active_seconds: float  # time in active (non-pause) frames


def measure_prosody(audio: np.ndarray, sampling_rate: int, time_step: float = 0.01) -> Prosody:
    """Prosody of a mono signal ``audio`` (T,) at ``sampling_rate`` Hz."""
    x = np.asarray(audio, dtype=np.float64)
    sound = parselmouth.Sound(x, sampling_frequency=sampling_rate)
    hop = max(1, int(time_step * sampling_rate))
    n = len(x) // hop
    frames = x[: n * hop].reshape(n, hop) if n else np.zeros((1, hop))
    energy_db = 10 * np.log10((frames**2).mean(axis=1) + 1e-12)
    active = energy_db >= energy_db.max() - 35.0
    rms_dbfs = float(10 * np.log10(np.mean(10 ** (energy_db[active] / 10))))

    pitch = sound.to_pitch_ac(time_step=time_step, pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ)
    f0 = pitch.selected_array["frequency"]
    voiced = f0[f0 > 0]
    n_active = max(1, int(active.sum()))
    voiced_fraction = min(1.0, len(voiced) / n_active)
    if len(voiced) >= 5:
        median = float(np.median(voiced))
        lo, hi = np.percentile(voiced, [10, 90])
        span = float(12 * np.log2(hi / lo))
    else:
        median, span = None, None
    hnr = sound.to_harmonicity_cc(time_step=time_step, minimum_pitch=PITCH_FLOOR_HZ).values[0]
    hnr = hnr[hnr > -200]
    return Prosody(
        duration=len(x) / sampling_rate,
        f0_median_hz=median,
        f0_range_semitones=span,
        voiced_fraction=float(voiced_fraction),
        hnr_db=float(hnr.mean()) if len(hnr) else -200.0,
        rms_dbfs=rms_dbfs,
        active_seconds=float(active.sum() * hop / sampling_rate),
    )


_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|\d+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_PHRASE_END = re.compile(r"[.!?;:,\u3002\uff0c\uff01\uff1f]+(?=\s|$)")


def count_syllables(text: str) -> int:
    """Approximate syllable count of ``text``: English vowel groups (silent final -e / -ed dropped),
    one per CJK character, two per digit."""
    total = len(_CJK.findall(text))
    for word in _WORD.findall(_CJK.sub(" ", text)):
        if word.isdigit():
            total += 2 * len(word)
            continue
        w = word.lower()
        groups = len(re.findall(r"[aeiouy]+", w))
        silent = (w.endswith("e") and not w.endswith("le") or w.endswith("ed") and not w.endswith(("ted", "ded"))
                  or w.endswith("es") and not w.endswith(("ses", "zes", "xes", "ces", "ges", "shes", "ches")))
        if groups > 1 and silent and w.rstrip("sd")[-2:-1] not in tuple("aeiouy"):
            groups -= 1
        total += max(1, groups)
    return total


def split_phrases(text: str) -> list[str]:
    """``text`` split after punctuation that usually comes with a pause (. ! ? ; : ,)."""
    return [p.strip() for p in _PHRASE_END.split(text) if p.strip()]
