"""Measuring a clip's speaking style from its audio: (S,) float32 -> :class:`MeasuredStyle`.

Units: seconds, Hz, semitones (st), dB re full scale (dBFS). Thresholds live in :class:`MeasureConfig`
(``configs/acoustic.yaml`` holds the same defaults; how they were set: README, "The acoustic measurement").

Every attribute comes out as a :class:`Decision`: a label *with a confidence*, or an explicit uncertain
outcome (``label=None``) with the reason, never a guess. A label is stated when its confidence reaches
``min_confidence``; the confidence grows with the distance of the measured value from the nearest label
boundary, ``1 / (1 + exp(-distance / scale))``, each attribute with its own ``*_scale``.

What is measured, and how:

- **Speech and pauses.** 10 ms frames; a frame is speech when its energy is within ``active_floor_db`` of
  the loudest frame around it (``active_window_s``, so soft stretches keep their quiet sounds) and
  ``noise_margin_db`` over the quietest 5 % of the clip (a noise floor, when that is 20 dB under the peak).
  Silent runs of at least ``min_pause_s`` are pauses; the speech between two pauses is a *chunk* (its time
  runs from its first to its last speech frame, short gaps inside included).
- **F0** with Praat's autocorrelation method (parselmouth), 20 ms step, 50-600 Hz; the voiced fraction is
  voiced frames / speech frames and the HNR comes from the autocorrelation peak ``r``: 10 log10(r / (1 - r)).
- **Gender from F0 first.** Adult F0 separates the genders across voices and engines (men ~85-155 Hz,
  women ~165-255 Hz); the log-odds of "female" are the median F0's distance from ``gender_f0_split_hz`` in
  units of ``gender_f0_scale_st`` semitones. F0 counts only when it is trustworthy: modal voice, at least
  ``gender_min_voiced_s`` of voicing, between ``gender_f0_min_hz`` and ``gender_f0_max_hz``. Where F0 alone is not conclusive a
  vocal-tract cue is added, bounded: how high F3 sits (Burg, median over the voiced speech, in st re the adult
  male average), worth at most ``formant_cap`` log-odds either way. The cap is below what a decision
  needs, so the formants support or weaken F0 but never decide alone: a whisper (no F0), creaky voice
  (unreliable F0), and F0 in the overlap band (a high-pitched man, a low-pitched woman) come out *uncertain*.
- **Pitch level** is judged *relative to the speaker's gender norm*, as listeners do: the median F0 in
  semitones re ``male_f0_hz`` / ``female_f0_hz``, low under ``pitch_low_st``, high over ``pitch_high_st``.
  When the gender is uncertain, a level is stated only if both norms give it. Creaky voice (vocal fry, the
  lowest register) is low; a whisper has no pitch, so its pitch is uncertain.
- **Speaking rate** in syllables per second of chunk time. With a transcript, its syllables (vowel groups)
  are counted, and its phrases (split at punctuation) are matched to the longest pauses so that each chunk
  gets its own count when the match is consistent with the audio; otherwise, and without a transcript,
  syllable nuclei are counted (de Jong & Wempe 2009: intensity peaks over their chunk's median with dips
  >= ``nucleus_dip_db`` on both sides) and scaled to syllables (by the transcript, or by ``nuclei_scale``);
  a rate from nuclei alone is less sure (``rate_scale_nuclei``).
- **Loudness** is the RMS of the speech frames (dBFS); **pitch range** the F0 10th-90th percentile span in
  Hz over the gender norm (median over the spans, so a pitch change does not count as range).
- **Voice quality**: whisper when under ``whisper_voiced_fraction`` of the speech is voiced; creaky when the
  voicing is sparse (under ``creaky_voiced_fraction``: vocal fry breaks the periodicity); modal otherwise.
- **Changes over time**: adjacent chunks are merged, closest first, while their differences in pitch, rate
  and loudness stay under ``change_pitch_st`` / ``change_rate_ratio`` / ``change_loudness_db`` (and spans
  shorter than ``min_span_s`` are always merged); the remaining spans carry the labels. Per attribute, a span
  keeps its own label only when it differs from its neighbour by more than the change threshold, so a
  change needs both a large measured difference and a different level. The summary holds confident labels
  only (None where a span's label is uncertain).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import parselmouth
from scipy.ndimage import maximum_filter1d

from clsp.audio import SAMPLING_RATE, resample
from clsp.errors import ClspError
from clsp.style.acoustics import (FRAME_S, chunk_syllables, formant_shift_st, speech_chunks,
                                  syllable_nuclei)
from clsp.style.labels import GENDERS, LEVELS, StyleSpan, StyleSummary

ATTRIBUTES: tuple[str, ...] = ("gender", "voice_quality", "pitch", "pitch_range", "speaking_rate", "loudness")


@dataclass
class MeasureConfig:
    """Analysis settings, label thresholds and confidence scales (units in the names; see the module
    docstring)."""

    pitch_step_s: float = 0.02
    pitch_floor_hz: float = 50.0
    pitch_ceiling_hz: float = 600.0
    pitch_candidates: int = 6
    active_floor_db: float = 35.0
    active_window_s: float = 2.0
    noise_margin_db: float = 6.0
    min_pause_s: float = 0.12
    min_chunk_s: float = 0.08
    min_confidence: float = 0.8  # a label is stated at this confidence or more, otherwise uncertain
    gender_f0_split_hz: float = 155.0  # median F0 between the male and the female range
    gender_f0_scale_st: float = 1.6  # semitones from the split per unit of log-odds
    gender_f0_min_hz: float = 70.0  # a median F0 under this is vocal fry or a sub-harmonic, not a register
    gender_f0_max_hz: float = 400.0  # a median F0 above this is a tracking error, not a voice
    gender_min_voiced_s: float = 0.3
    formant_ceiling_hz: float = 5500.0
    formants: tuple[int, ...] = (3,)  # which formants (F3: the most gender-specific across voices)
    formant_refs_hz: tuple[float, ...] = (2500.0,)  # their adult male averages
    formant_split_st: float = 2.0  # formant shift between the genders, st re the references
    formant_scale_st: float = 1.5  # st per unit of log-odds
    formant_cap: float = 1.0  # the most log-odds the formants add or take (< logit(min_confidence))
    male_f0_hz: float = 110.0
    female_f0_hz: float = 196.0
    pitch_low_st: float = -3.0
    pitch_high_st: float = 3.0
    pitch_scale_st: float = 0.8
    range_narrow: float = 0.10  # (F0 p90 - p10) / gender norm F0
    range_wide: float = 0.21
    range_scale: float = 0.02
    rate_slow: float = 3.95  # syllables per second
    rate_fast: float = 5.6
    rate_scale: float = 0.06  # natural-log units of the rate: ~6 %
    rate_scale_nuclei: float = 0.2  # the same, for a rate counted from syllable nuclei alone
    nuclei_scale: float = 0.99  # syllables per detected nucleus when there is no transcript
    nucleus_dip_db: float = 2.0
    nucleus_smooth_s: float = 0.09
    loudness_soft_dbfs: float = -27.5
    loudness_loud_dbfs: float = -21.7
    loudness_scale_db: float = 0.8
    whisper_voiced_fraction: float = 0.05
    creaky_voiced_fraction: float = 0.3
    quality_scale: float = 0.02  # voiced fraction
    change_pitch_st: float = 3.5
    change_rate_ratio: float = 1.25
    change_loudness_db: float = 4.0
    min_span_s: float = 0.8
    max_spans: int = 4

    def validate(self) -> None:
        if not 0 < self.pitch_floor_hz < self.pitch_ceiling_hz:
            raise ValueError("keys 'pitch_floor_hz' < 'pitch_ceiling_hz' must both be positive")
        for low, high in (("pitch_low_st", "pitch_high_st"), ("range_narrow", "range_wide"),
                          ("rate_slow", "rate_fast"), ("loudness_soft_dbfs", "loudness_loud_dbfs"),
                          ("whisper_voiced_fraction", "creaky_voiced_fraction"), ("male_f0_hz", "female_f0_hz")):
            if getattr(self, low) >= getattr(self, high):
                raise ValueError(f"key '{low}' must be below key '{high}'")
        if self.max_spans < 1 or self.pitch_candidates < 2:
            raise ValueError("keys 'max_spans' >= 1 and 'pitch_candidates' >= 2 are required")
        if not 0 < self.gender_f0_min_hz < self.gender_f0_split_hz < self.gender_f0_max_hz:
            raise ValueError("keys 'gender_f0_min_hz' < 'gender_f0_split_hz' < 'gender_f0_max_hz' must hold (Hz)")
        if not 0.5 < self.min_confidence < 1:
            raise ValueError(f"key 'min_confidence' must be in (0.5, 1), got {self.min_confidence}")
        for name in ("gender_f0_scale_st", "formant_scale_st", "pitch_scale_st", "range_scale", "rate_scale",
                     "rate_scale_nuclei", "loudness_scale_db", "quality_scale", "gender_f0_split_hz"):
            if getattr(self, name) <= 0:
                raise ValueError(f"key '{name}' must be > 0, got {getattr(self, name)}")
        if not 0 <= self.formant_cap < _logit(self.min_confidence):
            raise ValueError(f"key 'formant_cap' must be in [0, {_logit(self.min_confidence):.3f}) "
                             f"(logit of 'min_confidence': the formants never decide alone), got {self.formant_cap}")
        if not self.formant_refs_hz or min(self.formant_refs_hz) <= 0 or len(self.formants) != len(self.formant_refs_hz):
            raise ValueError("key 'formant_refs_hz' must list one positive frequency per entry of key 'formants'")
        if not all(1 <= k <= 5 for k in self.formants):
            raise ValueError(f"key 'formants' must list formant numbers 1-5, got {list(self.formants)}")


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z > -50 else 0.0


@dataclass(frozen=True)
class Decision:
    """One measured attribute: ``label`` (None: uncertain, nothing is stated), ``confidence`` (0.5-1) that the
    likelier label ``lean`` is right, the ``value`` it was read from and ``reason``, one line in words.

    ``value`` units: gender and pitch, median F0 in Hz (None without F0); pitch_range, the F0 span over the
    gender norm; speaking_rate, syllables/s; loudness, dBFS; voice_quality, the voiced fraction."""

    label: str | None
    confidence: float
    value: float | None
    reason: str
    lean: str | None = None

    @property
    def uncertain(self) -> bool:
        return self.label is None


def _decided(lean: str | None, confidence: float, value: float | None, reason: str, cfg: MeasureConfig) -> Decision:
    label = lean if lean is not None and confidence >= cfg.min_confidence else None
    return Decision(label, float(confidence), value, reason, lean)


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


@dataclass(frozen=True)
class Judge:
    """What level decisions of one clip depend on: its gender and voice-quality decisions, where its rate
    comes from, and the config."""

    gender: Decision
    quality: Decision
    rate_source: str
    config: MeasureConfig

    @property
    def norm_gender(self) -> str:
        """The gender whose F0 norm ``pitch_st`` / ``f0_range_rel`` are relative to (the likelier one)."""
        return self.gender.lean or "male"

    def norm(self, gender: str) -> float:
        return self.config.female_f0_hz if gender == "female" else self.config.male_f0_hz

    def decide(self, attribute: str, value: float | None) -> Decision:
        """The decision for a measured ``value`` of ``attribute``, in the units of :meth:`MeasuredStyle.level`."""
        cfg, quality = self.config, self.quality.lean
        value = None if value is None else float(value)
        if attribute in ("pitch", "pitch_range") and quality != "modal":
            if attribute == "pitch" and quality == "creaky":
                return _decided("low", self.quality.confidence, value, "creaky voice (vocal fry), the lowest "
                                "register", cfg)
            return Decision(None, 0.5, None, f"{quality} voice: no reliable F0")
        if value is None:
            what = {"pitch": "too little voiced speech", "pitch_range": "too little voiced speech",
                    "speaking_rate": "too little speech to count syllables"}.get(attribute, "not measured")
            return Decision(None, 0.5, None, what)
        if attribute in ("pitch", "pitch_range"):
            return self._relative(attribute, value)
        if attribute == "speaking_rate":
            scale = cfg.rate_scale if self.rate_source == "transcript" else cfg.rate_scale_nuclei
            label, conf = level_confidence(attribute, value, cfg, scale)
            return _decided(label, conf, value, f"{value:.1f} syllables/s ({self.rate_source})"
                            + _boundary(label, conf, cfg), cfg)
        if attribute == "loudness":
            label, conf = level_confidence(attribute, value, cfg, cfg.loudness_scale_db)
            return _decided(label, conf, value, f"{value:.1f} dBFS" + _boundary(label, conf, cfg), cfg)
        raise ClspError(f"unknown attribute {attribute!r}; one of {', '.join(ATTRIBUTES)}")

    def _relative(self, attribute: str, value: float) -> Decision:
        """Pitch level / range under the decided gender's norm, or under both norms when it is uncertain."""
        cfg, own = self.config, self.norm_gender
        genders = [own] if self.gender.label else list(GENDERS)
        scale = cfg.pitch_scale_st if attribute == "pitch" else cfg.range_scale
        results = []
        for g in genders:
            if attribute == "pitch":  # st re own norm -> st re g's norm
                v = value + 12 * math.log2(self.norm(own) / self.norm(g))
            else:  # span / own norm -> span / g's norm
                v = value * self.norm(own) / self.norm(g)
            results.append((g, v, *level_confidence(attribute, v, cfg, scale)))
        f0 = self.norm(own) * 2 ** (value / 12) if attribute == "pitch" else None
        what = f"F0 {f0:.0f} Hz" if f0 is not None else f"F0 span {value:.2f} of the {own} norm"
        labels = {r[2] for r in results}
        conf = min(r[3] for r in results)
        if len(labels) == 1:
            label = labels.pop()
            where = f" for a {'woman' if own == 'female' else 'man'}" if len(results) == 1 else " for either gender"
            return _decided(label, conf, f0 if attribute == "pitch" else value,
                            f"{what}: {label}{where}" + _boundary(label, conf, cfg), cfg)
        readings = ", ".join(f"{lbl} for a {'woman' if g == 'female' else 'man'}" for g, _, lbl, _ in results)
        lean = next(lbl for g, _, lbl, _ in results if g == own)  # the reading under the likelier gender
        return Decision(None, 0.5, f0 if attribute == "pitch" else value, f"{what}: {readings}", lean)


