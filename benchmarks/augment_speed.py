"""Cost of each `clsp augment` transform, and of whole augmented copies (labels measured again included).

1. Each transform on the same clips: CPU seconds per second of audio (sox and ffmpeg-free: what runs in this
   process or its subprocesses).
2. `clsp augment` with the default transform mix on a small espeak-ng corpus, 1 worker: CPU per copy, and how the
   copies' labels came out (kept / replaced / dropped / filled per attribute).
Run: .venv/bin/python benchmarks/augment_speed.py [--clips 40]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

import numpy as np

from clsp.augment import transforms as T
from clsp.augment.config import AugmentConfig, AugmentRunConfig
from clsp.augment.pipeline import augment_manifests
from clsp.data import read_cuts, split_manifest_path
from clsp.synth.corpus import SourceConfig, SynthConfig, synthesize_corpus


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=40)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        synthesize_corpus(SynthConfig(num_clips=args.clips, seed=5, sources={"espeak": SourceConfig()},
                                      heldout_source=None, dev_fraction=0.0, test_fraction=0.0,
                                      augment=AugmentConfig(fraction=0.0), workers=1), corpus, progress=False)
        audio = [c.load_audio()[0] for c in read_cuts(split_manifest_path(corpus, "train"))]
        seconds = sum(len(a) for a in audio) / 16000
        rng = np.random.default_rng(0)
        transforms = {
            "tempo x0.7 (sox WSOLA)": lambda a: T.tempo(a, 0.7),
            "pitch +3 st (Praat PSOLA)": lambda a: T.pitch_shift(a, 3.0),
            "gain +6 dB (lhotse Volume)": lambda a: T.gain(a, 6.0),
            "reverb RT60 0.5 s": lambda a: T.reverb(a, rng, 0.5),
            "noise 15 dB pink": lambda a: T.add_noise(a, rng, 15.0, "pink"),
            "telephone (lhotse Narrowband)": T.telephone,
            "codec mp3 (lhotse Compress)": lambda a: T.codec(a, "mp3", 0.5),
            "codec opus (lhotse Compress)": lambda a: T.codec(a, "opus", 0.5),
        }
        print(f"{len(audio)} clips, {seconds:.0f} s of audio")
        print(f"{'transform':32s} {'cpu s per audio s':>18s}")
        for name, fn in transforms.items():
            fn(audio[0])  # warm (imports)
            c0 = cpu_seconds()
            for a in audio:
                fn(a)
            print(f"{name:32s} {(cpu_seconds() - c0) / seconds:18.4f}", flush=True)
        cfg = AugmentRunConfig(workers=1)
        c0 = cpu_seconds()
        summary = augment_manifests(cfg, [split_manifest_path(corpus, "train")], Path(tmp) / "aug", progress=False)
        n = summary["manifests"]["cuts_train.jsonl.gz"]["copies"]
        print(f"clsp augment, default mix, 1 worker: {(cpu_seconds() - c0) / n:.3f} cpu s per copy ({n} copies); "
              f"transforms drawn: {summary['steps']}")
        for attr, counts in summary["labels"].items():
            print(f"  labels {attr:14s} {counts}")


if __name__ == "__main__":
    main()
