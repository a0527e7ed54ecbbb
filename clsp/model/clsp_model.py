"""The CLSP dual encoder: speech and text encoders, CLSP's heads, a learnable temperature.

Heads (both branches, as the recipe): projection Linear(enc_dim, J)–ReLU–Linear(J, J), then transform
MLP Linear(J, J)–ReLU–Dropout–Linear(J, J), then L2 normalisation (J = ``joint_dim``, 512).
Speech frame features are mean-pooled over valid frames; ``model.pooled_norm: batch`` puts a BatchNorm on
the pooled speech and text vectors before the heads (:mod:`clsp.model.pooling` says why). ``logit_scale``
(log of the multiplier) starts at log(1/0.07) and is clamped to [0, log 100] after each optimiser step. An
optional frame head (:mod:`clsp.model.frame_head`) maps the unpooled (un-normalised) frames into the same joint
space (time-aligned grounding).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clsp.audio import END, FLUSH, AudioItem, load_audio, windows_by_length
from clsp.config import from_dict, to_dict
from clsp.errors import ClspError
from clsp.model.config import FrameHeadConfig, ModelConfig
from clsp.model.frame_head import FrameHead
from clsp.model.pooling import masked_mean, pooled_norm
from clsp.model.speech import build_speech_encoder
from clsp.model.text import TextEncoder

ENCODE_WINDOW_S = 30.0  # seconds: longer audio is encoded in windows (training clips are at most 30 s)
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TEXT_DIR = "text_encoder"
SPEECH_DIR = "speech_encoder"


class MLPLayers(nn.Module):
    """Linear–ReLU–Dropout–Linear; keys ``sequential.0`` and ``sequential.3`` as in the recipe."""

    def __init__(self, dim: int, dropout: float):
        super().__init__()
        self.sequential = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sequential(x)


def _projection(in_dim: int, dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, dim), nn.ReLU(), nn.Linear(dim, dim))


def _widened(layer: nn.Linear | nn.Conv1d, in_dim: int) -> nn.Linear | nn.Conv1d:
    """A copy of ``layer`` taking ``in_dim`` inputs: the old weights on the first inputs, zeros on the new ones."""
    if isinstance(layer, nn.Linear):
        new = nn.Linear(in_dim, layer.out_features)
    else:
        new = nn.Conv1d(in_dim, layer.out_channels, layer.kernel_size, padding=layer.padding)
    new = new.to(layer.weight.device)
    new.weight.zero_()
    new.weight[:, : layer.weight.shape[1]] = layer.weight
    new.bias.copy_(layer.bias)
    return new


class CLSPModel(nn.Module):
    def __init__(self, config: ModelConfig, pretrained: bool = True):
        """``pretrained=False`` builds every part from configs only (weights come from a checkpoint)."""
        super().__init__()
        self.config = config
        self.speech_encoder = build_speech_encoder(config.speech, pretrained=pretrained)
        self.text_encoder = TextEncoder(config.text, pretrained=pretrained)
        j = config.joint_dim
        self.audio_norm = pooled_norm(self.speech_encoder.output_dim, config.pooled_norm)
        self.audio_projection = _projection(self.speech_encoder.output_dim, j)
        self.audio_transform = MLPLayers(j, config.dropout)
        self.text_norm = pooled_norm(self.text_encoder.output_dim, config.pooled_norm)
        self.text_projection = _projection(self.text_encoder.output_dim, j)
        self.text_transform = MLPLayers(j, config.dropout)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.logit_scale_init)))
        if config.logit_bias_init is not None:
            self.logit_bias = nn.Parameter(torch.tensor(float(config.logit_bias_init)))
        else:
            self.logit_bias = None
        self.frame_head = self._frame_head(config.frame_head) if config.frame_head is not None else None

    def _frame_head(self, cfg: FrameHeadConfig) -> FrameHead:
        local_dim = 0
        if cfg.local_input is not None:
            if self.config.speech.backend != "zipformer":
                raise ClspError(f"frame_head.local_input {cfg.local_input!r} needs the zipformer speech backend")
            local_dim = self.speech_encoder.local_dim(cfg.local_input)
        return FrameHead(self._frame_head_dim(cfg), self.config.joint_dim, cfg, local_dim)

    def _frame_head_dim(self, cfg: FrameHeadConfig) -> int:
        """How many of the encoder's output dims the frame head reads: all, or without the voice vector."""
        encoder = self.speech_encoder
        return encoder.output_dim if cfg.read_voice else encoder.output_dim - encoder.voice_dim

    def add_frame_head(self, cfg: FrameHeadConfig) -> None:
        """Give a model without one a new (untrained) frame head; recorded in its config (and export)."""
        self.config.frame_head = cfg
        self.frame_head = self._frame_head(cfg).to(self.device)

    @torch.no_grad()
    def add_speaker_branch(self, weights: str, dim: int = 256) -> None:
        """Give a trained model without one the frozen speaker branch (:mod:`clsp.model.speaker`), so that it
        starts computing what it computed before: what reads the encoder's frames (the pooled norm, the
        projection's first layer, the frame head's convolution if it reads the voice) gets ``dim`` new input
        columns, zero-initialised weights (and the norm's running mean 0 and variance 1). Recorded in the config
        (and export)."""
        if self.config.speech.backend != "zipformer":
            raise ClspError("the speaker branch needs the zipformer speech backend")
        old_dim = self.speech_encoder.output_dim
        self.speech_encoder.add_speaker_branch(weights, dim)
        new_dim = self.speech_encoder.output_dim
        if isinstance(self.audio_norm, nn.BatchNorm1d):
            norm = pooled_norm(new_dim, self.config.pooled_norm).to(self.device)
            norm.running_mean[:old_dim] = self.audio_norm.running_mean
            norm.running_var[:old_dim] = self.audio_norm.running_var
            norm.num_batches_tracked.copy_(self.audio_norm.num_batches_tracked)
            self.audio_norm = norm
        self.audio_projection[0] = _widened(self.audio_projection[0], new_dim)
        if self.frame_head is not None and self.config.frame_head.read_voice:
            self.frame_head.conv = _widened(self.frame_head.conv, new_dim)

    @property
    def frame_shift(self) -> float:
        """Seconds between the speech encoder's output frames (what the frame head scores)."""
        return float(self.speech_encoder.output_frame_shift)

    # ---- training-time forward -------------------------------------------------------------------
    def forward_speech(self, inputs: torch.Tensor, lengths: torch.Tensor, return_frames: bool = False):
        """inputs (B, T, F) fbank or (B, S) waveforms with lengths (B,) → (B, J) unit vectors; with
        ``return_frames`` also the frame head's (B, T', J) unit vectors and their lengths (B,)."""
        local = self.config.frame_head.local_input if return_frames else None
        frames, frame_lens, *under = self.speech_encoder(inputs, lengths, **({"local": local} if local else {}))
        clip = self.speech_head(masked_mean(frames, frame_lens))
        if return_frames:
            read = frames[..., : self._frame_head_dim(self.config.frame_head)]
            return clip, self.frame_head(read, *under), frame_lens
        return clip

    def pool_speech(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs (B, T, F) or (B, S), lengths (B,) → pooled encoder features (B, D) and the encoder frames
        each row pooled over (B,) (the weights when windows of one recording are pooled together)."""
        frames, frame_lens = self.speech_encoder(inputs, lengths)
        return masked_mean(frames, frame_lens), frame_lens

    def speech_head(self, pooled: torch.Tensor) -> torch.Tensor:
        """Pooled speech-encoder features (B, D) → (B, J) unit vectors (through the pooled norm)."""
        return F.normalize(self.audio_transform(self.audio_projection(self.audio_norm(pooled))), dim=-1)

    def forward_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """token ids (M, L) → (M, J) unit vectors."""
        return self.text_head(self.text_encoder(input_ids, attention_mask))

    def text_head(self, pooled: torch.Tensor) -> torch.Tensor:
        """Pooled text-encoder output (M, D_text) → (M, J) unit vectors."""
        return F.normalize(self.text_transform(self.text_projection(self.text_norm(pooled))), dim=-1)

    def forward(self, inputs, lengths, input_ids=None, attention_mask=None, text_pooled=None,
                frames: bool = False) -> dict:
        """Either token ids (M, L) or an already pooled text-encoder output ``text_pooled`` (M, D_text).

        ``frames=True`` (a model with a frame head) adds ``frame_features`` (B, T', J), ``frame_lengths``
        (B,) and the frame-level sigmoid's ``frame_logit_scale`` (1/tau) and ``frame_logit_bias``.
        """
        text = self.text_head(text_pooled) if text_pooled is not None else self.forward_text(input_ids, attention_mask)
        # parameters are returned through an op (exp, clone): DDP's unused-parameter search follows grad_fn
        # from the outputs, and a bare parameter has none (it would be marked ready twice)
        bias = self.logit_bias.clone() if self.logit_bias is not None else None
        out = {"text_features": text, "logit_scale": self.logit_scale.exp(), "logit_bias": bias}
        if frames:
            out["speech_features"], out["frame_features"], out["frame_lengths"] = self.forward_speech(
                inputs, lengths, return_frames=True)
            out["frame_logit_scale"] = self.frame_head.calibration.logit_scale.exp()
            out["frame_logit_bias"] = self.frame_head.calibration.logit_bias.clone()
        else:
            out["speech_features"] = self.forward_speech(inputs, lengths)
        return out

    @torch.no_grad()
    def clamp_logit_scale(self) -> None:
        self.logit_scale.clamp_(0, self.config.logit_scale_max)
        if self.frame_head is not None:
            self.frame_head.calibration.logit_scale.clamp_(0, self.config.logit_scale_max)

    # ---- inference API ----------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    def speech_inputs(self, waves: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """16 kHz waves → the speech encoder's inputs (see :class:`clsp.model.features.InputSpec`)."""
        return self.speech_encoder.input_spec(waves)

    def _speech_batches(self, items: list[AudioItem], batch_size: int):
        """(inputs, lengths) on the model's device for ``batch_size`` items at a time, in eval mode (restored
        afterwards)."""
        was_training = self.training
        self.eval()
        try:
            for start in range(0, len(items), batch_size):
                inputs, lengths = self.speech_inputs([load_audio(item) for item in items[start:start + batch_size]])
                yield inputs.to(self.device), lengths.to(self.device)
        finally:
            self.train(was_training)

    @torch.no_grad()
    def encode_audio(self, items: list[AudioItem], batch_size: int = 16, window_s: float = ENCODE_WINDOW_S,
                     rejects: list[tuple[int, str]] | None = None,
                     progress: Callable[[int], None] | None = None) -> torch.Tensor:
        """File paths, (array, sampling_rate) pairs or lhotse cuts (resampled to 16 kHz) → (N, J) unit vectors,
        in the order of ``items``.

        Audio up to ``window_s`` seconds (as long as training clips) is encoded whole; longer audio in equal
        windows, read one at a time, whose encoder features are pooled together (weighted by frames): memory
        stays bounded whatever the length. Items are read once, in a loader thread while the model runs, and
        batched by length (longest first within each stretch of :func:`clsp.audio.windows_by_length`), so
        batches pad little; the order of the batches does not change the vectors. Audio shorter than the
        encoder takes, unreadable, empty or non-finite audio raises :class:`ClspError` naming the item; with a
        ``rejects`` list the item is left out instead (no output row) and ``(index, reason)`` appended (in index
        order). ``progress`` is called with the number of items finished (encoded or left out) after each batch.
        """
        was_training = self.training
        self.eval()
        try:
            vectors, failed = self._encode_by_length(items, batch_size, window_s, rejects is not None, progress)
        finally:
            self.train(was_training)
        if rejects is not None:
            rejects.extend(sorted(failed))
        if not vectors:
            return torch.zeros(0, self.config.joint_dim)
        return torch.stack([vectors[i] for i in sorted(vectors)])

    def _encode_by_length(self, items, batch_size, window_s, keep_going, progress):
        """{index: (J,) vector} and [(index, reason)] of :meth:`encode_audio` (which see)."""
        sums: dict[int, list] = {}  # item index -> [frame-weighted sum of pooled features (D,), frames]
        batch: list[tuple[int, np.ndarray]] = []
        ended: list[int] = []  # items whose windows are all read (and queued in `batch` or encoded)
        vectors: dict[int, torch.Tensor] = {}
        failed: list[tuple[int, str]] = []

        def run() -> None:
            if batch:
                inputs, lengths = self.speech_inputs([w for _, w in batch])
                pooled, frames = self.pool_speech(inputs.to(self.device), lengths.to(self.device))
                for (i, _), vec, n in zip(batch, pooled.double().cpu(), frames.cpu().tolist()):
                    acc = sums.setdefault(i, [0.0, 0])
                    acc[0], acc[1] = acc[0] + vec * n, acc[1] + n
                batch.clear()
            if ended:  # every window of these has now been encoded
                pooled = torch.stack([sums[i][0] / max(sums[i][1], 1) for i in ended])
                heads = self.speech_head(pooled.to(self.device, torch.get_default_dtype())).float().cpu()
                vectors.update({i: v for i, v in zip(ended, heads)})
                for i in ended:
                    del sums[i]
                if progress is not None:
                    progress(len(ended))
                ended.clear()

        min_s = self.speech_encoder.input_spec.min_seconds
        for i, got in windows_by_length(items, window_s, min_s, sort_ahead=max(64 * batch_size, 1024),
                                        depth=2 * batch_size):
            if isinstance(got, np.ndarray):
                batch.append((i, got))
                if len(batch) == batch_size:
                    run()
            elif got is END:
                ended.append(i)
            elif got is FLUSH:
                run()
            else:  # a ClspError: this item is left out (or the call fails)
                if not keep_going:
                    raise got
                failed.append((i, str(got)))
                sums.pop(i, None)
                batch[:] = [b for b in batch if b[0] != i]
                if progress is not None:
                    progress(1)
        run()
        return vectors, failed

    @torch.no_grad()
    def encode_frames(self, items: list[AudioItem], batch_size: int = 16) -> list[torch.Tensor]:
        """File paths, (array, sampling_rate) pairs or lhotse cuts → one (T_i, J) tensor of frame-head unit vectors per
        item, a frame every :attr:`frame_shift` seconds. Needs a frame head."""
        if self.frame_head is None:
            raise ClspError("this model has no frame head (train it with grounding.weight > 0)")
        out = []
        for inputs, lengths in self._speech_batches(items, batch_size):
            _, frames, frame_lens = self.forward_speech(inputs, lengths, return_frames=True)
            out += [f[:n].float().cpu() for f, n in zip(frames, frame_lens.tolist())]
        return out

    @torch.no_grad()
    def encode_text(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        """Captions → (M, J) unit vectors."""
        was_training = self.training
        self.eval()
        out = []
        for start in range(0, len(texts), batch_size):
            tok = self.text_encoder.tokenize(texts[start:start + batch_size], self.device)
            out.append(self.forward_text(tok["input_ids"], tok["attention_mask"]).float().cpu())
        self.train(was_training)
        return torch.cat(out) if out else torch.zeros(0, self.config.joint_dim)

    @staticmethod
    def similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of unit vectors: (N, J) × (M, J) → (N, M)."""
        return a @ b.T

    # ---- export -----------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json``, ``model.safetensors`` and the text (and HF speech) configs + tokenizer,
        so :meth:`from_pretrained` needs nothing else (offline)."""
        from safetensors.torch import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        cfg = to_dict(self.config)
        self.text_encoder.tokenizer.save_pretrained(out / TEXT_DIR)
        self.text_encoder.model.config.save_pretrained(out / TEXT_DIR)
        cfg["text"].update(name_or_path=TEXT_DIR, config=None)
        if self.config.speech.backend == "hf":
            self.speech_encoder.save_config(out / SPEECH_DIR)
            cfg["speech"]["hf"].update(name_or_path=SPEECH_DIR, config=None)
        cfg["speech"]["zipformer"]["init_checkpoint"] = None
        (out / CONFIG_FILE).write_text(json.dumps(cfg, indent=2))
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(state, str(out / WEIGHTS_FILE))
        return out

    @classmethod
    def from_pretrained(cls, directory: str | Path, map_location: str | torch.device = "cpu",
                        trust_remote_code: bool = False) -> CLSPModel:
        """Load an exported model. Code shipped inside the folder (transformers' ``trust_remote_code``) runs
        only when the caller passes ``trust_remote_code=True`` (``--trust-remote-code``): the folder's own
        ``config.json`` asking for it is an error otherwise, never a permission."""
        from safetensors.torch import load_file

        d = Path(directory)
        if not (d / CONFIG_FILE).is_file() or not (d / WEIGHTS_FILE).is_file():
            raise ClspError(f"{d}: not an exported CLSP model (expected {CONFIG_FILE} and {WEIGHTS_FILE})")
        raw = json.loads((d / CONFIG_FILE).read_text())
        parts = [raw["text"]] + ([raw["speech"]["hf"]] if raw["speech"]["backend"] == "hf" else [])
        if any(part.get("trust_remote_code") for part in parts) and not trust_remote_code:
            raise ClspError(f"{d / CONFIG_FILE}: the model asks to run code shipped in its folder (trust_remote_code);"
                            " a model folder cannot allow that itself: pass --trust-remote-code if you trust it")
        for part in parts:
            part["trust_remote_code"] = bool(part.get("trust_remote_code")) and trust_remote_code
        raw["text"]["name_or_path"] = str(d / raw["text"]["name_or_path"])
        if raw["speech"]["backend"] == "hf":
            raw["speech"]["hf"]["name_or_path"] = str(d / raw["speech"]["hf"]["name_or_path"])
        config = from_dict(ModelConfig, raw, where=str(d / CONFIG_FILE))
        model = cls(config, pretrained=False)
        state = load_file(str(d / WEIGHTS_FILE), device=str(map_location))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ClspError(f"{d / WEIGHTS_FILE}: weights do not match the config ({len(missing)} missing, e.g. "
                            f"{missing[:3]}; {len(unexpected)} unexpected, e.g. {unexpected[:3]})")
        bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            raise ClspError(f"{d / WEIGHTS_FILE}: {len(bad)} tensors hold NaN or inf (e.g. {bad[0]}): the model "
                            "was damaged in training and gives no usable scores")
        model.eval()
        return model


def store_frame_thresholds(directory: str | Path, thresholds: dict[str, float]) -> Path:
    """Write calibrated grounding thresholds (``{target key: score}``) into an exported model's
    ``config.json`` (``frame_head.thresholds``), replacing the ones there; weights untouched. Returns the file."""
    path = Path(directory) / CONFIG_FILE
    raw = json.loads(path.read_text())
    if raw.get("frame_head") is None:
        raise ClspError(f"{path}: the model has no frame head to store grounding thresholds in")
    raw["frame_head"]["thresholds"] = {k: float(v) for k, v in thresholds.items()}
    from_dict(FrameHeadConfig, raw["frame_head"], where=str(path), prefix="frame_head.").validate()
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(raw, indent=2))
    tmp.replace(path)
    return path
