"""Training mechanics on the small synthetic corpus: exact resume, stage 2 caption handling, DDP on gloo."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from annotate.testing import TINY, params, tiny_train_config
from clsp.cli import main
from clsp.data import read_cuts, split_manifest_path, write_cuts
from clsp.data.captions import filter_captions
from clsp.errors import ClspError
from clsp.model import CLSPModel
from clsp.model.checkpoints import load_torch_file
from clsp.train.checkpoint import list_checkpoints
from clsp.train.trainer import train

REPO = Path(__file__).resolve().parents[1]


def test_resume_continues_exactly(small_corpus, tmp_path):
    straight = train(tiny_train_config("demo-stage1.yaml", "max_steps=8", "checkpoint_every=4"), small_corpus,
                     tmp_path / "a", progress=False)
    first = train(tiny_train_config("demo-stage1.yaml", "max_steps=4", "checkpoint_every=4"), small_corpus,
                  tmp_path / "b", progress=False)
    assert [s for s, _ in list_checkpoints(tmp_path / "b" / "checkpoints")] == [4]
    resumed = train(tiny_train_config("demo-stage1.yaml", "max_steps=8", "checkpoint_every=4"), small_corpus,
                    tmp_path / "b", progress=False)
    a, b = params(straight), params(resumed)
    assert set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    at_step_4 = load_torch_file(first.parent / "checkpoints" / "step-4.pt")["model"]
    assert not torch.equal(a["audio_projection.0.weight"], at_step_4["audio_projection.0.weight"])  # it trained on
    # the frozen text encoder did not move; the speech encoder did
    init = CLSPModel(tiny_train_config("demo-stage1.yaml").model).state_dict()
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
    stage1 = train(tiny_train_config("demo-stage1.yaml", "max_steps=2"), data, tmp_path / "s1", progress=False)
    cfg = tiny_train_config("demo-stage2.yaml", "max_steps=6", "tasks.kind=static", "tasks.p=0.5")
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
    cfg = tiny_train_config("demo-stage1.yaml", "max_steps=2", "data.max_duration=100000",
                            "data.buffer_size=50000")  # a buffer that could fill a batch (else that check speaks first)
    with pytest.raises(ClspError, match=r"cuts_train\.jsonl\.gz: an epoch gave no batch .*data\.max_duration=100000"):
        train(cfg, small_corpus, tmp_path / "run", progress=False)


def test_a_corpus_whose_audio_is_all_gone_stops_with_a_clear_error(small_corpus, tmp_path):
    # every batch left out (no readable audio): without the guard the run would skip batches forever
    from lhotse.utils import fastcopy

    def gone(i, cut):
        src = fastcopy(cut.recording.sources[0], source=str(tmp_path / "gone" / f"{cut.id}.wav"))
        return fastcopy(cut, recording=fastcopy(cut.recording, sources=[src]))

    _copy_train_split(small_corpus, tmp_path / "data", gone)
    with pytest.raises(ClspError, match=r"cuts_train\.jsonl\.gz: a whole epoch of \d+ batches gave no training step"
                                        r".*audio: file not found \d+"):
        train(tiny_train_config("demo-stage1.yaml", "max_steps=2"), tmp_path / "data", tmp_path / "run",
              progress=False)


def _copy_train_split(small_corpus, out, edit=None):
    """``out/cuts_train.jsonl.gz``: the corpus' train split, each cut passed through ``edit(i, cut)`` (None: left out)."""
    cuts = [edit(i, c) if edit else c for i, c in enumerate(read_cuts(split_manifest_path(small_corpus, "train")))]
    return write_cuts([c for c in cuts if c is not None], split_manifest_path(out, "train"))


