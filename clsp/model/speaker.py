"""A frozen speaker branch: a GE2E speaker encoder whose utterance embedding joins the speech encoder's frames.

Why: a small speech encoder trained from scratch on a few synthetic voices learns gender from the cues of
those voices (the F0 band, one engine's formant scaling), and it does not carry over to another source (the
demo's held-out engine: gender WA 0.71-0.88 over three seeds). A speaker encoder trained on thousands of real
speakers (GE2E, Wan et al. 2018) separates voices by cues that hold across sources: a linear probe on its
embeddings tells the held-out engine's gender apart without error. Its weights stay frozen; the joint heads
learn what of it the captions talk about.

The network is GE2E's as trained and shipped by the PyPI package ``resemblyzer`` (Apache-2.0; its file
``pretrained.pt``): 40-band mel power frames (25 ms Hann windows every 10 ms at 16 kHz, audio scaled to
-30 dBFS) → 3-layer LSTM (256) → Linear (256) → ReLU → unit length, over 1.6 s partial windows whose
embeddings are averaged (the package's ``embed_utterance``). This module is written here from that
description; only the weights file is read from the package (it is installed without its dependencies).
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clsp.audio import SAMPLING_RATE
from clsp.errors import ClspError

SPEAKER_MELS = 40  # mel bands of the GE2E input
SPEAKER_FRAME_SHIFT = 0.01  # seconds between GE2E input frames
WINDOW_FRAMES = 160  # 1.6 s partial windows
WINDOW_STEP = 77  # frames between partial windows (the package's 1.3 windows per second)
MIN_COVERAGE = 0.75  # a last partial window is added when it would be at least this much audio
TARGET_DBFS = -30.0
CACHE_SIZE = 50_000  # utterance embeddings remembered (1 KiB each): a clip seen again costs no LSTM run
# the utterance embeddings of every SpeakerEncoder in the process, keyed by weights digest + mel-frame digest
_VECTORS: OrderedDict[bytes, torch.Tensor] = OrderedDict()
_N_FFT = 400  # 25 ms at 16 kHz
_HOP = 160  # 10 ms


def _slaney_hz_to_mel(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    mel = f / (200.0 / 3)
    log_part = f >= 1000.0
    return np.where(log_part, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), mel)


def _slaney_mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """(40, 201) Slaney-scale, Slaney-normalised triangular filters over 0-8000 Hz for a 400-point FFT at 16 kHz
    (the filters the GE2E weights were trained with)."""
    fft_hz = np.linspace(0, SAMPLING_RATE / 2, _N_FFT // 2 + 1)
    edges = _slaney_mel_to_hz(np.linspace(_slaney_hz_to_mel(0.0), _slaney_hz_to_mel(SAMPLING_RATE / 2),
                                          SPEAKER_MELS + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def speaker_mel_frames(wave: np.ndarray) -> np.ndarray:
    """(S,) samples at 16 kHz → (1 + S // 160, 40) mel power frames, the GE2E input (the audio first scaled to
    -30 dBFS, so the embedding does not follow the level)."""
    wave = np.asarray(wave, dtype=np.float64)
    power = float(np.mean(wave ** 2)) if wave.size else 0.0
    if power > 0:
        wave = wave * 10 ** ((TARGET_DBFS - 10 * np.log10(power)) / 20)
    padded = np.pad(wave, _N_FFT // 2)  # centred frames, zero padding
    n_frames = 1 + (padded.size - _N_FFT) // _HOP
    if n_frames < 1:
        return np.zeros((0, SPEAKER_MELS), dtype=np.float32)
    idx = np.arange(_N_FFT)[None, :] + _HOP * np.arange(n_frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_N_FFT) / _N_FFT)  # periodic Hann
    spectrum = np.abs(np.fft.rfft(padded[idx] * window, axis=1)) ** 2
    return (spectrum @ mel_filterbank().T.astype(np.float64)).astype(np.float32)


def resemblyzer_weights() -> Path:
    """The GE2E weights file shipped in the PyPI package ``resemblyzer`` (found without importing the package,
    whose own imports need webrtcvad and librosa)."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise ClspError("speaker branch: the PyPI package 'resemblyzer' (its GE2E weights) is not installed; "
                        "pip install --no-deps resemblyzer")
    path = Path(list(spec.submodule_search_locations)[0]) / "pretrained.pt"
    if not path.is_file():
        raise ClspError(f"speaker branch: {path} not found in the installed 'resemblyzer' package")
    return path


