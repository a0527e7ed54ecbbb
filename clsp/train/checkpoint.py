"""Training checkpoints: everything needed to continue a run exactly.

``OUT/checkpoints/step-<N>.pt`` holds the model, optimiser, Eden scheduler, position in the data
(epoch, batches consumed in it), every rank's RNG states (torch, numpy, Python ``random``, which
Zipformer's Balancer/Whiten use), Zipformer's ``Whiten.prob`` values (not in ``state_dict``), the
running parameter average and the config.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

_NAME = re.compile(r"step-(\d+)\.pt$")


def rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def whiten_probs(model: nn.Module) -> dict[str, float]:
    """Zipformer's Whiten modules switch ``prob`` during backward; it is not in the state dict."""
    return {name: float(m.prob) for name, m in model.named_modules() if type(m).__name__ == "Whiten"}


def set_whiten_probs(model: nn.Module, probs: dict[str, float]) -> None:
    for name, m in model.named_modules():
        if name in probs:
            m.prob = probs[name]


def list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    found = [(int(m.group(1)), p) for p in directory.glob("step-*.pt") if (m := _NAME.search(p.name))]
    return sorted(found)


def save_checkpoint(directory: Path, step: int, payload: dict[str, Any], keep: int) -> Path:
    """Write ``step-<step>.pt`` atomically and delete all but the newest ``keep``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"step-{step}.pt"
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    for _, old in list_checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def latest_checkpoint(directory: Path) -> Path | None:
    found = list_checkpoints(directory)
    return found[-1][1] if found else None


@torch.no_grad()
def update_average(average: dict[str, torch.Tensor], model: nn.Module, step: int, period: int) -> None:
    """icefall's running average over all steps so far, updated every ``period`` steps:
    avg ← avg · (1 − period/step) + current · period/step."""
    weight = period / step
    for name, value in model.state_dict().items():
        if value.is_floating_point():
            average[name].mul_(1 - weight).add_(value.to(average[name].dtype), alpha=weight)
        else:
            average[name].copy_(value)
