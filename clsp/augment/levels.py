"""Style levels as measured values: where to aim for a level, and which label a measurement honestly supports.

Both read the thresholds of the project's one measurer (:class:`clsp.style.measure.MeasureConfig`), so the level
aimed at when rendering or augmenting is the level the measurement names afterwards.

Pitch is aimed within :data:`GENDER_F0_BAND_HZ` as well (:func:`pitch_target`): the measurer's levels are
relative to the gender norm, but a level's target must stay a plausible F0 for the speaker's gender.

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
# Median F0 (Hz) a pitch target stays within, per gender. "Low" for a woman is aimed at 5.5 st under the female
# norm (143 Hz) and "high" for a man at 5.5 st over the male one (151 Hz); a rendering 1 st off would put the first
# at 135 Hz, in the male range, where the measurer decides "male" from F0 alone (under ~136 Hz; "female" over
# ~176 Hz). So a low-pitched woman is aimed at no less than 150 Hz (rendered ~142-158 Hz) and a high-pitched man at
# no more than 165 Hz (~156-175 Hz): both stay in the overlap band, where the measurer rightly says "uncertain",
# never in the other gender's own range. The outer ends keep men's low pitch over vocal-fry F0 (75 Hz; the
# measurer trusts F0 for gender from 70 Hz) and women's high pitch at 300 Hz.
GENDER_F0_BAND_HZ: dict[str, tuple[float, float]] = {"female": (150.0, 300.0), "male": (75.0, 165.0)}


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


def pitch_target(level: str, gender: str, offset_st: float, mcfg: MeasureConfig) -> float:
    """Where to aim a ``gender`` speaker's median F0 for pitch ``level``, in semitones re that gender's norm:
    :func:`level_target` moved by ``offset_st`` (a jitter), kept within :data:`GENDER_F0_BAND_HZ`."""
    norm = mcfg.female_f0_hz if gender == "female" else mcfg.male_f0_hz
    low, high = (12 * math.log2(hz / norm) for hz in GENDER_F0_BAND_HZ[gender])
    return float(min(max(level_target("pitch", level, mcfg) + offset_st, low), high))


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
