"""The rule filters on the synthetic corpus's real captions, and on those captions altered to break a rule."""

from __future__ import annotations

import pytest

from clsp.config import load_config
from clsp.data.captions import get_captions
from clsp.data.manifest import read_cuts
from clsp.errors import ConfigError
from verify.config import RulesConfig, VerifyConfig
from verify.pipeline import cut_transcript
from verify.rules import CaptionRules, reason_code


def codes(reasons: list[str]) -> list[str]:
    assert all(r.startswith("rules:") for r in reasons), reasons
    return [reason_code(r)[1] for r in reasons]


@pytest.fixture(scope="module")
def corpus_captions(small_corpus):
    """(caption, transcript) for every caption of the corpus (480 = 60 clips x 8)."""
    out = []
    for split in ("train", "dev", "test"):
        for cut in read_cuts(small_corpus / f"cuts_{split}.jsonl.gz"):
            out += [(c, cut_transcript(cut)) for c in get_captions(cut)]
    return out


def test_corpus_captions_pass_the_rules(corpus_captions):
    rules = CaptionRules(RulesConfig())
    assert len(corpus_captions) == 480
    assert {c.kind for c, _ in corpus_captions} == {"global", "fine"}
    failures = {c.id: rules.reasons(c.text, c.kind, t) for c, t in corpus_captions}
    assert {k: v for k, v in failures.items() if v} == {}


