"""Text-only caption filters: CLSP's public rules plus transcript leakage and background words.

CLSP's recipe drops a whole clip when one of its captions mentions several speakers; here the caption
is rejected with the reason (the clip's other captions are judged on their own), so nothing is dropped
without a record. Every failure is one reason string ``"rules:<code>: <detail>"``; codes:

- ``multi_speaker``: "speakers", "first speaker", "second speaker" (any kind);
- ``too_short`` / ``too_long``: global < 32 characters; fine outside 128-768 characters;
- ``newline``: a line break inside a fine caption;
- ``bad_characters``: U+FFFD (text that was not valid UTF-8), control characters other than tab and line
  breaks, or lone surrogates: a broken decode or a model emitting garbage (any kind);
- ``negation``: "no", "not", "neither", "nor", "free from", "with no", "without", "lacking", "rather than";
- ``background``: background, environment or recording-quality words ("noise", "music", "reverb", ...);
- ``transcript``: the caption copies word n-grams of the clip's transcript (n-grams made only of function
  words such as "in the" or "of a" are not counted).

Thresholds and word lists come from :class:`verify.config.RulesConfig`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from verify.config import RulesConfig

FUNCTION_WORDS: frozenset[str] = frozenset("""
a an the this that these those some any each every all both either neither no none such
i me my mine we us our ours you your yours he him his she her hers it its they them their theirs
one ones oneself myself yourself himself herself itself ourselves themselves who whom whose which what
and or but nor so yet if then than as because while when where whether though although since until
unless also too very just only even still again ever not
of in on at to for from by with without about above below under over into onto out up down off
through across along around after before behind beside besides between beyond during near next past
per toward towards upon within via like
am is are was were be been being have has had having do does did doing done
will would shall should can could may might must ought
there here now how why
's 're 've 'll 'd
""".split())

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """A case-insensitive pattern matching any phrase as whole words (inner spaces match any whitespace).

    Longer phrases are tried first ("with no" before "no"); None for an empty list.
    """
    items = sorted({p.strip().lower() for p in phrases if p.strip()}, key=len, reverse=True)
    if not items:
        return None
    alts = "|".join(r"\s+".join(re.escape(w) for w in p.split()) for p in items)
    return re.compile(rf"(?<!\w)(?:{alts})(?!\w)", re.IGNORECASE)


def found_phrases(pattern: re.Pattern[str] | None, text: str) -> list[str]:
    """Distinct matches of ``pattern`` in ``text``, lower-cased, whitespace collapsed, in order of appearance."""
    if pattern is None:
        return []
    out: list[str] = []
    for m in pattern.finditer(text):
        word = " ".join(m.group(0).lower().split())
        if word not in out:
            out.append(word)
    return out


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters/digits, with an apostrophe suffix kept: "don't", "speaker's")."""
    return _TOKEN.findall(text.lower())


def _quoted(items: list[str]) -> str:
    return ", ".join(repr(w) for w in items)


class TranscriptLeak:
    """Word n-gram overlap between a caption and the transcript.

    An n-gram (n = ``cfg.leak_ngram``, or the transcript length when shorter, at least 2 words) counts only
    when it holds at least ``cfg.leak_min_content_words`` words outside ``function_words``.
    """

    def __init__(self, cfg: RulesConfig, function_words: frozenset[str]) -> None:
        self.cfg = cfg
        self.function_words = function_words

    def _countable(self, gram: tuple[str, ...]) -> bool:
        return sum(w not in self.function_words for w in gram) >= self.cfg.leak_min_content_words

    def reason(self, caption: str, transcript: str | None) -> str | None:
        """``"rules:transcript: ..."`` when the caption copies the transcript, else None."""
        t_words = words(transcript or "")
        if len(t_words) < 2:
            return None
        n = min(self.cfg.leak_ngram, len(t_words))
        t_grams = {g for g in _ngrams(t_words, n) if self._countable(g)}
        if not t_grams:
            return None
        c_words = words(caption)
        hits = [i for i, g in enumerate(_ngrams(c_words, n)) if g in t_grams]
        shared = {tuple(c_words[i:i + n]) for i in hits}
        fraction = len(shared) / len(t_grams)
        if len(shared) < self.cfg.leak_min_matches and fraction < self.cfg.leak_max_fraction:
            return None
        start, end = _longest_run(hits, n)
        return (f"rules:transcript: shares {len(shared)} of the transcript's {len(t_grams)} word {n}-grams "
                f"({fraction:.0%}), e.g. '{' '.join(c_words[start:end])}'")


