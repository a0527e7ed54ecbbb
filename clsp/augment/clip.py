"""One augmented copy of one clip: draw the transforms, apply them, measure the labels again, build the cut.

Order: label-changing transforms (tempo, pitch, gain) make the *clean* copy, whose style is measured with the
project's measurer; channel transforms (reverb, noise, telephone, codec) then degrade it without touching the
labels (the speaking style is the same, only the channel differs).

Labels of a copy with a label-changing transform, per labelled stretch (the cut's ``style_segments``, their times
scaled by the tempo change, or one stretch over the speech):

- an attribute a transform changes (tempo -> speaking_rate; pitch -> pitch and pitch_range; gain -> loudness) is
  intended at the level of its value in the source stretch moved by the change (rate x factor, F0 + semitones,
  level + dB), then confirmed, dropped or replaced by the measurement of the copy
  (:func:`clsp.augment.levels.honest_label`);
- any other attribute keeps its source label when the measurement confirms it (or is not near a boundary), and
  gets the measured level when the source had none;
- gender, voice quality and emotion are kept (gender is measured only when the source has none, and used only
  when the measurement decides it: ``decisions["gender"]`` is not uncertain).

Captions: a copy whose labels may have changed gets new captions written from its final labels
(:func:`clsp.style.describe.write_captions`, ``source.engine = "augment"``, status ``kept``) and none of the
source's: any caption of the source, model-written or not, may state the old rate, pitch or loudness. A copy
with channel transforms only keeps the source's labels and captions as they are (caption ids re-keyed to the
copy's cut id).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from lhotse import MonoCut, Recording, SupervisionSegment
from lhotse.audio import AudioSource
from lhotse.cut import Cut

from clsp.audio import SAMPLING_RATE
from clsp.augment import transforms as T
from clsp.augment.config import CHANNEL, LABEL_CHANGING, TRANSFORMS, AugmentConfig
from clsp.augment.levels import SCALED, honest_label, level_target
from clsp.data.captions import Caption, CaptionSource, get_captions, make_caption_id, with_captions
from clsp.data.manifest import STYLE_FIELDS
from clsp.style.describe import write_captions
from clsp.style.labels import GENDERS, LEVELS, VARYING, StyleSpan, StyleSummary
from clsp.style.measure import MeasuredStyle, measure_style

AUGMENT_MODEL = "clsp-augment-v1"
# The custom fields that describe a clip's labels (design_segments: what `clsp synth` asked the engine for).
LABEL_FIELDS: tuple[str, ...] = (*STYLE_FIELDS, "style_segments", "design_segments", "captions")
CHANGES: dict[str, tuple[str, ...]] = {"tempo": ("speaking_rate",), "pitch": ("pitch", "pitch_range"),
                                       "gain": ("loudness",)}


@dataclass(frozen=True)
class Step:
    """One transform with its drawn parameters (JSON-serialisable: it is the copy's provenance)."""

    name: str
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.params}


def known_gender(cut: Cut) -> str | None:
    """The speaker's gender from the cut's ``gender`` field or its first supervision (male/female, m/f)."""
    values = [(cut.custom or {}).get("gender")] + [s.gender for s in cut.supervisions[:1]]
    for v in values:
        if isinstance(v, str) and v.strip().lower() in ("male", "female", "m", "f"):
            v = v.strip().lower()
            return {"m": "male", "f": "female"}.get(v, v)
    return None


def transcript_of(cut: Cut) -> str | None:
    text = " ".join(s.text for s in cut.supervisions if s.text)
    return text or None


