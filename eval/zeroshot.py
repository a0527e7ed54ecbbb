"""Zero-shot classification: each clip takes the class whose prompt embedding is most similar.

A class may have several prompts (CLSP scores IEMOCAP with both "happy" and "excited" prompts for the
merged happy class): its score is the best of its prompts. WA (weighted accuracy) = plain accuracy;
UA (unweighted accuracy) = mean recall over the classes present; both come from the local ``evaluate``
module ``eval/metrics/classification``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from eval.metrics import load_metric


def class_scores(sim: torch.Tensor, prompt_classes: torch.Tensor | None = None) -> torch.Tensor:
    """(N, P) clip × prompt similarities → (N, C): each class scores as its best prompt.

    ``prompt_classes`` (P,): the class of each prompt (default: prompt i is class i).
    """
    if prompt_classes is None:
        return sim
    num_classes = int(prompt_classes.max()) + 1
    best = torch.full((sim.shape[0], num_classes), float("-inf"), dtype=sim.dtype)
    return best.scatter_reduce(1, prompt_classes.long().expand(sim.shape[0], -1), sim, reduce="amax")


def zero_shot_predict(speech: torch.Tensor, prompts: torch.Tensor,
                      prompt_classes: torch.Tensor | None = None) -> torch.Tensor:
    """(N, D) clip embeddings × (P, D) prompt embeddings → (N,) predicted class indices."""
    return class_scores(speech @ prompts.T, prompt_classes).argmax(dim=1)


def label_scores(model, speech: torch.Tensor, prompt_groups: Sequence[Sequence[str]]) -> torch.Tensor:
    """(N, D) unit clip embeddings and one group of prompts per class → (N, C) cosine scores, each class
    scoring as its best prompt; the prompts go through ``model.encode_text`` once, in one list.
    The one zero-shot scorer: ``clsp eval zeroshot`` (:func:`eval.tasks.zero_shot`), ``clsp classify``
    (:func:`eval.scoring.classify`) and the style probes all use it."""
    flat = [p for group in prompt_groups for p in group]
    classes = torch.tensor([c for c, group in enumerate(prompt_groups) for _ in group])
    return class_scores(speech @ model.encode_text(flat).T, classes)


def classification_metrics(pred: torch.Tensor, true: torch.Tensor, num_classes: int) -> dict:
    """WA, UA, per-class recall (None for classes absent from ``true``) and the (C, C) confusion matrix
    (rows = true class, columns = predicted), plus ``n``."""
    return load_metric("classification").compute(predictions=pred.tolist(), references=true.tolist(),
                                                 num_classes=num_classes)


def plot_confusion(confusion: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path,
                   title: str = "") -> Path:
    """Save a row-normalised confusion matrix (rows = true class) as a PNG, counts in the cells."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = torch.tensor(confusion, dtype=torch.float64)
    rates = counts / counts.sum(dim=1, keepdim=True).clamp(min=1)
    size = 1.6 + 0.55 * len(labels)
    fig = Figure(figsize=(size + 1.2, size))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(rates.numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels=list(labels), rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(int(counts[i, j])), ha="center", va="center",
                    color="white" if rates[i, j] > 0.5 else "black", fontsize=8)
    fig.colorbar(image, ax=ax, label="share of the true class")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    return out
