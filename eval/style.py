"""Style probes on a labelled manifest (the synthetic corpus's test split): what a model learned.

Zero-shot gender, speaking rate (slow vs fast), pitch (low vs high) and loudness (soft vs loud) with the
``synth_*`` presets, and speech↔text retrieval on global and fine captions — the figures the demo reports
and the learning test asserts. Clips whose label is another level (``normal``, ``varying``) are left out
of a probe (counted in its ``skipped``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from eval.embed import embed_audio
from eval.presets import SYNTH_PROMPTS
from eval.report import retrieval_markdown, write_run, zeroshot_markdown
from eval.tasks import caption_retrieval, zero_shot
from eval.zeroshot import plot_confusion


def evaluate_style(model, cuts: Sequence, out_dir: str | Path | None = None, progress: bool | None = None) -> dict:
    """Every ``synth_*`` zero-shot probe and global/fine retrieval; with ``out_dir``, each run's
    ``<name>.json`` / ``<name>.md`` (and a confusion-matrix PNG per probe) are written there."""
    speech = embed_audio(model, list(cuts), progress=progress)  # (N, D), once for every probe
    figures: dict = {}
    for name, task in SYNTH_PROMPTS.items():
        result = zero_shot(model, cuts, task.field, task.labels, list(task.prompts.values()), speech=speech)
        figures[name] = result
        if out_dir is not None:
            write_run(out_dir, name, result, zeroshot_markdown(result, f"Zero-shot {task.field}"))
            plot_confusion(result["confusion"], task.labels, Path(out_dir) / f"{name}.png", title=task.field)
    for kind in ("global", "fine"):
        result = caption_retrieval(model, cuts, kind, speech=speech)
        figures[f"retrieval_{kind}"] = result
        if out_dir is not None:
            write_run(out_dir, f"retrieval_{kind}", result, retrieval_markdown(result, f"Retrieval, {kind} captions"))
    return figures
