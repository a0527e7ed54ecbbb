"""Lhotse Shar exports: the round trip keeps every cut, sample and custom field; training on the export sees the
same batches (and learns the same weights) as training on the manifest; bad folders are one-line errors."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from annotate.testing import params, tiny_train_config
from clsp.cli import main
from clsp.data import read_cuts, split_manifest_path
from clsp.data.shar import read_shar
from clsp.errors import ClspError
from clsp.model import CLSPModel
from clsp.train.data import checked_train_manifest, make_sampler, open_train_cuts
from clsp.train.trainer import train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shar(small_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("shar") / "train"
    assert main(["manifest", "export-shar", "--manifest", str(split_manifest_path(small_corpus, "train")),
                 "--out", str(out), "--shard-size", "10"]) == 0
    return out


def test_round_trip_keeps_ids_samples_and_custom_fields(small_corpus, shar, capsys):
    original = list(read_cuts(split_manifest_path(small_corpus, "train")))
    shards = sorted(p.name for p in shar.iterdir())
    assert len(shards) == 2 * -(-len(original) // 10)  # a manifest and a tar per 10 cuts
    back = list(read_shar(shar))
    assert [c.id for c in back] == [c.id for c in original]
    for a, b in zip(original, back):
        assert b.custom == a.custom and b.custom.get("captions")  # captions, style labels, segments
        assert b.supervisions[0].text == a.supervisions[0].text and b.duration == a.duration
        assert b.recording.sources[0].type == "memory"  # read from the tar, not the wav file
        assert np.array_equal(b.load_audio(), a.load_audio())  # FLAC is lossless for 16-bit PCM


def test_a_loader_over_the_export_gives_the_same_batches(small_corpus, shar):
    cfg = tiny_train_config("demo-stage1.yaml", "data.max_duration=20", "data.num_buckets=3").data
    manifest = checked_train_manifest(small_corpus)
    assert checked_train_manifest(shar) == shar
    for epoch in (0, 1):
        batches = []
        for source in (manifest, shar):
            sampler = make_sampler(open_train_cuts(source), cfg, seed=3, rank=0, world_size=1)
            sampler.set_epoch(epoch)
            batches.append([[c.id for c in b] for b in sampler])
        assert len(batches[0]) > 3 and batches[0] == batches[1]
    first = next(iter(make_sampler(open_train_cuts(shar), cfg, seed=3, rank=0, world_size=1)))
    assert all(c.recording.sources[0].type == "memory" for c in first)


def test_training_on_the_export_learns_the_same_weights(small_corpus, shar, tmp_path):
    cfg = tiny_train_config("demo-stage1.yaml", "max_steps=3")
    a = params(train(cfg, small_corpus, tmp_path / "manifest", progress=False))
    b = params(train(cfg, shar, tmp_path / "shar", progress=False))
    assert all(torch.equal(a[k], b[k]) for k in a)
    torch.manual_seed(cfg.seed)  # the trainer's initial weights
    init = CLSPModel(cfg.model).state_dict()
    assert not torch.equal(b["audio_projection.0.weight"], init["audio_projection.0.weight"])  # it trained


def test_bad_shar_folders_are_one_line_errors(small_corpus, shar, tmp_path, capsys):
    not_shar = tmp_path / "notes"
    not_shar.mkdir()
    (not_shar / "readme.txt").write_text("hello")
    with pytest.raises(ClspError, match=r"notes: no 'cuts_train.jsonl.gz'.*nor is it a Lhotse Shar export"):
        checked_train_manifest(not_shar)
    broken = tmp_path / "broken"
    shutil.copytree(shar, broken)
    (broken / "recording.000001.tar").unlink()
    with pytest.raises(ClspError, match=r"broken: shard 000001 is incomplete"):
        checked_train_manifest(broken)
    stray = tmp_path / "stray"
    shutil.copytree(shar, stray)
    (stray / "notes.txt").write_text("x")
    assert main(["train", "--config", str(REPO / "configs" / "demo-stage1.yaml"), "--data", str(stray),
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"clsp: error: {stray}: 'notes.txt' is not part of a Lhotse Shar")
    # the export writes only into a new or empty folder
    assert main(["manifest", "export-shar", "--manifest", str(split_manifest_path(small_corpus, "train")),
                 "--out", str(stray)]) == 2
    assert "new or empty folder" in capsys.readouterr().err
