"""Caption / verifier engines behind one interface (:mod:`annotate.engines.base`)."""

from annotate.engines.base import (
    Engine,
    EngineConfig,
    GenerationRequest,
    GenerationResult,
    SamplingConfig,
    audio_message_part,
    with_audio,
)

__all__ = ["Engine", "EngineConfig", "GenerationRequest", "GenerationResult", "SamplingConfig", "audio_message_part", "with_audio"]
