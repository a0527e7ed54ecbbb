"""The synthetic corpus: reproducible, split by voice and by source, captions that follow CLSP's rules, and labels
that the audio really carries (measured again with the project's measurer)."""

import filecmp
import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from annotate.testing import SMALL
from clsp.augment.config import AugmentConfig
from clsp.augment.levels import SCALED
from clsp.data import get_captions, load_checked, read_cuts, split_manifest_path
from clsp.data.manifest import HELDOUT_SPLIT
from clsp.style.measure import measure_style
from clsp.synth.aim import OUTCOMES
from clsp.synth.backends import Controls, get_backend
from clsp.synth.corpus import SourceConfig, SynthConfig, synthesize_corpus, voice_splits

SPLITS = ("train", "dev", "test")
NEGATION = re.compile(r"\bno\b|\bnot\b|\bneither\b|\bnor\b|\bfree from\b|\bwith no\b|\bwithout\b|\blacking\b|"
                      r"\brather than\b", re.IGNORECASE)
MULTI_SPEAKER = re.compile(r"\b(speakers|first speaker|second speaker)\b", re.IGNORECASE)
# A small corpus of three engines: espeak-ng and Piper to train on, flite held out; half the training clips are
# replaced by an augmented copy.
MULTI = dict(num_clips=36, seed=3, sources={"espeak": SourceConfig(weight=0.6), "piper": SourceConfig(weight=0.15),
                                            "flite": SourceConfig(weight=0.25)},
             heldout_source="flite", dev_fraction=0.15, test_fraction=0.15,
             augment=AugmentConfig(fraction=0.5, include_original=False))


def manifest_text(out: Path, split: str) -> str:
    with gzip.open(split_manifest_path(out, split), "rt") as f:
        return f.read().replace(str(out.resolve()), "<OUT>")


def all_cuts(out, splits=SPLITS):
    return [c for s in splits for c in read_cuts(split_manifest_path(out, s))]


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    out = tmp_path_factory.mktemp("multi") / "synth"
    synthesize_corpus(SynthConfig(**MULTI, workers=2), out, progress=False)
    return out


def test_same_seed_same_corpus_whatever_the_workers(small_corpus, tmp_path):
    again = tmp_path / "again"
    synthesize_corpus(SynthConfig(**SMALL, workers=1), again, progress=False)
    for split in SPLITS:
        assert manifest_text(again, split) == manifest_text(small_corpus, split)
    wavs = sorted(p.name for p in (small_corpus / "wavs").glob("*.wav"))
    assert len(wavs) == SMALL["num_clips"]
    match, mismatch, errors = filecmp.cmpfiles(small_corpus / "wavs", again / "wavs", wavs, shallow=False)
    assert not mismatch and not errors


def test_multi_source_corpus_is_the_same_for_a_seed_whatever_the_workers(multi, tmp_path):
    again = tmp_path / "again"
    synthesize_corpus(SynthConfig(**MULTI, workers=1), again, progress=False)
    for split in (*SPLITS, HELDOUT_SPLIT):
        assert manifest_text(again, split) == manifest_text(multi, split)
    wavs = sorted(p.name for p in (multi / "wavs").glob("*.wav"))
    assert sorted(p.name for p in (again / "wavs").glob("*.wav")) == wavs
    match, mismatch, errors = filecmp.cmpfiles(multi / "wavs", again / "wavs", wavs, shallow=False)
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
    assert not voices["train"] & voices["test"] and not voices["train"] & voices["dev"]
    assert not voices["dev"] & voices["test"]
    assert not (small_corpus / "cuts_heldout.jsonl.gz").exists()


def test_held_out_source_is_only_in_its_own_split_and_no_voice_is_in_two_splits(multi):
    by_split = {s: load_checked(split_manifest_path(multi, s)) for s in (*SPLITS, HELDOUT_SPLIT)}
    assert {c.custom["source"] for c in by_split[HELDOUT_SPLIT]} == {"flite"}
    assert {c.custom["gender"] for c in by_split[HELDOUT_SPLIT]} == {"male", "female"}  # slt + the male voices
    for split in SPLITS:
        assert "flite" not in {c.custom["source"] for c in by_split[split]}
    assert {c.custom["source"] for c in by_split["train"]} == {"espeak", "piper"}
    speakers = {s: {c.supervisions[0].speaker for c in cuts} for s, cuts in by_split.items()}
    names = list(speakers)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not speakers[a] & speakers[b], (a, b, speakers[a] & speakers[b])
    voices = json.loads((multi / "voices.json").read_text())["voices"]
    assert all(v["gender"] in ("male", "female") and v["f0_hz"] > 0 and v["rate_sps"] > 0 for v in voices)
    assert {v["split"] for v in voices if v["source"] == "flite"} == {HELDOUT_SPLIT}


