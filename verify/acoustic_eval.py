"""How well the acoustic captioner and the acoustic check agree with known style labels.

Used on the synthetic corpus (``clsp synth``), whose cuts carry the labels the audio was made with
(``custom``: gender, voice_quality, pitch/speaking_rate/loudness and ``style_segments`` with each
segment's times in seconds and labels):

- :func:`statement_agreement`: the claims of a caption (read with :func:`caption_claims`) against the
  labels of the stretch each claim is about;
- :func:`wrong_captions`: captions of the clip with one attribute deliberately wrong (gender swapped,
  pitch high<->low, rate fast<->slow, loudness loud<->soft), written by :mod:`clsp.style.describe`;
- :func:`rejected_for`: whether the acoustic check rejects a caption for that attribute.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from clsp.style.describe import describe_fine, describe_global
from clsp.style.labels import StyleSpan, StyleSummary
from verify.acoustic import CODES
from clsp.augment.config import AugmentConfig
from clsp.synth.corpus import SourceConfig, SynthConfig, synthesize_corpus
from verify.acoustic_claims import Claim, caption_claims

# 200 test clips on the 4 test voices (never used for calibration: seed 101, train voices); made in ~20 s.
# Our 24 formant-scaled espeak-ng speakers only, no augmentation (as before the multi-source corpus).
EVAL_CORPUS: dict[str, Any] = {"num_clips": 230, "seed": 5, "dev_fraction": 0.05, "test_fraction": 0.87,
                               "sources": {"espeak": SourceConfig(voices=["clsp_*"])}, "heldout_source": None,
                               "augment": AugmentConfig(fraction=0.0)}

SWAPS: dict[str, dict[str, str]] = {
    "gender": {"male": "female", "female": "male"},
    "pitch": {"high": "low", "low": "high"},
    "speaking_rate": {"fast": "slow", "slow": "fast"},
    "loudness": {"loud": "soft", "soft": "loud"},
}
_RANK = {"low": 0, "slow": 0, "soft": 0, "medium": 1, "normal": 1, "high": 2, "fast": 2, "loud": 2}


def make_eval_corpus(out: str | Path, workers: int = 2) -> Path:
    """Synthesise (or reuse) the evaluation corpus in ``out``; its test split has 200 clips."""
    synthesize_corpus(SynthConfig(**EVAL_CORPUS, workers=workers), out, progress=False)
    return Path(out)


def label_summary(custom: dict[str, Any]) -> StyleSummary:
    """The labelled :class:`StyleSummary` of a synthetic cut's ``custom`` fields."""
    spans = tuple(StyleSpan(**{k: v for k, v in s.items() if k in StyleSpan.__dataclass_fields__})
                  for s in custom["style_segments"])
    return StyleSummary(gender=custom.get("gender"), voice_quality=custom.get("voice_quality"), spans=spans)


def _segments_for(claim: Claim, spans: tuple[StyleSpan, ...]) -> list[int]:
    """Indices of the labelled segments a claim is about."""
    if claim.start is not None and claim.start >= 0:
        end = claim.end if claim.end is not None else spans[-1].end
        mid = (claim.start + end) / 2
        return [min(range(len(spans)), key=lambda i: 0 if spans[i].start <= mid <= spans[i].end
                    else min(abs(mid - spans[i].start), abs(mid - spans[i].end)))]
    if claim.scope == "start" or len(spans) == 1:
        return [0] if claim.scope != "end" else [len(spans) - 1]
    if claim.scope == "end":
        return [len(spans) - 1]
    if claim.scope in ("middle", "later"):
        return list(range(1, len(spans)))
    return [max(range(len(spans)), key=lambda i: spans[i].end - spans[i].start)]  # clip: the longest segment


def claim_agrees(claim: Claim, truth: StyleSummary) -> bool | None:
    """Whether ``claim`` matches the labels (None: the labels say nothing about it)."""
    if claim.attribute == "gender":
        return None if truth.gender is None else claim.value == truth.gender
    if claim.attribute == "voice_quality":
        return None if truth.voice_quality is None else claim.value == truth.voice_quality
    spans = truth.spans
    idx = _segments_for(claim, spans)
    if claim.kind == "level":
        values = {getattr(spans[i], claim.attribute) for i in idx} - {None}
        return None if not values else claim.value in values
    steps = []
    for i in (idx if claim.scope != "clip" else range(1, len(spans))):
        if i > 0:
            a, b = getattr(spans[i - 1], claim.attribute), getattr(spans[i], claim.attribute)
            if a is not None and b is not None and a != b:
                steps.append("up" if _RANK[b] > _RANK[a] else "down")
    return claim.value in steps if steps or len(spans) > 1 else False


