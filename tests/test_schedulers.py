"""Tests of schedulers/: the stage-2 task scheduler and the ScaledAdam + Eden optimiser builder."""

from __future__ import annotations

import io
import multiprocessing as mp
import os

import pytest

from clsp.config import load_config
from clsp.errors import ConfigError
from schedulers import TASK_FINE_FINE, TASK_GLOBAL_FINE, TaskSampler, TaskScheduleConfig, build_task_schedule

# torch and schedulers.optim are imported inside the optimiser tests only: the spawned processes of
# test_same_draws_on_every_rank_and_resume re-import this module, and torch would add ~2 s to each.


# ----------------------------------------------------------------------------- schedules


def test_dynamic_defaults():
    s = build_task_schedule(TaskScheduleConfig())
    for step, want in [(0, 0.95), (5000, 0.725), (10000, 0.50), (20000, 0.50), (2500, 0.8375)]:
        assert s.prob_task1(step) == pytest.approx(want, abs=1e-12)


def test_static_and_piecewise():
    s = build_task_schedule(TaskScheduleConfig(kind="static", p=0.3))
    assert [s.prob_task1(t) for t in (0, 7, 10**7)] == [0.3, 0.3, 0.3]
    pw = build_task_schedule(TaskScheduleConfig(kind="piecewise", points=[[100, 0.9], [300, 0.5], [400, 0.7]]))
    cases = [(0, 0.9), (100, 0.9), (200, 0.7), (250, 0.6), (300, 0.5), (350, 0.6), (400, 0.7), (10**6, 0.7)]
    for step, want in cases:
        assert pw.prob_task1(step) == pytest.approx(want, abs=1e-12), step
    one = build_task_schedule(TaskScheduleConfig(kind="piecewise", points=[[50, 0.2]]))
    assert one.prob_task1(0) == one.prob_task1(50) == one.prob_task1(999) == 0.2
    jump = build_task_schedule(TaskScheduleConfig(kind="piecewise", points=[[0, 1.0], [10, 1.0], [10, 0.0]]))
    assert (jump.prob_task1(9), jump.prob_task1(10), jump.prob_task1(11)) == (1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="step must be >= 0"):
        s.prob_task1(-1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(p0=1.5), "key 'p0' must be in [0, 1], got 1.5"),
        (dict(p_min=-0.1), "key 'p_min' must be in [0, 1], got -0.1"),
        (dict(kind="static", p=2.0), "key 'p' must be in [0, 1], got 2.0"),
        (dict(p0=0.4, p_min=0.5), "key 'p_min' must be <= p0"),
        (dict(total_steps=0), "key 'total_steps' must be > 0, got 0"),
        (dict(kind="piecewise"), "key 'points' must hold at least one"),
        (dict(kind="piecewise", points=[[10, 0.5], [5, 0.6]]), "key 'points' must be sorted by step"),
        (dict(kind="piecewise", points=[[10, 0.5, 3]]), "key 'points[0]' must be a [step, p] pair"),
        (dict(kind="piecewise", points=[[10, 1.2]]), "key 'points[0]' must be in [0, 1], got 1.2"),
        (dict(kind="cosine"), "key 'kind' must be one of"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError) as e:
        TaskScheduleConfig(**kwargs).validate()
    assert message in str(e.value)


def test_load_config_integration(tmp_path):
    cfg = load_config(TaskScheduleConfig, None, ["kind=piecewise", "points=[[0, 0.9], [100, 0.5]]", "seed=3"])
    assert cfg.points == [[0.0, 0.9], [100.0, 0.5]] and cfg.seed == 3
    with pytest.raises(ConfigError, match=r"--set: key 'p0' must be in \[0, 1\], got 1.5"):
        load_config(TaskScheduleConfig, None, ["p0=1.5"])
    from schedulers import OptimConfig

    ocfg = load_config(OptimConfig, None, ["lr_scales={speech_encoder: 0.0222, text_encoder: 0}"])
    assert ocfg.lr_scales == {"speech_encoder": 0.0222, "text_encoder": 0.0}
    with pytest.raises(ConfigError, match="key 'lr_scales.text_encoder' must be >= 0, got -1.0"):
        load_config(OptimConfig, None, ["lr_scales={text_encoder: -1}"])
    with pytest.raises(ConfigError, match="key 'warmup_start' must be in"):
        load_config(OptimConfig, None, ["warmup_start=1.5"])


