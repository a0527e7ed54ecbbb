"""The acoustic check: a caption's claims against what the audio measures.

``caption_claims(text)`` (see :mod:`verify.acoustic_claims`) reads the claims of any caption wording;
``acoustic_reasons(text, measured)`` returns one line per claim that the measurement
(:func:`clsp.style.measure.measure_style`) contradicts, e.g.
``"acoustic:pitch: says high, measured low (F0 112 Hz)"``; an empty list means consistent.

The check gives the caption the benefit of the doubt, so that measurement noise does not reject good
captions:

- a level claim is contradicted only when the measured value lies beyond the label boundary by a
  tolerance (``pitch_tolerance_st``, ``rate_tolerance``, ``loudness_tolerance_db``): "high" is contradicted
  by a clearly medium-or-low pitch, not by one just under the high threshold;
- a claim about part of the clip ("at first", "then", "toward the end", "about 2.4 to 4.0 seconds") is
  checked on every reasonable reading of that part (the matching measured span and the matching
  fraction of the speech) and is contradicted only when all of them contradict it;
- pitch claims are checked only on voiced (modal) speech, except that creaky voice (vocal fry, the lowest
  register) contradicts "high"; when the speaker's gender is uncertain
  (``|gender_score| < gender_margin``) a pitch claim must be contradicted under both gender norms;
- a gender claim is contradicted only by a confident measured gender;
- a change ("the pitch rises") is contradicted when no before/after pair of stretches moves in the claimed
  direction by at least ``change_min_*``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from clsp.style.measure import MeasureConfig, MeasuredStyle, WindowMeasure, label_for
from verify.acoustic_claims import Claim, caption_claims

__all__ = ["AcousticCheckConfig", "AcousticConfig", "Claim", "acoustic_reasons", "caption_claims", "check_claim"]


@dataclass
class AcousticCheckConfig:
    """Tolerances of the acoustic check (units in the names)."""

    pitch_tolerance_st: float = 1.5
    rate_tolerance: float = 1.12  # ratio
    loudness_tolerance_db: float = 2.0
    gender_margin: float = 0.3  # |gender_score| needed to contradict a gender claim
    whisper_voiced_fraction: float = 0.3  # a whisper claim is contradicted by a voiced fraction above this
    edge_fraction: float = 0.35  # "at first" / "toward the end": this fraction of the speech
    change_min_pitch_st: float = 1.0
    change_min_rate_ratio: float = 1.08
    change_min_loudness_db: float = 1.0

    def validate(self) -> None:
        for name in ("pitch_tolerance_st", "loudness_tolerance_db", "gender_margin", "change_min_pitch_st",
                     "change_min_loudness_db"):
            if getattr(self, name) < 0:
                raise ValueError(f"key '{name}' must be >= 0, got {getattr(self, name)}")
        for name in ("rate_tolerance", "change_min_rate_ratio"):
            if getattr(self, name) < 1:
                raise ValueError(f"key '{name}' must be >= 1 (a ratio), got {getattr(self, name)}")
        if not 0 < self.edge_fraction <= 1:
            raise ValueError(f"key 'edge_fraction' must be in (0, 1], got {self.edge_fraction}")


@dataclass
class AcousticConfig:
    """``configs/acoustic.yaml``: the analysis thresholds and the check's tolerances."""

    measure: MeasureConfig = field(default_factory=MeasureConfig)
    check: AcousticCheckConfig = field(default_factory=AcousticCheckConfig)


CODES = {"pitch": "pitch", "speaking_rate": "rate", "loudness": "loudness", "gender": "gender",
         "voice_quality": "whisper"}


def acoustic_reasons(text: str, measured: MeasuredStyle, config: AcousticCheckConfig | None = None) -> list[str]:
    """One ``"acoustic:<code>: says X, measured Y (value)"`` line per contradicted claim of ``text``."""
    cfg = config or AcousticCheckConfig()
    reasons = []
    for claim in caption_claims(text):
        reason = check_claim(claim, measured, cfg)
        if reason and reason not in reasons:
            reasons.append(reason)
    return reasons


