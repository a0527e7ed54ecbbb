"""Agreement of model scores with human ratings: Pearson's r and Spearman's rho.

Spearman's rho is Pearson's r between the ranks, tied values taking the mean of their ranks. Either
coefficient is ``None`` when one side is constant (undefined) or there are fewer than two pairs.
"""

import datasets
import evaluate
import numpy as np

_KWARGS = """
Args:
    predictions: model scores (e.g. cosine similarities), one per pair.
    references: human ratings, one per pair (any numeric scale).
Returns:
    {"pearson": float | None, "spearman": float | None, "n": int}
"""


def pearson(x: np.ndarray, y: np.ndarray):
    if x.size < 2:
        return None
    dx, dy = x - x.mean(), y - y.mean()
    denom = np.sqrt((dx * dx).sum() * (dy * dy).sum())
    return float(np.clip((dx * dy).sum() / denom, -1.0, 1.0)) if denom > 0 else None


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x``; equal values share the mean of the ranks they span."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], x.size]  # exclusive
    mean_rank = (starts + ends + 1) / 2.0  # mean of the 1-based ranks starts+1 .. ends
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def correlation_scores(predictions, references) -> dict:
    x = np.asarray(predictions, dtype=np.float64)
    y = np.asarray(references, dtype=np.float64)
    return {
        "pearson": pearson(x, y),
        "spearman": pearson(average_ranks(x), average_ranks(y)) if x.size else None,
        "n": int(x.size),
    }


@evaluate.utils.file_utils.add_start_docstrings(__doc__, _KWARGS)
class Correlation(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({
                "predictions": datasets.Value("float64"),
                "references": datasets.Value("float64"),
            }),
        )

    def _compute(self, predictions, references):
        return correlation_scores(predictions, references)
