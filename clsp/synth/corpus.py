"""``clsp synth``: a multi-source synthetic speaking-style corpus with measured labels, made offline.

Output directory layout::

    OUT/wavs/<cut_id>.wav                16 kHz mono PCM-16
    OUT/cuts_{train,dev,test}.jsonl.gz   lhotse CutSet manifests (see clsp.data.manifest)
    OUT/cuts_heldout.jsonl.gz            every clip of the held-out source (when ``heldout_source`` is set)
    OUT/voices.json                      the voices used: source, gender, split, natural F0 and rate, clips
    OUT/synth.json                       the config used, counts per split and source, label decisions, time

How a clip is made:

1. **Where it goes.** The held-out source's clips all go to ``heldout`` (its voices never reach training); the
   other clips are split train/dev/test by ``dev_fraction``/``test_fraction`` and shared among the sources that
   have voices in that split, by weight. Splits are by voice group (:func:`voice_splits`): a source's groups of
   each gender are ordered by a hash of their name and the first ``voice_test_fraction`` / ``voice_dev_fraction``
   go to test / dev (sources with fewer than 3 groups of a gender keep them in train). Each clip draws a gender
   (uniformly among those the split's source has) and then a voice.
2. **What it says and how** (:mod:`clsp.synth.styles`): levels set relative to the voice's natural pitch and
   rate and through its pitch response (:mod:`clsp.synth.calibrate`), rendered by the source's backend
   (:mod:`clsp.synth.backends`), each modal segment checked against its F0 target and corrected when it misses
   (:mod:`clsp.synth.aim`).
3. **Labels measured again**: the clip is measured with :func:`clsp.style.measure.measure_style` (the voice's
   gender given); each designed segment's label is kept when the measurement agrees, replaced by the measured
   level when it clearly differs, and dropped when the measured value lies near a level boundary
   (:func:`clsp.augment.levels.honest_label`). ``design_segments`` keeps what was asked for; captions are written
   from the final labels.
4. **Augmentation** (training split only, ``augment`` section): a share of the clips get a copy through
   :mod:`clsp.augment` (tempo, pitch, gain, channel), labels measured again, so rate means tempo and pitch
   means F0 whatever the engine.

Every clip is drawn from ``numpy.random.default_rng([seed, index])``, so the corpus is identical for a given seed
whatever the number of workers.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from lhotse import MonoCut, Recording, SupervisionSegment
from lhotse.audio import AudioSource
from tqdm import tqdm

from clsp.audio import SAMPLING_RATE
from clsp.augment.clip import augment_copy, draw_steps
from clsp.augment.config import AugmentConfig
from clsp.augment.levels import SCALED, honest_label
from clsp.config import to_dict
from clsp.data.captions import Caption, CaptionSource, make_caption_id, with_captions
from clsp.data.manifest import HELDOUT_SPLIT, SPLITS, split_manifest_path, write_cuts
from clsp.errors import ClspError
from clsp.parallel import process_pool
from clsp.style.describe import write_captions
from clsp.style.labels import EMOTIONS, QUALITIES, StyleSpan, StyleSummary
from clsp.style.measure import MeasureConfig, measure_style
from clsp.synth.backends import BACKENDS, VoiceSpec, get_backend
from clsp.synth.calibrate import calibrate
from clsp.synth.aim import render_segment
from clsp.synth.styles import ClipPlan, plan_clip

SYNTH_MODEL = "clsp-synth-v1"


@dataclass
class SourceConfig:
    """One voice source (engine) of the corpus."""

    weight: float = 1.0  # share of the clips, relative to the other sources
    voices: list[str] = field(default_factory=lambda: ["*"])  # voice-name patterns (fnmatch) to use
    exclude: list[str] = field(default_factory=list)  # voice-name patterns to leave out

    def validate(self) -> None:
        if self.weight <= 0:
            raise ValueError(f"key 'weight' must be > 0, got {self.weight}")
        if not self.voices:
            raise ValueError("key 'voices' must name at least one pattern (e.g. '*')")


def _default_sources() -> dict[str, SourceConfig]:
    return {"espeak": SourceConfig(weight=0.69), "piper": SourceConfig(weight=0.08), "flite": SourceConfig(weight=0.23)}


def _default_augment() -> AugmentConfig:
    return AugmentConfig(fraction=0.5, include_original=False)


@dataclass
class SynthConfig:
    """Settings of ``clsp synth`` (``configs/synth-demo.yaml``)."""

    num_clips: int = 1000
    seed: int = 0
    sources: dict[str, SourceConfig] = field(default_factory=_default_sources)
    heldout_source: str | None = "flite"  # every clip of this source goes to cuts_heldout, never to training
    dev_fraction: float = 0.1  # of the clips outside the held-out source
    test_fraction: float = 0.1
    voice_dev_fraction: float = 0.15  # of each source's voice groups per gender
    voice_test_fraction: float = 0.15
    change_fraction: float = 0.3  # clips whose style changes inside (2-3 segments)
    max_segments: int = 3
    num_global_captions: int = 4
    num_fine_captions: int = 4
    emotion_weights: dict[str, float] = field(
        default_factory=lambda: {"neutral": 0.4, "happy": 0.15, "sad": 0.15, "angry": 0.15, "calm": 0.15}
    )
    quality_weights: dict[str, float] = field(default_factory=lambda: {"modal": 0.8, "whisper": 0.1, "creaky": 0.1})
    augment: AugmentConfig = field(default_factory=_default_augment)  # training split only
    workers: int = 2

    def validate(self) -> None:
        if self.num_clips < 1:
            raise ValueError(f"key 'num_clips' must be >= 1, got {self.num_clips}")
        for name in ("dev_fraction", "test_fraction", "change_fraction", "voice_dev_fraction", "voice_test_fraction"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"key '{name}' must be in [0, 1), got {getattr(self, name)}")
        if self.dev_fraction + self.test_fraction >= 1:
            raise ValueError("keys 'dev_fraction' + 'test_fraction' must be < 1")
        if self.voice_dev_fraction + self.voice_test_fraction >= 1:
            raise ValueError("keys 'voice_dev_fraction' + 'voice_test_fraction' must be < 1")
        if not self.sources:
            raise ValueError("key 'sources' must name at least one voice source")
        unknown = set(self.sources) - set(BACKENDS)
        if unknown:
            raise ValueError(f"key 'sources' has unknown entries {sorted(unknown)} (expected: {', '.join(BACKENDS)})")
        if self.heldout_source is not None:
            if self.heldout_source not in self.sources:
                raise ValueError(f"key 'heldout_source' must be one of the sources ({', '.join(self.sources)}), "
                                 f"got {self.heldout_source!r}")
            if len(self.sources) < 2:
                raise ValueError("key 'heldout_source' needs at least one other source to train on")
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


def _stable_order(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()


def voice_splits(voices: list[VoiceSpec], cfg: SynthConfig) -> dict[str, str]:
    """Split of each voice id: the held-out source's voices -> ``heldout``; a fixed ``voice.split`` is kept; else
    by group, per (source, gender), in the hash order of the group names (independent of the seed)."""
    out: dict[str, str] = {}
    groups: dict[tuple[str, str], set[str]] = {}
    for v in voices:
        if v.source == cfg.heldout_source:
            out[v.id] = HELDOUT_SPLIT
        elif v.split is not None:
            out[v.id] = v.split
        else:
            groups.setdefault((v.source, v.gender), set()).add(v.group)
    group_split: dict[tuple[str, str], str] = {}
    for (source, _), names in groups.items():
        ordered = sorted(names, key=lambda g: _stable_order(f"{source}:{g}"))
        n = len(ordered)
        n_test = int(round(n * cfg.voice_test_fraction)) if n >= 3 else 0
        n_dev = int(round(n * cfg.voice_dev_fraction)) if n >= 3 else 0
        for i, g in enumerate(ordered):
            group_split[(source, g)] = "test" if i < n_test else "dev" if i < n_test + n_dev else "train"
    for v in voices:
        out.setdefault(v.id, group_split.get((v.source, v.group), "train"))
    return out


def _share(n: int, weights: dict[str, float]) -> dict[str, int]:
    """``n`` split in proportion to ``weights`` (largest remainder, ties by name)."""
    total = sum(weights.values())
    raw = {k: n * w / total for k, w in weights.items()}
    out = {k: int(np.floor(v)) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: (out[k] - raw[k], k))[: n - sum(out.values())]:
        out[k] += 1
    return out


def select_voices(cfg: SynthConfig, workdir: str) -> list[VoiceSpec]:
    """Every voice of the configured sources that the patterns select (uncalibrated, stable order)."""
    chosen = []
    for source, scfg in cfg.sources.items():
        voices = [v for v in get_backend(source, workdir).voices()
                  if any(fnmatch.fnmatchcase(v.name, p) for p in scfg.voices)
                  and not any(fnmatch.fnmatchcase(v.name, p) for p in scfg.exclude)]
        if not voices:
            raise ClspError(f"voice source {source!r}: no voice matches {scfg.voices} (minus {scfg.exclude})")
        chosen.extend(voices)
    return chosen


def assign_clips(cfg: SynthConfig, voices: list[VoiceSpec], splits: dict[str, str]) -> list[tuple[str, VoiceSpec]]:
    """(split, voice) of each clip index: train, dev, test, then held-out clips; sources shuffled within a split;
    each clip's gender and voice drawn from ``default_rng([seed, index, 1])``."""
    pools: dict[tuple[str, str], dict[str, list[VoiceSpec]]] = {}
    for v in voices:
        pools.setdefault((splits[v.id], v.source), {}).setdefault(v.gender, []).append(v)
    weights = {s: c.weight for s, c in cfg.sources.items()}
    n_held = _share(cfg.num_clips, weights)[cfg.heldout_source] if cfg.heldout_source else 0
    rest = cfg.num_clips - n_held
    n_test, n_dev = int(round(rest * cfg.test_fraction)), int(round(rest * cfg.dev_fraction))
    plan = [("train", rest - n_test - n_dev), ("dev", n_dev), ("test", n_test), (HELDOUT_SPLIT, n_held)]
    order = np.random.default_rng([cfg.seed, 2**31 - 1])
    slots: list[tuple[str, str]] = []
    for split, n in plan:
        have = {s: w for s, w in weights.items() if (split, s) in pools}
        if n and not have:
            raise ClspError(f"no voice source has voices in the {split!r} split (sources: {', '.join(weights)})")
        entries = [(split, s) for s, k in _share(n, have).items() for _ in range(k)] if n else []
        slots.extend(entries[i] for i in order.permutation(len(entries)))
    out = []
    for index, (split, source) in enumerate(slots):
        rng = np.random.default_rng([cfg.seed, index, 1])
        by_gender = pools[(split, source)]
        genders = sorted(by_gender)
        gender = genders[int(rng.integers(len(genders)))]
        out.append((split, by_gender[gender][int(rng.integers(len(by_gender[gender])))]))
    return out


