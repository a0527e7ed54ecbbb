"""Audio input for the model API: file paths, (array, sampling_rate) pairs or lhotse cuts → 16 kHz mono float32.

A cut is always read through lhotse (``cut.load_audio()``): its own span of its recording, whatever the
source type, so segments of long recordings work.

Long audio is read in windows (:func:`audio_windows`): a file is never decoded whole, so memory stays
bounded by the window, whatever the recording's length. :func:`windows_by_length` reads many items in a
loader thread, longest first within each stretch of the list, so batches pad little and reading overlaps
the model's work.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator, Sequence
from functools import lru_cache
from math import gcd
from pathlib import Path
from typing import Any, Union

import numpy as np
import soundfile as sf
from scipy.signal import firwin, resample_poly

from clsp.errors import ClspError, one_line

SAMPLING_RATE = 16000
AudioItem = Union[str, Path, tuple[np.ndarray, int], Any]  # Any: a lhotse cut (its own span is read)


class AudioError(ClspError):
    """Audio that cannot be used; ``code`` is ``undecodable``, ``empty`` or ``non_finite``."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@lru_cache(maxsize=32)
def _lowpass(up: int, down: int, dtype: str) -> np.ndarray:
    """The anti-aliasing FIR filter ``resample_poly`` designs by default (Kaiser beta 5, 10 zero crossings a side,
    in the samples' float type), designed once per rate pair: the design took 3/4 of each call's time."""
    rate = max(up, down)
    return firwin(2 * 10 * rate + 1, 1.0 / rate, window=("kaiser", 5.0)).astype(dtype)


def resample(audio: np.ndarray, sr_in: int, sr_out: int = SAMPLING_RATE) -> np.ndarray:
    """Polyphase resampling, (S,) at ``sr_in`` Hz → (S * sr_out / sr_in,) float32 (scipy's ``resample_poly``
    with its default filter)."""
    if sr_in == sr_out:
        return np.asarray(audio, dtype=np.float32)
    g = gcd(int(sr_in), int(sr_out))
    up, down = sr_out // g, sr_in // g
    audio = np.asarray(audio)
    if audio.dtype not in (np.float32, np.float64):
        audio = audio.astype(np.float64)  # scipy filters other types in float64
    return resample_poly(audio, up, down, window=_lowpass(up, down, audio.dtype.str)).astype(np.float32)


def _is_cut(item: Any) -> bool:
    return hasattr(item, "load_audio") and hasattr(item, "truncate")


def _cut_samples(cut: Any) -> np.ndarray:
    """A lhotse cut's own span of its recording (lhotse reads it: segments, any source type) → (S,) mono."""
    try:
        samples = np.asarray(cut.load_audio(), dtype=np.float32)
    except Exception as e:  # lhotse raises many kinds (missing file, bad header, ffmpeg)
        raise AudioError("undecodable", f"{describe(cut)}: cannot load audio "
                         f"({one_line(f'{type(e).__name__}: {e}', 200)})") from None
    return samples.mean(axis=0) if samples.ndim == 2 else samples


def _mono(frames: np.ndarray) -> np.ndarray:
    """(S, C) samples → (S,): the channels averaged (a mono file's one channel as it is, without a pass)."""
    return frames[:, 0] if frames.shape[1] == 1 else frames.mean(axis=1)