def _ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def _longest_run(starts: list[int], n: int) -> tuple[int, int]:
    """The longest token span [start, end) covered by consecutive n-gram start positions (``starts`` sorted)."""
    runs = []
    run_start = prev = starts[0]
    for i in starts[1:]:
        if i != prev + 1:
            runs.append((run_start, prev + n))
            run_start = i
        prev = i
    runs.append((run_start, prev + n))
    return max(runs, key=lambda r: r[1] - r[0])


class CaptionRules:
    """The compiled rule set of one config: ``CaptionRules(cfg).reasons(text, kind, transcript)``."""

    def __init__(self, cfg: RulesConfig) -> None:
        self.cfg = cfg
        self.multi_speaker = phrase_pattern(cfg.multi_speaker_words)
        self.negation = phrase_pattern(cfg.negation_words)
        self.background = phrase_pattern(cfg.background_words)
        function_words = FUNCTION_WORDS if cfg.function_words is None else frozenset(
            w.lower() for w in cfg.function_words)
        self.leak = TranscriptLeak(cfg, function_words)

    def reasons(self, text: str, kind: str, transcript: str | None = None) -> list[str]:
        """Every rule ``text`` (a ``kind`` caption of a clip whose words are ``transcript``) breaks; [] = passes."""
        cfg = self.cfg
        out: list[str] = []
        if found := found_phrases(self.multi_speaker, text):
            out.append(f"rules:multi_speaker: {_quoted(found)}")
        n = len(text.strip())
        if kind == "global" and n < cfg.global_min_chars:
            out.append(f"rules:too_short: {n} chars, a global caption needs >= {cfg.global_min_chars}")
        elif kind == "fine" and n < cfg.fine_min_chars:
            out.append(f"rules:too_short: {n} chars, a fine caption needs >= {cfg.fine_min_chars}")
        elif kind == "fine" and n > cfg.fine_max_chars:
            out.append(f"rules:too_long: {n} chars, a fine caption needs <= {cfg.fine_max_chars}")
        if kind in cfg.newline_kinds and ("\n" in text.strip() or "\r" in text.strip()):
            out.append(f"rules:newline: the {kind} caption holds a line break")
        if bad := bad_characters(text):
            out.append(f"rules:bad_characters: {len(bad)} character(s) such as {', '.join(bad[:3])}")
        if kind in cfg.negation_kinds and (found := found_phrases(self.negation, text)):
            out.append(f"rules:negation: {_quoted(found)}")
        if found := found_phrases(self.background, text):
            out.append(f"rules:background: {_quoted(found)}")
        if leak := self.leak.reason(text, transcript):
            out.append(leak)
        return out


def bad_characters(text: str) -> list[str]:
    """The distinct characters no caption should hold, as ``U+XXXX``: U+FFFD, control characters other than
    tab/CR/LF, lone surrogates."""
    found = [ch for ch in dict.fromkeys(text)
             if ch == "\ufffd" or (ch not in "\t\r\n" and unicodedata.category(ch) in ("Cc", "Cs"))]
    return [f"U+{ord(ch):04X}" for ch in found]


def reason_code(reason: str) -> tuple[str, str]:
    """``"rules:negation: 'not'"`` → ``("rules", "negation")``; a reason without a code gives ``(check, "other")``."""
    check, _, rest = reason.partition(":")
    code, sep, _ = rest.partition(":")
    return check.strip(), (code.strip() if sep and code.strip() else "other")
