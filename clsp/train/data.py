"""Training data: lhotse bucketing sampler, on-the-fly features, caption choice per task.

The dataset returns audio features and *all* eligible captions of each cut; the trainer picks the
texts for the step's task in the main process (cheap, deterministic per step, identical on resume).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from lhotse import CutSet
from lhotse.dataset import DynamicBucketingSampler

from clsp.audio import SAMPLING_RATE
from clsp.data.captions import get_captions
from clsp.data.manifest import find_split_manifest, read_cuts
from clsp.data.shar import check_shar, is_shar_dir, read_shar
from clsp.errors import ClspError
from clsp.model.features import InputSpec
from schedulers.tasks import TASK_FINE_FINE, TASK_GLOBAL_FINE


@dataclass
class DataConfig:
    max_duration: float = 120.0  # seconds of audio per batch on each rank
    # lhotse's duration buckets (bins of equal total duration, estimated from the data): padding falls as
    # ~0.87 / num_buckets on our clip lengths (benchmarks/train_throughput.py: 5 -> 17 %, 20 -> 4.3 %, 30 -> 3 %);
    # each bucket must fill a batch (a corpus of N s fills at most N / max_duration buckets)
    num_buckets: int = 20
    buffer_size: int = 4000  # cuts held across all buckets (Shar: with their audio); must fill each bucket
    quadratic_duration: float | None = None  # s: lhotse's extra d^2/q per clip (smaller batches of long clips)
    num_workers: int = 0  # DataLoader workers (resume stays exact: batches are skipped in the sampler)
    min_clip_duration: float = 0.5  # seconds; shorter or longer cuts are left out
    max_clip_duration: float = 30.0
    caption_status: str = "kept"
    caption_engines: list[str] | None = None  # None: captions from any engine
    stage1_kinds: list[str] = field(default_factory=lambda: ["global", "fine"])  # stage 1: one caption of these

    def validate(self) -> None:
        if self.max_duration <= 0:
            raise ValueError(f"key 'max_duration' must be > 0 seconds, got {self.max_duration}")
        if self.num_buckets < 2:  # lhotse's DynamicBucketingSampler needs at least two
            raise ValueError(f"key 'num_buckets' must be >= 2, got {self.num_buckets}")
        if self.buffer_size < self.num_buckets:
            raise ValueError(f"key 'buffer_size' must be >= num_buckets ({self.num_buckets}), got {self.buffer_size}")
        if self.quadratic_duration is not None and self.quadratic_duration <= 0:
            raise ValueError(f"key 'quadratic_duration' must be > 0 seconds or null, got {self.quadratic_duration}")
        if not set(self.stage1_kinds) <= {"global", "fine"} or not self.stage1_kinds:
            raise ValueError("key 'stage1_kinds' must list 'global' and/or 'fine'")


class CaptionedAudioDataset(torch.utils.data.Dataset):
    """``__getitem__(cuts) -> dict``:

    - ``inputs``: (B, T, F) fbank frames or (B, S) waveforms at 16 kHz (per the speech encoder);
    - ``lengths``: (B,) frames or samples;
    - ``cut_ids``: list of B ids;
    - ``captions``: list of B dicts ``{"global": [texts], "fine": [texts]}`` (eligible captions only);
    - ``left_out``: ``{reason: count}`` of the cuts whose audio could not be used (:func:`load_clip`):
      missing, unreadable, empty or non-finite audio is left out and counted, never trained on.
    - ``styles``: list of B dicts ``{"segments": style_segments or None, "voice_quality": str or None}``
      (the frame labels of grounding come from them).
    """

    def __init__(self, input_spec: InputSpec, status: str, engines: list[str] | None):
        self.input_spec = input_spec
        self.status = status
        self.engines = engines

    def __getitem__(self, cuts: CutSet) -> dict:
        loaded, left_out = [], Counter()
        for cut in cuts.sort_by_duration(ascending=False):
            wave = load_clip(cut)
            if isinstance(wave, str):
                left_out[wave] += 1
            else:
                loaded.append((cut, wave))
        if not loaded:
            return {"inputs": torch.zeros(0), "lengths": torch.zeros(0, dtype=torch.long), "cut_ids": [],
                    "captions": [], "styles": [], "left_out": dict(left_out)}
        inputs, lengths = self.input_spec([w for _, w in loaded])
        captions = []
        for cut, _ in loaded:
            caps = get_captions(cut, status=self.status, engine=self.engines)
            captions.append({k: [c.text for c in caps if c.kind == k] for k in ("global", "fine")})
        styles = [{"segments": (c.custom or {}).get("style_segments"),
                   "voice_quality": (c.custom or {}).get("voice_quality")} for c, _ in loaded]
        return {"inputs": inputs, "lengths": lengths, "cut_ids": [c.id for c, _ in loaded], "captions": captions,
                "styles": styles, "left_out": dict(left_out)}


def load_clip(cut) -> np.ndarray | str:
    """A cut's audio as (S,) float32 at 16 kHz, or the reason it is left out of training (``"audio: ..."``)."""
    for src in cut.recording.sources:
        if src.type == "file" and not Path(src.source).is_file():
            return "audio: file not found"
    try:
        wave = cut.resample(SAMPLING_RATE).load_audio()[0]
    except Exception:  # lhotse raises many kinds (bad header, 0-byte file, ffmpeg)
        return "audio: unreadable"
    if wave.size == 0:
        return "audio: empty"
    if not np.isfinite(wave).all():
        return "audio: NaN or inf samples"
    return wave