def _boundary(label: str, conf: float, cfg: MeasureConfig) -> str:
    return "" if conf >= cfg.min_confidence else f", near the edge of {label}"


def level_confidence(attribute: str, value: float, cfg: MeasureConfig, scale: float) -> tuple[str, float]:
    """The level of ``value`` (as :func:`label_for`) and the confidence in it: the distance to the nearest
    boundary of that level over ``scale`` (natural-log units for the rate), through a logistic."""
    lo, hi = _bounds(attribute, cfg)
    v = value
    if attribute == "speaking_rate":
        v, lo, hi = math.log(max(value, 1e-6)), math.log(lo), math.log(hi)
    label = label_for(attribute, value, cfg)
    names = LEVELS[attribute]
    distance = lo - v if label == names[0] else v - hi if label == names[2] else min(v - lo, hi - v)
    return label, _sigmoid(distance / scale)


def _bounds(attribute: str, cfg: MeasureConfig) -> tuple[float, float]:
    return {"pitch": (cfg.pitch_low_st, cfg.pitch_high_st), "pitch_range": (cfg.range_narrow, cfg.range_wide),
            "speaking_rate": (cfg.rate_slow, cfg.rate_fast),
            "loudness": (cfg.loudness_soft_dbfs, cfg.loudness_loud_dbfs)}[attribute]


