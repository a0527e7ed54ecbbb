"""Typed configuration of ``clsp verify`` (load with ``clsp.config.load_config(VerifyConfig, path, overrides)``).

Every threshold and word list the checks use lives here, so a run is fully described by its config
(it is saved into ``verify_summary.json``). Defaults follow CLSP's public rule filters; see
``configs/verify-qwen3.yaml`` (the paper's setting) and ``configs/verify-demo.yaml`` (CPU, no LLM).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from annotate.engines.base import SamplingConfig
from annotate.engines.configs import LLMEngineConfig, engine_sections
from annotate.engines.registry import llm_engine_names
from clsp.data.captions import KINDS
from clsp.style.measure import MeasureConfig
from verify.acoustic import AcousticCheckConfig

CHECK_ORDER: tuple[str, ...] = ("rules", "acoustic", "llm")  # cheap to expensive; always run in this order
DEFAULT_VERIFIER_MODEL = "Qwen/Qwen3-30B-A3B"
# engine_config: one section per LLM engine of annotate's registry (engine_config.vllm, engine_config.openai, ...)
VerifyEngines = engine_sections("VerifyEngines", llm_engine_names(), model=DEFAULT_VERIFIER_MODEL)

# CLSP's public filters (the recipe's regexes, as word lists matched on word boundaries, any case).
CLSP_MULTI_SPEAKER_WORDS = ["speakers", "first speaker", "second speaker"]
CLSP_NEGATION_WORDS = ["no", "not", "neither", "nor", "free from", "with no", "without", "lacking", "rather than"]
BACKGROUND_WORDS = [  # background, environment and recording quality (CLSP's prompt rule), not voice
    "noise", "noises", "noisy", "background", "music", "reverb", "reverberation", "reverberant", "echo",
    "echoes", "echoing", "echoey", "microphone", "mic", "recording quality", "audio quality", "sound quality",
    "audio clarity", "ambient", "ambience", "environment", "room", "studio", "hiss", "hissing", "distortion",
    "distorted", "crackle", "crackling", "low-fidelity", "lo-fi",
]


def _check_kinds(key: str, kinds: list[str], allow_empty: bool) -> None:
    bad = [k for k in kinds if k not in KINDS]
    if bad or not (kinds or allow_empty):
        raise ValueError(f"key '{key}' holds {bad or kinds!r}; expected {' and/or '.join(KINDS)}")


@dataclass
class RulesConfig:
    """Text-only filters. Lengths in characters; word lists are phrases matched on word boundaries.

    - ``*_kinds``: the caption kinds a rule applies to (CLSP checks newlines on fine captions only);
    - transcript leakage: the caption shares word ``leak_ngram``-grams with the supervision text; an
      n-gram counts only when it holds at least ``leak_min_content_words`` words outside the function-word
      list (so "of the", "in a" never trigger it). Rejected when the shared n-grams are at least
      ``leak_min_matches`` or at least ``leak_max_fraction`` of the transcript's countable n-grams.
      ``function_words``: None = the built-in English list (``verify.rules.FUNCTION_WORDS``).
    """

    global_min_chars: int = 32
    fine_min_chars: int = 128
    fine_max_chars: int = 768
    newline_kinds: list[str] = field(default_factory=lambda: ["fine"])
    negation_kinds: list[str] = field(default_factory=lambda: ["global", "fine"])
    multi_speaker_words: list[str] = field(default_factory=lambda: list(CLSP_MULTI_SPEAKER_WORDS))
    negation_words: list[str] = field(default_factory=lambda: list(CLSP_NEGATION_WORDS))
    background_words: list[str] = field(default_factory=lambda: list(BACKGROUND_WORDS))
    leak_ngram: int = 4
    leak_min_content_words: int = 2
    leak_min_matches: int = 2
    leak_max_fraction: float = 0.5
    function_words: list[str] | None = None

    def validate(self) -> None:
        if self.global_min_chars < 0 or self.fine_min_chars < 0:
            raise ValueError("key 'global_min_chars'/'fine_min_chars' must be >= 0")
        if self.fine_max_chars < self.fine_min_chars:
            raise ValueError(f"key 'fine_max_chars' ({self.fine_max_chars}) must be >= fine_min_chars "
                             f"({self.fine_min_chars})")
        for name in ("newline_kinds", "negation_kinds"):
            _check_kinds(name, getattr(self, name), allow_empty=True)
        if self.leak_ngram < 1 or self.leak_min_matches < 1:
            raise ValueError("keys 'leak_ngram' and 'leak_min_matches' must be >= 1")
        if not 0.0 < self.leak_max_fraction <= 1.0:
            raise ValueError(f"key 'leak_max_fraction' must be in (0, 1], got {self.leak_max_fraction}")
        if not 0 <= self.leak_min_content_words <= self.leak_ngram:
            raise ValueError("key 'leak_min_content_words' must be between 0 and leak_ngram")


@dataclass
class LLMCheckConfig:
    """The LLM checklist.

    - ``prompt``: the versioned checklist prompt, ``"name@version"`` (``configs/prompts/<name>.v<version>.yaml``)
      or a path to such a YAML file (name, version, system, user);
    - request ``seed`` of attempt k (0-based) is ``seed + k``: a rerun asks the same questions with the same
      seeds; an unparseable answer is asked again with the next seed, ``max_attempts`` times in all;
    - ``keep_unparseable``: False (default) rejects a caption whose answers all failed to parse with
      "llm:unparseable: ..."; True keeps it when the other checks kept it (counted as such in the summary);
    - ``reason_max_chars``: the schema's maxLength of the model's ``reason``;
    - ``sampling``: Qwen3's recommended thinking-mode settings; ``max_tokens`` leaves room for <think>.
    """

    prompt: str = "verifier@1"
    seed: int = 0
    max_attempts: int = 3
    keep_unparseable: bool = False
    reason_max_chars: int = 300
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(max_tokens=4096))

    def validate(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"key 'max_attempts' must be >= 1, got {self.max_attempts}")
        if self.reason_max_chars < 1:
            raise ValueError(f"key 'reason_max_chars' must be >= 1, got {self.reason_max_chars}")


@dataclass
class VerifyConfig:
    """A ``clsp verify`` run.

    - ``checks``: which of rules, acoustic, llm run (they always run in that order);
    - ``kinds``: caption kinds to check; captions of other kinds are left as they are;
    - ``recheck``: also re-check captions already "kept"/"rejected" (default: only "pending" ones);
    - ``run_all_checks``: False (default) = a check sees only the captions the earlier checks kept (the
      expensive LLM never sees a caption the rules already rejected); True = every check sees every
      caption and all reasons are recorded;
    - ``measure`` / ``acoustic``: the audio analysis (:class:`clsp.style.measure.MeasureConfig`, run once per
      cut) and the tolerances of the acoustic check (:class:`verify.acoustic.AcousticCheckConfig`);
      ``acoustic_max_audio_s``: clips longer than this (seconds) are not loaded: their captions are left
      ``pending`` with ``acoustic:too_long`` (captions describe clips of seconds, not hours);
    - ``engine`` / ``engine_config``: the LLM engine (an engine of ``annotate.engines.registry`` that is an
      LLM: ``vllm``, ``openai``, ``transformers``) and one settings section per such engine
      (``engine_config.vllm``, ... as in the annotate config; only the selected engine's is read).
    """

    checks: list[str] = field(default_factory=lambda: list(CHECK_ORDER))
    kinds: list[str] = field(default_factory=lambda: ["global", "fine"])
    recheck: bool = False
    run_all_checks: bool = False
    rules: RulesConfig = field(default_factory=RulesConfig)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    acoustic: AcousticCheckConfig = field(default_factory=AcousticCheckConfig)
    acoustic_max_audio_s: float = 600.0
    llm: LLMCheckConfig = field(default_factory=LLMCheckConfig)
    engine: str = "vllm"
    engine_config: VerifyEngines = field(default_factory=VerifyEngines)

    def validate(self) -> None:
        bad = [c for c in self.checks if c not in CHECK_ORDER]
        if bad or not self.checks:
            raise ValueError(f"key 'checks' holds {bad or self.checks!r}; expected some of {', '.join(CHECK_ORDER)}")
        _check_kinds("kinds", self.kinds, allow_empty=False)
        if not self.acoustic_max_audio_s > 0:
            raise ValueError(f"key 'acoustic_max_audio_s' must be > 0 seconds, got {self.acoustic_max_audio_s}")
        if self.engine not in llm_engine_names():
            raise ValueError(f"key 'engine' must be an LLM engine ({', '.join(llm_engine_names())}), "
                             f"got {self.engine!r}")

    @property
    def engine_settings(self) -> LLMEngineConfig:
        """The settings section of the selected engine (``engine_config.<engine>``)."""
        return self.engine_config[self.engine]

    def ordered_checks(self) -> list[str]:
        return [c for c in CHECK_ORDER if c in self.checks]
