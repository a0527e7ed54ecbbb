"""Audio LLMs (Qwen2-Audio, Qwen2.5-Omni, Qwen3-Omni) and text LLMs through transformers, on CPU or GPU.

The model class is chosen by the checkpoint's ``model_type`` (:data:`AUDIO_MODELS`; any other type is
loaded with ``AutoModelForCausalLM`` and serves text-only requests). For the Omni models only the
"thinker" (text output) is used.

Requests are generated in batches of ``TransformersEngineConfig.batch_size`` (left padding). Sampling is done per
row by :class:`PerRowSampler` with a ``torch.Generator`` seeded from the request's seed (temperature,
top-k, top-p as in the request), so a request's draws never depend on the other rows of its batch and
the same seed gives the same text. Requests with a ``json_schema`` are constrained with xgrammar's
grammar mask (grammar-constrained decoding), batched with requests of the same schema.

Settings: ``model`` (local path or hub id), ``device`` (auto | cuda | cpu), ``dtype`` (auto = bfloat16 on
CUDA, float32 on CPU), ``batch_size``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from annotate.engines.base import GenerationRequest, GenerationResult, SamplingConfig
from annotate.engines.configs import TransformersEngineConfig
from clsp.audio import SAMPLING_RATE
from clsp.errors import ClspError

# model_type -> (transformers class name, sub-module that generates text or None)
AUDIO_MODELS: dict[str, tuple[str, str | None]] = {
    "qwen2_audio": ("Qwen2AudioForConditionalGeneration", None),
    "qwen2_5_omni": ("Qwen2_5OmniForConditionalGeneration", "thinker"),
    "qwen3_omni_moe": ("Qwen3OmniMoeForConditionalGeneration", "thinker"),
}


class PerRowSampler:
    """A logits processor that samples each row with its own seeded generator and returns scores that are
    -inf everywhere but the drawn token (so greedy decoding picks it). Temperature 0 = argmax."""

    def __init__(self, seeds: list[int], sampling: SamplingConfig):
        self.sampling = sampling
        self.generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        s = self.sampling
        logits = scores.float().cpu()  # (B, V)
        chosen = torch.empty(logits.shape[0], dtype=torch.long)
        for b, gen in enumerate(self.generators):
            row = logits[b]
            if s.temperature <= 0:
                chosen[b] = int(torch.argmax(row))
                continue
            row = row / s.temperature
            if 0 < s.top_k < row.numel():
                kth = torch.topk(row, s.top_k).values[-1]
                row = row.masked_fill(row < kth, float("-inf"))
            if s.top_p < 1.0:
                sorted_logits, order = torch.sort(row, descending=True)
                cum = torch.softmax(sorted_logits, dim=-1).cumsum(-1)
                drop = cum - torch.softmax(sorted_logits, dim=-1) >= s.top_p  # keep the smallest set reaching top_p
                row = row.masked_fill(torch.zeros_like(drop).scatter(0, order, drop), float("-inf"))
            chosen[b] = int(torch.multinomial(torch.softmax(row, dim=-1), 1, generator=gen))
        out = torch.full_like(scores, float("-inf"))
        out[torch.arange(out.shape[0]), chosen.to(out.device)] = 0.0
        return out


# Qwen2-Audio's chat template looks for an "audio_url" (or "audio") key, the Omni templates for the type;
# the value is never read (the waveform goes to the processor separately).
AUDIO_PART = {"type": "audio", "audio_url": "clip.wav"}


def audio_conversation(messages: Iterable[dict[str, Any]], has_audio: bool) -> list[dict[str, Any]]:
    """Messages for a chat template: with audio, one :data:`AUDIO_PART` (where the request has its
    ``{"type": "audio"}`` placeholder, else first in the last user message); without audio, none."""
    out = []
    placed = False
    for m in messages:
        m = dict(m)
        if isinstance(m.get("content"), list):
            parts = [dict(AUDIO_PART) if p.get("type") == "audio" else dict(p) for p in m["content"]
                     if has_audio or p.get("type") != "audio"]
            placed = placed or any(p.get("type") == "audio" for p in parts)
            m["content"] = parts
        out.append(m)
    if has_audio and not placed:
        users = [m for m in out if m.get("role") == "user"]
        if not users:
            out.append({"role": "user", "content": [dict(AUDIO_PART)]})
        else:
            c = users[-1]["content"]
            users[-1]["content"] = [dict(AUDIO_PART), *([{"type": "text", "text": c}] if isinstance(c, str) else c)]
    return out


class TransformersEngine:
    name = "transformers"

    def __init__(self, config: TransformersEngineConfig):
        from transformers import AutoConfig, AutoModelForCausalLM, AutoProcessor, AutoTokenizer

        import transformers

        if not config.model:
            raise ClspError("the transformers engine needs a model (--model or engine_config.transformers.model): "
                            "a local path or hub id")
        self.model = config.model
        self.batch_size = config.batch_size
        self.device = torch.device("cuda" if config.device == "auto" and torch.cuda.is_available()
                                   else "cpu" if config.device == "auto" else config.device)
        self.dtype = {"auto": torch.bfloat16 if self.device.type == "cuda" else torch.float32, "float32": torch.float32,
                      "bfloat16": torch.bfloat16, "float16": torch.float16}.get(config.dtype)
        if self.dtype is None:
            raise ClspError(f"engine_config.transformers.dtype: expected auto, float32, bfloat16 or float16, "
                            f"got {config.dtype!r}")
        try:
            hf_config = AutoConfig.from_pretrained(config.model)
        except (OSError, ValueError) as e:
            raise ClspError(f"{config.model}: cannot load a transformers model config ({str(e).splitlines()[0]})") from None
        self.model_type = hf_config.model_type
        if self.model_type in AUDIO_MODELS:
            class_name, sub = AUDIO_MODELS[self.model_type]
            full = getattr(transformers, class_name).from_pretrained(config.model, dtype=self.dtype)
            if hasattr(full, "disable_talker"):
                full.disable_talker()
            self.net = getattr(full, sub) if sub else full
            self.processor = AutoProcessor.from_pretrained(config.model)
            self.tokenizer = self.processor.tokenizer
            self.audio = True
        else:
            self.net = AutoModelForCausalLM.from_pretrained(config.model, dtype=self.dtype)
            self.processor = None
            self.tokenizer = AutoTokenizer.from_pretrained(config.model)
            self.audio = False
        self.net.to(self.device).eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        ids = self.tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
        self.eos_ids = [i for i in ids if isinstance(i, int) and i >= 0 and i != self.tokenizer.unk_token_id] \
            or [self.tokenizer.eos_token_id]  # Qwen chat models end a turn with <|im_end|>
        self._grammar_compiler = None

    # -- batching --------------------------------------------------------------------------------------
    def generate(self, requests: Iterable[GenerationRequest]) -> Iterator[GenerationResult]:
        """Batches of up to ``batch_size`` requests (audio / text-only and schemas kept apart)."""
        groups: dict[tuple[bool, str | None, SamplingConfig], list[GenerationRequest]] = {}
        for req in requests:
            key = (req.audio is not None, json.dumps(req.json_schema, sort_keys=True) if req.json_schema else None,
                   req.sampling)
            group = groups.setdefault(key, [])
            group.append(req)
            if len(group) >= self.batch_size:
                yield from self._safe_batch(groups.pop(key))
        for group in groups.values():
            yield from self._safe_batch(group)

    def _safe_batch(self, batch: list[GenerationRequest]) -> list[GenerationResult]:
        """A failed batch is retried one request at a time, so one bad request fails alone."""
        try:
            return self.generate_batch(batch)
        except Exception as e:
            if len(batch) == 1:
                return [GenerationResult(batch[0].request_id, None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                                         meta=batch[0].meta)]
            return [r for req in batch for r in self._safe_batch([req])]

    def _inputs(self, batch: list[GenerationRequest]) -> dict[str, Any]:
        has_audio = batch[0].audio is not None
        if has_audio and not self.audio:
            raise ValueError(f"model type {self.model_type!r} takes no audio")
        template_owner = self.processor if self.audio else self.tokenizer
        texts = [template_owner.apply_chat_template(audio_conversation(r.messages, has_audio), tokenize=False,
                                                    add_generation_prompt=True) for r in batch]
        if self.audio:
            kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
            if has_audio:
                kwargs.update(audio=[r.audio for r in batch], sampling_rate=SAMPLING_RATE)
            if self.model_type != "qwen2_audio":
                kwargs["use_audio_in_video"] = False
            inputs = self.processor(**kwargs)
        else:
            inputs = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        return {k: (v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device))
                for k, v in inputs.items() if isinstance(v, torch.Tensor)}

    def _grammar(self, schema: dict[str, Any], n: int):
        import xgrammar as xgr
        from xgrammar.contrib.hf import LogitsProcessor

        if self._grammar_compiler is None:
            vocab = self.net.config.get_text_config().vocab_size
            info = xgr.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=vocab, stop_token_ids=self.eos_ids)
            self._grammar_compiler = xgr.GrammarCompiler(info)
        compiled = self._grammar_compiler.compile_json_schema(json.dumps(schema), any_whitespace=False)
        return LogitsProcessor([compiled] * n)

    @torch.inference_mode()
    def generate_batch(self, batch: list[GenerationRequest]) -> list[GenerationResult]:
        """One ``generate`` call for requests sharing audio-ness, schema and sampling settings' shape."""
        from transformers import GenerationConfig, LogitsProcessorList

        t0 = time.monotonic()
        inputs = self._inputs(batch)
        processors = []
        if batch[0].json_schema is not None:
            processors.append(self._grammar(batch[0].json_schema, len(batch)))
        processors.append(PerRowSampler([r.seed for r in batch], batch[0].sampling))
        eos = self.eos_ids
        gen_cfg = GenerationConfig(max_new_tokens=max(r.sampling.max_tokens for r in batch), do_sample=False,
                                   num_beams=1, pad_token_id=self.tokenizer.pad_token_id, eos_token_id=eos)
        out = self.net.generate(**inputs, generation_config=gen_cfg, logits_processor=LogitsProcessorList(processors))
        new = out[:, inputs["input_ids"].shape[1]:].cpu()
        seconds = (time.monotonic() - t0) / len(batch)
        results = []
        for i, req in enumerate(batch):
            ids = new[i].tolist()
            cut_at = next((j for j, t in enumerate(ids) if t in eos), len(ids))
            ids = ids[: min(cut_at, req.sampling.max_tokens)]
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            n_in = int(inputs["attention_mask"][i].sum()) if "attention_mask" in inputs else None
            results.append(GenerationResult(req.request_id, text, None, n_in, len(ids), seconds, req.meta))
        return results

    def close(self) -> None:
        self.net = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
