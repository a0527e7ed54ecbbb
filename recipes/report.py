"""The demo's ``report.md``: tables of every stage's figures and PNG plots.

Plots (matplotlib, Agg): training curves read back from each stage's TensorBoard scalars, the zero-shot
confusion matrices written by :func:`eval.style.evaluate_style`, and a speech × caption similarity map
of the test split (clips and their global captions in the same order, grouped by gender and rate).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from eval.report import markdown_table
from eval.tasks import pick_caption


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """``tag -> [(step, value), ...]`` from the TensorBoard event files under ``run_dir/tensorboard``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def plot_training(runs: dict[str, Path], path: Path) -> Path:
    """Loss and logit scale per step for each stage; P(Task 1) of stage 2 on a second axis."""
    fig = _figure(10, 3.6)
    ax_loss, ax_scale = fig.subplots(1, 2)
    for name, run_dir in runs.items():
        scalars = read_scalars(run_dir)
        for ax, tag in ((ax_loss, "train/loss"), (ax_scale, "train/logit_scale")):
            if tag in scalars:
                steps, values = zip(*scalars[tag])
                ax.plot(steps, values, marker=".", label=name)
        if "train/p_task1" in scalars:
            twin = ax_loss.twinx()
            steps, values = zip(*scalars["train/p_task1"])
            twin.plot(steps, values, color="grey", linestyle=":", label=f"{name}: P(Task 1)")
            twin.set_ylim(0, 1)
            twin.set_ylabel("P(Task 1), stage 2")
    ax_loss.set(xlabel="step (each stage from 0)", ylabel="contrastive loss", title="training loss")
    ax_scale.set(xlabel="step (each stage from 0)", ylabel="exp(logit_scale)", title="temperature⁻¹")
    for ax in (ax_loss, ax_scale):
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def plot_similarity_map(model, cuts: Sequence, path: Path, per_group: int = 6) -> Path:
    """(N, N) cosine similarities of N test clips × their own global captions (diagonal = matching pairs),
    ``per_group`` clips from each (gender, rate) group so the blocks are visible."""
    groups: dict[tuple[str, str], list] = {}
    for cut in cuts:
        key = ((cut.custom or {}).get("gender", "?"), (cut.custom or {}).get("speaking_rate", "?"))
        if key[1] in ("slow", "fast") and pick_caption(cut, "global") and len(groups.setdefault(key, [])) < per_group:
            groups[key].append(cut)
    chosen = [c for key in sorted(groups) for c in groups[key]]
    labels = [f"{key[0][0]}/{key[1]}" for key in sorted(groups) for _ in groups[key]]
    speech = model.encode_audio(chosen)
    text = model.encode_text([pick_caption(c, "global") for c in chosen])
    sim = (speech @ text.T).numpy()
    fig = _figure(7.5, 6.5)
    ax = fig.add_subplot()
    image = ax.imshow(sim, cmap="viridis")
    ax.set_xticks(range(len(labels)), labels=labels, rotation=90, fontsize=6)
    ax.set_yticks(range(len(labels)), labels=labels, fontsize=6)
    ax.set(xlabel="global caption of clip (gender/rate)", ylabel="speech clip (gender/rate)",
           title="speech × caption cosine similarity, unseen voices")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _zero_shot_rows(figures: dict, *first: str) -> list[list]:
    """One row per zero-shot probe; ``first``: cells put before each row's (e.g. the source)."""
    rows = []
    for name, r in figures.items():
        if name.startswith("synth_"):
            rows.append([*first, r["field"], " / ".join(r["labels"]), r["WA"], r["UA"], r["n"], 1 / len(r["labels"])])
    return rows


def _retrieval_rows(figures: dict, *first: str) -> list[list]:
    rows = []
    for kind in ("global", "fine"):
        r = figures[f"retrieval_{kind}"]
        for direction in ("speech_to_text", "text_to_speech"):
            m = r[direction]
            rows.append([*first, kind, direction.replace("_", " "), m["R@1"], m["R@5"], m["R@10"], m["mAP@10"],
                         r["chance_R@1"]])
    return rows


def heldout_section(heldout: dict[str, dict]) -> list[str]:
    """Report lines for the held-out voice sources (``{source: evaluate_style figures}``); none when empty."""
    if not heldout:
        return []
    return ["## Evaluation on a held-out voice source (never trained on)", "",
            "Every clip of the corpus's held-out source (`cuts_heldout.jsonl.gz`: its engine and voices reach",
            "neither training nor the test split) is evaluated the same way, per source.", "",
            "### Zero-shot classification, held-out source", "",
            markdown_table(["source", "attribute", "classes", "WA", "UA", "clips", "chance"],
                           [row for source, f in heldout.items() for row in _zero_shot_rows(f, source)]),
            "### Speech ↔ text retrieval, held-out source", "",
            markdown_table(["source", "captions", "direction", "R@1", "R@5", "R@10", "mAP@10", "chance R@1"],
                           [row for source, f in heldout.items() for row in _retrieval_rows(f, source)])]


