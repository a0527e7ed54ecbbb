"""Audio of any length: long recordings are encoded in windows read one at a time (pooled over windows), and a
clip too short for the encoder is a one-line error. Peak memory against duration is a benchmark
(``benchmarks/long_audio_memory.py``), not a test."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from lhotse import MonoCut, Recording

from clsp.audio import audio_windows
from clsp.cli import main
from eval.search import build_index

SR = 16000


@pytest.fixture(scope="module")
def long_wav(small_corpus, tmp_path_factory):
    """A 70 s recording at 22.05 kHz stereo (clips of the corpus joined), to be read in windows and resampled."""
    clips = [sf.read(p, dtype="float32")[0] for p in sorted((small_corpus / "wavs").glob("*.wav"))[:20]]
    audio = np.concatenate(clips)[: 70 * SR]
    from clsp.audio import resample

    a = resample(audio, SR, 22050)
    path = tmp_path_factory.mktemp("long") / "long.wav"
    sf.write(path, np.stack([a, 0.5 * a], axis=1), 22050)
    return path


def reference(model, waves):
    """What windowed encoding must equal: each window pooled on its own, averaged by encoder frames, then the head."""
    with torch.no_grad():
        pooled, frames = [], []
        for w in waves:
            inputs, lengths = model.speech_inputs([w])
            p, n = model.pool_speech(inputs, lengths)
            pooled.append(p[0].double() * float(n[0]))
            frames.append(float(n[0]))
        return model.speech_head((sum(pooled) / sum(frames)).float()[None])[0]


def test_long_audio_is_encoded_in_windows_pooled_by_frames(model, long_wav):
    windows = list(audio_windows(long_wav, 30.0))
    assert len(windows) == 3 and abs(sum(map(len, windows)) - 70 * SR) < 10
    assert max(map(len, windows)) - min(map(len, windows)) <= 1  # equal windows
    vec = model.encode_audio([str(long_wav)], batch_size=2)[0]
    assert torch.allclose(vec, reference(model, windows), atol=1e-5)
    # the same recording as an array, and as a lhotse cut (lhotse's own resampler), gives the same vector
    audio, sr = sf.read(long_wav, dtype="float32", always_2d=True)
    cut = MonoCut("long", 0.0, 70.0, 0, recording=Recording.from_file(long_wav, recording_id="long"))
    arrays = model.encode_audio([(audio.T, sr), cut], batch_size=3)
    assert torch.allclose(arrays[0], vec, atol=1e-4)
    assert float(arrays[1] @ vec) > 0.9995


def test_clips_up_to_the_window_are_encoded_whole(model, small_corpus):
    wav = sorted((small_corpus / "wavs").glob("*.wav"))[0]
    audio, _ = sf.read(wav, dtype="float32")
    with torch.no_grad():
        inputs, lengths = model.speech_inputs([audio])
        whole = model.forward_speech(inputs, lengths)[0]
    assert torch.allclose(model.encode_audio([str(wav)])[0], whole, atol=1e-6)


def test_a_clip_too_short_for_the_encoder_is_one_line(model_dir, small_corpus, tmp_path, capsys):
    short = tmp_path / "short.wav"
    sf.write(short, np.random.default_rng(0).normal(0, 0.1, int(0.05 * SR)).astype("float32"), SR)
    ok = str(sorted((small_corpus / "wavs").glob("*.wav"))[0])
    index = tmp_path / "index"
    assert main(["search", "build", "--model", str(model_dir), "--manifest",
                 str(small_corpus / "cuts_dev.jsonl.gz"), "--out", str(index), "--quiet"]) == 0
    for argv in (["score", "--audio", ok, str(short), "--text", "a voice"],
                 ["classify", "--audio", str(short), "--labels", "male", "female"],
                 ["search", "query", "--index", str(index), "--audio", str(short)]):
        assert main([*argv, "--model", str(model_dir), "--quiet"]) == 2, argv
        err = capsys.readouterr().err
        assert err == f"clsp: error: {short}: 0.050 s of audio is shorter than the 0.100 s the model takes\n", err


def test_a_short_or_broken_clip_in_a_search_build_is_a_recorded_reject(model, small_corpus, tmp_path):
    from lhotse.utils import fastcopy

    from clsp.data.manifest import read_cuts, write_cuts

    cuts = list(read_cuts(small_corpus / "cuts_dev.jsonl.gz"))[:3]
    cuts[1] = fastcopy(cuts[1], duration=0.05)  # the first 50 ms of its recording
    header = build_index(model, write_cuts(cuts, tmp_path / "cuts_x.jsonl.gz"), tmp_path / "index", progress=False)
    assert header["count"] == 2 and header["rejected"] == 1
    (reject,) = [json.loads(x) for x in (tmp_path / "index" / "rejects.jsonl").read_text().splitlines()]
    assert reject["cut_id"] == cuts[1].id and "shorter than the 0.100 s" in reject["message"]


def test_non_finite_weights_never_reach_a_score(model_dir, small_corpus, tmp_path, capsys):
    """A model damaged in training (NaN weights) is refused at load: `score` prints no NaN (not JSON)."""
    import shutil

    from safetensors.torch import load_file, save_file

    bad = tmp_path / "nan-model"
    shutil.copytree(model_dir, bad)
    state = load_file(str(bad / "model.safetensors"))
    state["audio_projection.0.weight"] = torch.full_like(state["audio_projection.0.weight"], float("nan"))
    save_file(state, str(bad / "model.safetensors"))
    wav = str(sorted((small_corpus / "wavs").glob("*.wav"))[0])
    assert main(["score", "--model", str(bad), "--audio", wav, "--text", "a voice", "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "NaN" not in captured.out and "1 tensors hold NaN or inf (e.g. audio_projection.0.weight)" in captured.err
