"""Time-aligned style grounding: which stretches of a clip a style phrase ("speaking fast") describes.

- :data:`GROUNDING_TARGETS`: the attribute values the frame head is trained on, each with the phrases that
  name it (the first is the canonical one, used by ``clsp eval grounding``);
- :func:`frame_labels`: per-frame 0/1 labels of phrases from a clip's ``style_segments`` (pure);
- :func:`spans_from_scores`: a per-frame score curve → time spans (seconds);
- :func:`phrase_threshold`: the score above which a phrase's frame counts (the model's calibrated threshold
  of the target that owns the phrase, else :data:`DEFAULT_THRESHOLD`);
- :func:`ground`: a model's per-frame scores and spans for clips and phrases (``clsp ground``).

Frame ``t`` of an encoder with output frame shift ``h`` seconds is taken to cover ``[t h, (t + 1) h)`` and is
labelled by the segment holding its centre (Zipformer's convolutional front end moves centres by about half
a frame, 40 ms at the demo's 80 ms frames: small against the segments).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from clsp.errors import ClspError

UNKNOWN = -1.0  # label of a frame whose value is not known (e.g. pitch while whispering): left out of losses
DEFAULT_THRESHOLD = 0.5  # score above which a frame counts, where the model holds no calibrated threshold


@dataclass(frozen=True)
class GroundingTarget:
    """An attribute value (``attribute`` is a ``style_segments`` key, or ``voice_quality`` of the clip)."""

    attribute: str
    value: str
    phrases: tuple[str, ...]

    @property
    def phrase(self) -> str:
        return self.phrases[0]

    @property
    def key(self) -> str:
        """``attribute=value``: how reports and the frame head's calibrated thresholds name the target."""
        return f"{self.attribute}={self.value}"


GROUNDING_TARGETS: tuple[GroundingTarget, ...] = (
    GroundingTarget("speaking_rate", "fast", ("speaking fast", "talking quickly", "a rapid pace", "fast speech")),
    GroundingTarget("speaking_rate", "slow", ("speaking slowly", "talking slowly", "an unhurried pace",
                                              "slow speech")),
    GroundingTarget("loudness", "loud", ("a loud voice", "speaking loudly", "a high volume", "loud speech")),
    GroundingTarget("loudness", "soft", ("a soft voice", "speaking quietly", "a low volume", "quiet speech")),
    GroundingTarget("pitch", "high", ("a high-pitched voice", "a high pitch", "a high voice")),
    GroundingTarget("pitch", "low", ("a low-pitched voice", "a low pitch", "a deep voice")),
    GroundingTarget("voice_quality", "whisper", ("whispering", "a whispered voice", "in a whisper")),
    GroundingTarget("voice_quality", "creaky", ("a creaky voice", "vocal fry", "a gravelly voice")),
)


def training_phrases(targets: Sequence[GroundingTarget] = GROUNDING_TARGETS) -> tuple[list[str], list[int]]:
    """Every phrase of every target, and the index of its target (the frame loss scores them all)."""
    phrases, owner = [], []
    for i, target in enumerate(targets):
        phrases += target.phrases
        owner += [i] * len(target.phrases)
    return phrases, owner


def frame_labels(segments: Sequence[Mapping[str, Any]] | None, targets: Sequence[GroundingTarget], num_frames: int,
                 frame_shift: float, voice_quality: str | None = None) -> np.ndarray:
    """(P, T) float32 labels of ``targets`` for ``num_frames`` frames ``frame_shift`` seconds apart.

    A frame whose centre lies in a segment (``start <= t < end``, seconds) is 1 where the segment's value of
    the target's attribute is the target's value, 0 where it is another value, and :data:`UNKNOWN` where the
    segment has no value for it; ``voice_quality`` (the clip's) stands for every segment's. A frame outside
    every segment (pauses, leading and trailing silence) is 0: nobody is speaking fast there. No segments
    at all (``None``): every label unknown.
    """
    labels = np.zeros((len(targets), num_frames), dtype=np.float32)
    if segments is None:
        labels[:] = UNKNOWN
        return labels
    centres = (np.arange(num_frames) + 0.5) * frame_shift
    for seg in segments:
        inside = (centres >= float(seg["start"])) & (centres < float(seg["end"]))
        for p, target in enumerate(targets):
            value = voice_quality if target.attribute == "voice_quality" else seg.get(target.attribute)
            labels[p, inside] = UNKNOWN if value is None else float(value == target.value)
    return labels


def target_spans(segments: Sequence[Mapping[str, Any]], target: GroundingTarget,
                 voice_quality: str | None = None) -> list[tuple[float, float]]:
    """(start, end) seconds of the segments where ``target`` holds (the truth :func:`frame_labels` encodes)."""
    out = []
    for seg in segments:
        value = voice_quality if target.attribute == "voice_quality" else seg.get(target.attribute)
        if value == target.value:
            out.append((float(seg["start"]), float(seg["end"])))
    return out