def statement_agreement(text: str, truth: StyleSummary) -> Counter:
    """Counts ``"<attribute>"`` (agreeing) and ``"<attribute>/n"`` (checked) over the caption's claims;
    change claims count under ``"<attribute>_change"``."""
    counts: Counter = Counter()
    for claim in caption_claims(text):
        agrees = claim_agrees(claim, truth)
        if agrees is None:
            continue
        key = claim.attribute + ("_change" if claim.kind == "change" else "")
        counts[key + "/n"] += 1
        counts[key] += int(agrees)
    return counts


def swapped(truth: StyleSummary, attribute: str) -> StyleSummary | None:
    """``truth`` with ``attribute`` deliberately wrong, or None when the swap changes nothing."""
    table = SWAPS[attribute]
    if attribute == "gender":
        return replace(truth, gender=table[truth.gender]) if truth.gender in table else None
    spans = tuple(replace(s, **{attribute: table.get(getattr(s, attribute), getattr(s, attribute))})
                  for s in truth.spans)
    return replace(truth, spans=spans) if spans != truth.spans else None


def wrong_captions(truth: StyleSummary, seed: int) -> list[tuple[str, str]]:
    """(attribute, caption) pairs: a global and a fine caption per attribute that can be swapped, each kept
    only when it really states the swapped attribute wrongly (a claim of it disagrees with the labels)."""
    out = []
    for attribute in SWAPS:
        alt = swapped(truth, attribute)
        if alt is None:
            continue
        rng = np.random.default_rng(seed)
        for text in (describe_global(alt, rng), describe_fine(alt, rng)):
            if any(c.attribute == attribute and claim_agrees(c, truth) is False for c in caption_claims(text)):
                out.append((attribute, text))
    return out


def rejected_for(reasons: list[str], attribute: str) -> bool:
    """Whether some reason is about ``attribute`` (its level or its change)."""
    code = CODES[attribute]
    return any(r.startswith((f"acoustic:{code}:", f"acoustic:{code}_change:")) for r in reasons)


def summary_agreement(measured: StyleSummary, truth: StyleSummary) -> Counter:
    """Measured labels against the labelled segments, at each segment's midpoint, plus ``"gender"`` and
    ``"voice_quality"`` once per clip: ``"<attribute>/labelled"`` counts the labelled ones, ``"<attribute>/n"``
    those the measurement decided (an uncertain label is None) and ``"<attribute>"`` the decided ones that agree."""
    counts: Counter = Counter()

    def add(attr: str, got: str | None, true: str | None) -> None:
        if true is None:
            return
        counts[attr + "/labelled"] += 1
        if got is not None:
            counts[attr + "/n"] += 1
            counts[attr] += int(got == true)

    for attr in ("gender", "voice_quality"):
        add(attr, getattr(measured, attr), getattr(truth, attr))
    for seg in truth.spans:
        mid = (seg.start + seg.end) / 2
        span = min(measured.spans, key=lambda s: 0 if s.start <= mid <= s.end else min(abs(mid - s.start),
                                                                                      abs(mid - s.end)))
        for attr in ("pitch", "pitch_range", "speaking_rate", "loudness"):
            add(attr, getattr(span, attr), getattr(seg, attr))
    return counts


def coverage(counts: Counter) -> dict[str, float]:
    """``{"<attribute>": decided / labelled}`` from :func:`summary_agreement` counts."""
    return {k[: -len("/labelled")]: counts[k[: -len("/labelled")] + "/n"] / counts[k]
            for k in sorted(counts) if k.endswith("/labelled") and counts[k]}


def rates(counts: Counter) -> dict[str, float]:
    """``{"<attribute>": agreeing / checked}`` from counts with ``"<attribute>/n"`` totals."""
    return {k[:-2]: counts[k[:-2]] / counts[k] for k in sorted(counts) if k.endswith("/n") and counts[k]}
