"""Test support: a tiny random-weight CLSP model (real Zipformer2 + MiniLM, small sizes) and pytest fixtures.

Test modules import the fixtures they use (``from eval.testing import model, model_dir, offline_hf``):
``offline_hf`` (autouse) keeps the Hugging Face libraries off the network, ``model_dir`` exports the tiny
model once per test session, ``model`` loads it once per module.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from clsp.model import CLSPModel, ModelConfig, SpeechEncoderConfig, ZipformerConfig

TINY_ZIPFORMER = dict(
    downsampling_factor=[2, 4], num_encoder_layers=[1, 1], encoder_dim=[48, 64], feedforward_dim=[96, 128],
    encoder_unmasked_dim=[32, 48], num_heads=[2, 2], cnn_module_kernel=[15, 15], embed_channels=[2, 4, 8],
)
OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_EVALUATE_OFFLINE", "HF_DATASETS_OFFLINE")


def tiny_model(seed: int = 0) -> CLSPModel:
    import torch

    torch.manual_seed(seed)
    return CLSPModel(ModelConfig(speech=SpeechEncoderConfig(zipformer=ZipformerConfig(**TINY_ZIPFORMER)))).eval()


def saved_tiny_model(directory: str | Path, seed: int = 0) -> Path:
    """Export :func:`tiny_model` to ``directory`` once (reused when already there); returns the folder."""
    d = Path(directory)
    if not (d / "model.safetensors").is_file():
        tiny_model(seed).save_pretrained(d)
    return d


@pytest.fixture(autouse=True, scope="module")
def offline_hf():
    with pytest.MonkeyPatch.context() as mp:
        for var in OFFLINE_VARS:
            mp.setenv(var, "1")
        yield


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return saved_tiny_model(tmp_path_factory.getbasetemp() / "eval_tiny_model")


@pytest.fixture(scope="module")
def model(model_dir) -> CLSPModel:
    return CLSPModel.from_pretrained(model_dir)