def source_summary(cut: Cut, measured: MeasuredStyle, gender: str | None) -> StyleSummary:
    """The cut's labels as a :class:`StyleSummary`: its ``style_segments``, or one span over the measured speech
    holding its clip-level labels (``varying`` ones left out)."""
    custom = cut.custom or {}
    segments = custom.get("style_segments")
    if segments:
        spans = tuple(StyleSpan(**{k: v for k, v in s.items() if k in StyleSpan.__dataclass_fields__})
                      for s in segments)
    else:
        labels = {k: custom.get(k) for k in (*SCALED, "emotion") if custom.get(k) not in (None, VARYING)}
        spans = (StyleSpan(start=round(measured.clip.start, 3), end=round(measured.clip.end, 3), **labels),)
    quality = custom.get("voice_quality")
    return StyleSummary(gender=gender, voice_quality=quality if isinstance(quality, str) else None, spans=spans)


def _uniform(rng: np.random.Generator, lo_hi: tuple[float, float], log: bool = False) -> float:
    lo, hi = lo_hi
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi)))) if log else float(rng.uniform(lo, hi))


def draw_steps(rng: np.random.Generator, cfg: AugmentConfig, measured: MeasuredStyle) -> list[Step]:
    """The transforms of one copy, in the order they are applied, with their parameters drawn from ``rng``."""
    mcfg = measured.config
    on = [name for name, p in cfg.transforms().items() if rng.random() < p]
    if not on:
        enabled = [(n, p) for n, p in cfg.transforms().items() if p > 0]
        if not enabled:
            return []
        w = np.array([p for _, p in enabled])
        on = [enabled[int(rng.choice(len(enabled), p=w / w.sum()))][0]]
    steps = []
    for name in (n for n in TRANSFORMS if n in on):
        c = getattr(cfg, name)
        if name == "tempo":
            rate = measured.speaking_rate
            if c.aim == "levels" and rate:
                target = level_target("speaking_rate", LEVELS["speaking_rate"][int(rng.integers(3))], mcfg)
                factor = float(np.clip(target * rng.uniform(0.94, 1.06) / rate, *c.factor_range))
            else:
                factor = _uniform(rng, c.factor_range, log=True)
            steps.append(Step("tempo", {"factor": round(factor, 4)}))
        elif name == "pitch":
            st = measured.clip.pitch_st
            if st is None:  # nothing voiced to shift (a whisper)
                continue
            if c.aim == "levels":
                target = level_target("pitch", LEVELS["pitch"][int(rng.integers(3))], mcfg) + rng.uniform(-1, 1)
                shift = float(np.clip(target - st, *c.semitone_range))
            else:
                shift = _uniform(rng, c.semitone_range)
            steps.append(Step("pitch", {"semitones": round(shift, 3)}))
        elif name == "gain":
            if c.aim == "levels":
                target = (level_target("loudness", LEVELS["loudness"][int(rng.integers(3))], mcfg)
                          + rng.uniform(-1.5, 1.5))
                db = float(np.clip(target - measured.rms_dbfs, *c.db_range))
            else:
                db = _uniform(rng, c.db_range)
            steps.append(Step("gain", {"db": round(db, 2)}))
        elif name == "reverb":
            steps.append(Step("reverb", {"rt60_s": round(_uniform(rng, c.rt60_range_s), 3),
                                         "direct_to_reverb_db": round(_uniform(rng, c.direct_to_reverb_db_range), 2),
                                         "seed": int(rng.integers(2**31))}))
        elif name == "noise":
            steps.append(Step("noise", {"snr_db": round(_uniform(rng, c.snr_range_db), 2),
                                        "color": c.colors[int(rng.integers(len(c.colors)))],
                                        "seed": int(rng.integers(2**31))}))
        elif name == "telephone":
            steps.append(Step("telephone", {"band_hz": list(c.band_hz)}))
        else:
            steps.append(Step("codec", {"codec": c.codecs[int(rng.integers(len(c.codecs)))],
                                        "level": round(_uniform(rng, c.level_range), 3)}))
    return steps


