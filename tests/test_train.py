"""Training mechanics on the small synthetic corpus: exact resume, stage 2 caption handling, DDP on gloo."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from clsp.config import load_config
from clsp.data import read_cuts, split_manifest_path, write_cuts
from clsp.data.captions import filter_captions
from clsp.errors import ClspError
from clsp.model import CLSPModel
from clsp.train.checkpoint import list_checkpoints
from clsp.train.config import TrainConfig
from clsp.train.trainer import train

REPO = Path(__file__).resolve().parents[1]
TINY_RUN = ["data.max_duration=30", "data.num_buckets=2", "log_every=2", "threads=1"]
TINY = [
    "model.speech.zipformer.encoder_dim=[48,64]", "model.speech.zipformer.feedforward_dim=[96,128]",
    "model.speech.zipformer.encoder_unmasked_dim=[32,48]", "model.speech.zipformer.num_heads=[2,2]",
    "model.speech.zipformer.embed_channels=[2,4,8]", *TINY_RUN,
]


def config(name, *overrides):
    """A shipped config made tiny; stage-2 configs start from an export, so only their run settings change."""
    base = TINY if "stage1" in name else TINY_RUN
    return load_config(TrainConfig, REPO / "configs" / name, [*base, *overrides])


def params(model_dir):
    return CLSPModel.from_pretrained(model_dir).state_dict()


def test_resume_continues_exactly(small_corpus, tmp_path):
    straight = train(config("demo-stage1.yaml", "max_steps=8", "checkpoint_every=4"), small_corpus,
                     tmp_path / "a", progress=False)
    first = train(config("demo-stage1.yaml", "max_steps=4", "checkpoint_every=4"), small_corpus,
                  tmp_path / "b", progress=False)
    assert [s for s, _ in list_checkpoints(tmp_path / "b" / "checkpoints")] == [4]
    resumed = train(config("demo-stage1.yaml", "max_steps=8", "checkpoint_every=4"), small_corpus,
                    tmp_path / "b", progress=False)
    a, b = params(straight), params(resumed)
    assert set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    at_step_4 = torch.load(first.parent / "checkpoints" / "step-4.pt", weights_only=False)["model"]
    assert not torch.equal(a["audio_projection.0.weight"], at_step_4["audio_projection.0.weight"])  # it trained on
    # the frozen text encoder did not move; the speech encoder did
    init = CLSPModel(config("demo-stage1.yaml").model).state_dict()
    assert torch.equal(a["text_encoder.model.embeddings.word_embeddings.weight"],
                       init["text_encoder.model.embeddings.word_embeddings.weight"])


def test_stage2_skips_clips_without_the_needed_captions(small_corpus, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    cuts = list(read_cuts(split_manifest_path(small_corpus, "train")))
    # a third of the clips lose their global captions, a third keep a single fine caption
    edited = []
    for i, cut in enumerate(cuts):
        if i % 3 == 0:
            cut = filter_captions(cut, lambda c: c.kind != "global")
        elif i % 3 == 1:
            fines = [c for c in cut.custom["captions"] if c["kind"] == "fine"]
            keep = fines[0]["id"]
            cut = filter_captions(cut, lambda c, keep=keep: c.kind == "global" or c.id == keep)
        edited.append(cut)
    write_cuts(edited, split_manifest_path(data, "train"))
    stage1 = train(config("demo-stage1.yaml", "max_steps=2"), data, tmp_path / "s1", progress=False)
    cfg = config("demo-stage2.yaml", "max_steps=6", "tasks.kind=static", "tasks.p=0.5")
    model_dir = train(cfg, data, tmp_path / "s2", init=stage1, progress=False)
    summary = json.loads((tmp_path / "s2" / "train_summary.json").read_text())
    assert summary["steps"] == 6
    assert summary["skipped"].get("task1: no global caption", 0) > 0
    assert summary["skipped"].get("task2: fewer than 2 fine captions", 0) > 0
    assert (model_dir / "model.safetensors").is_file()


def test_torchrun_ddp_on_gloo(small_corpus, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
           "-m", "clsp", "train", "--config", str(REPO / "configs" / "demo-stage1.yaml"), "--data",
           str(small_corpus), "--out", str(tmp_path / "ddp"), "--quiet", *sum((["--set", o] for o in
                                                                                [*TINY, "max_steps=3"]), [])]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "train: model exported to" in run.stdout
    summary = json.loads((tmp_path / "ddp" / "train_summary.json").read_text())
    assert summary["steps"] == 3
    assert CLSPModel.from_pretrained(tmp_path / "ddp" / "model").encode_text(["a"]).shape == (1, 512)


def test_a_corpus_too_small_for_one_batch_stops_with_a_clear_error(small_corpus, tmp_path):
    # drop-last max-duration batches that never fill would make every epoch empty: an endless loop
    cfg = config("demo-stage1.yaml", "max_steps=2", "data.max_duration=100000")
    with pytest.raises(ClspError, match=r"cuts_train\.jsonl\.gz: an epoch gave no batch .*data\.max_duration=100000"):
        train(cfg, small_corpus, tmp_path / "run", progress=False)
