"""Scoring throughput (clips/s) of ``eval.scoring.score`` and its overhead over the bare model forward.

Same clips, same batches, one run, three timings:

- bare forward: ``model.forward_speech`` on fbank batches made beforehand (the model's own work);
- features + forward: waveforms already in memory, fbank + forward (what ``encode_audio`` adds);
- ``score()``: the whole public path from file paths (read, resample, fbank, forward, one text).

The model is the demo's size (configs/demo-stage1.yaml: tiny Zipformer2 + MiniLM) with random weights;
the clips are a fresh synthetic corpus (espeak-ng).

    .venv/bin/python benchmarks/score_throughput.py [--num-clips 200] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import yaml

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo-stage1.yaml"


def demo_model():
    from clsp.config import from_dict
    from clsp.model import CLSPModel, ModelConfig

    raw = yaml.safe_load(CONFIG.read_text())["model"]
    torch.manual_seed(0)
    return CLSPModel(from_dict(ModelConfig, raw, where=str(CONFIG))).eval()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num-clips", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from clsp.audio import load_audio
    from clsp.synth.corpus import SynthConfig, synthesize_corpus
    from eval.scoring import score

    model = demo_model()
    with tempfile.TemporaryDirectory() as tmp:
        synthesize_corpus(SynthConfig(num_clips=args.num_clips, seed=3), tmp, progress=False)
        paths = sorted(str(w) for w in (Path(tmp) / "wavs").glob("*.wav"))
        waves = [load_audio(w) for w in paths]
        audio_s = sum(len(w) for w in waves) / 16000
        batches = [waves[i:i + args.batch_size] for i in range(0, len(waves), args.batch_size)]
        feats = [model.speech_inputs(b) for b in batches]
        score(model, paths[:args.batch_size], ["warm-up"], progress=False)  # first-call costs out of the timings

        with torch.no_grad():
            t0 = time.perf_counter()
            for inputs, lengths in feats:
                model.forward_speech(inputs, lengths)
            bare = time.perf_counter() - t0

        t0 = time.perf_counter()
        model.encode_audio([(w, 16000) for w in waves], batch_size=args.batch_size)
        featured = time.perf_counter() - t0

        t0 = time.perf_counter()
        out = score(model, paths, ["A woman speaks slowly in a low voice."], batch_size=args.batch_size,
                    progress=False)
        full = time.perf_counter() - t0
    assert len(out["results"]) == len(paths)

    n = len(paths)
    print(f"{n} clips ({audio_s / 60:.1f} min of audio, mean {audio_s / n:.1f} s), batch {args.batch_size}, "
          f"{args.threads} threads, demo-size model (random weights)")
    print(f"  {'path':32s} {'seconds':>8s} {'clips/s':>8s} {'x bare':>7s}")
    for name, secs in (("bare forward (fbank ready)", bare), ("fbank + forward", featured),
                       ("score(): files -> JSON", full)):
        print(f"  {name:32s} {secs:8.2f} {n / secs:8.1f} {secs / bare:7.2f}")
    print(f"  overhead of score() over the bare forward: {100 * (full - bare) / full:.0f} % of its time "
          f"(reading + resampling + fbank + text)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
