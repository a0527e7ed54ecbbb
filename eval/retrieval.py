"""Retrieval metrics on a similarity matrix (as CLSP reports them: full N × N, both directions).

``similarity``: (N_queries, N_items) scores; ``targets``: for each query, the index of its one
relevant item. Recall@k = fraction of queries whose target ranks in the top k; mAP@k with one
relevant item = mean of 1/rank when rank <= k, else 0.
"""

from __future__ import annotations

import torch


def target_ranks(similarity: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(Q, N) scores, (Q,) target indices → (Q,) 1-based rank of each target (ties count against it)."""
    target_scores = similarity.gather(1, targets.view(-1, 1))
    return (similarity >= target_scores).sum(dim=1)


def retrieval_metrics(similarity: torch.Tensor, targets: torch.Tensor | None = None,
                      ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """R@k for each k and mAP@10 of one direction; ``targets`` defaults to the diagonal."""
    if targets is None:
        targets = torch.arange(similarity.shape[0])
    ranks = target_ranks(similarity.float(), targets.long()).float()
    out = {f"R@{k}": float((ranks <= k).float().mean()) for k in ks}
    out["mAP@10"] = float(torch.where(ranks <= 10, 1.0 / ranks, torch.zeros_like(ranks)).mean())
    return out


def bidirectional_retrieval(speech: torch.Tensor, text: torch.Tensor) -> dict[str, dict[str, float]]:
    """Unit vectors (N, D) each, row i of both = clip i → metrics for speech→text and text→speech."""
    sim = speech @ text.T
    return {"speech_to_text": retrieval_metrics(sim), "text_to_speech": retrieval_metrics(sim.T)}
