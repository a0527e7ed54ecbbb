"""`score` and `classify`: the Python API and the CLI, with a tiny random model on real audio."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from clsp.cli import main
from clsp.errors import ClspError
from eval.embed import LONG_LIST, progress_bar
from eval.scoring import classify, score


@pytest.fixture(scope="module")
def wavs(small_corpus):
    return [str(p) for p in sorted((small_corpus / "wavs").glob("*.wav"))[:5]]


def test_score_matches_the_model_api(model, wavs):
    texts = ["A man speaks slowly.", "A woman speaks fast and loud."]
    out = score(model, wavs[:3], texts, ref_audio=[wavs[0], wavs[4]], batch_size=2)
    speech = model.encode_audio(wavs[:3])
    expected_text = speech @ model.encode_text(texts).T
    expected_ref = speech @ model.encode_audio([wavs[0], wavs[4]]).T
    assert [r["audio"] for r in out["results"]] == wavs[:3] and out["texts"] == texts
    assert np.allclose([r["speech_text"] for r in out["results"]], expected_text.numpy(), atol=1e-5)
    assert np.allclose([r["speech_speech"] for r in out["results"]], expected_ref.numpy(), atol=1e-5)
    assert out["results"][0]["speech_speech"][0] == pytest.approx(1.0, abs=1e-5)  # a clip with itself


def test_score_takes_arrays_at_other_rates(model, wavs):
    audio, sr = sf.read(wavs[1], dtype="float32")
    from_array = score(model, [(audio, sr)], ref_audio=[wavs[1]])
    assert from_array["results"][0]["audio"] == "<array>"
    assert from_array["results"][0]["speech_speech"][0] == pytest.approx(1.0, abs=1e-5)
    assert "speech_text" not in from_array["results"][0]


def test_progress_bar_for_long_lists(model, wavs, capsys, monkeypatch):
    with progress_bar(LONG_LIST, None, "x") as long, progress_bar(LONG_LIST - 1, None, "x") as short:
        assert not long.disable and short.disable
    bars = []  # (bar, shown): tqdm marks a bar disabled when it closes, so "shown" is read at creation

    def recording_bar(*args):  # the real bar, kept so its state can be read after the run
        bar = progress_bar(*args)
        bars.append((bar, not bar.disable))
        return bar

    monkeypatch.setattr("eval.embed.progress_bar", recording_bar)
    capsys.readouterr()
    score(model, wavs, ref_audio=[wavs[0]])  # a short list: no bar by default
    assert capsys.readouterr().err == "" and [shown for _, shown in bars] == [False, False]
    bars.clear()
    score(model, wavs, ref_audio=[wavs[0]], progress=True)
    # read from the bars themselves (what tqdm drew depends on its refresh interval, i.e. on machine speed)
    assert [(bar.desc, shown, bar.n, bar.total) for bar, shown in bars] == [
        ("audio", True, len(wavs), len(wavs)), ("reference audio", True, 1, 1)]


def test_classify_picks_the_best_prompt_and_gives_probabilities(model, wavs):
    labels = ["male", "female", "child"]
    out = classify(model, wavs, labels, template="A {} speaker.")
    speech = model.encode_audio(wavs)
    sim = speech @ model.encode_text([f"A {lab} speaker." for lab in labels]).T
    assert [r["label"] for r in out["results"]] == [labels[i] for i in sim.argmax(1).tolist()]
    for r, row in zip(out["results"], sim):
        assert list(r["scores"].values()) == pytest.approx(row.tolist(), abs=1e-5)
        assert sum(r["probs"].values()) == pytest.approx(1.0)
        assert max(r["probs"], key=r["probs"].get) == r["label"]
    several = classify(model, wavs[:2], ["low", "high"],
                       prompts={"low": ["A low voice.", "A deep voice."], "high": ["A high voice."]})
    low = torch.maximum(*(speech[:2] @ model.encode_text(["A low voice.", "A deep voice."]).T).unbind(1))
    assert [r["scores"]["low"] for r in several["results"]] == pytest.approx(low.tolist(), abs=1e-5)
    with pytest.raises(ClspError, match="exactly one"):
        classify(model, wavs[:1], ["a", "b"], template="A speaker.")


def test_length_sorted_batches_give_the_per_clip_vectors_in_input_order_reading_each_clip_once(
        model, wavs, tmp_path, monkeypatch):
    import threading

    import clsp.audio

    rng = np.random.default_rng(0)
    audio, sr = sf.read(wavs[0], dtype="float32")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav")
    # mixed lengths and kinds: files, a 0.4 s tone and 5 s of noise at 8 kHz, a 7 s recording in 3 windows
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(3200) / 8000)).astype(np.float32)
    items = [wavs[1], (tone, 8000), wavs[2], str(bad),
             (np.tile(audio, 3)[: int(7 * sr)], sr), wavs[3], (rng.normal(0, 0.1, 40000).astype(np.float32), 8000)]
    alone = torch.cat([model.encode_audio([it], window_s=2.5) for i, it in enumerate(items) if i != 3])
    reads = []
    real_windows = clsp.audio.audio_windows
    monkeypatch.setattr(clsp.audio, "audio_windows", lambda item, *a: reads.append(item) or real_windows(item, *a))
    rejects = []
    together = model.encode_audio(items, batch_size=3, window_s=2.5, rejects=rejects)
    # the same vectors in input order: to 1e-3, as zero-padded frames next to a clip's last frames move its vector
    # by up to ~3e-4 (measured with this model: any batching, sorted or not); distinct clips differ by more
    gaps = (alone[:, None] - alone[None]).abs().amax(-1) + torch.eye(len(alone))
    assert gaps.min() > 4e-3 and torch.allclose(together, alone, atol=1e-3)
    assert [i for i, _ in rejects] == [3] and "bad.wav" in rejects[0][1]
    assert sorted(map(str, reads)) == sorted(map(str, items))  # each item read once
    with pytest.raises(ClspError, match="bad.wav"):  # without a rejects list: the bad item stops the call
        model.encode_audio(items, batch_size=3)
    assert not any(t.name == "clsp-audio-reader" for t in threading.enumerate())  # the loader thread ended


def test_score_and_classify_cli(model_dir, wavs, tmp_path, capsys):
    listing = tmp_path / "clips.txt"
    listing.write_text("\n".join(wavs[1:3]) + "\n")
    assert main(["score", "--model", str(model_dir), "--audio", wavs[0], "--audio-list", str(listing),
                 "--text", "A calm voice.", "--ref-audio", wavs[0], "--out", str(tmp_path / "s.json")]) == 0
    result = json.loads((tmp_path / "s.json").read_text())
    assert [r["audio"] for r in result["results"]] == wavs[:3]
    assert len(result["results"][2]["speech_text"]) == 1
    capsys.readouterr()
    assert main(["classify", "--model", str(model_dir), "--audio", *wavs[:2], "--labels", "male", "female"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["prompts"] == {"male": ["A male speaker."], "female": ["A female speaker."]}
    assert len(printed["results"]) == 2


@pytest.mark.parametrize("argv, message", [
    (["--audio", "/nope/x.wav", "--text", "A voice."], "/nope/x.wav: cannot read audio"),
    (["--text", "A voice."], "give clips with --audio and/or --audio-list"),
    (["--audio", "{wav}"], "give --text and/or --ref-audio"),
])
def test_score_cli_errors_are_one_line(model_dir, wavs, capsys, argv, message):
    argv = [a.format(wav=wavs[0]) for a in argv]
    assert main(["score", "--model", str(model_dir), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("clsp: error: ") and message in err[0]
