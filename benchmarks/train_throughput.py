"""Training throughput and padding: lhotse bucketing vs random batching, same max-duration.

Prints padding fraction over one epoch of batches (metadata only) and measured clips/s and audio-s/s
over a few real training steps of the demo stage-1 config.
Run: .venv/bin/python benchmarks/train_throughput.py --data runs/demo/data [--steps 20]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from lhotse.dataset import SimpleCutSampler

from clsp.config import load_config
from clsp.data.manifest import find_split_manifest, read_cuts
from clsp.train.config import TrainConfig
from clsp.train.data import make_sampler
from clsp.train.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]


def padding_fraction(sampler) -> tuple[float, int]:
    real = padded = batches = 0
    for batch in sampler:
        durations = [c.duration for c in batch]
        real += sum(durations)
        padded += max(durations) * len(durations)
        batches += 1
    return 1 - real / padded, batches


def step_throughput(trainer: Trainer, sampler, steps: int) -> tuple[float, float]:
    trainer.sampler = sampler
    trainer._iter = trainer._loader()
    clips = audio = 0.0
    start = time.perf_counter()
    for i in range(steps):
        batch = trainer._next_batch()
        result = trainer._loss_step(batch)
        trainer.optimizer.step()
        trainer.optimizer.zero_grad(set_to_none=True)
        clips += result["clips"]
        audio += result["audio_seconds"]
    wall = time.perf_counter() - start
    return clips / wall, audio / wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("runs/demo/data"))
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    cfg = load_config(TrainConfig, REPO / "configs" / "demo-stage1.yaml")
    cuts = read_cuts(find_split_manifest(args.data, "train")).to_eager()
    samplers = {
        "bucketing": lambda: make_sampler(cuts, cfg.data, seed=0, rank=0, world_size=1),
        "random": lambda: SimpleCutSampler(cuts, max_duration=cfg.data.max_duration, shuffle=True, drop_last=True),
    }
    trainer = Trainer(cfg, args.data, Path("/tmp/clsp-bench-train"), progress=False)
    print(f"max_duration {cfg.data.max_duration} s per batch, {len(cuts)} training clips")
    print(f"{'batching':>10} {'padding':>8} {'batches':>8} {'clips/s':>8} {'audio s/s':>10}")
    rows = {}
    for name, make in samplers.items():
        pad, n = padding_fraction(make())
        cps, aps = step_throughput(trainer, make(), args.steps)
        rows[name] = (pad, n, cps, aps)
        print(f"{name:>10} {pad:8.3f} {n:8d} {cps:8.1f} {aps:10.1f}")
    b, r = rows["bucketing"], rows["random"]
    print(f"bucketing vs random: padding {b[0] / max(r[0], 1e-9):.2f}x, audio-s/s {b[3] / r[3]:.2f}x")


if __name__ == "__main__":
    main()