def write_report(out: Path, model, test_cuts: Sequence, figures: dict, annotate_stats: dict, verify_summary: dict,
                 timings: dict[str, float], sections: Sequence[str] = (), heldout: dict[str, dict] | None = None
                 ) -> Path:
    """Write ``out/report.md`` (and its PNGs) from the demo's stage outputs; returns its path. ``heldout``:
    the final model's :func:`eval.style.evaluate_style` figures per held-out source; ``sections`` (markdown) go
    after the evaluation."""
    runs = {f"stage {s}": out / f"stage{s}" for s in (1, 2, 3) if (out / f"stage{s}" / "train_summary.json").is_file()}
    plot_training(runs, out / "training_curves.png")
    plot_similarity_map(model, test_cuts, out / "similarity_map.png")
    train = {name: json.loads((run / "train_summary.json").read_text()) for name, run in runs.items()}
    v = verify_summary["captions"]
    lines = [
        "# CLSP demo report",
        "",
        "The synthetic corpus's training split was captioned from its audio alone by the acoustic engine, the",
        "captions were verified (CLSP's rules + acoustic grounding), a tiny Zipformer2 + frozen MiniLM dual encoder",
        "was trained on the kept captions (stage 1 InfoNCE, stage 2 multi-positive InfoNCE under the dynamic task",
        "scheduler), and the model was evaluated on the test split, whose voices were never seen in training.",
        "",
        "## Pipeline",
        "",
        markdown_table(["stage", "seconds"], [[k, f"{v_:.1f}"] for k, v_ in timings.items()]),
        "## Annotation",
        "",
        markdown_table(["engine", "model", "prompt", "clips", "audio h", "captions written (this run)",
                        "rows already done", "rejects"],
                       [[annotate_stats["engine"], annotate_stats["model"], annotate_stats["prompt_id"],
                         annotate_stats["clips"], annotate_stats["audio_hours"], annotate_stats["captions_written"],
                         annotate_stats["rows"]["already_done"], sum(annotate_stats["rejects"].values())]]),
        "## Verification",
        "",
        markdown_table(["check", "checked", "kept", "rejected", "rejected by code"],
                       [[name, t["checked"], t["kept"], t["rejected"],
                         ", ".join(f"{c} {n}" for c, n in sorted(t["by_code"].items())) or "–"]
                        for name, t in verify_summary["per_check"].items()]
                       + [["all", v["checked"], v["kept"], v["rejected"], ""]]),
        "## Training",
        "",
        markdown_table(["stage", "steps", "epochs", "clips left out (reason: count)"],
                       [[name, s["steps"], s["epochs"],
                         ", ".join(f"{k}: {n}" for k, n in s["skipped"].items()) or "–"]
                        for name, s in train.items()]),
        "![training curves](training_curves.png)",
        "",
        "## Evaluation on unseen voices (test split)",
        "",
        "### Zero-shot classification",
        "",
        markdown_table(["attribute", "classes", "WA", "UA", "clips", "chance"], _zero_shot_rows(figures)),
        " ".join(f"![{n}](eval/{n}.png)" for n in figures if n.startswith("synth_")),
        "",
        "### Speech ↔ text retrieval",
        "",
        markdown_table(["captions", "direction", "R@1", "R@5", "R@10", "mAP@10", "chance R@1"],
                       _retrieval_rows(figures)),
        "![similarity map](similarity_map.png)",
        "",
        *heldout_section(heldout or {}),
        *sections,
        "## The model",
        "",
        f"`{out / 'model'}`: `CLSPModel.from_pretrained(...)`, then `encode_audio`, `encode_text`, `similarity`.",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


ZERO_SHOT_PROBES = ("synth_gender", "synth_rate", "synth_pitch", "synth_loudness")


def stage_comparison_rows(stage2: dict, stage3: dict) -> list[list]:
    """Zero-shot WA per attribute (and their mean) and retrieval R@1, stage 2 next to stage 3."""
    rows = [[f"zero-shot {stage3[n]['field']} WA", stage2[n]["WA"], stage3[n]["WA"], stage3[n]["WA"] - stage2[n]["WA"]]
            for n in ZERO_SHOT_PROBES]
    mean2 = sum(stage2[n]["WA"] for n in ZERO_SHOT_PROBES) / len(ZERO_SHOT_PROBES)
    mean3 = sum(stage3[n]["WA"] for n in ZERO_SHOT_PROBES) / len(ZERO_SHOT_PROBES)
    rows.append(["**mean of the four**", mean2, mean3, mean3 - mean2])
    for kind in ("global", "fine"):
        for direction in ("speech_to_text", "text_to_speech"):
            a, b = stage2[f"retrieval_{kind}"][direction]["R@1"], stage3[f"retrieval_{kind}"][direction]["R@1"]
            rows.append([f"retrieval {kind} {direction.replace('_', ' ')} R@1", a, b, b - a])
    return rows


def plot_grounding_example(model, cuts: Sequence, path: Path) -> Path | None:
    """The score curves of "speaking fast/slowly" and "a loud/soft voice" over a test clip whose rate (else
    loudness) changes between the two extremes (else any clip with style segments), true segments shaded."""
    from clsp.grounding import GROUNDING_TARGETS, ground, target_spans
    from eval.grounding import plot_grounding

    def changes(cut, attr: str, values: set[str]) -> bool:
        segs = (cut.custom or {}).get("style_segments") or []
        return len(segs) > 1 and {s.get(attr) for s in segs} == values

    pick = (next((c for c in cuts if changes(c, "speaking_rate", {"slow", "fast"})), None)
            or next((c for c in cuts if changes(c, "loudness", {"soft", "loud"})), None)
            or next((c for c in cuts if (c.custom or {}).get("style_segments")), None))
    if pick is None:
        return None
    targets = [t for t in GROUNDING_TARGETS if t.attribute in ("speaking_rate", "loudness")]
    result = ground(model, [pick], [t.phrase for t in targets], names=[pick.id])
    clip = {**result["results"][0], "frame_shift": result["frame_shift"]}
    truth = {t.phrase: target_spans(pick.custom["style_segments"], t) for t in targets}
    return plot_grounding(clip, path, truth, title=f"{pick.id} (unseen voice)")


def stage3_section(out: Path, model, test_cuts: Sequence, stage3: dict, extra: dict,
                   heldout: dict[str, dict] | None = None) -> str:
    """The report's stage-3 section: stage 2 vs stage 3 on unseen voices and on each held-out source, the
    grounding tables and figure. ``stage3``: the final (stage-3) model's :func:`eval.style.evaluate_style`
    figures on the test split; ``heldout``: the same per held-out source; ``extra``: what
    :func:`recipes.demo.evaluate_stage3` returned."""
    from eval.grounding import grounding_markdown

    rows = stage_comparison_rows(extra["stage2"], stage3)
    mean2, mean3 = rows[len(ZERO_SHOT_PROBES)][1:3]
    verdict = ("improves" if mean3 > mean2 else "does not improve") + (
        f" the mean zero-shot accuracy over stage 2 here ({mean2:.3f} → {mean3:.3f}, on {len(test_cuts)} clips "
        "of unseen voices: one clip moves a probe's accuracy by 1-3 points).")
    lines = ["## Stage 3: attribute-sensitive fine-tuning", "",
             "Stage 3 fine-tunes the stage-2 model on Task 1 (global + fine caption) plus 0.2 × a local loss that sets",
             "each clip's global caption against a copy with one attribute word flipped (gender, rate, pitch,",
             "loudness, ...). Stage 3 " + verdict, "",
             markdown_table(["test split, unseen voices", "stage 2", "stage 3", "change"], rows)]
    sets = [("test split, unseen voices", extra.get("grounding"))]
    for source, figures in (heldout or {}).items():
        theirs = extra.get("heldout", {}).get(source, {})  # stage 2 and grounding on this source
        if "stage2" in theirs:
            lines += [markdown_table([f"held-out source: {source}", "stage 2", "stage 3", "change"],
                                     stage_comparison_rows(theirs["stage2"], figures))]
        sets.append((f"held-out source: {source}", theirs.get("grounding")))
    if any(g is not None for _, g in sets):
        lines += ["## Time-aligned style grounding", "",
                  "The frame head (trained jointly in stage 3 on each clip's style segments) scores a style phrase",
                  "against every frame; a frame counts when its score is above the threshold.", ""]
        for name, grounding in sets:
            if grounding is not None:
                body = grounding_markdown(grounding, "").split("\n", 2)[2]
                lines += [f"### {name}", "", body.replace("## Frame level", "Frame level:")
                          .replace("## Segment level", "Segment level:")]
        png = plot_grounding_example(model, test_cuts, out / "grounding_example.png")
        if png is not None:
            lines += [f"![grounding example]({png.name})", ""]
    return "\n".join(lines) + "\n"
