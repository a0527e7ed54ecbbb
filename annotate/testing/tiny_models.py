"""Tiny random-weight checkpoints for tests: built offline from configs, loadable by vLLM and transformers.

- :func:`build_tiny_qwen2_audio`: a ``Qwen2AudioForConditionalGeneration`` (audio encoder + Qwen2 text
  decoder), with a ``Qwen2AudioProcessor`` (Whisper features, 128 mel bins) and a chat template that
  renders every audio part as ``<|audio_bos|><|AUDIO|><|audio_eos|>``;
- :func:`build_tiny_text_lm`: a ``Qwen3ForCausalLM`` with a Qwen3-style chat template.

Both use a byte-level BPE tokenizer trained here with the ``tokenizers`` library on a fixed text (every
byte is in the vocabulary, so structured outputs can write any JSON). Sizes are the smallest the vLLM CPU
build accepts: hidden 64 with 2 heads, so head_dim = 32 (its attention backend rejects head_dim 16).

Builds are deterministic (fixed seeds, fixed training text) and cached: a directory holding a complete
build of the current recipe is returned at once. A build is written to a temporary sibling directory and
renamed into place, so an interrupted build never leaves a directory that looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from clsp.errors import ClspError

# Bump when the recipe changes: cached builds of another recipe are rebuilt.
RECIPE_VERSION = "tiny-2"
MARKER = ".tiny_model.json"
SEED = 1234
# Weights drawn with std 0.3 (not the usual 0.02): the next-token distribution is then peaked enough that
# the output depends on the input (other audio -> other text) instead of being uniform noise.
INIT_STD = 0.3

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|audio_bos|>",
    "<|AUDIO|>",
    "<|audio_eos|>",
)

# Renders OpenAI-style messages; any audio part (``audio``, ``input_audio``, ``audio_url``) becomes the
# audio placeholder the processor expands into one <|AUDIO|> per encoder frame.
AUDIO_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] in ('audio', 'input_audio', 'audio_url') -%}"
    "{{ '<|audio_bos|><|AUDIO|><|audio_eos|>\\n' }}"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

# Qwen3-like: string or text-part contents; ``enable_thinking=False`` pre-fills an empty think block.
TEXT_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false -%}"
    "{{ '<think>\\n\\n</think>\\n\\n' }}{%- endif -%}"
    "{%- endif -%}"
)

_WORDS = (
    "a the speaker voice male female man woman young old adult low high medium pitch deep bright "
    "narrow wide range slow fast normal pace rate loud soft quiet whisper whispered creaky modal breathy "
    "calm happy sad angry neutral tone steady rising falling starts begins then ends later finally while "
    "sentence utterance clip second seconds words speaks speaking talks reads delivers energetic monotone "
    "expressive emphasis pause pauses short long brief clear warm rough smooth tense relaxed gentle firm "
    "true false null yes no reason mentions background states absence contains transcript several "
    "speakers describes kept rejected noise music recording quality"
).split()


def _training_text() -> list[str]:
    """A fixed, varied text: style-caption words in many orders, JSON snippets and digits."""
    lines = []
    n = len(_WORDS)
    for i in range(400):
        step = 1 + (i % 7)
        words = [_WORDS[(i * 13 + k * step) % n] for k in range(6 + i % 9)]
        sentence = " ".join(words).capitalize() + (". " if i % 3 else ", ") + str(i)
        lines.append(sentence)
    lines.append('{"mentions_background": false, "states_absence": true, "reason": "The caption."}')
    lines.append("0 1 2 3 4 5 6 7 8 9 10 20 30 100 1.5 -2 [ ] { } : , \" ' ( ) ? ! ; / \\ _ - + = * % $ #")
    return lines


def train_tokenizer(vocab_size: int = 512):
    """A byte-level BPE (``tokenizers.Tokenizer``) with the Qwen special tokens; deterministic."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    # Qwen2's split: contractions, letters, single digits, punctuation runs, whitespace.
    split = (
        r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
        r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(split), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # No single-token <think>/</think> (real Qwen3 has them): a random model would then write "<think>"
    # inside JSON strings now and then, and the verifier strips from there.
    tok.train_from_iterator(_training_text(), trainer=trainer)
    return tok


def _hf_tokenizer(chat_template: str):
    """The trained tokenizer wrapped as transformers' Qwen2 tokenizer (fast)."""
    from transformers import Qwen2Tokenizer

    base = train_tokenizer()
    vocab = base.get_vocab()
    merges = [tuple(pair) for pair in json.loads(base.to_str())["model"]["merges"]]
    tok = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
    )
    tok.chat_template = chat_template
    tok.model_max_length = 4096
    return tok


def _text_sizes(vocab_size: int, eos_id: int, pad_id: int) -> dict:
    return dict(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        initializer_range=INIT_STD,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        bos_token_id=None,
    )