def test_clips_with_non_finite_or_missing_audio_are_left_out_and_counted(small_corpus, tmp_path):
    import numpy as np
    import soundfile as sf
    from lhotse.utils import fastcopy

    def damage(i, cut):
        if i % 3 == 0:  # NaN and inf samples: must never reach the model
            path = tmp_path / "bad" / f"{cut.id}.wav"
            path.parent.mkdir(exist_ok=True)
            audio = cut.load_audio()[0].copy()
            audio[::50] = np.nan
            audio[1::97] = np.inf
            sf.write(path, audio, cut.sampling_rate, subtype="FLOAT")
        elif i % 3 == 1 and i < 12:
            path = tmp_path / "bad" / f"{cut.id}-missing.wav"  # a file that is not there
        else:
            return cut
        src = fastcopy(cut.recording.sources[0], source=str(path))
        return fastcopy(cut, recording=fastcopy(cut.recording, sources=[src]))

    _copy_train_split(small_corpus, tmp_path / "data", damage)
    model_dir = train(tiny_train_config("demo-stage1.yaml", "max_steps=4"), tmp_path / "data", tmp_path / "run",
                      progress=False)
    skipped = json.loads((tmp_path / "run" / "train_summary.json").read_text())["skipped"]
    assert skipped["audio: NaN or inf samples"] > 0 and skipped["audio: file not found"] > 0, skipped
    state = CLSPModel.from_pretrained(model_dir).state_dict()  # refuses non-finite weights
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


