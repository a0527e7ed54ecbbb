"""Batched speech embeddings for evaluation, scoring and search, with a progress bar for long lists.

Items are audio file paths, ``(samples, sampling_rate)`` pairs or lhotse cuts (a cut's own span of its
recording is loaded, so segments of long recordings are embedded correctly); long audio is encoded in
windows (:meth:`clsp.model.CLSPModel.encode_audio`), so memory does not grow with its length.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

LONG_LIST = 64  # progress bars appear by default from this many items on


def item_name(item: Any) -> str:
    """How an item is named in results and errors: the path, the cut id, or ``<array>``."""
    if isinstance(item, (str, Path)):
        return str(item)
    if hasattr(item, "recording") and hasattr(item, "id"):
        return str(item.id)
    return "<array>"


def progress_bar(total: int, progress: bool | None, desc: str):
    from tqdm.auto import tqdm

    show = total >= LONG_LIST if progress is None else progress
    return tqdm(total=total, desc=desc, unit="clip", disable=not show, leave=False)


def embed_audio(model, items: Sequence[Any], batch_size: int = 16, progress: bool | None = None,
                desc: str = "embedding audio", rejects: list[tuple[int, str]] | None = None) -> torch.Tensor:
    """Items → (N, J) unit vectors, in order, ``batch_size`` clips (or windows of long ones) per forward pass
    (:meth:`clsp.model.CLSPModel.encode_audio`: read once in a loader thread, batched by length).

    ``progress``: ``None`` shows a bar from :data:`LONG_LIST` items on. With a ``rejects`` list, an item
    whose audio cannot be used (unreadable, empty, NaN/inf, too short) is left out and ``(index, reason)``
    appended to it; without one, the first such item raises :class:`ClspError`.
    """
    with progress_bar(len(items), progress, desc) as bar:
        return model.encode_audio(list(items), batch_size=batch_size, rejects=rejects, progress=bar.update)
