"""Frame-level analyses behind :mod:`clsp.style.measure` (16 kHz mono float64 input, 10 ms frames).

- :func:`speech_chunks`: speech stretches between pauses;
- :func:`formant_shift_st`: how high formants (F3) sit against adult male references (a vocal-tract size cue);
- :func:`syllable_nuclei`: intensity peaks, de Jong & Wempe (2009) style;
- :func:`chunk_syllables`: how many syllables each chunk holds (from the transcript, or the nuclei).
"""

from __future__ import annotations

import numpy as np
import parselmouth
from parselmouth.praat import call
from scipy.signal import find_peaks

from clsp.audio import SAMPLING_RATE, resample
from clsp.style.text import count_syllables, split_phrases

FRAME_S = 0.01

Bounds = list[tuple[float, float]]


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the True runs of a boolean (N,) array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def speech_chunks(active: np.ndarray, min_pause_s: float, min_chunk_s: float) -> tuple[Bounds, Bounds]:
    """Speech chunks and the pauses between them, (start, end) in seconds, from the (N,) speech-frame mask.

    Silent runs shorter than ``min_pause_s`` stay inside a chunk; chunks shorter than ``min_chunk_s`` are
    dropped (clicks)."""
    gap = int(round(min_pause_s / FRAME_S))
    speech = active.copy()
    for s, e in runs(~active):
        if e - s < gap and s > 0 and e < len(active):
            speech[s:e] = True
    chunks = [(s * FRAME_S, e * FRAME_S) for s, e in runs(speech) if (e - s) * FRAME_S >= min_chunk_s]
    return chunks, [(a[1], b[0]) for a, b in zip(chunks, chunks[1:])]


def formant_shift_st(x: np.ndarray, times: np.ndarray, ceiling_hz: float, formants: tuple[int, ...],
                     refs_hz: tuple[float, ...]) -> float | None:
    """Mean over ``formants`` (e.g. (3,) for F3) of the median formant frequency of ``x`` (S,) at 16 kHz at
    ``times`` (s, the speech frames) in semitones re ``refs_hz`` (adult male averages); > 0: a shorter vocal
    tract. Burg formants (5 in 0-``ceiling_hz``, 25 ms windows, 10 ms step) on the signal resampled to
    2 x ``ceiling_hz`` first (polyphase: Praat's own resampling costs more than the analysis); None when fewer
    than 10 frames have them all."""
    if len(times) < 10:
        return None
    rate = int(2 * ceiling_hz)
    sound = parselmouth.Sound(resample(x, SAMPLING_RATE, rate).astype(np.float64), sampling_frequency=rate)
    formant = sound.to_formant_burg(time_step=FRAME_S, max_number_of_formants=5, maximum_formant=ceiling_hz,
                                    window_length=0.025)
    frames = np.clip(np.round((times - formant.t1) / formant.dt).astype(int), 0, formant.nt - 1)
    tracks = np.stack([call(formant, "To Matrix", k).values[0][frames] for k in formants])
    tracks = tracks[:, (tracks > 0).all(axis=0) & np.isfinite(tracks).all(axis=0)]
    if tracks.shape[1] < 10:
        return None
    return float(np.mean(12 * np.log2(np.median(tracks, axis=1) / np.asarray(refs_hz))))


def syllable_nuclei(frame_db: np.ndarray, chunks: Bounds, smooth_s: float, dip_db: float) -> np.ndarray:
    """Times (s) of syllable nuclei: peaks of the intensity (``frame_db`` (N,), smoothed over ``smooth_s``)
    that rise over their chunk's median intensity and have dips of ``dip_db`` on both sides. The threshold
    is per chunk, so soft stretches keep their nuclei; voicing is not required (whispers have none)."""
    kernel = np.hanning(max(3, int(round(smooth_s / FRAME_S))))
    smooth = 10 * np.log10(np.convolve(10 ** (frame_db / 10), kernel / kernel.sum(), mode="same") + 1e-12)
    height = np.full(len(smooth), np.inf)
    for s, e in chunks:
        i0, i1 = int(round(s / FRAME_S)), int(round(e / FRAME_S))
        height[i0:i1] = np.median(smooth[i0:i1])
    peaks, _ = find_peaks(smooth, height=height, prominence=dip_db)
    return (peaks + 0.5) * FRAME_S


def chunk_syllables(chunks: Bounds, pauses: Bounds, nuclei: np.ndarray, transcript: str | None,
                    nuclei_scale: float) -> tuple[list[float], str]:
    """Syllables per chunk and where they come from (``"transcript"`` or ``"nuclei"``).

    With a transcript, its phrases (split at punctuation) are matched to the longest pauses; the match is
    used when every phrase's syllable count is within a factor 2 of its nuclei (scaled to the transcript),
    and otherwise the transcript's syllables are shared out in proportion to the nuclei."""
    counts = [float(((nuclei >= s) & (nuclei < e)).sum()) for s, e in chunks]
    total = count_syllables(transcript) if transcript else 0
    if not total:
        return [c * nuclei_scale for c in counts], "nuclei"
    if not chunks:
        return [], "transcript"
    phrases = [p for p in (count_syllables(t) for t in split_phrases(transcript or "")) if p > 0]
    if 1 < len(phrases) <= len(chunks):
        cuts = sorted(sorted(range(len(pauses)), key=lambda i: pauses[i][0] - pauses[i][1])[: len(phrases) - 1])
        groups, first = [], 0
        for i in cuts + [len(chunks) - 1]:
            groups.append(list(range(first, i + 1)))
            first = i + 1
        scale = total / max(1.0, sum(counts))
        if all(0.5 < syl / max(1.0, scale * sum(counts[i] for i in g)) < 2.0 for g, syl in zip(groups, phrases)):
            per_chunk = [0.0] * len(chunks)
            for group, syl in zip(groups, phrases):
                weights = np.array([max(counts[i], 0.5) for i in group])
                for i, w in zip(group, weights / weights.sum()):
                    per_chunk[i] = syl * float(w)
            return per_chunk, "transcript"
    weights = np.array(counts) if sum(counts) else np.array([e - s for s, e in chunks])
    return list(total * weights / weights.sum()), "transcript"