class NaNLossOnStep2(torch.nn.Module):
    """Fault injection: the real InfoNCE loss, except that its second call returns NaN."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        from clsp.losses import InfoNCELoss

        self.real, self.calls = InfoNCELoss(*args, **kwargs), 0

    def forward(self, *args):
        self.calls += 1
        out = self.real(*args)
        return {**out, "loss": out["loss"] * float("nan")} if self.calls == 2 else out


def test_a_non_finite_loss_stops_the_run_before_any_checkpoint_of_it(small_corpus, tmp_path, monkeypatch):
    import clsp.train.trainer as trainer

    monkeypatch.setattr(trainer, "InfoNCELoss", NaNLossOnStep2)
    with pytest.raises(ClspError) as err:
        train(tiny_train_config("demo-stage1.yaml", "max_steps=4", "checkpoint_every=1"), small_corpus,
              tmp_path / "run", progress=False)
    msg = str(err.value)
    assert msg.startswith("step 2: the loss is nan (not finite) on the batch of cuts ") and "\n" not in msg
    assert "step-1.pt" in msg and "synth7-" in msg  # names the cuts of the batch and the last good checkpoint
    assert [s for s, _ in list_checkpoints(tmp_path / "run" / "checkpoints")] == [1]
    assert not (tmp_path / "run" / "model").exists()


def test_bad_training_data_or_settings_are_one_line_errors(small_corpus, tmp_path, capsys):
    import gzip

    first = next(iter(read_cuts(split_manifest_path(small_corpus, "train"))))
    empty = tmp_path / "empty"
    write_cuts([], split_manifest_path(empty, "train"))
    dup = tmp_path / "dup"
    _copy_train_split(small_corpus, dup, lambda i, c: first if i == 3 else c)
    cut_short = tmp_path / "truncated"
    data = split_manifest_path(small_corpus, "train").read_bytes()
    split_manifest_path(cut_short, "train").parent.mkdir(parents=True)
    split_manifest_path(cut_short, "train").write_bytes(data[: len(data) // 2])
    no_rec = tmp_path / "norec"
    split_manifest_path(no_rec, "train").parent.mkdir(parents=True)
    raw = first.to_dict()
    raw.pop("recording")
    with gzip.open(split_manifest_path(no_rec, "train"), "wt") as f:
        f.write(json.dumps(raw) + "\n")
    args = ["train", "--config", str(REPO / "configs" / "demo-stage1.yaml"), "--quiet", *sum((["--set", o] for o in TINY), [])]
    for data_dir, extra, needle in [
        (empty, [], "cuts_train.jsonl.gz: the manifest holds no cuts"),
        (dup, [], f"cut id '{first.id}' appears twice"),
        (cut_short, [], "the file is damaged"),
        (no_rec, [], "has no recording"),
        (small_corpus, ["--set", "data.num_buckets=1"], "key 'data.num_buckets' must be >= 2, got 1"),
        (small_corpus, ["--set", "data.num_buckets=0"], "key 'data.num_buckets' must be >= 2, got 0"),
    ]:
        code = main([*args, *extra, "--data", str(data_dir), "--out", str(tmp_path / "run")])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("clsp: error:") and err.count("\n") == 1 and needle in err, (needle, err)
    assert not (tmp_path / "run" / "checkpoints").exists()


# ---- the trainer's DDP step on 2 gloo processes equals one process on the global batch ----------------------

DDP_STEP = ["max_steps=1", "data.stage1_kinds=[global]", "model.dropout=0.0"]


def equal_length_cuts(small_corpus, n=4):
    """``n`` train cuts cut to one length (no padding differs between batch sizes), one kept global caption each
    (the caption draw cannot differ between one and two processes)."""
    from lhotse import CutSet

    cuts = list(read_cuts(split_manifest_path(small_corpus, "train")))[:n]
    d = min(c.duration for c in cuts)
    out = []
    for c in cuts:
        first = next(x for x in c.custom["captions"] if x["kind"] == "global")["id"]
        out.append(filter_captions(c.truncate(duration=d), lambda x, first=first: x.id == first))
    return CutSet.from_cuts(out)


def one_step(small_corpus, out, rank, world):
    """Build the trainer (rank ``rank`` of ``world``), take one step on this rank's share of the global batch;
    return the loss and the parameters after the step. Dropout, layer skipping (eval mode) and Zipformer's
    random Balancer/Whiten gradient edits (prob 0) are off: everything else is the trainer's own step."""
    from clsp.train.trainer import Trainer

    trainer = Trainer(tiny_train_config("demo-stage1.yaml", *DDP_STEP), small_corpus, out, progress=False)
    trainer.model.eval()
    for m in trainer.model.modules():
        if type(m).__name__ in ("Balancer", "Whiten"):
            if isinstance(m.prob, torch.nn.Module):
                m.prob.default = 0.0  # a ScheduledFloat: in eval mode it gives its default
            else:
                m.prob = 0.0
    cuts = equal_length_cuts(small_corpus)
    share = len(cuts) // world
    batch = trainer.dataset[cuts.subset(first=share * (rank + 1)).subset(last=share)]
    grads, optimizer_step = {}, trainer.optimizer.step

    def spy():  # the gradients the optimiser is given (after DDP's all-reduce)
        grads.update({n: p.grad.detach().clone() for n, p in trainer.model.named_parameters() if p.grad is not None})
        optimizer_step()

    trainer.optimizer.step = spy
    result = trainer.train_step(batch)
    return {"loss": result["loss"], "clips": result["clips"], "grads": grads,
            "params": {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}}


