"""The one interface every caption / verifier engine implements.

A request is one generation: one (cut, kind, seed) for the captioner, one (caption, check) for the
verifier. Engines take an iterable of requests and yield one :class:`GenerationResult` per request, in
any order (``request_id`` ties them back), as soon as each is done, so callers can write results while
the rest are in flight. A failed request yields a result with ``error`` set; an engine never raises for
one bad request.

Audio travels as 16 kHz mono float32 arrays (``audio``, shape (S,)); engines that speak the OpenAI chat
format turn it into an ``input_audio`` part with :func:`audio_message_part`.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import soundfile as sf

from clsp.audio import SAMPLING_RATE
from clsp.errors import ClspError, one_line


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling parameters (CLSP's captioner: temperature 0.6, top_p 0.95, top_k 20, max_tokens 512)."""

    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 20
    max_tokens: int = 512


@dataclass(frozen=True)
class GenerationRequest:
    """One generation.

    - ``request_id``: unique and stable across reruns (e.g. ``"<cut_id>/fine/s3"``);
    - ``messages``: OpenAI-style chat messages (text parts; the audio part is added by the engine from
      ``audio`` where ``messages`` holds a part ``{"type": "audio"}`` as a placeholder); empty for engines
      that need no prompt (the acoustic captioner, Captioner-mode models);
    - ``audio``: (S,) float32 at 16 kHz, or None for text-only requests (the LLM verifier);
    - ``seed``: the sampling seed of this request (every request carries one: a batch mixing seeded and
      unseeded requests is not reproducible);
    - ``json_schema``: constrain the output to this JSON schema (structured outputs), or None;
    - ``meta``: what the caller needs back (cut id, kind, prompt id, ...), passed through untouched.
    """

    request_id: str
    messages: tuple[dict[str, Any], ...] = ()
    audio: np.ndarray | None = None
    seed: int = 0
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    json_schema: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationResult:
    request_id: str
    text: str | None  # None when the request failed
    error: str | None = None  # one line: why it failed (after the engine's own retries)
    num_input_tokens: int | None = None
    num_output_tokens: int | None = None
    seconds: float | None = None  # engine time spent on this request
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


class EngineDown(ClspError):
    """The engine failed to start, or failed every one of the first requests of a run: the run stops with
    this one line (exit status 2) and no caption is rejected or written for these failures."""


def fail_fast(engine: Engine, requests: Iterable[GenerationRequest], first_n: int,
              what: str) -> Iterator[GenerationResult]:
    """``engine.generate(requests)``, except that the first results are held back until one succeeds: when
    the first ``first_n`` all failed (or all of a shorter run did), or the engine raised instead of answering,
    :class:`EngineDown` is raised naming the first error. ``first_n`` = 0: only the engine raising stops."""
    held: list[GenerationResult] = []
    working = first_n <= 0
    try:
        for r in engine.generate(requests):
            if working:
                yield r
                continue
            held.append(r)
            if r.ok:
                working = True
                yield from held
                held = []
            elif len(held) >= first_n:
                break
    except ClspError:
        raise
    except Exception as e:  # the engine itself raised (it failed to start, or died)
        raise EngineDown(f"{what}: the engine failed: {one_line(f'{type(e).__name__}: {e}')}") from None
    if held and not working:
        raise EngineDown(f"{what}: the engine failed each of the first {len(held)} requests, e.g. "
                         f"{one_line(held[0].error or 'no text')}; stopped (nothing was rejected)")


class Engine(Protocol):
    """``name`` goes into each caption's ``source.engine``; ``model`` into ``source.model``."""

    name: str
    model: str | None

    def generate(self, requests: Iterable[GenerationRequest]) -> Iterator[GenerationResult]: ...

    def close(self) -> None: ...


def wav_bytes(audio: np.ndarray, sampling_rate: int = SAMPLING_RATE) -> bytes:
    """(S,) float → 16-bit PCM WAV file bytes."""
    buf = io.BytesIO()
    sf.write(buf, np.asarray(audio, dtype=np.float32), sampling_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def audio_message_part(audio: np.ndarray, sampling_rate: int = SAMPLING_RATE) -> dict[str, Any]:
    """The OpenAI chat ``input_audio`` part carrying ``audio`` as base64 WAV."""
    data = base64.b64encode(wav_bytes(audio, sampling_rate)).decode("ascii")
    return {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}


def with_audio(messages: Iterable[dict[str, Any]], audio: np.ndarray | None) -> list[dict[str, Any]]:
    """Messages with each ``{"type": "audio"}`` placeholder part replaced by the ``input_audio`` part.

    A user message whose content is a string stays as it is; with audio and no placeholder, the audio
    part is prepended to the last user message.
    """
    out = [dict(m) for m in messages]
    if audio is None:
        return out
    part = audio_message_part(audio)
    placed = False
    for m in out:
        if isinstance(m.get("content"), list):
            parts = []
            for p in m["content"]:
                if p.get("type") == "audio":
                    parts.append(part)
                    placed = True
                else:
                    parts.append(p)
            m["content"] = parts
    if not placed:
        users = [m for m in out if m.get("role") == "user"]
        if users:
            last = users[-1]
            content = last["content"]
            text_parts = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
            last["content"] = [part, *text_parts]
        else:
            out.append({"role": "user", "content": [part]})
    return out
