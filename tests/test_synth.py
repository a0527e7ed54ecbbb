"""The synthetic corpus: reproducible, split by voice, captions that follow CLSP's rules, and audio
that really carries its labels (measured with Praat)."""

import filecmp
import gzip
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from clsp.data import get_captions, load_checked, read_cuts, split_manifest_path
from clsp.style.measure import measure_style
from clsp.synth.corpus import SynthConfig, synthesize_corpus
from clsp.synth.render import RenderParams, params_for, render_segment
from clsp.synth.voices import VOICES, prepare_voice_dir, voices_for_split
from conftest import SMALL

SPLITS = ("train", "dev", "test")
NEGATION = re.compile(r"\bno\b|\bnot\b|\bneither\b|\bnor\b|\bfree from\b|\bwith no\b|\bwithout\b|\blacking\b|"
                      r"\brather than\b", re.IGNORECASE)
MULTI_SPEAKER = re.compile(r"\b(speakers|first speaker|second speaker)\b", re.IGNORECASE)


def manifest_text(out: Path, split: str) -> str:
    with gzip.open(split_manifest_path(out, split), "rt") as f:
        return f.read().replace(str(out.resolve()), "<OUT>")


def all_cuts(out):
    return [c for s in SPLITS for c in read_cuts(split_manifest_path(out, s))]


def test_same_seed_same_corpus_whatever_the_workers(small_corpus, tmp_path):
    again = tmp_path / "again"
    synthesize_corpus(SynthConfig(**SMALL, workers=1), again, progress=False)
    for split in SPLITS:
        assert manifest_text(again, split) == manifest_text(small_corpus, split)
    wavs = sorted(p.name for p in (small_corpus / "wavs").glob("*.wav"))
    assert len(wavs) == SMALL["num_clips"]
    match, mismatch, errors = filecmp.cmpfiles(small_corpus / "wavs", again / "wavs", wavs, shallow=False)
    assert not mismatch and not errors


def test_different_seed_different_corpus(small_corpus, tmp_path):
    other = tmp_path / "other"
    synthesize_corpus(SynthConfig(**{**SMALL, "seed": 8}), other, progress=False)
    a, b = all_cuts(small_corpus), all_cuts(other)
    assert [c.supervisions[0].text for c in a] != [c.supervisions[0].text for c in b]
    audio_a = sf.read(a[0].recording.sources[0].source)[0]
    audio_b = sf.read(b[0].recording.sources[0].source)[0]
    assert len(audio_a) != len(audio_b) or not np.allclose(audio_a, audio_b)


def test_rerun_reuses_a_finished_corpus(small_corpus):
    before = {p: p.stat().st_mtime_ns for p in small_corpus.glob("cuts_*.jsonl.gz")}
    summary = synthesize_corpus(SynthConfig(**SMALL), small_corpus, progress=False)
    assert summary["reused"] is True
    assert {p: p.stat().st_mtime_ns for p in small_corpus.glob("cuts_*.jsonl.gz")} == before


def test_splits_are_disjoint_by_voice_and_gender_balanced(small_corpus):
    voices = {}
    for split in SPLITS:
        cuts = load_checked(split_manifest_path(small_corpus, split))
        voices[split] = {c.supervisions[0].speaker for c in cuts}
        assert {c.custom["gender"] for c in cuts} == {"male", "female"}
        assert all(c.custom["split"] == split for c in cuts)
        assert voices[split] <= {v.name for v in voices_for_split(split)}
    assert not voices["train"] & voices["test"] and not voices["train"] & voices["dev"]
    assert not voices["dev"] & voices["test"]


def test_clips_are_16k_mono_and_match_their_manifest(small_corpus):
    for cut in all_cuts(small_corpus):
        info = sf.info(cut.recording.sources[0].source)
        assert info.samplerate == 16000 and info.channels == 1
        assert info.frames == cut.num_samples


def test_captions_follow_clsp_rules_and_never_quote_the_transcript(small_corpus):
    for cut in all_cuts(small_corpus):
        g, f = get_captions(cut, "global"), get_captions(cut, "fine")
        assert len(g) == 4 and len(f) == 4
        assert len({c.text for c in g}) == 4 and len({c.text for c in f}) == 4  # real paraphrases
        for c in g:
            assert len(c.text) >= 32, c.text
        for c in f:
            assert 128 <= len(c.text) <= 768 and "\n" not in c.text, c.text
        words = re.findall(r"[a-z']+", cut.supervisions[0].text.lower())
        grams = {" ".join(words[i:i + 3]) for i in range(len(words) - 2)}
        for c in g + f:
            assert not NEGATION.search(c.text) and not MULTI_SPEAKER.search(c.text), c.text
            caption_words = re.findall(r"[a-z']+", c.text.lower())
            caption_grams = {" ".join(caption_words[i:i + 3]) for i in range(len(caption_words) - 2)}
            assert not grams & caption_grams, (c.text, grams & caption_grams)