class SpeakerEncoder(nn.Module):
    """GE2E: (B, T, 40) mel power frames (10 ms) with lengths (B,) → (B, 256) unit vectors. Frozen (no
    parameter requires grad; ``train()`` keeps it in eval mode).

    Being frozen, an utterance always gets the same vector: the last :data:`CACHE_SIZE` are kept, keyed by a
    hash of the weights and of the mel frames, so the clips of a training corpus run through the LSTM once, not
    once per epoch (the demo's ~5 epochs: its cost per step falls from about as much as the small Zipformer's to
    a fifth). The cache is shared by every encoder in the process (:data:`_VECTORS`), so the stages and
    evaluations of one run (``clsp demo``: stages 1-3 and their reports) pay for each clip once, not once per
    model loaded.
    """

    output_dim = 256

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(SPEAKER_MELS, 256, num_layers=3, batch_first=True)
        self.linear = nn.Linear(256, self.output_dim)
        self.requires_grad_(False)
        self.eval()
        self._weights_key: bytes | None = None  # digest of the weights, made at the first forward after a load

    def train(self, mode: bool = True) -> SpeakerEncoder:
        return super().train(False)

    def load_weights(self, weights: str) -> None:
        """``weights``: ``"resemblyzer"`` (the PyPI package's file) or a path to a file in its format (a torch
        pickle with ``model_state``: ``lstm.*`` and ``linear.*``)."""
        path = resemblyzer_weights() if weights == "resemblyzer" else Path(weights)
        if not path.is_file():
            raise ClspError(f"speaker branch: weights file {path} not found")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # a torch pickle that is not one, or cut short
            raise ClspError(f"speaker branch: {path} is not a GE2E weights file ({type(e).__name__})") from None
        state = state.get("model_state", state) if isinstance(state, dict) else {}
        ours = {k: v for k, v in state.items() if k.startswith(("lstm.", "linear."))}
        missing = set(self.state_dict()) - set(ours)
        if missing:
            raise ClspError(f"speaker branch: {path} lacks {len(missing)} GE2E weights (e.g. {sorted(missing)[0]})")
        self.load_state_dict(ours)

    @staticmethod
    def windows(n_frames: int) -> list[tuple[int, int]]:
        """(start, end) frame ranges of the partial windows of an utterance of ``n_frames`` frames: the whole
        utterance when it is at most one window long."""
        if n_frames <= WINDOW_FRAMES:
            return [(0, max(n_frames, 1))]
        starts = list(range(0, n_frames - WINDOW_FRAMES + 1, WINDOW_STEP))
        last_end = starts[-1] + WINDOW_FRAMES
        if n_frames - last_end >= MIN_COVERAGE * WINDOW_STEP:
            starts.append(n_frames - WINDOW_FRAMES)
        return [(s, s + WINDOW_FRAMES) for s in starts]

    def _load_from_state_dict(self, *args, **kwargs):
        self._weights_key = None  # new weights, new vectors
        super()._load_from_state_dict(*args, **kwargs)

    def weights_key(self) -> bytes:
        """A digest of the LSTM and linear weights (the cache's key prefix)."""
        if self._weights_key is None:
            h = hashlib.blake2b(digest_size=16)
            for name, tensor in sorted(self.state_dict().items()):
                h.update(name.encode())
                h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
            self._weights_key = h.digest()
        return self._weights_key

    @torch.no_grad()
    def forward(self, mels: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        frames = mels.detach().cpu()
        weights = self.weights_key()
        keys = [weights + hashlib.blake2b(frames[b, :n].numpy().tobytes(), digest_size=16).digest()
                + n.to_bytes(4, "little") for b, n in enumerate(lengths.tolist())]
        todo = [b for b, k in enumerate(keys) if k not in _VECTORS]
        if todo:
            fresh = self._embed(mels[todo], lengths[todo])
            for b, vector in zip(todo, fresh.cpu()):
                _VECTORS[keys[b]] = vector
                if len(_VECTORS) > CACHE_SIZE:
                    _VECTORS.popitem(last=False)
        for k in keys:
            _VECTORS.move_to_end(k)
        return torch.stack([_VECTORS[k] for k in keys]).to(mels.device)

    def _embed(self, mels: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The LSTM over partial windows: (B, T, 40), (B,) → (B, 256) unit vectors."""
        pieces, owner = [], []
        for b, n in enumerate(lengths.tolist()):
            for start, end in self.windows(int(n)):
                pieces.append(mels[b, start:end])
                owner.append(b)
        piece_lens = torch.tensor([p.shape[0] for p in pieces])
        padded = nn.utils.rnn.pad_sequence(pieces, batch_first=True)
        packed = nn.utils.rnn.pack_padded_sequence(padded, piece_lens, batch_first=True, enforce_sorted=False)
        _, (hidden, _) = self.lstm(packed)
        embeds = F.normalize(F.relu(self.linear(hidden[-1])), dim=-1)  # (windows, 256)
        owner_t = torch.tensor(owner, device=embeds.device)
        summed = torch.zeros(mels.shape[0], self.output_dim, device=embeds.device).index_add_(0, owner_t, embeds)
        return F.normalize(summed, dim=-1)
