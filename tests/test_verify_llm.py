"""The LLM checklist: schema, parsing of real output variants, requests, and the check through real engines."""

from __future__ import annotations

import json

import jsonschema
import pytest

from annotate.testing import GOOD, judge_engine
from clsp.config import load_config
from clsp.errors import ClspError, ConfigError
from verify.config import LLMCheckConfig, VerifyConfig
from verify.llm_check import (
    CHECKLIST_SCHEMA,
    CheckItem,
    Verdict,
    VerdictParseError,
    checklist_requests,
    load_prompt,
    parse_verdict,
    strip_thinking,
)

GOOD_JSON = json.dumps(GOOD)


def test_schema_is_valid_and_matches_the_verdict_fields():
    jsonschema.Draft202012Validator.check_schema(CHECKLIST_SCHEMA)
    assert set(CHECKLIST_SCHEMA["required"]) == set(Verdict.__dataclass_fields__)
    assert CHECKLIST_SCHEMA["properties"]["reason"]["maxLength"] == 300
    assert CHECKLIST_SCHEMA["additionalProperties"] is False


@pytest.mark.parametrize("text", [
    GOOD_JSON,
    f"<think>\nThe caption says 'deep voice' {{so}} describes_voice is true.\n</think>\n\n{GOOD_JSON}",
    f"Okay, let me check the caption. It only talks about pitch.\n</think>\n{GOOD_JSON}",  # template opened <think>
    f"```json\n{json.dumps(GOOD, indent=2)}\n```",
    f"<think>hmm</think>```\n{GOOD_JSON}\n```\nThat is my answer.",
    f"Here is the verdict: {GOOD_JSON} Let me know if you need more.",
    f'{{"verdict": "see below"}}\n{GOOD_JSON}',  # a first object that is not a verdict is skipped
    json.dumps({**GOOD, "reason": "Uses {braces} and \"quotes\" and a\nnewline."}),
    GOOD_JSON.replace("Describes only", "Describes\x1c\tonly"),  # raw control characters (xgrammar lets them in)
    "<THINK>caps</THINK>" + GOOD_JSON,
])
def test_parse_verdict_variants(text):
    v = parse_verdict(text)
    assert v.describes_voice is True and v.mentions_background is False
    assert v.reasons() == []


