"""A tiny random CLSP model (real Zipformer2 + MiniLM at small sizes) and the overrides that make a shipped
training config tiny, for tests."""

from __future__ import annotations

from pathlib import Path

from clsp.model import CLSPModel, ModelConfig, SpeechEncoderConfig, ZipformerConfig

TINY_ZIPFORMER = ZipformerConfig(
    downsampling_factor=[2, 4], num_encoder_layers=[1, 1], encoder_dim=[48, 64], feedforward_dim=[96, 128],
    encoder_unmasked_dim=[32, 48], num_heads=[2, 2], cnn_module_kernel=[15, 15], embed_channels=[2, 4, 8],
)
# `--set` overrides: TINY_RUN makes a run short and small, TINY also shrinks the Zipformer2 of a stage-1 config
# and leaves out the speaker branch (tests that need it, tests/test_speaker_branch.py and the demo's, add it).
TINY_RUN = ["data.max_duration=30", "data.num_buckets=2", "log_every=2", "threads=1"]
TINY = [
    "model.speech.zipformer.encoder_dim=[48,64]", "model.speech.zipformer.feedforward_dim=[96,128]",
    "model.speech.zipformer.encoder_unmasked_dim=[32,48]", "model.speech.zipformer.num_heads=[2,2]",
    "model.speech.zipformer.embed_channels=[2,4,8]", "model.speech.zipformer.speaker_branch=null", *TINY_RUN,
]


def tiny_model(seed: int = 0) -> CLSPModel:
    """A random-weight CLSP model with the tiny Zipformer2 and the offline MiniLM text encoder, in eval mode."""
    import torch

    torch.manual_seed(seed)
    return CLSPModel(ModelConfig(speech=SpeechEncoderConfig(zipformer=TINY_ZIPFORMER))).eval()


def tiny_train_config(name: str, *overrides: str):
    """The shipped ``configs/<name>`` made tiny; stage-2 configs start from an export, so only their run
    settings change."""
    from clsp.config import load_config
    from clsp.train.config import TrainConfig

    base = TINY if "stage1" in name else TINY_RUN
    return load_config(TrainConfig, name, [*base, *overrides])  # a shipped config, found by name


def params(model_dir: str | Path) -> dict:
    """The state dict of the model exported to ``model_dir``."""
    return CLSPModel.from_pretrained(model_dir).state_dict()
