"""Stage 3's local loss and the grounding frame loss (clsp.losses) against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from clsp.losses import FrameSigmoidLoss, LocalContrastiveLoss


def _t(rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_local_loss_hand_computed():
    speech = _t([[1, 0], [0, 1]])
    texts = _t([[[1, 0], [0, 1]],            # clip 1: true caption, perturbed caption
                [[0.6, 0.8], [0.8, 0.6]]])   # clip 2
    out = LocalContrastiveLoss()(speech, texts, torch.tensor(10.0, dtype=torch.float64))
    # clip 1: logits (10, 0) -> log(e^10 + e^0) - 10; clip 2: logits (8, 6) -> log(e^8 + e^6) - 8
    expected = (math.log(1 + math.exp(-10)) + math.log(1 + math.exp(-2))) / 2
    assert float(out["loss"]) == pytest.approx(expected, rel=1e-12)
    assert torch.allclose(out["logits"], _t([[10, 0], [8, 6]]))


def test_local_loss_is_two_way_cross_entropy_and_orders_positives_first():
    g = torch.Generator().manual_seed(0)
    speech = F.normalize(torch.randn(5, 8, generator=g, dtype=torch.float64), dim=-1)
    texts = F.normalize(torch.randn(5, 3, 8, generator=g, dtype=torch.float64), dim=-1)
    scale = torch.tensor(7.0, dtype=torch.float64)
    logits = scale * torch.einsum("bd,bkd->bk", speech, texts)
    one = LocalContrastiveLoss()(speech, texts, scale)["loss"]
    assert float(one) == pytest.approx(float(F.cross_entropy(logits, torch.zeros(5, dtype=torch.long))))
    two = LocalContrastiveLoss(num_positives=2)(speech, texts, scale)["loss"]
    expected = (torch.logsumexp(logits, 1) - torch.logsumexp(logits[:, :2], 1)).mean()
    assert float(two) == pytest.approx(float(expected))
    # a perfect model: the true caption far above the perturbed one -> loss near 0
    assert float(LocalContrastiveLoss()(speech, torch.stack([speech, -speech], 1), torch.tensor(50.0))["loss"]) < 1e-12


def test_local_and_frame_losses_keep_value_and_scale_gradient_under_ddp():
    """Per-clip losses: no gather; gradient 1/W so that the trainer's loss * W backward is the global mean."""
    speech = _t([[1, 0], [0, 1]]).requires_grad_()
    texts = _t([[[0.6, 0.8], [0.8, 0.6]], [[0.6, 0.8], [1, 0]]])
    scale = torch.tensor(10.0, dtype=torch.float64)
    grads = []
    for w in (1, 2):
        loss = LocalContrastiveLoss(world_size=w)(speech, texts, scale)["loss"]
        (g,) = torch.autograd.grad(loss, speech)
        grads.append((float(loss.detach()), g))
    assert grads[0][0] == pytest.approx(grads[1][0])
    assert torch.allclose(grads[0][1], 2 * grads[1][1])
    frames = _t([[[1, 0], [0, 1]]]).requires_grad_()
    labels = torch.tensor([[[1.0, 0.0]]])
    values = []
    for w in (1, 2):
        loss = FrameSigmoidLoss(world_size=w)(frames, _t([[1, 0]]), labels, 10.0, -5.0)["loss"]
        (g,) = torch.autograd.grad(loss, frames)
        values.append((float(loss.detach()), g))
    assert values[0][0] == pytest.approx(values[1][0]) and torch.allclose(values[0][1], 2 * values[1][1])


def test_local_loss_rejects_bad_shapes():
    with pytest.raises(ValueError, match="more than 1 texts"):
        LocalContrastiveLoss()(_t([[1, 0]]), _t([[[1, 0]]]), 1.0)
    with pytest.raises(ValueError, match=r"\(B, K, D\)"):
        LocalContrastiveLoss()(_t([[1, 0]]), _t([[1, 0], [0, 1]]), 1.0)