@dataclass(frozen=True, eq=False)
class MeasuredStyle:
    """A clip's measured style: one :class:`Decision` per attribute (``decisions``, over the whole clip),
    whole-clip values (``clip``), pause-bounded ``chunks``, ``spans`` after change detection, the ``tracks``
    they come from and ``summary``, the confident labels per span."""

    duration: float  # s
    decisions: Mapping[str, Decision]
    gender_score: float  # log-odds of "female" (> 0) from F0 and formants; 0 without evidence or when given
    formant_st: float | None  # the vocal-tract cue (None when it was not needed or not measurable)
    voice_quality: str  # modal | whisper | creaky: the likelier class (see decisions for the confidence)
    voiced_fraction: float
    hnr_db: float | None
    rate_source: str  # "transcript" | "nuclei"
    pauses: tuple[tuple[float, float], ...]
    clip: WindowMeasure
    chunks: tuple[WindowMeasure, ...]
    spans: tuple[WindowMeasure, ...]
    summary: StyleSummary
    tracks: Tracks
    judge: Judge

    @property
    def config(self) -> MeasureConfig:
        return self.judge.config

    @property
    def gender(self) -> str | None:
        """The decided gender, None when uncertain."""
        return self.decisions["gender"].label

    @property
    def norm_gender(self) -> str:
        """The gender whose F0 norm the windows' ``pitch_st`` is relative to (decided, or the likelier)."""
        return self.judge.norm_gender

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
        return measure_window(self.tracks, self.norm_gender, self.config, start, end)

    def level(self, attribute: str, value: float | None) -> str | None:
        """The label of a measured ``value`` (pitch: st re norm, pitch_range: relative span, rate: syllables/s,
        loudness: dBFS); pitch is "low" for creaky voice and None for whispers. The simple path: no
        confidence (see :meth:`decide`)."""
        return level_of(attribute, value, self.voice_quality, self.config)

    def decide(self, attribute: str, value: float | None) -> Decision:
        """:meth:`level` with a confidence: an uncertain :class:`Decision` near a boundary, without F0, or
        (pitch) when the gender is uncertain and the two gender norms give different levels."""
        return self.judge.decide(attribute, value)

    def window_value(self, attribute: str, w: WindowMeasure) -> float | None:
        """``w``'s value of ``attribute`` in the units of :meth:`level` / :meth:`decide`."""
        return {"pitch": w.pitch_st, "pitch_range": w.f0_range_rel, "speaking_rate": w.syllables_per_s,
                "loudness": w.rms_dbfs}[attribute]


