"""Scoring throughput (clips/s) of ``eval.scoring.score`` and its overhead over the unavoidable work.

Same clips, one run, the paths interleaved over ``--rounds`` rounds (a load change on a shared machine hits
them alike), wall and CPU seconds of this process (its threads included) for each:

- bare forward: ``model.forward_speech`` on fbank batches made beforehand (the model's own work), the
  length-sorted batches ``encode_audio`` forms;
- fbank + forward: waveforms already in memory, ``encode_audio`` (fbank, forward, the heads): the
  unavoidable work of scoring;
- the same in input order, ``batch_size`` clips per call (no sorting across batches: how scoring batched
  before it sorted by length);
- ``score()``: the whole public path from file paths (read and resample in a loader thread, fbank, forward,
  one text).

Ratios: ``score()`` over fbank + forward (the overhead of reading; the goal is <= 1.10x) and over the bare
forward. The model is the demo's size (configs/demo-stage1.yaml: tiny Zipformer2 + MiniLM) with random
weights; the clips are a fresh synthetic corpus (espeak-ng, 22.05 kHz files: every clip is resampled).

    .venv/bin/python benchmarks/score_throughput.py [--num-clips 200] [--batch-size 16] [--rounds 2]
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
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from clsp.audio import load_audio
    from clsp.synth.corpus import SynthConfig, synthesize_corpus
    from eval.scoring import score

    model = demo_model()
    bs = args.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        synthesize_corpus(SynthConfig(num_clips=args.num_clips, seed=3), tmp, progress=False)
        paths = sorted(str(w) for w in (Path(tmp) / "wavs").glob("*.wav"))
        waves = [load_audio(w) for w in paths]
        audio_s = sum(len(w) for w in waves) / 16000
        by_length = sorted(waves, key=len, reverse=True)
        feats = [model.speech_inputs(by_length[i:i + bs]) for i in range(0, len(waves), bs)]
        pairs = [(w, 16000) for w in waves]
        score(model, paths[:bs], ["warm-up"], progress=False)  # first-call costs out of the timings

        def bare():
            with torch.no_grad():
                for inputs, lengths in feats:
                    model.forward_speech(inputs, lengths)

        def unsorted():
            return torch.cat([model.encode_audio(pairs[i:i + bs], batch_size=bs) for i in range(0, len(pairs), bs)])

        outputs = {}
        paths_timed = {
            "bare forward (fbank ready)": bare,
            "fbank + forward": lambda: model.encode_audio(pairs, batch_size=bs),
            "  same, input-order batches": unsorted,
            "score(): files -> JSON": lambda: score(model, paths, ["A woman speaks slowly in a low voice."],
                                                    batch_size=bs, progress=False),
        }
        wall = dict.fromkeys(paths_timed, 0.0)
        cpu = dict.fromkeys(paths_timed, 0.0)
        for _ in range(args.rounds):
            for name, fn in paths_timed.items():
                t0, c0 = time.perf_counter(), time.process_time()
                outputs[name] = fn()
                wall[name] += time.perf_counter() - t0
                cpu[name] += time.process_time() - c0
    assert len(outputs["score(): files -> JSON"]["results"]) == len(paths)
    sorted_vs_unsorted = float((outputs["fbank + forward"] - outputs["  same, input-order batches"]).abs().max())

    n = len(paths)
    bare_name, feat_name, full_name = "bare forward (fbank ready)", "fbank + forward", "score(): files -> JSON"
    print(f"{n} clips ({audio_s / 60:.1f} min of audio, mean {audio_s / n:.1f} s, "
          f"{min(map(len, waves)) / 16000:.1f}-{max(map(len, waves)) / 16000:.1f} s), batch {bs}, "
          f"{args.threads} threads, demo-size model (random weights), {args.rounds} interleaved rounds")
    print(f"  {'path':30s} {'wall s':>8s} {'CPU s':>8s} {'clips/s':>8s} {'x bare':>7s} {'x fbank+fwd':>12s}")
    for name in paths_timed:
        print(f"  {name:30s} {wall[name]:8.2f} {cpu[name]:8.2f} {args.rounds * n / wall[name]:8.1f} "
              f"{wall[name] / wall[bare_name]:7.2f} {wall[name] / wall[feat_name]:12.2f}")
    print(f"  score() over fbank + forward: {wall[full_name] / wall[feat_name]:.2f}x wall, "
          f"{cpu[full_name] / cpu[feat_name]:.2f}x CPU (reading + resampling + text; goal <= 1.10x)")
    print(f"  score() over the bare forward: {wall[full_name] / wall[bare_name]:.2f}x wall, "
          f"{cpu[full_name] / cpu[bare_name]:.2f}x CPU")
    print(f"  length-sorted vs input-order batches: {wall['  same, input-order batches'] / wall[feat_name]:.2f}x "
          f"wall saved; largest difference of the vectors {sorted_vs_unsorted:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
