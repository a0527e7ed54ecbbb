"""The openai engine against the fault-injection server (annotate/testing/fault_server.py): retries, Retry-After,
timeouts, malformed bodies, failures recorded as results, bounded concurrency, the key never leaked."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from annotate.engines.base import GenerationRequest, SamplingConfig
from annotate.engines.configs import OpenAIEngineConfig
from annotate.engines.openai_engine import OpenAIEngine, parse_retry_after
from annotate.engines.registry import build_engine
from annotate.testing import FaultServer, audio_digest
from clsp.errors import ClspError

KEY = "sk-test-4f9c2b71d0e8a6secret"
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}


def engine_for(server: FaultServer, monkeypatch, **kw) -> OpenAIEngine:
    monkeypatch.setenv("CLSP_TEST_API_KEY", KEY)
    cfg = OpenAIEngineConfig(model="tiny-served", base_url=server.base_url, api_key_env="CLSP_TEST_API_KEY",
                             max_retries=kw.pop("max_retries", 3), timeout_s=kw.pop("timeout_s", 5.0),
                             max_concurrency=kw.pop("max_concurrency", 2), **{**FAST, **kw})
    engine = build_engine("openai", cfg)
    assert isinstance(engine, OpenAIEngine)
    return engine


def request(seed: int, audio: np.ndarray | None = None, schema=None) -> GenerationRequest:
    return GenerationRequest(
        request_id=f"r{seed}",
        messages=({"role": "system", "content": "Describe the voice."},
                  {"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "One sentence."}]}),
        audio=audio, seed=seed, sampling=SamplingConfig(max_tokens=64), json_schema=schema, meta={"cut_id": f"c{seed}"})


def tone(freq: float) -> np.ndarray:
    t = np.arange(16000) / 16000
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def by_seed(plan: dict[int, list[str]]):
    """Route: request with seed s gets plan[s][hit - 1], then ok."""
    def route(body, hit):
        steps = plan.get(body["seed"], [])
        return steps[hit - 1] if hit <= len(steps) else "ok"
    return route


def test_good_path_sends_audio_sampling_schema_and_key(monkeypatch):
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    with FaultServer(key=KEY) as server:
        engine = engine_for(server, monkeypatch)
        results = {r.request_id: r for r in engine.generate([request(1, tone(200)), request(2, tone(300), schema)])}
        engine.close()
    assert all(r.ok for r in results.values())
    assert results["r1"].text != results["r2"].text  # each answer is built from its own seed and audio
    assert results["r1"].meta == {"cut_id": "c1"} and results["r1"].num_output_tokens > 0
    bodies = {b["seed"]: b for b in server.log}
    b1, b2 = bodies[1], bodies[2]
    assert b1["model"] == "tiny-served" and b1["top_k"] == 20 and b1["temperature"] == 0.6 and b1["max_tokens"] == 64
    parts = b1["messages"][1]["content"]
    assert parts[0]["type"] == "input_audio" and parts[0]["input_audio"]["format"] == "wav"
    assert audio_digest(b1) != audio_digest(b2)
    assert "structured_outputs" not in b1 and b2["structured_outputs"] == {"json": schema}
    assert all(h["Authorization"] == f"Bearer {KEY}" for h in server.headers)


def test_text_only_request_drops_the_audio_placeholder(monkeypatch):
    with FaultServer() as server:
        engine = engine_for(server, monkeypatch)
        [r] = list(engine.generate([request(3)]))
    assert r.ok
    assert server.log[0]["messages"][1]["content"] == [{"type": "text", "text": "One sentence."}]


def test_5xx_are_retried_then_succeed(monkeypatch):
    with FaultServer(route=by_seed({1: ["500", "503"]})) as server:
        engine = engine_for(server, monkeypatch)
        [r] = list(engine.generate([request(1, tone(200))]))
    assert r.ok and server.total == 3


def test_429_honours_retry_after(monkeypatch):
    with FaultServer(route=by_seed({1: ["429:2.5", "429:0"]})) as server:
        engine = engine_for(server, monkeypatch)
        pauses: list[float] = []
        engine.sleep = pauses.append  # observe the waits instead of sleeping
        [r] = list(engine.generate([request(1, tone(200))]))
    assert r.ok and server.total == 3
    assert pauses[0] >= 2.5  # the server's Retry-After, above the (tiny) backoff
    assert pauses[1] < 0.1  # Retry-After 0: only the jittered backoff (base 0.01 s * 2)


def test_backoff_is_exponential_with_jitter(monkeypatch):
    with FaultServer(route=lambda body, hit: "500") as server:
        engine = engine_for(server, monkeypatch, max_retries=4, backoff_base_s=1.0, backoff_max_s=5.0)
        pauses: list[float] = []
        engine.sleep = pauses.append
        [r] = list(engine.generate([request(1)]))
    assert not r.ok and server.total == 5 and len(pauses) == 4
    for k, p in enumerate(pauses):  # uniform in [d/2, d], d = min(5, 2**k)
        d = min(5.0, 2.0**k)
        assert d / 2 <= p <= d


def test_timeouts_are_retried_then_recorded_as_a_failure(monkeypatch):
    with FaultServer(route=lambda body, hit: "sleep:3") as server:
        engine = engine_for(server, monkeypatch, timeout_s=0.3, max_retries=2)
        [r] = list(engine.generate([request(7, tone(250))]))
    assert not r.ok and r.text is None
    assert "timeout" in r.error and "3 attempt" in r.error
    assert server.total == 3


def test_malformed_bodies_are_retried_and_recorded(monkeypatch):
    route = by_seed({1: ["malformed"], 2: ["malformed", "badshape", "malformed"]})
    with FaultServer(route=route) as server:
        engine = engine_for(server, monkeypatch, max_retries=2)
        results = {r.request_id: r for r in engine.generate([request(1), request(2)])}
    assert results["r1"].ok  # one bad body, then a good one
    assert not results["r2"].ok and "malformed response" in results["r2"].error
    assert server.total == 2 + 3


def test_client_errors_fail_at_once(monkeypatch):
    with FaultServer(route=lambda body, hit: "400") as server:
        engine = engine_for(server, monkeypatch)
        [r] = list(engine.generate([request(1)]))
    assert not r.ok and r.error.startswith("HTTP 400") and server.total == 1


def test_key_never_appears_in_errors_or_logs(monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    with FaultServer(route=by_seed({1: ["500", "echo-auth"]}), key=KEY) as server:
        engine = engine_for(server, monkeypatch)
        [r] = list(engine.generate([request(1)]))
    assert not r.ok and "Incorrect API key provided: Bearer ***" in r.error  # the server echoed it; scrubbed
    assert KEY not in r.error and KEY not in repr(engine) and KEY not in caplog.text
    assert "retry 1/3" in caplog.text  # the retry was logged (without the key)


def test_missing_key_variable_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("CLSP_NO_SUCH_KEY", raising=False)
    with pytest.raises(ClspError, match="CLSP_NO_SUCH_KEY"):
        OpenAIEngine(OpenAIEngineConfig(model="m", base_url="http://127.0.0.1:9/v1", api_key_env="CLSP_NO_SUCH_KEY"))
    with pytest.raises(ClspError, match="base_url"):
        OpenAIEngine(OpenAIEngineConfig(model="m"))


def test_connection_errors_are_failures_not_exceptions(monkeypatch):
    engine = OpenAIEngine(OpenAIEngineConfig(model="m", base_url="http://127.0.0.1:9/v1", max_retries=1, **FAST))
    [r] = list(engine.generate([request(1)]))
    assert not r.ok and "connection error" in r.error and "2 attempt" in r.error


def test_concurrency_is_bounded_and_requests_are_pulled_lazily(monkeypatch):
    pulled = []

    def requests():
        for s in range(12):
            pulled.append(s)
            yield request(s)

    # the first two requests are held until both are in flight: concurrency without relying on timing
    with FaultServer(route=by_seed({0: ["gather:2"], 1: ["gather:2"]})) as server:
        engine = engine_for(server, monkeypatch, max_concurrency=3)
        stream = engine.generate(requests())
        first = next(stream)
        assert len(pulled) <= 2 * 3  # never more than twice the pool ahead
        rest = list(stream)
    assert first.ok and all(r.ok for r in rest) and len(rest) == 11
    assert 1 < server.max_in_flight <= 3


def test_retry_after_parsing():
    assert parse_retry_after("3") == 3.0 and parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert 0 <= parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") <= 0.0 + 1e-9  # a date in the past: no wait


def test_results_come_back_for_every_request_under_mixed_faults(monkeypatch):
    plan = {s: ["500"] * (s % 3) + (["malformed"] if s % 4 == 0 else []) for s in range(10)}
    plan[9] = ["500"] * 10  # never succeeds
    with FaultServer(route=by_seed(plan)) as server:
        engine = engine_for(server, monkeypatch, max_retries=3, max_concurrency=4)
        results = {r.request_id: r for r in engine.generate(request(s) for s in range(10))}
    assert sorted(results) == sorted(f"r{s}" for s in range(10))
    assert [k for k, r in results.items() if not r.ok] == ["r9"]
    expected_hits = sum(min(len(v), 3) + 1 for v in plan.values())
    assert server.total == expected_hits
    assert json.dumps([r.error for r in results.values()]).count("HTTP 500") == 1