def test_captions_state_the_labels(small_corpus):
    """Every caption names the gender; rate/loudness words match single-style clips' labels."""
    rate_words = {"slow": ("slow", "unhurried", "measured"), "fast": ("quick", "rapid", "fast", "hurried")}
    loud_words = {"soft": ("soft", "quiet", "low volume", "hushed"), "loud": ("loud", "high volume", "forceful",
                                                                               "booming", "projecting")}
    gender_words = {"male": (" man", "male", "gentleman", " he "), "female": ("woman", "female", "lady", " she ")}
    for cut in all_cuts(small_corpus):
        for c in get_captions(cut):
            text = " " + c.text.lower()
            assert any(w in text for w in gender_words[cut.custom["gender"]]), c.text
        rate, loud = cut.custom["speaking_rate"], cut.custom["loudness"]
        for c in get_captions(cut, "global"):
            text = c.text.lower()
            if rate in rate_words:
                assert any(w in text for w in rate_words[rate]), (rate, c.text)
            if loud in loud_words:
                assert any(w in text for w in loud_words[loud]), (loud, c.text)


def test_style_segments_are_ordered_and_changes_are_labelled(small_corpus):
    n_changing = 0
    for cut in all_cuts(small_corpus):
        segs = cut.custom["style_segments"]
        assert 0 <= segs[0]["start"] and segs[-1]["end"] <= cut.duration + 1e-6
        assert all(a["end"] <= b["start"] for a, b in zip(segs, segs[1:]))
        for attr in ("speaking_rate", "loudness", "pitch"):
            values = {s.get(attr) for s in segs} - {None}
            if len(values) > 1:
                assert cut.custom[attr] == "varying"
                n_changing += 1
            elif values:
                assert cut.custom[attr] == values.pop()
    assert n_changing > 0


@pytest.fixture(scope="module")
def voice_dir(tmp_path_factory):
    return prepare_voice_dir(tmp_path_factory.mktemp("espeak"))


TEXT = "The librarian wrapped a woollen blanket behind the village hall."
TEST_VOICES = [v for v in VOICES if v.split == "test"]


def render(voice_dir, voice, quality="modal", pitch="medium", rng="normal", rate="normal", loud="normal"):
    audio = render_segment(TEXT, voice, quality, params_for(pitch, rng, rate, loud, np.zeros(4)), voice_dir)
    return audio, measure_style(audio, 16000)


@pytest.mark.parametrize("voice", TEST_VOICES, ids=lambda v: v.name)
def test_audio_carries_pitch_rate_loudness_and_quality(voice_dir, voice):
    low, high = render(voice_dir, voice, pitch="low")[1], render(voice_dir, voice, pitch="high")[1]
    assert high.f0_median_hz > 1.25 * low.f0_median_hz
    slow, fast = render(voice_dir, voice, rate="slow")[1], render(voice_dir, voice, rate="fast")[1]
    assert fast.duration < 0.7 * slow.duration
    soft, loud = render(voice_dir, voice, loud="soft")[1], render(voice_dir, voice, loud="loud")[1]
    assert loud.rms_dbfs > soft.rms_dbfs + 10
    whisper = render(voice_dir, voice, quality="whisper")[1]
    creaky = render(voice_dir, voice, quality="creaky", pitch="low")[1]
    modal = render(voice_dir, voice)[1]
    assert whisper.voiced_fraction < 0.1 < 0.4 < modal.voiced_fraction
    # creaky voice breaks the periodicity: sparse voicing, and the frames still voiced are less harmonic
    assert creaky.voice_quality == "creaky" and modal.voice_quality == "modal"
    assert creaky.hnr_db < modal.hnr_db - 2
    narrow, wide = render(voice_dir, voice, rng="narrow")[1], render(voice_dir, voice, rng="wide")[1]
    assert wide.f0_range_semitones > narrow.f0_range_semitones


def test_female_voices_are_higher_than_male_voices(voice_dir):
    f0 = {v.name: render(voice_dir, v)[1].f0_median_hz for v in TEST_VOICES}
    males = [f0[v.name] for v in TEST_VOICES if v.gender == "male"]
    females = [f0[v.name] for v in TEST_VOICES if v.gender == "female"]
    assert min(females) > max(males)


def test_corpus_labels_agree_with_measurements(small_corpus):
    """Pooled over the corpus: fast clips have more words per second, loud clips more RMS."""
    wps, rms = {}, {}
    for cut in all_cuts(small_corpus):
        audio = cut.load_audio()[0]
        p = measure_style(audio, 16000)
        words = len(cut.supervisions[0].text.split())
        wps.setdefault(cut.custom["speaking_rate"], []).append(words / p.clip.speech_seconds)
        rms.setdefault(cut.custom["loudness"], []).append(p.rms_dbfs)
    assert np.mean(wps["fast"]) > 1.3 * np.mean(wps["slow"])
    assert np.mean(rms["loud"]) > np.mean(rms["soft"]) + 8


def test_every_voice_renders_at_the_extremes(voice_dir):
    """espeak-ng crashes on some pitch/range settings; the sampled space must stay clear of them."""
    for voice in VOICES:
        for quality in ("modal", "whisper", "creaky"):
            for pitch, rng in (("low", "normal"), ("high", "wide"), ("medium", "wide")):
                jitter = np.array([-1.0, 1.0, -1.0, 1.0]) if pitch == "low" else np.ones(4)
                render_segment("A short test.", voice, quality, params_for(pitch, rng, "slow", "loud", jitter),
                               voice_dir)
