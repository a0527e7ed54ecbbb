"""Turning a :class:`StyleSummary` into captions in varied wording.

- global captions: one sentence (>= 32 characters), the clip's overall style;
- fine captions: several sentences (128-768 characters), time-aware: how the style starts, how it
  changes and how it ends, plus voice quality and tone.

The wording follows CLSP's caption rules: voice only, never the words spoken, never background or
recording quality, never a statement of absence (no negation words), no over-interpretation.
Randomness comes only from the ``rng`` argument, so captions are reproducible.
"""

from __future__ import annotations

import numpy as np

from clsp.style.labels import StyleSpan, StyleSummary

NOUNS = {
    "male": ["man", "male speaker", "male talker", "gentleman"],
    "female": ["woman", "female speaker", "female talker", "lady"],
    None: ["speaker", "person", "talker"],
}
PRONOUNS = {"male": ("he", "his"), "female": ("she", "her"), None: ("the speaker", "their")}
PITCH_ADJ = {  # before a noun: "a deep-voiced man"
    "low": ["low-pitched", "deep-voiced", "low-voiced"],
    "medium": ["medium-pitched", "mid-pitched", "moderately pitched"],
    "high": ["high-pitched", "high-voiced", "bright-voiced"],
}
PITCH_VOICE = {  # before "voice"/"register": "a deep voice"
    "low": ["low", "deep", "low, deep"],
    "medium": ["medium-pitched", "mid-range", "moderately pitched"],
    "high": ["high", "bright, high", "high-pitched"],
}
PITCH_STAYS = {"low": ["low", "deep"], "medium": ["moderate", "in the middle range"], "high": ["high", "raised"]}
PITCH_NP = {
    "low": ["a low pitch", "a deep, low pitch", "a lowered pitch"],
    "medium": ["a medium pitch", "a mid-range pitch", "a moderate pitch"],
    "high": ["a high pitch", "a raised, high pitch", "an elevated pitch"],
}
RATE_ADV = {
    "slow": ["slowly", "at a slow pace", "at an unhurried pace", "in a slow, deliberate way"],
    "normal": ["at a moderate pace", "at an even, natural pace", "at a normal speed"],
    "fast": ["quickly", "rapidly", "at a fast pace", "in a hurried way"],
}
RATE_ADJ = {"slow": ["slow", "unhurried", "measured"], "normal": ["moderately paced", "evenly paced"],
            "fast": ["fast", "rapid", "quick"]}
LOUD_ADV = {
    "soft": ["softly", "quietly", "at a low volume", "in a soft voice"],
    "normal": ["at a moderate volume", "at a comfortable loudness", "at a normal volume"],
    "loud": ["loudly", "at a high volume", "in a loud, projecting voice", "forcefully"],
}
LOUD_ADJ = {"soft": ["soft", "quiet", "hushed"], "normal": ["moderately loud", "normal-volume"],
            "loud": ["loud", "booming", "forceful"]}
RANGE_PHRASE = {
    "narrow": ["with a flat, monotone delivery", "with a flat intonation", "in a level, monotone way"],
    "normal": ["with a natural intonation", "with ordinary pitch movement", "with a typical melodic contour"],
    "wide": ["with a lively, expressive intonation", "with wide, animated pitch swings",
             "with a very melodic, expressive contour"],
}
CLEAR_PHRASE = ["with clear articulation", "with a clear delivery", "in a clear voice"]  # no measured range
QUALITY_PHRASE = {
    "modal": ["in a steady, full voice", "with a smooth, resonant voice", "with a firm, even voice"],
    "whisper": ["in a whisper", "in a breathy whisper", "in a hushed, airy whisper"],
    "creaky": ["with a creaky, gravelly voice", "with strong vocal fry", "in a rough, creaky voice"],
}
EMOTION_ADJ = {
    "neutral": ["neutral", "matter-of-fact", "even"],
    "happy": ["cheerful", "happy", "upbeat", "joyful"],
    "sad": ["sad", "melancholy", "downcast", "sorrowful"],
    "angry": ["angry", "irritated", "heated", "agitated"],
    "calm": ["calm", "relaxed", "soothing", "gentle"],
}
CHANGE_UP = {
    "pitch": ["the pitch rises", "the voice climbs higher", "the pitch goes up"],
    "speaking_rate": ["the pace speeds up", "the delivery quickens", "the tempo picks up"],
    "loudness": ["the voice grows louder", "the volume rises", "the delivery becomes louder"],
}
CHANGE_DOWN = {
    "pitch": ["the pitch drops", "the voice sinks lower", "the pitch falls"],
    "speaking_rate": ["the pace slows down", "the delivery becomes slower", "the tempo eases off"],
    "loudness": ["the voice becomes quieter", "the volume drops", "the delivery softens"],
}
_ORDER = {"low": 0, "slow": 0, "soft": 0, "narrow": 0, "medium": 1, "normal": 1, "high": 2, "fast": 2, "loud": 2,
          "wide": 2}
