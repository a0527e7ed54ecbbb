"""``make demo`` / ``clsp demo``: the whole job end to end on the embedded synthetic corpus.

synthesise → strip the training split's captions (an uncaptioned corpus, as a user brings one) →
annotate it with the acoustic engine → verify (rules + acoustic) → train stage 1 and stage 2 on the
verified captions (and stage 3 with joint grounding when ``configs/demo-stage3.yaml`` exists) → evaluate on
the test split's unseen voices and, per source, on the held-out source's clips (stage 2 and stage 3 side by side,
grounding) → ``report.md`` with tables and plots.

Everything goes under ``OUT`` (default ``runs/demo``)::

    data/        the synthetic corpus (wavs, cuts_{train,dev,test}.jsonl.gz; cuts_heldout.jsonl.gz: a held-out source)
    raw/         the training split without captions
    annotated/   clsp annotate output;  verified/  clsp verify output (what training reads)
    stage1/ stage2/ stage3/   training runs (checkpoints, tensorboard, exported model)
    model/       the final model (CLSPModel.from_pretrained)
    eval/        one JSON + markdown (+ PNG) per evaluation;  report.md + *.png

Every stage reuses its finished output, so a second run only re-evaluates and rewrites the report.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from clsp.config import load_config
from clsp.data.captions import with_captions
from clsp.data.manifest import (HELDOUT_SPLIT, SPLITS, load_checked, read_cuts, split_manifest_path, summarize,
                                write_cuts)
from clsp.synth.corpus import SynthConfig, synthesize_corpus
from configs import CONFIGS_DIR

STAGE3_CONFIG = CONFIGS_DIR / "demo-stage3.yaml"
SHOWN_ATTRIBUTES = ("speaking_rate", "loudness")  # grounding figures the demo prints (all are in the report)
STEPS = 8


def _step(i: int, text: str) -> float:
    print(f"[{i}/{STEPS}] {text}", flush=True)
    return time.monotonic()


def _done(t0: float, what: str = "done") -> None:
    print(f"      {what} in {time.monotonic() - t0:.1f} s", flush=True)


def strip_captions(src: Path, dst: Path) -> Path:
    """``dst/cuts_train.jsonl.gz``: the training split with no captions (reused when present)."""
    out = split_manifest_path(dst, "train")
    if not out.is_file():
        write_cuts((with_captions(c, []) for c in read_cuts(split_manifest_path(src, "train"))), out)
    return out


def train_stage3(out: Path, stage2_model: Path, train_overrides: list[str] = ()) -> Path | None:
    """Stage 3 (attribute-sensitive fine-tuning + joint grounding) from the stage-2 export, when
    ``configs/demo-stage3.yaml`` exists, its grounding thresholds calibrated on the corpus's dev split (as
    ``clsp eval grounding --calibrate``); returns its exported model, or None."""
    from clsp.model import CLSPModel
    from clsp.model.clsp_model import store_frame_thresholds
    from clsp.train.config import TrainConfig
    from clsp.train.trainer import train
    from eval.grounding import calibrate_thresholds

    if not STAGE3_CONFIG.is_file():
        print(f"      skipped: no {STAGE3_CONFIG.name}", flush=True)
        return None
    cfg = load_config(TrainConfig, STAGE3_CONFIG, list(train_overrides))
    model_dir = train(cfg, out / "verified", out / "stage3", init=stage2_model)
    dev = split_manifest_path(out / "data", "dev")
    if cfg.grounding.weight > 0 and dev.is_file():
        thresholds = calibrate_thresholds(CLSPModel.from_pretrained(model_dir), list(read_cuts(dev)), progress=False)
        store_frame_thresholds(model_dir, thresholds)
        print("      grounding thresholds (best frame F1 on the dev split): "
              + ", ".join(f"{k} {v:.2f}" for k, v in thresholds.items() if k.split("=")[0] in SHOWN_ATTRIBUTES),
              flush=True)
    return model_dir


def heldout_by_source(data: Path) -> dict[str, list]:
    """The held-out split's clips (``cuts_heldout.jsonl.gz``: voice sources never trained on) per source, in
    manifest order; ``{}`` when the corpus has no held-out source."""
    path = split_manifest_path(data, HELDOUT_SPLIT)
    by_source: dict[str, list] = {}
    if path.is_file():
        for cut in read_cuts(path):
            by_source.setdefault((cut.custom or {}).get("source", "unknown"), []).append(cut)
    return by_source


def evaluate_stage3(out: Path, stage2_model: Path, model, test_cuts: list, figures: dict,
                    heldout: dict[str, list] | None = None) -> dict:
    """Stage 2 on the same probes (stage 3's are ``figures``) and the final model's grounding on the test split,
    and both again on each held-out source's clips (``heldout``: :func:`heldout_by_source`). Prints the figures
    and returns ``{"stage2": figures, "grounding": result, "heldout": {source: {"stage2", "grounding"}}}``
    (also written under ``out/eval``)."""
    from clsp.model import CLSPModel
    from clsp.grounding import GROUNDING_TARGETS
    from eval.grounding import evaluate_grounding, grounding_markdown
    from eval.report import write_run
    from eval.style import evaluate_style

    stage2_model = CLSPModel.from_pretrained(stage2_model)

    def grounding(cuts: list, name: str) -> dict | None:
        if model.frame_head is None or not any((c.custom or {}).get("style_segments") for c in cuts):
            return None
        result = evaluate_grounding(model, cuts, progress=False)
        write_run(out / "eval", name, result, grounding_markdown(result, f"Style grounding, {name}"))
        for key in (t.key for t in GROUNDING_TARGETS if t.attribute in SHOWN_ATTRIBUTES):
            f1 = result["targets"][key]["f1"]
            print(f"      {name} {key:20s} frame F1 " + (f"{f1:.3f}" if f1 is not None else "-"))
        return result

    stage2 = evaluate_style(stage2_model, test_cuts, out / "eval" / "stage2", progress=False)
    for name in ("synth_gender", "synth_rate", "synth_pitch", "synth_loudness"):
        print(f"      zero-shot {stage2[name]['field']:14s} stage 2 WA {stage2[name]['WA']:.3f} -> stage 3 WA "
              f"{figures[name]['WA']:.3f}")
    result = {"stage2": stage2, "grounding": grounding(test_cuts, "grounding"), "heldout": {}}
    for source, cuts in (heldout or {}).items():
        result["heldout"][source] = {
            "stage2": evaluate_style(stage2_model, cuts, out / "eval" / f"heldout_{source}_stage2", progress=False),
            "grounding": grounding(cuts, f"grounding_heldout_{source}")}
    return result


def run_demo(out: Path, num_clips: int = 1000, train_overrides: list[str] = ()) -> int:
    """Run every stage under ``out``; ``train_overrides`` (``KEY=VALUE``) go to both training configs
    (the tests shorten training with them). Returns the process exit status (0)."""
    from annotate.config import AnnotateConfig
    from annotate.pipeline import annotate
    from clsp.model import CLSPModel
    from recipes.report import stage3_section, write_report
    from clsp.train.config import TrainConfig
    from clsp.train.trainer import train
    from eval.style import evaluate_style
    from verify.config import VerifyConfig
    from verify.pipeline import format_summary, verify

    out = Path(out)
    data, timings = out / "data", {}

    t = _step(1, f"synthesise {num_clips} clips (several voice engines, known style labels) -> {data}")
    synth = synthesize_corpus(SynthConfig(num_clips=num_clips), data)
    _done(t, "reused the finished corpus" if synth.get("reused") else "synthesised")
    for split in (*SPLITS, HELDOUT_SPLIT) if split_manifest_path(data, HELDOUT_SPLIT).is_file() else SPLITS:
        info = summarize(load_checked(split_manifest_path(data, split)))
        print(f"      {split:5s} {info['cuts']:4d} clips  {info['hours'] * 60:5.1f} min  {info['speakers']} voices")
    timings["synthesise"] = synth["seconds"]

    t = _step(2, "annotate the training split from its audio alone (acoustic engine) -> " + str(out / "annotated"))
    raw = strip_captions(data, out / "raw")
    stats = annotate(load_config(AnnotateConfig, CONFIGS_DIR / "annotate-demo.yaml"), [raw], out / "annotated",
                     progress=False)
    print(f"      {stats['rows']['requested']} captions requested, {stats['captions_written']} written, "
          f"{sum(stats['rejects'].values())} clips rejected")
    timings["annotate"] = time.monotonic() - t
    _done(t)

    t = _step(3, "verify the captions (CLSP's rules + acoustic grounding) -> " + str(out / "verified"))
    summary = verify(load_config(VerifyConfig, CONFIGS_DIR / "verify-demo.yaml"), [out / "annotated"],
                     out / "verified", progress=False)
    print("      " + format_summary(summary).replace("\n", "\n      "))
    timings["verify"] = time.monotonic() - t
    _done(t, "reused the finished verification" if summary.get("reused") else "done")

    stage_dirs = {}
    for stage, label in ((1, "InfoNCE"), (2, "multi-positive InfoNCE, dynamic task scheduler")):
        t = _step(3 + stage, f"train stage {stage} ({label}) -> {out / f'stage{stage}'}")
        cfg = load_config(TrainConfig, CONFIGS_DIR / f"demo-stage{stage}.yaml", list(train_overrides))
        stage_dirs[stage] = train(cfg, out / "verified", out / f"stage{stage}",
                                  init=stage_dirs.get(1) if stage == 2 else None)
        timings[f"train_stage{stage}"] = time.monotonic() - t
        _done(t)
    t = _step(6, f"train stage 3 (attribute-perturbed local loss + frame grounding) -> {out / 'stage3'}")
    stage3 = train_stage3(out, stage_dirs[2], train_overrides)
    if stage3 is not None:
        stage_dirs[3] = stage3
        timings["train_stage3"] = time.monotonic() - t
        _done(t)
    model_dir = out / "model"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    shutil.copytree(stage_dirs[max(stage_dirs)], model_dir)

    t = _step(7, "evaluate on the test split (voices never seen in training) and the held-out source -> "
              + str(out / "eval"))
    model = CLSPModel.from_pretrained(model_dir)
    test_cuts = list(read_cuts(split_manifest_path(data, "test")))
    figures = evaluate_style(model, test_cuts, out / "eval", progress=False)
    for name in ("synth_gender", "synth_rate", "synth_pitch", "synth_loudness"):
        r = figures[name]
        print(f"      zero-shot {r['field']:14s} WA {r['WA']:.3f}  UA {r['UA']:.3f}  (n={r['n']}, "
              f"chance {1 / len(r['labels']):.2f})")
    for kind in ("global", "fine"):
        r = figures[f"retrieval_{kind}"]
        print(f"      retrieval, {kind:6s} captions  T->S R@1 {r['text_to_speech']['R@1']:.3f}  "
              f"S->T R@1 {r['speech_to_text']['R@1']:.3f}  (n={r['n']}, chance {r['chance_R@1']:.3f})")
    heldout = heldout_by_source(data)
    heldout_figures = {source: evaluate_style(model, cuts, out / "eval" / f"heldout_{source}", progress=False)
                       for source, cuts in heldout.items()}
    for source, r in heldout_figures.items():
        print(f"      held-out {source} (n={r['synth_gender']['n']}): zero-shot WA "
              + "  ".join(f"{r[n]['field']} {r[n]['WA']:.3f}" for n in ("synth_gender", "synth_rate", "synth_pitch",
                                                                        "synth_loudness"))
              + f"  global T->S R@1 {r['retrieval_global']['text_to_speech']['R@1']:.3f}")
    stage3_figures = (evaluate_stage3(out, stage_dirs[2], model, test_cuts, figures, heldout)
                      if 3 in stage_dirs else None)
    timings["evaluate"] = time.monotonic() - t
    _done(t)

    t = _step(8, "write the report")
    sections = ([stage3_section(out, model, test_cuts, figures, stage3_figures, heldout_figures)]
                if stage3_figures else [])
    report = write_report(out, model, test_cuts, figures, stats, summary, timings, sections=sections,
                          heldout=heldout_figures)
    _done(t)
    extra = stage3_figures or {}
    metrics = {**figures, **{k: v for k, v in extra.items() if k != "heldout"},
               "heldout": {source: {**r, **extra.get("heldout", {}).get(source, {})}
                           for source, r in heldout_figures.items()}}
    (out / "demo_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"Report: {report}\nModel:  {model_dir}  (CLSPModel.from_pretrained)")
    return 0