def test_voice_groups_share_a_split():
    """All language variants of one espeak-ng voice variant (one speaker identity) land in one split."""
    cfg = SynthConfig(**MULTI)
    voices = get_backend("espeak", "/tmp/clsp-test-espeak-unused").voices()
    splits = voice_splits(voices, cfg)
    by_group: dict[str, set[str]] = {}
    for v in voices:
        by_group.setdefault(v.group, set()).add(splits[v.id])
    assert all(len(s) == 1 for s in by_group.values())
    assert {s for g in by_group.values() for s in g} == {"train", "dev", "test"}
    clsp = {v.name: splits[v.id] for v in voices if v.name.startswith("clsp_")}
    assert clsp["clsp_m02"] == "test" and clsp["clsp_m04"] == "dev"  # our speakers keep their fixed splits


def test_augmented_copies_are_training_clips_with_their_provenance(multi):
    summary = json.loads((multi / "synth.json").read_text())
    copies = [c for c in all_cuts(multi, (*SPLITS, HELDOUT_SPLIT)) if "augmentation" in c.custom]
    assert copies and all(c.custom["split"] == "train" for c in copies)
    assert summary["splits"]["train"]["augmented"] == len(copies)
    for c in copies:
        steps = c.custom["augmentation"]["steps"]
        assert steps and c.id.endswith("-aug0")
        assert Path(c.recording.sources[0].source).is_file()
        if any(s["name"] in ("tempo", "pitch", "gain") for s in steps):
            assert {x.source.engine for x in get_captions(c)} == {"augment"}


def test_clips_are_16k_mono_and_match_their_manifest(multi):
    for cut in all_cuts(multi, (*SPLITS, HELDOUT_SPLIT)):
        info = sf.info(cut.recording.sources[0].source)
        assert info.samplerate == 16000 and info.channels == 1
        assert info.frames == cut.num_samples


def test_labels_are_what_the_audio_measures(multi):
    """Every label left on a segment is the level the measurer finds in that segment of the written audio."""
    checked = agree = 0
    for cut in all_cuts(multi, (*SPLITS, HELDOUT_SPLIT)):
        m = measure_style(cut.load_audio()[0], 16000, transcript=cut.supervisions[0].text, gender=cut.custom["gender"])
        for seg in cut.custom["style_segments"]:
            w = m.window(seg["start"], seg["end"])
            for attr in SCALED:
                if seg.get(attr) is not None:
                    checked += 1
                    agree += m.level(attr, m.window_value(attr, w)) == seg[attr]
    assert checked > 100 and agree / checked >= 0.95, (agree, checked)


def test_design_and_measured_labels_are_both_kept(multi):
    summary = json.loads((multi / "synth.json").read_text())
    assert set(summary["labels"]) == {"espeak", "piper", "flite"}
    for cut in all_cuts(multi, ("test", HELDOUT_SPLIT)):
        design, final = cut.custom["design_segments"], cut.custom["style_segments"]
        assert len(design) == len(final)
        for d, f in zip(design, final):
            assert (d["start"], d["end"]) == (f["start"], f["end"])


def test_captions_follow_clsp_rules_and_never_quote_the_transcript(multi):
    for cut in all_cuts(multi, (*SPLITS, HELDOUT_SPLIT)):
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


def test_captions_state_the_labels(multi):
    """Every caption names the gender; rate/loudness words match single-style clips' labels."""
    rate_words = {"slow": ("slow", "unhurried", "measured"), "fast": ("quick", "rapid", "fast", "hurried")}
    loud_words = {"soft": ("soft", "quiet", "low volume", "hushed"), "loud": ("loud", "high volume", "forceful",
                                                                               "booming", "projecting")}
    gender_words = {"male": (" man", "male", "gentleman", " he "), "female": ("woman", "female", "lady", " she ")}
    for cut in all_cuts(multi, (*SPLITS, HELDOUT_SPLIT)):
        for c in get_captions(cut):
            text = " " + c.text.lower()
            assert any(w in text for w in gender_words[cut.custom["gender"]]), c.text
        rate, loud = cut.custom.get("speaking_rate"), cut.custom.get("loudness")
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


