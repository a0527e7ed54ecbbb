"""Audio input for the model API: file paths or (array, sampling_rate) pairs → 16 kHz mono float32."""

from __future__ import annotations

from math import gcd
from pathlib import Path
from typing import Union

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from clsp.errors import ClspError

SAMPLING_RATE = 16000
AudioItem = Union[str, Path, tuple[np.ndarray, int]]


def resample(audio: np.ndarray, sr_in: int, sr_out: int = SAMPLING_RATE) -> np.ndarray:
    """Polyphase resampling, (S,) at ``sr_in`` Hz → (S * sr_out / sr_in,) float32."""
    if sr_in == sr_out:
        return np.asarray(audio, dtype=np.float32)
    g = gcd(int(sr_in), int(sr_out))
    return resample_poly(audio, sr_out // g, sr_in // g).astype(np.float32)


def load_audio(item: AudioItem, sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
    """A path or ``(array, sr)`` → (S,) float32 mono at ``sampling_rate`` Hz (channels averaged)."""
    if isinstance(item, (str, Path)):
        try:
            audio, sr = sf.read(str(item), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, OSError) as e:
            raise ClspError(f"{item}: cannot read audio ({e})") from None
        audio = audio.mean(axis=1)
    elif isinstance(item, tuple) and len(item) == 2:
        audio, sr = np.asarray(item[0], dtype=np.float32), int(item[1])
        if audio.ndim == 2:  # (channels, samples)
            audio = audio.mean(axis=0)
        if audio.ndim != 1:
            raise ClspError(f"audio array must be (samples,) or (channels, samples), got shape {audio.shape}")
    else:
        raise ClspError(f"audio item must be a path or an (array, sampling_rate) pair, got {type(item).__name__}")
    if audio.size == 0:
        raise ClspError(f"{item if isinstance(item, (str, Path)) else 'audio array'}: empty audio")
    if not np.isfinite(audio).all():
        raise ClspError(f"{item if isinstance(item, (str, Path)) else 'audio array'}: audio contains NaN or inf")
    return resample(audio, sr, sampling_rate)