def _rename_audio_weights(directory: Path) -> None:
    """Rewrite the saved weight names in the layout of the released Qwen2-Audio checkpoints.

    That layout (``audio_tower.*``, ``multi_modal_projector.*``, ``language_model.model.*``,
    ``language_model.lm_head.*``) is what vLLM 0.32's loader maps, and transformers reads it through its
    load-time key conversion. transformers 5.19's ``save_pretrained`` writes the decoder as
    ``language_model.model.model.*`` (its reverse conversion adds one ``model.`` too many), and other 5.x
    releases write the new in-memory names (``model.language_model.*``, ``model.audio_tower.*``, ...).
    """
    from safetensors.torch import load_file, save_file

    prefixes = (
        ("language_model.model.model.", "language_model.model."),
        ("model.language_model.", "language_model.model."),
        ("model.audio_tower.", "audio_tower."),
        ("model.multi_modal_projector.", "multi_modal_projector."),
        ("lm_head.", "language_model.lm_head."),
    )
    files = sorted(directory.glob("*.safetensors"))
    if len(files) != 1:
        raise ClspError(f"{directory}: expected one safetensors file, found {len(files)}")
    renamed = {}
    for key, value in load_file(files[0]).items():
        for old, new in prefixes:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        renamed[key] = value.contiguous()
    save_file(renamed, files[0], metadata={"format": "pt"})


def _save_audio_model(out: Path) -> None:
    import torch
    from transformers import (
        Qwen2AudioConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        WhisperFeatureExtractor,
    )

    tok = _hf_tokenizer(AUDIO_CHAT_TEMPLATE)
    audio_cfg = dict(
        num_mel_bins=128,
        encoder_layers=2,
        encoder_attention_heads=2,
        encoder_ffn_dim=128,
        d_model=64,
        max_source_positions=1500,
        initializer_range=INIT_STD,
    )
    text_cfg = dict(
        model_type="qwen2",
        **_text_sizes(len(tok), tok.convert_tokens_to_ids("<|im_end|>"), tok.pad_token_id),
    )
    config = Qwen2AudioConfig(
        audio_config=audio_cfg,
        text_config=text_cfg,
        audio_token_index=tok.convert_tokens_to_ids("<|AUDIO|>"),
    )
    config.initializer_range = INIT_STD
    torch.manual_seed(SEED)
    model = Qwen2AudioForConditionalGeneration(config).to(torch.float32).eval()
    model.generation_config.eos_token_id = [tok.eos_token_id, tok.pad_token_id]
    model.save_pretrained(out)
    _rename_audio_weights(out)
    processor = Qwen2AudioProcessor(
        feature_extractor=WhisperFeatureExtractor(feature_size=128),
        tokenizer=tok,
        chat_template=AUDIO_CHAT_TEMPLATE,
    )
    processor.save_pretrained(out)


def _save_text_model(out: Path) -> None:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tok = _hf_tokenizer(TEXT_CHAT_TEMPLATE)
    config = Qwen3Config(
        head_dim=32,
        **_text_sizes(len(tok), tok.convert_tokens_to_ids("<|im_end|>"), tok.pad_token_id),
    )
    torch.manual_seed(SEED)
    model = Qwen3ForCausalLM(config).to(torch.float32).eval()
    model.generation_config.eos_token_id = [tok.eos_token_id, tok.pad_token_id]
    model.save_pretrained(out)
    tok.save_pretrained(out)


def tiny_cache_dir() -> Path:
    """Where tiny test checkpoints are cached between runs (``$XDG_CACHE_HOME/clsp-tests``, else
    ``~/.cache/clsp-tests``)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "clsp-tests"


def _is_built(directory: Path, stamp: dict) -> bool:
    marker = directory / MARKER
    return marker.is_file() and json.loads(marker.read_text()) == stamp


def _build_cached(directory: str | Path, kind: str, save: Callable[[Path], None]) -> Path:
    import torch

    directory = Path(directory)
    stamp = {"recipe": RECIPE_VERSION, "kind": kind}
    if _is_built(directory, stamp):
        return directory
    if directory.exists() and any(directory.iterdir()) and not (directory / MARKER).is_file():
        raise ClspError(f"{directory}: exists and is not a tiny-model build; use an empty or new directory")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        with torch.random.fork_rng(devices=[]):
            save(tmp)
        (tmp / MARKER).write_text(json.dumps(stamp))
        if _is_built(directory, stamp):  # another process finished the same build meanwhile
            return directory
        if directory.exists():  # empty, or a build of another recipe: ours to replace
            shutil.rmtree(directory)
        try:
            os.rename(tmp, directory)
        except OSError:
            if not _is_built(directory, stamp):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def build_tiny_qwen2_audio(directory: str | Path) -> Path:
    """Build (or reuse) a tiny random Qwen2-Audio checkpoint with processor in ``directory``."""
    return _build_cached(directory, "qwen2_audio", _save_audio_model)


def build_tiny_text_lm(directory: str | Path) -> Path:
    """Build (or reuse) a tiny random Qwen3 causal LM with tokenizer in ``directory``."""
    return _build_cached(directory, "qwen3_text", _save_text_model)


def cpu_engine_config(model_dir: str | Path, **overrides):
    """vLLM engine settings that run a tiny checkpoint on one CPU (float32, batches of 4, 2048 tokens)."""
    from annotate.engines.configs import VLLMEngineConfig

    settings = dict(model=str(model_dir), device="cpu", dtype="float32", batch_size=4, max_model_len=2048)
    return VLLMEngineConfig(**{**settings, **overrides})
