"""`clsp augment`: label-changing transforms change the labels the audio measures (and the captions say so),
channel transforms keep them, bad audio is a recorded reject, and a seed gives one corpus."""

import filecmp
import gzip
import json
import math
import re

import numpy as np
import pytest
import soundfile as sf
from lhotse import MonoCut, Recording
from lhotse.audio import AudioSource
from scipy.signal import resample

from clsp.augment import transforms as T
from clsp.augment.config import AugmentRunConfig
from clsp.augment.pipeline import augment_manifests
from clsp.cli import main
from clsp.config import load_config
from clsp.data import get_captions, read_cuts, split_manifest_path, write_cuts
from clsp.style.measure import measure_style

ONLY = ["tempo.probability=0", "gain.probability=0", "pitch.probability=0", "reverb.probability=0",
        "noise.probability=0", "telephone.probability=0", "codec.probability=0"]
SLOW = re.compile(r"\b(slow\w*|unhurried|measured)\b")
FAST = re.compile(r"\b(quick\w*|rapid\w*|fast|hurried)\b")


def config(*overrides: str) -> AugmentRunConfig:
    return load_config(AugmentRunConfig, None, [*ONLY, *overrides])


def manifest_text(path) -> str:
    with gzip.open(path, "rt") as f:
        return f.read()


@pytest.fixture(scope="module")
def speech():
    """A 3 s espeak-ng sentence at 16 kHz (float32)."""
    from clsp.synth.backends import Controls, get_backend

    backend = get_backend("espeak", "/tmp/clsp-test-augment-espeak")
    voice = next(v for v in backend.voices() if v.name == "en-us+m3")
    return backend.render(voice, "The baker folded a paper map beside the river.", Controls(rms_dbfs=-24))


def f0(audio):
    return measure_style(audio, 16000).f0_median_hz


def test_tempo_changes_duration_and_keeps_pitch(speech):
    slow = T.tempo(speech, 0.6)
    assert len(slow) / len(speech) == pytest.approx(1 / 0.6, rel=0.03)
    assert 12 * math.log2(f0(slow) / f0(speech)) == pytest.approx(0, abs=0.5)


def test_pitch_shift_moves_f0_and_keeps_duration_and_formants(speech):
    up = T.pitch_shift(speech, 3.0)
    assert len(up) == len(speech)
    assert 12 * math.log2(f0(up) / f0(speech)) == pytest.approx(3.0, abs=0.5)
    # PSOLA moves F0, not the vocal tract: the spectral envelope stays where it was, while playing the clip
    # 3 semitones faster (resampling) moves it by 3 (the check that the measure sees a moved envelope)
    assert abs(envelope_shift_st(speech, up)) <= 1.0
    faster = resample(speech, int(round(len(speech) / 2 ** (3 / 12)))).astype(np.float32)
    assert envelope_shift_st(speech, faster) == pytest.approx(3.0, abs=0.5)


def envelope_shift_st(a: np.ndarray, b: np.ndarray, sr: int = 16000) -> float:
    """Semitones by which ``b``'s long-term average spectrum sits above ``a``'s: both on a 0.1-semitone grid,
    log power smoothed over ~1 semitone (harmonics blur out, the formant envelope stays), best correlation of
    their 400-4000 Hz stretches over shifts of -6..+6 semitones. (A whole-clip Burg formant track moved by under
    1 semitone when the clip was played 3 semitones faster: too blunt to tell PSOLA from resampling.)"""
    from scipy.ndimage import gaussian_filter1d

    step = 0.1
    grid = 200 * 2 ** (np.arange(0, 12 * math.log2(7000 / 200), step) / 12)

    def envelope(x):
        frames = np.lib.stride_tricks.sliding_window_view(x, 512)[::160] * np.hanning(512)
        power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)
        return gaussian_filter1d(np.log(np.interp(grid, np.fft.rfftfreq(512, 1 / sr), power) + 1e-12), 1 / step)

    ea, eb = envelope(a), envelope(b)
    lo, hi = (int(round(12 * math.log2(f / 200) / step)) for f in (400, 4000))
    shifts = np.arange(-60, 61)
    corr = [np.corrcoef(ea[lo:hi], eb[lo + k:hi + k])[0, 1] for k in shifts]
    return float(shifts[int(np.argmax(corr))] * step)


def test_channel_transforms_keep_length_and_are_seeded(speech):
    rng = lambda: np.random.default_rng(4)  # noqa: E731
    for out in (T.reverb(speech, rng(), 0.5), T.add_noise(speech, rng(), 15, "pink"), T.telephone(speech),
                T.codec(speech, "mp3", 0.5), T.codec(speech, "gsm", 0.5)):
        assert out.shape == speech.shape and out.dtype == np.float32 and np.isfinite(out).all()
    assert np.array_equal(T.reverb(speech, rng(), 0.5), T.reverb(speech, rng(), 0.5))
    noisy = T.add_noise(speech, rng(), 15, "white")
    snr = 10 * math.log10(T.speech_power(speech) / np.mean((noisy - speech) ** 2))
    assert snr == pytest.approx(15, abs=0.5)


