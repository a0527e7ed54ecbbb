"""Any OpenAI-compatible chat-completions endpoint (``vllm serve``, hosted APIs), over httpx.

Why httpx and not the ``openai`` SDK: the retry policy is part of this engine's contract (which
failures are retried, Retry-After, backoff with jitter, malformed bodies retried and then recorded as
a failure result, the key scrubbed from every error text) and has to be visible and testable; the SDK
keeps its own hidden retry loop and response validation on top. The request body is plain JSON, so
vLLM's ``structured_outputs`` (the SDK's ``extra_body``) is simply a top-level field.

Settings: :class:`~annotate.engines.configs.OpenAIEngineConfig` (``engine_config.openai``): ``base_url``
(e.g. ``http://localhost:8000/v1``), ``model``, ``api_key_env`` (the NAME of an environment variable
holding the key; None = no key), ``timeout_s`` per attempt, ``max_retries`` (retries after the first
attempt), ``max_concurrency`` requests in flight (a thread pool), ``backoff_base_s``, ``backoff_max_s``,
``retry_after_max_s``, ``extra_body`` (a mapping merged into every request body) and ``headers`` (extra
HTTP headers).

Retried: HTTP 408/409/429/5xx, timeouts, connection errors and malformed 200 responses. The wait before
retry k (0-based) is uniform in [d/2, d], d = min(backoff_max_s, backoff_base_s * 2**k), and at least
the server's Retry-After. Other HTTP errors fail at once. A failure is a result with ``error`` set.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from annotate.engines.base import GenerationRequest, GenerationResult, with_audio
from annotate.engines.configs import OpenAIEngineConfig
from clsp.errors import ClspError

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 429})


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class _Fatal(Exception):
    pass


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def parse_completion(data: Any) -> tuple[str, int | None, int | None]:
    """(text, prompt tokens, completion tokens) of a chat-completion body; ValueError when malformed."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
        raise ValueError("no 'choices' list")
    message = data["choices"][0].get("message") if isinstance(data["choices"][0], dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("content"), str):
        raise ValueError("no string 'choices[0].message.content'")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return message["content"], usage.get("prompt_tokens"), usage.get("completion_tokens")


class OpenAIEngine:
    name = "openai"

    def __init__(self, config: OpenAIEngineConfig):
        import httpx

        if not config.base_url:
            raise ClspError("the openai engine needs engine_config.openai.base_url (e.g. http://localhost:8000/v1)")
        if not config.model:
            raise ClspError("the openai engine needs a model name (--model or engine_config.openai.model)")
        self.model = config.model
        self.config = config
        self.backoff_base_s = float(config.backoff_base_s)
        self.backoff_max_s = float(config.backoff_max_s)
        self.retry_after_max_s = float(config.retry_after_max_s)
        self.extra_body = dict(config.extra_body)
        headers = {str(k): str(v) for k, v in config.headers.items()}
        self._secret: str | None = None
        if config.api_key_env:
            key = os.environ.get(config.api_key_env, "")
            if not key:
                raise ClspError(f"environment variable {config.api_key_env} (engine_config.openai.api_key_env) "
                                "is not set")
            self._secret = key
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(
            base_url=config.base_url.rstrip("/") + "/", headers=headers, timeout=httpx.Timeout(config.timeout_s),
            limits=httpx.Limits(max_connections=config.max_concurrency, max_keepalive_connections=config.max_concurrency))
        self._rng = random.Random()
        self._rng_lock = threading.Lock()
        self.sleep = time.sleep  # the pause between attempts (seconds); replaceable to observe it

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIEngine(base_url={self.config.base_url!r}, model={self.model!r})"

    def redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def body(self, req: GenerationRequest) -> dict[str, Any]:
        """The JSON body of one chat-completions call."""
        if req.audio is not None:
            messages = with_audio(req.messages, req.audio)
        else:  # text-only: drop audio placeholders
            messages = [dict(m, content=[p for p in m["content"] if p.get("type") != "audio"])
                        if isinstance(m.get("content"), list) else dict(m) for m in req.messages]
        s = req.sampling
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": s.temperature,
                                "top_p": s.top_p, "max_tokens": s.max_tokens, "seed": req.seed}
        if s.top_k > 0:  # vLLM's extension; hosted APIs that reject it: sampling.top_k = 0
            body["top_k"] = s.top_k
        if req.json_schema is not None:
            body["structured_outputs"] = {"json": req.json_schema}
        body.update(self.extra_body)
        return body

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        d = min(self.backoff_max_s, self.backoff_base_s * 2**attempt)
        with self._rng_lock:
            wait_s = self._rng.uniform(d / 2, d)
        if retry_after is not None:
            wait_s = max(wait_s, min(retry_after, self.retry_after_max_s))
        return wait_s

    def _attempt(self, body: dict[str, Any]) -> tuple[str, int | None, int | None]:
        import httpx

        try:
            resp = self._client.post("chat/completions", json=body)
        except httpx.TimeoutException:
            raise _Retryable(f"timeout after {self.config.timeout_s:g} s") from None
        except httpx.TransportError as e:
            raise _Retryable(f"connection error ({type(e).__name__})") from None
        status = resp.status_code
        if status == 200:
            try:
                return parse_completion(resp.json())
            except ValueError as e:
                raise _Retryable(f"malformed response ({e}): {resp.text[:120]!r}") from None
        detail = f"HTTP {status}: {resp.text[:200]!r}"
        if status in RETRY_STATUS or status >= 500:
            raise _Retryable(detail, parse_retry_after(resp.headers.get("retry-after")))
        raise _Fatal(detail)

    def generate_one(self, req: GenerationRequest) -> GenerationResult:
        """One request with retries; never raises (a failure is a result with ``error``)."""
        t0 = time.monotonic()
        attempts = 0
        error = "not attempted"
        try:
            body = self.body(req)
            for attempt in range(self.config.max_retries + 1):
                attempts += 1
                try:
                    text, n_in, n_out = self._attempt(body)
                    return GenerationResult(req.request_id, text, None, n_in, n_out, time.monotonic() - t0, req.meta)
                except _Retryable as e:
                    error = self.redact(str(e))
                    if attempt == self.config.max_retries:
                        break
                    pause = self._backoff(attempt, e.retry_after)
                    log.info("request %s: %s; retry %d/%d in %.2f s", req.request_id, error, attempt + 1,
                             self.config.max_retries, pause)
                    self.sleep(pause)
        except _Fatal as e:
            error = self.redact(str(e))
        except Exception as e:  # an engine never raises for one request
            error = self.redact(f"{type(e).__name__}: {e}")
        return GenerationResult(req.request_id, None, f"{error} (after {attempts} attempt(s))",
                                seconds=time.monotonic() - t0, meta=req.meta)

    def generate(self, requests: Iterable[GenerationRequest]) -> Iterator[GenerationResult]:
        """Results as they complete, at most ``max_concurrency`` requests in flight; ``requests`` is pulled
        lazily (at most twice that many ahead)."""
        it = iter(requests)
        window = 2 * self.config.max_concurrency
        with ThreadPoolExecutor(self.config.max_concurrency, thread_name_prefix="openai") as pool:
            pending: set[Future] = set()
            exhausted = False
            while True:
                while not exhausted and len(pending) < window:
                    req = next(it, None)
                    if req is None:
                        exhausted = True
                    else:
                        pending.add(pool.submit(self.generate_one, req))
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield f.result()

    def close(self) -> None:
        self._client.close()