def phrase_threshold(model, phrase: str, targets: Sequence[GroundingTarget] = GROUNDING_TARGETS) -> float:
    """The score above which a frame counts for ``phrase``: the frame head's calibrated threshold
    (``frame_head.thresholds``) of the target whose phrases include it, else :data:`DEFAULT_THRESHOLD`."""
    head = model.config.frame_head
    calibrated = head.thresholds if head is not None else {}
    owner = next((t for t in targets if phrase.strip().lower() in t.phrases), None)
    return float(calibrated.get(owner.key, DEFAULT_THRESHOLD)) if owner is not None else DEFAULT_THRESHOLD


def spans_from_scores(scores: np.ndarray, frame_shift: float, threshold: float = 0.5, min_gap: float = 0.3,
                      min_duration: float = 0.2) -> list[tuple[float, float]]:
    """(T,) per-frame scores → ``[(start, end), ...]`` seconds where the score is above ``threshold``;
    gaps shorter than ``min_gap`` seconds are bridged, then spans shorter than ``min_duration`` dropped."""
    above = np.asarray(scores) > threshold
    spans: list[list[float]] = []
    t = 0
    while t < len(above):
        if above[t]:
            start = t
            while t < len(above) and above[t]:
                t += 1
            spans.append([start * frame_shift, t * frame_shift])
        t += 1
    merged: list[list[float]] = []
    for span in spans:
        if merged and span[0] - merged[-1][1] < min_gap:
            merged[-1][1] = span[1]
        else:
            merged.append(span)
    return [(round(a, 3), round(b, 3)) for a, b in merged if b - a >= min_duration]


def spans_to_frames(spans: Sequence[tuple[float, float]], num_frames: int, frame_shift: float) -> np.ndarray:
    """(T,) bool: the frames whose centre lies in one of ``spans`` (the inverse of :func:`spans_from_scores`)."""
    centres = (np.arange(num_frames) + 0.5) * frame_shift
    out = np.zeros(num_frames, dtype=bool)
    for start, end in spans:
        out |= (centres >= start) & (centres < end)
    return out


def phrase_scores(model, items: Sequence[Any], phrases: Sequence[str], batch_size: int = 16) -> list[np.ndarray]:
    """(P, T_i) float32 scores sigmoid(<phrase, frame> / tau + b) per item (paths, (array, rate) pairs or lhotse cuts)."""
    if model.frame_head is None:
        raise ClspError("this model has no frame head: train it with a grounding loss (grounding.weight > 0)")
    text = model.encode_text(list(phrases))
    frames = model.encode_frames(list(items), batch_size=batch_size)
    with torch.no_grad():
        return [model.frame_head.scores(f.to(model.device), text.to(model.device)).float().cpu().numpy()
                for f in frames]


def check_request(phrases: Sequence[str], threshold: float | None) -> list[str]:
    """The phrases, stripped; :class:`ClspError` for none, an empty one or a threshold outside (0, 1)
    (None: each phrase's own, :func:`phrase_threshold`)."""
    phrases = [p.strip() for p in phrases]
    if not phrases or not all(phrases):
        raise ClspError('give one or more non-empty style phrases to ground (--text "speaking fast" ...)')
    if threshold is not None and not 0 < threshold < 1:
        raise ClspError(f"the threshold must be in (0, 1) (--threshold), got {threshold}")
    return phrases


def ground(model, items: Sequence[Any], phrases: Sequence[str], threshold: float | None = None, min_gap: float = 0.3,
           min_duration: float = 0.2, batch_size: int = 16, names: Sequence[str] | None = None) -> dict:
    """Per clip and phrase: time spans (seconds) where the phrase holds, and the per-frame score curve.

    ``threshold``: one score for every phrase; None: each phrase's :func:`phrase_threshold` (the model's
    calibrated one for a target's phrase, else 0.5). Returns ``{"texts", "frame_shift", "thresholds": {text:
    score}, "results": [{"audio", "duration", "phrases": [{"text", "threshold", "spans": [[start, end], ...],
    "scores": [T floats]}]}]}``; frame ``t`` is centred at ``(t + 0.5) * frame_shift`` seconds.
    """
    phrases = check_request(phrases, threshold)
    thresholds = {text: threshold if threshold is not None else phrase_threshold(model, text) for text in phrases}
    hop = model.frame_shift
    all_scores = phrase_scores(model, items, phrases, batch_size)
    results = []
    for i, scores in enumerate(all_scores):
        results.append({
            "audio": str(names[i]) if names is not None else str(items[i]),
            "duration": round(scores.shape[1] * hop, 3),
            "phrases": [{"text": text, "threshold": thresholds[text],
                         "spans": [list(s) for s in spans_from_scores(row, hop, thresholds[text], min_gap,
                                                                      min_duration)],
                         "scores": [round(float(v), 4) for v in row]}
                        for text, row in zip(phrases, scores)],
        })
    return {"texts": phrases, "frame_shift": hop, "thresholds": thresholds, "results": results}
