"""A FAULT-INJECTION OpenAI-compatible chat-completions server, for tests only.

It is not a model: a good answer is a fixed sentence built from the request (its seed and a digest of
the audio it carried), so tests can tell clips and seeds apart. ``route(body, hit) -> behaviour`` decides
each answer; ``hit`` counts (from 1) the hits of requests with the same body. Behaviours:

- ``"ok"``: a well-formed completion;
- ``"500"``/``"503"``/any status number: that status with a JSON error body;
- ``"429:<s>"``: 429 with ``Retry-After: <s>``;
- ``"sleep:<s>"``: wait <s> seconds, then answer ok (a client with a shorter timeout gives up first);
- ``"gather:<n>"``: hold the answer until <n> requests are in flight at once (at most 60 s), then answer ok:
  concurrency shown by the requests themselves, not by timing;
- ``"malformed"``: 200 with a body that is not JSON; ``"badshape"``: 200 JSON without ``choices``;
- ``"echo-auth"``: 401 whose error message repeats the Authorization header (as careless servers do).

With ``key`` set, a request without ``Authorization: Bearer <key>`` gets 401. ``latency_s`` delays
every answer. ``hits`` (Counter by body digest), ``log`` (every body, in arrival order), ``total`` and
``max_in_flight`` (most requests handled at once) record what arrived.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Route = Callable[[dict[str, Any], int], str]


def body_digest(body: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]


def audio_digest(body: dict[str, Any]) -> str:
    """Digest of the base64 audio data in the request's messages ("none" when there is none)."""
    h = hashlib.sha1()
    found = False
    for m in body.get("messages", []):
        for p in m.get("content", []) if isinstance(m.get("content"), list) else []:
            if p.get("type") == "input_audio":
                h.update(p["input_audio"]["data"].encode())
                found = True
    return h.hexdigest()[:8] if found else "none"


def good_text(body: dict[str, Any]) -> str:
    return (f"A speaker with a steady, clear voice and an even pace (seed {body.get('seed')}, "
            f"audio {audio_digest(body)}).")


class FaultServer:
    def __init__(self, route: Route | None = None, key: str | None = None, latency_s: float = 0.0):
        self.route: Route = route or (lambda body, hit: "ok")
        self.key = key
        self.latency_s = latency_s
        self.hits: Counter[str] = Counter()
        self.log: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._gathered = threading.Condition(self._lock)  # in_flight changes, for "gather:<n>"
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def total(self) -> int:
        return sum(self.hits.values())

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout)

            def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
                self._send(status, json.dumps({"error": {"message": message, "code": status}}).encode(), headers)

            def do_POST(self) -> None:
                with server._gathered:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    server._gathered.notify_all()
                try:
                    self._answer()
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self) -> None:
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._error(404, f"no route {self.path}")
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = json.loads(raw)
                auth = self.headers.get("Authorization", "")
                with server._lock:
                    digest = body_digest(body)
                    server.hits[digest] += 1
                    hit = server.hits[digest]
                    server.log.append(body)
                    server.headers.append(dict(self.headers))
                behaviour = server.route(body, hit)
                if server.latency_s:
                    time.sleep(server.latency_s)
                if behaviour == "echo-auth":
                    return self._error(401, f"Incorrect API key provided: {auth}")
                if server.key is not None and auth != f"Bearer {server.key}":
                    return self._error(401, "missing or wrong API key")
                if behaviour.startswith("sleep:"):
                    time.sleep(float(behaviour.split(":", 1)[1]))
                    behaviour = "ok"
                if behaviour.startswith("gather:"):
                    with server._gathered:
                        server._gathered.wait_for(lambda: server.in_flight >= int(behaviour.split(":")[1]), 60)
                    behaviour = "ok"
                if behaviour == "ok":
                    text = good_text(body)
                    answer = {"id": f"chatcmpl-{digest}", "object": "chat.completion", "model": body.get("model"),
                              "choices": [{"index": 0, "finish_reason": "stop",
                                           "message": {"role": "assistant", "content": text}}],
                              "usage": {"prompt_tokens": 100, "completion_tokens": len(text.split()),
                                        "total_tokens": 100 + len(text.split())}}
                    return self._send(200, json.dumps(answer).encode())
                if behaviour == "malformed":
                    return self._send(200, b'{"choices": [{"message": {"content": "trunc')
                if behaviour == "badshape":
                    return self._send(200, json.dumps({"object": "chat.completion", "data": []}).encode())
                m = re.fullmatch(r"429:([\d.]+)", behaviour)
                if m:
                    return self._error(429, "rate limited", {"Retry-After": m.group(1)})
                if behaviour.isdigit():
                    return self._error(int(behaviour), f"injected status {behaviour}")
                return self._error(500, f"unknown behaviour {behaviour!r}")

        return Handler


if __name__ == "__main__":  # serve in its own process (benchmarks): prints the base URL, answers ok
    import argparse

    ap = argparse.ArgumentParser(description="fault-injection OpenAI-compatible server (always ok)")
    ap.add_argument("--latency-ms", type=float, default=0.0)
    a = ap.parse_args()
    srv = FaultServer(latency_s=a.latency_ms / 1000).start()
    print(srv.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        srv.stop()