_OPENERS = ["At first", "In the opening part", "To begin with", "Early on"]
_LINKS = ["then", "after that", "next", "a moment later"]
_CLOSERS = ["Toward the end", "By the close", "In the final part", "Finally"]


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _cap(text: str) -> str:
    return text[0].upper() + text[1:] if text else text


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _span_clause(rng: np.random.Generator, span: StyleSpan, subject: str) -> str:
    """'he speaks slowly and quietly with a low pitch'"""
    parts = []
    if span.speaking_rate:
        parts.append(_pick(rng, RATE_ADV[span.speaking_rate]))
    if span.loudness:
        parts.append(_pick(rng, LOUD_ADV[span.loudness]))
    text = f"{subject} speaks " + " and ".join(parts) if parts else f"{subject} speaks"
    if span.pitch:
        text += f" with {_pick(rng, PITCH_NP[span.pitch])}"
    return text


def _changes(rng: np.random.Generator, before: StyleSpan, after: StyleSpan) -> list[str]:
    out = []
    for attr in ("speaking_rate", "pitch", "loudness"):
        a, b = getattr(before, attr), getattr(after, attr)
        if a and b and a != b:
            out.append(_pick(rng, CHANGE_UP[attr] if _ORDER[b] > _ORDER[a] else CHANGE_DOWN[attr]))
    return out


def describe_global(summary: StyleSummary, rng: np.random.Generator, template: int | None = None) -> str:
    """One-sentence overall description, e.g. 'A deep-voiced man speaks slowly and quietly in a calm tone.'"""
    noun = _pick(rng, NOUNS[summary.gender])
    first, last = summary.spans[0], summary.spans[-1]
    rate, loud, pitch = summary.label("speaking_rate"), summary.label("loudness"), summary.label("pitch")
    emotion = summary.label("emotion")
    quality = summary.voice_quality
    if len(summary.spans) > 1 and (rate == "varying" or loud == "varying" or pitch == "varying"):
        changes = _changes(rng, first, last) or ["the delivery shifts"]
        start = _span_clause(rng, first, "").replace(" speaks ", "", 1).strip() or "steadily"
        return _cap(f"{_article(noun)} {noun} starts out speaking {start}, and then " + " and ".join(changes) + ".")
    pitch_adj = _pick(rng, PITCH_ADJ[pitch]) if pitch else None
    pitch_voice = _pick(rng, PITCH_VOICE[pitch]) if pitch else None
    rate_adv = _pick(rng, RATE_ADV[rate]) if rate else None
    loud_adv = _pick(rng, LOUD_ADV[loud]) if loud else None
    emo = _pick(rng, EMOTION_ADJ[emotion]) if emotion else None
    qual = _pick(rng, QUALITY_PHRASE[quality]) if quality and quality != "modal" else None
    k = int(rng.integers(4)) if template is None else template % 4
    if k == 0:
        head = f"{_article(pitch_adj or noun)} {pitch_adj + ' ' if pitch_adj else ''}{noun} speaks"
        tail = " and ".join(x for x in (rate_adv, loud_adv) if x)
        text = f"{head} {tail}" if tail else head
        if qual:
            text += f" {qual}"
        if emo:
            text += f" in {_article(emo)} {emo} tone"
    elif k == 1:
        adjs = [x for x in (emo, _pick(rng, RATE_ADJ[rate]) if rate else None) if x]
        text = f"{', '.join(adjs) + ' ' if adjs else ''}speech from {_article(pitch_adj or noun)} "
        text += f"{pitch_adj + ' ' if pitch_adj else ''}{noun}"
        if loud_adv:
            text += f", delivered {loud_adv}"
        if qual:
            text += f" {qual}"
    elif k == 2:
        text = f"this is {_article(noun)} {noun}"
        if pitch_voice:
            text += f" with {_article(pitch_voice)} {pitch_voice} voice"
        text += " who talks " + (" and ".join(x for x in (rate_adv, loud_adv) if x) or "steadily")
        if qual:
            text += f" {qual}"
    else:
        text = f"{_article(noun)} {noun}"
        if emo:
            text += f" sounding {emo}"
        text += " talks " + (" and ".join(x for x in (loud_adv, rate_adv) if x) or "steadily")
        if pitch_voice:
            text += f" in {_article(pitch_voice)} {pitch_voice} register"
        if qual:
            text += f" {qual}"
    text = _cap(text.strip()) + "."
    if len(text) < 32:
        text = text[:-1] + f", {_pick(rng, RANGE_PHRASE.get(summary.label('pitch_range'), CLEAR_PHRASE))}."
    return text


