"""Batched speech embeddings for evaluation, scoring and search, with a progress bar for long lists.

Items are audio file paths, ``(samples, sampling_rate)`` pairs or lhotse cuts (a cut's own span of its
recording is loaded, so segments of long recordings are embedded correctly).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clsp.audio import SAMPLING_RATE, load_audio
from clsp.errors import ClspError, one_line

LONG_LIST = 64  # progress bars appear by default from this many items on


def item_name(item: Any) -> str:
    """How an item is named in results and errors: the path, the cut id, or ``<array>``."""
    if isinstance(item, (str, Path)):
        return str(item)
    if hasattr(item, "recording") and hasattr(item, "id"):
        return str(item.id)
    return "<array>"


def load_item(item: Any) -> np.ndarray:
    """Any item → (S,) float32 mono at 16 kHz; unreadable audio raises :class:`ClspError` naming it."""
    if hasattr(item, "load_audio") and hasattr(item, "id"):  # a lhotse cut
        try:
            samples = item.load_audio()
        except Exception as e:  # lhotse raises many kinds (missing file, bad header, ffmpeg)
            raise ClspError(f"cut '{item.id}': cannot load audio ({one_line(f'{type(e).__name__}: {e}')})") from None
        return load_audio((samples, item.sampling_rate))
    return load_audio(item)


def progress_bar(total: int, progress: bool | None, desc: str):
    from tqdm.auto import tqdm

    show = total >= LONG_LIST if progress is None else progress
    return tqdm(total=total, desc=desc, unit="clip", disable=not show, leave=False)


def embed_audio(model, items: Sequence[Any], batch_size: int = 16, progress: bool | None = None,
                desc: str = "embedding audio", rejects: list[tuple[int, str]] | None = None) -> torch.Tensor:
    """Items → (N, J) unit vectors, in order, ``batch_size`` clips per forward pass.

    ``progress``: ``None`` shows a bar from :data:`LONG_LIST` items on. With a ``rejects`` list, an item
    whose audio cannot be read is left out and ``(index, reason)`` appended to it; without one, the first
    such item raises :class:`ClspError`.
    """
    out = []
    with progress_bar(len(items), progress, desc) as bar:
        for start in range(0, len(items), batch_size):
            waves = []
            for i in range(start, min(start + batch_size, len(items))):
                try:
                    waves.append((load_item(items[i]), SAMPLING_RATE))
                except ClspError as e:
                    if rejects is None:
                        raise
                    rejects.append((i, str(e)))
            if waves:
                out.append(model.encode_audio(waves, batch_size=len(waves)))
            bar.update(min(batch_size, len(items) - start))
    return torch.cat(out) if out else torch.zeros(0, model.config.joint_dim)

