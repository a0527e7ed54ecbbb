"""Speech encoder backends behind one interface.

Every backend is an ``nn.Module`` with

- ``input_spec``: an :class:`~clsp.model.features.InputSpec` turning 16 kHz waves into its inputs: ``"fbank"``
  ((B, T, F) log-mel frames, 100 Hz by default) or ``"waveform"`` ((B, S) at 16 kHz);
- ``output_dim``: D; ``output_frame_shift``: seconds between output frames; ``voice_dim``: how many of the D
  are one utterance vector repeated on every frame (the speaker branch's; 0 without one), always the last;
- ``forward(inputs, lengths) -> (features (B, T', D), lengths (B,))`` with lengths in frames/samples.

Backends: :class:`ZipformerSpeechEncoder` (icefall's Zipformer2 from the PyPI ``zipformer`` package, the
CLSP/SPEAR encoder) and :class:`HFAudioEncoder` (any transformers audio encoder).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from clsp.audio import SAMPLING_RATE
from clsp.errors import ClspError
from clsp.model.config import HFAudioConfig, SpeechEncoderConfig, ZipformerConfig
from clsp.model.features import InputSpec
from clsp.model.speaker import SpeakerEncoder

# The zipformer package wraps its Swoosh activations in torch.compile unless this is "1" (read when a
# module is built). Compiling costs ~25 s per shape on 2 cores and was no faster here; export
# K2_ONNX_EXPORT=0 before building the model to compile on a GPU cluster.
os.environ.setdefault("K2_ONNX_EXPORT", "1")


class ZipformerSpeechEncoder(nn.Module):
    """Conv2dSubsampling (100 → 50 Hz) + Zipformer2 with output downsampling ×2 (→ 25 Hz).

    Module names match the CLSP recipe (``encoder_embed``, ``encoder``) so SPEAR checkpoints load.
    """

    def __init__(self, cfg: ZipformerConfig, pretrained: bool = True):
        """``pretrained``: load the speaker branch's weights file (else they come from a model's checkpoint)."""
        super().__init__()
        from zipformer.modules.subsampling import Conv2dSubsampling
        from zipformer.modules.zipformer import Zipformer

        c1, c2, c3 = cfg.embed_channels
        self.encoder_embed = Conv2dSubsampling(in_channels=cfg.num_mel_bins, out_channels=cfg.encoder_dim[0],
                                               layer1_channels=c1, layer2_channels=c2, layer3_channels=c3)
        self.encoder = Zipformer(
            output_downsampling_factor=2,
            downsampling_factor=tuple(cfg.downsampling_factor),
            num_encoder_layers=tuple(cfg.num_encoder_layers),
            encoder_dim=tuple(cfg.encoder_dim),
            encoder_unmasked_dim=tuple(cfg.encoder_unmasked_dim),
            query_head_dim=cfg.query_head_dim,
            pos_head_dim=cfg.pos_head_dim,
            value_head_dim=cfg.value_head_dim,
            num_heads=tuple(cfg.num_heads),
            feedforward_dim=tuple(cfg.feedforward_dim),
            cnn_module_kernel=tuple(cfg.cnn_module_kernel),
            pos_dim=cfg.pos_dim,
        )
        self.output_dim = max(cfg.encoder_dim)
        self.voice_dim = 0
        self.output_frame_shift = 4 * cfg.frame_shift  # seconds: Conv2dSubsampling ×2, output downsampling ×2
        self.input_spec = speech_input_spec(SpeechEncoderConfig(backend="zipformer", zipformer=cfg))
        self.cfg = cfg
        self.speaker = None
        if cfg.speaker_branch is not None:
            self._build_speaker(load=pretrained)

    def _build_speaker(self, load: bool) -> None:
        cfg = self.cfg
        self.speaker = SpeakerEncoder()
        if load:
            self.speaker.load_weights(cfg.speaker_branch)
        self.speaker_proj = (nn.Linear(SpeakerEncoder.output_dim, cfg.speaker_dim)
                             if cfg.speaker_dim < SpeakerEncoder.output_dim else None)
        self.output_dim = max(cfg.encoder_dim) + cfg.speaker_dim
        self.voice_dim = cfg.speaker_dim
        self.input_spec = speech_input_spec(SpeechEncoderConfig(backend="zipformer", zipformer=cfg))

    def add_speaker_branch(self, weights: str, dim: int = SpeakerEncoder.output_dim) -> None:
        """Give an encoder without one the speaker branch (its weights loaded; ``cfg.speaker_branch`` and
        ``speaker_dim`` set, so the model's config records it): output_dim grows by ``dim``, the caller widens
        what reads the frames (:meth:`clsp.model.CLSPModel.add_speaker_branch`)."""
        if self.speaker is not None:
            raise ClspError("the speech encoder already has a speaker branch")
        self.cfg.speaker_branch, self.cfg.speaker_dim = weights, dim
        self.cfg.validate()
        device = next(self.parameters()).device
        self._build_speaker(load=True)
        self.speaker.to(device)
        if self.speaker_proj is not None:
            self.speaker_proj.to(device)

    def local_dim(self, local: str) -> int:
        """Per-output-frame size of :meth:`forward`'s ``local`` features: 4 fbank frames, or 2 front-end frames."""
        return {"fbank": 4 * self.cfg.num_mel_bins, "embed": 2 * self.cfg.encoder_dim[0]}[local]

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor, local: str | None = None):
        """inputs (B, T, F) fbank, T == lengths.max() → (B, ((T-7)//2+1)//2, D), lengths in output frames
        (a quarter of the fbank frame rate: 25 Hz at the default 10 ms shift). With the speaker branch, inputs
        also carry its mel frames (:class:`InputSpec`) and every output frame ends with the (B, 256) utterance
        embedding, scaled by 16 (unit RMS per dimension, as the encoder's features); in training, zeros instead
        for a ``speaker_dropout`` share of the clips (modality dropout).

        ``local`` ("fbank" or "embed") also returns, as a third item, what lies under each output frame before
        any attention: (B, T', 4F) fbank frames or (B, T', 2 D_0) front-end frames (:meth:`local_dim`)."""
        from zipformer.utils import make_pad_mask

        if self.speaker is not None:
            inputs, lengths, mels, mel_lens = self.input_spec.split(inputs, lengths)
        x, x_lens = self.encoder_embed(inputs, lengths)
        y, y_lens = self.encoder(x.permute(1, 0, 2), x_lens, make_pad_mask(x_lens))
        y = y.permute(1, 0, 2)
        if self.speaker is not None:
            voice = self.speaker(mels, mel_lens) * SpeakerEncoder.output_dim ** 0.5
            if self.speaker_proj is not None:
                voice = self.speaker_proj(voice)
            if self.training and self.cfg.speaker_dropout > 0:
                keep = torch.rand(voice.shape[0], 1, device=voice.device) >= self.cfg.speaker_dropout
                voice = voice * keep.to(voice.dtype)
            y = torch.cat([y, voice[:, None, :].expand(-1, y.shape[1], -1)], dim=-1)
        if local is None:
            return y, y_lens
        under = {"fbank": (inputs, 4), "embed": (x, 2)}[local]
        return y, y_lens, stack_frames(*under, y.shape[1])


