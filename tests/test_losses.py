"""Tests for clsp.losses: hand-computed values, special cases, gather logic and a real 2-process gloo run."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from clsp.losses import (
    InfoNCELoss,
    MultiPositiveInfoNCELoss,
    SigmoidLoss,
    backward_scale,
    gather_features,
)


def _np_log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max()
    return x - m - math.log(np.exp(x - m).sum())


def _np_multi_positive(s: np.ndarray, t: np.ndarray, scale: float, weights) -> float:
    """Reference with explicit loops; t rows are [captions_1 (B); ...; captions_K (B)]."""
    b, k = s.shape[0], len(weights)
    s2t = 0.0
    for i in range(b):
        lp = _np_log_softmax(scale * t @ s[i])
        s2t -= sum(weights[c] * lp[c * b + i] for c in range(k))
    t2s = 0.0
    for j in range(k * b):
        t2s -= _np_log_softmax(scale * s @ t[j])[j % b]
    return (s2t / b + t2s / (k * b)) / 2


def _np_sigmoid(s: np.ndarray, t: np.ndarray, scale: float, bias: float) -> float:
    b = s.shape[0]
    total = 0.0
    for i in range(b):
        for j in range(t.shape[0]):
            y = 1.0 if j % b == i else -1.0
            z = y * (scale * float(s[i] @ t[j]) + bias)
            total += math.log(1.0 / (1.0 + math.exp(-z)))
    return -total / b


def _unit(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g, dtype=torch.float64), dim=-1)


# ---------------------------------------------------------------- InfoNCE


def test_infonce_closed_form_identity():
    s = 3.0
    out = InfoNCELoss()(torch.eye(2), torch.eye(2), torch.tensor(s))
    # each row/column: -log(e^s / (e^s + 1)) = log(1 + e^-s)
    assert out["loss"].item() == pytest.approx(math.log1p(math.exp(-s)), rel=1e-6)
    assert out["logits_per_speech"].shape == (2, 2)


def test_infonce_explicit_two_clips():
    sp = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    tx = torch.tensor([[0.8, 0.6], [0.0, 1.0]])
    scale = 2.0
    # logits = scale * sp @ tx^T = 2 * [[0.8, 0.0], [0.96, 0.8]]
    l = [[1.6, 0.0], [1.92, 1.6]]
    s2t = (-(1.6 - math.log(math.exp(1.6) + 1)) - (1.6 - math.log(math.exp(1.92) + math.exp(1.6)))) / 2
    t2s = (-(1.6 - math.log(math.exp(1.6) + math.exp(1.92))) - (1.6 - math.log(1 + math.exp(1.6)))) / 2
    out = InfoNCELoss()(sp, tx, torch.tensor(scale))
    assert torch.allclose(out["logits_per_speech"], torch.tensor(l), atol=1e-6)
    assert out["loss"].item() == pytest.approx((s2t + t2s) / 2, rel=1e-6)


def test_infonce_random_matches_numpy():
    s, t = _unit(5, 4, seed=1), _unit(5, 4, seed=2)
    got = InfoNCELoss()(s, t, torch.tensor(7.0, dtype=torch.float64))["loss"].item()
    assert got == pytest.approx(_np_multi_positive(s.numpy(), t.numpy(), 7.0, (1.0,)), rel=1e-10)


# ---------------------------------------------------------------- multi-positive


def test_multi_positive_closed_form_duplicate_captions():
    s = 2.5
    t = torch.cat([torch.eye(2), torch.eye(2)])  # both captions equal the speech features
    got = MultiPositiveInfoNCELoss((0.5, 0.5))(torch.eye(2), t, torch.tensor(s))["loss"].item()
    # s2t row: [s, 0, s, 0] -> -(s - log(2e^s + 2)) = log(2 + 2e^-s); t2s column: log(1 + e^-s)
    expected = (math.log(2 + 2 * math.exp(-s)) + math.log1p(math.exp(-s))) / 2
    assert got == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.7, 0.3), (0.2, 0.3, 0.5)])
def test_multi_positive_random_matches_numpy(weights):
    b, k = 4, len(weights)
    s, t = _unit(b, 6, seed=3), _unit(k * b, 6, seed=4)
    got = MultiPositiveInfoNCELoss(weights)(s, t, torch.tensor(5.0, dtype=torch.float64))
    assert got["logits_per_speech"].shape == (b, k * b)
    assert got["loss"].item() == pytest.approx(_np_multi_positive(s.numpy(), t.numpy(), 5.0, weights), rel=1e-10)


@pytest.mark.parametrize("seed", range(8))
def test_multi_positive_k1_equals_infonce(seed):
    s, t = _unit(16, 8, seed=seed).float(), _unit(16, 8, seed=seed + 100).float()
    scale = torch.tensor(12.0)
    a = InfoNCELoss()(s, t, scale)
    b = MultiPositiveInfoNCELoss((1.0,))(s, t, scale)
    assert torch.equal(a["logits_per_speech"], b["logits_per_speech"])
    assert torch.equal(a["loss"], b["loss"])  # bit-for-bit, not just close


def test_multi_positive_weights_one_zero_is_first_caption_ce():
    bsz = 3
    s, t = _unit(bsz, 4, seed=7), _unit(2 * bsz, 4, seed=8)
    scale = 4.0
    got = MultiPositiveInfoNCELoss((1.0, 0.0))(s, t, torch.tensor(scale, dtype=torch.float64))["loss"]
    logits = scale * s @ t.T  # (B, 2B)
    s2t = F.cross_entropy(logits, torch.arange(bsz))  # target = first caption, over all 2B texts
    t2s = F.cross_entropy(logits.T, torch.arange(bsz).repeat(2))  # unchanged: every text -> its clip
    assert torch.allclose(got, (s2t + t2s) / 2, atol=1e-12)


def test_multi_positive_rejects_bad_input():
    with pytest.raises(ValueError):
        MultiPositiveInfoNCELoss((0.5, 0.4))
    with pytest.raises(ValueError):
        MultiPositiveInfoNCELoss((0.5, 0.5))(torch.eye(2), torch.eye(2), torch.tensor(1.0))


# ---------------------------------------------------------------- sigmoid


def test_sigmoid_closed_form_identity():
    n, s, b = 3, 4.0, -1.5
    got = SigmoidLoss()(torch.eye(n), torch.eye(n), torch.tensor(s), torch.tensor(b))["loss"].item()
    logsig = lambda z: -math.log1p(math.exp(-z))  # noqa: E731
    assert got == pytest.approx(-(logsig(s + b) + (n - 1) * logsig(-b)), rel=1e-6)


def test_sigmoid_random_k2_matches_numpy():
    bsz = 4
    s, t = _unit(bsz, 5, seed=9), _unit(2 * bsz, 5, seed=10)
    out = SigmoidLoss(num_positives=2)(
        s, t, torch.tensor(8.0, dtype=torch.float64), torch.tensor(-3.0, dtype=torch.float64)
    )
    assert out["loss"].item() == pytest.approx(_np_sigmoid(s.numpy(), t.numpy(), 8.0, -3.0), rel=1e-10)


def test_gradients_finite_and_perfect_alignment():
    s = _unit(4, 6, seed=11).float().requires_grad_()
    t = _unit(8, 6, seed=12).float().requires_grad_()
    scale, bias = torch.tensor(10.0, requires_grad=True), torch.tensor(-5.0, requires_grad=True)
    loss = SigmoidLoss(2)(s, t, scale, bias)["loss"] + MultiPositiveInfoNCELoss()(s, t, scale)["loss"]
    loss.backward()
    for x in (s, t, scale, bias):
        assert torch.isfinite(x.grad).all()

    eye = torch.eye(4)
    assert SigmoidLoss(2)(eye, torch.cat([eye, eye]), torch.tensor(100.0), torch.tensor(-50.0))["loss"] < 1e-6
    assert InfoNCELoss()(eye, eye, torch.tensor(100.0))["loss"] < 1e-6


# ---------------------------------------------------------------- gather


def test_gather_world_size_one_is_identity():
    x = torch.randn(3, 4, requires_grad=True)
    assert gather_features(x, 0, 1) is x
    assert backward_scale(1) == 1.0 and backward_scale(4) == 4.0


def test_gather_reinserts_own_slice(monkeypatch):
    world, rank = 3, 1
    x = torch.randn(2, 4, requires_grad=True)
    others = [torch.full((2, 4), float(r)) for r in range(world)]

    def fake_all_gather(tensor_list, tensor):
        assert not torch.is_grad_enabled()
        for r, out in enumerate(tensor_list):
            out.copy_(tensor if r == rank else others[r])

    monkeypatch.setattr(dist, "all_gather", fake_all_gather)
    g = gather_features(x, rank, world)
    assert g.shape == (6, 4)
    assert torch.equal(g[:2], others[0]) and torch.equal(g[4:], others[2]) and torch.equal(g[2:4], x)
    g.sum().backward()  # gradient reaches only this rank's own rows
    assert torch.equal(x.grad, torch.ones_like(x))


def test_text_layout_mapping(monkeypatch):
    """Rank-major gathered texts are re-laid out so text (rank r, caption k, row i) belongs to clip r*B+i."""
    world, rank, bsz, k = 2, 0, 2, 2
    # clip c has speech e_c and caption-k text e_c (perfectly aligned); rank r holds clips r*B..r*B+B-1
    eye = torch.eye(world * bsz)
    speech = [eye[r * bsz:(r + 1) * bsz] for r in range(world)]
    texts = [torch.cat([speech[r]] * k) for r in range(world)]

    def fake_all_gather(tensor_list, tensor):
        src = texts if tensor.shape[0] == k * bsz else speech
        for r, out in enumerate(tensor_list):
            out.copy_(src[r])

    monkeypatch.setattr(dist, "all_gather", fake_all_gather)
    out = SigmoidLoss(k, rank, world)(speech[rank], texts[rank], torch.tensor(100.0), torch.tensor(-50.0))
    assert out["logits_per_speech"].shape == (4, 8) and out["loss"] < 1e-6


# ---------------------------------------------------------------- real 2-process gloo run

WORLD, B_LOCAL, K, D_IN_S, D_IN_T, D = 2, 3, 2, 6, 7, 5


class _Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.speech = torch.nn.Linear(D_IN_S, D)
        self.text = torch.nn.Linear(D_IN_T, D)
        self.log_scale = torch.nn.Parameter(torch.tensor(math.log(10.0)))
        self.bias = torch.nn.Parameter(torch.tensor(-2.0))


def _global_inputs():
    g = torch.Generator().manual_seed(123)
    n = WORLD * B_LOCAL
    return torch.randn(n, D_IN_S, generator=g), torch.randn(K, n, D_IN_T, generator=g)  # texts (K, N, Din)


def _run_losses(model, xs, xt, rank, world):
    """xs (B, Din_s), xt (K, B, Din_t) -> {name: (loss, {param: grad})} with backward of loss * world."""
    results = {}
    for name in ("infonce", "multi", "sigmoid"):
        model.zero_grad()
        s = F.normalize(model.speech(xs), dim=-1)
        scale = model.log_scale.exp()
        if name == "infonce":
            out = InfoNCELoss(rank, world)(s, F.normalize(model.text(xt[0]), dim=-1), scale)
        else:
            t = F.normalize(model.text(xt.reshape(-1, xt.shape[-1])), dim=-1)  # [captions_1; captions_2]
            if name == "multi":
                out = MultiPositiveInfoNCELoss((0.5, 0.5), rank, world)(s, t, scale)
            else:
                out = SigmoidLoss(K, rank, world)(s, t, scale, model.bias)
        (out["loss"] * backward_scale(world)).backward()
        grads = {}
        for p_name, p in model.named_parameters():
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            if world > 1:
                g = g.clone()
                dist.all_reduce(g)  # exactly what DDP does: sum, then divide by world size
                g /= world
            grads[p_name] = g
        results[name] = (out["loss"].detach(), grads)
    return results


def _worker(rank, world, init_file, out_dir):
    torch.set_num_threads(1)
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        xs, xt = _global_inputs()
        sl = slice(rank * B_LOCAL, (rank + 1) * B_LOCAL)
        res = _run_losses(_Model(), xs[sl], xt[:, sl], rank, world)
        torch.save(res, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_matches_single_process(tmp_path):
    mp.spawn(_worker, args=(WORLD, str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True)
    xs, xt = _global_inputs()
    ref = _run_losses(_Model(), xs, xt, 0, 1)
    for rank in range(WORLD):
        res = torch.load(tmp_path / f"rank{rank}.pt")
        for name, (ref_loss, ref_grads) in ref.items():
            loss, grads = res[name]
            assert torch.allclose(loss, ref_loss, atol=1e-6), (rank, name)
            for p_name, g in grads.items():
                assert torch.allclose(g, ref_grads[p_name], atol=1e-6), (rank, name, p_name)
                if p_name != "bias" or name == "sigmoid":
                    assert ref_grads[p_name].abs().sum() > 0, (name, p_name)  # a non-vacuous check