def cut_id_for(seed: int, index: int, voice: VoiceSpec) -> str:
    return f"synth{seed}-{index:06d}-{voice.source}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', voice.name)}"


def _relabel(plan: ClipPlan, spans: list[StyleSpan], audio: np.ndarray,
             transcript: str) -> tuple[StyleSummary, Any, list[dict[str, str]]]:
    """The measured, honest labels of the designed ``spans`` (see the module docstring)."""
    m = measure_style(audio, SAMPLING_RATE, transcript=transcript, gender=plan.voice.gender)
    final, decisions = [], []
    for span in spans:
        w = m.window(span.start, span.end)
        labels, decided = {}, {}
        for attr in SCALED:
            intended = getattr(span, attr)
            if intended is None:  # not applicable (a whisper's pitch): stays so
                labels[attr], decided[attr] = None, "unmeasured"
            else:
                labels[attr], decided[attr] = honest_label(intended, m.decide(attr, m.window_value(attr, w)))
        final.append(StyleSpan(start=span.start, end=span.end, emotion=span.emotion, **labels))
        decisions.append(decided)
    return StyleSummary(gender=plan.voice.gender, voice_quality=plan.quality, spans=tuple(final)), m, decisions


def _render_clip(args: tuple[SynthConfig, int, str, VoiceSpec, str, str]) -> dict[str, Any]:
    cfg, index, split, voice, out_dir, workdir = args
    rng = np.random.default_rng([cfg.seed, index])
    plan = plan_clip(rng, voice, cfg.change_fraction, cfg.max_segments, cfg.emotion_weights, cfg.quality_weights,
                     MeasureConfig())
    cut_id = cut_id_for(cfg.seed, index, voice)
    pieces, design, aims = [], [], []
    t = 0.0
    for k, seg in enumerate(plan.segments):
        silence = np.zeros(int(plan.pauses[k] * SAMPLING_RATE), dtype=np.float32)
        pieces.append(silence)
        t += len(silence) / SAMPLING_RATE
        audio, aim = render_segment(get_backend(voice.source, workdir), voice, seg, plan.quality)
        aims.append(aim)
        pieces.append(audio)
        start, t = t, t + len(audio) / SAMPLING_RATE
        whisper = plan.quality == "whisper"
        design.append(StyleSpan(start=round(start, 3), end=round(t, 3), pitch=None if whisper else seg.pitch,
                                pitch_range=None if whisper else seg.pitch_range, speaking_rate=seg.speaking_rate,
                                loudness=seg.loudness, emotion=seg.emotion))
    pieces.append(np.zeros(int(plan.pauses[-1] * SAMPLING_RATE), dtype=np.float32))
    wav = np.concatenate(pieces)
    transcript = " ".join(s.text for s in plan.segments)
    summary, measured, decisions = _relabel(plan, design, wav, transcript)
    path = Path(out_dir) / "wavs" / f"{cut_id}.wav"
    sf.write(path, wav, SAMPLING_RATE, subtype="PCM_16")
    cut = _make_cut(cfg, cut_id, split, path, len(wav), plan, transcript, summary, design, rng)
    result = {"cuts": [], "decisions": {voice.source: decisions}, "pitch_aim": {voice.source: aims}, "copies": 0}
    if split == "train" and cfg.augment.fraction > 0 and rng.random() < cfg.augment.fraction:
        wav16 = sf.read(path, dtype="float32")[0]  # what was written (PCM-16), so a rerun from disk agrees
        for k in range(cfg.augment.copies):
            steps = draw_steps(rng, cfg.augment, measured)
            copy, _ = augment_copy(cut, wav16, measured, steps, cfg.augment, f"{cut_id}-aug{k}",
                                   Path(out_dir) / "wavs", rng, cfg.num_global_captions, cfg.num_fine_captions,
                                   cfg.seed)
            result["cuts"].append(copy.to_dict())
            result["copies"] += 1
        if not cfg.augment.include_original:
            path.unlink()
            return result
    result["cuts"].insert(0, cut.to_dict())
    return result


