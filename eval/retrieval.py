"""Retrieval on a full similarity matrix, as CLSP reports it: N × N, both directions, R@1/5/10, mAP@10.

``similarity``: (N_queries, N_items) scores; ``targets``: for each query, the index of its one relevant
item (the diagonal by default: query i ↔ item i). Ties are never in the model's favour: the relevant
item ranks after every other item that scores the same as it (rank = number of items scoring >= it).
The figures come from the local ``evaluate`` module ``eval/metrics/retrieval``.
"""

from __future__ import annotations

import torch

from eval.metrics import load_metric

MAP_AT = 10


def target_ranks(similarity: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(Q, N) scores, (Q,) target indices → (Q,) 1-based rank of each target (ties count against it)."""
    target_scores = similarity.gather(1, targets.view(-1, 1))
    return (similarity >= target_scores).sum(dim=1)


def ranked_lists(similarity: torch.Tensor, targets: torch.Tensor, k: int = 10) -> list[list[int]]:
    """(Q, N) scores → for each query its top-``k`` item indices, best first, the target placed after
    every item that ties with it (so its position is its :func:`target_ranks` rank when that is <= k)."""
    sim = similarity.float()
    targets = targets.long()
    n = sim.shape[1]
    ranks = target_ranks(sim, targets).tolist()
    others = sim.scatter(1, targets.view(-1, 1), float("-inf"))
    top = others.topk(min(k, n - 1), dim=1).indices.tolist() if n > 1 else [[] for _ in ranks]
    lists = []
    for row, rank, target in zip(top, ranks, targets.tolist()):
        if rank <= k:
            row.insert(rank - 1, target)
        lists.append(row[:k])
    return lists


def retrieval_metrics(similarity: torch.Tensor, targets: torch.Tensor | None = None,
                      ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """R@k for each k and mAP@10 of one direction (plus ``n``); ``targets`` defaults to the diagonal."""
    if targets is None:
        targets = torch.arange(similarity.shape[0])
    lists = ranked_lists(similarity, targets, k=max(*ks, MAP_AT))
    return load_metric("retrieval").compute(predictions=lists, references=targets.tolist(), ks=list(ks),
                                            map_at=MAP_AT)


def bidirectional_retrieval(speech: torch.Tensor, text: torch.Tensor) -> dict[str, dict[str, float]]:
    """Unit vectors (N, D) each, row i of both = clip i → metrics for speech→text and text→speech."""
    sim = speech.float() @ text.float().T
    return {"speech_to_text": retrieval_metrics(sim), "text_to_speech": retrieval_metrics(sim.T)}
