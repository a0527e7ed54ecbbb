"""Contrastive losses for CLSP (in the style of open_clip's ``loss.py``).

Notation: B clips per rank, W = world_size, N = W * B clips in the global batch, K captions per clip.
Features are L2-normalised; ``logit_scale`` is the multiplier (already ``exp()``-ed).

* :class:`InfoNCELoss` (stage 1): symmetric cross-entropy over the global (N, N) logits.
* :class:`MultiPositiveInfoNCELoss` (stage 2): each clip has K captions; speech->text uses soft targets
  ``weights[k]`` on the clip's k-th caption, text->speech a hard label (the text's own clip).
* :class:`SigmoidLoss`: SigLIP-style, +1 for a clip's own captions, -1 elsewhere.
* :class:`LocalContrastiveLoss` (stage 3): each clip against its own caption and its perturbed copies.
* :class:`FrameSigmoidLoss` (grounding): FineLAP's per-frame sigmoid of phrases against dense speech frames.

Distributed training. Every rank gathers all features (without gradient, see :func:`gather_features`) and
computes the same GLOBAL loss, but gradients flow only through its own features. The full gradient is the
SUM over ranks, while DDP AVERAGES gradients over ranks, so the trainer must backpropagate
``loss * world_size`` (:func:`backward_scale`) for the averaged gradient to equal the single-process gradient
of the global batch. ``logit_scale`` and ``logit_bias`` are used whole by every rank, so each rank already
holds their full gradient; the losses scale their gradient by ``1 / world_size`` (value unchanged) so that the
same ``loss * world_size`` rule is exact for them too.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F


def backward_scale(world_size: int) -> float:
    """Factor to multiply the loss by before ``backward()`` under DDP (see the module docstring)."""
    return float(world_size)


def gather_features(features: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """(B, D) on every rank -> (world_size * B, D), rank-major.

    ``all_gather`` without gradient, then this rank's own slice is put back so it keeps its gradient.
    ``world_size == 1`` returns ``features`` unchanged. Every rank must hold the same B.
    """
    if world_size == 1:
        return features
    gathered = [torch.empty_like(features) for _ in range(world_size)]
    with torch.no_grad():
        dist.all_gather(gathered, features.contiguous())
    gathered[rank] = features
    return torch.cat(gathered, dim=0)


def _replicated(x: torch.Tensor, world_size: int) -> torch.Tensor:
    """Same value as ``x``; gradient scaled by ``1 / world_size`` (for tensors every rank uses whole)."""
    if world_size == 1 or not torch.is_tensor(x):
        return x
    return x.detach() + (x - x.detach()) / world_size


def _gather_texts(text_features: torch.Tensor, k: int, b: int, rank: int, world_size: int) -> torch.Tensor:
    """(K*B, D) per rank, [captions_1; ...; captions_K] -> (K*N, D) with global row ``k*N + n`` = clip n, caption k."""
    if text_features.shape[0] != k * b:
        raise ValueError(f"text_features has {text_features.shape[0]} rows, expected K*B = {k}*{b}")
    texts = gather_features(text_features, rank, world_size)  # (W*K*B, D): rank r, caption k, clip i
    return texts.view(world_size, k, b, -1).transpose(0, 1).reshape(k * world_size * b, -1)


class InfoNCELoss(torch.nn.Module):
    """CLSP stage 1: symmetric InfoNCE, labels on the diagonal of the global (N, N) logits."""

    def __init__(self, rank: int = 0, world_size: int = 1):
        super().__init__()
        self.rank, self.world_size = rank, world_size

    def forward(self, speech_features, text_features, logit_scale) -> dict[str, torch.Tensor]:
        """speech_features (B, D), text_features (B, D), logit_scale scalar.

        Returns ``loss`` (scalar) = (CE_s2t + CE_t2s) / 2 and ``logits_per_speech`` (N, N).
        """
        speech = gather_features(speech_features, self.rank, self.world_size)  # (N, D)
        text = gather_features(text_features, self.rank, self.world_size)  # (N, D)
        logits = _replicated(logit_scale, self.world_size) * speech @ text.T  # (N, N)
        labels = torch.arange(logits.shape[0], device=logits.device)
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        return {"loss": loss, "logits_per_speech": logits}


class MultiPositiveInfoNCELoss(torch.nn.Module):
    """CLSP stage 2: multi-positive InfoNCE over K captions per clip (K = 2: lambda = ``weights[0]``).

    speech->text: L_s2t = -1/N sum_n sum_k w_k log softmax_j(s * <a_n, t_j>)[k*N + n]  (soft targets)
    text->speech: L_t2s = -1/(K*N) sum_{k,n} log softmax_m(s * <t_{k,n}, a_m>)[n]    (hard labels)
    loss = (L_s2t + L_t2s) / 2. With K = 1, weights (1.0,) it equals :class:`InfoNCELoss`.
    """

    def __init__(self, weights: tuple[float, ...] = (0.5, 0.5), rank: int = 0, world_size: int = 1):
        super().__init__()
        if len(weights) < 1 or any(w < 0 for w in weights) or abs(sum(weights) - 1.0) > 1e-6:
            raise ValueError(f"weights must be non-negative and sum to 1, got {weights}")
        self.weights = tuple(float(w) for w in weights)
        self.rank, self.world_size = rank, world_size

    def forward(self, speech_features, text_features, logit_scale) -> dict[str, torch.Tensor]:
        """speech_features (B, D); text_features (K*B, D) as [captions_1 (B); ...; captions_K (B)].

        Returns ``loss`` (scalar) and ``logits_per_speech`` (N, K*N), column ``k*N + n`` = caption k of clip n.
        """
        k, b = len(self.weights), speech_features.shape[0]
        speech = gather_features(speech_features, self.rank, self.world_size)  # (N, D)
        texts = _gather_texts(text_features, k, b, self.rank, self.world_size)  # (K*N, D)
        logits = _replicated(logit_scale, self.world_size) * speech @ texts.T  # (N, K*N)
        clips = torch.arange(speech.shape[0], device=logits.device)  # (N,)
        # soft-target CE is linear in the targets: sum_k w_k * CE(logits, column of caption k)
        log_probs = F.log_softmax(logits, dim=1)
        s2t = sum(w * F.nll_loss(log_probs, clips + i * len(clips)) for i, w in enumerate(self.weights))
        t2s = F.cross_entropy(logits.T, clips.repeat(k))  # every text -> its own clip
        loss = (s2t + t2s) / 2
        return {"loss": loss, "logits_per_speech": logits}


class SigmoidLoss(torch.nn.Module):
    """SigLIP / FineLAP clip-level sigmoid loss with K = ``num_positives`` captions per clip.

    L = -1/N sum_n sum_j log sigmoid(y_nj * (s * <a_n, t_j> + b)), y_nj = +1 if text j is a caption of clip n,
    else -1. Computed over the whole gathered batch.
    """

    def __init__(self, num_positives: int = 1, rank: int = 0, world_size: int = 1):
        super().__init__()
        if num_positives < 1:
            raise ValueError(f"num_positives must be >= 1, got {num_positives}")
        self.num_positives = num_positives
        self.rank, self.world_size = rank, world_size

    def forward(self, speech_features, text_features, logit_scale, logit_bias) -> dict[str, torch.Tensor]:
        """speech_features (B, D); text_features (K*B, D) as [captions_1; ...; captions_K]; scale, bias scalars.

        Returns ``loss`` (scalar) and ``logits_per_speech`` (N, K*N), column ``k*N + n`` = caption k of clip n.
        """
        k, b = self.num_positives, speech_features.shape[0]
        speech = gather_features(speech_features, self.rank, self.world_size)  # (N, D)
        texts = _gather_texts(text_features, k, b, self.rank, self.world_size)  # (K*N, D)
        scale = _replicated(logit_scale, self.world_size)
        bias = _replicated(logit_bias, self.world_size)
        logits = scale * speech @ texts.T + bias  # (N, K*N)
        n = speech.shape[0]
        eye = torch.eye(n, device=logits.device, dtype=logits.dtype)
        labels = 2 * eye.repeat(1, k) - 1  # (N, K*N): +1 own captions, -1 elsewhere
        loss = -F.logsigmoid(labels * logits).sum() / n
        return {"loss": loss, "logits_per_speech": logits}


class LocalContrastiveLoss(torch.nn.Module):
    """CLSP stage 3's local loss (the recipe's ``local_clip_loss``): each clip against its OWN texts only —
    its true caption(s) and hard negatives made from them (one attribute flipped, see :mod:`clsp.perturb`).

    Per clip b with K texts, the first ``num_positives`` of them positive:
    logits_bk = s * <a_b, t_bk>;  loss = 1/B sum_b [logsumexp_k logits_bk - logsumexp_{k < P} logits_bk].
    With one positive and one negative that is a two-way softmax cross-entropy per clip.

    Distributed training: the loss is per clip, so no features are gathered. The mean over this rank's B
    clips has its gradient scaled by ``1 / world_size`` (value unchanged), so the trainer's rule of
    backpropagating ``loss * world_size`` under DDP's gradient AVERAGE gives the gradient of the mean over
    the global batch, as for the gathered losses above.
    """

    def __init__(self, num_positives: int = 1, world_size: int = 1):
        super().__init__()
        if num_positives < 1:
            raise ValueError(f"num_positives must be >= 1, got {num_positives}")
        self.num_positives, self.world_size = num_positives, world_size

    def forward(self, speech_features, text_features, logit_scale) -> dict[str, torch.Tensor]:
        """speech_features (B, D); text_features (B, K, D), positives first; logit_scale scalar.

        Returns ``loss`` (scalar) and ``logits`` (B, K).
        """
        if text_features.dim() != 3 or text_features.shape[0] != speech_features.shape[0]:
            raise ValueError(f"text_features must be (B, K, D) with B = {speech_features.shape[0]}, "
                             f"got {tuple(text_features.shape)}")
        if text_features.shape[1] <= self.num_positives:
            raise ValueError(f"need more than {self.num_positives} texts per clip (positives + negatives), "
                             f"got {text_features.shape[1]}")
        logits = logit_scale * torch.einsum("bd,bkd->bk", speech_features, text_features)  # (B, K)
        per_clip = torch.logsumexp(logits, dim=1) - torch.logsumexp(logits[:, : self.num_positives], dim=1)
        return {"loss": _replicated(per_clip.mean(), self.world_size), "logits": logits}


class FrameSigmoidLoss(torch.nn.Module):
    """FineLAP's frame-level loss: which frames of a clip does a phrase describe?

    logits (B, P, T) = s * <phrase_p, frame_t> + b (unit vectors; FineLAP starts at s = 1/0.1, b = -10);
    loss = binary cross-entropy against ``labels`` (B, P, T) in {0, 1}, averaged over the entries whose
    label is not negative (-1 = unknown or padding: left out).

    ``balance`` (alpha in [0, 1]) weights each phrase's positive frames by ``(negatives / positives) ** alpha``,
    counted in the batch (the ``pos_weight`` of PyTorch's BCE, per phrase): 0 is FineLAP's plain BCE, 1 gives
    a phrase's positives and negatives equal total weight. A value whose frames are rare ("speaking fast")
    otherwise learns to stay under 0.5 everywhere.

    Distributed training: per clip, no gather; gradient scaled by ``1 / world_size`` as
    :class:`LocalContrastiveLoss` (each rank averages over its own labelled entries).
    """

    def __init__(self, world_size: int = 1, balance: float = 0.0):
        super().__init__()
        self.world_size = world_size
        self.balance = balance

    def forward(self, frame_features, phrase_features, labels, logit_scale, logit_bias) -> dict[str, torch.Tensor]:
        """frame_features (B, T, D); phrase_features (P, D) (the same phrases for every clip) or (B, P, D);
        labels (B, P, T) float in {-1, 0, 1}; logit_scale, logit_bias scalars.

        Returns ``loss`` (scalar; 0 when nothing is labelled) and ``logits`` (B, P, T).
        """
        if phrase_features.dim() == 2:
            logits = torch.einsum("btd,pd->bpt", frame_features, phrase_features)
        else:
            logits = torch.einsum("btd,bpd->bpt", frame_features, phrase_features)
        logits = logit_scale * logits + logit_bias
        if labels.shape != logits.shape:
            raise ValueError(f"labels must be (B, P, T) = {tuple(logits.shape)}, got {tuple(labels.shape)}")
        known = labels >= 0
        if not bool(known.any()):
            return {"loss": logits.sum() * 0.0, "logits": logits}
        target = labels.clamp(min=0).to(logits.dtype)
        weight = known.to(logits.dtype)
        if self.balance > 0:
            dims = (0, 2)  # per phrase, over clips and frames
            pos = ((labels == 1) & known).sum(dims).to(logits.dtype)
            neg = ((labels == 0) & known).sum(dims).to(logits.dtype)
            pos_weight = torch.where(pos > 0, (neg / pos.clamp(min=1)).clamp(min=1e-6) ** self.balance, 1.0)
            weight = weight * torch.where(labels == 1, pos_weight[None, :, None], 1.0)
        per_entry = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        loss = (per_entry * weight).sum() / weight.sum()
        return {"loss": _replicated(loss, self.world_size), "logits": logits}
