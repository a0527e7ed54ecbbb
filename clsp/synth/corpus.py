"""``clsp synth``: a synthetic speaking-style corpus with known labels, made offline.

Output directory layout::

    OUT/wavs/<cut_id>.wav          16 kHz mono PCM-16
    OUT/cuts_{train,dev,test}.jsonl.gz   lhotse CutSet manifests (see clsp.data.manifest)
    OUT/synth.json                 the config used and counts

Every clip is drawn from ``numpy.random.default_rng([seed, index])``, so the corpus is identical
for a given seed whatever the number of workers. Splits are by voice (see voices.py).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from lhotse import MonoCut, Recording, SupervisionSegment
from lhotse.audio import AudioSource
from tqdm import tqdm

from clsp.config import to_dict
from clsp.data.captions import Caption, CaptionSource, make_caption_id, with_captions
from clsp.data.manifest import SPLITS, split_manifest_path, write_cuts
from clsp.outputs import refuse_nonempty
from clsp.style.describe import write_captions
from clsp.style.labels import EMOTIONS, QUALITIES, StyleSpan, StyleSummary
from clsp.synth.render import SAMPLING_RATE, render_segment
from clsp.synth.styles import ClipPlan, plan_clip
from clsp.synth.voices import VOICES, Voice, prepare_voice_dir, voices_for_split

SYNTH_MODEL = "clsp-synth-v1"


@dataclass
class SynthConfig:
    """Settings of ``clsp synth`` (``configs/synth-demo.yaml``)."""

    num_clips: int = 1000
    seed: int = 0
    dev_fraction: float = 0.1
    test_fraction: float = 0.1
    change_fraction: float = 0.3  # clips whose style changes inside (2-3 segments)
    max_segments: int = 3
    num_global_captions: int = 4
    num_fine_captions: int = 4
    emotion_weights: dict[str, float] = field(
        default_factory=lambda: {"neutral": 0.4, "happy": 0.15, "sad": 0.15, "angry": 0.15, "calm": 0.15}
    )
    quality_weights: dict[str, float] = field(default_factory=lambda: {"modal": 0.8, "whisper": 0.1, "creaky": 0.1})
    workers: int = 2

    def validate(self) -> None:
        if self.num_clips < 1:
            raise ValueError(f"key 'num_clips' must be >= 1, got {self.num_clips}")
        for name in ("dev_fraction", "test_fraction", "change_fraction"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"key '{name}' must be in [0, 1), got {getattr(self, name)}")
        if self.dev_fraction + self.test_fraction >= 1:
            raise ValueError("keys 'dev_fraction' + 'test_fraction' must be < 1")
        if not 1 <= self.max_segments <= 3:
            raise ValueError(f"key 'max_segments' must be 1, 2 or 3, got {self.max_segments}")
        for name, allowed in (("emotion_weights", EMOTIONS), ("quality_weights", QUALITIES)):
            weights = getattr(self, name)
            bad = set(weights) - set(allowed)
            if bad:
                raise ValueError(f"key '{name}' has unknown entries {sorted(bad)} (expected: {', '.join(allowed)})")
            if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
                raise ValueError(f"key '{name}' needs non-negative weights with a positive sum")
        if self.workers < 1:
            raise ValueError(f"key 'workers' must be >= 1, got {self.workers}")


def assign_clips(cfg: SynthConfig) -> list[tuple[str, Voice]]:
    """(split, voice) for each clip index; voices are used round-robin within a split."""
    n_test = int(round(cfg.num_clips * cfg.test_fraction))
    n_dev = int(round(cfg.num_clips * cfg.dev_fraction))
    n_train = cfg.num_clips - n_test - n_dev
    rng = np.random.default_rng([cfg.seed, 2**31 - 1])
    out: list[tuple[str, Voice]] = []
    for split, n in (("train", n_train), ("dev", n_dev), ("test", n_test)):
        voices = voices_for_split(split)
        order = [voices[i] for i in rng.permutation(len(voices))]
        out.extend((split, order[i % len(order)]) for i in range(n))
    return out


def cut_id_for(seed: int, index: int, voice: Voice) -> str:
    return f"synth{seed}-{index:06d}-{voice.name}"


def _render_clip(args: tuple[SynthConfig, int, str, str, str, str]) -> dict[str, Any]:
    cfg, index, split, voice_name, out_dir, voice_dir = args
    voice = next(v for v in VOICES if v.name == voice_name)
    rng = np.random.default_rng([cfg.seed, index])
    plan = plan_clip(rng, voice, cfg.change_fraction, cfg.max_segments, cfg.emotion_weights, cfg.quality_weights)
    cut_id = cut_id_for(cfg.seed, index, voice)
    pieces, spans = [], []
    t = 0.0
    for k, seg in enumerate(plan.segments):
        silence = np.zeros(int(plan.pauses[k] * SAMPLING_RATE), dtype=np.float32)
        pieces.append(silence)
        t += len(silence) / SAMPLING_RATE
        audio = render_segment(seg.text, voice, plan.quality, seg.params, voice_dir)
        pieces.append(audio)
        start, t = t, t + len(audio) / SAMPLING_RATE
        spans.append(
            StyleSpan(
                start=round(start, 3),
                end=round(t, 3),
                pitch=None if plan.quality == "whisper" else seg.pitch,
                pitch_range=None if plan.quality == "whisper" else seg.pitch_range,
                speaking_rate=seg.speaking_rate,
                loudness=seg.loudness,
                emotion=seg.emotion,
            )
        )
    pieces.append(np.zeros(int(plan.pauses[-1] * SAMPLING_RATE), dtype=np.float32))
    wav = np.concatenate(pieces)
    path = Path(out_dir) / "wavs" / f"{cut_id}.wav"
    sf.write(path, wav, SAMPLING_RATE, subtype="PCM_16")
    summary = StyleSummary(gender=voice.gender, voice_quality=plan.quality, spans=tuple(spans))
    return _make_cut(cfg, cut_id, split, path, len(wav), plan, summary, rng).to_dict()


def _make_cut(cfg: SynthConfig, cut_id: str, split: str, path: Path, num_samples: int, plan: ClipPlan,
              summary: StyleSummary, rng: np.random.Generator) -> MonoCut:
    duration = num_samples / SAMPLING_RATE
    recording = Recording(
        id=cut_id,
        sources=[AudioSource(type="file", channels=[0], source=str(path.resolve()))],
        sampling_rate=SAMPLING_RATE,
        num_samples=num_samples,
        duration=duration,
    )
    transcript = " ".join(s.text for s in plan.segments)
    supervision = SupervisionSegment(
        id=cut_id, recording_id=cut_id, start=0.0, duration=duration, channel=0, text=transcript,
        language="English", speaker=plan.voice.name, gender=plan.voice.gender,
    )
    custom: dict[str, Any] = {"split": split, "gender": plan.voice.gender, "voice_quality": plan.quality}
    for name in ("pitch", "pitch_range", "speaking_rate", "loudness", "emotion"):
        value = summary.label(name)
        if value is not None:
            custom[name] = value
    custom["style_segments"] = [s.to_dict() for s in summary.spans]
    cut = MonoCut(id=cut_id, start=0.0, duration=duration, channel=0, recording=recording,
                  supervisions=[supervision], custom=custom)
    globals_, fines = write_captions(summary, rng, cfg.num_global_captions, cfg.num_fine_captions)
    source = CaptionSource(engine="synth", model=SYNTH_MODEL, prompt_id="templates", seed=cfg.seed)
    captions = [
        Caption(id=make_caption_id(cut_id, kind, source, i), kind=kind, text=text, source=source, status="kept")
        for kind, texts in (("global", globals_), ("fine", fines))
        for i, text in enumerate(texts)
    ]
    return with_captions(cut, captions)


def synthesize_corpus(cfg: SynthConfig, out_dir: str | Path, progress: bool = True,
                      overwrite: bool = False) -> dict[str, Any]:
    """Write the corpus to ``out_dir``; returns the summary also saved as ``synth.json``.

    When ``out_dir`` already holds a finished corpus made with the same config, nothing is redone; any other
    non-empty ``out_dir`` is refused unless ``overwrite``.
    """
    from lhotse.serialization import deserialize_item

    out = Path(out_dir)
    marker = out / "synth.json"
    wanted = to_dict(cfg)
    wanted.pop("workers")
    if marker.is_file() and not overwrite:
        done = json.loads(marker.read_text())
        if done.get("config") == wanted and all(split_manifest_path(out, s).is_file() for s in SPLITS):
            done["reused"] = True
            return done
    refuse_nonempty(out, overwrite)
    (out / "wavs").mkdir(parents=True, exist_ok=True)
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="clsp-espeak-") as tmp:
        voice_dir = str(prepare_voice_dir(tmp))
        jobs = [(cfg, i, split, voice.name, str(out), voice_dir) for i, (split, voice) in enumerate(assign_clips(cfg))]
        bar = tqdm(total=len(jobs), desc="synth", unit="clip", disable=not progress)
        results: list[dict[str, Any]] = []
        if cfg.workers == 1:
            for job in jobs:
                results.append(_render_clip(job))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=min(cfg.workers, os.cpu_count() or 1)) as pool:
                for res in pool.map(_render_clip, jobs, chunksize=8):
                    results.append(res)
                    bar.update()
        bar.close()
    by_split: dict[str, list] = {s: [] for s in SPLITS}
    for raw in results:
        by_split[raw["custom"]["split"]].append(deserialize_item(raw))
    counts = {}
    for split, cuts in by_split.items():
        write_cuts(cuts, split_manifest_path(out, split))
        counts[split] = {
            "clips": len(cuts),
            "hours": round(sum(c.duration for c in cuts) / 3600, 4),
            "voices": sorted({c.supervisions[0].speaker for c in cuts}),
        }
    summary = {"config": wanted, "splits": counts, "seconds": round(time.time() - start, 1), "reused": False}
    marker.write_text(json.dumps(summary, indent=2))
    return summary