@pytest.fixture(scope="module")
def normal_clips(small_corpus, tmp_path_factory):
    """Single-style clips of the small corpus labelled normal rate and normal loudness, as a manifest."""
    cuts = [c for s in ("train", "test") for c in read_cuts(split_manifest_path(small_corpus, s))
            if c.custom.get("speaking_rate") == "normal" and c.custom.get("loudness") == "normal"
            and c.custom.get("voice_quality") == "modal" and len(c.custom["style_segments"]) == 1]
    assert len(cuts) >= 4
    path = tmp_path_factory.mktemp("normal") / "cuts_normal.jsonl.gz"
    write_cuts(cuts[:6], path)
    return path


def test_slower_tempo_makes_normal_clips_slow_and_the_captions_say_so(normal_clips, tmp_path):
    out = tmp_path / "aug"
    cfg = config("tempo.probability=1", "tempo.factor_range=[0.6, 0.6]", "include_original=false")
    summary = augment_manifests(cfg, [normal_clips], out, progress=False)
    copies = list(read_cuts(out / "cuts_normal.jsonl.gz"))
    assert len(copies) == summary["manifests"]["cuts_normal.jsonl.gz"]["copies"] == len(list(read_cuts(normal_clips)))
    for cut in copies:
        assert cut.custom["speaking_rate"] == "slow", cut.custom["style_segments"]
        assert cut.custom["augmentation"]["steps"] == [{"name": "tempo", "factor": 0.6}]
        m = measure_style(cut.load_audio()[0], 16000, transcript=cut.supervisions[0].text)
        assert m.speaking_rate < 3.95
        caps = get_captions(cut)
        assert {c.source.engine for c in caps} == {"augment"} and len(caps) == 8
        for c in get_captions(cut, "global"):
                assert SLOW.search(c.text.lower()) and not FAST.search(c.text.lower()), c.text


def test_gain_changes_the_loudness_label(normal_clips, tmp_path):
    out = tmp_path / "aug"
    augment_manifests(config("gain.probability=1", "gain.aim=uniform", "gain.db_range=[-12, -12]"),
                      [normal_clips], out, progress=False)
    cuts = list(read_cuts(out / "cuts_normal.jsonl.gz"))
    originals = [c for c in cuts if "augmentation" not in c.custom]
    copies = [c for c in cuts if "augmentation" in c.custom]
    assert len(originals) == len(copies) == len(list(read_cuts(normal_clips)))  # include_original (default) keeps them
    assert {c.custom["loudness"] for c in copies} == {"soft"}
    assert all(c.custom["speaking_rate"] == "normal" for c in copies)  # untouched: confirmed, kept
    assert all(any(w in " ".join(x.text for x in get_captions(c, "global")).lower() for w in ("soft", "quiet", "hushed",
                                                                                              "low volume"))
               for c in copies)


def test_channel_transforms_keep_labels_and_captions(normal_clips, tmp_path):
    out = tmp_path / "aug"
    augment_manifests(config("reverb.probability=1", "noise.probability=1", "telephone.probability=1",
                             "codec.probability=1", "include_original=false"), [normal_clips], out, progress=False)
    sources = {c.id: c for c in read_cuts(normal_clips)}
    for cut in read_cuts(out / "cuts_normal.jsonl.gz"):
        src = sources[cut.custom["augmentation"]["source_cut"]]
        assert [s["name"] for s in cut.custom["augmentation"]["steps"]][:4] == ["reverb", "noise", "telephone", "codec"]
        for key in ("gender", "pitch", "speaking_rate", "loudness", "style_segments", "emotion"):
            assert cut.custom.get(key) == src.custom.get(key)
        assert [c.text for c in get_captions(cut)] == [c.text for c in get_captions(src)]
        assert all(c.id.startswith(cut.id + "/") for c in get_captions(cut))


def _cut_over(path, cut_id: str, seconds: float) -> MonoCut:
    """A cut over ``path`` as a manifest describes it (the file may be missing or corrupt)."""
    rec = Recording(id=cut_id, sources=[AudioSource(type="file", channels=[0], source=str(path))],
                    sampling_rate=16000, num_samples=int(16000 * seconds), duration=seconds)
    return MonoCut(id=cut_id, start=0.0, duration=seconds, channel=0, recording=rec, supervisions=[],
                   custom={"gender": "male"})


