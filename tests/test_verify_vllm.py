"""The verifier's LLM checklist through the real vLLM engine (CPU build) on the tiny random text model.

A random model writes nonsense; the checklist schema (booleans and a short ``reason``) and vLLM's
structured outputs must still turn every answer into a verdict that ``parse_verdict`` accepts. One engine
start for the module (a random-weight Qwen3 on CPU).
"""

from __future__ import annotations

from contextlib import closing

import pytest

from annotate.engines.base import SamplingConfig
from annotate.testing import cpu_engine_config
from clsp.data.captions import get_captions
from clsp.data.manifest import read_cuts
from verify.config import LLMCheckConfig
from verify.llm_check import (
    CheckItem,
    VerdictParseError,
    checklist_requests,
    checklist_schema,
    load_prompt,
    parse_verdict,
    run_checklist,
)

# Real vLLM (CPU build) behind Ray: engine starts take minutes on a loaded 2-core machine.
pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(1800)]

REASON_CHARS = 40
CFG = LLMCheckConfig(reason_max_chars=REASON_CHARS, max_attempts=1, sampling=SamplingConfig(max_tokens=320))


@pytest.fixture(scope="module")
def text_engine(tiny_text_lm):
    from annotate.engines.vllm_engine import VLLMEngine

    with closing(VLLMEngine(cpu_engine_config(tiny_text_lm))) as engine:
        yield engine


@pytest.fixture(scope="module")
def items(small_corpus) -> list[CheckItem]:
    out = []
    for cut in list(read_cuts(small_corpus / "cuts_test.jsonl.gz"))[:3]:
        sup = cut.supervisions[0] if cut.supervisions else None
        for cap in get_captions(cut)[:2]:
            transcript = sup.text if sup else None
            out.append(CheckItem(f"{cut.id}/{cap.id}", cut.id, cap.id, cap.kind, cap.text, transcript))
    return out


def test_checklist_answers_parse_against_the_schema(text_engine, items):
    prompt = load_prompt("verifier@1")
    schema = checklist_schema(REASON_CHARS)
    requests = checklist_requests(items, prompt, CFG)
    unconstrained = [r.__class__(**{**r.__dict__, "request_id": r.request_id + "/free", "json_schema": None})
                     for r in requests[:2]]
    results = {r.request_id: r for r in text_engine.generate(requests + unconstrained)}
    assert set(results) == {r.request_id for r in requests + unconstrained}
    for req in requests:
        res = results[req.request_id]
        assert res.ok, res.error
        assert res.meta["key"] == req.meta["key"] and res.num_output_tokens > 0
        verdict = parse_verdict(res.text, schema)
        assert len(verdict.reason) <= REASON_CHARS
    # the constraint is what makes them parse: the same model without the schema writes no verdict
    for req in unconstrained:
        with pytest.raises(VerdictParseError):
            parse_verdict(results[req.request_id].text, schema)


def test_run_checklist_gets_a_verdict_for_every_caption_first_time(text_engine, items):
    outcomes = run_checklist(items, text_engine, load_prompt("verifier@1"), CFG)
    assert list(outcomes) == [it.key for it in items]
    assert all(o.verdict is not None and o.attempts == 1 for o in outcomes.values()), outcomes
    again = run_checklist(items[:2], text_engine, load_prompt("verifier@1"), CFG)  # same seeds: same verdicts
    assert [again[it.key].verdict for it in items[:2]] == [outcomes[it.key].verdict for it in items[:2]]