def describe_fine(summary: StyleSummary, rng: np.random.Generator, with_times: bool | None = None) -> str:
    """A detailed, time-aware description of 128-768 characters."""
    subj, poss = PRONOUNS[summary.gender]
    noun = _pick(rng, NOUNS[summary.gender])
    if with_times is None:
        with_times = bool(rng.random() < 0.4)
    sentences = []
    quality = summary.voice_quality
    intro = f"{_article(noun)} {noun} speaks"
    if quality:
        intro += f" {_pick(rng, QUALITY_PHRASE[quality])}"
    rng_label = summary.label("pitch_range")
    if rng_label and rng_label != "varying":
        intro += f", {_pick(rng, RANGE_PHRASE[rng_label])}"
    sentences.append(_cap(intro) + ".")
    spans = summary.spans
    if len(spans) == 1 or all(_same_style(spans[0], s) for s in spans[1:]):
        sentences.append(_cap(_span_clause(rng, spans[0], subj)) + " from start to finish.")
        pitch = summary.label("pitch")
        if pitch and pitch != "varying":
            sentences.append(
                f"{_cap(poss)} pitch stays {_pick(rng, PITCH_STAYS[pitch])} throughout the clip."
            )
    else:
        for i, span in enumerate(spans):
            when = ""
            if with_times:
                when = f" (about {span.start:.1f} to {span.end:.1f} seconds)"
            if i == 0:
                sentences.append(f"{_pick(rng, _OPENERS)}{when}, " + _span_clause(rng, span, subj) + ".")
            else:
                changes = _changes(rng, spans[i - 1], span) or ["the delivery shifts slightly"]
                lead = _pick(rng, _CLOSERS) if i == len(spans) - 1 else _cap(_pick(rng, _LINKS))
                sentences.append(f"{lead}{when}, " + " and ".join(changes) + ", as " + _span_clause(rng, span, subj)
                                 + ".")
    emotion = summary.label("emotion")
    if emotion and emotion != "varying":
        adj1, adj2 = (EMOTION_ADJ[emotion][int(i)] for i in rng.permutation(len(EMOTION_ADJ[emotion]))[:2])
        sentences.append(f"The overall tone is {adj1}, and {subj} sounds {adj2} throughout.")
    text = " ".join(sentences)
    if len(text) < 128:
        rng_phrase = RANGE_PHRASE.get(rng_label, CLEAR_PHRASE)
        text += f" {_cap(poss)} delivery is consistent and easy to follow, {_pick(rng, rng_phrase)}."
    return text[:768]


def _same_style(a: StyleSpan, b: StyleSpan) -> bool:
    return all(getattr(a, k) == getattr(b, k) for k in ("pitch", "speaking_rate", "loudness"))


def write_captions(
    summary: StyleSummary, rng: np.random.Generator, n_global: int, n_fine: int, max_tries: int = 20
) -> tuple[list[str], list[str]]:
    """``n_global`` distinct global and ``n_fine`` distinct fine captions (fewer only if wording runs out)."""
    globals_: list[str] = []
    templates = rng.permutation(4)
    for i in range(n_global * max_tries):
        text = describe_global(summary, rng, template=int(templates[i % 4]))
        if text not in globals_:
            globals_.append(text)
        if len(globals_) == n_global:
            break
    fines: list[str] = []
    for _ in range(n_fine * max_tries):
        text = describe_fine(summary, rng)
        if text not in fines:
            fines.append(text)
        if len(fines) == n_fine:
            break
    return globals_, fines
