"""A real vLLM engine that cannot start inside its Ray actor ends the call at once with one-line errors.

Its own module: the engines of tests/test_vllm_engine.py hold their Ray resources until that module ends.
"""

from __future__ import annotations

import shutil
from contextlib import closing

import pytest

from annotate.engines.base import GenerationRequest

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(900)]


def test_an_engine_that_cannot_load_its_weights_fails_the_call_not_retries(tiny_text_lm, tmp_path):
    """Fault injection: a checkpoint whose weights file is cut short passes the preflight (it is a model
    folder) and kills vLLM's start inside the Ray actor. Ray Data must not restart the actor forever: the
    call returns an error result per request, each one line, and the engine closes."""
    from annotate.engines.vllm_engine import VLLMEngine
    from annotate.testing import cpu_engine_config

    broken = tmp_path / "broken"
    shutil.copytree(tiny_text_lm, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    requests = [GenerationRequest(f"r{i}", messages=({"role": "user", "content": "Hi"},)) for i in range(3)]
    with closing(VLLMEngine(cpu_engine_config(broken))) as engine:
        results = list(engine.generate(requests))
    assert [r.request_id for r in results] == ["r0", "r1", "r2"]
    assert not any(r.ok for r in results)
    for r in results:
        assert r.error.startswith("the vLLM pipeline failed: ActorDiedError"), r.error
        assert "\n" not in r.error
    assert engine.pipeline_starts == 1