def _make_cut(cfg: SynthConfig, cut_id: str, split: str, path: Path, num_samples: int, plan: ClipPlan,
              transcript: str, summary: StyleSummary, design: list[StyleSpan], rng: np.random.Generator) -> MonoCut:
    duration = num_samples / SAMPLING_RATE
    recording = Recording(
        id=cut_id,
        sources=[AudioSource(type="file", channels=[0], source=str(path.resolve()))],
        sampling_rate=SAMPLING_RATE,
        num_samples=num_samples,
        duration=duration,
    )
    supervision = SupervisionSegment(
        id=cut_id, recording_id=cut_id, start=0.0, duration=duration, channel=0, text=transcript,
        language="English", speaker=plan.voice.id, gender=plan.voice.gender,
    )
    custom: dict[str, Any] = {"split": split, "source": plan.voice.source, "gender": plan.voice.gender,
                              "voice_quality": plan.quality}
    for name in ("pitch", "pitch_range", "speaking_rate", "loudness", "emotion"):
        value = summary.label(name)
        if value is not None:
            custom[name] = value
    custom["style_segments"] = [s.to_dict() for s in summary.spans]
    custom["design_segments"] = [s.to_dict() for s in design]
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


def _splits_of(cfg: SynthConfig) -> tuple[str, ...]:
    return (*SPLITS, HELDOUT_SPLIT) if cfg.heldout_source else SPLITS


