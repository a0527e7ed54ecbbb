"""espeak-ng rendering at 16 kHz mono float32: :func:`run_espeak` (any ``-v`` voice, numeric settings) and the
active-speech loudness helpers.

:func:`params_for` is a fixed level table for our formant-scaled speakers (voices.py), kept for direct probes of
the measurer; the corpus aims its levels relative to each voice's measured natural pitch and rate instead
(:mod:`clsp.synth.styles`, :mod:`clsp.synth.backends.espeak`).

============  ===========================  ==========================================
attribute     control                      params_for levels
============  ===========================  ==========================================
pitch         ``-p`` (0-99, voice-relative) low 20, medium 50, high 82
pitch_range   SSML ``<prosody range>``      narrow 35 %, normal 100 %, wide 190 %
speaking_rate ``-s`` (words per minute)     slow 115, normal 165, fast 235
loudness      gain to an active-speech RMS  soft -32, normal -24, loud -16 dBFS
voice_quality variant file (see voices.py)  modal, whisper, creaky
============  ===========================  ==========================================
"""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import soundfile as sf

from clsp.audio import SAMPLING_RATE, resample
from clsp.errors import ClspError
from clsp.synth.voices import Voice

PITCH_LEVELS = {"low": 20, "medium": 50, "high": 82}
RANGE_LEVELS = {"narrow": 35, "normal": 100, "wide": 190}
RATE_LEVELS = {"slow": 115, "normal": 165, "fast": 235}
LOUDNESS_LEVELS = {"soft": -32.0, "normal": -24.0, "loud": -16.0}


@dataclass(frozen=True)
class RenderParams:
    """Numeric espeak-ng settings for one segment (levels plus jitter)."""

    pitch: int  # espeak -p, 0..99
    range_percent: int  # SSML prosody range, %
    words_per_minute: int  # espeak -s
    rms_dbfs: float  # target RMS of the active speech, dB re full scale


def params_for(pitch: str, pitch_range: str, speaking_rate: str, loudness: str, jitter: np.ndarray) -> RenderParams:
    """Map level names to numbers; ``jitter`` is 4 values in [-1, 1] (scaled per control)."""
    j = np.clip(np.asarray(jitter, dtype=float), -1, 1)
    return RenderParams(
        pitch=int(np.clip(PITCH_LEVELS[pitch] + 6 * j[0], 0, 99)),
        range_percent=int(RANGE_LEVELS[pitch_range] * (1 + 0.1 * j[1])),
        words_per_minute=int(RATE_LEVELS[speaking_rate] * (1 + 0.06 * j[2])),
        rms_dbfs=float(LOUDNESS_LEVELS[loudness] + 1.5 * j[3]),
    )


def render_segment(text: str, voice: Voice, quality: str, params: RenderParams, voice_dir: str | Path) -> np.ndarray:
    """Speak ``text`` with one of our formant-scaled speakers; (num_samples,) float32 at 16 kHz, scaled to
    ``params.rms_dbfs``."""
    audio = run_espeak(text, f"en-us+{voice.variant_name(quality)}", params, voice_dir)
    return set_active_rms(audio, params.rms_dbfs)


def run_espeak(text: str, voice_arg: str, params: RenderParams, voice_dir: str | Path) -> np.ndarray:
    """``espeak-ng -v voice_arg`` with ``params``' pitch, range and rate: (num_samples,) float32 at 16 kHz, as
    loud as espeak-ng renders it."""
    ssml = f'<speak><prosody range="{params.range_percent}%">{escape(text)}</prosody></speak>'
    cmd = ["espeak-ng", "--path", str(voice_dir), "-v", voice_arg, "-s", str(params.words_per_minute),
           "-p", str(params.pitch), "-m", "--stdout", ssml]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0 or len(proc.stdout) < 100:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise ClspError(f"espeak-ng failed for voice {voice_arg}: {msg[0] if msg else 'no audio'}")
    audio, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    return resample(audio, sr, SAMPLING_RATE)


def active_rms_dbfs(audio: np.ndarray, sampling_rate: int = SAMPLING_RATE, floor_db: float = 35.0) -> float:
    """RMS in dBFS over the 20 ms frames within ``floor_db`` of the loudest frame (speech, not pauses)."""
    hop = int(0.02 * sampling_rate)
    n = len(audio) // hop
    if n == 0:
        return -120.0
    frames = audio[: n * hop].reshape(n, hop).astype(np.float64)
    energy = (frames**2).mean(axis=1) + 1e-12
    db = 10 * np.log10(energy)
    active = db >= db.max() - floor_db
    return float(10 * np.log10(energy[active].mean()))


def set_active_rms(audio: np.ndarray, target_dbfs: float, peak: float = 0.98) -> np.ndarray:
    """Scale to ``target_dbfs`` active RMS, then down if needed so |peak| stays under ``peak``."""
    gain = 10 ** ((target_dbfs - active_rms_dbfs(audio)) / 20)
    out = audio * gain
    top = float(np.abs(out).max()) if len(out) else 0.0
    if top > peak:
        out = out * (peak / top)
    return out.astype(np.float32)
