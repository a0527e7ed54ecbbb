"""Seed spread of the demo configs: stage 1 + stage 2 (+ stage 3 with ``--stage3``) trained with several seeds
on one corpus, each model evaluated per source on the test split (unseen voices) and the held-out split (a
source never trained on) (``eval.style.evaluate_style``, the figures of the demo and the learning test).

Prints, per seed, the stage-1 loss over its first steps (TensorBoard's 10-step means, next to ln B of a full
batch: the plateau shows as loss ≈ ln B), the training seconds, and zero-shot gender / slow-vs-fast / pitch
low-vs-high / loudness soft-vs-loud WA and global/fine text→speech R@1 per split and source; then each
metric's mean and largest deviation from it over the seeds. With ``--stage3`` the same for the stage-3 model
(``configs/demo-stage3.yaml`` from each seed's stage 2; grounding thresholds calibrated on the dev split, as the
demo), beside its frame F1 of slow / fast / soft / loud (``eval.grounding.evaluate_grounding``). Finished runs
under ``--out`` are reused (rerun to add seeds, finish, or add stage 3 to runs of stages 1 and 2).

Run: .venv/bin/python benchmarks/seed_spread.py --data runs/demo/data [--seeds 0 1 2] [--out /tmp/seed_spread]
     [--set KEY=VALUE ...]   (overrides for both stages, e.g. --set threads=2)
     [--set1 KEY=VALUE ...] [--set2 KEY=VALUE ...]   (overrides for stage 1 or stage 2 only)
     [--stage3 [--set3 KEY=VALUE ...]]   (stage 3 too, with overrides for it only)
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import time
from pathlib import Path

from clsp.config import load_config
from clsp.data import read_cuts, split_manifest_path
from clsp.data.manifest import HELDOUT_SPLIT
from clsp.model import CLSPModel
from clsp.model.clsp_model import store_frame_thresholds
from clsp.train.config import TrainConfig
from clsp.train.trainer import train
from eval.grounding import calibrate_thresholds, evaluate_grounding
from eval.style import evaluate_style

REPO = Path(__file__).resolve().parents[1]
METRICS = ("gender", "rate", "pitch", "loudness", "T2S_global", "T2S_fine")
FRAME_METRICS = ("F1_slow", "F1_fast", "F1_soft", "F1_loud")  # stage 3: frame F1 of these grounding targets
LOSS_STEPS = (10, 20, 30, 40, 60)
SPLITS = ("test", HELDOUT_SPLIT)


def stage1_losses(run_dir: Path) -> dict[int, float]:
    """The logged stage-1 ``train/loss`` (mean of the 10 steps before each logged step), by step."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = sorted(glob.glob(str(run_dir / "tensorboard" / "events.*")))
    losses: dict[int, float] = {}
    for f in files:
        events = EventAccumulator(f, size_guidance={"scalars": 0})
        events.Reload()
        if "train/loss" in events.Tags()["scalars"]:
            losses.update({s.step: s.value for s in events.Scalars("train/loss")})
    return losses


def source_figures(model: CLSPModel, cuts: list) -> dict:
    """The figures of one source's clips: probe WA, global/fine text→speech R@1, chance R@1, clips per probe;
    with a frame head, frame F1 of :data:`FRAME_METRICS` (None where a target has no labelled frame)."""
    figures = evaluate_style(model, cuts, progress=False)
    frame = {}
    if model.frame_head is not None:
        targets = evaluate_grounding(model, cuts, progress=False)["targets"]
        frame = {m: next((t["f1"] for t in targets.values() if t["value"] == m[3:]), None) for m in FRAME_METRICS}
    return {**frame,
        "gender": figures["synth_gender"]["WA"], "rate": figures["synth_rate"]["WA"],
        "pitch": figures["synth_pitch"]["WA"], "loudness": figures["synth_loudness"]["WA"],
        "T2S_global": figures["retrieval_global"]["text_to_speech"]["R@1"],
        "T2S_fine": figures["retrieval_fine"]["text_to_speech"]["R@1"],
        "chance_R@1": figures["retrieval_global"]["chance_R@1"],
        "n": {k: figures[f"synth_{k}"]["n"] for k in ("gender", "rate", "pitch", "loudness")},
    }


def split_figures(model: CLSPModel, data: Path) -> dict[str, dict]:
    """``"<split>:<source>"`` -> :func:`source_figures`, for every split of :data:`SPLITS` the corpus has."""
    out = {}
    for split in SPLITS:
        path = split_manifest_path(data, split)
        if not path.is_file():
            continue
        by_source: dict[str, list] = {}
        for cut in read_cuts(path):
            by_source.setdefault(cut.custom.get("source", "?"), []).append(cut)
        out.update({f"{split}:{src}": source_figures(model, cuts) for src, cuts in sorted(by_source.items())})
    return out


