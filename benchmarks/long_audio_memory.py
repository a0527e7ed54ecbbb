"""Peak memory of every stage against the length of one recording (1 min ... 3 h): it must not grow with it.

For each length, one recording is made by repeating the clips of a small synthetic corpus (espeak-ng,
16 kHz PCM-16, written block by block) and put in a one-cut manifest with a pending global caption and a
gender label. Each stage then runs as its own process through the ``clsp`` command, and the figure is that
process's peak resident memory (``os.wait4``), the model load included:

- ``score``, ``classify``, ``search build``, ``eval zeroshot``: a random model of the demo's size
  (configs/demo-stage1.yaml); audio over 30 s is encoded in windows read one at a time;
- ``verify``: rules + acoustic; clips over ``acoustic_max_audio_s`` (600 s) are not loaded (left pending);
- ``annotate``: the acoustic engine (configs/annotate-demo.yaml, 1 view, global); the recording is split
  with Silero VAD over 600 s windows and each piece is read when it is captioned.

    .venv/bin/python benchmarks/long_audio_memory.py [--minutes 1 10 60 180] [--stages score annotate ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = ("score", "classify", "search", "eval", "verify", "annotate")
SR = 16000


def demo_model(out: Path) -> Path:
    from clsp.config import from_dict
    from clsp.model import CLSPModel, ModelConfig

    cfg = REPO / "configs" / "demo-stage1.yaml"
    torch.manual_seed(0)
    return CLSPModel(from_dict(ModelConfig, yaml.safe_load(cfg.read_text())["model"], where=str(cfg))).save_pretrained(out)


def long_recording(clips: list[np.ndarray], minutes: float, out: Path) -> Path:
    """``out/long.wav`` (``minutes`` long) and ``out/cuts_long.jsonl.gz`` (one cut, one pending caption)."""
    from lhotse import MonoCut, Recording, SupervisionSegment

    from clsp.data.captions import Caption, CaptionSource, make_caption_id, with_captions
    from clsp.data.manifest import write_cuts

    out.mkdir(parents=True, exist_ok=True)
    wav, left, i = out / "long.wav", int(minutes * 60 * SR), 0
    with sf.SoundFile(wav, "w", SR, 1, subtype="PCM_16") as f:
        while left > 0:
            block = np.concatenate([clips[i % len(clips)], np.zeros(SR // 2, np.float32)])[:left]
            f.write(block)
            left -= len(block)
            i += 1
    rec = Recording.from_file(wav, recording_id="long")
    sup = SupervisionSegment("long", "long", 0.0, rec.duration, text="", speaker="s")
    cut = MonoCut("long", 0.0, rec.duration, 0, recording=rec, supervisions=[sup], custom={"gender": "female"})
    source = CaptionSource(engine="import", model="bench")
    caption = Caption(make_caption_id("long", "global", source), "global",
                      "A woman speaks at a moderate pace with a steady, medium pitch.", source)
    return write_cuts([with_captions(cut, [caption])], out / "cuts_long.jsonl.gz")


def stage_command(stage: str, manifest: Path, wav: Path, model: Path, work: Path) -> list[str]:
    clsp = [sys.executable, "-m", "clsp"]
    return {
        "score": [*clsp, "score", "--model", str(model), "--audio", str(wav), "--text", "A calm voice.", "--quiet"],
        "classify": [*clsp, "classify", "--model", str(model), "--audio", str(wav), "--labels", "male", "female",
                     "--quiet"],
        "search": [*clsp, "search", "build", "--model", str(model), "--manifest", str(manifest), "--out",
                   str(work / "index"), "--quiet"],
        "eval": [*clsp, "eval", "zeroshot", "--model", str(model), "--manifest", str(manifest), "--label-field",
                 "gender", "--labels", "male", "female", "--quiet"],
        "verify": [*clsp, "verify", "--input", str(manifest), "--output", str(work / "verified"), "--checks",
                   "rules,acoustic", "--recheck", "--quiet"],
        "annotate": [*clsp, "annotate", "--input", str(manifest), "--output", str(work / "annotated"), "--config",
                     str(REPO / "configs" / "annotate-demo.yaml"), "--views", "1", "--kinds", "global", "--quiet"],
    }[stage]


def peak_rss(cmd: list[str], threads: int) -> tuple[float, float, int, str]:
    """(peak resident MiB, seconds, exit status, last stderr line) of one process."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    last = err.strip().splitlines()[-1] if err.strip() else ""
    return usage.ru_maxrss / 1024, time.perf_counter() - t0, proc.returncode, last


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60, 180])
    p.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)

    from clsp.synth.corpus import SynthConfig, synthesize_corpus

    rows = []
    with tempfile.TemporaryDirectory(prefix="clsp-long-") as tmp:
        tmp = Path(tmp)
        synthesize_corpus(SynthConfig(num_clips=40, seed=5), tmp / "corpus", progress=False)
        clips = [sf.read(w, dtype="float32")[0] for w in sorted((tmp / "corpus" / "wavs").glob("*.wav"))]
        model = demo_model(tmp / "model")
        print(f"{'stage':10s}" + "".join(f"{m:>16g} min" for m in args.minutes))
        table = {s: [] for s in args.stages}
        for minutes in args.minutes:
            manifest = long_recording(clips, minutes, tmp / f"rec{minutes:g}")
            for stage in args.stages:
                work = tmp / f"work-{stage}-{minutes:g}"
                mib, secs, code, last = peak_rss(stage_command(stage, manifest, manifest.parent / "long.wav", model,
                                                               work), args.threads)
                table[stage].append(f"{mib:7.0f} MiB{secs:6.0f} s" if code == 0 else f"exit {code}")
                rows.append({"stage": stage, "minutes": minutes, "peak_mib": round(mib, 1), "seconds": round(secs, 1),
                             "exit": code, "stderr": last if code else ""})
                print(f"  {stage} {minutes:g} min: {rows[-1]}", file=sys.stderr, flush=True)
            (manifest.parent / "long.wav").unlink()
        for stage, cells in table.items():
            print(f"{stage:10s}" + "".join(f"{c:>20s}" for c in cells))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
