"""``clsp eval grounding``: how well a model's frame head finds *when* a style holds, on a manifest whose
clips carry ``style_segments`` (the synthetic corpus).

For each target of :data:`clsp.grounding.GROUNDING_TARGETS`, its canonical phrase ("speaking fast") is
scored against every frame and thresholded; against the frame labels of :func:`clsp.grounding.frame_labels`:

- **frame-level precision, recall and F1** per attribute value, pooled over the frames of all clips
  (frames whose value is unknown are left out);
- a **segment-level error per attribute** in the spirit of speech emotion diarization's EDER:
  (missed + false alarm + confusion) / total duration. Per frame the reference is the attribute's value
  among the targets ("fast", "slow") or none (a normal level, a pause); the hypothesis is the value whose
  phrase has a span there (:func:`clsp.grounding.spans_from_scores`: gaps bridged, blips dropped; the higher
  score where two overlap) or none. Missed: reference a value, hypothesis none; false alarm: the reverse;
  confusion: two different values.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from clsp.grounding import (GROUNDING_TARGETS, GroundingTarget, frame_labels, phrase_scores, spans_from_scores,
                            spans_to_frames)
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


def evaluate_grounding(model, cuts: Sequence, threshold: float = 0.5,
                       targets: Sequence[GroundingTarget] = GROUNDING_TARGETS, batch_size: int = 16,
                       progress: bool | None = None) -> dict:
    """Frame F1 per target and segment error per attribute over the cuts that have ``style_segments``."""
    rows = [c for c in cuts if (c.custom or {}).get("style_segments")]
    hop = model.frame_shift
    phrases = [t.phrase for t in targets]
    counts = np.zeros((len(targets), 3), dtype=np.int64)  # tp, fp, fn
    attributes = list(dict.fromkeys(t.attribute for t in targets))
    seg = {a: {"missed": 0, "false_alarm": 0, "confusion": 0, "total": 0} for a in attributes}
    with progress_bar(len(rows), progress, "grounding") as bar:
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            all_scores = phrase_scores(model, chunk, phrases, batch_size)
            for cut, scores in zip(chunk, all_scores):
                labels = frame_labels(cut.custom["style_segments"], targets, scores.shape[1], hop,
                                      cut.custom.get("voice_quality"))
                pred = scores > threshold
                known = labels >= 0
                counts[:, 0] += (pred & (labels == 1) & known).sum(axis=1)
                counts[:, 1] += (pred & (labels == 0) & known).sum(axis=1)
                counts[:, 2] += (~pred & (labels == 1) & known).sum(axis=1)
                active = np.stack([spans_to_frames(spans_from_scores(s, hop, threshold), len(s), hop) for s in scores])
                for attr in attributes:
                    idx = [i for i, t in enumerate(targets) if t.attribute == attr]
                    for k, v in _segment_error(labels[idx], active[idx], scores[idx]).items():
                        seg[attr][k] += v
            bar.update(len(chunk))
    per_target = {}
    for t, (tp, fp, fn) in zip(targets, counts.tolist()):
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / (tp + fn) if tp + fn else None
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
        per_target[f"{t.attribute}={t.value}"] = {"attribute": t.attribute, "value": t.value, "phrase": t.phrase,
                                                  "precision": precision, "recall": recall, "f1": f1,
                                                  "positive_seconds": round((tp + fn) * hop, 2)}
    per_attribute = {}
    for attr, c in seg.items():
        seconds = {k: round(v * hop, 2) for k, v in c.items()}
        error = (c["missed"] + c["false_alarm"] + c["confusion"]) / c["total"] if c["total"] else None
        per_attribute[attr] = {**{f"{k}_seconds": v for k, v in seconds.items()}, "error": error,
                               "values": [t.value for t in targets if t.attribute == attr]}
    return {"targets": per_target, "attributes": per_attribute, "n": len(rows), "skipped": len(cuts) - len(rows),
            "threshold": threshold, "frame_shift": hop}


def grounding_markdown(result: dict, title: str) -> str:
    frames = markdown_table(["attribute", "value", "phrase", "precision", "recall", "frame F1", "positive s"],
                            [[r["attribute"], r["value"], r["phrase"], r["precision"], r["recall"], r["f1"],
                              r["positive_seconds"]] for r in result["targets"].values()])
    segments = markdown_table(["attribute", "values", "missed s", "false alarm s", "confusion s", "total s",
                               "segment error"],
                              [[a, " / ".join(r["values"]), r["missed_seconds"], r["false_alarm_seconds"],
                                r["confusion_seconds"], r["total_seconds"], r["error"]]
                               for a, r in result["attributes"].items()])
    note = (f"\n{result['n']} clips with style segments ({result['skipped']} without, left out); frames every "
            f"{result['frame_shift']:.3f} s, threshold {result['threshold']}. Segment error = (missed + false "
            "alarm + confusion) / total duration, per attribute.\n")
    return f"# {title}\n\n## Frame level\n\n{frames}\n## Segment level\n\n{segments}{note}"


def plot_grounding(result: dict, path: str | Path, truth: dict[str, Sequence[tuple[float, float]]] | None = None,
                   title: str | None = None) -> Path:
    """One clip's entry of :func:`clsp.grounding.ground`'s ``results`` (plus its ``frame_shift`` and
    ``threshold``): each phrase's score over time and its spans; ``truth`` (phrase → true (start, end)
    seconds, :func:`clsp.grounding.target_spans`) shaded under its curve."""
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
        ax.axhline(result["threshold"], color="grey", ls=":", lw=1)
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