def apply_steps(audio: np.ndarray, steps: list[Step], cfg: AugmentConfig) -> tuple[np.ndarray, np.ndarray, list[Step]]:
    """(clean copy after the label-changing steps, final copy after the channel steps, the steps as applied: a gain
    is lowered so the peak stays under ``gain.max_peak``, a final peak over 0.999 is scaled down and recorded)."""
    clean, done = np.asarray(audio, dtype=np.float32), []
    for step in steps:
        p = dict(step.params)
        if step.name == "tempo":
            clean = T.tempo(clean, p["factor"])
        elif step.name == "pitch":
            clean = T.pitch_shift(clean, p["semitones"])
        elif step.name == "gain":
            peak = float(np.abs(clean).max())
            p["db"] = round(min(p["db"], 20 * math.log10(cfg.gain.max_peak / max(peak, 1e-9))), 2)
            clean = T.gain(clean, p["db"])
        if step.name in LABEL_CHANGING:
            done.append(Step(step.name, p))
    out = clean
    for step in steps:
        p = step.params
        if step.name == "reverb":
            out = T.reverb(out, np.random.default_rng(p["seed"]), p["rt60_s"], p["direct_to_reverb_db"])
        elif step.name == "noise":
            out = T.add_noise(out, np.random.default_rng(p["seed"]), p["snr_db"], p["color"])
        elif step.name == "telephone":
            out = T.telephone(out, tuple(p["band_hz"]))
        elif step.name == "codec":
            out = T.codec(out, p["codec"], p["level"])
        if step.name in CHANNEL:
            done.append(step)
    peak = float(np.abs(out).max()) if len(out) else 0.0
    if peak > 0.999:
        out = out * (0.999 / peak)
        done.append(Step("limit", {"db": round(20 * math.log10(0.999 / peak), 2)}))
    return clean, out.astype(np.float32), done


def _moved(attribute: str, value: float | None, steps: list[Step]) -> float | None:
    """``value`` (the source's, see :func:`clsp.augment.levels.value_of`) after the label-changing ``steps``."""
    if value is None:
        return None
    for s in steps:
        if s.name == "tempo" and attribute == "speaking_rate":
            value *= s.params["factor"]
        elif s.name == "pitch" and attribute == "pitch":
            value += s.params["semitones"]
        elif s.name == "pitch" and attribute == "pitch_range":
            value *= 2 ** (s.params["semitones"] / 12)
        elif s.name == "gain" and attribute == "loudness":
            value += s.params["db"]
    return value


def relabel(source: StyleSummary, before: MeasuredStyle, after: MeasuredStyle, steps: list[Step],
            time_scale: float) -> tuple[StyleSummary, list[dict[str, str]]]:
    """The copy's labels (see the module docstring) and, per span, the decision for each attribute."""
    changed = {a for s in steps for a in CHANGES.get(s.name, ())}
    spans, decisions = [], []
    for span in source.spans:
        start, end = span.start * time_scale, span.end * time_scale
        w0, w1 = before.window(span.start, span.end), after.window(start, end)
        labels, decided = {}, {}
        for attr in SCALED:
            if attr in changed:
                moved = _moved(attr, before.window_value(attr, w0), steps)
                intended = before.level(attr, moved) if moved is not None else None
            else:
                intended = getattr(span, attr)
            labels[attr], decided[attr] = honest_label(intended, after.decide(attr, after.window_value(attr, w1)))
        spans.append(StyleSpan(start=round(start, 3), end=round(end, 3), emotion=span.emotion, **labels))
        decisions.append(decided)
    return StyleSummary(gender=source.gender, voice_quality=source.voice_quality, spans=tuple(spans)), decisions


def captions_for(cut_id: str, summary: StyleSummary, rng: np.random.Generator, n_global: int, n_fine: int,
                 seed: int) -> list[Caption]:
    """Captions written from ``summary``'s labels (engine ``augment``, status ``kept``)."""
    globals_, fines = write_captions(summary, rng, n_global, n_fine)
    source = CaptionSource(engine="augment", model=AUGMENT_MODEL, prompt_id="templates", seed=seed)
    return [Caption(id=make_caption_id(cut_id, kind, source, i), kind=kind, text=text, source=source, status="kept")
            for kind, texts in (("global", globals_), ("fine", fines)) for i, text in enumerate(texts)]