def label_for(attribute: str, value: float, cfg: MeasureConfig) -> str:
    """The level name of ``value`` for ``attribute`` (one of :data:`clsp.style.labels.LEVELS`)."""
    low, high = _bounds(attribute, cfg)
    names = LEVELS[attribute]
    return names[0] if value < low else names[2] if value > high else names[1]


def level_of(attribute: str, value: float | None, quality: str, cfg: MeasureConfig) -> str | None:
    if attribute in ("pitch", "pitch_range") and quality != "modal":
        return "low" if attribute == "pitch" and quality == "creaky" else None
    return None if value is None else label_for(attribute, value, cfg)


def decide_quality(voiced_fraction: float, cfg: MeasureConfig) -> Decision:
    """Whisper / creaky / modal from the voiced fraction of the speech, with a confidence."""
    vf, w, c = voiced_fraction, cfg.whisper_voiced_fraction, cfg.creaky_voiced_fraction
    if vf < w:
        lean, distance = "whisper", w - vf
    elif vf < c:
        lean, distance = "creaky", min(vf - w, c - vf)
    else:
        lean, distance = "modal", vf - c
    conf = _sigmoid(distance / cfg.quality_scale)
    return _decided(lean, conf, vf, f"voiced {100 * vf:.0f} % of the speech", cfg)


