"""The LLM checklist: a reasoning LLM answers five yes/no questions about each caption, as JSON.

The answer is constrained by :data:`CHECKLIST_SCHEMA` where the engine can (vLLM structured outputs, an
OpenAI-compatible server's ``json_schema`` response format) and always validated against it here, so an
engine that cannot constrain (or a model that ignores the constraint) is caught: ``<think>…</think>`` is
removed, code fences and text around the JSON object are tolerated, and anything else that does not match
the schema is asked again with the next seed, up to ``max_attempts`` times; after that the caption gets
``"llm:unparseable: <why>"`` (or ``"llm:engine_error: <why>"`` when the engine itself failed: such a
caption is not rejected but left ``pending`` with that reason, see :mod:`verify.pipeline`).

A verdict rejects a caption when it mentions background/recording conditions, states an absence, contains
the transcript, speaks of several speakers, or does not describe the voice; each failed item gives one
reason ``"llm:<item>: <the model's reason>"`` (``describes_voice`` false → ``"llm:not_about_voice: ..."``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from annotate.engines.base import Engine, GenerationRequest, fail_fast
from annotate.prompts import load_versioned
from clsp.errors import ClspError, one_line
from verify.config import LLMCheckConfig

REJECT_IF_TRUE: tuple[str, ...] = ("mentions_background", "states_absence", "contains_transcript", "several_speakers")
REJECT_IF_FALSE: dict[str, str] = {"describes_voice": "not_about_voice"}  # item -> reason code
CHECKLIST_ITEMS: tuple[str, ...] = (*REJECT_IF_TRUE, *REJECT_IF_FALSE)


def checklist_schema(reason_max_chars: int = 300) -> dict[str, Any]:
    """The JSON schema of one verdict: five booleans and a short ``reason`` (at most ``reason_max_chars``)."""
    props: dict[str, Any] = {name: {"type": "boolean"} for name in CHECKLIST_ITEMS}
    props["reason"] = {"type": "string", "maxLength": reason_max_chars}
    return {
        "type": "object",
        "properties": props,
        "required": [*CHECKLIST_ITEMS, "reason"],
        "additionalProperties": False,
    }


CHECKLIST_SCHEMA: dict[str, Any] = checklist_schema()


class VerdictParseError(ValueError):
    """The model's output holds no JSON object matching the checklist schema (the message says why)."""


@dataclass(frozen=True)
class Verdict:
    mentions_background: bool
    states_absence: bool
    contains_transcript: bool
    several_speakers: bool
    describes_voice: bool
    reason: str

    def reasons(self) -> list[str]:
        """One ``"llm:<code>: <model's reason>"`` per failed item; [] when the caption passes."""
        why = one_line(self.reason) or "(no reason given)"
        out = [f"llm:{name}: {why}" for name in REJECT_IF_TRUE if getattr(self, name)]
        out += [f"llm:{code}: {why}" for name, code in REJECT_IF_FALSE.items() if not getattr(self, name)]
        return out


_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


def strip_thinking(text: str) -> str:
    """Remove ``<think>…</think>`` blocks; text up to a lone ``</think>`` (the chat template opened the block)
    is thinking too. An unclosed ``<think>`` leaves nothing: the model never got to its answer."""
    text = _THINK.sub("", text)
    low = text.lower()
    if "</think>" in low:
        text = text[low.rindex("</think>") + len("</think>"):]
    elif "<think>" in low:
        text = text[: low.index("<think>")]
    return text.strip()


def parse_verdict(text: str | None, schema: dict[str, Any] = CHECKLIST_SCHEMA) -> Verdict:
    """The verdict in a model's output: thinking removed, then the first JSON object (inside a code fence
    or not, text before/after ignored) that validates against ``schema``.

    Raises :class:`VerdictParseError` with a one-line message when there is none.
    """
    if text is None:
        raise VerdictParseError("empty output")
    body = strip_thinking(text)
    if not body:
        raise VerdictParseError("no answer after removing the <think> block" if text.strip() else "empty output")
    candidates = [m.group(1) for m in _FENCE.finditer(body)] + [body]
    decoder = json.JSONDecoder(strict=False)  # xgrammar's JSON grammar lets raw control characters into strings
    first_problem = None
    for chunk in candidates:
        for start in (i for i, ch in enumerate(chunk) if ch == "{"):
            try:
                obj, _ = decoder.raw_decode(chunk, start)
            except json.JSONDecodeError as e:
                first_problem = first_problem or f"broken JSON ({e.msg} at char {e.pos})"
                continue
            try:
                jsonschema.validate(obj, schema)
            except jsonschema.ValidationError as e:
                first_problem = first_problem or f"JSON does not match the checklist schema at {_schema_problem(e)}"
                continue
            return Verdict(**obj)
    raise VerdictParseError(one_line(f"{first_problem or 'no JSON object'} in output: {body!r}", 240))


def _schema_problem(e: jsonschema.ValidationError) -> str:
    """'<path>: <what is wrong>' without echoing long values."""
    path = "/".join(str(p) for p in e.absolute_path) or "<object>"
    if e.validator == "maxLength":
        return f"{path}: longer than {e.validator_value} characters"
    if e.validator == "type":
        return f"{path}: expected {e.validator_value}, got {type(e.instance).__name__} {one_line(repr(e.instance), 20)}"
    return f"{path}: {one_line(e.message, 120)}"


