"""Shared fixtures: a small synthetic corpus, made once per test session with real espeak-ng audio."""

from __future__ import annotations

from pathlib import Path

import pytest

from clsp.synth.corpus import SynthConfig, synthesize_corpus

SMALL = dict(num_clips=60, seed=7, dev_fraction=0.2, test_fraction=0.2)


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