@pytest.mark.parametrize("text, message", [
    ('{"mentions_background": false, "states_absence": false, "contains_transcript": fal', "broken JSON"),
    (GOOD_JSON[:-1], "broken JSON"),
    (json.dumps({**GOOD, "describes_voice": "true"}), "schema at describes_voice: expected boolean, got str 'true'"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "reason"}), "'reason' is a required property"),
    (json.dumps({**GOOD, "confidence": 0.9}), "Additional properties are not allowed"),
    (json.dumps({**GOOD, "reason": "x" * 301}), "schema at reason: longer than 300 characters"),
    ("The caption is fine.", "no JSON object in output"),
    ("<think>The caption mentions a deep voice, so describes_voice is", "no answer after removing the <think> block"),
    ("", "empty output"),
    (None, "empty output"),
])
def test_parse_verdict_failures_say_why(text, message):
    with pytest.raises(VerdictParseError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        parse_verdict(text)
    assert "\n" not in str(e.value) and len(str(e.value)) <= 240


def test_strip_thinking():
    assert strip_thinking("<think>a</think>b<think>c</think>d") == "bd"
    assert strip_thinking("reasoning only </think> answer") == "answer"
    assert strip_thinking("answer <think> unfinished") == "answer"


def test_verdict_reasons_carry_the_models_reason():
    v = Verdict(mentions_background=True, states_absence=True, contains_transcript=False, several_speakers=False,
                describes_voice=False, reason="Talks about   the\nroom echo; says 'no emotion'.")
    why = "Talks about the room echo; says 'no emotion'."
    assert v.reasons() == [f"llm:mentions_background: {why}", f"llm:states_absence: {why}",
                           f"llm:not_about_voice: {why}"]
    v = Verdict(False, False, True, True, True, "")
    assert v.reasons() == ["llm:contains_transcript: (no reason given)", "llm:several_speakers: (no reason given)"]
    assert Verdict(True, False, False, False, True, "a\x1cb\x00\tc").reasons() == ["llm:mentions_background: a b c"]


ITEMS = [
    CheckItem("c1/cap1", "c1", "cap1", "global", "A deep-voiced man speaks slowly.", "The baker folded a map."),
    CheckItem("c2/cap7", "c2", "cap7", "fine", "A woman speaks quickly and brightly ...", None),
]


def test_checklist_requests():
    prompt = load_prompt("verifier@1")
    cfg = LLMCheckConfig(seed=10)
    reqs = checklist_requests(ITEMS, prompt, cfg, attempt=2)
    assert [r.request_id for r in reqs] == ["c1/cap1/llm/a2", "c2/cap7/llm/a2"]
    assert {r.seed for r in reqs} == {12}
    assert all(r.audio is None and r.json_schema == CHECKLIST_SCHEMA for r in reqs)
    assert reqs[0].sampling.max_tokens == 4096 and reqs[0].sampling.temperature == 0.6
    system, user = reqs[0].messages
    assert system["role"] == "system" and user["role"] == "user"
    assert '"""A deep-voiced man speaks slowly."""' in user["content"]
    assert '"""The baker folded a map."""' in user["content"]
    assert '"""(no transcript)"""' in reqs[1].messages[1]["content"]
    assert reqs[1].meta == {"key": "c2/cap7", "cut_id": "c2", "caption_id": "cap7", "kind": "fine",
                            "prompt_id": "verifier@1", "transcript": None, "attempt": 2}
    # the schema travels with the configured maxLength
    short = checklist_requests(ITEMS[:1], prompt, LLMCheckConfig(reason_max_chars=50))[0]
    assert short.json_schema["properties"]["reason"]["maxLength"] == 50 and short.seed == 0


def test_prompt_references(tmp_path):
    assert load_prompt("verifier@1").prompt_id == "verifier@1"
    assert load_prompt("verifier").prompt_id == "verifier@1"  # the newest version (annotate's loader, shared)
    with pytest.raises(ClspError, match=r"verifier@7' not found: no file \S*configs/prompts/verifier\.v7\.yaml"):
        load_prompt("verifier@7")
    with pytest.raises(ClspError, match="integer version"):
        load_prompt("verifier@latest")
    bad = tmp_path / "p.yaml"
    bad.write_text("name: mine\nversion: 2\nsystem: s\nuser: no placeholder here\n")
    with pytest.raises(ConfigError, match=r"p.yaml: key 'user' must contain the placeholder \{caption\}"):
        load_prompt(bad)
    bad.write_text("name: mine\nversion: 2\nsystem: s\nuser: 'Caption: {caption}'\n")
    assert load_prompt(bad).prompt_id == "mine@2"
    with pytest.raises(ConfigError, match="key 'llm.max_attempts' must be >= 1"):
        load_config(VerifyConfig, None, ["llm.max_attempts=0"])


# ---- the check through the openai engine, against the FAULT-INJECTION server answering verdict JSON ----

from annotate.engines.configs import TransformersEngineConfig  # noqa: E402
from verify.llm_check import run_checklist  # noqa: E402

JUDGED = [
    CheckItem(f"c/{i}", "c", str(i), "global", text, "The baker folded a paper map beside the river.")
    for i, text in enumerate([
        "A deep-voiced man speaks slowly and softly in a calm tone.",
        "A man speaks loudly over a cheering crowd.",
        "A woman's voice that lacks energy, slow and low.",
        "A man talks about a baker and a paper map in a calm voice.",
        "A woman answers an interviewer in a bright, quick voice.",
        "This clip is about a trip to the river market.",
    ])
]


def test_checklist_through_the_openai_engine(judge):
    server = judge()
    engine = judge_engine(server)
    outcomes = run_checklist(JUDGED, engine, load_prompt("verifier@1"), LLMCheckConfig(seed=5))
    engine.close()
    assert [outcomes[it.key].reasons() for it in JUDGED] == [
        [],
        ["llm:mentions_background: The caption mentions a crowd around the speaker."],
        ["llm:states_absence: It states that the voice lacks something."],
        ["llm:contains_transcript: It reports what the speaker talks about."],
        ["llm:several_speakers: An interviewer is a second speaker."],
        ["llm:not_about_voice: It describes the clip's topic, not the voice."],
    ]
    assert all(o.attempts == 1 for o in outcomes.values())
    assert len(server.log) == len(JUDGED)
    body = server.log[0]
    assert body["structured_outputs"] == {"json": CHECKLIST_SCHEMA}  # vLLM structured outputs on the request
    assert body["seed"] == 5 and body["model"] == "judge" and body["max_tokens"] == 4096


def test_unparseable_answers_are_asked_again_with_the_next_seed(judge):
    server = judge(garbage_seeds={0})
    engine = judge_engine(server)
    outcomes = run_checklist(JUDGED[:3], engine, load_prompt("verifier@1"), LLMCheckConfig(max_attempts=3))
    engine.close()
    assert [o.attempts for o in outcomes.values()] == [2, 2, 2]
    assert outcomes["c/1"].reasons() == ["llm:mentions_background: The caption mentions a crowd around the speaker."]
    assert sorted(b["seed"] for b in server.log) == [0, 0, 0, 1, 1, 1]


def test_unparseable_after_every_attempt_is_recorded(judge):
    server = judge(garbage_seeds={0, 1, 2, 3})
    engine = judge_engine(server)
    outcomes = run_checklist(JUDGED[:2], engine, load_prompt("verifier@1"), LLMCheckConfig(max_attempts=3))
    engine.close()
    for o in outcomes.values():
        assert o.verdict is None and o.attempts == 3
        assert o.reasons() == ["llm:unparseable: no answer after removing the <think> block"]
    assert sorted(b["seed"] for b in server.log) == [0, 0, 1, 1, 2, 2]


def test_engine_failures_are_retried_then_recorded(judge):
    # the first request of each body fails (500), so the engine's own retry gets it; a server that
    # always fails ends as an engine error after the checklist's attempts
    server = judge(route=lambda body, hit: "500" if hit == 1 else "ok")
    engine = judge_engine(server, max_retries=1)
    outcomes = run_checklist(JUDGED[:2], engine, load_prompt("verifier@1"), LLMCheckConfig())
    engine.close()
    assert [o.reasons() for o in outcomes.values()] == [[], [
        "llm:mentions_background: The caption mentions a crowd around the speaker."]]
    server = judge(route=lambda body, hit: "503")
    engine = judge_engine(server, max_retries=0)
    outcomes = run_checklist(JUDGED[:1], engine, load_prompt("verifier@1"), LLMCheckConfig(max_attempts=2))
    engine.close()
    [reason] = outcomes["c/0"].reasons()
    assert reason.startswith("llm:engine_error: HTTP 503") and outcomes["c/0"].attempts == 2


# ---- grammar-constrained decoding through the transformers engine, on a tiny random text LM ----

def test_checklist_through_the_transformers_engine_is_schema_valid(tiny_text_lm):
    """A random-weight model writes nonsense, but the grammar (xgrammar, from CHECKLIST_SCHEMA) forces a
    schema-valid verdict, so every answer parses at the first attempt."""
    from annotate.engines.base import SamplingConfig
    from annotate.engines.transformers_engine import TransformersEngine

    engine = TransformersEngine(TransformersEngineConfig(model=str(tiny_text_lm), device="cpu", batch_size=2))
    cfg = LLMCheckConfig(reason_max_chars=16, max_attempts=1, sampling=SamplingConfig(max_tokens=160))
    items = JUDGED[:2]
    outcomes = run_checklist(items, engine, load_prompt("verifier@1"), cfg)
    engine.close()
    for o in outcomes.values():
        assert o.verdict is not None, o.failure
        assert o.attempts == 1 and len(o.verdict.reason) <= 16
