"""Tiny test checkpoints (transformers side) and the vLLM engine on Ray Data (CPU build, real engine)."""

from __future__ import annotations

import json
from contextlib import closing

import numpy as np
import pytest

from clsp.errors import ClspError

# Real vLLM (CPU build) behind Ray: engine starts take minutes on a loaded 2-core machine.
pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(1800)]


def _two_loads_equal(load) -> bool:
    """Load twice: weights missing from the checkpoint would be drawn at random and differ."""
    a, b = load().state_dict(), load().state_dict()
    return a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)


def test_tiny_qwen2_audio_loads_in_transformers_and_listens(tiny_qwen2_audio):
    import torch
    from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration

    def load():
        return Qwen2AudioForConditionalGeneration.from_pretrained(tiny_qwen2_audio).eval()

    assert _two_loads_equal(load), "some weights were not in the checkpoint (randomly initialised)"
    processor = AutoProcessor.from_pretrained(tiny_qwen2_audio)
    messages = [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "Describe."}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert "<|audio_bos|><|AUDIO|><|audio_eos|>" in text and text.endswith("<|im_start|>assistant\n")
    t = np.arange(16000) / 16000
    clips = [(0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32) for f in (120.0, 260.0)]
    model = load()
    last = []
    for clip in clips:
        inputs = processor(text=text, audio=[clip], sampling_rate=16000, return_tensors="pt")
        with torch.no_grad():
            last.append(torch.softmax(model(**inputs).logits[0, -1], -1))
    # the audio reaches the decoder: another clip moves the next-token distribution noticeably
    assert 0.5 * float((last[0] - last[1]).abs().sum()) > 0.05


def test_tiny_text_lm_loads_and_tokenizer_covers_every_byte(tiny_text_lm):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert _two_loads_equal(lambda: AutoModelForCausalLM.from_pretrained(tiny_text_lm))
    tok = AutoTokenizer.from_pretrained(tiny_text_lm)
    text = json.dumps({"reason": "ünïcödé \u00a7 \t tabs; 42", "flag": False}, ensure_ascii=False)
    assert tok.decode(tok(text)["input_ids"]) == text
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=False, enable_thinking=False
    )
    assert prompt == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    assert tok.eos_token == "<|im_end|>"


def test_tiny_build_is_deterministic_cached_and_refuses_foreign_dirs(tmp_path):
    from annotate.testing import build_tiny_text_lm

    a = build_tiny_text_lm(tmp_path / "a")
    b = build_tiny_text_lm(tmp_path / "b")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    before = {p.name: p.stat().st_mtime_ns for p in a.iterdir()}
    assert build_tiny_text_lm(a) == a
    assert {p.name: p.stat().st_mtime_ns for p in a.iterdir()} == before
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ClspError, match="foreign"):
        build_tiny_text_lm(foreign)
    assert (foreign / "notes.txt").read_text() == "mine"


# --- the vLLM engine on Ray Data (real engine, CPU build, tiny random Qwen2-Audio) ------------------------
SYSTEM = {"role": "system", "content": "You describe how people speak."}
PROMPTS = {"global": "Describe the speaking style in one sentence.", "fine": "Describe how the voice changes."}


def _messages(kind: str) -> tuple:
    return SYSTEM, {"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": PROMPTS[kind]}]}


@pytest.fixture(scope="module")
def audio_engine(tiny_qwen2_audio):
    from annotate.engines.vllm_engine import VLLMEngine
    from annotate.testing import cpu_engine_config

    with closing(VLLMEngine(cpu_engine_config(tiny_qwen2_audio))) as engine:
        yield engine


@pytest.fixture(scope="module")
def clips(small_corpus) -> dict[str, np.ndarray]:
    from clsp.data.manifest import read_cuts

    cuts = list(read_cuts(small_corpus / "cuts_dev.jsonl.gz"))[:3]
    return {c.id: c.load_audio()[0].astype(np.float32) for c in cuts}


