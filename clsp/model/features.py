"""Model inputs from 16 kHz waveforms: lhotse log-mel fbank frames or padded waveforms.

Each speech encoder owns an :class:`InputSpec`; training batches and ``CLSPModel.encode_audio`` both call
it, so both see identical features.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from lhotse import Fbank, FbankConfig

from clsp.audio import SAMPLING_RATE


@lru_cache(maxsize=4)
def fbank_extractor(num_mel_bins: int, frame_shift: float = 0.01) -> Fbank:
    # lhotse defaults as in the recipe: 25 ms window, 10 ms shift, povey window, 20-7600 Hz, no dither.
    return Fbank(FbankConfig(num_mel_bins=num_mel_bins, frame_shift=frame_shift))


def pad_stack(items: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """list of (T_i, ...) → (B, max T_i, ...) zero-padded, and lengths (B,)."""
    lengths = torch.tensor([x.shape[0] for x in items], dtype=torch.long)
    out = items[0].new_zeros((len(items), int(lengths.max()), *items[0].shape[1:]))
    for i, x in enumerate(items):
        out[i, : x.shape[0]] = x
    return out, lengths


@dataclass(frozen=True)
class InputSpec:
    """What a speech encoder takes: ``kind`` ``"fbank"`` ((B, T, F) log-mel frames, one every ``frame_shift``
    seconds, F = ``num_mel_bins``) or ``"waveform"`` ((B, S) samples at 16 kHz). Picklable (DataLoader workers)."""

    kind: str
    num_mel_bins: int = 128
    frame_shift: float = 0.01  # seconds

    @property
    def min_seconds(self) -> float:
        """The shortest audio the encoders take: 10 fbank frames (Zipformer's Conv2dSubsampling fails below
        ~9), or 25 ms of samples (a wav2vec2-style feature extractor's receptive field)."""
        return 10 * self.frame_shift if self.kind == "fbank" else 0.025

    def __call__(self, waves: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """16 kHz mono waves → (inputs, lengths (B,) in frames or samples)."""
        if self.kind == "fbank":
            extractor = fbank_extractor(self.num_mel_bins, self.frame_shift)
            return pad_stack([torch.from_numpy(np.asarray(extractor.extract(w, SAMPLING_RATE), dtype=np.float32))
                              for w in waves])
        return pad_stack([torch.from_numpy(np.asarray(w, dtype=np.float32)) for w in waves])

    def seconds(self, lengths: torch.Tensor) -> float:
        """Total audio seconds of input lengths (frames or samples)."""
        per_item = self.frame_shift if self.kind == "fbank" else 1 / SAMPLING_RATE
        return float(lengths.sum()) * per_item
