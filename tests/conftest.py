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