def check_claim(claim: Claim, m: MeasuredStyle, cfg: AcousticCheckConfig) -> str | None:
    """The reason ``claim`` is contradicted by ``m``, or None (consistent, or not checkable)."""
    if claim.attribute == "gender":
        if claim.value != m.gender and abs(m.gender_score) >= cfg.gender_margin:
            f3 = f"F3 peak {m.f3_hz:.0f} Hz" if m.f3_hz else f"F0 {m.f0_median_hz or 0:.0f} Hz"
            return f"acoustic:gender: says {claim.value}, measured {m.gender} ({f3})"
        return None
    if claim.attribute == "voice_quality":
        windows = _windows(m, claim, cfg)
        if claim.value == "whisper" and all(w.voiced_fraction > cfg.whisper_voiced_fraction for w in windows):
            return (f"acoustic:whisper: says whispered, measured voiced speech "
                    f"(voiced {100 * windows[0].voiced_fraction:.0f} % of the speech)")
        return None
    if claim.attribute == "pitch" and m.voice_quality != "modal":  # no reliable F0
        if m.voice_quality == "creaky" and claim.kind == "level" and claim.value == "high":
            return (f"acoustic:pitch: says high{_where(claim)}, measured low (creaky voice, the lowest register; "
                    f"voiced {100 * m.voiced_fraction:.0f} % of the speech)")
        return None
    if claim.kind == "change":
        return _check_change(claim, m, cfg)
    return _check_level(claim, m, cfg)


Getter = Callable[[WindowMeasure], float | None]


def _values(attribute: str, m: MeasuredStyle, cfg: AcousticCheckConfig) -> list[Getter]:
    """Ways to read ``attribute`` from a window (pitch: under each plausible gender norm)."""
    if attribute == "loudness":
        return [lambda w: w.rms_dbfs]
    if attribute == "speaking_rate":
        return [lambda w: w.syllables_per_s]
    getters: list[Getter] = [lambda w: w.pitch_st]
    if abs(m.gender_score) < cfg.gender_margin:
        c = m.config
        shift = 12 * math.log2(c.female_f0_hz / c.male_f0_hz) * (1 if m.gender == "male" else -1)
        getters.append(lambda w: None if w.pitch_st is None else w.pitch_st - shift)
    return getters


def _contradicts(attribute: str, value: str, z: float, m: MeasuredStyle, cfg: AcousticCheckConfig) -> bool:
    c = m.config
    if attribute == "pitch":
        lo, hi, tol = c.pitch_low_st, c.pitch_high_st, cfg.pitch_tolerance_st
    elif attribute == "loudness":
        lo, hi, tol = c.loudness_soft_dbfs, c.loudness_loud_dbfs, cfg.loudness_tolerance_db
    else:
        lo, hi, tol, z = math.log(c.rate_slow), math.log(c.rate_fast), math.log(cfg.rate_tolerance), math.log(z)
    rank = {"low": 0, "slow": 0, "soft": 0, "medium": 1, "normal": 1, "high": 2, "fast": 2, "loud": 2}[value]
    if rank == 2:
        return z < hi - tol
    return z > lo + tol if rank == 0 else (z < lo - tol or z > hi + tol)


def _describe(attribute: str, w: WindowMeasure, m: MeasuredStyle) -> str:
    if attribute == "pitch":
        return f"{m.level('pitch', w.pitch_st)} (F0 {w.f0_median_hz:.0f} Hz)"
    if attribute == "loudness":
        return f"{m.level('loudness', w.rms_dbfs)} ({w.rms_dbfs:.1f} dBFS)"
    rate = w.syllables_per_s or 0.0
    return f"{label_for('speaking_rate', rate, m.config)} ({rate:.1f} syllables/s)"


def _where(claim: Claim) -> str:
    if claim.start is not None and claim.start >= 0:
        end = f"{claim.end:.1f}" if claim.end is not None else "end"
        return f" ({claim.start:.1f}-{end} s)"
    return "" if claim.scope == "clip" else f" ({claim.scope})"