def test_levels_are_set_relative_to_each_voices_natural_rate(multi):
    """Clips labelled slow are slower than fast ones for every source, in syllables per second of speech."""
    rates: dict[tuple[str, str], list[float]] = {}
    for cut in all_cuts(multi, (*SPLITS, HELDOUT_SPLIT)):
        if "augmentation" in cut.custom or cut.custom.get("speaking_rate") not in ("slow", "fast"):
            continue
        m = measure_style(cut.load_audio()[0], 16000, transcript=cut.supervisions[0].text)
        rates.setdefault((cut.custom["source"], cut.custom["speaking_rate"]), []).append(m.speaking_rate)
    for source in ("espeak", "flite"):
        assert np.mean(rates[(source, "fast")]) > 1.3 * np.mean(rates[(source, "slow")]), rates


@pytest.fixture(scope="module")
def espeak(tmp_path_factory):
    backend = get_backend("espeak", str(tmp_path_factory.mktemp("espeak")))
    backend.prepare()
    return backend


TEXT = "The librarian wrapped a woollen blanket behind the village hall."


@pytest.mark.parametrize("name", ["clsp_m02", "clsp_f03"])
def test_our_speakers_carry_pitch_rate_loudness_and_quality(espeak, name):
    voice = next(v for v in espeak.voices() if v.name == name)

    def measure(**controls):
        return measure_style(espeak.render(voice, TEXT, Controls(**controls)), 16000, transcript=TEXT,
                             gender=voice.gender)

    assert measure(pitch_st=4).f0_median_hz > 1.25 * measure(pitch_st=-4).f0_median_hz
    assert measure(rate=1.5).speaking_rate > 1.8 * measure(rate=0.7).speaking_rate
    assert measure(rms_dbfs=-16).rms_dbfs > measure(rms_dbfs=-32).rms_dbfs + 10
    assert measure(range_scale=1.9).f0_range_semitones > measure(range_scale=0.35).f0_range_semitones
    modal, whisper = measure(), measure(quality="whisper")
    assert whisper.voiced_fraction < 0.1 < 0.4 < modal.voiced_fraction
    assert measure(quality="creaky", pitch_st=-4).hnr_db < modal.hnr_db - 3


def test_every_clsp_speaker_renders_at_the_extremes(espeak):
    """espeak-ng crashes on some pitch/range settings; the sampled space must stay clear of them."""
    for voice in (v for v in espeak.voices() if v.name.startswith("clsp_")):
        for quality in ("modal", "whisper", "creaky"):
            for pitch, rng in ((-8.0, 1.0), (8.0, 2.1), (0.0, 2.1)):
                espeak.render(voice, "A short test.", Controls(rate=0.5, pitch_st=pitch, range_scale=rng,
                                                               quality=quality, rms_dbfs=-16))


def test_pitch_levels_keep_a_plausible_f0_for_the_speakers_gender(multi):
    """Each modal segment is rendered on its F0 target (checked and corrected when it misses), and no pitch level
    puts a speaker in the other gender's own F0 range: measured without the gender given, a clip is never
    decided as the other gender."""
    summary = json.loads((multi / "synth.json").read_text())
    for source, outcomes in summary["pitch_aim"].items():
        assert set(outcomes) <= set(OUTCOMES), outcomes
        assert outcomes.get("off_target", 0) <= 0.1 * sum(outcomes.values()), (source, outcomes)
    decided = 0
    for cut in all_cuts(multi, (*SPLITS, HELDOUT_SPLIT)):
        if "augmentation" in cut.custom or cut.custom["voice_quality"] != "modal":
            continue
        gender = measure_style(cut.load_audio()[0], 16000, transcript=cut.supervisions[0].text).gender
        assert gender in (None, cut.custom["gender"]), (cut.id, cut.custom.get("pitch"))
        decided += gender is not None
    assert decided > 0
