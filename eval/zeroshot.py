"""Zero-shot classification: each clip takes the label whose prompt embedding is most similar.

WA (weighted accuracy) = plain accuracy; UA (unweighted accuracy) = mean per-class recall.
"""

from __future__ import annotations

import torch


def zero_shot_predict(speech: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
    """(N, D) clip embeddings × (C, D) prompt embeddings → (N,) predicted class indices."""
    return (speech @ prompts.T).argmax(dim=1)


def classification_metrics(pred: torch.Tensor, true: torch.Tensor, num_classes: int) -> dict:
    """WA, UA, per-class recall (None for classes absent from ``true``) and the (C, C) confusion matrix
    (rows = true class, columns = predicted)."""
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    confusion.index_put_((true.long(), pred.long()), torch.ones_like(true, dtype=torch.long), accumulate=True)
    support = confusion.sum(dim=1)
    recall = [float(confusion[c, c] / support[c]) if support[c] > 0 else None for c in range(num_classes)]
    present = [r for r in recall if r is not None]
    return {
        "WA": float((pred == true).float().mean()) if len(true) else 0.0,
        "UA": sum(present) / len(present) if present else 0.0,
        "per_class_recall": recall,
        "confusion": confusion.tolist(),
    }