def _ddp_worker(rank, world, init_file, small_corpus, out):
    import torch.distributed as dist

    os.environ.update(WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK="0", OMP_NUM_THREADS="1")
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.save(one_step(Path(small_corpus), Path(out) / f"run{rank}", rank, world), Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_the_ddp_step_on_two_processes_equals_one_process_on_the_global_batch(small_corpus, tmp_path):
    import torch.multiprocessing as mp

    single = one_step(small_corpus, tmp_path / "single", 0, 1)
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(small_corpus), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert single["clips"] == 4 and [r["clips"] for r in ranks] == [2, 2]
    for r in ranks:
        assert r["loss"] == pytest.approx(single["loss"], abs=1e-5)  # the loss over the global batch
    init = CLSPModel(tiny_train_config("demo-stage1.yaml", *DDP_STEP).model).state_dict()
    moved = [k for k, v in single["params"].items() if v.is_floating_point() and not torch.equal(v, init[k])]
    assert "audio_projection.0.weight" in moved and len(moved) > 20  # the step changed the trained parameters
    for r in ranks:  # the gradients the optimiser got are those of the global batch (DDP averaged them)
        assert set(r["grads"]) == set(single["grads"]) and len(single["grads"]) > 20
        # float32 sums in another order: measured worst 1.7e-4 of the tensor's largest element (a first-conv
        # bias whose gradient is a sum that nearly cancels), the rest under 2.5e-5; a DDP averaging bug is O(1)
        for key, g in single["grads"].items():
            assert (r["grads"][key] - g).abs().max() <= 1e-3 * g.abs().max() + 1e-9, key
    # ...and so the parameters after the step: equal, except that ScaledAdam's first step is about sign(grad),
    # which a gradient within rounding of zero may flip (observed: 0.001 % of the elements)
    differ = total = 0
    for key, value in single["params"].items():
        for r in ranks:
            d = (r["params"][key].double() - value.double()).abs() > 1e-6
            assert d.double().mean() < 0.01, key
            differ, total = differ + int(d.sum()), total + d.numel()
    assert differ / total < 1e-4, (differ, total)


def test_stage2_resume_continues_exactly(small_corpus, tmp_path):
    """Stage 2 adds the task draws (dynamic scheduler) and the frozen-text cache to what a resume must restore."""
    stage1 = train(tiny_train_config("demo-stage1.yaml", "max_steps=2"), small_corpus, tmp_path / "s1", progress=False)
    run = ["tasks.kind=dynamic", "tasks.p0=0.7", "tasks.p_min=0.3", "tasks.total_steps=4", "average_period=2"]
    straight = train(tiny_train_config("demo-stage2.yaml", "max_steps=4", "checkpoint_every=2", *run), small_corpus,
                     tmp_path / "a", init=stage1, progress=False)
    train(tiny_train_config("demo-stage2.yaml", "max_steps=2", "checkpoint_every=2", *run), small_corpus,
          tmp_path / "b", init=stage1, progress=False)
    saved = load_torch_file(tmp_path / "b" / "checkpoints" / "step-2.pt")
    assert saved["text_cache"] and saved["average"] is not None  # what stage 2 must carry over
    resumed = train(tiny_train_config("demo-stage2.yaml", "max_steps=4", "checkpoint_every=2", *run), small_corpus,
                    tmp_path / "b", init=stage1, progress=False)
    a, b = params(straight), params(resumed)
    assert set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    summaries = [json.loads((tmp_path / d / "train_summary.json").read_text()) for d in ("a", "b")]
    assert summaries[0] == {**summaries[1], "model": summaries[0]["model"]}


def test_optim_lr_epochs_lowers_the_lr_when_an_epoch_of_the_sampler_ends(small_corpus, tmp_path):
    # Eden's epoch factor ((e^2 + Le^2) / Le^2)^(-1/4): the trainer steps it when its sampler runs out
    from clsp.train.trainer import Trainer
    from schedulers.optim import current_lrs, eden_lr

    cfg = tiny_train_config("demo-stage1.yaml", "optim.lr_epochs=0.5")
    trainer = Trainer(cfg, small_corpus, tmp_path, progress=False)
    trainer._iter = trainer._loader()
    before = current_lrs(trainer.optimizer)
    while trainer.epoch == 0:
        trainer._next_batch()
    assert trainer.epoch == 1 and trainer.scheduler.epoch == 1
    o = cfg.optim
    ratio = (eden_lr(1.0, 0, 1, o.lr_batches, o.lr_epochs, o.warmup_batches, o.warmup_start)
             / eden_lr(1.0, 0, 0, o.lr_batches, o.lr_epochs, o.warmup_batches, o.warmup_start))
    assert ratio == pytest.approx(5 ** -0.25)  # Le = 0.5: a drop a default Le = 100 would not give
    assert current_lrs(trainer.optimizer) == pytest.approx([lr * ratio for lr in before], rel=1e-9)
