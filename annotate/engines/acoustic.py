"""The acoustic captioner: captions written from measured prosody, offline, no model.

Each request's audio is measured with :func:`clsp.style.measure.measure_style` (the transcript in
``meta["transcript"]`` sharpens the speaking rate) and the measured :class:`~clsp.style.labels.StyleSummary`
is put into words by :mod:`clsp.style.describe`. The summary holds only confident labels, so the captions
word only what the measurement is sure of: an uncertain gender (F0 between the male and female ranges, a
whisper) gives "A speaker ..." / "The speaker ...", an uncertain pitch level or rate is not mentioned. ``meta["kind"] == "global"`` gives one sentence,
``"fine"`` a time-aware description (what changes, and roughly when, in seconds). The wording is drawn from
``numpy.random.default_rng(request.seed)`` only: the same seed gives the same caption, other seeds other
wordings. ``messages`` are ignored. Views of the same clip share one measurement (a small cache keyed by
the audio's bytes and the transcript).

Settings: :class:`~annotate.engines.configs.AcousticEngineConfig`, whose ``measure`` is the
:class:`~clsp.style.measure.MeasureConfig` (thresholds) of the measurement (``engine_config.acoustic.measure``
in an annotate config; ``configs/acoustic.yaml`` spells every key out).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator

import numpy as np

from annotate.engines.base import GenerationRequest, GenerationResult
from annotate.engines.configs import AcousticEngineConfig
from clsp.audio import SAMPLING_RATE
from clsp.errors import ClspError
from clsp.style.describe import describe_fine, describe_global
from clsp.style.measure import MeasureConfig, MeasuredStyle, measure_style

MODEL = "clsp-acoustic-v1"
PROMPT_ID = "acoustic@1"


class AcousticEngine:
    """``name`` "acoustic", ``model`` "clsp-acoustic-v1", ``prompt_id`` "acoustic@1" (see the module docstring)."""

    name = "acoustic"
    model = MODEL
    prompt_id = PROMPT_ID

    def __init__(self, config: AcousticEngineConfig | None = None, cache_size: int = 64) -> None:
        self.config = config or AcousticEngineConfig()
        self.measure_config: MeasureConfig = self.config.measure
        self._cache: OrderedDict[tuple[str, str | None], MeasuredStyle] = OrderedDict()
        self._cache_size = cache_size

    def measure(self, audio: np.ndarray, transcript: str | None = None) -> MeasuredStyle:
        """The measurement of ``audio`` (S,) at 16 kHz, from the cache when the same clip was measured."""
        x = np.ascontiguousarray(audio, dtype=np.float32)
        key = (hashlib.blake2b(x.tobytes(), digest_size=16).hexdigest(), transcript)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        measured = measure_style(x, SAMPLING_RATE, transcript, self.measure_config)
        self._cache[key] = measured
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return measured

    def caption(self, measured: MeasuredStyle, kind: str, seed: int) -> str:
        """The ``kind`` ("global" | "fine") caption of a measurement, worded from ``seed``."""
        rng = np.random.default_rng(seed)
        if kind == "global":
            return describe_global(measured.summary, rng)
        if kind == "fine":
            return describe_fine(measured.summary, rng, with_times=True)
        raise ClspError(f"meta 'kind' must be 'global' or 'fine', got {kind!r}")

    def generate(self, requests: Iterable[GenerationRequest]) -> Iterator[GenerationResult]:
        for request in requests:
            start = time.perf_counter()
            try:
                if request.audio is None:
                    raise ClspError("the acoustic engine needs audio (request.audio is None)")
                transcript = request.meta.get("transcript")
                if transcript is not None and not isinstance(transcript, str):
                    raise ClspError(f"meta 'transcript' must be a string or None, got {type(transcript).__name__}")
                measured = self.measure(request.audio, transcript or None)
                text = self.caption(measured, request.meta.get("kind", ""), int(request.seed))
                yield GenerationResult(request.request_id, text, None, num_input_tokens=None,
                                       num_output_tokens=len(text.split()), seconds=time.perf_counter() - start,
                                       meta=request.meta)
            except (ClspError, ValueError) as e:
                where = request.meta.get("cut_id", request.request_id)
                yield GenerationResult(request.request_id, None, f"{where}: {e}",
                                       seconds=time.perf_counter() - start, meta=request.meta)

    def close(self) -> None:
        self._cache.clear()
