"""The frame head: the speech encoder's dense output, frame by frame, into the joint space.

FineLAP's "dense" branch for speaking style: Conv1d(enc_dim → J, ``kernel_size`` frames)–ReLU–Linear(J, J),
L2-normalised per frame, so a frame and a phrase embedded by the text branch can be compared by cosine.
It also holds the frame-level sigmoid's temperature and bias (``logit_scale`` = log(1/tau), ``logit_bias``):
score(phrase, frame) = sigmoid(<phrase, frame> / tau + b).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from clsp.model.config import FrameHeadConfig


class FrameCalibration(nn.Module):
    """log(1/tau) and b of the frame-level sigmoid (a module of its own: it carries the ``lr_scale``)."""

    def __init__(self, cfg: FrameHeadConfig):
        super().__init__()
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / cfg.tau_init)), requires_grad=cfg.learnable)
        self.logit_bias = nn.Parameter(torch.tensor(float(cfg.bias_init)), requires_grad=cfg.learnable)
        if cfg.calibration_lr_scale != 1.0:
            self.lr_scale = float(cfg.calibration_lr_scale)  # read by the optimiser's parameter grouping


class FrameHead(nn.Module):
    """``local_dim`` > 0 adds a second input, per frame (:attr:`FrameHeadConfig.local_input`): Linear(local_dim,
    cfg.local_dim)–ReLU, then its own Conv1d over the same ``kernel_size`` frames, summed into the first layer."""

    def __init__(self, in_dim: int, joint_dim: int, cfg: FrameHeadConfig, local_dim: int = 0):
        super().__init__()
        self.conv = nn.Conv1d(in_dim, joint_dim, cfg.kernel_size, padding=cfg.kernel_size // 2)
        self.out = nn.Linear(joint_dim, joint_dim)
        self.calibration = FrameCalibration(cfg)
        self.local = None
        if local_dim:
            self.local = nn.Sequential(nn.Linear(local_dim, cfg.local_dim), nn.ReLU())
            self.local_conv = nn.Conv1d(cfg.local_dim, joint_dim, cfg.kernel_size, padding=cfg.kernel_size // 2)

    def forward(self, frames: torch.Tensor, local: torch.Tensor | None = None) -> torch.Tensor:
        """frames (B, T, D_enc) [and local (B, T, local_dim)] → (B, T, J) unit vectors."""
        x = self.conv(frames.transpose(1, 2))
        if self.local is not None:
            x = x + self.local_conv(self.local(local).transpose(1, 2))
        x = F.relu(x).transpose(1, 2)
        return F.normalize(self.out(x), dim=-1)

    def scores(self, frame_features: torch.Tensor, phrase_features: torch.Tensor) -> torch.Tensor:
        """(T, J) frames × (P, J) phrases → (P, T) probabilities sigmoid(<phrase, frame> / tau + b)."""
        logits = self.calibration.logit_scale.exp() * phrase_features @ frame_features.T + self.calibration.logit_bias
        return torch.sigmoid(logits)
