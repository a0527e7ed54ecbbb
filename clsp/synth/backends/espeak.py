"""espeak-ng voices: every English language variant x every voice variant with a gender, plus our formant-scaled
speakers.

- Language variants: the ``gmw/`` voices that ``espeak-ng --voices=en`` lists (en-us, en-gb, en-gb-scotland,
  en-gb-x-rp, en-gb-x-gbclan, en-gb-x-gbcwmd, en-029, en-us-nyc, ...; MBROLA voices are left out: they need the
  separate ``mbrola`` program and its voices).
- Voice variants: the files in espeak-ng-data/voices/!v whose ``gender`` line says male or female (m1..m8,
  f1..f5 and named ones such as Alicia, Andy, steph), but not the whisper variants (``voicing`` under 25:
  whisper, whisperf); ``en-gb-x-rp+f3`` is language en-gb-x-rp spoken with variant f3 (rendered by the
  language's voice file, ``-v gmw/en-GB-x-rp+f3``: espeak-ng ignores the variant of ``-v en-gb+f3``). Variants without a
  gender line are left out (their gender would be a guess). All language variants of one voice variant form one
  group (one speaker identity, one split).
- Our speakers (``clsp_m00`` ... ``clsp_f11``, :mod:`clsp.synth.voices`): formant-scaled en-us variants with a
  whisper and a creaky version each; they keep their fixed train/dev/test split.

Controls: rate by ``-s`` (175 words per minute is espeak-ng's default, so ``-s = 175 x rate``), pitch by ``-p``
(:data:`PITCH_CURVE`: semitones re ``-p 50``, measured on five voices of both genders and three accents, which
agree within 1 st up to +-7 st), range by SSML ``<prosody range>``.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from functools import lru_cache

import numpy as np

from clsp.audio import SAMPLING_RATE
from clsp.style.labels import QUALITIES
from clsp.synth.backends.base import Backend, Controls, VoiceSpec, require_executable
from clsp.synth.render import RenderParams, run_espeak
from clsp.synth.voices import VOICES, prepare_voice_dir, system_espeak_data, variant_text

DEFAULT_WPM = 175
PITCH_CURVE = ((0, -7.1), (20, -4.6), (35, -2.4), (50, 0.0), (65, 2.6), (82, 5.6), (99, 8.8))  # (-p, st)
_CLSP_PREFIX = "clsp_"


@lru_cache(maxsize=1)
def english_voice_files() -> dict[str, str]:
    """espeak-ng's English language voices (``gmw/`` files), language -> voice file, in its listed order."""
    out = subprocess.run(["espeak-ng", "--voices=en"], capture_output=True, text=True, check=True).stdout
    files: dict[str, str] = {}
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5 and cols[4].startswith("gmw/") and cols[1] not in files:
            files[cols[1]] = cols[4]
    return files


def english_languages() -> tuple[str, ...]:
    """espeak-ng's English language voices, in its listed order."""
    return tuple(english_voice_files())


@lru_cache(maxsize=2)
def gendered_variants(whisper: bool = False) -> tuple[tuple[str, str], ...]:
    """(variant file name, gender) for each file in voices/!v with a male/female ``gender`` line, sorted;
    whisper variants (``voicing`` under 25, as espeak-ng's whisper and whisperf: a voice quality, not a speaker)
    are left out, or with ``whisper`` are the only ones listed."""
    found = []
    for path in sorted((system_espeak_data() / "voices" / "!v").iterdir(), key=lambda p: p.name.lower()):
        if not path.is_file() or " " in path.name:
            continue
        text = path.read_text(errors="replace")
        m = re.search(r"^\s*gender\s+(male|female)\b", text, re.IGNORECASE | re.MULTILINE)
        voicing = re.search(r"^\s*voicing\s+(\d+)", text, re.MULTILINE)
        if m and bool(voicing and int(voicing.group(1)) < 25) == whisper:
            found.append((path.name, m.group(1).lower()))
    return tuple(found)


def espeak_pitch(semitones: float) -> int:
    """The ``-p`` value (0-99) that moves the voice's F0 by ``semitones`` re ``-p 50``."""
    p, st = zip(*PITCH_CURVE)
    return int(round(np.interp(semitones, st, p)))


class EspeakBackend(Backend):
    name = "espeak"
    max_pitch_shift_st = 8.0

    @classmethod
    def available(cls) -> str | None:
        return require_executable("espeak-ng", "espeak-ng")

    def prepare(self) -> None:
        """Our speakers' variant files and links to espeak-ng's data in ``workdir`` (the ``--path``)."""
        if not (self.workdir / "espeak-ng-data" / "voices" / "!v" / VOICES[-1].variant_name("creaky")).is_file():
            prepare_voice_dir(self.workdir)

    def voices(self) -> list[VoiceSpec]:
        out = [VoiceSpec(source=self.name, name=_CLSP_PREFIX + v.name, gender=v.gender, group=_CLSP_PREFIX + v.name,
                         qualities=QUALITIES, split=v.split) for v in VOICES]
        for variant, gender in gendered_variants():
            for lang in english_languages():
                out.append(VoiceSpec(source=self.name, name=f"{lang}+{variant}", gender=gender, group=variant))
        return out

    def fingerprint(self) -> str:
        version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.strip()
        h = hashlib.sha1(version.encode())
        h.update(repr(PITCH_CURVE).encode())
        h.update(repr(english_voice_files()).encode())
        for v in VOICES:
            for q in QUALITIES:
                h.update(variant_text(v, q).encode())
        for variant, _ in gendered_variants():
            h.update((system_espeak_data() / "voices" / "!v" / variant).read_bytes())
        return f"{self.name}-{h.hexdigest()[:16]}"

    def render_native(self, voice: VoiceSpec, text: str, controls: Controls) -> tuple[np.ndarray, int]:
        if voice.name.startswith(_CLSP_PREFIX):
            quality = controls.quality if controls.quality in voice.qualities else "modal"
            arg = f"en-us+{voice.name}_{quality}"
        else:  # a language variant's voice file, not its name: espeak-ng drops the voice variant of
            # ``-v en-gb+f3`` (en-gb's default male voice, 98 Hz, for f3, belinda or Alicia) but not of ``gmw/en+f3``
            lang, plus, variant = voice.name.partition("+")
            arg = f"{english_voice_files().get(lang, lang)}+{variant}" if plus else voice.name
        params = RenderParams(pitch=espeak_pitch(controls.pitch_st),
                              range_percent=int(round(100 * controls.range_scale)),
                              words_per_minute=int(np.clip(round(DEFAULT_WPM * controls.rate), 80, 450)),
                              rms_dbfs=0.0)
        self.prepare()
        return run_espeak(text, arg, params, self.workdir), SAMPLING_RATE
