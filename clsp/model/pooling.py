"""One vector per clip and per caption: CLSP's masked mean over speech frames, and the optional BatchNorm on
the pooled speech and text vectors (``model.pooled_norm: batch``) that the small demo models need.

Why the norm. At initialisation the pooled vectors of different inputs are nearly parallel: the tiny
Zipformer's frames are BiasNorm outputs dominated by one direction common to every clip (its layers start
close to identity), and mean-pooled MiniLM vectors share a large common part too. Measured on the demo
config, as the mean cosine between different clips' mean-pooled encoder outputs (48 clips, encoder in eval
mode) over init seeds 0-9: 0.951, 0.999, 0.984, 0.905, 0.998, 0.994, 0.980, 0.998, 0.994, 1.000; captions'
MiniLM vectors: 0.61. The heads' first Linear then sees inputs whose spread across the batch is a few per cent
of their mean: its gradient points almost entirely along the common direction (which moves every output
alike), so the contrastive loss stays at ln B until the encoder has shrunk the common part itself, a number
of steps that depends on the seed (the plateau lottery). With the encoder frozen at seed 1's initialisation
and only the heads trained (ScaledAdam, as the demo), the loss stays at 1.00 × ln B for 120 steps; with a
BatchNorm on both pooled vectors it is 0.94 × ln B after 10 steps and 0.49 × ln B after 120 (AdamW instead
of ScaledAdam: also 1.00). The README's "clsp train" section has the measurements with the whole model.

The BatchNorm has no affine parameters (ScaledAdam scales each tensor's update by its RMS, so a zero bias
would never move; the Linear that follows has its own) and normalises each channel over the batch with one
set of statistics, never per clip: a clip's level (loudness) and pitch relative to other clips are kept. In
``eval()`` (``encode_audio``, ``encode_text``) it applies the running statistics saved with the model: a
fixed affine map, so a clip's vector does not depend on the batch it is encoded in.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

PooledNorm = Literal["none", "batch"]


def masked_mean(frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T, D), lengths (B,) → (B, D): the mean over each row's first ``lengths`` frames."""
    mask = torch.arange(frames.shape[1], device=frames.device)[None, :] < lengths[:, None]
    summed = (frames * mask.unsqueeze(-1).to(frames.dtype)).sum(1)
    return summed / lengths.clamp(min=1).unsqueeze(-1).to(frames.dtype)


def pooled_norm(dim: int, kind: PooledNorm) -> nn.Module:
    """The norm on a pooled (B, ``dim``) vector: ``batch`` → BatchNorm1d without affine; ``none`` → identity
    (no parameters or buffers, so models saved without the norm load unchanged)."""
    return nn.BatchNorm1d(dim, affine=False) if kind == "batch" else nn.Identity()
