"""Training input per loader core, and the loader cores one GPU needs at the XLarge step rate.

The trainer's own loader (:func:`clsp.train.data.train_loader`: lhotse's ``DynamicBucketingSampler`` from
:func:`~clsp.train.data.make_sampler`, :class:`~clsp.train.data.CaptionedAudioDataset` reading each cut's audio,
resampling it to 16 kHz and computing its fbank frames, collation) with the XLarge config's data section and input
spec (800 s batches, 30 buckets, 128 mel bins), in one process, torch threads 1, ``num_workers`` 0: what one
DataLoader worker does on one core. Two sources of the same cuts, opened as ``clsp train --data`` opens them:

- files: the manifest, one audio file per cut;
- Shar: the manifest's Lhotse Shar export (:func:`clsp.data.shar.export_shar`, ``clsp manifest export-shar``),
  each shard's tar read front to back (FLAC inside).

Each at the corpus's own rate (16 kHz: no resampling) and at ``--rates``' others (a copy of the audio written at
that rate with lhotse's ``save_audios`` before the clock starts). The loaders of all sources take turns batch by
batch (the same batches: same seed, same cuts in the same order), so a load change on a shared machine hits them
alike. Audio-s per CPU-s of this process is the per-core figure (it does not count time spent waiting for a CPU);
per wall-s is printed too. The split times the library calls inside the loader: reading + decoding (in
``load_clip``: the file, or the FLAC bytes already read from the tar), lhotse's resampler, lhotse's fbank,
the rest of the dataset's collation (sorting, padding, captions), and the sampler (bucketing; with Shar also
reading the tars into its buffer), in CPU ms per audio-s (they add up to 1000 / audio-s per CPU-s).

Loader cores per GPU = ``--gpu-audio-s-per-s`` (the README's XLarge step on one H200: 867-1005 audio-s/s) /
audio-s per CPU-s of one loader core, assuming DataLoader workers scale linearly over cores.

The audio files and tars are read once before the clock starts (warm page cache, local disk): what a network
file system or a cold disk adds per small file is not measured here.

Run: nice -n 10 .venv/bin/python benchmarks/input_pipeline.py --data runs/demo/data [--repeat 6] [--rates 22050]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import torch
from lhotse import Fbank
from lhotse.augmentation.torchaudio import Resample

import clsp.train.data as train_data
from clsp.config import load_config
from clsp.data.manifest import find_split_manifest, read_cuts, split_manifest_path, write_cuts
from clsp.data.shar import export_shar, shar_shards
from clsp.model.speech import speech_input_spec
from clsp.train.config import TrainConfig
from clsp.train.data import (CaptionedAudioDataset, checked_train_manifest, make_sampler, open_train_cuts,
                             train_loader)

REPO = Path(__file__).resolve().parents[1]
# the README's "XLarge on one H200" table: 1005 / 944 / 882 / 867 audio-s/s at clips of 5 / 10 / 20 / 30 s
README_H200_AUDIO_S_PER_S = 900.0
PARTS = ("sampler", "read+decode", "resample", "fbank", "collation")


class Clock:
    """CPU seconds of this process per part, charged to the source whose batch is being made (``current``)."""

    def __init__(self):
        self.current = None
        self.cpu: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def add(self, part: str, cpu: float) -> None:
        self.cpu[self.current][part] += cpu


@contextmanager
def timing(owner, name: str, clock: Clock, part: str) -> Iterator[None]:
    """Charge every call of ``owner.name`` (a class's method or a module's function) to ``part``; restored after."""
    original = owner.__dict__[name] if name in owner.__dict__ else None
    target = getattr(owner, name)

    def timed(*args, **kwargs):
        cpu = time.process_time()
        try:
            return target(*args, **kwargs)
        finally:
            clock.add(part, time.process_time() - cpu)

    setattr(owner, name, timed)
    try:
        yield
    finally:
        if original is None:
            delattr(owner, name)
        else:
            setattr(owner, name, original)


def source_files(path: Path) -> list[Path]:
    """The files a source's loader reads: a Shar folder's shards, or a data folder's train audio files."""
    if path.name == "shar":
        return [p for pair in shar_shards(path) for p in pair]
    return sorted({Path(s.source) for c in read_cuts(split_manifest_path(path, "train"))
                   for s in c.recording.sources if s.type == "file"})


