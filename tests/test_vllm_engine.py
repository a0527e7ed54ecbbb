"""Tiny test checkpoints (transformers side) and the vLLM engine on Ray Data (CPU build, real engine)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clsp.errors import ClspError


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
