"""Exact top-k inner-product search in chunks (torch): memory O(queries × chunk) whatever the item count."""

from __future__ import annotations

import torch

# Score-matrix budget per step of the chunked search: queries × items ≤ this many float32 values (64 MiB).
SCORE_BUDGET = 1 << 24


def topk_inner_product(embeddings: torch.Tensor, queries: torch.Tensor, k: int,
                       chunk_rows: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-``k`` by inner product: (N, D) items × (Q, D) queries → scores (Q, k), row indices (Q, k).

    Items are scanned in chunks of ``chunk_rows`` rows (default: as many as keep a (Q, chunk) score block
    within 64 MiB), each chunk's top-k merged into the running best, so memory stays O(Q × chunk) at
    any N. The work runs on the queries' device: CUDA queries over CPU (memory-mapped) items stream the
    chunks to the GPU. Results come back on the queries' device.
    """
    n = embeddings.shape[0]
    k = min(k, n)
    queries = queries.float()
    step = chunk_rows or max(4096, SCORE_BUDGET // max(1, queries.shape[0]))
    best_scores = torch.empty(queries.shape[0], 0, device=queries.device)
    best_rows = torch.empty(queries.shape[0], 0, dtype=torch.long, device=queries.device)
    for start in range(0, n, step):
        scores = queries @ embeddings[start:start + step].to(queries.device, torch.float32).T
        top = scores.topk(min(k, scores.shape[1]), dim=1)
        merged_scores = torch.cat([best_scores, top.values], dim=1)
        merged_rows = torch.cat([best_rows, top.indices + start], dim=1)
        keep = merged_scores.topk(min(k, merged_scores.shape[1]), dim=1)
        best_scores, best_rows = keep.values, merged_rows.gather(1, keep.indices)
    return best_scores, best_rows
