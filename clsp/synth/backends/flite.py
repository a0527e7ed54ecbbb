"""Debian's ``flite`` (CMU Flite 2.2) voices: slt (female), awb, rms, kal and kal16 (male).

The voices are the ones ``flite -lv`` lists that have a known speaker gender (:data:`GENDERS`; ``awb_time`` is a
limited-domain talking clock and is left out). Debian's package ships no ``.flitevox`` files; a ``.flitevox``
placed in ``FLITEVOX_DIRS`` whose speaker is named in :data:`GENDERS` would be picked up. kal is an 8 kHz diphone
voice (band-limited to 4 kHz after resampling), kal16 its 16 kHz version.

Controls: ``--setf duration_stretch=1/rate``; ``--setf int_f0_target_mean=F0`` moves the pitch of slt, awb, kal
and kal16 (rms ignores it: measured, its F0 stays at 102 Hz for targets of 90 and 200 Hz), so rms's pitch comes
from PSOLA. The target mean is not the rendered median (kal renders 87 Hz by default, 79 Hz for a target of 87 Hz
and 173 Hz for 175 Hz), so a voice's calibrated pitch response (:mod:`clsp.synth.calibrate`) and the corpus'
check of each segment (:mod:`clsp.synth.aim`) set the pitch. Pitch range is left as each voice renders it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

from clsp.errors import ClspError
from clsp.synth.backends.base import Backend, Controls, VoiceSpec, require_executable

GENDERS: dict[str, str] = {"slt": "female", "awb": "male", "rms": "male", "kal": "male", "kal16": "male"}
NO_PITCH_CONTROL: frozenset[str] = frozenset({"rms"})
FLITEVOX_DIRS: tuple[str, ...] = ("/usr/share/flite", "/usr/local/share/flite")


@lru_cache(maxsize=1)
def listed_voices() -> tuple[str, ...]:
    """``flite -lv`` voices plus ``.flitevox`` files (by path), those with a known gender only."""
    out = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout
    names = out.split(":", 1)[1].split() if ":" in out else []
    found = [n for n in names if n in GENDERS]
    for d in FLITEVOX_DIRS:
        for p in sorted(Path(d).glob("*.flitevox")) if Path(d).is_dir() else []:
            speaker = p.stem.rsplit("_", 1)[-1]
            if speaker in GENDERS and speaker not in found:
                found.append(str(p))
    return tuple(found)


class FliteBackend(Backend):
    name = "flite"
    max_pitch_shift_st = 12.0  # a target mean F0 up to an octave from the natural one (kal: 87 -> 174 Hz)

    @classmethod
    def available(cls) -> str | None:
        return require_executable("flite", "flite")

    def voices(self) -> list[VoiceSpec]:
        out = []
        for v in listed_voices():
            speaker = Path(v).stem.rsplit("_", 1)[-1] if v.endswith(".flitevox") else v
            out.append(VoiceSpec(source=self.name, name=v, gender=GENDERS[speaker], group=speaker,
                                 pitch_control=speaker not in NO_PITCH_CONTROL))
        return out

    def fingerprint(self) -> str:
        version = subprocess.run(["flite", "--version"], capture_output=True, text=True).stdout.strip()
        return f"{self.name}-{hashlib.sha1((version + repr(listed_voices())).encode()).hexdigest()[:16]}"

    def render_native(self, voice: VoiceSpec, text: str, controls: Controls) -> tuple[np.ndarray, int]:
        args = ["--setf", f"duration_stretch={1 / max(controls.rate, 0.2):.4f}"]
        if voice.pitch_control and voice.f0_hz and abs(controls.pitch_st) > 1e-3:
            args += ["--setf", f"int_f0_target_mean={voice.f0_hz * 2 ** (controls.pitch_st / 12):.1f}"]
        self.workdir.mkdir(parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(suffix=".wav", dir=self.workdir)
        os.close(fd)
        try:
            proc = subprocess.run(["flite", "-voice", voice.name, *args, "-t", text, "-o", path], capture_output=True)
            if proc.returncode != 0:
                raise ClspError(f"flite failed for voice {voice.name}: {proc.stderr.decode(errors='replace')[:200]}")
            audio, sr = sf.read(path, dtype="float32")
        finally:
            os.unlink(path)
        return (audio.mean(axis=1) if audio.ndim > 1 else audio), sr