# ----------------------------------------------------------------------------- draws


def _fraction_task1(sampler: TaskSampler, steps: range) -> float:
    return sum(sampler.draw(t) == TASK_GLOBAL_FINE for t in steps) / len(steps)


def test_draw_frequencies():
    static = TaskSampler.from_config(TaskScheduleConfig(kind="static", p=0.7, seed=11))
    assert abs(_fraction_task1(static, range(20000)) - 0.7) < 0.02
    dyn = TaskSampler(build_task_schedule(TaskScheduleConfig()), seed=5)
    for window, tol in [(range(0, 2000), 0.03), (range(4000, 6000), 0.03), (range(10000, 30000), 0.02)]:
        expected = sum(dyn.probability(t) for t in window) / len(window)
        assert abs(_fraction_task1(dyn, window) - expected) < tol, (window, expected)
    assert {dyn.draw(t) for t in range(1000)} == {TASK_GLOBAL_FINE, TASK_FINE_FINE}
    always = TaskSampler(build_task_schedule(TaskScheduleConfig(kind="static", p=1.0)))
    never = TaskSampler(build_task_schedule(TaskScheduleConfig(kind="static", p=0.0)))
    assert all(always.draw(t) == TASK_GLOBAL_FINE for t in range(2000))
    assert all(never.draw(t) == TASK_FINE_FINE for t in range(2000))


def _draw_worker(rank: int, seed: int, start: int, stop: int, queue) -> None:
    cfg = TaskScheduleConfig(seed=seed)
    sampler = TaskSampler(build_task_schedule(cfg), seed=cfg.seed)
    seq = "".join("1" if sampler.draw(t) == TASK_GLOBAL_FINE else "2" for t in range(start, stop))
    queue.put((rank, os.getpid(), seq))


def test_same_draws_on_every_rank_and_resume(monkeypatch):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    jobs = [(0, 0, 0, 5000), (1, 0, 0, 5000), (2, 1, 0, 5000), (3, 0, 2500, 5000)]
    procs = []
    for i, args in enumerate(jobs):
        monkeypatch.setenv("PYTHONHASHSEED", str(100 + i))  # different str hashing in every process
        procs.append(ctx.Process(target=_draw_worker, args=(*args, queue)))
        procs[-1].start()
    results = {}
    for _ in jobs:
        rank, pid, seq = queue.get(timeout=600)  # 4 fresh interpreters on a loaded machine
        results[rank] = (pid, seq)
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert len({pid for pid, _ in results.values()} | {os.getpid()}) == 5
    seq0, seq1, other, tail = (results[r][1] for r in range(4))
    assert len(seq0) == 5000 and seq0 == seq1
    assert seq0 != other  # a different seed gives a different sequence
    assert tail == seq0[2500:]  # a fresh sampler resuming at step 2500
    here = TaskSampler(build_task_schedule(TaskScheduleConfig()), seed=0)
    assert "".join("1" if here.draw(t) == TASK_GLOBAL_FINE else "2" for t in range(5000)) == seq0


# ----------------------------------------------------------------------------- optimiser


def _tiny_model():
    """A CLSP-shaped toy: two encoders, two projections and a logit_scale parameter."""
    import torch
    from torch import nn

    class _Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.speech_encoder = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8))
            self.text_encoder = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 8))
            self.audio_projection = nn.Linear(8, 4)
            self.text_projection = nn.Linear(8, 4)
            self.logit_scale = nn.Parameter(torch.tensor(2.0))

        def loss(self, x, y):
            a = self.audio_projection(self.speech_encoder(x))
            t = self.text_projection(self.text_encoder(y))
            logits = self.logit_scale.exp() * a @ t.T
            return nn.functional.cross_entropy(logits, torch.arange(len(x)))

    return _Tiny()


def _train(model, optimizer, scheduler, steps: int, seed: int = 0) -> None:
    import torch

    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x, y = torch.randn(8, 6, generator=gen), torch.randn(8, 5, generator=gen)
        optimizer.zero_grad()
        model.loss(x, y).backward()
        optimizer.step()
        scheduler.step_batch()


def _eden(base, b, e, lb=100000.0, le=100.0, wb=500.0, ws=0.5):
    warm = 1.0 if b >= wb else ws + (1 - ws) * b / wb
    return base * ((b**2 + lb**2) / lb**2) ** -0.25 * ((e**2 + le**2) / le**2) ** -0.25 * warm