@dataclass(frozen=True)
class VerifierPrompt:
    """A versioned checklist prompt (``configs/prompts/verifier*.yaml``). ``user`` holds ``{caption}`` and
    ``{transcript}`` placeholders (no other braces are interpreted)."""

    name: str
    version: int
    system: str
    user: str

    @property
    def prompt_id(self) -> str:
        return f"{self.name}@{self.version}"

    def validate(self) -> None:
        if "{caption}" not in self.user:
            raise ValueError("key 'user' must contain the placeholder {caption}")

    def messages(self, caption: str, transcript: str | None) -> tuple[dict[str, Any], ...]:
        user = self.user.replace("{transcript}", transcript if transcript else "(no transcript)")
        user = user.replace("{caption}", caption)
        return ({"role": "system", "content": self.system.strip()}, {"role": "user", "content": user.strip()})


def load_prompt(ref: str | Path) -> VerifierPrompt:
    """The checklist prompt named by ``ref`` (``verifier@1``, ``verifier`` or a YAML path: see
    :func:`annotate.prompts.prompt_path`); errors name the file/key."""
    return load_versioned(VerifierPrompt, ref)


@dataclass(frozen=True)
class CheckItem:
    """One caption to check. ``key`` is unique in a run (``"<cut_id>/<caption_id>"``)."""

    key: str
    cut_id: str
    caption_id: str
    kind: str
    text: str
    transcript: str | None


def checklist_requests(
    items: Iterable[CheckItem], prompt: VerifierPrompt, cfg: LLMCheckConfig, attempt: int = 0
) -> list[GenerationRequest]:
    """One text-only request per item, constrained by the checklist schema, seed ``cfg.seed + attempt``."""
    schema = checklist_schema(cfg.reason_max_chars)
    return [
        GenerationRequest(
            request_id=f"{it.key}/llm/a{attempt}",
            messages=prompt.messages(it.text, it.transcript),
            audio=None,
            seed=cfg.seed + attempt,
            sampling=cfg.sampling,
            json_schema=schema,
            meta={"key": it.key, "cut_id": it.cut_id, "caption_id": it.caption_id, "kind": it.kind,
                  "prompt_id": prompt.prompt_id, "transcript": it.transcript, "attempt": attempt},
        )
        for it in items
    ]


@dataclass(frozen=True)
class LLMOutcome:
    """What the checklist said about one caption: the verdict, or ``failure`` after every attempt failed."""

    verdict: Verdict | None
    attempts: int
    failure: str | None = None  # "llm:unparseable: ..." or "llm:engine_error: ..."

    def reasons(self) -> list[str]:
        return self.verdict.reasons() if self.verdict is not None else [self.failure or "llm:unparseable: ?"]


def run_checklist(
    items: list[CheckItem], engine: Engine, prompt: VerifierPrompt, cfg: LLMCheckConfig, progress: bool = False,
    stop_after_failures: int = 0,
) -> dict[str, LLMOutcome]:
    """Ask ``engine`` about every item; unparseable answers and failed requests are asked again with the
    next seed, ``cfg.max_attempts`` times in all. Returns one outcome per item key, in item order.

    ``stop_after_failures`` = N > 0: when each of the first N answers of the first attempt is an engine
    error, :class:`annotate.engines.base.EngineDown` is raised (the engine is down: nothing is judged)."""
    schema = checklist_schema(cfg.reason_max_chars)
    keys = Counter(it.key for it in items)
    if dup := [k for k, n in keys.items() if n > 1]:
        raise ClspError(f"llm check: caption {dup[0]!r} appears twice (duplicate cut or caption id)")
    outcomes: dict[str, LLMOutcome] = {}
    pending = list(items)
    for attempt in range(cfg.max_attempts):
        failures: dict[str, str] = {}
        answers = _ask(engine, checklist_requests(pending, prompt, cfg, attempt), schema,
                       stop_after_failures if attempt == 0 else 0)
        if progress and pending:
            from tqdm import tqdm

            answers = tqdm(answers, total=len(pending), desc=f"llm (attempt {attempt + 1})", unit="caption")
        for key, verdict, failure in answers:
            if verdict is not None:
                outcomes[key] = LLMOutcome(verdict, attempt + 1)
            else:
                failures[key] = failure
        missing = [it.key for it in pending if it.key not in outcomes and it.key not in failures]
        for key in missing:  # an engine that lost a request: count it as a failed attempt
            failures[key] = "llm:engine_error: the engine returned no result for this request"
        pending = [it for it in pending if it.key in failures]
        if not pending:
            break
        if attempt == cfg.max_attempts - 1:
            for key, failure in failures.items():
                outcomes[key] = LLMOutcome(None, cfg.max_attempts, failure)
    return {it.key: outcomes[it.key] for it in items}  # in item order, whatever order results came in


def _ask(engine: Engine, requests: list[GenerationRequest], schema: dict[str, Any],
         stop_after_failures: int = 0) -> Iterator[tuple[str, Verdict | None, str]]:
    """(key, verdict or None, failure reason) per result of ``engine``."""
    wanted = {r.request_id: r.meta["key"] for r in requests}
    for res in fail_fast(engine, requests, stop_after_failures, "verify (llm check)"):
        key = wanted.pop(res.request_id, None)
        if key is None:
            continue
        if not res.ok:
            yield key, None, f"llm:engine_error: {one_line(res.error or 'no text', 240)}"
            continue
        try:
            yield key, parse_verdict(res.text, schema), ""
        except VerdictParseError as e:
            yield key, None, f"llm:unparseable: {e}"
