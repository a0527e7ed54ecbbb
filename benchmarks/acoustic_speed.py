"""Acoustic captioner / acoustic check throughput, in seconds of audio per CPU second (x real time per core).

Stages, each timed separately over the same clips in this one process:
  load        read + decode the wav (lhotse ``cut.load_audio``)
  pitch       Praat autocorrelation pitch alone (the main cost inside ``measure``)
  measure     ``measure_style`` with the transcript (everything: activity, pitch, LTAS, nuclei, spans)
  measure-nt  ``measure_style`` without a transcript (rate from syllable nuclei)
  caption     ``AcousticEngine.generate`` of one global + one fine caption per clip (measurement included)
  check       ``acoustic_reasons`` of the clip's own captions (8 per synthetic clip), measurement excluded

Per-core figures use the process's CPU time (so other jobs on the machine do not distort them); wall
times are printed beside them. Goal (issue 4): well over 20x real time per core; the demo annotates
1,000 clips on 2 cores.
Run: .venv/bin/python benchmarks/acoustic_speed.py [--data DIR] [--split test] [--limit 200]
(without --data, the evaluation corpus is synthesised into a temporary directory first, untimed).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import parselmouth

from annotate.engines.acoustic import AcousticEngine
from annotate.engines.base import GenerationRequest
from clsp.data import get_captions, read_cuts, split_manifest_path
from clsp.style.measure import MeasureConfig, measure_style
from verify.acoustic import acoustic_reasons
from verify.acoustic_eval import make_eval_corpus


def run(data: Path, split: str, limit: int) -> None:
    cuts = list(read_cuts(split_manifest_path(data, split)))[:limit]
    cfg = MeasureConfig()
    timings: dict[str, tuple[float, float]] = {}  # stage -> (cpu s, wall s)

    def timed(name, fn):
        cpu, wall = time.process_time(), time.perf_counter()
        out = [fn(c, a) for c, a in zip(cuts, audios)]
        timings[name] = (time.process_time() - cpu, time.perf_counter() - wall)
        return out

    audios = [None] * len(cuts)
    audios = timed("load", lambda c, a: c.load_audio()[0])
    audio_s = sum(len(a) / c.sampling_rate for c, a in zip(cuts, audios))
    timed("pitch", lambda c, a: parselmouth.Sound(a.astype(np.float64), c.sampling_rate).to_pitch_ac(
        time_step=cfg.pitch_step_s, pitch_floor=cfg.pitch_floor_hz, pitch_ceiling=cfg.pitch_ceiling_hz,
        max_number_of_candidates=cfg.pitch_candidates))
    measured = timed("measure", lambda c, a: measure_style(a, c.sampling_rate, c.supervisions[0].text))
    timed("measure-nt", lambda c, a: measure_style(a, c.sampling_rate))
    engine = AcousticEngine()
    timed("caption", lambda c, a: [r.text for r in engine.generate(
        GenerationRequest(f"{c.id}/{k}", audio=a, seed=0, meta={"cut_id": c.id, "kind": k,
                                                                "transcript": c.supervisions[0].text})
        for k in ("global", "fine"))])
    n_captions = sum(len(get_captions(c)) for c in cuts)
    by_id = {c.id: m for c, m in zip(cuts, measured)}
    timed("check", lambda c, a: [acoustic_reasons(cap.text, by_id[c.id]) for cap in get_captions(c)])

    print(f"{len(cuts)} clips, {audio_s:.0f} s of audio ({audio_s / len(cuts):.1f} s per clip), 1 process")
    print(f"{'stage':<11} {'cpu s':>7} {'x RT / core':>12} {'cpu ms/clip':>12} {'wall s':>7}")
    for name, (cpu, wall) in timings.items():
        print(f"{name:<11} {cpu:7.2f} {audio_s / cpu:12.1f} {1000 * cpu / len(cuts):12.1f} {wall:7.2f}")
    print(f"check: {n_captions / timings['check'][0]:.0f} captions per CPU second")
    per_core = audio_s / (timings["load"][0] + timings["caption"][0])
    demo_s = 1000 * (audio_s / len(cuts)) / (2 * per_core)
    print(f"load + caption (global + fine): {per_core:.1f}x real time per core -> the demo's 1,000 clips on 2 cores "
          f"in about {demo_s:.0f} s")
    print(f"goal: well over 20x real time per core -> {'met' if per_core > 20 else 'NOT met'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="a data directory (default: synthesise the eval corpus)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=200, help="at most this many clips")
    args = ap.parse_args()
    if args.data is not None:
        run(args.data, args.split, args.limit)
        return
    with tempfile.TemporaryDirectory() as tmp:
        run(make_eval_corpus(Path(tmp) / "corpus"), args.split, args.limit)


if __name__ == "__main__":
    main()