def test_bad_audio_is_a_reject_and_the_run_goes_on(normal_clips, tmp_path):
    good = list(read_cuts(normal_clips))[:2]
    sf.write(tmp_path / "silent.wav", np.zeros(32000, dtype=np.float32), 16000)
    sf.write(tmp_path / "short.wav", 0.1 * np.random.default_rng(0).standard_normal(3200).astype(np.float32), 16000)
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    bad = [_cut_over(tmp_path / "silent.wav", "silent", 2.0), _cut_over(tmp_path / "short.wav", "short", 0.2),
           _cut_over(tmp_path / "corrupt.wav", "corrupt", 1.0), _cut_over(tmp_path / "missing.wav", "missing", 1.0)]
    manifest = tmp_path / "cuts_mixed.jsonl.gz"
    write_cuts([good[0], *bad, good[1]], manifest)
    out = tmp_path / "aug"
    assert main(["augment", "--input", str(manifest), "--out", str(out), "--quiet", "--set",
                 "tempo.probability=1"]) == 0
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert {r["cut_id"]: r["code"] for r in rejects} == {"silent": "silent", "short": "too_short",
                                                          "corrupt": "undecodable", "missing": "missing_file"}
    assert all(r["manifest"] == "cuts_mixed.jsonl.gz" and r["message"] for r in rejects)
    kept = [c.id for c in read_cuts(out / "cuts_mixed.jsonl.gz")]
    assert kept == [good[0].id, f"{good[0].id}-aug0", good[1].id, f"{good[1].id}-aug0"]


def test_same_seed_same_output_whatever_the_workers(small_corpus, tmp_path):
    cfg = load_config(AugmentRunConfig, None, ["copies=2"])
    a, b = tmp_path / "a", tmp_path / "b"
    augment_manifests(cfg, [split_manifest_path(small_corpus, "test")], a, progress=False)
    cfg.workers = 1
    augment_manifests(cfg, [split_manifest_path(small_corpus, "test")], b, progress=False)
    text_a = manifest_text(a / "cuts_test.jsonl.gz").replace(str(a.resolve()), "<OUT>")
    assert text_a == manifest_text(b / "cuts_test.jsonl.gz").replace(str(b.resolve()), "<OUT>")
    wavs = sorted(p.name for p in (a / "wavs").glob("*.wav"))
    assert len(wavs) == 2 * 12 and sorted(p.name for p in (b / "wavs").glob("*.wav")) == wavs
    _, mismatch, errors = filecmp.cmpfiles(a / "wavs", b / "wavs", wavs, shallow=False)
    assert not mismatch and not errors
    steps = json.loads((a / "augment.json").read_text())["steps"]
    assert len(steps) >= 4  # the defaults draw a mix of transforms
    c = load_config(AugmentRunConfig, None, ["seed=1", "copies=2"])
    augment_manifests(c, [split_manifest_path(small_corpus, "test")], tmp_path / "c", progress=False)
    other = manifest_text(tmp_path / "c" / "cuts_test.jsonl.gz").replace(str((tmp_path / "c").resolve()), "<OUT>")
    assert other != text_a


def test_cli_errors_are_one_line(tmp_path, capsys, small_corpus):
    assert main(["augment", "--input", str(tmp_path / "nope.jsonl.gz"), "--out", str(tmp_path / "o")]) == 2
    assert main(["augment", "--input", str(small_corpus), "--out", str(tmp_path / "o"), "--set",
                 "codec.codecs=[amr]"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("clsp: error: ") for line in err)
    assert "nope.jsonl.gz" in err[0] and "codec.codecs" in err[1]


def test_outputs_are_not_replaced_unasked_and_one_run_at_a_time(small_corpus, tmp_path, capsys):
    from clsp.outputs import OutputLock

    manifest = split_manifest_path(small_corpus, "test")
    argv = ["augment", "--input", str(manifest), "--quiet", "--set", "fraction=0"]  # originals only: fast
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main([*argv, "--out", str(other)]) == 2  # a folder holding something else
    out = tmp_path / "aug"
    with OutputLock(out, "augment"):  # another run holds the folder
        assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("clsp: error: ") for line in err)
    assert "not empty" in err[0] and "--overwrite" in err[0] and "another augment run" in err[1]
    assert (other / "notes.txt").read_text() == "mine" and not (out / "augment.json").exists()
    assert main([*argv, "--out", str(out)]) == 0  # (its own lock file is no content)
    assert main([*argv, "--out", str(out)]) == 0 and "reused" in capsys.readouterr().out
    assert main([*argv, "--out", str(out), "--set", "seed=1"]) == 2  # another config: refused...
    assert main([*argv, "--out", str(out), "--set", "seed=1", "--overwrite"]) == 0  # ...unless asked
    assert json.loads((out / "augment.json").read_text())["config"]["seed"] == 1