def load_audio(item: AudioItem, sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
    """A path, an ``(array, sr)`` pair or a lhotse cut → (S,) float32 mono at ``sampling_rate`` Hz
    (channels averaged)."""
    if _is_cut(item):
        return _checked(_cut_samples(item), item.sampling_rate, describe(item), sampling_rate)
    if isinstance(item, (str, Path)):
        try:
            audio, sr = sf.read(str(item), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, OSError) as e:
            raise ClspError(f"{item}: cannot read audio ({e})") from None
        audio = _mono(audio)
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


def describe(item: Any) -> str:
    """How an audio item is named in errors: the path, ``cut '<id>'``, or ``audio array``."""
    if isinstance(item, (str, Path)):
        return str(item)
    if hasattr(item, "recording") and hasattr(item, "id"):
        return f"cut '{item.id}'"
    return "audio array"


def audio_windows(item: Any, window_s: float, sampling_rate: int = SAMPLING_RATE) -> Iterator[np.ndarray]:
    """The audio of ``item`` (a path, an ``(array, sr)`` pair or a lhotse cut) as consecutive windows of
    (S,) float32 mono at ``sampling_rate`` Hz: one window when it lasts at most ``window_s`` seconds, else
    ceil(duration / window_s) equal windows. A file or cut is read one window at a time (bounded memory);
    each window is checked (empty, NaN/inf: :class:`ClspError` naming the item)."""
    name = describe(item)
    if isinstance(item, (str, Path)):
        try:
            with sf.SoundFile(str(item)) as f:
                sr, total = f.samplerate, f.frames
                for a, b in _bounds(total, sr, window_s):
                    f.seek(a)
                    yield _checked(_mono(f.read(b - a, dtype="float32", always_2d=True)), sr, name, sampling_rate)
        except (sf.LibsndfileError, RuntimeError, OSError) as e:
            raise AudioError("undecodable", f"{item}: cannot read audio ({one_line(e, 200)})") from None
    elif _is_cut(item):  # a lhotse cut: read its own span
        n = max(1, math.ceil(item.duration / window_s - 1e-9))
        for k in range(n):
            piece = item if n == 1 else item.truncate(offset=k * item.duration / n, duration=item.duration / n,
                                                       preserve_id=True)
            yield _checked(_cut_samples(piece), item.sampling_rate, name, sampling_rate)
    else:
        audio = load_audio(item, sampling_rate)
        for a, b in _bounds(len(audio), sampling_rate, window_s):
            yield audio[a:b]


def _bounds(total: int, sr: int, window_s: float) -> list[tuple[int, int]]:
    n = max(1, math.ceil(total / sr / window_s - 1e-9))
    return [(round(k * total / n), round((k + 1) * total / n)) for k in range(n)] if total else [(0, 0)]


def _checked(audio: np.ndarray, sr: int, name: str, sampling_rate: int) -> np.ndarray:
    if audio.size == 0:
        raise AudioError("empty", f"{name}: empty audio")
    if not np.isfinite(audio).all():
        raise AudioError("non_finite", f"{name}: audio contains NaN or inf")
    return resample(audio, sr, sampling_rate)


def duration_hint(item: Any) -> float:
    """Seconds of audio in ``item`` from its metadata, nothing decoded: a file's header, an array's length, a
    cut's duration. 0.0 when the header cannot be read (the read itself then says why)."""
    if isinstance(item, (str, Path)):
        try:
            info = sf.info(str(item))
            return info.frames / info.samplerate
        except (sf.LibsndfileError, RuntimeError, OSError):
            return 0.0
    if _is_cut(item):
        return float(item.duration)
    if isinstance(item, tuple) and len(item) == 2:
        samples = np.shape(item[0])[-1] if np.ndim(item[0]) else 0
        return samples / max(int(item[1]), 1)
    return 0.0


def window_hint(item: Any, window_s: float) -> float:
    """The length (s) of each of ``item``'s windows (:func:`audio_windows`), from :func:`duration_hint`."""
    d = duration_hint(item)
    return d / max(1, math.ceil(d / window_s - 1e-9))


END, FLUSH = "end", "flush"  # markers of :func:`windows_by_length`


def windows_by_length(items: Sequence[Any], window_s: float, min_s: float = 0.0, sort_ahead: int = 1024,
                      depth: int = 64) -> Iterator[tuple[int | None, Any]]:
    """Read ``items`` in a loader thread, ``sort_ahead`` items at a time, each stretch longest window first
    (:func:`window_hint`); yield ``(index, wave)`` per window ((S,) float32 at 16 kHz), ``(index, END)`` after
    an item's last window, ``(index, error)`` (a :class:`ClspError`: unreadable, empty, non-finite, or a window
    shorter than ``min_s`` seconds) instead of the rest of a bad item, and ``(None, FLUSH)`` at the end of each
    stretch. Each item is read once, window by window; at most ``depth`` windows wait in memory. Closing the
    generator early stops the thread.
    """
    out: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                out.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for start in range(0, len(items), sort_ahead):
                stretch = range(start, min(start + sort_ahead, len(items)))
                for i in sorted(stretch, key=lambda i: -window_hint(items[i], window_s)):
                    try:
                        for wave in audio_windows(items[i], window_s):
                            if len(wave) < min_s * SAMPLING_RATE:
                                raise ClspError(f"{describe(items[i])}: {len(wave) / SAMPLING_RATE:.3f} s of audio "
                                                f"is shorter than the {min_s:.3f} s the model takes")
                            if not put((i, wave)):
                                return
                        entry = (i, END)
                    except ClspError as e:
                        entry = (i, e)
                    if not put(entry):
                        return
                if not put((None, FLUSH)):
                    return
        except BaseException as e:  # an unexpected failure reaches the caller, not a silent thread
            put((None, e))
        put(None)

    thread = threading.Thread(target=read, name="clsp-audio-reader", daemon=True)
    thread.start()
    try:
        while (entry := out.get()) is not None:
            if entry[0] is None and isinstance(entry[1], BaseException):
                raise entry[1]
            yield entry
    finally:
        stop.set()
        thread.join()
