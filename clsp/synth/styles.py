"""Sampling the speaking style of a synthetic clip.

A clip has one voice and voice quality, and one to three segments. Each segment has a level for
``pitch``, ``pitch_range``, ``speaking_rate`` and ``loudness`` and an ``emotion``. Emotions are
prosody presets (sad = low, narrow, slow, soft; ...). In a *changing* clip one or two of pitch,
rate and loudness move between consecutive segments ("starts slowly and quietly, then speeds up").

Levels become render controls relative to the voice's natural pitch and rate (:func:`controls_for`): each level
has a target value inside its band of the measurer's thresholds (:func:`clsp.augment.levels.level_target`), e.g.
slow = 3.3 syllables/s, so a voice that speaks 5.5 syllables/s by default renders "slow" at rate 0.6 and one that
speaks 4.4 syllables/s at rate 0.75; high pitch = 5.5 st over the gender norm, whatever the voice's own F0, kept
within a plausible F0 for the voice's gender (:func:`clsp.augment.levels.pitch_target`: a low-pitched woman at
150 Hz or more, a high-pitched man at 165 Hz or less). Each segment keeps its F0 target (``f0_target_hz``), so the
corpus can check the rendering against it (:func:`clsp.synth.aim.render_segment`).

Clip-level labels are the segment value when all segments agree and ``"varying"`` otherwise.
Whispered clips carry no pitch labels (there is no F0 to measure); creaky clips are low-pitched. Only voices that
list whisper/creaky (our formant-scaled espeak-ng speakers) are drawn with them; the others speak modally.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from clsp.augment.levels import level_target, pitch_target
from clsp.style.labels import LEVELS, VARYING
from clsp.style.measure import MeasureConfig
from clsp.synth.backends import Controls, VoiceSpec
from clsp.synth.texts import sample_sentence

# Allowed levels per emotion preset; neutral allows everything (range mostly normal).
EMOTION_PRESETS: dict[str, dict[str, tuple[str, ...]]] = {
    "happy": {"pitch": ("high",), "pitch_range": ("wide",), "speaking_rate": ("normal", "fast"),
              "loudness": ("normal", "loud")},
    "sad": {"pitch": ("low",), "pitch_range": ("narrow",), "speaking_rate": ("slow",), "loudness": ("soft",)},
    "angry": {"pitch": ("medium", "high"), "pitch_range": ("normal", "wide"), "speaking_rate": ("fast",),
              "loudness": ("loud",)},
    "calm": {"pitch": ("low", "medium"), "pitch_range": ("narrow",), "speaking_rate": ("slow", "normal"),
             "loudness": ("soft", "normal")},
}
CHANGEABLE: tuple[str, ...] = ("pitch", "speaking_rate", "loudness")
RANGE_SCALES: dict[str, float] = {"narrow": 0.35, "normal": 1.0, "wide": 1.9}  # x natural (espeak-ng's SSML range)


@dataclass(frozen=True)
class SegmentPlan:
    text: str
    emotion: str
    pitch: str
    pitch_range: str
    speaking_rate: str
    loudness: str
    controls: Controls
    f0_target_hz: float  # the median F0 aimed at


@dataclass(frozen=True)
class ClipPlan:
    voice: VoiceSpec
    quality: str  # modal | whisper | creaky
    segments: tuple[SegmentPlan, ...]
    pauses: tuple[float, ...]  # seconds: leading, between segments..., trailing (len = segments + 1)

    @property
    def changing(self) -> bool:
        return len(self.segments) > 1 and any(
            len({getattr(s, a) for s in self.segments}) > 1 for a in CHANGEABLE
        )

    def clip_label(self, attribute: str) -> str | None:
        """Clip-level label of ``attribute``: the shared value, ``'varying'``, or None (whisper pitch)."""
        if self.quality == "whisper" and attribute in ("pitch", "pitch_range"):
            return None
        values = {getattr(s, attribute) for s in self.segments}
        return values.pop() if len(values) == 1 else VARYING


def _choice(rng: np.random.Generator, options: tuple[str, ...] | list[str], weights=None) -> str:
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        return options[int(rng.choice(len(options), p=w / w.sum()))]
    return options[int(rng.integers(len(options)))]


def sample_levels(rng: np.random.Generator, emotion: str, quality: str) -> dict[str, str]:
    preset = EMOTION_PRESETS.get(emotion, {})
    levels = {}
    for name, options in LEVELS.items():
        allowed = preset.get(name, options)
        if emotion == "neutral" and name == "pitch_range":
            levels[name] = _choice(rng, options, weights=[0.2, 0.6, 0.2])
        else:
            levels[name] = _choice(rng, allowed)
    if quality == "whisper":
        levels["pitch"], levels["pitch_range"] = "medium", "normal"
        if levels["loudness"] == "loud":
            levels["loudness"] = "normal"
    elif quality == "creaky":
        levels["pitch"] = "low"
    return _renderable(levels)


def _renderable(levels: dict[str, str]) -> dict[str, str]:
    """espeak-ng crashes when a low pitch meets a wide range (the contour falls under its F0 floor)."""
    if levels["pitch"] == "low" and levels["pitch_range"] == "wide":
        return {**levels, "pitch_range": "normal"}
    return levels


def _shift(rng: np.random.Generator, levels: tuple[str, ...], current: str) -> str:
    """A different level, one or two steps away."""
    others = [lv for lv in levels if lv != current]
    return _choice(rng, others)


def f0_target_hz(voice: VoiceSpec, level: str, offset_st: float, mcfg: MeasureConfig) -> float:
    """The median F0 (Hz) to render ``voice`` at for pitch ``level``, ``offset_st`` semitones of jitter included."""
    norm = mcfg.female_f0_hz if voice.gender == "female" else mcfg.male_f0_hz
    return float(norm * 2 ** (pitch_target(level, voice.gender, offset_st, mcfg) / 12))


def controls_for(voice: VoiceSpec, levels: dict[str, str], quality: str, jitter: np.ndarray,
                 mcfg: MeasureConfig) -> Controls:
    """Render controls that put ``voice`` at ``levels``; ``jitter`` is 4 values in [-1, 1] (pitch +-1 st, range
    +-10 %, rate +-6 %, loudness +-1.5 dB) so levels are distributions, not points."""
    j = np.clip(np.asarray(jitter, dtype=float), -1, 1)
    target_rate = level_target("speaking_rate", levels["speaking_rate"], mcfg) * (1 + 0.06 * j[2])
    return Controls(
        rate=float(target_rate / voice.rate_sps),
        pitch_st=float(12 * math.log2(f0_target_hz(voice, levels["pitch"], j[0], mcfg) / voice.f0_hz)),
        range_scale=float(RANGE_SCALES[levels["pitch_range"]] * (1 + 0.1 * j[1])),
        quality=quality,
        rms_dbfs=float(level_target("loudness", levels["loudness"], mcfg) + 1.5 * j[3]),
    )


def plan_clip(
    rng: np.random.Generator,
    voice: VoiceSpec,
    change_fraction: float,
    max_segments: int,
    emotion_weights: dict[str, float],
    quality_weights: dict[str, float],
    mcfg: MeasureConfig,
) -> ClipPlan:
    """Draw a clip's quality, segments, styles, texts and pauses from ``rng`` for a calibrated ``voice``."""
    qualities = list(quality_weights)
    quality = _choice(rng, qualities, [quality_weights[q] for q in qualities])
    if quality not in voice.qualities:
        quality = "modal"
    changing = max_segments > 1 and rng.random() < change_fraction
    if changing:
        n_seg = int(rng.integers(2, max_segments + 1))
        emotion = "neutral"
    else:
        n_seg = 1
        if quality == "modal":
            emotions = list(emotion_weights)
            emotion = _choice(rng, emotions, [emotion_weights[e] for e in emotions])
        else:  # whispered and creaky voices keep to quiet presets
            emotion = "calm" if rng.random() < 0.3 else "neutral"
    levels = sample_levels(rng, emotion, quality)
    segments = []
    for k in range(n_seg):
        if k > 0:
            movable = [a for a in CHANGEABLE if not (a == "pitch" and quality != "modal")]
            n_change = 1 if rng.random() < 0.6 or len(movable) == 1 else 2
            for attr in rng.permutation(movable)[:n_change]:
                levels = dict(levels)
                levels[attr] = _shift(rng, LEVELS[attr], levels[attr])
                if quality == "whisper" and levels["loudness"] == "loud":
                    levels["loudness"] = "soft"
            levels = _renderable(levels)
        text = sample_sentence(rng)
        if n_seg == 1 and rng.random() < 0.4:
            text = text + " " + sample_sentence(rng)
        jitter = rng.uniform(-1, 1, size=4)
        controls = controls_for(voice, levels, quality, jitter, mcfg)
        segments.append(SegmentPlan(text=text, emotion=emotion, controls=controls,
                                    f0_target_hz=f0_target_hz(voice, levels["pitch"], jitter[0], mcfg), **levels))
    pauses = (float(rng.uniform(0.1, 0.3)),) + tuple(
        float(rng.uniform(0.15, 0.45)) for _ in range(n_seg - 1)
    ) + (float(rng.uniform(0.1, 0.3)),)
    return ClipPlan(voice=voice, quality=quality, segments=tuple(segments), pauses=pauses)
