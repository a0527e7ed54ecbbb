"""Training throughput and padding of lhotse's bucketing settings vs random batching, same max-duration.

Per setting (one run): padding fraction over one epoch of batches (metadata only: 1 - audio / (longest clip x
clips), summed over batches), batches and clips per epoch (drop-last leaves each bucket's last partial batch),
and clips/s and audio-s/s over real training steps of the demo stage-1 model (2 threads), also per CPU second
of this process (robust to other processes on a shared machine). The steps of all settings are
interleaved in rounds (round 1: every setting, round 2: every setting, ...), so a load change on a shared
machine hits them alike.

Two manifests: the corpus as it is, and the corpus repeated ``--repeat`` times (new cut ids, the same audio
files): buckets must each fill a batch, and a small corpus fills few (4,600 s of demo audio fill at most
~19 batches of 240 s).

Run: .venv/bin/python benchmarks/train_throughput.py --data runs/demo/data [--steps 4] [--rounds 2] [--repeat 10]
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import replace
from pathlib import Path

from lhotse.dataset import SimpleCutSampler

from clsp.config import load_config
from clsp.data.manifest import find_split_manifest, read_cuts
from clsp.train.config import TrainConfig
from clsp.train.data import DataConfig, make_sampler
from clsp.train.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]


def epoch_stats(sampler) -> tuple[float, int, int]:
    """(padding fraction, batches, clips) over one epoch of ``sampler`` (metadata only)."""
    real = padded = 0.0
    batches = clips = 0
    for batch in sampler:
        durations = [c.duration for c in batch]
        real += sum(durations)
        padded += max(durations) * len(durations)
        batches += 1
        clips += len(durations)
    return (1 - real / padded if padded else float("nan")), batches, clips


class Stepper:
    """Real training steps of one sampler's batches on a shared :class:`Trainer`, resumable between rounds."""

    def __init__(self, trainer: Trainer, make_sampler_fn):
        self.trainer, self.sampler = trainer, make_sampler_fn()
        self.iter = None
        self.clips = self.audio = self.wall = self.cpu = 0.0

    def run(self, steps: int) -> None:
        t = self.trainer
        t.sampler, t.batch_in_epoch = self.sampler, 0
        t._iter = self.iter if self.iter is not None else t._loader()
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            result = t._loss_step(t._next_batch())
            t.optimizer.step()
            t.optimizer.zero_grad(set_to_none=True)
            self.clips += result["clips"]
            self.audio += result["audio_seconds"]
        self.wall += time.perf_counter() - start
        self.cpu += time.process_time() - cpu
        self.iter = t._iter


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("runs/demo/data"))
    ap.add_argument("--steps", type=int, default=4, help="training steps per setting, over all rounds")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=10, help="the bigger manifest: the corpus this many times")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message=".*eagerly read CutSet.*")
    cfg = load_config(TrainConfig, REPO / "configs" / "demo-stage1.yaml")
    base = read_cuts(find_split_manifest(args.data, "train")).to_eager()
    big = base.repeat(times=args.repeat).to_eager()  # lhotse: new ids (<id>_repeat<k>), the same audio

    def bucketing(cuts, **over):
        data: DataConfig = replace(cfg.data, **over)
        return lambda: make_sampler(cuts, data, seed=0, rank=0, world_size=1)

    name = f"x{args.repeat}"
    settings = {  # (manifest, sampler factory)
        "random": ("x1", lambda: SimpleCutSampler(base, max_duration=cfg.data.max_duration, shuffle=True,
                                                  drop_last=True)),
        f"buckets {cfg.data.num_buckets} (demo)": ("x1", bucketing(base)),
        "buckets 20": ("x1", bucketing(base, num_buckets=20)),
        f"buckets {cfg.data.num_buckets} (demo) ": (name, bucketing(big)),
        "buckets 20 ": (name, bucketing(big, num_buckets=20)),
        "buckets 30": (name, bucketing(big, num_buckets=30)),
        "buckets 30 quadratic 30": (name, bucketing(big, num_buckets=30, quadratic_duration=30.0)),
    }
    trainer = Trainer(cfg, args.data, Path("/tmp/clsp-bench-train"), progress=False)
    stats = {k: epoch_stats(make()) for k, (_, make) in settings.items()}
    steppers = {k: Stepper(trainer, make) for k, (_, make) in settings.items() if stats[k][1] > 0}
    per_round = max(1, args.steps // args.rounds)
    for _ in range(args.rounds):
        for stepper in steppers.values():
            stepper.run(per_round)

    clips = {m: len(c) for m, c in (("x1", base), (name, big))}
    print(f"max_duration {cfg.data.max_duration} s per batch; x1: {len(base)} training clips "
          f"({sum(c.duration for c in base):.0f} s), {name}: the same {args.repeat} times; "
          f"{per_round * args.rounds} steps per setting in {args.rounds} interleaved rounds")
    print(f"{'manifest':>8} {'batching':>24} {'padding':>8} {'batches':>8} {'clips kept':>11} "
          f"{'clips/s':>8} {'audio s/s':>10} {'audio s/CPU s':>14}")
    for k, (manifest, _) in settings.items():
        pad, n, kept = stats[k]
        s = steppers.get(k)
        rate = (f"{s.clips / s.wall:8.1f} {s.audio / s.wall:10.1f} {s.audio / s.cpu:14.1f}" if s
                else f"{'-':>8} {'-':>10} {'-':>14}")
        print(f"{manifest:>8} {k.strip():>24} {pad:8.3f} {n:8d} {kept:>5d}/{clips[manifest]:<5d} {rate}")
    for k, s in steppers.items():  # each against the demo's buckets on the same manifest
        manifest = settings[k][0]
        ref = next(r for r in steppers if r.startswith(f"buckets {cfg.data.num_buckets} (demo)")
                   and settings[r][0] == manifest)
        if k.startswith("buckets") and k != ref:
            r = steppers[ref]
            print(f"{manifest:>4} {k.strip()} vs {ref.strip()}: padding {stats[k][0] / stats[ref][0]:.2f}x, "
                  f"audio-s/s {(s.audio / s.wall) / (r.audio / r.wall):.2f}x, "
                  f"audio-s per CPU-s {(s.audio / s.cpu) / (r.audio / r.cpu):.2f}x")

if __name__ == "__main__":
    main()
