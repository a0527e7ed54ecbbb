"""Synthetic speakers: espeak-ng voice variants with their own pitch, range and vocal-tract size.

Each speaker is written as an espeak-ng *variant* file (``pitch``, ``formant``, ``flutter``,
``breath``...) in a private copy of the espeak-ng data directory (symlinks to the system data and its
variants, plus ours), selected with ``espeak-ng --path DIR -v en-us+<variant>``. Voice quality (modal,
whisper, creaky) is a second variant of the same speaker, so a whispering speaker keeps its
vocal-tract size.

Speakers are assigned to splits once, here, so test voices never appear in training whatever the
corpus size or seed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from clsp.errors import ClspError
from clsp.style.labels import QUALITIES


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker. Pitches in Hz (espeak's ``pitch <base> <range>``), formants in %."""

    name: str
    gender: str  # "male" | "female"
    split: str  # "train" | "dev" | "test"
    pitch_base: int
    pitch_range: int
    formant_scale: int
    flutter: int

    def variant_name(self, quality: str) -> str:
        return f"clsp_{self.name}_{quality}"


def _build_voices() -> tuple[Voice, ...]:
    voices = []
    # 12 male and 12 female speakers spread over pitch and vocal-tract size. Test and dev voices are
    # taken from inside the ranges (never the extremes), so a model must generalise, not extrapolate.
    splits = ["train", "train", "test", "train", "dev", "train", "train", "dev", "train", "test", "train", "train"]
    for i in range(12):
        voices.append(
            Voice(
                name=f"m{i:02d}",
                gender="male",
                split=splits[i],
                pitch_base=74 + (i * 7) % 40,
                pitch_range=100 + (i * 13) % 45,
                formant_scale=92 + (i * 5) % 14,
                flutter=(i * 3) % 18,
            )
        )
        voices.append(
            Voice(
                name=f"f{i:02d}",
                gender="female",
                split=splits[(i + 6) % 12],
                pitch_base=152 + (i * 11) % 64,
                pitch_range=180 + (i * 17) % 80,
                formant_scale=108 + (i * 5) % 16,
                flutter=(i * 5) % 18,
            )
        )
    return tuple(voices)


VOICES: tuple[Voice, ...] = _build_voices()


def voices_for_split(split: str) -> list[Voice]:
    return [v for v in VOICES if v.split == split]


def variant_text(voice: Voice, quality: str) -> str:
    """The espeak-ng variant file for ``voice`` speaking with ``quality``."""
    if quality not in QUALITIES:
        raise ClspError(f"voice quality must be one of {', '.join(QUALITIES)}, got {quality!r}")
    base, rng, flutter = voice.pitch_base, voice.pitch_range, voice.flutter
    f = voice.formant_scale
    lines = [
        "language variant",
        f"name {voice.variant_name(quality)}",
        f"gender {voice.gender}",
    ]
    if quality == "creaky":
        # Vocal fry: a lower, irregular (high flutter, rough) voice.
        # espeak-ng crashes on very low F0, so the base never goes under 90 Hz.
        base, rng, flutter = max(90, int(base * 0.9)), max(80, int(rng * 0.7)), 60
        lines.append("roughness 7")
    lines += [
        f"pitch {base} {rng}",
        f"flutter {flutter}",
        f"formant 0 {f} 100 100",
        f"formant 1 {f} 100 100",
        f"formant 2 {f} 100 100",
        f"formant 3 {f} 100 100",
    ]
    if quality == "whisper":
        # As espeak-ng's own whisper variant: almost no voicing, strong breath noise.
        lines += ["voicing 17", "breath 75 75 50 40 15 10", "breathw 150 150 200 200 400 400"]
    return "\n".join(lines) + "\n"


@lru_cache(maxsize=1)
def system_espeak_data() -> Path:
    """The system espeak-ng data directory (from ``espeak-ng --version``)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise ClspError("espeak-ng not found: install it with `apt-get install espeak-ng` (or run `make test`)")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"Data at:\s*(\S+)", out)
    if not m or not Path(m.group(1)).is_dir():
        raise ClspError(f"could not find the espeak-ng data directory in: {out.strip()}")
    return Path(m.group(1))


def _link_entries(src: Path, dst: Path, skip: str | None = None) -> None:
    """Symlink every entry of ``src`` (but ``skip``) into ``dst``, leaving existing ones (concurrent callers)."""
    for entry in src.iterdir():
        link = dst / entry.name
        if entry.name != skip and not link.exists():
            try:
                os.symlink(entry, link)
            except FileExistsError:
                pass


def prepare_voice_dir(root: str | Path) -> Path:
    """Create ``root/espeak-ng-data`` with the system data linked in and our variants written.

    Returns ``root``, the value for ``espeak-ng --path``. Safe to call repeatedly and concurrently.
    """
    root = Path(root)
    data = root / "espeak-ng-data"
    variants = data / "voices" / "!v"
    variants.mkdir(parents=True, exist_ok=True)
    system = system_espeak_data()
    _link_entries(system, data, skip="voices")
    _link_entries(system / "voices", data / "voices", skip="!v")
    _link_entries(system / "voices" / "!v", variants)  # espeak-ng's own variants (m1, f3, Alicia, ...)
    for voice in VOICES:
        for quality in QUALITIES:
            path = variants / voice.variant_name(quality)
            text = variant_text(voice, quality)
            if not path.is_file() or path.read_text() != text:
                tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
                tmp.write_text(text)
                tmp.replace(path)
    return root
