"""Audio preprocessing throughput of `clsp annotate`: load + check (+ resample to 16 kHz), and Silero VAD.

Figures are "x real time per core": seconds of audio processed per second of one thread's wall time
(torch limited to one thread), measured in this run on a synthetic espeak-ng corpus. Then the same with
the pipeline's loader thread pool (``--workers``) to show how it scales.

    .venv/bin/python benchmarks/audio_preprocess.py [--clips 120] [--workers 2] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from lhotse import Recording
from lhotse.utils import fastcopy

from annotate.config import VADConfig
from annotate.vad import SileroSplitter
from clsp.audio import resample
from clsp.audio_checks import load_checked_audio
from clsp.data.manifest import read_cuts
from clsp.synth.corpus import SynthConfig, synthesize_corpus


def corpus_cuts(corpus: Path) -> list:
    return [c for m in sorted(corpus.glob("cuts_*.jsonl.gz")) for c in read_cuts(m)]


def at_rate(cuts: list, rate: int, out: Path) -> list:
    """Copies of ``cuts`` whose audio files are stored at ``rate`` Hz (manifests consistent with them)."""
    out.mkdir(parents=True, exist_ok=True)
    moved = []
    for c in cuts:
        path = out / f"{c.id}.wav"
        sf.write(path, resample(c.load_audio()[0], 16000, rate), rate)
        rec = Recording.from_file(path, recording_id=c.id)
        moved.append(fastcopy(c, recording=rec, duration=rec.duration))
    return moved


def throughput(cuts: list, workers: int, repeat: int = 3) -> tuple[float, float]:
    """(audio seconds, best wall seconds of ``repeat`` passes) to load and check every cut with ``workers``
    threads (the best pass: the machine may be shared)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        if workers == 1:
            total = sum(len(load_checked_audio(c)) for c in cuts)
        else:
            with ThreadPoolExecutor(workers) as pool:
                total = sum(len(a) for a in pool.map(load_checked_audio, cuts))
        best = min(best, time.perf_counter() - t0)
    return total / 16000, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=120)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--corpus", type=Path, default=None, help="a data directory (default: synthesise one)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = args.corpus
        if corpus is None:
            corpus = Path(tmp) / "corpus"
            synthesize_corpus(SynthConfig(num_clips=args.clips, seed=3, workers=2), corpus, progress=False)
        cuts = corpus_cuts(corpus)[: args.clips]
        sets = {"16 kHz (as is)": cuts, "22.05 kHz -> 16k": at_rate(cuts, 22050, Path(tmp) / "r22"),
                "44.1 kHz -> 16k": at_rate(cuts, 44100, Path(tmp) / "r44")}
        hours = sum(c.duration for c in cuts) / 3600
        print(f"{len(cuts)} clips, {hours * 60:.1f} min of audio; torch threads = 1")
        print(f"{'input':18s} {'workers':>7s} {'wall s':>8s} {'x real time':>12s} {'x RT per core':>14s}")
        for name, group in sets.items():
            throughput(group[:5], 1)  # warm-up (resampler kernels, file cache)
            for workers in sorted({1, args.workers}):
                audio_s, wall = throughput(group, workers)
                print(f"{name:18s} {workers:7d} {wall:8.2f} {audio_s / wall:12.0f} {audio_s / wall / workers:14.0f}")
        # Silero VAD on a long recording made of the clips joined with 1 s gaps
        audio = np.concatenate([np.concatenate([load_checked_audio(c), np.zeros(16000, np.float32)]) for c in cuts[:40]])
        splitter = SileroSplitter(VADConfig(), max_s=30.0)
        dur = len(audio) / 16000
        for workers in sorted({1, args.workers}):
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(splitter.speech_spans, [audio[:16000]] * workers))  # one model per thread
                t0 = time.perf_counter()
                spans = list(pool.map(splitter.speech_spans, [audio] * workers))
                wall = time.perf_counter() - t0
            print(f"Silero VAD, {workers} thread(s): {workers} x {dur:.0f} s recording ({len(spans[0])} speech "
                  f"regions) in {wall:.2f} s -> {workers * dur / wall:.0f} x real time, "
                  f"{dur / wall:.0f} per core")


if __name__ == "__main__":
    main()
