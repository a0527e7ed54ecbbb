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
from clsp.model.speaker import SPEAKER_FRAME_SHIFT, SPEAKER_MELS, speaker_mel_frames


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
    seconds, F = ``num_mel_bins``) or ``"waveform"`` ((B, S) samples at 16 kHz). Picklable (DataLoader workers).

    ``speaker``: each fbank row also carries the frozen speaker branch's input (:mod:`clsp.model.speaker`): the
    ``r = frame_shift / 0.01`` GE2E mel frames of its stretch, so F = ``num_mel_bins + 40 r`` (one tensor, so
    padding, batching and windows of long audio treat both alike; the encoder splits them)."""

    kind: str
    num_mel_bins: int = 128
    frame_shift: float = 0.01  # seconds
    speaker: bool = False

    @property
    def speaker_group(self) -> int:
        """GE2E mel frames (10 ms) per fbank row."""
        return round(self.frame_shift / SPEAKER_FRAME_SHIFT)

    @property
    def min_seconds(self) -> float:
        """The shortest audio the encoders take: 10 fbank frames (Zipformer's Conv2dSubsampling fails below
        ~9), or 25 ms of samples (a wav2vec2-style feature extractor's receptive field)."""
        return 10 * self.frame_shift if self.kind == "fbank" else 0.025

    def __call__(self, waves: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """16 kHz mono waves → (inputs, lengths (B,) in frames or samples)."""
        if self.kind == "fbank":
            extractor = fbank_extractor(self.num_mel_bins, self.frame_shift)
            feats = [np.asarray(extractor.extract(w, SAMPLING_RATE), dtype=np.float32) for w in waves]
            if self.speaker:
                feats = [np.concatenate([f, self._speaker_rows(w, f.shape[0])], axis=1) for f, w in zip(feats, waves)]
            return pad_stack([torch.from_numpy(f) for f in feats])
        return pad_stack([torch.from_numpy(np.asarray(w, dtype=np.float32)) for w in waves])

    def _speaker_rows(self, wave: np.ndarray, rows: int) -> np.ndarray:
        """(rows, 40 r) GE2E mel frames of ``wave``, ``r`` consecutive frames per row (the last frame repeated or
        the tail cut to fill exactly ``rows``)."""
        r = self.speaker_group
        mels = speaker_mel_frames(wave)
        want = rows * r
        if mels.shape[0] < want:
            mels = np.concatenate([mels, np.repeat(mels[-1:], want - mels.shape[0], axis=0)])
        return mels[:want].reshape(rows, r * SPEAKER_MELS)

    def split(self, inputs: torch.Tensor, lengths: torch.Tensor):
        """(B, T, F + 40 r) rows of a ``speaker`` spec → fbank (B, T, F), lengths (B,), GE2E mels (B, r T, 40)
        and their lengths (B,)."""
        r = self.speaker_group
        fbank = inputs[..., : self.num_mel_bins]
        mels = inputs[..., self.num_mel_bins:].reshape(inputs.shape[0], inputs.shape[1] * r, SPEAKER_MELS)
        return fbank, lengths, mels, lengths * r

    def seconds(self, lengths: torch.Tensor) -> float:
        """Total audio seconds of input lengths (frames or samples)."""
        per_item = self.frame_shift if self.kind == "fbank" else 1 / SAMPLING_RATE
        return float(lengths.sum()) * per_item
