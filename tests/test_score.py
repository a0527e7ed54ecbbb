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
