"""Measuring a clip's speaking style from its audio: (S,) float32 -> :class:`MeasuredStyle`.

Units: seconds, Hz, semitones (st), dB re full scale (dBFS). Thresholds live in :class:`MeasureConfig`
(calibrated on the synthetic corpus' train voices; ``configs/acoustic.yaml`` holds the same defaults).

What is measured, and how:

- **Speech and pauses.** 10 ms frames; a frame is speech when its energy is within ``active_floor_db`` of
  the loudest frame around it (``active_window_s``, so soft stretches keep their quiet sounds) and
  ``noise_margin_db`` over the quietest 5 % of the clip (a noise floor, when that is 20 dB under the peak).
  Silent runs of at least ``min_pause_s`` are pauses; the speech between two pauses is a *chunk* (its time
  runs from its first to its last speech frame, short gaps inside included).
- **F0** with Praat's autocorrelation method (parselmouth), 20 ms step, 50-600 Hz; the voiced fraction is
  voiced frames / speech frames and the HNR comes from the autocorrelation peak ``r``: 10 log10(r / (1 - r)).
- **Gender** from the vocal tract: the third-formant region is the strongest peak of the long-term average
  spectrum (LTAS) between 2.2 and 3.6 kHz (longer tracts, i.e. men, have lower formants); its distance to
  ``f3_split_hz`` (``f3_split_whisper_hz`` for whispers) in units of ``f3_scale_hz`` is ``gender_score``
  (> 0: female). F0 decides only when no peak is found: pitch moves too far within a gender in styled
  speech (a high-pitched man and a low-pitched woman share the same F0).
- **Pitch level** is judged *relative to the speaker's gender norm*, as listeners (and the corpus' labels,
  which are espeak pitch settings relative to each voice) do: the median F0 in semitones re
  ``male_f0_hz`` / ``female_f0_hz``, low under ``pitch_low_st``, high over ``pitch_high_st``. Creaky voice
  (vocal fry, the lowest register) is described as low; a whisper has no pitch, so none is described.
- **Speaking rate** in syllables per second of chunk time. With a transcript, its syllables (vowel groups)
  are counted, and its phrases (split at punctuation) are matched to the longest pauses so that each chunk
  gets its own count when the match is consistent with the audio; otherwise, and without a transcript,
  syllable nuclei are counted (de Jong & Wempe 2009: intensity peaks over their chunk's median with dips
  >= ``nucleus_dip_db`` on both sides) and scaled to syllables (by the transcript, or by ``nuclei_scale``).
- **Loudness** is the RMS of the speech frames (dBFS); **pitch range** the F0 10th-90th percentile span in
  Hz over the gender norm (median over the spans, so a pitch change does not count as range).
- **Voice quality**: whisper when under ``whisper_voiced_fraction`` of the speech is voiced; creaky when the
  voicing is sparse (under ``creaky_voiced_fraction``: vocal fry breaks the periodicity); modal otherwise.
- **Changes over time**: adjacent chunks are merged, closest first, while their differences in pitch, rate
  and loudness stay under ``change_pitch_st`` / ``change_rate_ratio`` / ``change_loudness_db`` (and spans
  shorter than ``min_span_s`` are always merged); the remaining spans carry the labels. Per attribute, a span
  keeps its own label only when it differs from its neighbour by more than the change threshold, so a
  change needs both a large measured difference and a different level.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import parselmouth
from scipy.ndimage import maximum_filter1d

from clsp.audio import resample
from clsp.errors import ClspError
from clsp.style.acoustics import FRAME_S, SAMPLING_RATE, chunk_syllables, f3_peak, speech_chunks, syllable_nuclei
from clsp.style.labels import LEVELS, StyleSpan, StyleSummary


@dataclass
class MeasureConfig:
    """Analysis settings and label thresholds (units in the names; see the module docstring)."""

    pitch_step_s: float = 0.02
    pitch_floor_hz: float = 50.0
    pitch_ceiling_hz: float = 600.0
    pitch_candidates: int = 6
    active_floor_db: float = 35.0
    active_window_s: float = 2.0
    noise_margin_db: float = 6.0
    min_pause_s: float = 0.12
    min_chunk_s: float = 0.08
    f3_band_hz: tuple[float, float] = (2200.0, 3600.0)
    f3_split_hz: float = 2820.0
    f3_split_whisper_hz: float = 2700.0  # whispered formants sit lower
    f3_scale_hz: float = 150.0
    gender_f0_split_hz: float = 155.0  # used only when no F3 peak is found
    male_f0_hz: float = 110.0
    female_f0_hz: float = 196.0
    pitch_low_st: float = -3.0
    pitch_high_st: float = 3.0
    range_narrow: float = 0.10  # (F0 p90 - p10) / gender norm F0
    range_wide: float = 0.21
    rate_slow: float = 3.95  # syllables per second
    rate_fast: float = 5.6
    nuclei_scale: float = 0.99  # syllables per detected nucleus when there is no transcript
    nucleus_dip_db: float = 2.0
    nucleus_smooth_s: float = 0.09
    loudness_soft_dbfs: float = -27.5
    loudness_loud_dbfs: float = -21.7
    whisper_voiced_fraction: float = 0.05
    creaky_voiced_fraction: float = 0.3
    change_pitch_st: float = 3.5
    change_rate_ratio: float = 1.25
    change_loudness_db: float = 4.0
    min_span_s: float = 0.8
    max_spans: int = 4

    def validate(self) -> None:
        if not 0 < self.pitch_floor_hz < self.pitch_ceiling_hz:
            raise ValueError("keys 'pitch_floor_hz' < 'pitch_ceiling_hz' must both be positive")
        for low, high in (("pitch_low_st", "pitch_high_st"), ("range_narrow", "range_wide"),
                          ("rate_slow", "rate_fast"), ("loudness_soft_dbfs", "loudness_loud_dbfs")):
            if getattr(self, low) >= getattr(self, high):
                raise ValueError(f"key '{low}' must be below key '{high}'")
        if self.max_spans < 1 or self.pitch_candidates < 2:
            raise ValueError("keys 'max_spans' >= 1 and 'pitch_candidates' >= 2 are required")


@dataclass(frozen=True)
class WindowMeasure:
    """Measurements over one stretch of a clip, ``start``/``end`` in seconds."""

    start: float
    end: float
    speech_seconds: float  # chunk time inside the window
    f0_median_hz: float | None  # None when (almost) nothing is voiced
    f0_range_st: float | None  # 10th-90th percentile span of voiced F0, semitones
    f0_range_rel: float | None  # the same span in Hz over the gender norm F0 (pitch range label)
    pitch_st: float | None  # median F0 in semitones re the gender norm
    rms_dbfs: float  # RMS of the speech frames
    syllables: float
    syllables_per_s: float | None
    voiced_fraction: float


@dataclass(frozen=True, eq=False)
class Tracks:
    """A clip's frame tracks: ``frame_times``, ``frame_db`` (energy), ``active`` (speech) (N,) every 10 ms;
    ``pitch_times``, ``f0_hz`` (P,) every 20 ms, 0 where unvoiced; ``chunks`` (start s, end s, syllables)."""

    frame_times: np.ndarray
    frame_db: np.ndarray
    active: np.ndarray
    pitch_times: np.ndarray
    f0_hz: np.ndarray
    chunks: tuple[tuple[float, float, float], ...]


@dataclass(frozen=True, eq=False)
class MeasuredStyle:
    """A clip's measured style: whole-clip values (``clip``), pause-bounded ``chunks``, ``spans`` after change
    detection, the ``tracks`` they come from and ``summary``, the measured labels."""

    duration: float  # s
    gender: str
    gender_score: float  # > 0 female, < 0 male; |score| ~ confidence
    f3_hz: float | None
    voice_quality: str  # modal | whisper | creaky
    voiced_fraction: float
    hnr_db: float | None
    rate_source: str  # "transcript" | "nuclei"
    pauses: tuple[tuple[float, float], ...]
    clip: WindowMeasure
    chunks: tuple[WindowMeasure, ...]
    spans: tuple[WindowMeasure, ...]
    summary: StyleSummary
    tracks: Tracks
    config: MeasureConfig

    @property
    def f0_median_hz(self) -> float | None:
        return self.clip.f0_median_hz

    @property
    def f0_range_semitones(self) -> float | None:
        return self.clip.f0_range_st

    @property
    def speaking_rate(self) -> float | None:
        """Syllables per second of speech."""
        return self.clip.syllables_per_s

    @property
    def rms_dbfs(self) -> float:
        return self.clip.rms_dbfs

    def window(self, start: float, end: float) -> WindowMeasure:
        """Measure the stretch ``start``-``end`` (seconds) from the stored tracks."""
        return measure_window(self.tracks, self.gender, self.config, start, end)

    def level(self, attribute: str, value: float | None) -> str | None:
        """The label of a measured ``value`` (pitch: st re norm, pitch_range: relative span, rate: syllables/s,
        loudness: dBFS); pitch is "low" for creaky voice and None for whispers."""
        return level_of(attribute, value, self.voice_quality, self.config)


def label_for(attribute: str, value: float, cfg: MeasureConfig) -> str:
    """The level name of ``value`` for ``attribute`` (one of :data:`clsp.style.labels.LEVELS`)."""
    low, high = {"pitch": (cfg.pitch_low_st, cfg.pitch_high_st), "pitch_range": (cfg.range_narrow, cfg.range_wide),
                 "speaking_rate": (cfg.rate_slow, cfg.rate_fast),
                 "loudness": (cfg.loudness_soft_dbfs, cfg.loudness_loud_dbfs)}[attribute]
    names = LEVELS[attribute]
    return names[0] if value < low else names[2] if value > high else names[1]


def level_of(attribute: str, value: float | None, quality: str, cfg: MeasureConfig) -> str | None:
    if attribute in ("pitch", "pitch_range") and quality != "modal":
        return "low" if attribute == "pitch" and quality == "creaky" else None
    return None if value is None else label_for(attribute, value, cfg)


def measure_style(audio: np.ndarray, sampling_rate: int, transcript: str | None = None,
                  config: MeasureConfig | None = None, gender: str | None = None) -> MeasuredStyle:
    """Measure ``audio`` (S,) float mono at ``sampling_rate`` Hz; ``transcript`` (optional) sharpens the rate;
    ``gender`` ("male" / "female"), when the speaker's gender is known (a corpus voice, a manifest's
    supervision), replaces the measured decision, so pitch is judged against the right norm.

    Raises :class:`ClspError` for audio that cannot be measured (empty, NaN, shorter than 0.1 s, silent)."""
    cfg = config or MeasureConfig()
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ClspError(f"audio must be a non-empty (samples,) array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ClspError("audio contains NaN or inf")
    if sampling_rate != SAMPLING_RATE:
        x = resample(x, sampling_rate, SAMPLING_RATE).astype(np.float64)
    hop = int(FRAME_S * SAMPLING_RATE)
    n = len(x) // hop
    if n < 10:
        raise ClspError(f"audio is too short to measure ({len(x) / SAMPLING_RATE:.3f} s, need >= 0.1 s)")
    frame_db = 10 * np.log10((x[: n * hop].reshape(n, hop) ** 2).mean(axis=1) + 1e-12)
    if frame_db.max() < -90:
        raise ClspError("audio is silent (loudest 10 ms frame under -90 dBFS)")
    local_max = maximum_filter1d(frame_db, size=int(round(cfg.active_window_s / FRAME_S)) | 1)
    noise = min(np.percentile(frame_db, 5) + cfg.noise_margin_db, frame_db.max() - 20.0)  # no pauses: no noise
    active = frame_db >= np.maximum(local_max - cfg.active_floor_db, noise)
    bounds, pauses = speech_chunks(active, cfg.min_pause_s, cfg.min_chunk_s)

    pitch = parselmouth.Sound(x, sampling_frequency=SAMPLING_RATE).to_pitch_ac(
        time_step=cfg.pitch_step_s, pitch_floor=cfg.pitch_floor_hz, pitch_ceiling=cfg.pitch_ceiling_hz,
        max_number_of_candidates=cfg.pitch_candidates)
    pitch_times = np.asarray(pitch.xs())
    f0 = np.maximum(pitch.selected_array["frequency"], 0.0)
    p_active = active[np.clip((pitch_times / FRAME_S).astype(int), 0, n - 1)]
    voiced = (f0 > 0) & p_active
    voiced_fraction = float(voiced.sum() / max(1, p_active.sum()))
    r = np.clip(pitch.selected_array["strength"][voiced], 1e-6, 1 - 1e-6)
    hnr = float(np.mean(10 * np.log10(r / (1 - r)))) if len(r) >= 5 else None
    quality = ("whisper" if voiced_fraction < cfg.whisper_voiced_fraction
               else "creaky" if voiced_fraction < cfg.creaky_voiced_fraction else "modal")

    f3 = f3_peak(x, active, cfg.f3_band_hz)
    if f3 is not None:
        score = (f3 - (cfg.f3_split_whisper_hz if quality == "whisper" else cfg.f3_split_hz)) / cfg.f3_scale_hz
    else:
        score = math.log2(np.median(f0[voiced]) / cfg.gender_f0_split_hz) if voiced.sum() >= 5 else 0.0
    if gender is not None and gender not in ("male", "female"):
        raise ClspError(f"gender must be 'male' or 'female', got {gender!r}")
    gender = gender or ("female" if score > 0 else "male")

    nuclei = syllable_nuclei(frame_db, bounds, cfg.nucleus_smooth_s, cfg.nucleus_dip_db)
    syllables, rate_source = chunk_syllables(bounds, pauses, nuclei, transcript, cfg.nuclei_scale)
    tracks = Tracks(frame_times=(np.arange(n) + 0.5) * FRAME_S, frame_db=frame_db, active=active,
                    pitch_times=pitch_times, f0_hz=f0,
                    chunks=tuple((s, e, k) for (s, e), k in zip(bounds, syllables)))

    def win(start: float, end: float) -> WindowMeasure:
        return measure_window(tracks, gender, cfg, start, end)

    duration = len(x) / SAMPLING_RATE
    clip = win(bounds[0][0], bounds[-1][1]) if bounds else win(0.0, duration)
    chunks = tuple(win(s, e) for s, e in bounds)
    spans = _segment(win, chunks, cfg, use_pitch=quality == "modal")
    return MeasuredStyle(
        duration=duration, gender=gender, gender_score=float(score), f3_hz=f3, voice_quality=quality,
        voiced_fraction=voiced_fraction, hnr_db=hnr, rate_source=rate_source, pauses=tuple(pauses), clip=clip,
        chunks=chunks, spans=spans, summary=_summarise(win, spans, gender, quality, cfg), tracks=tracks, config=cfg)


def measure_window(tracks: Tracks, gender: str, cfg: MeasureConfig, start: float, end: float) -> WindowMeasure:
    """Measurements over ``start``-``end`` (seconds) of a clip's ``tracks``; pitch relative to ``gender``'s norm."""
    t = tracks
    f_sel = (t.frame_times >= start) & (t.frame_times < end) & t.active
    rms = float(10 * np.log10(np.mean(10 ** (t.frame_db[f_sel] / 10)))) if f_sel.any() else -120.0
    p_idx = np.clip((t.pitch_times / FRAME_S).astype(int), 0, len(t.active) - 1)
    p_sel = (t.pitch_times >= start) & (t.pitch_times < end) & t.active[p_idx]
    voiced = t.f0_hz[p_sel & (t.f0_hz > 0)]
    med = rng = span = rel = None
    if len(voiced) >= 5:
        med = float(np.median(voiced))
        lo, hi = np.percentile(voiced, [10, 90])
        norm = cfg.female_f0_hz if gender == "female" else cfg.male_f0_hz
        rng, span, rel = float(12 * math.log2(hi / lo)), float((hi - lo) / norm), float(12 * math.log2(med / norm))
    seconds = syllables = 0.0
    for s, e, k in t.chunks:
        overlap = min(e, end) - max(s, start)
        if overlap > 0:
            seconds += overlap
            syllables += k * overlap / (e - s)
    return WindowMeasure(start=float(start), end=float(end), speech_seconds=seconds, f0_median_hz=med,
                         f0_range_st=rng, f0_range_rel=span, pitch_st=rel, rms_dbfs=rms, syllables=syllables,
                         syllables_per_s=syllables / seconds if seconds >= 0.2 else None,
                         voiced_fraction=float(len(voiced) / max(1, p_sel.sum())))


Window = Callable[[float, float], WindowMeasure]


def _distance(a: WindowMeasure, b: WindowMeasure, cfg: MeasureConfig, use_pitch: bool) -> float:
    """Largest difference between two stretches in units of the change thresholds (< 1: alike)."""
    d = abs(a.rms_dbfs - b.rms_dbfs) / cfg.change_loudness_db
    if a.syllables_per_s and b.syllables_per_s:
        d = max(d, abs(math.log(a.syllables_per_s / b.syllables_per_s)) / math.log(cfg.change_rate_ratio))
    if use_pitch and a.pitch_st is not None and b.pitch_st is not None:
        d = max(d, abs(a.pitch_st - b.pitch_st) / cfg.change_pitch_st)
    return d


def _segment(win: Window, chunks: tuple[WindowMeasure, ...], cfg: MeasureConfig,
             use_pitch: bool) -> tuple[WindowMeasure, ...]:
    """Merge adjacent chunks, closest first, while they are alike or too short; returns the spans."""
    spans = list(chunks)
    while len(spans) > 1:
        dists = [_distance(a, b, cfg, use_pitch) for a, b in zip(spans, spans[1:])]
        short = [i for i, s in enumerate(spans) if s.end - s.start < cfg.min_span_s]
        if short:  # a short span joins its closer neighbour
            i = short[0]
            j = i - 1 if i == len(spans) - 1 or (i > 0 and dists[i - 1] <= dists[i]) else i
        else:
            j = int(np.argmin(dists))
            if dists[j] >= 1 and len(spans) <= cfg.max_spans:
                break
        spans[j: j + 2] = [win(spans[j].start, spans[j + 1].end)]
    return tuple(spans)


def _summarise(win: Window, spans: tuple[WindowMeasure, ...], gender: str, quality: str,
               cfg: MeasureConfig) -> StyleSummary:
    """Labels per span; per attribute, neighbouring spans closer than its change threshold share one label
    (measured over their union), and neighbours that end up alike become one span."""
    getters: dict[str, tuple[Callable[[WindowMeasure], float | None], float]] = {
        "pitch": (lambda w: w.pitch_st, cfg.change_pitch_st),
        "speaking_rate": (lambda w: math.log(w.syllables_per_s) if w.syllables_per_s else None,
                          math.log(cfg.change_rate_ratio)),
        "loudness": (lambda w: w.rms_dbfs, cfg.change_loudness_db),
    }
    labels: dict[str, list[str | None]] = {}
    for attr, (get, threshold) in getters.items():
        groups: list[list[int]] = []
        for i, span in enumerate(spans):
            v = get(span)
            prev = get(win(spans[groups[-1][0]].start, spans[groups[-1][-1]].end)) if groups else None
            if groups and (v is None or prev is None or abs(v - prev) < threshold):
                groups[-1].append(i)
            else:
                groups.append([i])
        labels[attr] = [None] * len(spans)
        for g in groups:
            v = get(win(spans[g[0]].start, spans[g[-1]].end))
            value = math.exp(v) if attr == "speaking_rate" and v is not None else v
            for i in g:
                labels[attr][i] = level_of(attr, value, quality, cfg)
    ranges = [s.f0_range_rel for s in spans if s.f0_range_rel is not None]
    rng = level_of("pitch_range", float(np.median(ranges)) if ranges else None, quality, cfg)
    merged: list[StyleSpan] = []
    for i, s in enumerate(spans):
        span = StyleSpan(start=round(s.start, 2), end=round(s.end, 2), pitch=labels["pitch"][i], pitch_range=rng,
                         speaking_rate=labels["speaking_rate"][i], loudness=labels["loudness"][i])
        if merged and all(getattr(merged[-1], k) == getattr(span, k) for k in getters):
            merged[-1] = StyleSpan(**{**merged[-1].__dict__, "end": span.end})
        else:
            merged.append(span)
    return StyleSummary(gender=gender, voice_quality=quality, spans=tuple(merged))
