"""Retrieval, zero-shot and style-similarity tasks with a tiny random model on real synthetic audio."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy import stats
from sklearn.metrics import top_k_accuracy_score

from clsp.audio import load_audio
from clsp.cli import main
from clsp.data.captions import get_captions
from clsp.data.manifest import read_cuts, split_manifest_path
from clsp.errors import ClspError
from eval.similarity import read_pairs, style_similarity
from eval.embed import embed_audio
from eval.tasks import caption_retrieval, pick_caption, zero_shot


@pytest.fixture(scope="module")
def test_cuts(small_corpus):
    return list(read_cuts(split_manifest_path(small_corpus, "test")))


def test_caption_choice_first_global_last_fine(test_cuts):
    cut = test_cuts[0]
    assert pick_caption(cut, "global") == get_captions(cut, kind="global", status="kept")[0].text
    assert pick_caption(cut, "fine") == get_captions(cut, kind="fine", status="kept")[-1].text
    assert pick_caption(cut, "fine", choice="first") == get_captions(cut, kind="fine")[0].text


@pytest.mark.parametrize("kind", ["global", "fine"])
def test_caption_retrieval_is_the_full_matrix_ranking(model, test_cuts, kind):
    result = caption_retrieval(model, test_cuts, kind)
    speech = model.encode_audio(test_cuts)
    text = model.encode_text([pick_caption(c, kind) for c in test_cuts])
    sim = (speech @ text.T).numpy()
    n = len(test_cuts)
    labels = np.arange(n)
    assert result["n"] == n and result["chance_R@1"] == pytest.approx(1 / n)
    for k in (1, 5, 10):
        assert result["speech_to_text"][f"R@{k}"] == pytest.approx(top_k_accuracy_score(labels, sim, k=k, labels=labels))
        assert result["text_to_speech"][f"R@{k}"] == pytest.approx(top_k_accuracy_score(labels, sim.T, k=k, labels=labels))
    # reusing precomputed embeddings gives the same figures
    assert caption_retrieval(model, test_cuts, kind, speech=speech)["speech_to_text"] == result["speech_to_text"]


def test_zero_shot_counts_and_agrees_with_argmax(model, test_cuts):
    labels = ["male", "female"]
    result = zero_shot(model, test_cuts, "gender", labels, ["A male speaker.", "A female speaker."])
    speech = model.encode_audio(test_cuts)
    pred = (speech @ model.encode_text(["A male speaker.", "A female speaker."]).T).argmax(1)
    true = torch.tensor([labels.index(c.custom["gender"]) for c in test_cuts])
    assert result["n"] == len(test_cuts) and result["skipped"] == 0
    assert result["WA"] == pytest.approx(float((pred == true).float().mean()))
    assert np.array(result["confusion"]).sum() == len(test_cuts)
    assert set(result["per_class_recall"]) == {"male", "female"}
    # a class with several prompts scores as its best prompt (CLSP's IEMOCAP happy + excited)
    multi = zero_shot(model, test_cuts, "gender", labels, [["A male speaker.", "A man talking."], "A female speaker."],
                      speech=speech)
    sim = speech @ model.encode_text(["A male speaker.", "A man talking.", "A female speaker."]).T
    pred = torch.stack([sim[:, :2].max(1).values, sim[:, 2]], 1).argmax(1)
    assert multi["WA"] == pytest.approx(float((pred == true).float().mean()))
    assert multi["prompts"]["male"] == ["A male speaker.", "A man talking."]
    # a label no clip has is skipped in UA (None) and clips outside the labels are counted as skipped
    partial = zero_shot(model, test_cuts, "gender", ["male", "robot"], ["A male speaker.", "A robot."])
    assert partial["per_class_recall"]["robot"] is None
    assert partial["skipped"] == sum(c.custom["gender"] == "female" for c in test_cuts)


def test_segmented_cuts_are_read_through_lhotse_in_eval(model, test_cuts):
    # cuts that start inside a longer recording (a VAD split, an imported corpus's segments): every eval path
    # reads the cut's own span of the file, never the whole file
    segs = [c.truncate(offset=0.4, duration=1.2) for c in test_cuts[:4]]
    seg, whole = segs[0], test_cuts[0]
    assert seg.start == pytest.approx(whole.start + 0.4) and seg.start > 0 and whole.duration > 2.0

    def span(cut):  # the cut's samples, read from its file by hand
        samples, sr = sf.read(cut.recording.sources[0].source, dtype="float32")
        assert sr == 16000
        return samples[round(cut.start * sr):round((cut.start + cut.duration) * sr)]

    read, want = load_audio(seg), span(seg)
    assert abs(len(read) - len(want)) <= 1
    n = min(len(read), len(want))
    np.testing.assert_allclose(read[:n], want[:n], atol=1e-6)
    expected = model.encode_audio([(span(c), 16000) for c in segs])
    got = embed_audio(model, segs)
    assert torch.allclose(got, expected, atol=1e-4)
    assert not torch.allclose(got[0], model.encode_audio([whole])[0], atol=1e-3)  # the whole file differs
    prompts = ["A male speaker.", "A female speaker."]
    assert zero_shot(model, segs, "gender", ["male", "female"], prompts) == \
        zero_shot(model, segs, "gender", ["male", "female"], prompts, speech=expected)


def write_ratings(tmp_path, small_corpus, rows):
    wavs = tmp_path / "wavs"
    if not wavs.exists():
        shutil.copytree(small_corpus / "wavs", wavs)
    path = tmp_path / "ratings.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_style_similarity_pairs_and_correlations(model, small_corpus, tmp_path):
    names = sorted(p.name for p in (small_corpus / "wavs").glob("*.wav"))[:6]
    rows = ["audio,text,ref_audio,rating,group"]
    for i, name in enumerate(names):
        rows.append(f"wavs/{name},,wavs/{name},5,intrinsic")  # a clip with itself: cosine 1
        rows.append(f"wavs/{name},,wavs/{names[(i + 1) % 6]},{i % 3},situational")
        rows.append(f'wavs/{name},"A {"deep" if i % 2 else "high"}, calm voice.",,{i},intrinsic')
    pairs = read_pairs(write_ratings(tmp_path, small_corpus, rows))
    assert len(pairs) == 18 and pairs[0].line == 2 and pairs[2].kind == "speech_text"
    result = style_similarity(model, pairs)
    sims = np.array([p["similarity"] for p in result["pairs"]])
    assert sims[0] == pytest.approx(1.0, abs=1e-5)
    for kind in ("speech_text", "speech_speech"):
        idx = [i for i, p in enumerate(pairs) if p.kind == kind]
        ratings = [pairs[i].rating for i in idx]
        assert result[kind]["n"] == len(idx)
        assert result[kind]["pearson"] == pytest.approx(stats.pearsonr(sims[idx], ratings).statistic, abs=1e-6)
        assert result[kind]["spearman"] == pytest.approx(stats.spearmanr(sims[idx], ratings).statistic, abs=1e-6)
    assert result["speech_speech"]["spearman"] > 0  # identical clips rated 5 score highest
    assert set(result["by_group"]) == {"speech_speech/intrinsic", "speech_speech/situational",
                                       "speech_text/intrinsic"}


@pytest.mark.parametrize("row, message", [
    ("wavs/{a},A voice.,,high", r"ratings.csv:3: column 'rating' must be a number, got 'high'"),
    ("wavs/{a},A voice.,wavs/{a},1", r"ratings.csv:3: fill exactly one of 'text'"),
    ("wavs/missing.wav,A voice.,,1", r"ratings.csv:3: column 'audio': audio file 'wavs/missing.wav' not found"),
    (",A voice.,,1", r"ratings.csv:3: column 'audio' is empty"),
])
def test_bad_rating_rows_name_file_and_line(small_corpus, tmp_path, row, message):
    a = sorted(p.name for p in (small_corpus / "wavs").glob("*.wav"))[0]
    path = write_ratings(tmp_path, small_corpus, ["audio,text,ref_audio,rating", f"wavs/{a},A voice.,,1",
                                                 row.format(a=a)])
    with pytest.raises(ClspError, match=message):
        read_pairs(path)


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("audio,score\nx.wav,1\n")
    with pytest.raises(ClspError, match=r"r.csv:1: missing column\(s\) rating, text or ref_audio"):
        read_pairs(path)


def test_eval_cli_writes_json_markdown_and_png(model_dir, small_corpus, tmp_path, capsys):
    manifest = str(split_manifest_path(small_corpus, "test"))
    out = tmp_path / "out"
    assert main(["eval", "retrieval", "--model", str(model_dir), "--manifest", manifest, "--kind", "fine",
                 "--out", str(out), "--quiet"]) == 0
    result = json.loads((out / "retrieval_fine.json").read_text())
    assert result["caption_choice"] == "last" and result["n"] == 12
    assert "| speech to text |" in (out / "retrieval_fine.md").read_text()
    assert main(["eval", "zeroshot", "--model", str(model_dir), "--manifest", manifest, "--label-field",
                 "speaking_rate", "--template", "A speaker talking at a {} rate.", "--out", str(out), "--quiet"]) == 0
    zs = json.loads((out / "zeroshot_speaking_rate.json").read_text())
    assert zs["labels"] == sorted({c.custom.get("speaking_rate") for c in read_cuts(manifest)} - {None})
    assert zs["prompts"]["slow"] == ["A speaker talking at a slow rate."]
    assert (out / "zeroshot_speaking_rate.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["eval", "zeroshot", "--model", str(model_dir), "--manifest", manifest]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["clsp: error: give --task PRESET or --label-field FIELD"]


def test_similarity_cli_and_preset_task(model_dir, small_corpus, tmp_path, capsys):
    a, b = sorted(p.name for p in (small_corpus / "wavs").glob("*.wav"))[:2]
    path = write_ratings(tmp_path, small_corpus, ["audio,text,ref_audio,rating", f"wavs/{a},,wavs/{a},5",
                                                 f"wavs/{a},,wavs/{b},1", f"wavs/{b},A calm voice.,,3",
                                                 f"wavs/{a},A loud voice.,,2"])
    assert main(["eval", "similarity", "--model", str(model_dir), "--pairs", str(path), "--out",
                 str(tmp_path / "out")]) == 0
    sim = json.loads((tmp_path / "out" / "similarity.json").read_text())
    assert sim["speech_speech"]["n"] == 2 and sim["speech_text"]["n"] == 2
    assert "Pearson r" in (tmp_path / "out" / "similarity.md").read_text()
    # a preset task on a manifest that lacks its labels: one-line error
    manifest = str(split_manifest_path(small_corpus, "test"))
    capsys.readouterr()
    assert main(["eval", "zeroshot", "--model", str(model_dir), "--manifest", manifest, "--task", "cremad_age"]) == 2
    assert "no cut has field 'age_bin'" in capsys.readouterr().err
