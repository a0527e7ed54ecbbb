"""Reading checkable claims out of a style caption, whatever its wording.

A :class:`Claim` is one statement about the voice that the audio can confirm or contradict:

- levels: ``pitch`` low/medium/high, ``speaking_rate`` slow/normal/fast, ``loudness`` soft/normal/loud;
- ``gender`` male/female ("a deep male voice", "her pitch climbs": pronouns count);
- ``voice_quality`` whisper ("whispers", "in a hushed whisper");
- changes: ``kind="change"`` with value ``up``/``down`` ("the pitch rises", "speeds up", "grows quieter").

Each claim carries the stretch it is about: ``scope`` ``clip`` / ``start`` / ``middle`` / ``end`` / ``later``
(from "at first", "then", "toward the end", "starts out ..., and then ...") and, when the caption gives
times ("about 0.2 to 2.1 seconds", "after 3 s", "in the first 2 seconds"), ``start``/``end`` in seconds.

Change phrases are read first and removed, so "the pitch rises" is a change claim, never a "high pitch"
claim, and "the delivery softens" is a loudness change, not "soft". Attributes a caption does not mention
yield no claim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Claim:
    attribute: str  # gender | pitch | speaking_rate | loudness | voice_quality
    value: str  # level (e.g. "high"), "male"/"female", "whisper", or "up"/"down" for a change
    kind: str = "level"  # level | change
    scope: str = "clip"  # clip | start | middle | end | later
    start: float | None = None  # seconds, when the caption gives times
    end: float | None = None
    text: str = ""  # the words the claim was read from


def _rx(*parts: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE)


def _any(*words: str) -> str:
    """A pattern matching any of ``words`` as whole words."""
    return r"\b(?:" + "|".join(words) + r")\b"


_W = r"(?:[\w'-]+\s+)"  # one filler word
_BECOME = (r"(?:becomes?|becoming|gets?|getting|grows?|growing|turns?|turning|is|goes|going)\s+"
           r"(?:much\s+|a\s+bit\s+|slightly\s+|even\s+|noticeably\s+)?")
_PITCH_SUBJ = r"\b(?:pitch|voice|intonation|f0|melody|tone)\s+" + _W + "{0,2}?"
_LOUD_SUBJ = r"\b(?:volume|loudness|intensity|level)\s+" + _W + "{0,2}?"
_RATE_SUBJ = r"\b(?:pace|tempo|speed|rate|delivery|speech|talking)\s+" + _W + "{0,2}?"
_WHOSE = r"\s+(?:his|her|their|the)\s+"

CHANGES: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("loudness", "up", _rx(
        rf"\b{_BECOME}louder\b",
        _LOUD_SUBJ + _any("rises", "increases", "goes up", "swells", "grows", "climbs", "builds", "picks up"),
        rf"\braises?{_WHOSE}voice\b", r"\bcrescendo\w*\b", r"\blouder\b")),
    ("loudness", "down", _rx(
        rf"\b{_BECOME}(?:quieter|softer)\b",
        _LOUD_SUBJ + _any("drops", "falls", "decreases", "goes down", "fades", "dips", "sinks", "lowers", "eases"),
        _any("softens", "softening", r"quiets(?:\s+down)?", r"fades(?:\s+out)?", "trails off", "quieter", "softer"),
        rf"\blowers?{_WHOSE}voice\b")),
    ("speaking_rate", "up", _rx(
        _any(r"speeds?\s+up", r"sped\s+up", r"speeding\s+up", r"quicken\w*", r"accelerat\w+", "faster", "quicker"),
        _RATE_SUBJ + _any("increases", "rises", "goes up", "picks up"),
        r"\bpicks?\s+up\s+(?:the\s+)?(?:pace|speed|tempo)\b",
        rf"\b{_BECOME}(?:faster|quicker|more rapid|more hurried)\b")),
    ("speaking_rate", "down", _rx(
        _any("slows", r"slows?\s+down", "slowing", "slowed", r"decelerat\w+", r"eases?\s+off", "slower"),
        _RATE_SUBJ + _any("drops", "decreases", "falls", "relaxes"),
        rf"\b{_BECOME}(?:slower|more measured|unhurried)\b")),
    ("pitch", "up", _rx(
        _PITCH_SUBJ + _any("rises", "rise", "rising", "climbs", "climbing", "goes up", "increases", "lifts", "jumps",
                           "ascends", "moves up", "creeps up") + r"(?:\s+higher)?",
        r"\brising\s+(?:pitch|intonation|voice)\b", r"\brise\s+in\s+pitch\b", rf"\bpitch\s+{_BECOME}higher\b",
        rf"\braises?{_WHOSE}pitch\b", _any(r"climbs\s+higher", r"goes\s+higher"))),
    ("pitch", "down", _rx(
        _PITCH_SUBJ + _any("drops", "drop", "dropping", "falls", "falling", "sinks", "sinking", "lowers", "decreases",
                           "goes down", "dips", "descends", "moves down") + r"(?:\s+lower)?",
        r"\bfalling\s+(?:pitch|intonation)\b", r"\bdrop\s+in\s+pitch\b", rf"\bpitch\s+{_BECOME}lower\b",
        rf"\blowers?{_WHOSE}pitch\b", r"\bsinks\s+lower\b")),
)

_HIGH = r"(?:high|raised|elevated|lofty|shrill|squeaky|piping)"
_LOW = r"(?:low|lowered|deep|bass|husky)"
_MID = r"(?:medium|mid|middle|moderate|moderately|average|mid-range|midrange)"
_PITCH_NOUN = r"(?:[- ]pitched|[- ]voiced|\s+pitch|\s+register|\s+tone)"
_ADJS = r"(?:,?\s*(?:and\s+)?[\w-]+){0,2}?"  # "raised, high pitch", "deep and low pitch"
_STAYS = r"\bpitch\s+(?:is|stays|remains|sits|holds)\s+(?:\w+\s+)?"

LEVELS: tuple[tuple[str, str, re.Pattern[str]], ...] = (  # in this order; each match is removed before the next
    ("loudness", "normal", _rx(
        _any(r"moderately\s+loud", "normal[- ]volume", "medium[- ]loud"),
        _any("moderate", "normal", "comfortable", "average", "medium", "conversational", "natural", "even")
        + rf"{_ADJS}\s+(?:volume|loudness)\b")),
    ("voice_quality", "whisper", _rx(r"\b(?:hushed|airy|breathy|soft)?,?\s*(?:\w+\s+)?whisper\w*\b",
                                     r"\bsotto voce\b")),
    ("pitch", "medium", _rx(
        rf"\b{_MID}{_PITCH_NOUN}\b", rf"\b{_MID}(?:[- ]range)?\s+(?:pitch|register|voice)\b",
        _STAYS + r"(?:moderate|medium|average|in the middle(?: range)?|mid-range)\b")),
    ("pitch", "high", _rx(
        rf"\b{_HIGH}{_ADJS}{_PITCH_NOUN}\b", rf"\b(?:high|high-pitched){_ADJS}\s+voice\b", r"\bbright[- ]voiced\b",
        rf"{_STAYS}{_HIGH}\b", _any("falsetto", "soprano"))),
    ("pitch", "low", _rx(
        rf"\b{_LOW}{_ADJS}{_PITCH_NOUN}\b", rf"(?<!in a )\blow{_ADJS}\s+voice\b", rf"\bdeep{_ADJS}\s+voice\b",
        rf"{_STAYS}{_LOW}\b", _any("baritone", "bass"))),
    ("speaking_rate", "normal", _rx(
        _any("moderately[- ]paced", "evenly[- ]paced"),
        _any("moderate", "normal", "average", "natural", "even", "steady", "typical", "regular", "medium",
             "conversational") + rf"{_ADJS}\s+(?:pace|speed|rate|tempo)\b")),
    ("speaking_rate", "fast", _rx(_any("quickly", "rapidly", "fast", "quick", "rapid", r"hurried(?:ly)?", "rushed",
                                       r"brisk(?:ly)?", r"swift(?:ly)?", "speedy", r"hast(?:y|ily)", "racing",
                                       "in a hurry"))),
    ("speaking_rate", "slow", _rx(_any("slowly", "slow", "unhurried", "leisurely", "measured", r"deliberate(?:ly)?",
                                       "drawn[- ]out", r"drawl\w*", r"sluggish(?:ly)?", r"languid(?:ly)?",
                                       "plodding"))),
    ("loudness", "loud", _rx(_any("loudly", "loud", "booming", r"forceful(?:ly)?", "projecting", r"powerful(?:ly)?",
                                  "thunderous", r"shout\w*", r"yell\w*", r"bellow\w*", "high volume",
                                  "raised voice"))),
    ("loudness", "soft", _rx(_any("softly", "soft", r"quiet(?:ly)?", "hushed", r"murmur\w*", r"mumbl\w*",
                                  r"faint(?:ly)?", "subdued", "soft-spoken", "low volume", "barely audible",
                                  "in a low voice"))),
)
GENDER = (("male", _rx(_any("man", "men", "male", "gentleman", "gentlemen", "guy", "boy", "he", "him", "his", "himself",
                            "masculine", "father", "husband"))),
          ("female", _rx(_any("woman", "women", "female", "lady", "ladies", "girl", "she", "her", "hers", "herself",
                              "feminine", "mother", "wife"))))

_WHOLE = _rx(_any("throughout", "from start to finish", "the whole", "the entire", "all along", "from beginning to end",
                  "overall"))
SCOPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("start", _rx(_any("at first", r"at the (?:start|beginning|outset|opening)", r"in the (?:opening|first|early)",
                       "to begin with", "early on", "initially", "in the beginning", "starts?", "started", "starting",
                       "begins?", "began", "opens"))),
    ("end", _rx(_any(r"towards?\s+the\s+end", r"by the (?:close|end|finish)", r"in the (?:final|last|closing)",
                     "finally", "at the end", "ends", "ending", "finishes", "eventually", "in the end"))),
    ("middle", _rx(_any("then", "after that", "next", "a moment later", "later", "midway", "in the middle", "halfway",
                        "afterwards?", "subsequently"))),
)
_CLAUSE_SPLIT = re.compile(r",?\s*\b(?:and then|but then|before|after which|until|and later|then)\b", re.IGNORECASE)
_NUM = r"(\d+(?:\.\d+)?)"
_SEC = r"(?:\s*(?:s|sec|secs|seconds?)\b)"
_ABOUT = r"(?:about\s+|around\s+|roughly\s+)?"
TIMES: tuple[tuple[str, re.Pattern[str]], ...] = (  # "the last X seconds" is (-X, None): resolved by the checker
    ("range", re.compile(rf"{_NUM}{_SEC}?\s*(?:to|-|–|and|until|through)\s*{_NUM}{_SEC}", re.IGNORECASE)),
    ("first", re.compile(rf"\bfirst\s+{_ABOUT}{_NUM}{_SEC}", re.IGNORECASE)),
    ("last", re.compile(rf"\b(?:last|final)\s+{_ABOUT}{_NUM}{_SEC}", re.IGNORECASE)),
    ("after", re.compile(rf"\b(?:after|from|past|beyond)\s+{_ABOUT}{_NUM}{_SEC}", re.IGNORECASE)),
    ("before", re.compile(rf"\b(?:before|until|up to|by)\s+{_ABOUT}{_NUM}{_SEC}", re.IGNORECASE)),
)


def _times(text: str) -> tuple[float | None, float | None]:
    for name, rx in TIMES:
        m = rx.search(text)
        if not m:
            continue
        a = float(m.group(1))
        if name == "range":
            return a, float(m.group(2))
        return {"first": (0.0, a), "last": (-a, None), "after": (a, None), "before": (0.0, a)}[name]
    return None, None


def _scope(text: str, default: str) -> str:
    if _WHOLE.search(text):
        return "clip"
    hits = [(m.start(), name) for name, rx in SCOPES for m in [rx.search(text)] if m]
    return min(hits)[1] if hits else default


def _clauses(sentence: str) -> list[tuple[str, str]]:
    """(clause, scope) pairs: "starts out slowly, and then speeds up" -> start, later."""
    base = _scope(sentence, "clip")
    cuts = [m for m in _CLAUSE_SPLIT.finditer(sentence) if m.start() > 0]
    if not cuts:
        return [(sentence, base)]
    pieces, prev = [], 0
    for m in cuts:
        pieces.append(sentence[prev:m.start()])
        prev = m.start()
    pieces.append(sentence[prev:])
    out = [(pieces[0], "start" if base in ("clip", "middle") else base)]
    for piece in pieces[1:]:
        out.append((piece, _scope(_CLAUSE_SPLIT.sub(" ", piece, count=1), "later" if base != "end" else "end")))
    return out


def caption_claims(text: str) -> list[Claim]:
    """Every checkable claim in ``text`` (any wording), in reading order."""
    claims: list[Claim] = []
    seen: set[tuple] = set()

    def add(claim: Claim) -> None:
        key = (claim.attribute, claim.value, claim.kind, claim.scope, claim.start, claim.end)
        if key not in seen:
            seen.add(key)
            claims.append(claim)

    genders = {g for g, rx in GENDER if rx.search(text)}
    if len(genders) == 1:  # a caption naming both is about more than one person: no gender claim
        g = genders.pop()
        m = dict(GENDER)[g].search(text)
        claims.append(Claim("gender", g, text=m.group(0) if m else g))
    for sentence in re.split(r"(?<=[.!?;])\s+", text.strip()):
        t0, t1 = _times(sentence)
        for clause, scope in _clauses(sentence):
            c0, c1 = _times(clause)
            start, end = (c0, c1) if c0 is not None else (t0, t1)
            rest = clause
            for attribute, value, rx in CHANGES:
                for m in rx.finditer(rest):
                    add(Claim(attribute, value, "change", scope if scope != "clip" else "later", start, end,
                              m.group(0).strip()))
                rest = rx.sub(" # ", rest)
            for attribute, value, rx in LEVELS:
                m = rx.search(rest)
                if m:
                    add(Claim(attribute, value, "level", scope, start, end, m.group(0).strip(" ,")))
                rest = rx.sub(" # ", rest)
    return claims
