"""Classification metrics as emotion/speaker-trait papers report them: WA, UA, per-class recall, confusion.

- ``WA`` (weighted accuracy) = plain accuracy over all examples;
- ``UA`` (unweighted accuracy) = mean recall over the classes present in ``references``;
- ``per_class_recall``: one value per class index ``0..num_classes-1`` (``None`` for a class with no
  reference example);
- ``confusion``: ``num_classes`` × ``num_classes`` counts, rows = true class, columns = predicted class.
"""

import datasets
import evaluate
import numpy as np

_KWARGS = """
Args:
    predictions: predicted class indices.
    references: true class indices.
    num_classes: number of classes (default: 1 + the largest index seen).
Returns:
    {"WA": float, "UA": float, "per_class_recall": [float | None], "confusion": [[int]], "n": int}
"""


def classification_scores(predictions, references, num_classes=None) -> dict:
    pred = np.asarray(predictions, dtype=np.int64)
    true = np.asarray(references, dtype=np.int64)
    if num_classes is None:
        num_classes = int(max(pred.max(initial=-1), true.max(initial=-1))) + 1
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (true, pred), 1)
    support = confusion.sum(axis=1)
    recall = [float(confusion[c, c] / support[c]) if support[c] else None for c in range(num_classes)]
    present = [r for r in recall if r is not None]
    return {
        "WA": float((pred == true).mean()) if true.size else 0.0,
        "UA": float(np.mean(present)) if present else 0.0,
        "per_class_recall": recall,
        "confusion": confusion.tolist(),
        "n": int(true.size),
    }


@evaluate.utils.file_utils.add_start_docstrings(__doc__, _KWARGS)
class Classification(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({
                "predictions": datasets.Value("int64"),
                "references": datasets.Value("int64"),
            }),
        )

    def _compute(self, predictions, references, num_classes=None):
        return classification_scores(predictions, references, num_classes=num_classes)