def _check_level(claim: Claim, m: MeasuredStyle, cfg: AcousticCheckConfig) -> str | None:
    checked: list[WindowMeasure] = []
    for get in _values(claim.attribute, m, cfg):
        for w in _windows(m, claim, cfg):
            z = get(w)
            if z is None or (claim.attribute == "speaking_rate" and z <= 0):
                continue
            checked.append(w)
            if not _contradicts(claim.attribute, claim.value, z, m, cfg):
                return None
    if not checked:
        return None
    return (f"acoustic:{CODES[claim.attribute]}: says {claim.value}{_where(claim)}, measured "
            f"{_describe(claim.attribute, checked[0], m)}")


def _check_change(claim: Claim, m: MeasuredStyle, cfg: AcousticCheckConfig) -> str | None:
    if claim.attribute == "pitch":
        get, least, unit = (lambda w: w.pitch_st), cfg.change_min_pitch_st, "st"
    elif claim.attribute == "loudness":
        get, least, unit = (lambda w: w.rms_dbfs), cfg.change_min_loudness_db, "dB"
    else:
        get, least, unit = ((lambda w: math.log(w.syllables_per_s) if w.syllables_per_s else None),
                            math.log(cfg.change_min_rate_ratio), "%")
    deltas = []
    for before, after in _pairs(m, claim, cfg):
        a, b = get(before), get(after)
        if a is not None and b is not None:
            deltas.append(b - a)
    if not deltas:
        return None
    sign = 1 if claim.value == "up" else -1
    best = max(sign * d for d in deltas)
    if best >= least:
        return None
    shown = max(deltas, key=lambda d: sign * d)
    amount = f"{100 * (math.exp(shown) - 1):+.0f} %" if unit == "%" else f"{shown:+.1f} {unit}"
    verb = {"up": "rising", "down": "falling"}[claim.value]
    return (f"acoustic:{CODES[claim.attribute]}_change: says {verb}{_where(claim)}, measured "
            f"{'no such change' if abs(shown) < least else 'the opposite'} ({amount})")


def _speech(m: MeasuredStyle) -> tuple[float, float]:
    return m.clip.start, max(m.clip.end, m.clip.start + 0.1)


def _explicit(m: MeasuredStyle, claim: Claim) -> tuple[float, float] | None:
    if claim.start is None and claim.end is None:
        return None
    s0, s1 = _speech(m)
    a = claim.start if claim.start is not None else s0
    b = claim.end if claim.end is not None else s1
    if a < 0:  # "the last X seconds"
        a, b = s1 + a, s1
    a, b = max(0.0, min(a, m.duration)), max(0.0, min(b, m.duration))
    if b - a < 0.4:
        mid = (a + b) / 2
        a, b = max(0.0, mid - 0.2), min(m.duration, mid + 0.2)
    return a, b


def _windows(m: MeasuredStyle, claim: Claim, cfg: AcousticCheckConfig) -> list[WindowMeasure]:
    """The stretches a claim may be about (see the module docstring)."""
    times = _explicit(m, claim)
    if times is not None:
        return [m.window(*times)]
    s0, s1 = _speech(m)
    length, edge = s1 - s0, cfg.edge_fraction * (s1 - s0)
    spans = list(m.spans) if len(m.spans) > 1 else []
    if claim.scope == "start":
        return [m.window(s0, s0 + edge)] + spans[:1]
    if claim.scope == "end":
        return [m.window(s1 - edge, s1)] + spans[-1:]
    if claim.scope == "middle":
        return [m.window(s0 + 0.3 * length, s0 + 0.7 * length)] + spans[1:]
    if claim.scope == "later":
        return [m.window(s0 + 0.3 * length, s1), m.window(s1 - edge, s1)] + spans[1:]
    return [m.clip] + [s for s in spans if s.speech_seconds >= m.clip.speech_seconds / 3]


def _pairs(m: MeasuredStyle, claim: Claim, cfg: AcousticCheckConfig) -> list[tuple[WindowMeasure, WindowMeasure]]:
    """(before, after) stretches between which a claimed change may happen."""
    times = _explicit(m, claim)
    s0, s1 = _speech(m)
    if times is not None and times[0] > s0 + 0.3:
        a, b = times
        return [(m.window(max(s0, a - 3.0), a), m.window(a, b))]
    edge = cfg.edge_fraction * (s1 - s0)
    pairs = [(m.window(s0, s0 + edge), m.window(s1 - edge, s1))]
    pairs += list(zip(m.spans, m.spans[1:]))
    return pairs