def rekeyed_captions(cut: Cut, new_id: str) -> list[Caption]:
    """The cut's captions with ids moved to ``new_id`` (the copy of a caption keeps its text and status)."""
    out = []
    for c in get_captions(cut):
        cid = new_id + c.id[len(cut.id):] if c.id.startswith(cut.id) else f"{new_id}/{c.id}"
        out.append(Caption(id=cid, kind=c.kind, text=c.text, source=c.source, status=c.status, reasons=c.reasons))
    return out


def summary_fields(summary: StyleSummary) -> dict[str, Any]:
    """The cut custom fields that hold ``summary``'s labels (None values left out)."""
    fields: dict[str, Any] = {"gender": summary.gender, "voice_quality": summary.voice_quality}
    for name in (*SCALED, "emotion"):
        fields[name] = summary.label(name)
    fields = {k: v for k, v in fields.items() if v is not None}
    fields["style_segments"] = [s.to_dict() for s in summary.spans]
    return fields


def make_cut(source: Cut, new_id: str, path: Path, num_samples: int, custom: dict[str, Any]) -> MonoCut:
    """A 16 kHz mono cut over the file ``path`` with one supervision (the source's transcript and speaker)."""
    duration = num_samples / SAMPLING_RATE
    recording = Recording(id=new_id, sources=[AudioSource(type="file", channels=[0], source=str(path.resolve()))],
                          sampling_rate=SAMPLING_RATE, num_samples=num_samples, duration=duration)
    first = source.supervisions[0] if source.supervisions else None
    gender = custom.get("gender")
    supervision = SupervisionSegment(
        id=new_id, recording_id=new_id, start=0.0, duration=duration, channel=0, text=transcript_of(source),
        language=first.language if first else None, speaker=first.speaker if first else None,
        gender=gender if gender in GENDERS else (first.gender if first else None))
    return MonoCut(id=new_id, start=0.0, duration=duration, channel=0, recording=recording,
                   supervisions=[supervision], custom=custom)


def augment_copy(cut: Cut, audio: np.ndarray, measured: MeasuredStyle, steps: list[Step], cfg: AugmentConfig,
                 new_id: str, wav_dir: Path, rng: np.random.Generator, n_global: int,
                 n_fine: int, seed: int, extra: dict[str, Any] | None = None) -> tuple[MonoCut, dict[str, Any]]:
    """Apply ``steps`` to ``audio`` (the cut's, 16 kHz mono; ``measured`` its measurement), write
    ``wav_dir/<new_id>.wav`` and return the copy's cut and its provenance (the ``augmentation`` custom field)."""
    clean, final, done = apply_steps(audio, steps, cfg)
    gender = known_gender(cut)
    if gender is None:
        gender = measured.decisions["gender"].label  # None when the measurement cannot decide
    source = source_summary(cut, measured, gender)
    provenance: dict[str, Any] = {"source_cut": cut.id, "steps": [s.to_dict() for s in done], "seed": seed,
                                  **(extra or {})}
    custom = {k: v for k, v in (cut.custom or {}).items() if k not in LABEL_FIELDS}
    if any(s.name in LABEL_CHANGING for s in done):
        after = measure_style(clean, SAMPLING_RATE, transcript=transcript_of(cut), gender=gender)
        summary, decisions = relabel(source, measured, after, done, len(clean) / len(audio))
        custom.update(summary_fields(summary))
        provenance["labels"] = decisions
        captions = captions_for(new_id, summary, rng, n_global, n_fine, seed)
    else:
        custom.update({k: v for k, v in (cut.custom or {}).items() if k in (*STYLE_FIELDS, "style_segments")})
        captions = rekeyed_captions(cut, new_id)
    custom["augmentation"] = provenance
    path = wav_dir / f"{new_id}.wav"
    sf.write(path, final, SAMPLING_RATE, subtype="PCM_16")
    return with_captions(make_cut(cut, new_id, path, len(final), custom), captions), provenance
