"""Local ``evaluate`` modules: each directory here loads offline with ``evaluate.load(path)``.

- ``retrieval``: R@k and mAP@k from ranked lists with one relevant item per query;
- ``classification``: WA, UA, per-class recall and the confusion matrix;
- ``correlation``: Pearson and Spearman between model scores and human ratings.

The directories ship inside the installed package (pyproject's ``[tool.setuptools.packages.find]``
includes ``eval*`` and finds them as namespace packages; checked in a built wheel), so
``evaluate.load(metric_path("retrieval"))`` works without the hub.
"""

from __future__ import annotations

from pathlib import Path

METRICS_DIR = Path(__file__).resolve().parent
METRIC_NAMES: tuple[str, ...] = ("retrieval", "classification", "correlation")


def metric_path(name: str) -> Path:
    """The directory of the local metric ``name`` (a valid ``evaluate.load`` argument)."""
    if name not in METRIC_NAMES:
        raise ValueError(f"unknown metric '{name}' (expected one of {', '.join(METRIC_NAMES)})")
    return METRICS_DIR / name


def load_metric(name: str):
    """``evaluate.load`` of a local metric (a local directory: the hub is never asked)."""
    import evaluate

    return evaluate.load(str(metric_path(name)))
