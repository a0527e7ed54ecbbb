"""Shared fixtures: a small synthetic corpus (real espeak-ng audio, made once per session), a tiny random
CLSP model (real Zipformer2 + MiniLM at small sizes), tiny vLLM/transformers checkpoints, and no network
for the Hugging Face libraries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clsp.model import CLSPModel, ModelConfig, SpeechEncoderConfig, ZipformerConfig
from clsp.augment.config import AugmentConfig
from clsp.synth.corpus import SourceConfig, SynthConfig, synthesize_corpus

# Our 24 formant-scaled espeak-ng speakers (train/dev/test, no held-out source), no augmentation: fast, and the
# shape most tests expect. tests/test_synth.py builds a multi-source corpus of its own.
SMALL = dict(num_clips=60, seed=7, dev_fraction=0.2, test_fraction=0.2,
             sources={"espeak": SourceConfig(voices=["clsp_*"])},
             heldout_source=None, augment=AugmentConfig(fraction=0.0))
TINY_ZIPFORMER = ZipformerConfig(
    downsampling_factor=[2, 4], num_encoder_layers=[1, 1], encoder_dim=[48, 64], feedforward_dim=[96, 128],
    encoder_unmasked_dim=[32, 48], num_heads=[2, 2], cnn_module_kernel=[15, 15], embed_channels=[2, 4, 8],
)
OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_EVALUATE_OFFLINE", "HF_DATASETS_OFFLINE")


def tiny_model(seed: int = 0) -> CLSPModel:
    """A random-weight CLSP model with the tiny Zipformer2 and the offline MiniLM text encoder, in eval mode."""
    import torch

    torch.manual_seed(seed)
    return CLSPModel(ModelConfig(speech=SpeechEncoderConfig(zipformer=TINY_ZIPFORMER))).eval()


@pytest.fixture(autouse=True, scope="session")
def offline_hf():
    """Every test runs with the Hugging Face libraries offline (as on this machine and in CI)."""
    with pytest.MonkeyPatch.context() as mp:
        for var in OFFLINE_VARS:
            mp.setenv(var, "1")
        yield


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """:func:`tiny_model` exported once per session with ``save_pretrained``."""
    return tiny_model().save_pretrained(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="module")
def model(model_dir) -> CLSPModel:
    return CLSPModel.from_pretrained(model_dir)


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "synth"
    synthesize_corpus(SynthConfig(**SMALL, workers=2), out, progress=False)
    return out


def _tiny_cache() -> Path:
    """Where tiny test checkpoints are cached between runs (~/.cache/clsp-tests)."""
    import os

    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "clsp-tests"


@pytest.fixture(scope="session")
def tiny_qwen2_audio() -> Path:
    """A tiny random Qwen2-Audio checkpoint directory (vLLM CPU build + transformers loadable)."""
    from annotate.testing import build_tiny_qwen2_audio

    return build_tiny_qwen2_audio(_tiny_cache() / "tiny-qwen2-audio")


@pytest.fixture(scope="session")
def tiny_text_lm() -> Path:
    """A tiny random Qwen3 causal-LM checkpoint directory (vLLM CPU build + transformers loadable)."""
    from annotate.testing import build_tiny_text_lm

    return build_tiny_text_lm(_tiny_cache() / "tiny-text-lm")


def harmonic(f0: float, seconds: float, level_db: float = -20.0, sr: int = 16000) -> np.ndarray:
    """A voiced-like tone (S,) float32: 10 harmonics of ``f0`` Hz with 4 Hz amplitude bursts (syllables)."""
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 11))
    x *= 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2
    x = x / np.sqrt(np.mean(x**2)) * 10 ** (level_db / 20)
    return x.astype(np.float32)


@pytest.fixture(scope="session")
def demo_stages(tmp_path_factory) -> tuple[Path, dict[int, Path], dict[int, float]]:
    """The learning tests' shared work, done once per session: the demo corpus (``configs/synth-demo.yaml``:
    espeak-ng + Piper trained on, flite held out) and stages 1 and 2 trained on it with the demo configs.
    Returns (corpus folder, {stage: exported model folder}, {stage: training seconds})."""
    import time

    from clsp.config import load_config
    from clsp.train.config import TrainConfig
    from clsp.train.trainer import train

    repo = Path(__file__).resolve().parents[1]
    out = tmp_path_factory.mktemp("demo-stages")
    corpus = out / "data"
    synthesize_corpus(load_config(SynthConfig, repo / "configs" / "synth-demo.yaml"), corpus, progress=False)
    models: dict[int, Path] = {}
    seconds: dict[int, float] = {}
    for stage in (1, 2):
        t0 = time.monotonic()
        cfg = load_config(TrainConfig, repo / "configs" / f"demo-stage{stage}.yaml")
        models[stage] = train(cfg, corpus, out / f"s{stage}", init=models.get(stage - 1), progress=False)
        seconds[stage] = round(time.monotonic() - t0, 1)
    return corpus, models, seconds
