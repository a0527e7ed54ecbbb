"""Typed settings of ``clsp annotate`` (``configs/annotate-*.yaml``, loaded with ``clsp.config.load_config``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from annotate.engines.base import SamplingConfig
from annotate.engines.configs import EngineConfig, engine_sections
from annotate.engines.registry import engine_names
from clsp.data.captions import KINDS

# engine_config: one section per engine of the registry (engine_config.vllm, engine_config.openai, ...)
AnnotateEngines = engine_sections("AnnotateEngines", engine_names())


@dataclass
class VADConfig:
    """Silero VAD splitting of recordings longer than ``AnnotateConfig.max_duration_s`` (seconds throughout).

    Speech regions (Silero's ``threshold``, ``min_speech_s``, ``min_silence_s``, ``speech_pad_s``) are
    joined while the gap between them is at most ``merge_gap_s`` and the joined piece stays within the
    maximum duration; pieces shorter than ``min_piece_s`` are dropped. The threshold (Silero's default is
    0.5) and padding are set to keep soft and whispered speech, which a style captioner must not lose.
    """

    enabled: bool = True
    threshold: float = 0.35
    min_speech_s: float = 0.25
    min_silence_s: float = 0.3
    speech_pad_s: float = 0.1
    merge_gap_s: float = 1.0
    min_piece_s: float = 1.0

    def validate(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"key 'threshold' must be in (0, 1), got {self.threshold}")
        for name in ("min_speech_s", "min_silence_s", "speech_pad_s", "merge_gap_s", "min_piece_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"key '{name}' must be >= 0 seconds, got {getattr(self, name)}")


@dataclass
class AnnotateConfig:
    """What ``clsp annotate`` asks of which engine.

    - ``engine``: an engine of :data:`annotate.engines.registry.ENGINES` (``vllm``, ``openai``,
      ``transformers``, ``acoustic``); ``engine_config.<engine>`` its settings (one section per engine,
      :mod:`annotate.engines.configs`; the sections of the other engines are not read);
    - ``prompt``: a template in ``configs/prompts/`` as ``name@version`` or ``name`` (its newest version),
      or a path to a prompt YAML; ``tags`` adds the optional tag block built from ``tag_fields`` of the cut;
    - one request per (cut, kind, seed): ``kinds`` × seeds ``seed .. seed + views - 1``;
    - audio: clips longer than ``max_duration_s`` are split with Silero VAD (``vad``) or rejected when VAD
      is off; a file whose length differs from the manifest by more than ``length_tolerance_s`` and a clip
      whose peak amplitude is below ``min_peak`` (silence) are rejected; ``audio_workers`` threads load
      ``prefetch`` cuts ahead of the engine;
    - shards: a result line is flushed at once and fsync'ed every ``fsync_every`` lines.
    """

    engine: str = "acoustic"
    engine_config: AnnotateEngines = field(default_factory=AnnotateEngines)
    prompt: str = "clsp-style"
    tags: bool = False
    tag_fields: list[str] = field(default_factory=lambda: ["accent", "speaking_rate", "emotion"])
    kinds: list[str] = field(default_factory=lambda: ["global", "fine"])
    views: int = 1
    seed: int = 0
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    max_duration_s: float = 30.0
    vad: VADConfig = field(default_factory=VADConfig)
    length_tolerance_s: float = 0.1
    min_peak: float = 1e-4
    audio_workers: int = 2
    prefetch: int = 16
    fsync_every: int = 32

    def validate(self) -> None:
        if self.engine not in engine_names():
            raise ValueError(f"key 'engine' must be one of {', '.join(engine_names())}, got {self.engine!r}")
        if not self.kinds:
            raise ValueError("key 'kinds' must name at least one of global, fine")
        bad = [k for k in self.kinds if k not in KINDS]
        if bad:
            raise ValueError(f"key 'kinds' must hold only global and fine, got {', '.join(map(repr, bad))}")
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError(f"key 'kinds' has a repeated kind: {self.kinds}")
        for name in ("views", "audio_workers", "prefetch", "fsync_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"key '{name}' must be >= 1, got {getattr(self, name)}")
        if self.max_duration_s <= 0:
            raise ValueError(f"key 'max_duration_s' must be > 0 seconds, got {self.max_duration_s}")
        if self.vad.min_piece_s >= self.max_duration_s:
            raise ValueError("key 'vad.min_piece_s' must be below 'max_duration_s'")
        if self.length_tolerance_s < 0 or self.min_peak < 0:
            raise ValueError("keys 'length_tolerance_s' and 'min_peak' must be >= 0")
        if self.sampling.max_tokens < 1 or self.sampling.temperature < 0 or not 0 < self.sampling.top_p <= 1:
            raise ValueError("keys 'sampling.*': need max_tokens >= 1, temperature >= 0, 0 < top_p <= 1")

    @property
    def engine_settings(self) -> EngineConfig:
        """The settings section of the selected engine (``engine_config.<engine>``)."""
        return self.engine_config[self.engine]

    @property
    def seeds(self) -> list[int]:
        """The sampling seeds of the views: ``seed .. seed + views - 1``."""
        return [self.seed + k for k in range(self.views)]
