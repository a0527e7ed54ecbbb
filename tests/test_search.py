"""`search build|query`: index layout, exact results, resume after a crash, rejects, CLI."""

import json
import os

import numpy as np
import pytest
import torch
from lhotse.utils import fastcopy

from clsp.cli import main
from clsp.data.manifest import read_cuts, split_manifest_path, write_cuts
from clsp.errors import ClspError
from eval.embed import embed_audio
from eval.search import SearchIndex, build_index, query_index


@pytest.fixture(scope="module")
def manifest(small_corpus):
    return split_manifest_path(small_corpus, "test")


@pytest.fixture(scope="module")
def built(model, model_dir, manifest, tmp_path_factory):
    out = tmp_path_factory.mktemp("index")
    build_index(model, manifest, out, model_dir=model_dir, batch_size=5, progress=False)
    return out


class FaultInjectingModel:
    """Fault injection: the real model, but ``encode_audio`` raises after ``batches`` calls (a crash)."""

    def __init__(self, model, batches):
        self.model, self.left, self.calls = model, batches, 0
        self.config = model.config

    def encode_audio(self, *args, **kwargs):
        if self.left == 0:
            raise RuntimeError("injected crash")
        self.left -= 1
        self.calls += 1
        return self.model.encode_audio(*args, **kwargs)


def test_index_layout_rows_and_embeddings(model, built, manifest):
    header = json.loads((built / "index.json").read_text())
    cuts = list(read_cuts(manifest))
    assert header["complete"] and header["count"] == len(cuts) == 12 and header["dim"] == 512
    emb = np.load(built / "embeddings.npy")
    assert emb.dtype == np.float32 and emb.flags["C_CONTIGUOUS"] and emb.shape == (12, 512)
    assert [c.id for c in read_cuts(built / "cuts.jsonl.gz")] == [c.id for c in cuts]
    # batches are formed by length (encode_audio), so padding may differ: it moves a vector by < 2.5e-4 (test_score)
    assert np.allclose(emb, embed_audio(model, cuts, batch_size=5).numpy(), atol=1e-3)
    rows = json.loads((built / "rows.json").read_text())
    assert rows["ids"] == [c.id for c in cuts] and rows["audio"][0] == cuts[0].recording.sources[0].source
    assert not (built / "rejects.jsonl").exists() and not (built / "embeddings.partial.npy").exists()


def test_queries_are_exact(model, built):
    index = SearchIndex.open(built)
    texts = ["A woman speaks fast.", "A low, slow male voice."]
    results = query_index(index, model, texts=texts, audio=[index.audio[3]], top_k=4)
    expected = (index.embeddings @ model.encode_text(texts).T).T.topk(4, dim=1)
    for res, rows, scores in zip(results[:2], expected.indices, expected.values):
        assert [h["cut_id"] for h in res["results"]] == [index.ids[i] for i in rows.tolist()]
        assert [h["score"] for h in res["results"]] == pytest.approx(scores.tolist(), abs=1e-5)
        assert [h["rank"] for h in res["results"]] == [1, 2, 3, 4]
    by_audio = results[2]
    assert by_audio["kind"] == "audio" and by_audio["results"][0]["cut_id"] == index.ids[3]
    assert by_audio["results"][0]["score"] == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ClspError, match="dims"):
        index.search(torch.zeros(1, 7))


def test_a_crashed_build_resumes_where_it_stopped(model, model_dir, manifest, built, tmp_path):
    out = tmp_path / "index"
    with pytest.raises(RuntimeError, match="injected crash"):
        build_index(FaultInjectingModel(model, 2), manifest, out, model_dir=model_dir, batch_size=5, progress=False)
    assert not json.loads((out / "index.json").read_text())["complete"]
    assert len((out / "cuts.partial.jsonl").read_text().splitlines()) == 10
    with pytest.raises(ClspError, match="did not finish"):
        SearchIndex.open(out)
    resumed = FaultInjectingModel(model, 100)
    header = build_index(resumed, manifest, out, model_dir=model_dir, batch_size=5, progress=False)
    assert resumed.calls == 1  # only the last 2 clips were left
    assert header["complete"] and header["count"] == 12
    assert np.allclose(np.load(out / "embeddings.npy"), np.load(built / "embeddings.npy"), atol=1e-6)
    assert [c.id for c in read_cuts(out / "cuts.jsonl.gz")] == [c.id for c in read_cuts(manifest)]
    assert build_index(model, manifest, out, model_dir=model_dir)["reused"]


class CrashOnRename:
    """Fault injection: ``os.replace``/``os.unlink`` (every rename and removal of a build) raise on call
    number ``crash_at``, as a kill at that point would stop the build."""

    def __init__(self, crash_at: int):
        self.crash_at, self.calls = crash_at, 0
        self.replace, self.unlink = os.replace, os.unlink

    def _step(self, real, *args, **kwargs):
        self.calls += 1
        if self.calls == self.crash_at:
            raise KeyboardInterrupt(f"injected crash at file operation {self.calls}")
        return real(*args, **kwargs)

    def install(self, monkeypatch):
        monkeypatch.setattr(os, "replace", lambda *a, **k: self._step(self.replace, *a, **k))
        monkeypatch.setattr(os, "unlink", lambda *a, **k: self._step(self.unlink, *a, **k))


