"""Measured prosody of a clip (Praat analyses through parselmouth).

Units: seconds, Hz, semitones, dB. Used to check that synthetic audio carries its labels and,
later, by the acoustic captioner and the acoustic verifier.
"""

from __future__ import annotations

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
