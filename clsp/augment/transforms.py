"""Audio transforms of ``clsp augment``: (S,) float32 mono at 16 kHz in, the same out.

Label-changing (the style labels are measured again afterwards):

- :func:`tempo`: WSOLA time stretch that keeps the pitch (``sox tempo -s``), > 1 = faster (shorter);
- :func:`pitch_shift`: PSOLA (Praat's overlap-add resynthesis through parselmouth) that keeps the duration and the
  formants, so a shifted voice keeps its vocal-tract size (a resampling shift would move the formants too);
- :func:`gain`: a level change in dB (lhotse's ``Volume``).

Label-preserving channel effects:

- :func:`reverb`: a synthetic room impulse response (exponentially decaying noise after a direct path and early
  reflections, T60 in seconds) convolved with the speech; output power as the input's;
- :func:`add_noise`: white or pink noise at a signal-to-noise ratio over the speech frames;
- :func:`telephone`: a 300-3400 Hz band-pass, then lhotse's ``Narrowband`` (8 kHz, mu-law, back to 16 kHz);
- :func:`codec`: a lossy codec round trip with lhotse's ``Compress`` (mp3, opus, vorbis through libsndfile;
  gsm at 8 kHz).

Why not lhotse for all of them: its ``Tempo`` calls ``torchaudio.sox_effects`` (its C++ part is not installed
here, so it fails) and its random-RIR reverb takes 2-4 s per clip on this CPU and draws from torch's global RNG
(not reproducible from a seed); lhotse has no pitch shift and no noise generator (its mixing needs noise
recordings).
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
from scipy.signal import butter, fftconvolve, sosfiltfilt

from clsp.audio import SAMPLING_RATE
from clsp.errors import ClspError
from clsp.synth.render import active_rms_dbfs

CODECS: tuple[str, ...] = ("mp3", "opus", "vorbis", "gsm")
NOISE_COLORS: tuple[str, ...] = ("white", "pink")


def _mono(samples: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(samples, dtype=np.float32).reshape(-1))


def tempo(audio: np.ndarray, factor: float) -> np.ndarray:
    """WSOLA tempo change by ``factor`` (0.6 = 40 % slower, 1/0.6 longer) that keeps the pitch: ``sox tempo -s``."""
    if not 0.25 <= factor <= 4:
        raise ClspError(f"tempo factor must be in [0.25, 4], got {factor}")
    exe = shutil.which("sox")
    if exe is None:
        raise ClspError("sox not found: install it with `apt-get install sox` (or run `make test`)")
    raw = ["-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1"]
    proc = subprocess.run([exe, *raw, "-r", str(SAMPLING_RATE), "-", *raw, "-", "tempo", "-s", f"{factor:.6f}"],
                          input=_mono(audio).tobytes(), capture_output=True)
    if proc.returncode != 0:
        raise ClspError(f"sox tempo failed: {proc.stderr.decode(errors='replace').strip()[:200]}")
    return np.frombuffer(proc.stdout, dtype=np.float32).copy()


def pitch_shift(audio: np.ndarray, semitones: float, floor_hz: float = 50.0, ceiling_hz: float = 600.0) -> np.ndarray:
    """Shift F0 by ``semitones`` with PSOLA (Praat manipulation, overlap-add); duration and formants kept."""
    import parselmouth
    from parselmouth.praat import call

    x = _mono(audio)
    if semitones == 0 or not len(x):
        return x
    sound = parselmouth.Sound(x.astype(np.float64), sampling_frequency=SAMPLING_RATE)
    manipulation = call(sound, "To Manipulation", 0.01, floor_hz, ceiling_hz)
    tier = call(manipulation, "Extract pitch tier")
    call(tier, "Multiply frequencies", sound.xmin, sound.xmax, 2 ** (semitones / 12))
    call([tier, manipulation], "Replace pitch tier")
    out = call(manipulation, "Get resynthesis (overlap-add)").values[0].astype(np.float32)
    return out[: len(x)] if len(out) >= len(x) else np.pad(out, (0, len(x) - len(out)))


def gain(audio: np.ndarray, db: float) -> np.ndarray:
    """Multiply by 10^(db/20) (lhotse's ``Volume``; no limiter)."""
    from lhotse.augmentation import Volume

    return _mono(Volume(factor=10 ** (db / 20))(_mono(audio)[None], SAMPLING_RATE))


def speech_power(audio: np.ndarray) -> float:
    """Mean power of the speech frames (see :func:`clsp.synth.render.active_rms_dbfs`)."""
    return 10 ** (active_rms_dbfs(_mono(audio)) / 10)


def room_impulse_response(rng: np.random.Generator, rt60_s: float, direct_to_reverb_db: float) -> np.ndarray:
    """(N,) float32 impulse response: a unit direct path, 6 early reflections in the first 20 ms, and a late tail of
    noise decaying 60 dB over ``rt60_s`` whose energy is ``direct_to_reverb_db`` under the direct path."""
    n = int(rt60_s * SAMPLING_RATE)
    t = np.arange(n) / SAMPLING_RATE
    tail = rng.standard_normal(n) * 10 ** (-3 * t / rt60_s)
    onset = int(0.003 * SAMPLING_RATE)
    tail[:onset] = 0.0
    tail *= np.sqrt(10 ** (-direct_to_reverb_db / 10) / max(np.sum(tail**2), 1e-12))
    rir = tail
    rir[0] = 1.0
    for k in rng.integers(onset, int(0.02 * SAMPLING_RATE), size=6):
        rir[k] += rng.uniform(-0.5, 0.5)
    return rir.astype(np.float32)


def reverb(audio: np.ndarray, rng: np.random.Generator, rt60_s: float, direct_to_reverb_db: float = 3.0) -> np.ndarray:
    """Convolve with :func:`room_impulse_response`; same length and speech power as the input."""
    x = _mono(audio)
    y = fftconvolve(x, room_impulse_response(rng, rt60_s, direct_to_reverb_db))[: len(x)]
    p_in, p_out = speech_power(x), speech_power(y)
    return (y * np.sqrt(p_in / p_out) if p_out > 0 else y).astype(np.float32)


def add_noise(audio: np.ndarray, rng: np.random.Generator, snr_db: float, color: str = "white") -> np.ndarray:
    """Add ``color`` noise (white, or pink: 1/f power) at ``snr_db`` under the speech frames' power."""
    if color not in NOISE_COLORS:
        raise ClspError(f"noise color must be one of {', '.join(NOISE_COLORS)}, got {color!r}")
    x = _mono(audio)
    noise = rng.standard_normal(len(x))
    if color == "pink":
        spectrum = np.fft.rfft(noise)
        spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
        spectrum[0] = 0
        noise = np.fft.irfft(spectrum, n=len(x))
    noise *= np.sqrt(speech_power(x) / 10 ** (snr_db / 10) / max(np.mean(noise**2), 1e-20))
    return (x + noise).astype(np.float32)


def telephone(audio: np.ndarray, band_hz: tuple[float, float] = (300.0, 3400.0)) -> np.ndarray:
    """A telephone channel: band-pass ``band_hz`` (4th-order Butterworth), then 8 kHz mu-law and back to 16 kHz."""
    from lhotse.augmentation import Narrowband

    sos = butter(4, band_hz, btype="bandpass", fs=SAMPLING_RATE, output="sos")
    x = sosfiltfilt(sos, _mono(audio)).astype(np.float32)
    out = Narrowband(codec="mulaw", source_sampling_rate=SAMPLING_RATE, restore_orig_sr=True)(x[None], SAMPLING_RATE)
    return _mono(out)


def codec(audio: np.ndarray, name: str, level: float) -> np.ndarray:
    """Encode and decode with lossy codec ``name`` (one of :data:`CODECS`) at compression ``level`` in [0, 1]."""
    from lhotse.augmentation.compress import Compress

    if name not in CODECS:
        raise ClspError(f"codec must be one of {', '.join(CODECS)}, got {name!r}")
    x = _mono(audio)
    out = _mono(Compress(codec=name, compression_level=float(level))(x[None], SAMPLING_RATE))
    return out[: len(x)] if len(out) >= len(x) else np.pad(out, (0, len(x) - len(out)))
