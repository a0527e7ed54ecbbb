"""Loading checkpoints from the CLSP recipe and SPEAR into our modules.

Key mapping, recipe (icefall ``spear_roberta/model.py``, class ``CLAP``) → ours (:class:`CLSPModel`):

====================================  ==========================================
recipe                                ours
====================================  ==========================================
``encoder_embed.*``                   ``speech_encoder.encoder_embed.*``
``encoder.*``                         ``speech_encoder.encoder.*``
``text_encoder.*`` (RobertaModel)     ``text_encoder.model.*``
``audio_projection.{0,2}.*``          same
``audio_transform.sequential.{0,3}.*``  same
``text_projection.{0,2}.*``           same
``text_transform.sequential.{0,3}.*``   same
``logit_scale``                       same
====================================  ==========================================

A SPEAR checkpoint (``encoder_embed.*``, ``encoder.*``; icefall ``{"model": state_dict}`` files or a bare
state dict; a leading ``model.`` is stripped) initialises the Zipformer backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from clsp.errors import ClspError

RECIPE_TO_OURS = (
    ("encoder_embed.", "speech_encoder.encoder_embed."),
    ("encoder.", "speech_encoder.encoder."),
    ("text_encoder.", "text_encoder.model."),
)


@dataclass
class KeyReport:
    """Outcome of matching a checkpoint's keys with a module's."""

    loaded: int
    missing: list[str]
    unexpected: list[str]
    mismatched: list[str]  # same key, different shape

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self, limit: int = 5) -> str:
        parts = [f"{self.loaded} tensors loaded"]
        for name, keys in (("missing", self.missing), ("unexpected", self.unexpected),
                           ("shape mismatch", self.mismatched)):
            if keys:
                shown = ", ".join(keys[:limit]) + (f", ... (+{len(keys) - limit})" if len(keys) > limit else "")
                parts.append(f"{len(keys)} {name}: {shown}")
        return "; ".join(parts)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.safetensors`` file or a torch checkpoint (``{"model": ...}`` or bare)."""
    p = Path(path)
    if not p.is_file():
        raise ClspError(f"{p}: checkpoint not found")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(p))
    ckpt = torch.load(p, map_location="cpu", weights_only=False)
    state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ClspError(f"{p}: expected a state dict or a checkpoint with a 'model' entry")
    return state


def match_keys(module: nn.Module, state: dict[str, torch.Tensor]) -> KeyReport:
    own = module.state_dict()
    missing = sorted(k for k in own if k not in state)
    unexpected = sorted(k for k in state if k not in own)
    mismatched = sorted(k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape))
    return KeyReport(len(own) - len(missing) - len(mismatched), missing, unexpected, mismatched)


def load_spear_checkpoint(encoder: nn.Module, path: str | Path, strict: bool = True) -> KeyReport:
    """Load ``encoder_embed.*`` and ``encoder.*`` of a SPEAR/icefall checkpoint into a Zipformer backend."""
    state = {}
    for key, value in read_state_dict(path).items():
        key = key[len("model."):] if key.startswith("model.") else key
        if key.startswith(("encoder_embed.", "encoder.")):
            state[key] = value
    report = match_keys(encoder, state)
    if strict and not report.ok:
        raise ClspError(f"{path}: checkpoint does not match the speech encoder config ({report.describe()})")
    encoder.load_state_dict({k: v for k, v in state.items() if k not in report.mismatched}, strict=False)
    return report


def map_recipe_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a CLSP recipe checkpoint's keys to ours (see the table above)."""
    out = {}
    for key, value in state.items():
        for theirs, ours in RECIPE_TO_OURS:
            if key.startswith(theirs):
                key = ours + key[len(theirs):]
                break
        out[key] = value
    return out
