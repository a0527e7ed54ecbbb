"""Shared fixtures: a small synthetic corpus (real espeak-ng audio, made once per session), a tiny random
CLSP model (real Zipformer2 + MiniLM at small sizes), tiny vLLM/transformers checkpoints, the scripted judge
behind the fault-injection server, and no network for the Hugging Face libraries. The helpers they use, and
every helper tests share, live in ``annotate.testing``."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotate.testing import SMALL, tiny_cache_dir, tiny_model
from clsp.model import CLSPModel
from clsp.synth.corpus import SynthConfig, synthesize_corpus


@pytest.fixture(autouse=True, scope="session")
def offline_hf():
    """Every test runs with the Hugging Face libraries offline (as on this machine and in CI)."""
    with pytest.MonkeyPatch.context() as mp:
        for var in ("HF_HUB_OFFLINE", "HF_EVALUATE_OFFLINE", "HF_DATASETS_OFFLINE"):
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


@pytest.fixture(scope="session")
def tiny_qwen2_audio() -> Path:
    """A tiny random Qwen2-Audio checkpoint directory (vLLM CPU build + transformers loadable)."""
    from annotate.testing import build_tiny_qwen2_audio

    return build_tiny_qwen2_audio(tiny_cache_dir() / "tiny-qwen2-audio")


@pytest.fixture(scope="session")
def tiny_text_lm() -> Path:
    """A tiny random Qwen3 causal-LM checkpoint directory (vLLM CPU build + transformers loadable)."""
    from annotate.testing import build_tiny_text_lm

    return build_tiny_text_lm(tiny_cache_dir() / "tiny-text-lm")


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


@pytest.fixture
def judge(monkeypatch):
    """Start a FaultServer whose good answer is the scripted judge's verdict (``annotate.testing.fault_judge``);
    ``judge(route, garbage_seeds)``."""
    from annotate.testing import FaultServer, fault_server, judge_text

    servers = []

    def start(route=None, garbage_seeds=frozenset()):
        monkeypatch.setattr(fault_server, "good_text", lambda body: judge_text(body, frozenset(garbage_seeds)))
        server = FaultServer(route).start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()
