"""The voice-backend interface: a backend lists its voices and renders text with style controls.

Every backend returns (S,) float32 mono at 16 kHz. Controls are relative to the voice's *natural* pitch and rate
(measured once from a default render, see :mod:`clsp.synth.calibrate`): ``rate`` 1.3 is 30 % faster than the
voice speaks by default, ``pitch_st`` +4 is four semitones over its natural median F0. An engine's own pitch
setting does not move every voice alike (espeak-ng's ``-p`` moves one of our speakers 0.8x and another 1.8x the
semitones of its stock voices), so a calibrated voice carries its measured *pitch response* (``pitch_gain``:
rendered semitones per semitone asked of the engine, below and above its natural F0) and :meth:`Backend.render`
asks the engine for ``pitch_st / gain``. An engine without a pitch control gets its pitch from PSOLA
(:func:`clsp.augment.transforms.pitch_shift`); loudness is a gain to a target active-speech RMS.
"""

from __future__ import annotations

import dataclasses
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clsp.audio import SAMPLING_RATE, resample
from clsp.errors import ClspError


@dataclass(frozen=True)
class VoiceSpec:
    """One voice of a backend. ``f0_hz`` / ``rate_sps`` (natural median F0 in Hz, syllables per second) and
    ``pitch_gain`` (rendered st per st asked of the engine, (below, above) the natural F0) are None until
    calibrated. ``group`` names the speaker identity: voices of one group always share a split (espeak-ng's
    language variants of one voice variant). ``split`` fixes the split (else it is assigned by group)."""

    source: str
    name: str
    gender: str  # "male" | "female"
    group: str
    qualities: tuple[str, ...] = ("modal",)
    pitch_control: bool = True  # False: pitch shifts are PSOLA after rendering
    split: str | None = None
    f0_hz: float | None = None
    rate_sps: float | None = None
    pitch_gain: tuple[float, float] | None = None

    @property
    def id(self) -> str:
        return f"{self.source}:{self.name}"

    def with_natural(self, f0_hz: float, rate_sps: float,
                     pitch_gain: tuple[float, float] | None = None) -> VoiceSpec:
        return dataclasses.replace(self, f0_hz=f0_hz, rate_sps=rate_sps, pitch_gain=pitch_gain)

    def engine_pitch_st(self, pitch_st: float) -> float:
        """The shift (st) to ask of the engine so the voice's F0 moves by ``pitch_st``: through ``pitch_gain``
        (the identity before calibration)."""
        if self.pitch_gain is None:
            return pitch_st
        return pitch_st / self.pitch_gain[0 if pitch_st < 0 else 1]

    def to_dict(self) -> dict:
        return {"id": self.id, "source": self.source, "name": self.name, "gender": self.gender, "group": self.group,
                "pitch_control": "engine" if self.pitch_control else "psola",
                "f0_hz": None if self.f0_hz is None else round(self.f0_hz, 1),
                "rate_sps": None if self.rate_sps is None else round(self.rate_sps, 3),
                "pitch_gain": None if self.pitch_gain is None else [round(g, 3) for g in self.pitch_gain]}


@dataclass(frozen=True)
class Controls:
    """What to render: relative to the voice's natural rate and pitch; loudness as an absolute target."""

    rate: float = 1.0  # x natural rate (> 1 faster)
    pitch_st: float = 0.0  # semitones re natural F0
    range_scale: float = 1.0  # x natural pitch range (where the engine has a control)
    quality: str = "modal"  # modal | whisper | creaky (voices that list it)
    rms_dbfs: float | None = None  # active-speech RMS target; None = as rendered


class Backend(ABC):
    """A voice engine. ``workdir`` is a private scratch folder (shared by the worker processes of one run)."""

    name: str = ""
    max_pitch_shift_st: float = 10.0  # the shift asked of the engine (or PSOLA) is clipped to +-this

    def __init__(self, workdir: str | Path):
        self.workdir = Path(workdir)

    @classmethod
    def available(cls) -> str | None:
        """None when the engine can run here, else why not (with the install command)."""
        return None

    @abstractmethod
    def voices(self) -> list[VoiceSpec]:
        """Every voice, uncalibrated, in a stable order."""

    @abstractmethod
    def render_native(self, voice: VoiceSpec, text: str, controls: Controls) -> tuple[np.ndarray, int]:
        """(S,) float audio and its sampling rate, rate (and pitch when ``voice.pitch_control``) applied."""

    def fingerprint(self) -> str:
        """Changes whenever the same request could render differently (engine version, voice files)."""
        return self.name

    def prepare(self) -> None:
        """Anything to set up once per run in ``workdir`` before workers render (default: nothing)."""

    def render(self, voice: VoiceSpec, text: str, controls: Controls = Controls()) -> np.ndarray:
        """Render ``text``: (S,) float32 at 16 kHz, ``controls.pitch_st`` through the voice's pitch response."""
        from clsp.augment.transforms import pitch_shift
        from clsp.synth.render import set_active_rms

        shift = float(np.clip(voice.engine_pitch_st(controls.pitch_st), -self.max_pitch_shift_st,
                              self.max_pitch_shift_st))
        controls = dataclasses.replace(controls, pitch_st=shift)
        audio, sr = self.render_native(voice, text, controls)
        audio = resample(np.asarray(audio, dtype=np.float32).reshape(-1), sr, SAMPLING_RATE)
        if len(audio) < SAMPLING_RATE // 10 or not np.isfinite(audio).all() or np.abs(audio).max() < 1e-4:
            raise ClspError(f"{self.name} rendered no usable audio for voice {voice.name!r}")
        if not voice.pitch_control and abs(shift) > 1e-3:
            audio = pitch_shift(audio, shift)
        return audio if controls.rms_dbfs is None else set_active_rms(audio, controls.rms_dbfs)


def require_executable(name: str, package: str) -> str | None:
    """None when ``name`` is on PATH, else the line saying how to install it."""
    return None if shutil.which(name) else f"{name} not found: install it with `apt-get install {package}`"