def test_rows_per_cut_kind_seed_with_seeds_honoured(audio_engine, clips):
    from annotate.engines.base import GenerationRequest, SamplingConfig

    sampling = SamplingConfig(max_tokens=16)
    requests = [
        GenerationRequest(f"{cut_id}/{kind}/s{seed}", _messages(kind), audio, seed, sampling,
                          meta={"cut_id": cut_id, "kind": kind, "seed": seed})
        for cut_id, audio in clips.items() for kind in ("global", "fine") for seed in (0, 1)
    ]
    first = requests[0]
    again = GenerationRequest(first.request_id + "/again", first.messages, first.audio, first.seed, sampling)
    results = list(audio_engine.generate(requests + [again]))
    assert [r.request_id for r in results] == [r.request_id for r in requests + [again]]  # request order
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    text = {r.request_id: r.text for r in results}
    for req, res in zip(requests, results):
        assert res.meta == req.meta
        assert 1 <= res.num_output_tokens <= 16
        assert res.num_input_tokens > 20 and res.seconds > 0  # prompt + audio placeholder tokens
    assert text[first.request_id] == text[again.request_id]  # same inputs, same seed: same text
    pairs = [(f"{c}/{k}/s0", f"{c}/{k}/s1") for c in clips for k in ("global", "fine")]
    assert any(text[a] != text[b] for a, b in pairs)  # other seed: other text
    for kind in ("global", "fine"):  # other clip, same prompt and seed: other text (the audio is used)
        assert len({text[f"{c}/{kind}/s0"] for c in clips}) == len(clips)


def test_failed_rows_are_results_and_captioner_mode_works(audio_engine, clips):
    from annotate.engines.base import GenerationRequest, SamplingConfig

    audio = next(iter(clips.values()))
    sampling = SamplingConfig(max_tokens=8)
    too_long = ({"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "word " * 3000}]},)
    requests = [
        GenerationRequest("ok", _messages("global"), audio, 5, sampling),
        GenerationRequest("too-long", too_long, audio, 5, sampling, meta={"cut_id": "x"}),
        GenerationRequest("captioner", (), audio, 5, sampling),  # Captioner mode: audio only, no prompt
        GenerationRequest("empty", (), None, 5, sampling),
    ]
    results = {r.request_id: r for r in audio_engine.generate(requests)}
    assert results["ok"].ok and results["captioner"].ok and results["captioner"].text
    bad = results["too-long"]
    assert not bad.ok and bad.text is None and "context length" in bad.error and bad.meta == {"cut_id": "x"}
    assert "\n" not in bad.error
    assert not results["empty"].ok and "neither messages nor audio" in results["empty"].error

    def broken():  # the caller's own iterator fails: its exception reaches the caller
        yield requests[0]
        raise KeyError("manifest went away")

    with pytest.raises(KeyError, match="manifest went away"):
        list(audio_engine.generate(broken()))
    assert [r.ok for r in audio_engine.generate(requests[:1])] == [True]
    assert audio_engine.pipeline_starts == 1  # one engine start for every call of this module


def test_annotate_end_to_end_with_vllm_then_resume(audio_engine, small_corpus, tmp_path):
    from annotate.config import AnnotateConfig
    from annotate.engines.base import SamplingConfig
    from annotate.pipeline import annotate
    from clsp.data.captions import get_captions
    from clsp.data.manifest import read_cuts

    cfg = AnnotateConfig(engine="vllm", views=2, sampling=SamplingConfig(max_tokens=12))
    manifest = small_corpus / "cuts_dev.jsonl.gz"
    out = tmp_path / "out"
    stats = annotate(cfg, [manifest], out, engine=audio_engine, progress=False)
    cuts = list(read_cuts(out / manifest.name))
    assert [c.id for c in cuts] == [c.id for c in read_cuts(manifest)]
    new = [c for cut in cuts for c in get_captions(cut, engine="vllm")]
    assert len(new) == len(cuts) * 2 * 2 and stats["captions_written"] == len(new) and stats["failures"] == 0
    assert {(c.kind, c.source.seed) for c in new} == {(k, s) for k in ("global", "fine") for s in (0, 1)}
    assert all(c.status == "pending" and c.source.model == audio_engine.model for c in new)
    shards = sorted((out / "shards").rglob("*.jsonl"))

    again = annotate(cfg, [manifest], out, engine=audio_engine, progress=False)
    assert again["rows"]["requested"] == 0 and again["captions_written"] == 0
    assert sorted((out / "shards").rglob("*.jsonl")) == shards
    assert [c.to_dict() for c in read_cuts(out / manifest.name)] == [c.to_dict() for c in cuts]
