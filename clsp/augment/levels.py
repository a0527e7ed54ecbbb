"""Style levels as measured values: where to aim for a level, and which label a measurement honestly supports.

Both read the thresholds of the project's one measurer (:class:`clsp.style.measure.MeasureConfig`), so the level
aimed at when rendering or augmenting is the level the measurement names afterwards.

Values per attribute (what :class:`clsp.style.measure.WindowMeasure` holds): ``pitch`` in semitones re the
gender norm, ``pitch_range`` as the F0 10th-90th percentile span over the norm, ``speaking_rate`` in syllables
per second of speech, ``loudness`` in dBFS of the speech frames.

The labelling rule (:func:`honest_label`) reads the measurer's own decision (:meth:`MeasuredStyle.decide`, a
label with a confidence, or uncertain near a boundary; ``MeasureConfig.min_confidence`` and the ``*_scale`` keys
say how near):

- the measured level (decided, or the likelier one when uncertain) agrees with the intended one: kept;
- the measurement is uncertain and leans elsewhere: the label is dropped (None), as it cannot confirm either side;
- otherwise the confidently measured level replaces the intended one.
"""

from __future__ import annotations

import math
from clsp.style.labels import LEVELS
from clsp.style.measure import Decision, MeasureConfig

SCALED: tuple[str, ...] = ("pitch", "pitch_range", "speaking_rate", "loudness")
# How far past its threshold an outer level is aimed (the middle level is aimed at the middle of its band):
# additive for pitch (st) and loudness (dB), multiplicative for pitch range and rate.
OUTER_STEP: dict[str, float] = {"pitch": 2.5, "pitch_range": 1.35, "speaking_rate": 1.2, "loudness": 5.0}
_LOG = {"pitch_range", "speaking_rate"}  # attributes whose levels are ratios (compared in log space)


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


def honest_label(intended: str | None, decision: Decision) -> tuple[str | None, str]:
    """The label the measurement supports and the decision taken: ``kept`` (measured = intended), ``replaced``
    (confidently another level), ``filled`` (nothing intended, a confident measurement), ``dropped`` (uncertain,
    leaning elsewhere) or ``unmeasured`` (no value, e.g. pitch of a whisper)."""
    if decision.label is None and decision.lean is None:
        return None, "unmeasured"
    if (decision.label or decision.lean) == intended:
        return intended, "kept"
    if decision.label is None:
        return None, "dropped"
    return decision.label, "filled" if intended is None else "replaced"
