"""Model inputs from 16 kHz waveforms: lhotse 128-bin fbank (100 Hz) or padded waveforms.

The same function serves training batches and ``CLSPModel.encode_audio``, so both see identical features.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from lhotse import Fbank, FbankConfig

SAMPLING_RATE = 16000


@lru_cache(maxsize=4)
def fbank_extractor(num_mel_bins: int) -> Fbank:
    # lhotse defaults as in the recipe: 25 ms window, 10 ms shift, povey window, 20-7600 Hz, no dither.
    return Fbank(FbankConfig(num_mel_bins=num_mel_bins))


def pad_stack(items: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """list of (T_i, ...) → (B, max T_i, ...) zero-padded, and lengths (B,)."""
    lengths = torch.tensor([x.shape[0] for x in items], dtype=torch.long)
    out = items[0].new_zeros((len(items), int(lengths.max()), *items[0].shape[1:]))
    for i, x in enumerate(items):
        out[i, : x.shape[0]] = x
    return out, lengths


def speech_inputs(waves: list[np.ndarray], input_kind: str, num_mel_bins: int = 128) -> tuple[torch.Tensor,
                                                                                                 torch.Tensor]:
    """16 kHz mono waves → (fbank (B, T, F), frames (B,)) or (waveforms (B, S), samples (B,))."""
    if input_kind == "fbank":
        extractor = fbank_extractor(num_mel_bins)
        feats = [torch.from_numpy(np.asarray(extractor.extract(w, SAMPLING_RATE), dtype=np.float32)) for w in waves]
        return pad_stack(feats)
    return pad_stack([torch.from_numpy(np.asarray(w, dtype=np.float32)) for w in waves])
