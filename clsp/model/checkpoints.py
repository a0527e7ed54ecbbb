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

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from clsp.errors import ClspError, one_line

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


def _safe_globals() -> list:
    """What a checkpoint may hold besides tensors and plain data: paths (icefall stores its ``params``, e.g.
    ``exp_dir``) and numpy arrays (RNG states). None of these runs code when it is rebuilt."""
    import pathlib

    import numpy as np

    return [pathlib.PosixPath, pathlib.PurePosixPath, pathlib.WindowsPath, pathlib.PureWindowsPath,
            np._core.multiarray._reconstruct, np.ndarray, np.dtype,
            *(type(np.dtype(t)) for t in (np.uint32, np.int64, np.float64, np.float32))]


def load_torch_file(path: str | Path) -> Any:
    """``torch.load`` of a checkpoint with ``weights_only=True``: tensors and plain data only (see
    :func:`_safe_globals`), so a crafted file cannot run code. Anything else is a one-line error."""
    import pickle

    p = Path(path)
    if not p.is_file():
        raise ClspError(f"{p}: checkpoint not found")
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"(?:GLOBAL|global) ([\w.]+)", str(e))
        what = f" ({found.group(1)})" if found else ""
        raise ClspError(f"{p}: refusing to load: the checkpoint holds a Python object{what} that could run code; "
                        "only tensors and plain data are read from checkpoints") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise ClspError(f"{p}: not a readable torch checkpoint ({type(e).__name__}: {one_line(e, 200)})") from None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.safetensors`` file or a torch checkpoint (``{"model": ...}`` or bare)."""
    p = Path(path)
    if not p.is_file():
        raise ClspError(f"{p}: checkpoint not found")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(p))
    ckpt = load_torch_file(p)
    state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ClspError(f"{p}: expected a state dict or a checkpoint with a 'model' entry")
    return state


def match_keys(module: nn.Module, state: dict[str, torch.Tensor], skip: tuple[str, ...] = ()) -> KeyReport:
    """How ``state`` fits ``module``; the module's keys starting with a ``skip`` prefix are not asked for."""
    own = {k: v for k, v in module.state_dict().items() if not k.startswith(skip)}
    missing = sorted(k for k in own if k not in state)
    unexpected = sorted(k for k in state if k not in own)
    mismatched = sorted(k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape))
    return KeyReport(len(own) - len(missing) - len(mismatched), missing, unexpected, mismatched)


def load_spear_checkpoint(encoder: nn.Module, path: str | Path, strict: bool = True) -> KeyReport:
    """Load ``encoder_embed.*`` and ``encoder.*`` of a SPEAR/icefall checkpoint into a Zipformer backend (its
    speaker branch, if any, keeps its own weights)."""
    state = {}
    for key, value in read_state_dict(path).items():
        key = key[len("model."):] if key.startswith("model.") else key
        if key.startswith(("encoder_embed.", "encoder.")):
            state[key] = value
    report = match_keys(encoder, state, skip=("speaker.",))
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


def recipe_name(key: str) -> str:
    """Our parameter name → the CLSP recipe's (the inverse of :func:`map_recipe_state_dict`)."""
    for theirs, ours in RECIPE_TO_OURS:
        if key.startswith(ours):
            return theirs + key[len(ours):]
    return key


def load_recipe_checkpoint(path: str | Path, model: nn.Module | None = None,
                           use_averaged: bool = True) -> dict[str, torch.Tensor]:
    """The weights of a CLSP recipe checkpoint under our names (see the table above); loaded into ``model``
    strictly when one is given.

    - icefall's ``epoch-N.pt`` holds ``model`` and ``model_avg`` (the running average, which the recipe
      evaluates): ``use_averaged`` takes ``model_avg`` when present, else ``model``; an export
      (``{"model": ...}``) or a bare state dict is read as it is;
    - a leading ``module.`` (a DDP-wrapped model) is stripped; ``*.position_ids`` buffers that checkpoints
      of older transformers hold are dropped unless ``model`` has them;
    - with ``model``, any missing, unexpected or mis-shaped key is a :class:`ClspError` naming the keys in
      the recipe's names (the file's own), and nothing is loaded.
    """
    p = Path(path)
    if p.suffix == ".safetensors":
        raw: Any = read_state_dict(p)
    else:
        raw = load_torch_file(p)
    if not isinstance(raw, dict):
        raise ClspError(f"{p}: expected a state dict or a recipe checkpoint (a dict with 'model'), got "
                        f"{type(raw).__name__}")
    entry = "model_avg" if use_averaged and isinstance(raw.get("model_avg"), dict) else "model"
    state = raw.get(entry, raw) if isinstance(raw.get(entry), dict) else raw
    own = model.state_dict() if model is not None else {}
    out = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ClspError(f"{p}: entry '{entry}' key '{key}' is not a tensor (not a state dict?)")
        key = key[len("module."):] if key.startswith("module.") else key
        ours = map_recipe_state_dict({key: value})
        (name,) = ours
        if name.endswith("position_ids") and name not in own:
            continue
        out[name] = value
    if model is not None:
        report = match_keys(model, out)
        if not report.ok:
            theirs = KeyReport(report.loaded, [recipe_name(k) for k in report.missing],
                               [recipe_name(k) for k in report.unexpected], [recipe_name(k) for k in report.mismatched])
            raise ClspError(f"{p}: '{entry}' does not match the model ({theirs.describe()}; names as in the recipe)")
        model.load_state_dict(out, strict=True)
    return out