def stack_frames(x: torch.Tensor, factor: int, frames: int) -> torch.Tensor:
    """(B, T, D) → (B, frames, factor·D): consecutive groups of ``factor`` frames side by side, the time axis cut
    or padded (zeros) to ``factor · frames`` first."""
    b, t, d = x.shape
    need = factor * frames
    x = x[:, :need] if t >= need else torch.nn.functional.pad(x, (0, 0, 0, need - t))
    return x.reshape(b, frames, factor * d)


def set_batch_count(model: nn.Module, batch_count: float) -> None:
    """Zipformer's ScheduledFloat values (dropout, skip rates) follow ``batch_count``; keep it current."""
    for module in model.modules():
        if hasattr(module, "batch_count"):
            module.batch_count = batch_count


class HFAudioEncoder(nn.Module):
    """A transformers audio encoder on 16 kHz waveforms; ``last_hidden_state`` are the frame features.

    wav2vec2-style models (WavLM, HuBERT, wav2vec2, ...) take normalised waveforms; Whisper takes its
    log-mel features (computed here with its feature extractor) and only the encoder is kept.
    """

    input_spec = InputSpec("waveform")

    def __init__(self, cfg: HFAudioConfig, pretrained: bool = True):
        super().__init__()
        from transformers import AutoConfig, AutoModel

        try:
            if cfg.config is not None:
                spec = dict(cfg.config)
                if "model_type" not in spec:
                    raise ClspError("speech.hf.config needs a 'model_type' (e.g. wavlm, hubert, wav2vec2, whisper)")
                config = AutoConfig.for_model(spec.pop("model_type"), **spec)
                model = AutoModel.from_config(config)
            elif pretrained:
                model = AutoModel.from_pretrained(cfg.name_or_path, trust_remote_code=cfg.trust_remote_code)
            else:
                config = AutoConfig.from_pretrained(cfg.name_or_path, trust_remote_code=cfg.trust_remote_code)
                model = AutoModel.from_config(config, trust_remote_code=cfg.trust_remote_code)
        except (OSError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ClspError(f"speech encoder '{cfg.name_or_path or 'config'}': {first}") from None
        self.is_whisper = model.config.model_type == "whisper"
        if self.is_whisper:
            from transformers import WhisperFeatureExtractor

            self.feature_extractor = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins)
            model = model.get_encoder()
        self.model = model
        self.output_dim = model.config.d_model if self.is_whisper else model.config.hidden_size
        self.voice_dim = 0
        self.output_frame_shift = 0.02  # seconds: 50 Hz frames (wav2vec2-style conv stack, Whisper encoder)

    def save_config(self, directory: Path) -> None:
        self.model.config.save_pretrained(directory)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs (B, S) waveforms at 16 kHz, lengths (B,) samples → (B, T', D), lengths (B,) frames."""
        if self.is_whisper:
            waves = [w[:n].float().cpu().numpy() for w, n in zip(inputs, lengths.tolist())]
            feats = self.feature_extractor(waves, sampling_rate=SAMPLING_RATE, return_tensors="pt").input_features
            out = self.model(input_features=feats.to(inputs.device, self.model.dtype)).last_hidden_state
            out_lens = torch.clamp((lengths + 319) // 320, max=out.shape[1])  # 50 Hz encoder frames
            return out, out_lens
        mask = torch.arange(inputs.shape[1], device=inputs.device)[None, :] < lengths[:, None]
        mean = (inputs * mask).sum(1, keepdim=True) / lengths[:, None]
        var = (((inputs - mean) * mask) ** 2).sum(1, keepdim=True) / lengths[:, None]
        normed = (inputs - mean) / torch.sqrt(var + 1e-7) * mask
        out = self.model(input_values=normed, attention_mask=mask.long()).last_hidden_state
        out_lens = self.model._get_feat_extract_output_lengths(lengths).long()
        return out, torch.clamp(out_lens, max=out.shape[1])


def speech_input_spec(cfg: SpeechEncoderConfig) -> InputSpec:
    """The inputs the encoder of ``cfg`` takes, without building it (its ``input_spec``): Zipformer's fbank frames
    (``num_mel_bins``, one every ``frame_shift`` s) or a transformers encoder's 16 kHz waveforms."""
    if cfg.backend == "zipformer":
        return InputSpec("fbank", cfg.zipformer.num_mel_bins, cfg.zipformer.frame_shift,
                         speaker=cfg.zipformer.speaker_branch is not None)
    return HFAudioEncoder.input_spec


def build_speech_encoder(cfg: SpeechEncoderConfig, pretrained: bool = True) -> nn.Module:
    if cfg.backend == "zipformer":
        encoder = ZipformerSpeechEncoder(cfg.zipformer, pretrained=pretrained)
        if pretrained and cfg.zipformer.init_checkpoint:
            from clsp.model.checkpoints import load_spear_checkpoint

            load_spear_checkpoint(encoder, cfg.zipformer.init_checkpoint)
        return encoder
    return HFAudioEncoder(cfg.hf, pretrained=pretrained)