def read_through(paths: list[Path]) -> int:
    """Read each file once (warms the page cache alike for every source); returns bytes read."""
    total = 0
    for p in paths:
        with open(p, "rb") as f:
            while chunk := f.read(1 << 22):
                total += len(chunk)
    return total


def prepare(base, rate: int | None, repeat: int, root: Path, shard_size: int) -> tuple[Path, Path, dict]:
    """A data folder whose train manifest is ``base`` (at ``rate``, written with lhotse's ``save_audios``; None: as
    stored) ``repeat`` times over with unique ids (lhotse's ``CutSet.repeat``), and its Shar export."""
    cuts = base if rate is None else base.resample(rate).save_audios(root / "audio", progress_bar=False)
    data = root / "data"
    write_cuts(cuts.repeat(repeat), split_manifest_path(data, "train"))
    return data, root / "shar", export_shar(split_manifest_path(data, "train"), root / "shar", shard_size)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("runs/demo/data"))
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "clsp-xlarge-stage1.yaml",
                    help="its data section and speech encoder's input spec are used")
    ap.add_argument("--repeat", type=int, default=6, help="the train manifest this many times (800 s batches in "
                    "30 buckets need ~25,000 s to fill most buckets)")
    ap.add_argument("--rates", type=int, nargs="*", default=[22050],
                    help="other input rates (Hz) to measure besides the corpus's own, resampled to 16 kHz in the loader")
    ap.add_argument("--shard-size", type=int, default=1000)
    ap.add_argument("--gpu-audio-s-per-s", type=float, default=README_H200_AUDIO_S_PER_S,
                    help="the GPU's training rate at the XLarge step (default: the README's H200 measurement)")
    ap.add_argument("--workdir", type=Path, default=None, help="for the copies and exports (default: a temp folder)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message=".*eagerly read CutSet.*")
    torch.set_num_threads(1)
    cfg = load_config(TrainConfig, args.config)
    spec = speech_input_spec(cfg.model.speech)
    base = read_cuts(find_split_manifest(args.data, "train")).to_eager()
    own_rate = base[0].recording.sampling_rate

    with ExitStack() as stack:
        work = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="clsp-input-")))
        sources, exports, prep_s = {}, {}, {}
        for rate in [None, *[r for r in args.rates if r != own_rate]]:
            hz = rate or own_rate
            start = time.perf_counter()
            data, shar, exports[hz] = prepare(base, rate, args.repeat, work / str(hz), args.shard_size)
            prep_s[hz] = time.perf_counter() - start
            sources[f"files {hz / 1000:g} kHz"] = data
            sources[f"Shar {hz / 1000:g} kHz"] = shar
        warm = sum(read_through(source_files(path)) for path in sources.values())

        clock = Clock()
        loaders = {}
        for name, path in sources.items():  # as the trainer opens --data: manifest or Shar folder
            sampler = make_sampler(open_train_cuts(checked_train_manifest(path)), cfg.data, cfg.seed, 0, 1)
            dataset = CaptionedAudioDataset(spec, cfg.data.caption_status, cfg.data.caption_engines)
            loaders[name] = iter(train_loader(dataset, sampler, cfg.seed))
        for owner, name, part in ((CaptionedAudioDataset, "__getitem__", "dataset"),
                                  (train_data, "load_clip", "load_clip"), (Resample, "__call__", "resample"),
                                  (Fbank, "extract", "fbank")):
            stack.enter_context(timing(owner, name, clock, part))
        totals = {name: {"cpu": 0.0, "wall": 0.0, "audio": 0.0, "batches": 0, "clips": 0} for name in loaders}
        batch_ids, same = {}, True
        load_start = os.getloadavg()[0]
        while loaders:  # one batch of each source in turn
            for name in list(loaders):
                clock.current = name
                cpu, wall = time.process_time(), time.perf_counter()
                batch = next(loaders[name], None)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                if batch is None:
                    del loaders[name]
                    continue
                t = totals[name]
                t["cpu"] += cpu
                t["wall"] += wall
                t["audio"] += spec.seconds(batch["lengths"])
                t["batches"] += 1
                t["clips"] += len(batch["cut_ids"])
                key = (name.split()[1], t["batches"])
                same &= batch_ids.setdefault(key, batch["cut_ids"]) == batch["cut_ids"]
                clock.add("total", cpu)
        load_end = os.getloadavg()[0]

    d = cfg.data
    if not all(t["batches"] for t in totals.values()):
        raise SystemExit(f"no batch of {d.max_duration:g} s filled a bucket: raise --repeat")
    print(f"config {args.config.name}: {d.max_duration:g} s batches, {d.num_buckets} buckets, buffer {d.buffer_size} "
          f"cuts, clips {d.min_clip_duration:g}-{d.max_clip_duration:g} s, {spec.kind} {spec.num_mel_bins} bins; "
          f"{len(base)} training cuts x {args.repeat} ({sum(c.duration for c in base) * args.repeat:.0f} s); "
          f"1 process, torch threads 1, loaders in turn batch by batch; load average {load_start:.1f} at the start, "
          f"{load_end:.1f} at the end (1 min), {os.cpu_count()} CPUs")
    for hz, e in exports.items():
        print(f"{hz / 1000:g} kHz: prepared in {prep_s[hz]:.1f} s (Shar export {e['wall_s']:.1f} s: {e['shards']} "
              f"shards, {e['bytes'] / 2**20:.0f} MiB, {e['bytes'] / e['seconds'] / 1024:.1f} KiB per audio-s)")
    print(f"page cache warmed: {warm / 2**20:.0f} MiB read once before the clock; same batches from files and "
          f"Shar: {'yes' if same else 'NO'}")
    print(f"{'source':>15} {'batches':>7} {'clips':>6} {'audio s':>8} {'audio-s/CPU-s':>13} {'audio-s/wall-s':>14}  "
          + " ".join(f"{p:>11}" for p in PARTS) + "  (CPU ms per audio-s)")
    rate = {}
    for name, t in totals.items():
        c = clock.cpu[name]
        parts = {"sampler": c["total"] - c["dataset"], "read+decode": c["load_clip"] - c["resample"],
                 "resample": c["resample"], "fbank": c["fbank"],
                 "collation": c["dataset"] - c["load_clip"] - c["fbank"]}
        rate[name] = t["audio"] / t["cpu"]
        print(f"{name:>15} {t['batches']:7d} {t['clips']:6d} {t['audio']:8.0f} {rate[name]:13.0f} "
              f"{t['audio'] / t['wall']:14.0f}  " + " ".join(f"{1000 * parts[p] / t['audio']:11.3f}" for p in PARTS))
    gpu = args.gpu_audio_s_per_s
    default = " (the README's XLarge step on one H200)" if gpu == README_H200_AUDIO_S_PER_S else ""
    print(f"loader cores per GPU at {gpu:g} audio-s/s{default}: "
          + "; ".join(f"{name} {gpu / r:.2f}" for name, r in rate.items()))
    for hz in exports:
        f, s = rate[f"files {hz / 1000:g} kHz"], rate[f"Shar {hz / 1000:g} kHz"]
        print(f"{hz / 1000:g} kHz: Shar / files audio-s per CPU-s {s / f:.2f}x")
    per_cut = exports[own_rate]["bytes"] / exports[own_rate]["cuts"]
    print(f"with Shar the sampler's buffer holds audio: {d.buffer_size} cuts x {per_cut / 2**10:.0f} KiB (this corpus at "
          f"{own_rate / 1000:g} kHz) = {d.buffer_size * per_cut / 2**30:.2f} GiB in each rank's main process (the "
          f"DataLoader runs the sampler there and sends each batch's cuts, audio bytes included, to its workers)")


if __name__ == "__main__":
    main()