def synthesize_corpus(cfg: SynthConfig, out_dir: str | Path, progress: bool = True,
                      overwrite: bool = False) -> dict[str, Any]:
    """Write the corpus to ``out_dir``; returns the summary also saved as ``synth.json``.

    When ``out_dir`` already holds a finished corpus made with the same config, nothing is redone.
    """
    from lhotse.serialization import deserialize_item

    out = Path(out_dir)
    marker = out / "synth.json"
    wanted = json.loads(json.dumps({k: v for k, v in to_dict(cfg).items() if k != "workers"}))
    if marker.is_file() and not overwrite:
        done = json.loads(marker.read_text())
        if done.get("config") == wanted and all(split_manifest_path(out, s).is_file() for s in _splits_of(cfg)):
            done["reused"] = True
            return done
    (out / "wavs").mkdir(parents=True, exist_ok=True)
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="clsp-synth-") as workdir, process_pool(cfg.workers) as pool:
        for source in cfg.sources:
            get_backend(source, workdir).prepare()
        candidates = select_voices(cfg, workdir)
        calibrated: dict[str, VoiceSpec | None] = {}
        for source in cfg.sources:
            calibrated.update(calibrate([v for v in candidates if v.source == source], workdir, pool))
        voices = [calibrated[v.id] for v in candidates if calibrated[v.id] is not None]
        left_out = sorted(v.id for v in candidates if calibrated[v.id] is None)
        splits = voice_splits(voices, cfg)
        clips = assign_clips(cfg, voices, splits)
        jobs = [(cfg, i, split, voice, str(out), workdir) for i, (split, voice) in enumerate(clips)]
        bar = tqdm(total=len(jobs), desc="synth", unit="clip", disable=not progress)
        results: list[dict[str, Any]] = []
        for res in pool.map(_render_clip, jobs, chunksize=4):
            results.append(res)
            bar.update()
        bar.close()
    by_split: dict[str, list] = {s: [] for s in _splits_of(cfg)}
    decisions: dict[str, dict[str, Counter[str]]] = {}
    aims: dict[str, Counter[str]] = {}
    for res in results:
        for source, outcomes in res["pitch_aim"].items():
            aims.setdefault(source, Counter()).update(outcomes)
        for raw in res["cuts"]:
            by_split[raw["custom"]["split"]].append(deserialize_item(raw))
        for source, spans in res["decisions"].items():
            for span in spans:
                for attr, d in span.items():
                    decisions.setdefault(source, {}).setdefault(attr, Counter())[d] += 1
    counts = {}
    for split, cuts in by_split.items():
        write_cuts(cuts, split_manifest_path(out, split))
        counts[split] = {
            "clips": len(cuts),
            "hours": round(sum(c.duration for c in cuts) / 3600, 4),
            "voices": len({c.supervisions[0].speaker for c in cuts}),
            "sources": dict(sorted(Counter(c.custom["source"] for c in cuts).items())),
            "augmented": sum(1 for c in cuts if "augmentation" in c.custom),
        }
    used = Counter(voice.id for _, voice in clips)
    (out / "voices.json").write_text(json.dumps({
        "voices": [{**v.to_dict(), "split": splits[v.id], "clips": used[v.id]} for v in voices if used[v.id]],
        "left_out": left_out}, indent=1))
    summary = {"config": wanted, "splits": counts,
               "labels": {s: {a: dict(sorted(c.items())) for a, c in sorted(d.items())}
                          for s, d in sorted(decisions.items())},
               "pitch_aim": {s: dict(sorted(c.items())) for s, c in sorted(aims.items())},
               "seconds": round(time.time() - start, 1), "reused": False}
    marker.write_text(json.dumps(summary, indent=2))
    return summary
