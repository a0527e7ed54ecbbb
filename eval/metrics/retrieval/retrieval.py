"""Retrieval metrics for queries with exactly one relevant item: Recall@k and mAP@k.

Inputs (one row per query):

- ``predictions``: the ranked list of retrieved item indices, best first (at least ``max(ks)`` and
  ``map_at`` long for exact figures; a shorter list means the items after it were not retrieved);
- ``references``: the index of the query's one relevant item.

With one relevant item, the rank ``r`` of that item (1-based; absent = not retrieved) gives
``R@k = mean(r <= k)`` and ``mAP@k = mean(1/r if r <= k else 0)``. How ties between scores are broken is
the ranker's business (CLSP evaluation in this toolkit puts the relevant item after every item that
scores the same, so ties never help the model).
"""

import datasets
import evaluate
import numpy as np

_KWARGS = """
Args:
    predictions: list of ranked item-index lists (best first), one per query.
    references: list of relevant item indices, one per query.
    ks: cut-offs for Recall@k (default (1, 5, 10)).
    map_at: cut-off of mean average precision (default 10).
Returns:
    {"R@1": float, "R@5": float, "R@10": float, "mAP@10": float, "n": int}
"""


def hit_ranks(predictions, references) -> np.ndarray:
    """(Q,) 1-based position of each reference in its ranked list; 0 where it is absent."""
    ranks = np.zeros(len(references), dtype=np.int64)
    for q, (ranked, ref) in enumerate(zip(predictions, references)):
        hits = np.flatnonzero(np.asarray(ranked, dtype=np.int64) == ref)
        if hits.size:
            ranks[q] = hits[0] + 1
    return ranks


def retrieval_scores(predictions, references, ks=(1, 5, 10), map_at=10) -> dict:
    ranks = hit_ranks(predictions, references)
    found = ranks > 0
    n = len(ranks)
    out = {f"R@{k}": float((found & (ranks <= k)).mean()) if n else 0.0 for k in ks}
    inverse = np.where(found & (ranks <= map_at), 1.0 / np.maximum(ranks, 1), 0.0)
    out[f"mAP@{map_at}"] = float(inverse.mean()) if n else 0.0
    out["n"] = n
    return out


@evaluate.utils.file_utils.add_start_docstrings(__doc__, _KWARGS)
class Retrieval(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({
                "predictions": datasets.Sequence(datasets.Value("int64")),
                "references": datasets.Value("int64"),
            }),
        )

    def _compute(self, predictions, references, ks=(1, 5, 10), map_at=10):
        return retrieval_scores(predictions, references, ks=tuple(ks), map_at=int(map_at))
