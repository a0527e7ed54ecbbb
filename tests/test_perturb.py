"""Caption perturbation (clsp.perturb): the swap rules, the shuffled choice of attribute, and that every
attribute word our captioner writes can be flipped."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from clsp.perturb import (
    ACCENT,
    ACCENT_GROUPS,
    GENDER,
    LOUDNESS,
    PERTURBERS,
    PITCH,
    SPEAKING_RATE,
    apply_perturber,
    match_case,
    perturb_caption,
)
from clsp.style import describe
from clsp.style.labels import StyleSpan, StyleSummary


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_whole_words_only_and_case_kept():
    assert apply_perturber("A man speaks.", GENDER, rng()) == "A woman speaks."
    assert apply_perturber("Man, the manager is human.", GENDER, rng()) == "Woman, the manager is human."
    assert apply_perturber("SHE talks; She laughs; she sings.", GENDER, rng()) == "HE talks; He laughs; he sings."
    assert apply_perturber("Slowly, slowly.", SPEAKING_RATE, rng()) in ("Quickly, quickly.", "Rapidly, rapidly.")
    assert match_case("FAST", "slow") == "SLOW" and match_case("Fast", "slow") == "Slow"
    assert match_case("a", "the") == "the" and match_case("A", "the") == "The"


def test_text_in_double_quotes_is_left_alone():
    text = 'She says "slowly, slowly, he said" and speaks slowly, or “slow down”.'
    out = apply_perturber(text, SPEAKING_RATE, rng())
    assert '"slowly, slowly, he said"' in out and "“slow down”" in out
    assert out.endswith("speaks quickly, or “slow down”.") or out.endswith("speaks rapidly, or “slow down”.")
    assert apply_perturber(text, GENDER, rng()).startswith('He says "slowly, slowly, he said"')
    assert apply_perturber('"A woman speaking fast."', GENDER, rng()) == '"A woman speaking fast."'


def test_hyphenated_words_and_phrases_are_units():
    assert apply_perturber("A fast-paced, high-pitched voice.", SPEAKING_RATE, rng()) == "A slow-paced, high-pitched voice."
    assert apply_perturber("A fast-paced, high-pitched voice.", PITCH, rng()) == "A fast-paced, low-pitched voice."
    assert apply_perturber("Then the pace speeds up.", SPEAKING_RATE, rng()) == "Then the pace slows down."
    # "high volume" is a loudness phrase: the pitch perturber leaves it whole, the loudness one flips it
    text = "A high pitch at a high volume."
    assert apply_perturber(text, PITCH, rng()) == "A low pitch at a high volume."
    assert apply_perturber(text, LOUDNESS, rng()) == "A high pitch at a low volume."


def test_every_match_of_the_attribute_flips_consistently():
    out = apply_perturber("She starts out speaking slowly, and then the tempo picks up; her voice.", GENDER, rng())
    assert out == "He starts out speaking slowly, and then the tempo picks up; his voice."
    out = apply_perturber("She starts out speaking slowly, and then the tempo picks up.", SPEAKING_RATE, rng())
    assert "then the tempo eases off" in out and "speaking slowly" not in out
    # a word with several partners takes one of them, the same at each occurrence
    for seed in range(10):
        out = apply_perturber("slow and slow", SPEAKING_RATE, rng(seed))
        first, second = out.split(" and ")
        assert first == second and first in ("fast", "quick", "rapid")


def test_first_perturber_that_changes_the_text_wins_in_a_shuffled_order():
    text = "A woman speaks quickly and softly with a high pitch."
    seen = Counter()
    for seed in range(200):
        p = perturb_caption(text, rng(seed))
        assert p is not None and p.text != text
        changed = [a for a, b in zip(re.findall(r"[\w-]+", text), re.findall(r"[\w-]+", p.text)) if a != b]
        assert len(changed) == 1, p.text  # exactly one attribute word flipped here
        seen[p.attribute] += 1
    # the four attributes the caption names are each chosen, roughly uniformly
    assert set(seen) == {"gender", "speaking_rate", "loudness", "pitch"}
    assert min(seen.values()) >= 25
    # same seed, same result
    assert perturb_caption(text, rng(7)) == perturb_caption(text, rng(7))


def test_gender_only_caption_falls_back_to_a_gender_swap_and_nothing_gives_none():
    for seed in range(20):
        p = perturb_caption("A woman reads a passage from a book.", rng(seed))
        assert p.attribute == "gender" and p.text == "A man reads a passage from a book."
    assert perturb_caption("The words are read out.", rng()) is None
    assert perturb_caption('"A man speaks fast."', rng()) is None  # everything quoted
    assert perturb_caption("", rng()) is None


def test_accent_negative_comes_from_the_groups():
    same = 0
    for seed in range(300):
        out = apply_perturber("An Indian speaker.", ACCENT, rng(seed))
        article, new = re.fullmatch(r"(An?) (.+) speaker\.", out).groups()
        new = new.lower()
        assert article == ("An" if new[0] in "aeiou" else "A")
        assert new != "indian"
        group = next(g for g, members in ACCENT_GROUPS.items() if new in members)
        same += group == "english_l2_distinct"
    assert 0.1 < same / 300 < 0.3  # 20 % from the own group


def test_recipe_tag_pairs_are_covered():
    pairs = {"husky": "crisp", "raspy": "smooth", "staccato": "flowing", "nasal": "deep", "happy": "sad",
             "angry": "calm", "animated": "passive", "booming": "hushed", "monotone": "pitchy"}
    for word, partner in pairs.items():
        assert any(partner in p.swaps.get(word, ()) for p in PERTURBERS), word


def test_every_caption_of_the_corpus_vocabulary_can_be_perturbed():
    """Every global caption our captioner writes, for every style, has a word to flip."""
    g = np.random.default_rng(0)
    failures = []
    for gender in ("male", "female", None):
        for rate in ("slow", "normal", "fast"):
            for loud in ("soft", "normal", "loud"):
                for quality in ("modal", "whisper", "creaky"):
                    span = StyleSpan(0.0, 2.0, pitch="medium", pitch_range="normal", speaking_rate=rate,
                                     loudness=loud, emotion="neutral")
                    summary = StyleSummary(gender=gender, voice_quality=quality, spans=(span,))
                    for template in range(4):
                        text = describe.describe_global(summary, g, template=template)
                        if perturb_caption(text, g) is None:
                            failures.append(text)
    assert not failures, failures[:5]


@pytest.mark.parametrize("table", ["NOUNS", "PITCH_ADJ", "PITCH_VOICE", "PITCH_NP", "PITCH_STAYS", "RATE_ADV",
                                   "RATE_ADJ", "LOUD_ADV", "LOUD_ADJ", "RANGE_PHRASE", "QUALITY_PHRASE",
                                   "EMOTION_ADJ", "CHANGE_UP", "CHANGE_DOWN"])
def test_every_attribute_phrase_our_captioner_writes_can_be_flipped(table):
    """Each wording clsp.style.describe has for a style level (and each change phrase) holds a swappable word."""
    frame = {"PITCH_STAYS": "Her pitch stays {} throughout the clip.", "PITCH_VOICE": "with a {} voice"}.get(table, "{}")
    for level, options in getattr(describe, table).items():
        if level in (None, "neutral", "modal"):
            continue
        for option in options:
            assert perturb_caption(frame.format(option), rng()) is not None, (table, level, option)


def test_the_article_agrees_with_the_replacement():
    g = rng()
    assert apply_perturber("A lowered pitch and an elevated one.", PITCH, g) in (
        "An elevated pitch and a lowered one.", "A raised pitch and a lowered one.")
    assert apply_perturber("An angry man, a man.", GENDER, g) == "An angry woman, a woman."
    assert apply_perturber("a\nquick talk", SPEAKING_RATE, g) == "a\nslow talk"
    assert apply_perturber("A rapid pace", SPEAKING_RATE, g) == "A slow pace"