def test_groups_and_frozen_modules():
    import torch

    from schedulers import OptimConfig, build_optimizer, current_lrs

    torch.manual_seed(0)
    model = _tiny_model()
    cfg = OptimConfig(lr_scales={"speech_encoder": 0.0222, "text_encoder": 0})
    optimizer, scheduler = build_optimizer(model, cfg)
    base = cfg.base_lr
    assert sorted(g["base_lr"] for g in optimizer.param_groups) == pytest.approx(sorted([base * 0.0222, base]))
    assert sorted(current_lrs(optimizer)) == pytest.approx(sorted([base * 0.0222 * 0.5, base * 0.5]))
    in_opt = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert not any(id(p) in in_opt for p in model.text_encoder.parameters())
    assert not any(p.requires_grad for p in model.text_encoder.parameters())
    assert sum(len(g["params"]) for g in optimizer.param_groups) == 4 + 2 + 2 + 1
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _train(model, optimizer, scheduler, 3)
    for n, p in model.named_parameters():
        changed = not torch.equal(before[n], p.detach())
        assert changed == (not n.startswith("text_encoder.")), n
    # A second build (stage 2, same process) undoes the previous scales and freezing.
    opt2, _ = build_optimizer(model, OptimConfig(base_lr=0.001))
    assert all(p.requires_grad for p in model.parameters())
    assert [g["base_lr"] for g in opt2.param_groups] == [0.001]


def test_dotted_scale_and_unknown_name():
    from torch import nn

    from schedulers import OptimConfig, build_optimizer

    model = _tiny_model()
    opt, _ = build_optimizer(model, OptimConfig(base_lr=0.01, lr_scales={"speech_encoder": 0.5, "speech_encoder.2": 0}))
    assert not model.speech_encoder[2].weight.requires_grad and model.speech_encoder[0].weight.requires_grad
    assert sorted(g["base_lr"] for g in opt.param_groups) == pytest.approx([0.005, 0.01])
    with pytest.raises(ValueError) as e:
        build_optimizer(_tiny_model(), OptimConfig(lr_scales={"speech_encodr": 0.1}))
    msg = str(e.value)
    assert "optim.lr_scales: no module named 'speech_encodr'" in msg and "speech_encoder" in msg
    with pytest.raises(ValueError, match="no trainable parameters"):
        build_optimizer(nn.Sequential(nn.Linear(2, 2)), OptimConfig(lr_scales={"0": 0}))


@pytest.mark.parametrize("batch", [0, 250, 500, 10000])
def test_eden_matches_formula(batch):
    from schedulers import OptimConfig, build_optimizer, current_lrs

    model = _tiny_model()
    cfg = OptimConfig(lr_scales={"speech_encoder": 0.0222})
    optimizer, scheduler = build_optimizer(model, cfg)
    scales = [g["base_lr"] / cfg.base_lr for g in optimizer.param_groups]
    scheduler.step_batch(batch)
    assert current_lrs(optimizer) == pytest.approx([_eden(cfg.base_lr * s, batch, 0) for s in scales], rel=1e-12)
    scheduler.step_epoch(3)
    assert current_lrs(optimizer) == pytest.approx([_eden(cfg.base_lr * s, batch, 3) for s in scales], rel=1e-12)


def test_state_dict_round_trip():
    import torch

    from schedulers import OptimConfig, build_optimizer, current_lrs

    cfg = OptimConfig(lr_scales={"speech_encoder": 0.0222, "text_encoder": 0})
    torch.manual_seed(1)
    model = _tiny_model()
    optimizer, scheduler = build_optimizer(model, cfg)
    _train(model, optimizer, scheduler, 5)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": optimizer.state_dict(), "sched": scheduler.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    fresh = _tiny_model()
    fresh.load_state_dict(ckpt["model"])
    opt2, sched2 = build_optimizer(fresh, cfg)
    opt2.load_state_dict(ckpt["opt"])
    sched2.load_state_dict(ckpt["sched"])
    assert sched2.batch == scheduler.batch == 5 and current_lrs(opt2) == current_lrs(optimizer)
    _train(model, optimizer, scheduler, 1, seed=9)
    _train(fresh, opt2, sched2, 1, seed=9)
    for (n, a), (_, b) in zip(model.named_parameters(), fresh.named_parameters()):
        assert torch.equal(a, b), n
    assert current_lrs(opt2) == current_lrs(optimizer)