def decide_gender(f0_voiced: np.ndarray, quality: str, formants: Callable[[], float | None],
                  cfg: MeasureConfig) -> tuple[Decision, float, float | None]:
    """Gender from the voiced F0 values (Hz) of the speech, F0 first; ``formants()`` gives the vocal-tract cue
    (st re adult male formants) and is called only where it can change the outcome.
    Returns the decision, the log-odds of "female" and the formant cue (or None)."""
    voiced_s = len(f0_voiced) * cfg.pitch_step_s
    f0 = float(np.median(f0_voiced)) if len(f0_voiced) else None
    trusted = (quality == "modal" and f0 is not None and voiced_s >= cfg.gender_min_voiced_s
               and cfg.gender_f0_min_hz <= f0 <= cfg.gender_f0_max_hz)
    s_f0 = 12 * math.log2(f0 / cfg.gender_f0_split_hz) / cfg.gender_f0_scale_st if trusted else 0.0
    need = _logit(cfg.min_confidence)
    formant = formants() if abs(s_f0) < need + cfg.formant_cap else None
    s_vt = 0.0
    if formant is not None:
        s_vt = float(np.clip((formant - cfg.formant_split_st) / cfg.formant_scale_st, -cfg.formant_cap,
                             cfg.formant_cap))
    score = s_f0 + s_vt
    lean = None if score == 0 else "female" if score > 0 else "male"
    conf = _sigmoid(abs(score))
    if not trusted:
        why = ("whispered: no F0" if quality == "whisper" else "creaky voice: F0 unreliable" if quality == "creaky"
               else "too little voiced speech" if f0 is None or voiced_s < cfg.gender_min_voiced_s
               else f"F0 {f0:.0f} Hz outside the adult speaking range")
        if formant is not None:
            why += f"; formants {formant:+.1f} st lean {lean} but do not decide alone"
        return Decision(None, conf, f0, why, lean), score, formant
    if conf >= cfg.min_confidence:
        why = f"F0 {f0:.0f} Hz, in the {lean} range"
        if s_vt * s_f0 > 0:
            why += f" (formants {formant:+.1f} st agree)"
        elif s_vt * s_f0 < 0:
            why += f" (formants {formant:+.1f} st disagree)"
        return _decided(lean, conf, f0, why, cfg), score, formant
    if s_vt * s_f0 < 0 and abs(s_f0) >= need:
        why = f"F0 {f0:.0f} Hz leans {'female' if s_f0 > 0 else 'male'}, the formants ({formant:+.1f} st) do not"
    else:
        why = f"F0 {f0:.0f} Hz between the male and female ranges"
    return Decision(None, conf, f0, why, lean), score, formant


