"""Synthesis throughput: clips/s and audio-seconds per wall-second for 1 and 2 workers.

Goal (issue: Foundation): 1,000 clips in under a minute on 2 cores.
Run: .venv/bin/python benchmarks/synth_speed.py [--num-clips 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from clsp.synth.corpus import SynthConfig, synthesize_corpus


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--num-clips", type=int, default=1000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    rows = []
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            summary = synthesize_corpus(SynthConfig(num_clips=args.num_clips, workers=workers), tmp, progress=False)
            wall = time.perf_counter() - t
        audio_s = sum(s["hours"] for s in summary["splits"].values()) * 3600
        rows.append((workers, wall, args.num_clips / wall, audio_s / wall))
    print(f"{'workers':>7} {'wall s':>8} {'clips/s':>8} {'audio s / wall s':>17}")
    for w, wall, cps, rt in rows:
        print(f"{w:>7} {wall:8.1f} {cps:8.1f} {rt:17.1f}")
    if len(rows) > 1:
        print(f"speed-up {rows[-1][0]} vs {rows[0][0]} workers: {rows[0][1] / rows[-1][1]:.2f}x")
    print(f"goal: {args.num_clips} clips < 60 s on 2 cores -> {'met' if min(r[1] for r in rows) < 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