def _edits(fine: str, transcript: str) -> dict[str, str]:
    """Altered versions of a real fine caption, each breaking exactly one rule (the key)."""
    return {
        "background": fine.replace(". ", ", over faint background noise. ", 1),
        "negation": fine.replace(" speaks", " does not speak loudly but speaks", 1),
        "newline": fine.replace(". ", ".\n", 1),
        "too_short": fine[:100],
        "too_long": (fine + " ") * (800 // len(fine) + 1),
        "transcript": fine + f' The speaker says "{transcript}"',
        "multi_speaker": fine.replace(".", ", and the second speaker answers.", 1),
    }


def test_altered_captions_are_rejected_with_the_right_code(corpus_captions):
    rules = CaptionRules(RulesConfig())
    fines = [(c, t) for c, t in corpus_captions if c.kind == "fine"]
    for caption, transcript in fines[:12]:
        for code, text in _edits(caption.text, transcript).items():
            if code == "too_long" and len(text.strip()) <= 768:
                pytest.fail("edit did not make the caption long enough")
            assert codes(rules.reasons(text, "fine", transcript)) == [code], (code, text)


def test_global_caption_rules(corpus_captions):
    rules = CaptionRules(RulesConfig())
    caption, transcript = next((c, t) for c, t in corpus_captions if c.kind == "global")
    assert rules.reasons(caption.text, "global", transcript) == []
    short = caption.text[:20]
    assert rules.reasons(short, "global", transcript) == [
        f"rules:too_short: {len(short)} chars, a global caption needs >= 32"]
    # CLSP checks newlines on long captions only; negations on both (configurable)
    assert rules.reasons(caption.text.replace(" ", "\n", 1), "global", transcript) == []
    assert codes(rules.reasons(caption.text[:-1] + " without any emotion.", "global", transcript)) == ["negation"]
    strict = CaptionRules(RulesConfig(newline_kinds=["global", "fine"], negation_kinds=["fine"]))
    assert codes(strict.reasons(caption.text.replace(" ", "\n", 1), "global", transcript)) == ["newline"]
    assert strict.reasons(caption.text[:-1] + " without any emotion.", "global", transcript) == []


@pytest.mark.parametrize("text, found", [
    ("A man speaks with no hurry and not much energy.", "'with no', 'not'"),
    ("Neither loud nor soft, free from tension, lacking warmth, calm rather than tense.",
     "'neither', 'nor', 'free from', 'lacking', 'rather than'"),
    ("A voice that is NOT loud at all, calm and even.", "'not'"),
])
def test_negation_words_are_named(text, found):
    assert CaptionRules(RulesConfig()).reasons(text, "global") == [f"rules:negation: {found}"]


@pytest.mark.parametrize("text", [
    "A noted announcer speaks with nothing held back, notably slowly and nonchalantly.",  # 'no'/'not' inside words
    "A woman speaks in a knotty, nodding rhythm with a notable lilt all the way through.",
])
def test_negation_needs_whole_words(text):
    assert CaptionRules(RulesConfig()).reasons(text, "global") == []


def test_multi_speaker_words_whole_words_only():
    rules = CaptionRules(RulesConfig())
    assert rules.reasons("The speaker's voice is deep, steady and calm throughout.", "global") == []
    assert rules.reasons("Both speakers' voices are deep and steady throughout.", "global") == [
        "rules:multi_speaker: 'speakers'"]
    assert rules.reasons("The First  Speaker talks in a deep, steady and calm voice.", "global") == [
        "rules:multi_speaker: 'first speaker'"]


def test_background_and_quality_words():
    rules = CaptionRules(RulesConfig())
    assert rules.reasons("A deep male voice with a lot of reverb and some hiss on the microphone.", "global") == [
        "rules:background: 'reverb', 'hiss', 'microphone'"]
    assert rules.reasons("A woman speaks quickly; the recording quality is poor overall.", "global") == [
        "rules:background: 'recording quality'"]
    # voice words that merely look similar are fine
    assert rules.reasons("A musician-like, melodic voice with a rich voice quality and a quiet tone.", "global") == []


TRANSCRIPT = "The baker folded a paper map beside the river at the end of the street."


def test_transcript_copy_is_named():
    rules = CaptionRules(RulesConfig())
    text = "A calm woman says that the baker folded a paper map, speaking slowly and softly."
    [reason] = rules.reasons(text, "global", TRANSCRIPT)
    assert reason.startswith("rules:transcript: shares 3 of the transcript's")
    assert reason.endswith("e.g. 'the baker folded a paper map'")


def test_transcript_short_overlaps_do_not_trigger():
    rules = CaptionRules(RulesConfig())
    # 'at the end of the' (5 words) is shared, but its 4-grams hold one content word: a common phrase
    assert rules.reasons("At the end of the clip her pitch rises and she speaks faster.", "global", TRANSCRIPT) == []
    assert codes(CaptionRules(RulesConfig(leak_min_content_words=1)).reasons(
        "At the end of the clip her pitch rises and she speaks faster.", "global", TRANSCRIPT)) == ["transcript"]
    # function-word n-grams never count, however many are shared ...
    transcript = "It was one of those days when all of them were in the house"
    text = "It was one of those deep voices, and when all of them were in a calm, even tone."
    assert rules.reasons(text, "global", transcript) == []
    # ... which is what the content-word requirement does: without it the same pair is a leak
    loose = CaptionRules(RulesConfig(leak_min_content_words=0))
    assert codes(loose.reasons(text, "global", transcript)) == ["transcript"]


def test_short_transcript_copied_whole_is_a_leak():
    rules = CaptionRules(RulesConfig())
    assert codes(rules.reasons("She says good morning everyone in a bright, cheerful voice.", "global",
                               "Good morning everyone.")) == ["transcript"]
    assert rules.reasons("A bright, cheerful voice speaks quickly and clearly.", "global", "Good morning everyone.") == []


def test_thresholds_come_from_config():
    text = "A deep, steady voice; " + "x" * 90
    assert codes(CaptionRules(RulesConfig()).reasons(text, "fine")) == ["too_short"]
    assert CaptionRules(RulesConfig(fine_min_chars=100)).reasons(text, "fine") == []
    rules = CaptionRules(RulesConfig(background_words=["hum"], negation_words=[]))
    assert rules.reasons("A man speaks with no hurry and a background hum throughout the clip.", "global") == [
        "rules:background: 'hum'"]


def test_bad_rule_config_is_one_line(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text("rules:\n  fine_max_chars: 50\n")
    with pytest.raises(ConfigError, match=r"v.yaml: key 'rules.fine_max_chars' \(50\) must be >= fine_min_chars"):
        load_config(VerifyConfig, path)
    path.write_text("rules:\n  negation_kinds: [fine, caption]\n")
    with pytest.raises(ConfigError, match="key 'rules.negation_kinds' holds"):
        load_config(VerifyConfig, path)


@pytest.mark.parametrize("garbage, shown", [("\ufffd", "U+FFFD"), ("\x00", "U+0000"), ("\x1b[0m", "U+001B"),
                                            ("\x7f", "U+007F"), ("\x85", "U+0085"), ("\ud800", "U+D800")])
def test_broken_text_is_rejected(corpus_captions, garbage, shown):
    """A random model's or a broken decoder's output: replacement and control characters never pass."""
    rules = CaptionRules(RulesConfig())
    for caption, transcript in corpus_captions[:4]:
        assert rules.reasons(caption.text, caption.kind, transcript) == []
        mid = len(caption.text) // 2
        found = rules.reasons(caption.text[:mid] + garbage + caption.text[mid:], caption.kind, transcript)
        assert codes(found) == ["bad_characters"] and shown in found[0]
    assert rules.reasons("A calm voice,\tslow and low, speaking softly throughout.", "global") == []  # tab is fine
