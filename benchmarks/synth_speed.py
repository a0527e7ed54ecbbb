"""Synthesis cost per voice source, and the whole demo corpus.

1. Per source (one worker, no augmentation): CPU seconds per clip and per second of audio made (the real-time
   factor), counting the engine's subprocesses (espeak-ng, flite) too; and how many designed labels the
   measurement kept, replaced or dropped.
2. Augmentation: the same espeak-ng clips with every training clip augmented (CPU per clip added).
3. The demo corpus (configs/synth-demo.yaml, 1,000 clips) with 2 workers: wall time and clips per split and source.

Voices are calibrated before the timings (cached in ~/.cache/clsp/voices), so the figures are rendering only.
Goal: `make demo` stays under 10 minutes on 2 cores; the corpus's share of it is what (3) prints.
Run: .venv/bin/python benchmarks/synth_speed.py [--clips 40] [--skip-demo]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from clsp.augment.config import AugmentConfig
from clsp.config import load_config
from clsp.synth.corpus import SourceConfig, SynthConfig, synthesize_corpus

REPO = Path(__file__).resolve().parents[1]


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(cfg: SynthConfig) -> tuple[dict, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        synthesize_corpus(SynthConfig(**{**cfg.__dict__, "num_clips": 4}), Path(tmp) / "warm", progress=False)
        c0, w0 = cpu_seconds(), time.perf_counter()
        summary = synthesize_corpus(cfg, Path(tmp) / "run", progress=False)
        return summary, cpu_seconds() - c0, time.perf_counter() - w0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=40, help="clips per source for the per-source figures")
    ap.add_argument("--skip-demo", action="store_true")
    args = ap.parse_args()
    print(f"{'source':8s} {'clips':>5s} {'cpu s/clip':>10s} {'audio s/clip':>12s} {'RTF (cpu/audio)':>15s}   "
          "labels kept/replaced/dropped % per attribute")
    for source in ("espeak", "flite", "piper", "kokoro"):
        cfg = SynthConfig(num_clips=args.clips, seed=11, sources={source: SourceConfig()}, heldout_source=None,
                          dev_fraction=0.0, test_fraction=0.0, augment=AugmentConfig(fraction=0.0), workers=1)
        summary, cpu, _ = run(cfg)
        audio = sum(s["hours"] for s in summary["splits"].values()) * 3600
        labels = []
        for attr, c in summary["labels"][source].items():
            n = sum(c.values()) - c.get("unmeasured", 0)
            share = (f"{100 * c.get(k, 0) / n:.0f}" for k in ("kept", "replaced", "dropped"))
            labels.append(f"{attr} " + "/".join(share))
        print(f"{source:8s} {args.clips:5d} {cpu / args.clips:10.3f} {audio / args.clips:12.2f} {cpu / audio:15.4f}   "
              + ", ".join(labels), flush=True)
    cfg = SynthConfig(num_clips=args.clips, seed=11, sources={"espeak": SourceConfig()}, heldout_source=None,
                      dev_fraction=0.0, test_fraction=0.0, augment=AugmentConfig(fraction=1.0, include_original=False),
                      workers=1)
    _, cpu_aug, _ = run(cfg)
    print(f"augmentation (espeak, every clip, demo transform mix): {cpu_aug / args.clips:.3f} cpu s per clip in all",
          flush=True)
    if args.skip_demo:
        return
    cfg = load_config(SynthConfig, REPO / "configs" / "synth-demo.yaml")
    summary, cpu, wall = run(cfg)
    print(f"demo corpus: {cfg.num_clips} clips, {cfg.workers} workers: {wall:.1f} s wall, {cpu:.1f} cpu s")
    for split, info in summary["splits"].items():
        print(f"  {split:8s} {info['clips']:5d} clips {info['hours'] * 60:6.1f} min {info['voices']:4d} voices "
              f"{info['augmented']:4d} augmented  {info['sources']}")


if __name__ == "__main__":
    main()