def run_seed(seed: int, data: Path, out: Path, overrides: dict[int, list[str]]) -> dict:
    """Trains the stages of ``overrides`` (1, 2[, 3]) in turn, each from the previous one's export, and returns
    (and stores in ``out/result.json``) the training seconds, the stage-1 losses and the figures per stage."""
    result_file = out / "result.json"
    done = json.loads(result_file.read_text()) if result_file.is_file() else {"train_seconds": {}}
    if all(str(stage) in done["train_seconds"] for stage in overrides):
        return done
    dirs, seconds = {}, {}
    for stage in overrides:  # a stage finished by an earlier run resumes from its last checkpoint: no steps left
        cfg = load_config(TrainConfig, REPO / "configs" / f"demo-stage{stage}.yaml",
                          [f"seed={seed}", *overrides[stage]])
        t = time.monotonic()
        dirs[stage] = train(cfg, data, out / f"stage{stage}", init=dirs.get(stage - 1), progress=False)
        seconds[str(stage)] = done["train_seconds"].get(str(stage), round(time.monotonic() - t, 1))
        dev = split_manifest_path(data, "dev")
        if stage == 3 and cfg.grounding.weight > 0 and dev.is_file():  # as the demo's stage 3
            store_frame_thresholds(dirs[3], calibrate_thresholds(CLSPModel.from_pretrained(dirs[3]),
                                                                 list(read_cuts(dev)), progress=False))
    result = {
        "seed": seed, "overrides": {str(k): v for k, v in overrides.items()}, "train_seconds": seconds,
        "stage1_loss": {str(k): round(v, 3) for k, v in sorted(stage1_losses(out / "stage1").items())},
        "figures": {str(k): split_figures(CLSPModel.from_pretrained(dirs[k]), data) for k in dirs if k > 1},
    }
    result_file.write_text(json.dumps(result, indent=1))
    return result


def print_spread(results: list[dict], stage: str) -> None:
    """Per split and source: each seed's figures of ``stage``'s model, their mean, min and largest deviation."""
    for part, first in results[0]["figures"][stage].items():
        metrics = METRICS + tuple(m for m in FRAME_METRICS if first.get(m) is not None)
        print(f"\nstage {stage}, {part}: clips per probe {first['n']}; chance R@1 {first['chance_R@1']:.4f}")
        print("seed " + "".join(f"{m:>11}" for m in metrics) + "   train s (stages)")
        rows = [r["figures"][stage][part] for r in results]
        for r, f in zip(results, rows):
            print(f"{r['seed']:>4} " + "".join(f"{f[m]:11.3f}" for m in metrics)
                  + "   " + " + ".join(f"{s:.0f}" for s in r["train_seconds"].values()))
        means = {m: sum(f[m] for f in rows) / len(rows) for m in metrics}
        print("mean " + "".join(f"{means[m]:11.3f}" for m in metrics))
        print("min  " + "".join(f"{min(f[m] for f in rows):11.3f}" for m in metrics))
        print("±max " + "".join(f"{max(abs(f[m] - means[m]) for f in rows):11.3f}" for m in metrics))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("runs/demo/data"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=Path("/tmp/clsp-seed-spread"))
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--set1", dest="overrides1", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--set2", dest="overrides2", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--stage3", action="store_true", help="also stage 3 (configs/demo-stage3.yaml)")
    ap.add_argument("--set3", dest="overrides3", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    overrides = {1: [*args.overrides, *args.overrides1], 2: [*args.overrides, *args.overrides2]}
    if args.stage3:
        overrides[3] = [*args.overrides, *args.overrides3]
    cfg1 = load_config(TrainConfig, REPO / "configs" / "demo-stage1.yaml", overrides[1])
    results = [run_seed(s, args.data, args.out / f"seed{s}", overrides) for s in args.seeds]

    changed = " ".join(f"stage {k}: {' '.join(v)};" for k, v in overrides.items() if v)
    print(f"corpus {args.data}; demo configs{' with ' + changed if changed else ''} "
          f"pooled norm {cfg1.model.pooled_norm}")
    # a full batch holds about max_duration / mean clip duration clips
    cuts = read_cuts(split_manifest_path(args.data, "train")).to_eager()
    full_batch = cfg1.data.max_duration / (sum(c.duration for c in cuts) / len(cuts))
    print(f"\nstage-1 loss, mean of the 10 steps up to step N (ln B of a full batch of ~{full_batch:.0f} clips: "
          f"{math.log(full_batch):.2f})")
    print("seed " + "".join(f"{f'N={n}':>8}" for n in LOSS_STEPS))
    for r in results:
        print(f"{r['seed']:>4} " + "".join(f"{r['stage1_loss'].get(str(n), float('nan')):8.3f}" for n in LOSS_STEPS))
    for stage in results[0]["figures"]:
        print_spread(results, stage)


if __name__ == "__main__":
    main()