def measure_style(audio: np.ndarray, sampling_rate: int, transcript: str | None = None,
                  config: MeasureConfig | None = None, gender: str | None = None) -> MeasuredStyle:
    """Measure ``audio`` (S,) float mono at ``sampling_rate`` Hz; ``transcript`` (optional) sharpens the rate;
    ``gender`` ("male" / "female"), when the speaker's gender is known (a corpus voice, a manifest's
    supervision), replaces the measured decision (confidence 1), so pitch is judged against the right norm.

    Raises :class:`ClspError` for audio that cannot be measured (empty, NaN, shorter than 0.1 s, silent)."""
    cfg = config or MeasureConfig()
    if gender is not None and gender not in GENDERS:
        raise ClspError(f"gender must be 'male' or 'female', got {gender!r}")
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

    sound = parselmouth.Sound(x, sampling_frequency=SAMPLING_RATE)
    pitch = sound.to_pitch_ac(time_step=cfg.pitch_step_s, pitch_floor=cfg.pitch_floor_hz,
                              pitch_ceiling=cfg.pitch_ceiling_hz, max_number_of_candidates=cfg.pitch_candidates)
    pitch_times = np.asarray(pitch.xs())
    f0 = np.maximum(pitch.selected_array["frequency"], 0.0)
    p_active = active[np.clip((pitch_times / FRAME_S).astype(int), 0, n - 1)]
    voiced = (f0 > 0) & p_active
    voiced_fraction = float(voiced.sum() / max(1, p_active.sum()))
    r = np.clip(pitch.selected_array["strength"][voiced], 1e-6, 1 - 1e-6)
    hnr = float(np.mean(10 * np.log10(r / (1 - r)))) if len(r) >= 5 else None
    quality = decide_quality(voiced_fraction, cfg)

    def formants() -> float | None:  # over the voiced frames, or all speech frames of a whisper
        times = pitch_times[voiced] if voiced.sum() >= 10 else (np.flatnonzero(active) + 0.5) * FRAME_S
        return formant_shift_st(x, times, cfg.formant_ceiling_hz, cfg.formants, cfg.formant_refs_hz)

    if gender is None:
        gender_decision, score, formant = decide_gender(f0[voiced], quality.lean, formants, cfg)
    else:
        f0_med = float(np.median(f0[voiced])) if voiced.any() else None
        gender_decision, score, formant = Decision(gender, 1.0, f0_med, "given", gender), 0.0, None

    nuclei = syllable_nuclei(frame_db, bounds, cfg.nucleus_smooth_s, cfg.nucleus_dip_db)
    syllables, rate_source = chunk_syllables(bounds, pauses, nuclei, transcript, cfg.nuclei_scale)
    judge = Judge(gender_decision, quality, rate_source, cfg)
    tracks = Tracks(frame_times=(np.arange(n) + 0.5) * FRAME_S, frame_db=frame_db, active=active,
                    pitch_times=pitch_times, f0_hz=f0,
                    chunks=tuple((s, e, k) for (s, e), k in zip(bounds, syllables)))

    def win(start: float, end: float) -> WindowMeasure:
        return measure_window(tracks, judge.norm_gender, cfg, start, end)

    duration = len(x) / SAMPLING_RATE
    clip = win(bounds[0][0], bounds[-1][1]) if bounds else win(0.0, duration)
    chunks = tuple(win(s, e) for s, e in bounds)
    from clsp.style.segments import segment, summarise

    spans = segment(win, chunks, cfg, use_pitch=quality.lean == "modal")
    ranges = [s.f0_range_rel for s in spans if s.f0_range_rel is not None]
    decisions = {
        "gender": gender_decision, "voice_quality": quality,
        "pitch": judge.decide("pitch", clip.pitch_st),
        "pitch_range": judge.decide("pitch_range", float(np.median(ranges)) if ranges else None),
        "speaking_rate": judge.decide("speaking_rate", clip.syllables_per_s),
        "loudness": judge.decide("loudness", clip.rms_dbfs),
    }
    return MeasuredStyle(
        duration=duration, decisions=decisions, gender_score=float(score), formant_st=formant,
        voice_quality=str(quality.lean), voiced_fraction=voiced_fraction, hnr_db=hnr, rate_source=rate_source,
        pauses=tuple(pauses), clip=clip, chunks=chunks, spans=spans,
        summary=summarise(win, spans, judge, decisions["pitch_range"]), tracks=tracks, judge=judge)


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
