"""Evaluation tasks on a manifest with a trained model: zero-shot classification and retrieval."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from clsp.data.captions import get_captions
from eval.retrieval import bidirectional_retrieval
from eval.zeroshot import classification_metrics, zero_shot_predict


def audio_paths(cuts) -> list[str]:
    return [cut.recording.sources[0].source for cut in cuts]


def zero_shot(model, cuts: Sequence, field: str, labels: Sequence[str], prompts: Sequence[str],
              speech: torch.Tensor | None = None) -> dict:
    """Classify the cuts whose custom ``field`` is one of ``labels``, with one prompt per label.

    ``speech`` (N, D): embeddings of all ``cuts`` when already computed. Returns WA, UA, per-class
    recall, the confusion matrix and ``n``.
    """
    rows = [i for i, c in enumerate(cuts) if (c.custom or {}).get(field) in labels]
    emb = speech[rows] if speech is not None else model.encode_audio(audio_paths([cuts[i] for i in rows]))
    true = torch.tensor([list(labels).index(cuts[i].custom[field]) for i in rows])
    out = classification_metrics(zero_shot_predict(emb, model.encode_text(list(prompts))), true, len(labels))
    return {**out, "n": len(rows), "labels": list(labels), "prompts": list(prompts)}


def caption_retrieval(model, cuts: Sequence, kind: str, speech: torch.Tensor | None = None) -> dict:
    """Speech↔text retrieval with each clip's first kept caption of ``kind`` (clips without one are left out)."""
    rows, texts = [], []
    for i, cut in enumerate(cuts):
        caps = get_captions(cut, kind=kind, status="kept")
        if caps:
            rows.append(i)
            texts.append(caps[0].text)
    emb = speech[rows] if speech is not None else model.encode_audio(audio_paths([cuts[i] for i in rows]))
    return {**bidirectional_retrieval(emb, model.encode_text(texts)), "n": len(rows), "chance_R@1": 1 / len(rows)}
