"""ScaledAdam + Eden with per-module learning-rate scales (the CLSP recipe's optimiser).

Per-module lrs use icefall's convention: a float attribute ``lr_scale`` on a submodule multiplies
the lr of every parameter below it (scales multiply down the hierarchy), and
``zipformer.utils.get_parameter_groups_with_lrs`` makes one parameter group per distinct lr.
A module whose scale is 0 is frozen: its parameters get ``requires_grad=False`` and are left out
of the optimiser (ScaledAdam zero-fills missing grads and would otherwise still move them).

Eden (lr schedule, per optimiser step ``b`` counted in batches and epoch ``e``)::

    lr = base_lr * ((b^2 + Lb^2) / Lb^2)^(-1/4) * ((e^2 + Le^2) / Le^2)^(-1/4) * warmup(b)
    warmup(b) = warmup_start + (1 - warmup_start) * b / warmup_batches   if b < warmup_batches
              = 1                                                        otherwise

with ``Lb = lr_batches`` (batches) and ``Le = lr_epochs`` (epochs). Recipe: stage 1 base_lr 0.045
with the pretrained encoders at scale 0.0222 (lr ~0.001); stage 2 base_lr 0.001, scale 1.
Call ``scheduler.step_batch()`` after every optimiser step and ``scheduler.step_epoch(epoch)`` when
an epoch ends (``clsp/train/trainer.py`` does both).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import torch
from zipformer.modules.optim import Eden, ScaledAdam
from zipformer.utils import get_parameter_groups_with_lrs

log = logging.getLogger(__name__)

# Bookkeeping attributes left on the model so a second build_optimizer() call (e.g. stage 2 in
# the same process) first undoes the lr scales and freezing done by the previous call.
_SET_SCALES = "_clsp_optim_scaled_modules"
_FROZEN = "_clsp_optim_frozen_params"


@dataclass
class OptimConfig:
    """ScaledAdam + Eden settings. Step counts are optimiser steps (batches)."""

    base_lr: float = 0.045
    # module name (top-level or dotted) -> lr scale; 0 freezes the module.
    lr_scales: dict[str, float] = field(default_factory=dict)
    clipping_scale: float = 2.0  # ScaledAdam: clip grad norm at this multiple of the median norm
    lr_batches: float = 100000.0  # Eden Lb, in batches
    lr_epochs: float = 100.0  # Eden Le, in epochs
    warmup_batches: float = 500.0  # Eden linear warmup length, in batches
    warmup_start: float = 0.5  # Eden warmup factor at batch 0

    def validate(self) -> None:
        for key in ("base_lr", "clipping_scale", "lr_batches", "lr_epochs"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"key '{key}' must be > 0, got {value}")
        if not (math.isfinite(self.warmup_batches) and self.warmup_batches >= 0):
            raise ValueError(f"key 'warmup_batches' must be >= 0, got {self.warmup_batches}")
        if not 0.0 <= self.warmup_start <= 1.0:
            raise ValueError(f"key 'warmup_start' must be in [0, 1], got {self.warmup_start}")
        for name, scale in self.lr_scales.items():
            if not isinstance(name, str) or not name or name.startswith(".") or name.endswith("."):
                raise ValueError(f"key 'lr_scales' has an invalid module name {name!r}")
            if not (math.isfinite(scale) and scale >= 0):
                raise ValueError(f"key 'lr_scales.{name}' must be >= 0, got {scale}")


def _undo_previous(model: torch.nn.Module) -> None:
    modules = dict(model.named_modules())
    for name in getattr(model, _SET_SCALES, []):
        if name in modules and hasattr(modules[name], "lr_scale"):
            del modules[name].lr_scale
    for p in getattr(model, _FROZEN, []):
        p.requires_grad_(True)
    setattr(model, _SET_SCALES, [])
    setattr(model, _FROZEN, [])


def _apply_scales(model: torch.nn.Module, lr_scales: dict[str, float]) -> list[str]:
    """Set ``lr_scale`` on the named modules; freeze scale-0 ones. Returns the frozen names."""
    modules = dict(model.named_modules())
    for name in lr_scales:
        if name not in modules or name == "":
            top = ", ".join(n for n, _ in model.named_children()) or "none"
            raise ValueError(
                f"optim.lr_scales: no module named '{name}' in the model (top-level modules: {top})"
            )
    frozen_names, frozen_params = [], []
    for name, scale in lr_scales.items():
        modules[name].lr_scale = float(scale)
        if scale == 0:
            frozen_names.append(name)
            for p in modules[name].parameters():
                if p.requires_grad:
                    p.requires_grad_(False)
                    frozen_params.append(p)
    setattr(model, _SET_SCALES, list(lr_scales))
    setattr(model, _FROZEN, frozen_params)
    return frozen_names


def build_optimizer(model: torch.nn.Module, cfg: OptimConfig) -> tuple[ScaledAdam, Eden]:
    """Build ScaledAdam over per-lr parameter groups, and its Eden schedule (lrs already set).

    Sets ``module.lr_scale`` for each name in ``cfg.lr_scales`` (top-level or dotted), freezes
    scale-0 modules (``requires_grad=False``, left out of the optimiser), and leaves out every
    other parameter that does not require grad. Group lrs are ``base_lr * product of scales``.
    Eden's ``step_batch(0)`` has been called, so group lrs are ``base_lr * scale * warmup_start``.
    """
    cfg.validate()
    _undo_previous(model)
    frozen = _apply_scales(model, cfg.lr_scales)
    top_frozen = [n for n in frozen if "." not in n]  # get_parameter_groups_with_lrs: top level only
    groups = []
    for group in get_parameter_groups_with_lrs(
        model, cfg.base_lr, include_names=True, freeze_modules=top_frozen
    ):
        named = [(n, p) for n, p in group["named_params"] if p.requires_grad]
        if named:
            groups.append({"named_params": named, "lr": group["lr"]})
    if not groups:
        raise ValueError("optim: no trainable parameters left (every module frozen or no parameters)")
    n_frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    if frozen or n_frozen:
        log.info("optim: frozen modules %s (%d frozen parameters)", frozen, n_frozen)
    optimizer = ScaledAdam(groups, lr=cfg.base_lr, clipping_scale=cfg.clipping_scale)
    scheduler = Eden(
        optimizer,
        lr_batches=cfg.lr_batches,
        lr_epochs=cfg.lr_epochs,
        warmup_batches=cfg.warmup_batches,
        warmup_start=cfg.warmup_start,
    )
    scheduler.step_batch(0)  # Eden does not set lrs in its constructor
    return optimizer, scheduler


def eden_lr(
    base_lr: float,
    batch: float,
    epoch: float,
    lr_batches: float,
    lr_epochs: float,
    warmup_batches: float = 500.0,
    warmup_start: float = 0.5,
) -> float:
    """Eden's lr at ``batch`` (batches) and ``epoch`` (epochs); the formula in the module docstring."""
    factor = ((batch**2 + lr_batches**2) / lr_batches**2) ** -0.25
    factor *= ((epoch**2 + lr_epochs**2) / lr_epochs**2) ** -0.25
    if batch < warmup_batches:
        factor *= warmup_start + (1.0 - warmup_start) * batch / warmup_batches
    return base_lr * factor


def current_lrs(optimizer: torch.optim.Optimizer) -> list[float]:
    """The lr of each parameter group, in group order."""
    return [float(group["lr"]) for group in optimizer.param_groups]
