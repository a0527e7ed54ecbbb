"""Caption perturbation for CLSP stage 3: a copy of a caption with one attribute flipped (a hard negative).

"A woman speaks quickly and softly." → "A woman speaks slowly and softly." (rate) or "A man speaks quickly and
softly." (gender). Each :class:`Perturber` is one attribute's table of whole-word (or whole-phrase) swaps;
:func:`perturb_caption` tries them in an order shuffled per caption and keeps the first that changes the text.

Rules (as the CLSP recipe's ``attribute_perturbation.py``, written here from its description):

- whole words and phrases only, matched case-insensitively, replaced in the case of the original
  ("Slowly" → "Quickly", "FAST" → "SLOW"); hyphenated words are single words ("fast-paced");
- text inside double quotes (``"..."`` or ``“...”``) is left alone;
- the longest phrase wins where phrases overlap, and a phrase of another attribute is left alone as a
  whole ("at a high volume" is a loudness phrase: the pitch perturber does not turn it into "low volume");
- every match of the chosen attribute is flipped in one pass ("starts slowly, then speeds up" →
  "starts quickly, then slows down": a consistent caption of another clip); a word with several
  partners ("slow" → fast / quick / rapid) takes one of them, drawn from the ``rng``;
- the perturbers read the text only, never the clip's labels (annotated corpora may have no labels): the
  recipe's fallback — a gender swap when no other attribute word is found — is the gender perturber,
  which is always among those tried; a caption with no swappable word gives ``None`` (the trainer counts
  and skips such clips).

Vocabulary: gender, speaking rate and pitch (the recipe's pairs plus ours), loudness, pitch range, voice
quality and emotion (every attribute word :mod:`clsp.style.describe` writes), and the recipe's accent groups,
intrinsic tags (husky ↔ crisp, ...) and situational tags (happy ↔ sad, ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np


def _table(pairs: Iterable[tuple[str, str]], one_way: dict[str, tuple[str, ...]] | None = None
           ) -> dict[str, tuple[str, ...]]:
    """Both directions of every pair (a word may collect several partners), plus one-way entries."""
    out: dict[str, list[str]] = {}
    for a, b in pairs:
        for src, dst in ((a, b), (b, a)):
            partners = out.setdefault(src.lower(), [])
            if dst.lower() not in partners:
                partners.append(dst.lower())
    for src, dsts in (one_way or {}).items():
        out.setdefault(src.lower(), []).extend(d.lower() for d in dsts)
    return {k: tuple(v) for k, v in out.items()}


@dataclass(frozen=True)
class Perturber:
    """One attribute: ``swaps`` maps a lower-case word or phrase to its possible replacements."""

    name: str
    swaps: dict[str, tuple[str, ...]]
    # accents: replacement drawn from groups (see ACCENT_GROUPS) instead of from ``swaps``
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def replacement(self, word: str, rng: np.random.Generator) -> str:
        if self.groups:
            return _other_accent(word, self.groups, rng)
        options = self.swaps[word]
        return options[int(rng.integers(len(options)))]


GENDER = Perturber("gender", _table(
    [("female", "male"), ("woman", "man"), ("women", "men"), ("girl", "boy"), ("girls", "boys"),
     ("feminine", "masculine"), ("she", "he"), ("her", "his"), ("herself", "himself"), ("lady", "gentleman"),
     ("ladies", "gentlemen")],
    one_way={"him": ("her",), "hers": ("his",)}))

SPEAKING_RATE = Perturber("speaking_rate", _table(
    [("fast", "slow"), ("quick", "slow"), ("rapid", "slow"), ("fast-paced", "slow-paced"), ("quickly", "slowly"),
     ("rapidly", "slowly"), ("hurried", "unhurried"), ("rushed", "deliberate"), ("faster", "slower"),
     ("quicker", "slower"), ("quickens", "slows"), ("speeds up", "slows down"), ("speed up", "slow down"),
     ("speeding up", "slowing down"), ("picks up", "eases off"), ("brisk", "leisurely"), ("hasty", "sluggish")],
    one_way={"measured": ("fast", "rapid"),
             "moderate pace": ("fast pace", "slow pace"), "natural pace": ("hurried pace", "sluggish pace"),
             "normal speed": ("fast speed", "slow speed"), "moderately paced": ("fast-paced", "slow-paced"),
             "evenly paced": ("rapidly paced", "slowly paced"), "normal pace": ("fast pace", "slow pace")}))

PITCH = Perturber("pitch", _table(
    [("high-pitched", "low-pitched"), ("higher", "lower"), ("high", "low"), ("raising", "lowering"),
     ("rises", "falls"), ("rising", "falling"), ("raised", "lowered"), ("upward", "downward"),
     ("high-voiced", "low-voiced"), ("bright-voiced", "deep-voiced"), ("elevated", "lowered"),
     ("climbs", "sinks"), ("goes up", "goes down"), ("rises", "drops")],
    one_way={"deep": ("high", "bright"), "stays moderate": ("stays high", "stays low"),
             "middle range": ("high range", "low range"),
             "medium-pitched": ("high-pitched", "low-pitched"), "mid-pitched": ("high-pitched", "low-pitched"),
             "moderately pitched": ("high-pitched", "low-pitched"), "medium pitch": ("high pitch", "low pitch"),
             "mid-range pitch": ("high pitch", "low pitch"), "moderate pitch": ("high pitch", "low pitch"),
             "mid-range": ("high", "low")}))

LOUDNESS = Perturber("loudness", _table(
    [("loud", "soft"), ("loud", "quiet"), ("loudly", "softly"), ("loudly", "quietly"), ("louder", "quieter"),
     ("louder", "softer"), ("high volume", "low volume"), ("booming", "hushed"), ("forceful", "gentle"),
     ("forcefully", "gently"), ("volume rises", "volume drops"), ("grows louder", "softens"),
     ("projecting", "subdued"), ("shouting", "murmuring")],
    one_way={"moderate volume": ("high volume", "low volume"), "normal volume": ("high volume", "low volume"),
             "comfortable loudness": ("booming loudness", "hushed loudness"),
             "moderately loud": ("very loud", "very quiet"), "normal-volume": ("loud", "quiet")}))

PITCH_RANGE = Perturber("pitch_range", _table(
    [("monotone", "expressive"), ("monotone", "animated"), ("flat", "lively"), ("flat", "melodic"),
     ("narrow", "wide"), ("monotonous", "melodic"), ("flat intonation", "lively intonation"),
     ("singsong", "monotone")],
    one_way={"natural intonation": ("flat intonation", "lively intonation"),
             "ordinary pitch movement": ("wide pitch movement", "little pitch movement"),
             "typical melodic contour": ("flat contour", "very melodic contour")}))

VOICE_QUALITY = Perturber("voice_quality", _table(
    [("whisper", "clear voice"), ("whispered", "fully voiced"), ("whispering", "speaking aloud"),
     ("breathy", "resonant"), ("airy", "full"), ("creaky", "smooth"), ("gravelly", "smooth"),
     ("vocal fry", "clear tone"), ("rough", "smooth")]))

EMOTION = Perturber("emotion", _table(
    # ours (clsp.style.describe) ...
    [("happy", "sad"), ("cheerful", "sad"), ("cheerful", "gloomy"), ("upbeat", "downcast"),
     ("joyful", "sorrowful"), ("melancholy", "cheerful"), ("angry", "calm"), ("irritated", "relaxed"),
     ("heated", "calm"), ("agitated", "calm"), ("soothing", "harsh"), ("relaxed", "tense"),
     ("matter-of-fact", "dramatic"), ("neutral", "emotional"),
     # ... and the recipe's situational tags
     ("happy", "saddened"), ("happiness", "sadness"), ("happiness", "pain"), ("happiness", "anger"),
     ("happy", "pained"), ("happy", "angry"), ("enthusiastic", "bored"), ("enthusiasm", "boredom"),
     ("laughing", "saddened"), ("laughter", "sadness"), ("guilt", "happiness"), ("guilty", "happy"),
     ("anger", "calmness"), ("scared", "calm"), ("fear", "calmness"), ("anxious", "calm"),
     ("anxiety", "calmness"), ("animated", "passive"), ("animated", "sleepy"), ("loud", "whispered"),
     ("confused", "calm"), ("confusion", "calmness"), ("admiring", "disgusted"), ("admiration", "disgust"),
     ("desirous", "disgusted"), ("desire", "disgust"), ("awed", "bored"), ("awe", "boredom"),
     ("sympathetic", "sarcastic"), ("sympathy", "sarcasm"), ("admiring", "sarcastic"),
     ("admiration", "sarcasm"), ("enunciated", "slurred"), ("enunciation", "slurring"),
     ("singsongly", "monotonously")]))

INTRINSIC = Perturber("intrinsic", _table(  # the recipe's intrinsic tags
    [("raspy", "smooth"), ("raspiness", "smoothness"), ("raspily", "smoothly"), ("raspy", "silky"),
     ("raspiness", "silkiness"), ("raspily", "silkily"), ("guttural", "silky"), ("gutturally", "silkily"),
     ("vocal-fry", "smoothness"), ("slurred", "crisp"), ("slurring", "crispness"), ("slurringly", "crisply"),
     ("husky", "crisp"), ("huskiness", "crispness"), ("huskily", "crisply"), ("nasal", "deep"),
     ("nasality", "depth"), ("nasally", "deeply"), ("staccato", "flowing"), ("punctuated", "flowing"),
     ("punctuation", "flow"), ("stammering", "flowing"), ("stammer", "flow"), ("stammeringly", "flowingly"),
     ("hesitant", "flowing"), ("hesitance", "flow"), ("hesitantly", "flowingly"), ("lisp", "crispness"),
     ("lisping", "crisp"), ("lispingly", "crisply"), ("shrill", "deep"), ("shrillness", "depth"),
     ("shrilly", "deeply"), ("pitchy", "monotone"), ("pitchiness", "monotony"), ("pitchily", "monotonously"),
     ("booming", "hushed"), ("boom", "hush"), ("booming", "soft"), ("boom", "softness"), ("upbeat", "monotonous"),
     ("upbeat", "monotone"), ("authoritative", "hesitant"), ("authority", "hesitance"),
     ("authoritatively", "hesitantly"), ("inviting", "authoritative"), ("invitation", "authority"),
     ("invitingly", "authoritatively")]))

# The recipe's accent groups: a negative accent is another member of the same group 20 % of the time,
# else a member of another group.
ACCENT_GROUPS: dict[str, tuple[str, ...]] = {
    "english_native": ("american", "british", "australian", "canadian", "new zealand", "irish", "scottish", "welsh",
                       "southern american", "brooklyn/new york", "northern irish", "british-american", "english"),
    "english_l2_distinct": ("indian", "nigerian", "jamaican", "filipino", "british-guyanese", "colombian-american"),
    "romance_latin": ("spanish", "mexican", "colombian", "argentine", "chilean", "paraguayan", "portuguese",
                      "brazilian", "italian", "french", "romanian", "dominican"),
    "germanic_slavic": ("german", "dutch", "swedish", "norwegian", "swiss", "belgian", "russian", "ukrainian",
                        "polish", "czech", "croatian", "serbian", "slovenian", "hungarian", "finnish"),
    "asian_tonal": ("mandarin", "cantonese", "chinese", "japanese"),
    "middle_eastern_other": ("turkish", "dari", "jordanian"),
}
SAME_GROUP_PROBABILITY = 0.2
ACCENT = Perturber("accent", {a: () for members in ACCENT_GROUPS.values() for a in members}, groups=ACCENT_GROUPS)

PERTURBERS: tuple[Perturber, ...] = (GENDER, SPEAKING_RATE, PITCH, LOUDNESS, PITCH_RANGE, VOICE_QUALITY, EMOTION,
                                     INTRINSIC, ACCENT)


def _other_accent(accent: str, groups: dict[str, tuple[str, ...]], rng: np.random.Generator) -> str:
    own = next(g for g, members in groups.items() if accent in members)
    mates = [a for a in groups[own] if a != accent]
    if mates and rng.random() < SAME_GROUP_PROBABILITY:
        return mates[int(rng.integers(len(mates)))]
    others = [g for g in groups if g != own]
    members = groups[others[int(rng.integers(len(others)))]]
    return members[int(rng.integers(len(members)))]


def _phrase_pattern(phrase: str) -> str:
    return r"\s+".join(re.escape(w) for w in phrase.split())


def _token_regex(perturbers: Sequence[Perturber]) -> re.Pattern:
    """Quoted text (group 1) or any perturber's phrase (group 3, longest first, as whole words) with the
    article before it (group 2: "a "/"an ", made to agree with a replacement)."""
    phrases = sorted({p for pert in perturbers for p in pert.swaps}, key=lambda p: (-len(p), p))
    words = "|".join(_phrase_pattern(p) for p in phrases)
    return re.compile(r'("[^"]*"|“[^”]*”)|(?<![\w-])((?:an?)\s+)?(' + words + r")(?![\w-])", re.IGNORECASE)


_TOKENS = _token_regex(PERTURBERS)


def match_case(original: str, replacement: str) -> str:
    """``replacement`` in the case of ``original``: UPPER, Capitalised or lower."""
    if len(original) > 1 and original.isupper():
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def apply_perturber(text: str, perturber: Perturber, rng: np.random.Generator,
                    tokens: re.Pattern = _TOKENS) -> str:
    """``text`` with every phrase of ``perturber`` swapped (outside quotes); unchanged when it has none."""
    chosen: dict[str, str] = {}  # one partner per distinct word, so repeats stay consistent

    def swap(m: re.Match) -> str:
        article, word = m.group(2) or "", m.group(3)
        if word is None:  # quoted text
            return m.group(0)
        key = " ".join(word.lower().split())
        if key not in perturber.swaps:  # another attribute's phrase: left whole
            return m.group(0)
        if key not in chosen:
            chosen[key] = perturber.replacement(key, rng)
        new = match_case(word, chosen[key])
        if article:  # "a lowered pitch" -> "an elevated pitch"
            article = match_case(article.strip(), "an" if new[:1].lower() in "aeiou" else "a") + article[-1]
        return article + new

    return tokens.sub(swap, text)


@dataclass(frozen=True)
class Perturbation:
    text: str
    attribute: str  # the perturber's name


def perturb_caption(text: str, rng: np.random.Generator,
                    perturbers: Sequence[Perturber] = PERTURBERS) -> Perturbation | None:
    """``text`` with one attribute flipped: perturbers in an order drawn from ``rng``, the first that changes
    the text wins, then a gender swap; ``None`` when no word of any perturber is found (outside quotes)."""
    tokens = _TOKENS if perturbers is PERTURBERS else _token_regex(perturbers)
    for i in rng.permutation(len(perturbers)):
        out = apply_perturber(text, perturbers[int(i)], rng, tokens)
        if out != text:
            return Perturbation(out, perturbers[int(i)].name)
    out = apply_perturber(text, GENDER, rng, _TOKENS)
    return Perturbation(out, GENDER.name) if out != text else None
