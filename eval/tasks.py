"""Evaluation tasks on a manifest with a trained model: zero-shot classification and caption retrieval.

Caption choice for retrieval (one caption per clip, as CLSP's evaluation does): ``global`` takes the
clip's *first* kept global caption and ``fine`` its *last* kept fine caption — CLSP's script uses
``short_captions[0]`` and ``long_captions[-1]``, and imported manifests keep the recipe's caption order.
Clips without a caption of the kind are left out (and counted in ``skipped``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from clsp.data.captions import get_captions
from clsp.errors import ClspError
from eval.embed import embed_audio
from eval.retrieval import bidirectional_retrieval
from eval.zeroshot import classification_metrics, label_scores

CAPTION_CHOICE = {"global": "first", "fine": "last"}


def _speech_rows(model, cuts: Sequence, rows: list[int], speech: torch.Tensor | None, batch_size: int,
                 progress: bool | None) -> torch.Tensor:
    if speech is not None:
        return speech[rows]
    return embed_audio(model, [cuts[i] for i in rows], batch_size=batch_size, progress=progress)


def zero_shot(model, cuts: Sequence, field: str, labels: Sequence[str], prompts: Sequence[str | Sequence[str]],
              speech: torch.Tensor | None = None, batch_size: int = 16, progress: bool | None = None) -> dict:
    """Classify the cuts whose custom ``field`` is one of ``labels``.

    ``prompts[i]``: the prompt of ``labels[i]``, or several (the class scores as its best prompt).
    ``speech`` (N, D): embeddings of all ``cuts`` when already computed. Returns WA, UA, per-class
    recall (label → recall, None for a label with no clip), the confusion matrix (rows = true label,
    columns = predicted), ``n`` (clips scored) and ``skipped`` (clips without one of the labels).
    """
    labels = list(labels)
    if len(prompts) != len(labels):
        raise ValueError(f"{len(labels)} labels but {len(prompts)} prompt entries")
    groups = [[p] if isinstance(p, str) else list(p) for p in prompts]
    rows = [i for i, c in enumerate(cuts) if (c.custom or {}).get(field) in labels]
    true = torch.tensor([labels.index(cuts[i].custom[field]) for i in rows], dtype=torch.long)
    emb = _speech_rows(model, cuts, rows, speech, batch_size, progress)
    pred = label_scores(model, emb, groups).argmax(dim=1)
    out = classification_metrics(pred, true, len(labels))
    out["per_class_recall"] = dict(zip(labels, out["per_class_recall"]))
    return {**out, "n": len(rows), "skipped": len(cuts) - len(rows), "field": field, "labels": labels,
            "prompts": dict(zip(labels, groups))}


def pick_caption(cut, kind: str, choice: str | None = None, status: str = "kept") -> str | None:
    """The one caption of ``kind`` a clip is evaluated with (see :data:`CAPTION_CHOICE`), or None."""
    caps = get_captions(cut, kind=kind, status=status)
    if not caps:
        return None
    return (caps[0] if (choice or CAPTION_CHOICE[kind]) == "first" else caps[-1]).text


def caption_retrieval(model, cuts: Sequence, kind: str, speech: torch.Tensor | None = None,
                      choice: str | None = None, batch_size: int = 16, progress: bool | None = None) -> dict:
    """Speech↔text retrieval over the full N × N similarity of the clips that have a ``kind`` caption."""
    rows, texts = [], []
    for i, cut in enumerate(cuts):
        text = pick_caption(cut, kind, choice)
        if text is not None:
            rows.append(i)
            texts.append(text)
    if not rows:
        raise ClspError(f"no clip has a kept '{kind}' caption")
    emb = _speech_rows(model, cuts, rows, speech, batch_size, progress)
    return {**bidirectional_retrieval(emb, model.encode_text(texts)), "n": len(rows),
            "skipped": len(cuts) - len(rows), "kind": kind, "caption_choice": choice or CAPTION_CHOICE[kind],
            "chance_R@1": 1 / len(rows)}