def checked_train_manifest(data_dir: str | Path) -> Path:
    """``data_dir``'s train manifest, or ``data_dir`` itself when it is a Lhotse Shar export of one
    (:mod:`clsp.data.shar`), read through once (cuts, not audio) before the model is built: a damaged, empty or
    malformed manifest (or a repeated cut id) is a one-line error now, not a traceback mid-run."""
    if is_shar_dir(data_dir) or Path(data_dir).is_dir() and any(Path(data_dir).glob("recording.*.tar")):
        if check_shar(data_dir) == 0:
            raise ClspError(f"{data_dir}: the Shar export holds no cuts")
        return Path(data_dir)
    try:
        path = find_split_manifest(data_dir, "train")
    except ClspError as e:
        raise ClspError(f"{e}; nor is it a Lhotse Shar export (no cuts.000000.jsonl.gz)") from None
    if sum(1 for _ in read_cuts(path)) == 0:
        raise ClspError(f"{path}: the manifest holds no cuts")
    return path


def open_train_cuts(source: Path) -> CutSet:
    """The lazy CutSet of :func:`checked_train_manifest`'s answer: a manifest, or a Shar folder's shards in order
    (the same cuts in the same order as the manifest it was exported from, so the sampler makes the same batches)."""
    return read_shar(source) if source.is_dir() else read_cuts(source)


class SkipBatches(torch.utils.data.Sampler):
    """Wraps a lhotse sampler and skips its first ``skip`` batches (metadata only, no audio is read)."""

    def __init__(self, sampler: DynamicBucketingSampler, skip: int = 0):
        self.sampler = sampler
        self.skip = skip

    def __iter__(self) -> Iterator[CutSet]:
        it = iter(self.sampler)
        for _ in range(self.skip):
            next(it, None)
        self.skip = 0
        return it


def train_loader(dataset: torch.utils.data.Dataset, sampler: DynamicBucketingSampler, seed: int, epoch: int = 0,
                 skip: int = 0, num_workers: int = 0) -> torch.utils.data.DataLoader:
    """The trainer's loader for one epoch: ``sampler``'s batches of cuts (its first ``skip`` skipped, metadata only)
    through ``dataset`` in ``num_workers`` processes (0: in this one), one collated batch per step."""
    sampler.set_epoch(epoch)
    # Its own generator: a DataLoader iterator otherwise draws its base seed from the global torch RNG,
    # which would shift dropout masks after a resume.
    generator = torch.Generator().manual_seed(seed + epoch)
    return torch.utils.data.DataLoader(dataset, sampler=SkipBatches(sampler, skip), batch_size=None,
                                       num_workers=num_workers, generator=generator)


def _duration_ok(cut, low: float, high: float) -> bool:
    return low <= cut.duration <= high


