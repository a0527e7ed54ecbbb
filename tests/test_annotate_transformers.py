"""The transformers engine on tiny random checkpoints (Qwen2-Audio, Qwen3 text LM): per-request seeds,
batching, audio actually used, grammar-constrained JSON, and `clsp annotate` through it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from annotate.config import AnnotateConfig
from annotate.engines.base import GenerationRequest, SamplingConfig
from annotate.engines.configs import TransformersEngineConfig
from annotate.engines.registry import build_engine
from annotate.engines.transformers_engine import AUDIO_PART, TransformersEngine, audio_conversation
from annotate.pipeline import annotate
from clsp.config import load_config
from clsp.data.captions import get_captions
from clsp.data.manifest import read_cuts

SHORT = SamplingConfig(max_tokens=12)
MESSAGES = ({"role": "system", "content": "Describe the voice."},
            {"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "One sentence."}]})


@pytest.fixture(scope="module")
def audio_engine(tiny_qwen2_audio):
    engine = build_engine("transformers", TransformersEngineConfig(model=str(tiny_qwen2_audio), device="cpu",
                                                                   batch_size=3))
    yield engine
    engine.close()


def clips(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(16000 * (2 + i))).astype(np.float32) for i in range(n)]


def req(rid: str, audio, seed: int, sampling: SamplingConfig = SHORT) -> GenerationRequest:
    return GenerationRequest(rid, MESSAGES, audio, seed=seed, sampling=sampling, meta={"rid": rid})


def texts(engine, requests) -> dict[str, str]:
    out = {}
    for r in engine.generate(requests):
        assert r.ok, r.error
        out[r.request_id] = r.text
    return out


def test_picks_the_class_by_model_type(audio_engine):
    assert isinstance(audio_engine, TransformersEngine)
    assert audio_engine.model_type == "qwen2_audio" and audio_engine.audio and audio_engine.name == "transformers"


def test_same_seed_same_text_whatever_the_batch(audio_engine):
    a = clips(4)
    reqs = [req("a0s0", a[0], 0), req("a0s0-again", a[0], 0), req("a0s1", a[0], 1), req("a1s0", a[1], 0),
            req("a2s7", a[2], 7)]
    batched = texts(audio_engine, reqs)  # batches of 3 and 2
    alone = {k: v for q in reqs for k, v in texts(audio_engine, [q]).items()}
    assert batched == alone  # a request's draws never depend on its batch neighbours
    assert batched["a0s0"] == batched["a0s0-again"]
    assert batched["a0s0"] != batched["a0s1"]  # another seed, another text
    assert batched["a0s0"] != batched["a1s0"]  # another clip, another text: the audio is used
    assert texts(audio_engine, reqs) == batched  # and a rerun repeats itself


def test_results_carry_meta_and_token_counts_and_greedy_is_deterministic(audio_engine):
    a = clips(1)[0]
    greedy = SamplingConfig(temperature=0.0, max_tokens=8)
    r1, r2 = (next(iter(audio_engine.generate([req("g", a, s, greedy)]))) for s in (1, 2))
    assert r1.text == r2.text  # temperature 0: the seed does not matter
    assert r1.meta == {"rid": "g"} and r1.num_input_tokens > 20 and 0 < r1.num_output_tokens <= 8


def test_generation_is_lazy_per_batch(audio_engine):
    pulled = []

    def stream():
        for i, a in enumerate(clips(6)):
            pulled.append(i)
            yield req(f"r{i}", a, i)

    it = audio_engine.generate(stream())
    next(it)
    assert len(pulled) == 3  # one batch pulled, generated and handed back before the next is read
    assert len(list(it)) == 5


def test_grammar_constrained_json_on_a_text_model(tiny_text_lm):
    engine = TransformersEngine(TransformersEngineConfig(model=str(tiny_text_lm), batch_size=4))
    schema = {"type": "object", "additionalProperties": False, "required": ["ok", "tone"],
              "properties": {"ok": {"type": "boolean"}, "tone": {"enum": ["calm", "tense"]}}}
    reqs = [GenerationRequest(f"j{i}", ({"role": "user", "content": "Judge it."},), None, seed=i,
                              sampling=SamplingConfig(max_tokens=48), json_schema=schema) for i in range(4)]
    reqs.append(GenerationRequest("audio", MESSAGES, clips(1)[0], seed=0, sampling=SHORT))
    results = {r.request_id: r for r in engine.generate(reqs)}
    for i in range(4):
        value = json.loads(results[f"j{i}"].text)  # a random model, yet always schema-valid JSON
        assert set(value) == {"ok", "tone"} and isinstance(value["ok"], bool) and value["tone"] in ("calm", "tense")
    assert not results["audio"].ok and "takes no audio" in results["audio"].error  # fails alone
    free = next(iter(engine.generate([GenerationRequest("free", ({"role": "user", "content": "Hi"},), None, seed=0,
                                                        sampling=SamplingConfig(max_tokens=24))])))
    assert free.ok  # the same engine without a schema
    engine.close()


def test_audio_placeholder_handling(tiny_qwen2_audio):
    conv = audio_conversation(({"role": "user", "content": "Describe."},), has_audio=True)
    assert conv == [{"role": "user", "content": [AUDIO_PART, {"type": "text", "text": "Describe."}]}]
    assert audio_conversation(MESSAGES, has_audio=True)[1]["content"][0] == AUDIO_PART
    assert audio_conversation(MESSAGES, has_audio=False)[1]["content"] == [{"type": "text", "text": "One sentence."}]
    assert audio_conversation((), has_audio=True) == [{"role": "user", "content": [AUDIO_PART]}]
    # Qwen2-Audio's own template (it tests "'audio_url' in content") renders the part as the audio slot
    qwen2_audio_template = (
        "{% set audio_count = namespace(value=0) %}{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
        "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}"
        "{% for content in message['content'] %}{% if 'audio' in content or 'audio_url' in content %}"
        "{% set audio_count.value = audio_count.value + 1 %}Audio {{ audio_count.value }}: "
        "<|audio_bos|><|AUDIO|><|audio_eos|>\n{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
        "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}")
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_qwen2_audio)
    text = processor.apply_chat_template(audio_conversation(MESSAGES, True), chat_template=qwen2_audio_template,
                                         tokenize=False)
    assert "Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>" in text and "One sentence." in text


def test_clsp_annotate_through_the_transformers_engine(tiny_qwen2_audio, small_corpus, tmp_path):
    cfg = load_config(AnnotateConfig, None, [
        "engine=transformers", f"engine_config.transformers.model={tiny_qwen2_audio}",
        "engine_config.transformers.batch_size=4", "engine_config.transformers.device=cpu", "views=2", "kinds=[fine]",
        "sampling.max_tokens=16"])
    stats = annotate(cfg, [small_corpus / "cuts_dev.jsonl.gz"], tmp_path, progress=False)
    cuts = list(read_cuts(tmp_path / "cuts_dev.jsonl.gz"))
    assert stats["failures"] == 0 and stats["captions_written"] == 2 * len(cuts)
    for cut in cuts:
        caps = get_captions(cut, engine="transformers")
        assert [c.source.seed for c in caps] == [0, 1] and all(c.kind == "fine" and c.text for c in caps)
        assert caps[0].source.model == str(tiny_qwen2_audio) and caps[0].source.prompt_id == "clsp-style@1"
    all_texts = [c.text for cut in cuts for c in get_captions(cut, engine="transformers")]
    assert len(set(all_texts)) == len(all_texts)  # per clip and per seed
