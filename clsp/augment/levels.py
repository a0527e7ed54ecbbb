"""Style levels as measured values: where to aim for a level, and which label a measurement honestly supports.

Both read the thresholds of the project's one measurer (:class:`clsp.style.measure.MeasureConfig`), so the level
aimed at when rendering or augmenting is the level the measurement names afterwards.

Values per attribute (what :class:`clsp.style.measure.WindowMeasure` holds): ``pitch`` in semitones re the
gender norm, ``pitch_range`` as the F0 10th-90th percentile span over the norm, ``speaking_rate`` in syllables
per second of speech, ``loudness`` in dBFS of the speech frames.

The labelling rule (:func:`honest_label`), until the measurer reports its own per-decision confidence:

- the measured level agrees with the intended one: the label is kept;
- the measured value lies within a margin (:class:`RelabelConfig`) of a level boundary: the label is dropped
  (None), as the measurement cannot confirm either side;
- otherwise the measured level replaces the intended one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from clsp.style.labels import LEVELS
from clsp.style.measure import MeasureConfig, WindowMeasure, level_of

SCALED: tuple[str, ...] = ("pitch", "pitch_range", "speaking_rate", "loudness")
# How far past its threshold an outer level is aimed (the middle level is aimed at the middle of its band):
# additive for pitch (st) and loudness (dB), multiplicative for pitch range and rate.
OUTER_STEP: dict[str, float] = {"pitch": 2.5, "pitch_range": 1.35, "speaking_rate": 1.2, "loudness": 5.0}
_LOG = {"pitch_range", "speaking_rate"}  # attributes whose levels are ratios (compared in log space)


@dataclass
class RelabelConfig:
    """How close to a level boundary a measured value may lie and still confirm a label."""

    pitch_margin_st: float = 0.75
    pitch_range_margin: float = 1.08  # ratio
    speaking_rate_margin: float = 1.06  # ratio
    loudness_margin_db: float = 1.0
    gender_margin: float = 1.0  # |gender_score| a measured gender needs when the speaker's gender is unknown

    def validate(self) -> None:
        for name in ("pitch_margin_st", "loudness_margin_db", "gender_margin"):
            if getattr(self, name) < 0:
                raise ValueError(f"key '{name}' must be >= 0, got {getattr(self, name)}")
        for name in ("pitch_range_margin", "speaking_rate_margin"):
            if getattr(self, name) < 1:
                raise ValueError(f"key '{name}' is a ratio and must be >= 1, got {getattr(self, name)}")

    def margin(self, attribute: str) -> float:
        """The margin in the attribute's comparison space (log for ratios)."""
        m = {"pitch": self.pitch_margin_st, "pitch_range": self.pitch_range_margin,
             "speaking_rate": self.speaking_rate_margin, "loudness": self.loudness_margin_db}[attribute]
        return math.log(m) if attribute in _LOG else m


def thresholds(attribute: str, mcfg: MeasureConfig) -> tuple[float, float]:
    """The (low, high) boundaries between the three levels of ``attribute``."""
    return {"pitch": (mcfg.pitch_low_st, mcfg.pitch_high_st), "pitch_range": (mcfg.range_narrow, mcfg.range_wide),
            "speaking_rate": (mcfg.rate_slow, mcfg.rate_fast),
            "loudness": (mcfg.loudness_soft_dbfs, mcfg.loudness_loud_dbfs)}[attribute]


def level_target(attribute: str, level: str, mcfg: MeasureConfig) -> float:
    """A value well inside ``level``'s band: e.g. speaking_rate slow -> rate_slow / 1.2 syllables/s."""
    low, high = thresholds(attribute, mcfg)
    i = LEVELS[attribute].index(level)
    step = OUTER_STEP[attribute]
    if attribute in _LOG:
        return (low / step, math.sqrt(low * high), high * step)[i]
    return (low - step, (low + high) / 2, high + step)[i]


def value_of(attribute: str, window: WindowMeasure) -> float | None:
    """The measured value of ``attribute`` over a window (see the module docstring for units)."""
    return {"pitch": window.pitch_st, "pitch_range": window.f0_range_rel, "speaking_rate": window.syllables_per_s,
            "loudness": window.rms_dbfs}[attribute]


def near_threshold(attribute: str, value: float, mcfg: MeasureConfig, rcfg: RelabelConfig) -> bool:
    """Whether ``value`` lies within the attribute's margin of one of its level boundaries."""
    log = attribute in _LOG
    x = math.log(max(value, 1e-9)) if log else value
    return any(abs(x - (math.log(t) if log else t)) < rcfg.margin(attribute) for t in thresholds(attribute, mcfg))


def honest_label(attribute: str, intended: str | None, value: float | None, quality: str, mcfg: MeasureConfig,
                 rcfg: RelabelConfig) -> tuple[str | None, str]:
    """The label the measurement supports and the decision taken: ``kept`` (measured = intended), ``replaced``
    (clearly another level), ``filled`` (nothing intended, a clear measurement), ``dropped`` (near a boundary)
    or ``unmeasured`` (no value, e.g. pitch of a whisper). ``quality`` is the measured voice quality."""
    measured = level_of(attribute, value, quality, mcfg)
    if measured is None:
        return None, "unmeasured"
    if measured == intended:
        return intended, "kept"
    if value is not None and near_threshold(attribute, value, mcfg, rcfg):
        return None, "dropped"
    return measured, "filled" if intended is None else "replaced"