def make_sampler(cuts: CutSet, cfg: DataConfig, seed: int, rank: int, world_size: int) -> DynamicBucketingSampler:
    """lhotse's bucketing sampler over the cuts within the clip-duration limits: ``num_buckets`` duration bins
    estimated from the first 2000 cuts (equal total duration per bin), full ``max_duration`` batches only.

    A ``buffer_size`` too small to fill every bucket with one batch (lhotse's own estimate: buffer_size x
    the mean bin edge / num_buckets < max_duration) is a :class:`ClspError` naming the keys: the sampler would
    otherwise draw from the few buckets that fill, or give no batch at all.
    """
    # a module-level function (not a lambda) keeps the filter picklable for DataLoader workers
    cuts = cuts.filter(partial(_duration_ok, low=cfg.min_clip_duration, high=cfg.max_clip_duration))
    try:
        sampler = DynamicBucketingSampler(
            cuts, max_duration=cfg.max_duration, num_buckets=cfg.num_buckets, shuffle=True, drop_last=True,
            world_size=world_size, rank=rank, seed=seed, sync_buckets=True, num_cuts_for_bins_estimate=2000,
            buffer_size=cfg.buffer_size, quadratic_duration=cfg.quadratic_duration,
        )
    except AssertionError:  # lhotse's bin estimate asserts num_buckets <= the number of cuts
        raise ClspError(f"fewer clips between data.min_clip_duration={cfg.min_clip_duration} and "
                        f"data.max_clip_duration={cfg.max_clip_duration} s than data.num_buckets={cfg.num_buckets}: "
                        f"lower it or use more data") from None
    bins = sampler.duration_bins
    per_bucket = cfg.buffer_size * float(np.mean(bins)) / (len(bins) + 1) if bins else float("inf")
    if per_bucket < cfg.max_duration:
        raise ClspError(f"data.buffer_size={cfg.buffer_size} cuts hold ~{per_bucket:.0f} s per bucket, less than one "
                        f"batch (data.max_duration={cfg.max_duration} s) in each of data.num_buckets="
                        f"{cfg.num_buckets}: raise data.buffer_size or lower the others")
    return sampler


def select_texts(captions: list[dict[str, list[str]]], task: str | None, rng: np.random.Generator,
                 stage1_kinds: list[str], skipped: Counter) -> tuple[list[int], list[list[str]]]:
    """Pick each clip's texts for the step; returns (kept row indices, K lists of texts, one per kept row).

    - stage 1 (``task=None``): K = 1, one caption of ``stage1_kinds`` per clip;
    - ``global_fine`` (Task 1): K = 2, [one global caption], [one fine caption];
    - ``fine_fine`` (Task 2): K = 2, [fine caption a], [a different fine caption b].

    Clips lacking the needed captions are left out and counted in ``skipped`` by reason.
    """
    keep, first, second = [], [], []
    for i, caps in enumerate(captions):
        if task is None:
            pool = [t for k in stage1_kinds for t in caps[k]]
            if not pool:
                skipped["no caption of " + "/".join(stage1_kinds)] += 1
                continue
            keep.append(i)
            first.append(pool[int(rng.integers(len(pool)))])
        elif task == TASK_GLOBAL_FINE:
            if not caps["global"] or not caps["fine"]:
                skipped["task1: no global caption" if not caps["global"] else "task1: no fine caption"] += 1
                continue
            keep.append(i)
            first.append(caps["global"][int(rng.integers(len(caps["global"])))])
            second.append(caps["fine"][int(rng.integers(len(caps["fine"])))])
        elif task == TASK_FINE_FINE:
            if len(caps["fine"]) < 2:
                skipped["task2: fewer than 2 fine captions"] += 1
                continue
            a, b = rng.choice(len(caps["fine"]), size=2, replace=False)
            keep.append(i)
            first.append(caps["fine"][int(a)])
            second.append(caps["fine"][int(b)])
        else:
            raise ValueError(f"unknown task {task!r}")
    return keep, [first] if task is None else [first, second]


def take_rows(batch: dict, rows: list[int]) -> dict:
    """The batch restricted to ``rows`` (features re-trimmed to the longest kept row)."""
    index = torch.as_tensor(rows, dtype=torch.long)
    lengths = batch["lengths"][index]
    inputs = batch["inputs"][index]
    if len(rows):
        inputs = inputs[:, : int(lengths.max())]
    return {**batch, "inputs": inputs, "lengths": lengths, "cut_ids": [batch["cut_ids"][i] for i in rows],
            "captions": [batch["captions"][i] for i in rows],
            **({"styles": [batch["styles"][i] for i in rows]} if "styles" in batch else {})}
