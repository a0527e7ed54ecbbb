"""Stage 3 (attribute-sensitive fine-tuning) and joint grounding in the trainer, and their configs."""

import json
from dataclasses import replace
from pathlib import Path

import torch

from annotate.testing import TINY, TINY_RUN
from clsp.config import load_config
from clsp.data import read_cuts, split_manifest_path, write_cuts
from clsp.data.captions import get_captions, with_captions
from clsp.model import CLSPModel
from clsp.train.config import TrainConfig
from clsp.train.trainer import NOTHING_TO_PERTURB, train

REPO = Path(__file__).resolve().parents[1]


def test_xlarge_stage3_config_matches_the_recipe():
    """finetune_stage3.sh/.py: lr 0.001, max-duration 750, bf16, Task 1 only, global + 0.2 x local."""
    cfg = load_config(TrainConfig, REPO / "configs" / "clsp-xlarge-stage3.yaml")
    assert cfg.stage == 3 and cfg.loss_kind == "multi_positive" and cfg.loss.lam == 0.5
    assert cfg.loss.local_weight == 0.2
    assert cfg.optim.base_lr == 0.001 and cfg.optim.lr_scales == {}
    assert (cfg.optim.warmup_batches, cfg.optim.warmup_start, cfg.optim.lr_batches, cfg.optim.lr_epochs) == (
        500, 0.5, 100000, 100)
    assert cfg.data.max_duration == 750 and cfg.bf16 and cfg.average_period == 200 and cfg.large_batch_count
    assert cfg.grounding.weight == 0  # the recipe has none
    # the same model as the other XLarge configs (stage 3 starts from the stage-1 export)
    stage1 = load_config(TrainConfig, REPO / "configs" / "clsp-xlarge-stage1.yaml")
    assert cfg.model == stage1.model
    assert cfg.model.speech.zipformer.encoder_dim == [1280] * 7 and cfg.model.text.name_or_path == "roberta-base"


def test_demo_stage3_config():
    cfg = load_config(TrainConfig, REPO / "configs" / "demo-stage3.yaml")
    assert cfg.stage == 3 and cfg.loss.local_weight == 0.2 and cfg.grounding.weight > 0
    assert cfg.threads == 2 and cfg.optim.lr_scales == {"text_encoder": 0.0}
    assert load_config(TrainConfig, None).loss.local_weight == 0.2  # the default


def _unperturbable(cut, every: int, index: int):
    """Every ``every``-th clip's global captions say nothing a perturber can flip."""
    if index % every:
        return cut
    caps = [replace(c, text="The words are read out clearly, one by one.") if c.kind == "global" else c
            for c in get_captions(cut)]
    return with_captions(cut, caps)


def test_stage3_trains_local_and_frame_losses_skips_unperturbable_clips_and_resumes(small_corpus, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    cuts = list(read_cuts(split_manifest_path(small_corpus, "train")))
    write_cuts([_unperturbable(c, 3, i) for i, c in enumerate(cuts)], split_manifest_path(data, "train"))
    stage1 = train(load_config(TrainConfig, REPO / "configs" / "demo-stage1.yaml", [*TINY, "max_steps=2"]), data,
                   tmp_path / "s1", progress=False)
    assert CLSPModel.from_pretrained(stage1).frame_head is None

    def cfg(steps):
        return load_config(TrainConfig, REPO / "configs" / "demo-stage3.yaml",
                           [*TINY_RUN, f"max_steps={steps}", "checkpoint_every=2", "log_every=1"])

    straight = train(cfg(4), data, tmp_path / "a", init=stage1, progress=False)
    summary = json.loads((tmp_path / "a" / "train_summary.json").read_text())
    assert summary["steps"] == 4 and summary["skipped"][NOTHING_TO_PERTURB] > 0  # counted, never a crash
    model = CLSPModel.from_pretrained(straight)
    assert model.frame_head is not None and model.config.frame_head == cfg(4).grounding.head
    from recipes.report import read_scalars

    scalars = read_scalars(tmp_path / "a")
    for tag in ("train/loss_clip", "train/loss_local", "train/loss_frame", "train/frame_bias"):
        assert len(scalars[tag]) == 4, tag
    assert all(v > 0 for _, v in scalars["train/loss_local"] + scalars["train/loss_frame"])
    # the frame head and its calibration trained (tau, b moved from FineLAP's start)
    assert scalars["train/frame_bias"][-1][1] != -10.0
    # interrupted after step 2 and rerun: the same model, frame head included
    train(cfg(2), data, tmp_path / "b", init=stage1, progress=False)
    resumed = train(cfg(4), data, tmp_path / "b", init=stage1, progress=False)
    a, b = CLSPModel.from_pretrained(straight).state_dict(), CLSPModel.from_pretrained(resumed).state_dict()
    assert set(a) == set(b) and any(k.startswith("frame_head.") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_stage3_without_local_weight_perturbs_nothing(small_corpus, tmp_path):
    stage1 = train(load_config(TrainConfig, REPO / "configs" / "demo-stage1.yaml", [*TINY, "max_steps=1"]),
                   small_corpus, tmp_path / "s1", progress=False)
    cfg = load_config(TrainConfig, REPO / "configs" / "demo-stage3.yaml",
                      [*TINY_RUN, "max_steps=2", "loss.local_weight=0", "grounding.weight=0"])
    out = train(cfg, small_corpus, tmp_path / "s3", init=stage1, progress=False)
    summary = json.loads((tmp_path / "s3" / "train_summary.json").read_text())
    assert summary["steps"] == 2 and NOTHING_TO_PERTURB not in summary["skipped"]
    assert CLSPModel.from_pretrained(out).frame_head is None


def test_stage3_with_grounding_under_torchrun_ddp(small_corpus, tmp_path):
    """The frame head's calibration and the per-clip losses under DDP (gloo): every parameter marked once."""
    import os
    import subprocess
    import sys

    stage1 = train(load_config(TrainConfig, REPO / "configs" / "demo-stage1.yaml", [*TINY, "max_steps=1"]),
                   small_corpus, tmp_path / "s1", progress=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone", "-m", "clsp",
           "train", "--config", str(REPO / "configs" / "demo-stage3.yaml"), "--data", str(small_corpus), "--out",
           str(tmp_path / "ddp"), "--init", str(stage1), "--quiet",
           *sum((["--set", o] for o in [*TINY_RUN, "max_steps=2"]), [])]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads((tmp_path / "ddp" / "train_summary.json").read_text())["steps"] == 2
    assert CLSPModel.from_pretrained(tmp_path / "ddp" / "model").frame_head is not None
