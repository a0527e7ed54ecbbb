"""Each voice's natural pitch and rate, measured once from a default render.

A voice is rendered with default controls reading :data:`CALIBRATION_TEXT` and measured with the project's
measurer (:func:`clsp.style.measure.measure_style`, the voice's gender given): its median F0 (Hz) and its
syllables per second. Style levels are then set relative to these (:mod:`clsp.synth.styles`).

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


def cache_path(source: str, fingerprint: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "clsp" / "voices"
    measure = hashlib.sha1((CALIBRATION_TEXT + json.dumps(to_dict(MeasureConfig()), sort_keys=True)).encode())
    return base / f"{fingerprint}-{measure.hexdigest()[:12]}.json"


def measure_voice(voice: VoiceSpec, workdir: str) -> dict[str, float] | None:
    """``{"f0_hz", "rate_sps", "voiced_fraction"}`` of a default render, or None when it is not modal speech."""
    audio = get_backend(voice.source, workdir).render(voice, CALIBRATION_TEXT, Controls())
    m = measure_style(audio, SAMPLING_RATE, transcript=CALIBRATION_TEXT, gender=voice.gender)
    f0, rate = m.f0_median_hz, m.speaking_rate
    if (f0 is None or rate is None or m.voiced_fraction < MIN_VOICED_FRACTION
            or not F0_RANGE_HZ[0] <= f0 <= F0_RANGE_HZ[1]):
        return None
    return {"f0_hz": float(f0), "rate_sps": float(rate), "voiced_fraction": float(m.voiced_fraction)}


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
        out[v.id] = None if got is None else v.with_natural(got["f0_hz"], got["rate_sps"])
    return out
