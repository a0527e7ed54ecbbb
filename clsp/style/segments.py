"""Where a clip's style changes: consecutive speech chunks merged into style segments while their measured
style stays alike (:func:`segment`), and the clip's :class:`StyleSummary` from those segments (:func:`summarise`).
Split out of :mod:`clsp.style.measure`, which calls both from :func:`clsp.style.measure.measure_style`."""

from __future__ import annotations

import math

import numpy as np

from clsp.style.labels import StyleSpan, StyleSummary
from clsp.style.measure import Decision, Judge, MeasureConfig, Window, WindowMeasure


def _distance(a: WindowMeasure, b: WindowMeasure, cfg: MeasureConfig, use_pitch: bool) -> float:
    """Largest difference between two stretches in units of the change thresholds (< 1: alike)."""
    d = abs(a.rms_dbfs - b.rms_dbfs) / cfg.change_loudness_db
    if a.syllables_per_s and b.syllables_per_s:
        d = max(d, abs(math.log(a.syllables_per_s / b.syllables_per_s)) / math.log(cfg.change_rate_ratio))
    if use_pitch and a.pitch_st is not None and b.pitch_st is not None:
        d = max(d, abs(a.pitch_st - b.pitch_st) / cfg.change_pitch_st)
    return d


def segment(win: Window, chunks: tuple[WindowMeasure, ...], cfg: MeasureConfig,
             use_pitch: bool) -> tuple[WindowMeasure, ...]:
    """Merge adjacent chunks, closest first, while they are alike or too short; returns the spans."""
    spans = list(chunks)
    while len(spans) > 1:
        dists = [_distance(a, b, cfg, use_pitch) for a, b in zip(spans, spans[1:])]
        short = [i for i, s in enumerate(spans) if s.end - s.start < cfg.min_span_s]
        if short:  # a short span joins its closer neighbour
            i = short[0]
            j = i - 1 if i == len(spans) - 1 or (i > 0 and dists[i - 1] <= dists[i]) else i
        else:
            j = int(np.argmin(dists))
            if dists[j] >= 1 and len(spans) <= cfg.max_spans:
                break
        spans[j: j + 2] = [win(spans[j].start, spans[j + 1].end)]
    return tuple(spans)


def summarise(win: Window, spans: tuple[WindowMeasure, ...], judge: Judge, pitch_range: Decision) -> StyleSummary:
    """Confident labels per span (None where uncertain); per attribute, neighbouring spans closer than its
    change threshold share one label (measured over their union), and neighbours that end up alike become
    one span."""
    cfg = judge.config
    getters: dict[str, tuple[Callable[[WindowMeasure], float | None], float]] = {
        "pitch": (lambda w: w.pitch_st, cfg.change_pitch_st),
        "speaking_rate": (lambda w: math.log(w.syllables_per_s) if w.syllables_per_s else None,
                          math.log(cfg.change_rate_ratio)),
        "loudness": (lambda w: w.rms_dbfs, cfg.change_loudness_db),
    }
    labels: dict[str, list[str | None]] = {}
    for attr, (get, threshold) in getters.items():
        groups: list[list[int]] = []
        for i, span in enumerate(spans):
            v = get(span)
            prev = get(win(spans[groups[-1][0]].start, spans[groups[-1][-1]].end)) if groups else None
            if groups and (v is None or prev is None or abs(v - prev) < threshold):
                groups[-1].append(i)
            else:
                groups.append([i])
        labels[attr] = [None] * len(spans)
        for g in groups:
            v = get(win(spans[g[0]].start, spans[g[-1]].end))
            value = math.exp(v) if attr == "speaking_rate" and v is not None else v
            for i in g:
                labels[attr][i] = judge.decide(attr, value).label
    merged: list[StyleSpan] = []
    for i, s in enumerate(spans):
        span = StyleSpan(start=round(s.start, 2), end=round(s.end, 2), pitch=labels["pitch"][i],
                         pitch_range=pitch_range.label, speaking_rate=labels["speaking_rate"][i],
                         loudness=labels["loudness"][i])
        if merged and all(getattr(merged[-1], k) == getattr(span, k) for k in getters):
            merged[-1] = StyleSpan(**{**merged[-1].__dict__, "end": span.end})
        else:
            merged.append(span)
    return StyleSummary(gender=judge.gender.label, voice_quality=judge.quality.label, spans=tuple(merged))
