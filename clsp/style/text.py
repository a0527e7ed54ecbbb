"""Text helpers of the measurement: syllables and phrases of a transcript (any language's punctuation)."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|\d+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_PHRASE_END = re.compile(r"[.!?;:,\u3002\uff0c\uff01\uff1f]+(?=\s|$)")


def count_syllables(text: str) -> int:
    """Approximate syllable count of ``text``: English vowel groups (silent final -e / -ed dropped),
    one per CJK character, two per digit."""
    total = len(_CJK.findall(text))
    for word in _WORD.findall(_CJK.sub(" ", text)):
        if word.isdigit():
            total += 2 * len(word)
            continue
        w = word.lower()
        groups = len(re.findall(r"[aeiouy]+", w))
        silent = (w.endswith("e") and not w.endswith("le") or w.endswith("ed") and not w.endswith(("ted", "ded"))
                  or w.endswith("es") and not w.endswith(("ses", "zes", "xes", "ces", "ges", "shes", "ches")))
        if groups > 1 and silent and w.rstrip("sd")[-2:-1] not in tuple("aeiouy"):
            groups -= 1
        total += max(1, groups)
    return total


def split_phrases(text: str) -> list[str]:
    """``text`` split after punctuation that usually comes with a pause (. ! ? ; : ,)."""
    return [p.strip() for p in _PHRASE_END.split(text) if p.strip()]
