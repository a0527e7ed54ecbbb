"""The acoustic check (verify.acoustic): claims read from any wording, checked against measured audio.

The accuracy test runs on the test split (200 clips, 4 voices never used for calibration) of a corpus
made once per session: the check must keep >= 90 % of the corpus' own (correct) captions and reject >= 90 %
of captions written with one deliberately wrong attribute, for the right reason, per attribute.
"""

from collections import Counter

import pytest

from clsp.config import load_config
from clsp.data import get_captions, read_cuts, split_manifest_path
from clsp.errors import ConfigError
from clsp.style.measure import measure_style
from verify.acoustic import AcousticCheckConfig, acoustic_reasons, caption_claims
from verify.acoustic_eval import SWAPS, label_summary, make_eval_corpus, rejected_for, wrong_captions


@pytest.fixture(scope="session")
def eval_corpus(tmp_path_factory):
    return make_eval_corpus(tmp_path_factory.getbasetemp() / "acoustic-eval-corpus")


@pytest.fixture(scope="module")
def measured_test(eval_corpus):
    """(cut, measurement) for every clip of the test split."""
    cuts = list(read_cuts(split_manifest_path(eval_corpus, "test")))
    return [(c, measure_style(c.load_audio()[0], c.sampling_rate, c.supervisions[0].text)) for c in cuts]


def find(measured_test, **labels):
    return next((c, m) for c, m in measured_test if all(c.custom.get(k) == v for k, v in labels.items()))


def claims_of(text):
    return {(c.attribute, c.value, c.kind, c.scope) for c in caption_claims(text)}


@pytest.mark.parametrize("text, expected", [
    ("A deep male voice speaks rapidly.",
     {("gender", "male", "level", "clip"), ("pitch", "low", "level", "clip"),
      ("speaking_rate", "fast", "level", "clip")}),
    ("Her pitch climbs as she goes on.", {("gender", "female", "level", "clip"), ("pitch", "up", "change", "later")}),
    ("The pitch rises and the pace slows down.", {("pitch", "up", "change", "later"),
                                                  ("speaking_rate", "down", "change", "later")}),
    ("A woman whispers in a hushed, airy whisper.", {("gender", "female", "level", "clip"),
                                                     ("voice_quality", "whisper", "level", "clip")}),
    ("A booming gentleman talks at a leisurely tempo.", {("gender", "male", "level", "clip"),
                                                         ("loudness", "loud", "level", "clip"),
                                                         ("speaking_rate", "slow", "level", "clip")}),
    ("She is moderately loud, at a natural pace, in a mid-range register.",
     {("gender", "female", "level", "clip"), ("loudness", "normal", "level", "clip"),
      ("speaking_rate", "normal", "level", "clip"), ("pitch", "medium", "level", "clip")}),
    ("He speaks in a low voice.", {("gender", "male", "level", "clip"), ("loudness", "soft", "level", "clip")}),
    ("The delivery softens toward the end.", {("loudness", "down", "change", "end")}),
    ("At first the speaker is quiet and slow, then grows louder.",
     {("loudness", "soft", "level", "start"), ("speaking_rate", "slow", "level", "start"),
      ("loudness", "up", "change", "later")}),
    ("A man and a woman talk.", set()),
    ("A calm, gentle speaker with a smooth timbre.", set()),
])
def test_claims_from_varied_wording(text, expected):
    assert claims_of(text) == expected


def test_claim_times_are_read():
    claims = caption_claims("Then (about 2.4 to 4.0 seconds), the voice climbs higher. In the last 2 seconds she "
                            "shouts. After 1.5 s it slows down.")
    assert [(c.attribute, c.value, c.start, c.end) for c in claims if c.attribute != "gender"] == [
        ("pitch", "up", 2.4, 4.0), ("loudness", "loud", -2.0, None), ("speaking_rate", "down", 1.5, None)]


def test_wrong_claims_are_rejected_with_a_clear_reason(measured_test):
    cut, m = find(measured_test, gender="male", voice_quality="modal", pitch="low", loudness="soft")
    assert acoustic_reasons("A deep-voiced man speaks softly.", m) == []
    [gender] = acoustic_reasons("A woman speaks.", m)
    assert gender.startswith("acoustic:gender: says female, measured male (F3 peak ") and gender.endswith("Hz)")
    [pitch] = acoustic_reasons("The speaker has a high-pitched voice.", m)
    assert pitch.startswith("acoustic:pitch: says high, measured low (F0 ") and "\n" not in pitch
    [loud] = acoustic_reasons("Booming speech.", m)
    assert loud.startswith("acoustic:loudness: says loud, measured soft (-")
    assert acoustic_reasons("A person talks with a smooth timbre.", m) == []  # nothing checkable: nothing to reject


def test_whisper_claims(measured_test):
    _, whisper = find(measured_test, voice_quality="whisper")
    _, modal = find(measured_test, voice_quality="modal")
    assert acoustic_reasons("Someone whispers.", whisper) == []
    [reason] = acoustic_reasons("Someone whispers.", modal)
    assert reason.startswith("acoustic:whisper: says whispered, measured voiced speech (voiced ")
    assert acoustic_reasons("A high-pitched whisper.", whisper) == []  # no F0 in a whisper: pitch unchecked


def test_change_claims_follow_the_audio(measured_test):
    order = {"slow": 0, "normal": 1, "fast": 2}

    def speeds_up_only(cut):  # the rate rises between segments and never falls
        rates = [order[s["speaking_rate"]] for s in cut.custom["style_segments"]]
        return rates[-1] > rates[0] and rates == sorted(rates) and cut.custom["voice_quality"] == "modal"

    cut, m = next((c, m) for c, m in measured_test if speeds_up_only(c))
    assert acoustic_reasons("The pace speeds up.", m) == []
    [reason] = acoustic_reasons("The pace slows down.", m)
    assert reason.startswith("acoustic:rate_change: says falling (later), measured ") and reason.endswith("%)")
    assert acoustic_reasons("Later on, the tempo picks up.", m) == []


def test_check_config_is_validated():
    with pytest.raises(ConfigError, match="key 'rate_tolerance' must be >= 1"):
        load_config(AcousticCheckConfig, None, ["rate_tolerance=0.5"])


def test_keeps_correct_and_rejects_wrong_captions_on_unseen_voices(measured_test):
    assert len(measured_test) >= 200
    kept, total = 0, 0
    wrong = Counter()
    for i, (cut, m) in enumerate(measured_test):
        for caption in get_captions(cut):
            total += 1
            kept += not acoustic_reasons(caption.text, m)
        for attribute, text in wrong_captions(label_summary(cut.custom), seed=i):
            wrong[attribute + "/n"] += 1
            wrong[attribute] += rejected_for(acoustic_reasons(text, m), attribute)
    rejected = {a: wrong[a] / wrong[a + "/n"] for a in SWAPS}
    overall = sum(wrong[a] for a in SWAPS) / sum(wrong[a + "/n"] for a in SWAPS)
    print(f"\ncorrect captions kept: {kept / total:.3f} of {total}; wrong captions rejected: {overall:.3f} "
          + str({a: f"{v:.3f} of {wrong[a + '/n']}" for a, v in rejected.items()}))
    assert total >= 1600 and kept / total >= 0.9
    for attribute in SWAPS:
        assert wrong[attribute + "/n"] >= 100, attribute
        assert rejected[attribute] >= 0.9, (attribute, rejected)
    assert overall >= 0.9
