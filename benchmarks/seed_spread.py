"""Seed spread of the demo configs: stage 1 + stage 2 trained with several seeds on one corpus, each model
evaluated per source on the test split (unseen voices) and the held-out split (a source never trained on)
(``eval.style.evaluate_style``, the figures of the demo and the learning test).

Prints, per seed, the stage-1 loss over its first steps (TensorBoard's 10-step means, next to ln B of a full
batch: the plateau shows as loss ≈ ln B), the training seconds, and zero-shot gender / slow-vs-fast / pitch
low-vs-high / loudness soft-vs-loud WA and global/fine text→speech R@1 per split and source; then each
metric's mean and largest deviation from it over the seeds. Finished runs under ``--out`` are reused (rerun to
add seeds or finish).

Run: .venv/bin/python benchmarks/seed_spread.py --data runs/demo/data [--seeds 0 1 2] [--out /tmp/seed_spread]
     [--set KEY=VALUE ...]   (overrides for both stages, e.g. --set threads=2)
     [--set1 KEY=VALUE ...] [--set2 KEY=VALUE ...]   (overrides for stage 1 or stage 2 only)
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
from clsp.train.config import TrainConfig
from clsp.train.trainer import train
from eval.style import evaluate_style

REPO = Path(__file__).resolve().parents[1]
METRICS = ("gender", "rate", "pitch", "loudness", "T2S_global", "T2S_fine")
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
    """The figures of one source's clips: probe WA, global/fine text→speech R@1, chance R@1, clips per probe."""
    figures = evaluate_style(model, cuts, progress=False)
    return {
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
    result_file = out / "result.json"
    if result_file.is_file():
        return json.loads(result_file.read_text())
    dirs, seconds = {}, {}
    for stage in (1, 2):
        cfg = load_config(TrainConfig, REPO / "configs" / f"demo-stage{stage}.yaml",
                          [f"seed={seed}", *overrides[stage]])
        t = time.monotonic()
        dirs[stage] = train(cfg, data, out / f"stage{stage}", init=dirs.get(1), progress=False)
        seconds[str(stage)] = round(time.monotonic() - t, 1)
    result = {
        "seed": seed, "overrides": {str(k): v for k, v in overrides.items()}, "train_seconds": seconds,
        "stage1_loss": {str(k): round(v, 3) for k, v in sorted(stage1_losses(out / "stage1").items())},
        "figures": split_figures(CLSPModel.from_pretrained(dirs[2]), data),
    }
    result_file.write_text(json.dumps(result, indent=1))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("runs/demo/data"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=Path("/tmp/clsp-seed-spread"))
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--set1", dest="overrides1", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--set2", dest="overrides2", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    overrides = {1: [*args.overrides, *args.overrides1], 2: [*args.overrides, *args.overrides2]}
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
    for part, first in results[0]["figures"].items():
        print(f"\n{part}: clips per probe {first['n']}; chance R@1 {first['chance_R@1']:.4f}")
        print("seed " + "".join(f"{m:>11}" for m in METRICS) + "   train s (stage 1 + 2)")
        rows = [r["figures"][part] for r in results]
        for r, f in zip(results, rows):
            print(f"{r['seed']:>4} " + "".join(f"{f[m]:11.3f}" for m in METRICS)
                  + f"   {r['train_seconds']['1']:.0f} + {r['train_seconds']['2']:.0f}")
        means = {m: sum(f[m] for f in rows) / len(rows) for m in METRICS}
        print("mean " + "".join(f"{means[m]:11.3f}" for m in METRICS))
        print("min  " + "".join(f"{min(f[m] for f in rows):11.3f}" for m in METRICS))
        print("±max " + "".join(f"{max(abs(f[m] - means[m]) for f in rows):11.3f}" for m in METRICS))


if __name__ == "__main__":
    main()
