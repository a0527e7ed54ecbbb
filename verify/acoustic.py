"""The acoustic check: a caption's claims against what the audio measures, precision first.

``caption_claims(text)`` (see :mod:`verify.acoustic_claims`) reads the claims of any caption wording;
:func:`acoustic_check` sorts them against the measurement (:func:`clsp.style.measure.measure_style`) into

- ``reasons``: confident contradictions, one line each, e.g. ``"acoustic:pitch: says high, measured low
  (F0 112 Hz)"``; any reason rejects the caption;
- ``uncertain``: claims the audio cannot settle, noted and kept, e.g. ``"acoustic:uncertain:gender: F0 152 Hz
  between the male and female ranges"``.

A wrong rejection loses a user's data, so the check rejects only what the measurement contradicts with
confidence:

- a gender claim is contradicted only by a gender decided with at least ``reject_confidence``; an uncertain
  gender (F0 in the overlap band, a whisper, creaky voice) is noted, never rejected;
- a level claim is contradicted only when the measured value lies beyond the label boundary by a
  tolerance (``pitch_tolerance_st``, ``rate_tolerance`` / ``rate_tolerance_nuclei``, ``loudness_tolerance_db``):
  "high" is contradicted by a clearly medium-or-low pitch, not by one just under the high threshold;
- pitch is judged against the measured gender's norm when that gender is sure enough to reject a gender
  claim (``reject_confidence``); otherwise against the gender the caption states (it is not contradicted), or
  else against both norms: contradicted only when both readings contradict, and noted as uncertain when
  they disagree ("high for a man, low for a woman");
- a claim about part of the clip ("at first", "then", "toward the end", "about 2.4 to 4.0 seconds") is
  checked on every reasonable reading of that part (the matching measured span and the matching
  fraction of the speech) and is contradicted only when all of them contradict it;
- pitch claims are checked only on voiced (modal) speech, except that creaky voice (vocal fry, the lowest
  register) contradicts "high"; on a whisper they are noted as uncertain;
- a change ("the pitch rises") is contradicted when no before/after pair of stretches moves in the claimed
  direction by at least ``change_min_*``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from clsp.style.measure import MeasuredStyle, WindowMeasure, label_for
from verify.acoustic_claims import Claim, caption_claims

__all__ = ["AcousticCheckConfig", "AcousticVerdict", "Claim", "acoustic_check",
           "acoustic_reasons", "caption_claims", "check_claim"]

UNCERTAIN = "acoustic:uncertain:"


@dataclass
class AcousticCheckConfig:
    """Tolerances of the acoustic check (units in the names)."""

    reject_confidence: float = 0.8  # a gender claim is contradicted only by a decision this confident
    pitch_tolerance_st: float = 1.5
    rate_tolerance: float = 1.2  # ratio, rate counted from the transcript
    rate_tolerance_nuclei: float = 1.4  # ratio, rate counted from syllable nuclei (no transcript)
    loudness_tolerance_db: float = 2.0
    whisper_voiced_fraction: float = 0.4  # a whisper claim is contradicted by a voiced fraction above this
    edge_fraction: float = 0.35  # "at first" / "toward the end": this fraction of the speech
    change_min_pitch_st: float = 1.0
    change_min_rate_ratio: float = 1.08
    change_min_loudness_db: float = 1.0

    def validate(self) -> None:
        if not 0.5 < self.reject_confidence < 1:
            raise ValueError(f"key 'reject_confidence' must be in (0.5, 1), got {self.reject_confidence}")
        for name in ("pitch_tolerance_st", "loudness_tolerance_db", "change_min_pitch_st",
                     "change_min_loudness_db"):
            if getattr(self, name) < 0:
                raise ValueError(f"key '{name}' must be >= 0, got {getattr(self, name)}")
        for name in ("rate_tolerance", "rate_tolerance_nuclei", "change_min_rate_ratio"):
            if getattr(self, name) < 1:
                raise ValueError(f"key '{name}' must be >= 1 (a ratio), got {getattr(self, name)}")
        if not 0 < self.edge_fraction <= 1:
            raise ValueError(f"key 'edge_fraction' must be in (0, 1], got {self.edge_fraction}")


CODES = {"pitch": "pitch", "speaking_rate": "rate", "loudness": "loudness", "gender": "gender",
         "voice_quality": "whisper"}


@dataclass(frozen=True)
class AcousticVerdict:
    """The check of one caption: ``reasons`` (confident contradictions: reject) and ``uncertain`` (claims the
    audio cannot settle: keep, noting why), each a list of one-line ``acoustic:...`` strings."""

    reasons: tuple[str, ...] = ()
    uncertain: tuple[str, ...] = ()


def acoustic_check(text: str, measured: MeasuredStyle, config: AcousticCheckConfig | None = None) -> AcousticVerdict:
    """Every claim of ``text`` against ``measured`` (see the module docstring)."""
    cfg = config or AcousticCheckConfig()
    claims = caption_claims(text)
    said = next((c.value for c in claims if c.attribute == "gender"), None)
    reasons: list[str] = []
    notes: list[str] = []
    for claim in claims:
        found = check_claim(claim, measured, cfg, said)
        if found is not None:
            out = notes if found.startswith(UNCERTAIN) else reasons
            if found not in out:
                out.append(found)
    return AcousticVerdict(tuple(reasons), tuple(notes))


def acoustic_reasons(text: str, measured: MeasuredStyle, config: AcousticCheckConfig | None = None) -> list[str]:
    """One ``"acoustic:<code>: says X, measured Y (value)"`` line per confidently contradicted claim of ``text``."""
    return list(acoustic_check(text, measured, config).reasons)


def check_claim(claim: Claim, m: MeasuredStyle, cfg: AcousticCheckConfig, said_gender: str | None = None) -> str | None:
    """Why ``claim`` is contradicted by ``m`` (``acoustic:<code>: ...``), why it cannot be settled
    (``acoustic:uncertain:<code>: ...``), or None (consistent). ``said_gender``: the gender the caption states."""
    if claim.attribute == "gender":
        d = m.decisions["gender"]
        if d.label is None or (d.label != claim.value and d.confidence < cfg.reject_confidence):
            return f"{UNCERTAIN}gender: {d.reason}"
        if d.label != claim.value:
            return f"acoustic:gender: says {claim.value}, measured {d.label} ({d.reason})"
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
        return f"{UNCERTAIN}pitch: {m.voice_quality} voice, no reliable F0" if m.voice_quality == "whisper" else None
    if claim.kind == "change":
        return _check_change(claim, m, cfg)
    return _check_level(claim, m, cfg, said_gender)


Getter = Callable[[WindowMeasure], float | None]


def _readings(attribute: str, m: MeasuredStyle, said_gender: str | None,
              cfg: AcousticCheckConfig) -> list[tuple[str | None, Getter]]:
    """Ways to read ``attribute`` from a window, named by the gender norm they assume (pitch only): the
    measured gender's when it is sure enough to reject a gender claim, else the one the caption states, else
    both."""
    if attribute == "loudness":
        return [(None, lambda w: w.rms_dbfs)]
    if attribute == "speaking_rate":
        return [(None, lambda w: w.syllables_per_s)]
    d = m.decisions["gender"]
    decided = d.label if d.confidence >= cfg.reject_confidence else None
    genders = [decided] if decided else [said_gender] if said_gender else ["male", "female"]
    norm = {"male": m.config.male_f0_hz, "female": m.config.female_f0_hz}

    def under(g: str) -> Getter:
        shift = 12 * math.log2(norm[m.norm_gender] / norm[g])
        return lambda w: None if w.pitch_st is None else w.pitch_st + shift

    return [(g, under(g)) for g in genders]


def _contradicts(attribute: str, value: str, z: float, m: MeasuredStyle, cfg: AcousticCheckConfig) -> bool:
    c = m.config
    if attribute == "pitch":
        lo, hi, tol = c.pitch_low_st, c.pitch_high_st, cfg.pitch_tolerance_st
    elif attribute == "loudness":
        lo, hi, tol = c.loudness_soft_dbfs, c.loudness_loud_dbfs, cfg.loudness_tolerance_db
    else:
        ratio = cfg.rate_tolerance if m.rate_source == "transcript" else cfg.rate_tolerance_nuclei
        lo, hi, tol, z = math.log(c.rate_slow), math.log(c.rate_fast), math.log(ratio), math.log(z)
    rank = {"low": 0, "slow": 0, "soft": 0, "medium": 1, "normal": 1, "high": 2, "fast": 2, "loud": 2}[value]
    if rank == 2:
        return z < hi - tol
    return z > lo + tol if rank == 0 else (z < lo - tol or z > hi + tol)


def _describe(attribute: str, w: WindowMeasure, z: float, m: MeasuredStyle) -> str:
    if attribute == "pitch":
        return f"{label_for('pitch', z, m.config)} (F0 {w.f0_median_hz:.0f} Hz)"
    if attribute == "loudness":
        return f"{label_for('loudness', z, m.config)} ({z:.1f} dBFS)"
    return f"{label_for('speaking_rate', z, m.config)} ({z:.1f} syllables/s)"


def _where(claim: Claim) -> str:
    if claim.start is not None and claim.start >= 0:
        end = f"{claim.end:.1f}" if claim.end is not None else "end"
        return f" ({claim.start:.1f}-{end} s)"
    return "" if claim.scope == "clip" else f" ({claim.scope})"


def _check_level(claim: Claim, m: MeasuredStyle, cfg: AcousticCheckConfig, said_gender: str | None) -> str | None:
    """Consistent when some reading of some window agrees; rejected when every reading contradicts; uncertain
    when the pitch norms (the gender is uncertain) disagree, or nothing could be measured."""
    windows = _windows(m, claim, cfg)
    verdicts: list[tuple[str | None, bool, WindowMeasure, float]] = []  # (norm, consistent, first window, value)
    for gender, get in _readings(claim.attribute, m, said_gender, cfg):
        seen = [(w, z) for w in windows if (z := get(w)) is not None and not (claim.attribute == "speaking_rate"
                                                                             and z <= 0)]
        if seen:
            ok = any(not _contradicts(claim.attribute, claim.value, z, m, cfg) for _, z in seen)
            verdicts.append((gender, ok, *seen[0]))
    code = CODES[claim.attribute]
    if not verdicts:
        what = "too little voiced speech" if claim.attribute == "pitch" else "too little speech"
        return f"{UNCERTAIN}{code}: says {claim.value}{_where(claim)}; {what} to measure"
    if all(ok for _, ok, _, _ in verdicts):
        return None
    if not any(ok for _, ok, _, _ in verdicts):
        _, _, w, z = verdicts[0]
        return f"acoustic:{code}: says {claim.value}{_where(claim)}, measured {_describe(claim.attribute, w, z, m)}"
    _, _, w, _ = verdicts[0]
    readings = ", ".join(f"{label_for('pitch', z, m.config)} for a {'woman' if g == 'female' else 'man'}"
                         for g, _, _, z in verdicts)
    return f"{UNCERTAIN}pitch: says {claim.value}{_where(claim)}; F0 {w.f0_median_hz:.0f} Hz is {readings}"


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