@pytest.mark.parametrize("reject_one", [False, True], ids=["all-rows", "one-rejected"])
def test_a_build_killed_anywhere_in_its_finish_resumes_to_the_right_index(model, model_dir, manifest, tmp_path,
                                                                          monkeypatch, reject_one):
    """Crash the build at every rename/removal in turn (the finish is a sequence of them), then build again:
    the index must equal an uninterrupted build (never zeros, never a half-written file)."""
    cuts = sorted(read_cuts(manifest), key=lambda c: c.duration)[:3]  # short clips: each build is quick
    if reject_one:
        src = cuts[1].recording.sources[0]
        cuts[1] = fastcopy(cuts[1], recording=fastcopy(cuts[1].recording, sources=[fastcopy(src, source="/nope.wav")]))
    source = write_cuts(cuts, tmp_path / "cuts_src.jsonl.gz")
    clean = build_index(model, source, tmp_path / "clean", model_dir=model_dir, batch_size=3, progress=False)
    expected = np.load(tmp_path / "clean" / "embeddings.npy")
    crash_at, crashed = 1, True
    while crashed:
        out = tmp_path / f"crash{crash_at}"
        fault = CrashOnRename(crash_at)
        with monkeypatch.context() as m:
            fault.install(m)
            try:
                build_index(model, source, out, model_dir=model_dir, batch_size=3, progress=False)
                crashed = False
            except KeyboardInterrupt:
                pass
        header = build_index(model, source, out, model_dir=model_dir, batch_size=3, progress=False)
        assert header["complete"] and header["count"] == clean["count"], crash_at
        assert np.array_equal(np.load(out / "embeddings.npy"), expected), f"crash at file operation {crash_at}"
        index = SearchIndex.open(out)
        assert index.ids == SearchIndex.open(tmp_path / "clean").ids
        assert not [p.name for p in out.iterdir() if "partial" in p.name or p.name.endswith(".tmp")], crash_at
        crash_at += 1
    print(f"crash points tried: {crash_at - 1}")
    assert crash_at > 6  # the finish window was crossed step by step


def test_a_damaged_index_is_a_one_line_error(model_dir, built, tmp_path, capsys):
    import shutil

    for name, damage in [("embeddings.npy", b"\x93NUMPY garbage"), ("rows.json", b'{"ids": ['),
                         ("index.json", b"{not json")]:
        copy = tmp_path / name
        shutil.copytree(built, copy)
        (copy / name).write_bytes(damage)
        assert main(["search", "query", "--index", str(copy), "--text", "x", "--model", str(model_dir)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("clsp: error:") and err.count("\n") == 1 and "damaged" in err, (name, err)


def test_unreadable_clips_are_rejected_and_listed(model, manifest, tmp_path):
    cuts = list(read_cuts(manifest))[:4]
    src = cuts[1].recording.sources[0]
    broken = fastcopy(cuts[1], recording=fastcopy(cuts[1].recording, sources=[fastcopy(src, source="/nope.wav")]))
    path = write_cuts([cuts[0], broken, *cuts[2:]], tmp_path / "cuts_x.jsonl.gz")
    header = build_index(model, path, tmp_path / "index", batch_size=3, progress=False)
    assert header["count"] == 3 and header["rejected"] == 1
    (reject,) = [json.loads(x) for x in (tmp_path / "index" / "rejects.jsonl").read_text().splitlines()]
    assert reject["cut_id"] == cuts[1].id and "cannot load audio" in reject["message"]
    assert reject["code"] == "audio_error" and reject["manifest"] == "cuts_x.jsonl.gz"
    index = SearchIndex.open(tmp_path / "index")
    assert index.ids == [cuts[0].id, cuts[2].id, cuts[3].id] and index.embeddings.shape == (3, 512)
    other = write_cuts(cuts[:2], tmp_path / "cuts_y.jsonl.gz")
    with pytest.raises(ClspError, match="another manifest or model"):
        build_index(model, other, tmp_path / "index")


def test_search_cli(model_dir, manifest, tmp_path, capsys):
    out = tmp_path / "idx"
    assert main(["search", "build", "--model", str(model_dir), "--manifest", str(manifest), "--out", str(out),
                 "--quiet"]) == 0
    assert "search index: 12 clips x 512 dims built" in capsys.readouterr().out
    assert main(["search", "query", "--index", str(out), "--text", "A calm voice.", "--top-k", "3"]) == 0
    result = json.loads(capsys.readouterr().out)
    (q,) = result["queries"]
    assert q["query"] == "A calm voice." and len(q["results"]) == 3
    assert main(["search", "query", "--index", str(out)]) == 2
    assert capsys.readouterr().err.strip() == "clsp: error: give --text and/or --audio queries"
    assert main(["search", "query", "--index", str(tmp_path), "--text", "x"]) == 2
    assert "not a search index" in capsys.readouterr().err
