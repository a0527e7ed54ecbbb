"""``clsp eval grounding``: how well a model's frame head finds *when* a style holds, on a manifest whose
clips carry ``style_segments`` (the synthetic corpus).

For each target of :data:`clsp.grounding.GROUNDING_TARGETS`, its canonical phrase ("speaking fast") is
scored against every frame and thresholded (at the model's calibrated threshold of the target, else 0.5, or
one given threshold); against the frame labels of :func:`clsp.grounding.frame_labels`:

- **frame-level precision, recall and F1** per attribute value, pooled over the frames of all clips
  (frames whose value is unknown are left out);
- a **segment-level error per attribute** in the spirit of speech emotion diarization's EDER:
  (missed + false alarm + confusion) / total duration. Per frame the reference is the attribute's value
  among the targets ("fast", "slow") or none (a normal level, a pause); the hypothesis is the value whose
  phrase has a span there (:func:`clsp.grounding.spans_from_scores`: gaps bridged, blips dropped; the higher
  score where two overlap) or none. Missed: reference a value, hypothesis none; false alarm: the reverse;
  confusion: two different values.

:func:`calibrate_thresholds` picks each target's threshold on labelled clips (a dev split, never the clips
reported on): the score that maximises its frame F1 there; ``clsp eval grounding --calibrate`` stores them in
the model folder (``frame_head.thresholds``), where ``clsp ground`` and later evaluations find them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from clsp.grounding import (GROUNDING_TARGETS, GroundingTarget, frame_labels, phrase_scores, phrase_threshold,
                            spans_from_scores, spans_to_frames)
from eval.embed import progress_bar
from eval.report import markdown_table


def _segment_error(labels: np.ndarray, active: np.ndarray, scores: np.ndarray) -> dict[str, int]:
    """Frame counts of one attribute in one clip. labels/active/scores: (V, T) for its V values."""
    known = (labels >= 0).all(axis=0)
    ref = np.where((labels == 1).any(axis=0), (labels == 1).argmax(axis=0), -1)
    hyp = np.where(active.any(axis=0), np.where(active, scores, -np.inf).argmax(axis=0), -1)
    ref, hyp = ref[known], hyp[known]
    return {"missed": int(((ref >= 0) & (hyp < 0)).sum()), "false_alarm": int(((ref < 0) & (hyp >= 0)).sum()),
            "confusion": int(((ref >= 0) & (hyp >= 0) & (ref != hyp)).sum()), "total": int(known.sum())}


CALIBRATION_GRID = np.round(np.arange(0.02, 0.99, 0.02), 2)  # candidate thresholds of calibrate_thresholds
# seconds of positive frames a target needs on the calibration clips to get a threshold: on fewer the best-F1
# score is noise
MIN_CALIBRATION_SECONDS = 5.0


def _labelled_scores(model, rows: Sequence, targets: Sequence[GroundingTarget], batch_size: int,
                     progress: bool | None):
    """Yields (cut, scores (P, T), labels (P, T)) of each cut with ``style_segments``, in order."""
    hop = model.frame_shift
    with progress_bar(len(rows), progress, "grounding") as bar:
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            for cut, scores in zip(chunk, phrase_scores(model, chunk, [t.phrase for t in targets], batch_size)):
                yield cut, scores, frame_labels(cut.custom["style_segments"], targets, scores.shape[1], hop,
                                                cut.custom.get("voice_quality"))
            bar.update(len(chunk))


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray, grid: np.ndarray = CALIBRATION_GRID) -> float | None:
    """The threshold of ``grid`` with the highest frame F1 of ``scores > threshold`` against ``labels``
    (1-D, {0, 1}; ties: the lowest); None without a positive frame, or when no threshold of the grid finds one
    (F1 0 everywhere: the lowest would win the tie, a threshold picked by nothing)."""
    positive = labels == 1
    if not positive.any():
        return None
    pred = scores[None, :] > grid[:, None]  # (G, N)
    tp = (pred & positive).sum(axis=1)
    f1 = 2 * tp / (pred.sum(axis=1) + positive.sum())
    if not f1.max() > 0:
        return None
    return float(grid[int(np.argmax(f1))])


def calibrate_thresholds(model, cuts: Sequence, targets: Sequence[GroundingTarget] = GROUNDING_TARGETS,
                         batch_size: int = 16, progress: bool | None = None,
                         min_positive_s: float = MIN_CALIBRATION_SECONDS) -> dict[str, float]:
    """``{target key: threshold}``: per target, the score with the best frame F1 on ``cuts``' labelled frames
    (:func:`best_f1_threshold`); targets with under ``min_positive_s`` seconds of positive frames there are left
    out (they keep 0.5)."""
    rows = [c for c in cuts if (c.custom or {}).get("style_segments")]
    scores, labels = [], []
    for _, s, lab in _labelled_scores(model, rows, targets, batch_size, progress):
        scores.append(s)
        labels.append(lab)
    if not rows:
        return {}
    scores, labels = np.concatenate(scores, axis=1), np.concatenate(labels, axis=1)
    out = {}
    for p, target in enumerate(targets):
        known = labels[p] >= 0
        if (labels[p] == 1).sum() * model.frame_shift < min_positive_s:
            continue
        best = best_f1_threshold(scores[p][known], labels[p][known])
        if best is not None:
            out[target.key] = best
    return out


def evaluate_grounding(model, cuts: Sequence, threshold: float | None = None,
                       targets: Sequence[GroundingTarget] = GROUNDING_TARGETS, batch_size: int = 16,
                       progress: bool | None = None) -> dict:
    """Frame F1 per target and segment error per attribute over the cuts that have ``style_segments``;
    ``threshold`` None: each target's calibrated one (:func:`clsp.grounding.phrase_threshold`)."""
    rows = [c for c in cuts if (c.custom or {}).get("style_segments")]
    hop = model.frame_shift
    thresholds = np.array([threshold if threshold is not None else phrase_threshold(model, t.phrase, targets)
                           for t in targets])
    counts = np.zeros((len(targets), 3), dtype=np.int64)  # tp, fp, fn
    attributes = list(dict.fromkeys(t.attribute for t in targets))
    seg = {a: {"missed": 0, "false_alarm": 0, "confusion": 0, "total": 0} for a in attributes}
    for _, scores, labels in _labelled_scores(model, rows, targets, batch_size, progress):
        pred = scores > thresholds[:, None]
        known = labels >= 0
        counts[:, 0] += (pred & (labels == 1) & known).sum(axis=1)
        counts[:, 1] += (pred & (labels == 0) & known).sum(axis=1)
        counts[:, 2] += (~pred & (labels == 1) & known).sum(axis=1)
        active = np.stack([spans_to_frames(spans_from_scores(s, hop, th), len(s), hop)
                           for s, th in zip(scores, thresholds)])
        for attr in attributes:
            idx = [i for i, t in enumerate(targets) if t.attribute == attr]
            for k, v in _segment_error(labels[idx], active[idx], scores[idx]).items():
                seg[attr][k] += v
    per_target = {}
    for t, (tp, fp, fn), th in zip(targets, counts.tolist(), thresholds):
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / (tp + fn) if tp + fn else None
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
        per_target[t.key] = {"attribute": t.attribute, "value": t.value, "phrase": t.phrase,
                             "threshold": float(th), "precision": precision, "recall": recall, "f1": f1,
                             "positive_seconds": round((tp + fn) * hop, 2)}
    per_attribute = {}
    for attr, c in seg.items():
        seconds = {k: round(v * hop, 2) for k, v in c.items()}
        error = (c["missed"] + c["false_alarm"] + c["confusion"]) / c["total"] if c["total"] else None
        per_attribute[attr] = {**{f"{k}_seconds": v for k, v in seconds.items()}, "error": error,
                               "values": [t.value for t in targets if t.attribute == attr]}
    return {"targets": per_target, "attributes": per_attribute, "n": len(rows), "skipped": len(cuts) - len(rows),
            "threshold": threshold, "frame_shift": hop}  # threshold None: per target (its "threshold")