def test_frame_loss_hand_computed_with_unknown_frames_left_out():
    frames = _t([[[1, 0], [0, 1], [1, 0]]])  # (B=1, T=3, D=2)
    phrase = _t([[1, 0]])  # (P=1, D)
    labels = torch.tensor([[[1.0, 0.0, -1.0]]])  # frame 3 unknown
    out = FrameSigmoidLoss()(frames, phrase, labels, torch.tensor(10.0), torch.tensor(-5.0))
    # logits: 10*1 - 5 = 5 (label 1), 10*0 - 5 = -5 (label 0): each costs log(1 + e^-5)
    assert float(out["loss"]) == pytest.approx(math.log(1 + math.exp(-5)))
    assert torch.allclose(out["logits"], _t([[[5, -5, 5]]]))
    # FineLAP's start (tau 0.1, b -10): even a perfectly aligned frame scores sigmoid(0) = 0.5
    out = FrameSigmoidLoss()(frames, phrase, labels, torch.tensor(10.0), torch.tensor(-10.0))
    assert float(out["loss"]) == pytest.approx((math.log(2) + math.log(1 + math.exp(-10))) / 2)


def test_frame_loss_per_clip_phrases_and_nothing_labelled():
    frames = F.normalize(torch.randn(2, 4, 3, dtype=torch.float64), dim=-1)
    phrases = F.normalize(torch.randn(2, 5, 3, dtype=torch.float64), dim=-1)  # (B, P, D)
    labels = (torch.rand(2, 5, 4) > 0.5).double()
    out = FrameSigmoidLoss()(frames, phrases, labels, 3.0, -1.0)
    logits = 3.0 * torch.einsum("btd,bpd->bpt", frames, phrases) - 1.0
    assert float(out["loss"]) == pytest.approx(float(F.binary_cross_entropy_with_logits(logits, labels)))
    empty = FrameSigmoidLoss()(frames, phrases, torch.full((2, 5, 4), -1.0), 3.0, -1.0)
    assert float(empty["loss"]) == 0.0
    with pytest.raises(ValueError, match="labels must be"):
        FrameSigmoidLoss()(frames, phrases, labels[:, :, :2], 3.0, -1.0)


def test_frame_loss_balance_weights_each_phrases_rare_positives():
    """balance alpha: a phrase's positive frames weigh (negatives / positives) ** alpha, counted per phrase."""
    frames = _t([[[1, 0], [0, 1], [0, 1], [0, 1], [1, 0]]])  # (B=1, T=5, D=2)
    phrases = _t([[1, 0], [0, 1]])  # (P=2, D)
    labels = torch.tensor([[[1.0, 0.0, 0.0, 0.0, -1.0],    # phrase 1: 1 positive, 3 negatives, 1 unknown
                            [0.0, 1.0, 1.0, 0.0, 0.0]]])  # phrase 2: 2 positives, 3 negatives
    scale, bias = torch.tensor(4.0), torch.tensor(-2.0)
    logits = (scale * torch.einsum("btd,pd->bpt", frames, phrases) + bias)[0]  # (P, T): 2 where aligned, else -2
    cost = F.binary_cross_entropy_with_logits(logits, labels[0].clamp(min=0), reduction="none")
    plain = FrameSigmoidLoss()(frames, phrases, labels, scale, bias)["loss"]
    assert float(plain) == pytest.approx(float(cost[labels[0] >= 0].mean()))
    for alpha in (0.5, 1.0):
        w = torch.tensor([[3.0 ** alpha, 1, 1, 1, 0], [1, 1.5 ** alpha, 1.5 ** alpha, 1, 1]])
        out = FrameSigmoidLoss(balance=alpha)(frames, phrases, labels, scale, bias)["loss"]
        assert float(out) == pytest.approx(float((w * cost).sum() / w.sum()))


def test_grounding_balance_key_is_validated():
    from clsp.config import ConfigError, load_config
    from clsp.train.config import TrainConfig

    assert load_config(TrainConfig, None, ["grounding.balance=0.5"]).grounding.balance == 0.5
    with pytest.raises(ConfigError, match=r"key 'grounding.balance' must be in \[0, 1\], got 1.5"):
        load_config(TrainConfig, None, ["grounding.balance=1.5"])
