"""Each voice's natural pitch and rate and its pitch response, measured once.

A voice is rendered with default controls reading :data:`CALIBRATION_TEXT` and measured with the project's
measurer (:func:`clsp.style.measure.measure_style`, the voice's gender given): its median F0 (Hz) and its
syllables per second. Style levels are then set relative to these (:mod:`clsp.synth.styles`).

Its **pitch response** comes from two more renders, with the engine asked for -/+ :data:`PITCH_PROBE_ST`
semitones: the measured shift over the asked one, below and above the natural F0, is the voice's ``pitch_gain``
(:class:`clsp.synth.backends.VoiceSpec`; held within :data:`PITCH_GAIN_LIMITS`). Why per voice: espeak-ng's
``-p`` curve, measured on its stock voices, moves our formant-scaled speakers 0.8x to 1.8x as far (clsp_f05
asked for -5.5 st fell 10 st, to 119 Hz; clsp_m06 asked for +5.5 st rose 4.7 st), flite's ``int_f0_target_mean``
moves kal about 0.7x as far, and PSOLA (Piper, Kokoro, flite rms) moves F0 as asked. A gain per side, applied to
the engine's own control curve, puts the calibration text within 0.35 st of any shift up to +-8 st on all 24 of
our speakers (measured: mean error 0.06 st); what a sentence's own intonation adds is corrected in the corpus
(:func:`clsp.synth.aim.render_segment`).

A voice is left out (``None``) when the measurement shows it is not modal speech: under
:data:`MIN_VOICED_FRACTION` of its speech voiced (espeak-ng's whisper variants) or a median F0 outside
:data:`F0_RANGE_HZ`.

Results are cached per backend fingerprint (engine version, voice files) and measurer settings in
``$XDG_CACHE_HOME/clsp/voices/`` (default ``~/.cache``), so a machine measures each voice once; the numbers are the
same either way (rendering and measuring are deterministic).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

from clsp.audio import SAMPLING_RATE
from clsp.config import to_dict
from clsp.parallel import SerialExecutor
from clsp.synth.backends import Controls, VoiceSpec, get_backend
from clsp.style.measure import MeasureConfig, measure_style

CALIBRATION_TEXT = "The gardener carried a wooden ladder across the market square before the evening train."
MIN_VOICED_FRACTION = 0.5
F0_RANGE_HZ = (60.0, 400.0)
PITCH_PROBE_ST = 5.0  # the shift asked of the engine (st) to measure a voice's pitch response, each way
PITCH_GAIN_LIMITS = (0.25, 4.0)  # a response outside this is a measuring error, not a voice


def cache_path(source: str, fingerprint: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "clsp" / "voices"
    what = CALIBRATION_TEXT + repr((PITCH_PROBE_ST, PITCH_GAIN_LIMITS))
    measure = hashlib.sha1((what + json.dumps(to_dict(MeasureConfig()), sort_keys=True)).encode())
    return base / f"{fingerprint}-{measure.hexdigest()[:12]}.json"


def measure_voice(voice: VoiceSpec, workdir: str) -> dict[str, float | list[float]] | None:
    """``{"f0_hz", "rate_sps", "voiced_fraction", "pitch_gain"}`` of ``voice`` (uncalibrated: the engine's own
    controls), or None when its default render is not modal speech."""
    backend = get_backend(voice.source, workdir)

    def measured(v: VoiceSpec, pitch_st: float):
        audio = backend.render(v, CALIBRATION_TEXT, Controls(pitch_st=pitch_st))
        return measure_style(audio, SAMPLING_RATE, transcript=CALIBRATION_TEXT, gender=voice.gender)

    m = measured(voice, 0.0)
    f0, rate = m.f0_median_hz, m.speaking_rate
    if (f0 is None or rate is None or m.voiced_fraction < MIN_VOICED_FRACTION
            or not F0_RANGE_HZ[0] <= f0 <= F0_RANGE_HZ[1]):
        return None
    natural = voice.with_natural(f0, rate)  # an engine may set its pitch from the natural F0 (flite)
    gains = []
    for probe in (-PITCH_PROBE_ST, PITCH_PROBE_ST):
        f0_probe = measured(natural, probe).f0_median_hz
        gain = 12 * math.log2(f0_probe / f0) / probe if f0_probe else 1.0
        gains.append(float(min(max(gain, PITCH_GAIN_LIMITS[0]), PITCH_GAIN_LIMITS[1])))
    return {"f0_hz": float(f0), "rate_sps": float(rate), "voiced_fraction": float(m.voiced_fraction),
            "pitch_gain": gains}


def _job(args: tuple[VoiceSpec, str]) -> tuple[str, dict[str, float] | None]:
    voice, workdir = args
    return voice.name, measure_voice(voice, workdir)


def calibrate(voices: list[VoiceSpec], workdir: str, pool=None) -> dict[str, VoiceSpec | None]:
    """Calibrated copies of ``voices`` (all of one source) by id; None for a voice left out. ``pool``: an
    executor whose ``map`` runs the measurements that are not cached yet."""
    if not voices:
        return {}
    backend = get_backend(voices[0].source, workdir)
    path = cache_path(backend.name, backend.fingerprint())
    cached: dict[str, dict | None] = json.loads(path.read_text()) if path.is_file() else {}
    todo = [(v, workdir) for v in voices if v.name not in cached]
    if todo:
        results = (pool or SerialExecutor()).map(_job, todo, chunksize=4)
        cached.update(dict(results))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cached, indent=1, sort_keys=True))
        tmp.replace(path)
    out: dict[str, VoiceSpec | None] = {}
    for v in voices:
        got = cached[v.name]
        out[v.id] = None if got is None else v.with_natural(got["f0_hz"], got["rate_sps"], tuple(got["pitch_gain"]))
    return out
