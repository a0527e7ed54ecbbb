"""Scoring clips against style descriptions or reference clips, and zero-shot labelling of clips.

Everything goes through the model API (``encode_audio`` / ``encode_text``) in batches; long lists show
a progress bar. Similarities are cosines of the unit embeddings, in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from eval.embed import embed_audio, item_name
from eval.presets import template_prompts
from eval.zeroshot import label_scores


def score(model, audio: Sequence[Any], texts: Sequence[str] = (), ref_audio: Sequence[Any] = (),
          batch_size: int = 16, progress: bool | None = None) -> dict:
    """Similarities of every clip in ``audio`` with every text (speech↔text) and every reference clip
    (speech↔speech). Clips are paths, ``(samples, rate)`` pairs or lhotse cuts.

    Returns ``{"texts": [...], "ref_audio": [...], "results": [{"audio": name, "speech_text": [T floats],
    "speech_speech": [R floats]}, ...]}`` (one result per clip, in order; a key only when it was asked).
    """
    speech = embed_audio(model, audio, batch_size=batch_size, progress=progress, desc="audio")
    out: dict[str, Any] = {"texts": list(texts), "ref_audio": [item_name(a) for a in ref_audio]}
    columns: dict[str, torch.Tensor] = {}
    if texts:
        columns["speech_text"] = speech @ model.encode_text(list(texts)).T
    if ref_audio:
        refs = embed_audio(model, ref_audio, batch_size=batch_size, progress=progress, desc="reference audio")
        columns["speech_speech"] = speech @ refs.T
    out["results"] = [{"audio": item_name(a), **{name: m[i].tolist() for name, m in columns.items()}}
                      for i, a in enumerate(audio)]
    return out


def classify(model, audio: Sequence[Any], labels: Sequence[str], template: str = "A {} speaker.",
             prompts: dict[str, Sequence[str]] | None = None, batch_size: int = 16,
             progress: bool | None = None) -> dict:
    """Give each clip the label whose prompt it is most similar to.

    ``prompts`` (label → prompts) overrides ``template``. Per clip: the label, the cosine score of each
    label (its best prompt) and ``probs`` = softmax over labels of the scores × the model's learned
    logit scale (the temperature it was trained with).
    """
    labels = list(labels)
    prompts = {lab: list(prompts[lab]) for lab in labels} if prompts else template_prompts(labels, template)
    speech = embed_audio(model, audio, batch_size=batch_size, progress=progress, desc="audio")
    per_label = label_scores(model, speech, [prompts[lab] for lab in labels])
    probs = (per_label * model.logit_scale.detach().exp().cpu()).softmax(dim=1)
    pred = per_label.argmax(dim=1)
    results = [{"audio": item_name(a), "label": labels[int(k)],
                "scores": dict(zip(labels, s.tolist())), "probs": dict(zip(labels, p.tolist()))}
               for a, k, s, p in zip(audio, pred, per_label, probs)]
    return {"labels": labels, "prompts": prompts, "results": results}