def grounding_markdown(result: dict, title: str) -> str:
    frames = markdown_table(["attribute", "value", "phrase", "threshold", "precision", "recall", "frame F1",
                             "positive s"],
                            [[r["attribute"], r["value"], r["phrase"], r["threshold"], r["precision"], r["recall"],
                              r["f1"], r["positive_seconds"]] for r in result["targets"].values()])
    segments = markdown_table(["attribute", "values", "missed s", "false alarm s", "confusion s", "total s",
                               "segment error"],
                              [[a, " / ".join(r["values"]), r["missed_seconds"], r["false_alarm_seconds"],
                                r["confusion_seconds"], r["total_seconds"], r["error"]]
                               for a, r in result["attributes"].items()])
    note = (f"\n{result['n']} clips with style segments ({result['skipped']} without, left out); frames every "
            f"{result['frame_shift']:.3f} s, " + ("each target's calibrated threshold (else 0.5)"
                                                   if result["threshold"] is None else f"threshold {result['threshold']}")
            + ". Segment error = (missed + false "
            "alarm + confusion) / total duration, per attribute.\n")
    return f"# {title}\n\n## Frame level\n\n{frames}\n## Segment level\n\n{segments}{note}"


def plot_grounding(result: dict, path: str | Path, truth: dict[str, Sequence[tuple[float, float]]] | None = None,
                   title: str | None = None) -> Path:
    """One clip's entry of :func:`clsp.grounding.ground`'s ``results`` (plus its ``frame_shift``): each
    phrase's score over time, its threshold and its spans; ``truth`` (phrase → true (start, end) seconds,
    :func:`clsp.grounding.target_spans`) shaded under its curve."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    phrases = result["phrases"]
    hop = result["frame_shift"]
    fig = Figure(figsize=(9, 1.1 + 1.3 * len(phrases)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(phrases), 1, sharex=True, squeeze=False)[:, 0]
    for ax, phrase in zip(axes, phrases):
        scores = np.asarray(phrase["scores"])
        times = (np.arange(len(scores)) + 0.5) * hop
        for start, end in (truth or {}).get(phrase["text"], ()):
            ax.axvspan(start, end, color="tab:green", alpha=0.2, lw=0)
        for start, end in phrase["spans"]:
            ax.hlines(1.04, start, end, color="tab:red", lw=3)
        ax.plot(times, scores, color="tab:blue")
        ax.axhline(phrase["threshold"], color="grey", ls=":", lw=1)
        ax.set_ylim(-0.02, 1.1)
        ax.set_ylabel("score", fontsize=8)
        ax.set_title(f'"{phrase["text"]}"', fontsize=9, loc="left")
    axes[-1].set_xlabel("time (s)")
    legend = "blue: score per frame; red: predicted span; dotted: threshold"
    if truth:
        legend += "; green: true segment"
    fig.suptitle((title + "\n" if title else "") + legend, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)
