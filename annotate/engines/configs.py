"""Each engine's typed settings: the sections of ``engine_config`` in the annotate and verify configs.

A config selects an engine by name (``engine: vllm``) and holds one section per engine under
``engine_config`` (``engine_config.vllm``, ``engine_config.openai``, ...), as the speech encoder's
``backend`` + ``zipformer``/``hf`` sections do; a section holds only the keys its engine reads, so a key
under the wrong engine (``engine_config.vllm.base_url``) is a one-line error, not ignored. The sections are
built from :data:`annotate.engines.registry.ENGINES` (:func:`engine_sections`), the one list of engines.

This module imports no engine library (vLLM, Ray, transformers, httpx load only for the engine used).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from clsp.style.measure import MeasureConfig

Dtype = Literal["auto", "float32", "bfloat16", "float16"]


@dataclass
class EngineConfig:
    """What every engine reads. ``stop_after_failures``: when each of a run's first N requests fails, the
    engine is taken to be down and the run stops (:func:`annotate.engines.base.fail_fast`) instead of
    recording N failures per request; 0 = never."""

    stop_after_failures: int = 8

    def validate(self) -> None:
        if self.stop_after_failures < 0:
            raise ValueError(f"key 'stop_after_failures' must be >= 0, got {self.stop_after_failures}")


@dataclass
class LLMEngineConfig(EngineConfig):
    """An engine that runs a model on prompts: ``model`` is a local path or hub id (vllm, transformers) or
    the served model's name (openai)."""

    model: str | None = None


def _at_least(cfg: Any, minimum: float, *names: str) -> None:
    for name in names:
        if getattr(cfg, name) < minimum:
            raise ValueError(f"key '{name}' must be >= {minimum:g}, got {getattr(cfg, name)}")


@dataclass
class VLLMEngineConfig(LLMEngineConfig):
    """vLLM on Ray Data (:mod:`annotate.engines.vllm_engine`): ``replicas`` engine replicas (one per GPU
    group) of ``tensor_parallel_size`` GPUs each, ``batch_size`` rows per engine batch, ``max_model_len``
    tokens, ``engine_kwargs`` passed to vLLM's engine as is, ``ray_address`` (None: start Ray locally;
    ``"auto"``: join the running cluster), ``device`` (``"cpu"``: the CPU build, for tests)."""

    device: Literal["auto", "cuda", "cpu"] = "auto"
    dtype: Dtype = "auto"
    replicas: int = 1
    tensor_parallel_size: int = 1
    batch_size: int = 16
    max_model_len: int = 8192
    engine_kwargs: dict[str, Any] = field(default_factory=dict)
    ray_address: str | None = None

    def validate(self) -> None:  # device and dtype are checked on loading; again here for a config built in code
        super().validate()
        if self.device not in ("auto", "cuda", "cpu"):
            raise ValueError(f"key 'device' must be auto, cuda or cpu, got {self.device!r}")
        _at_least(self, 1, "replicas", "tensor_parallel_size", "batch_size", "max_model_len")


@dataclass
class OpenAIEngineConfig(LLMEngineConfig):
    """Any OpenAI-compatible endpoint (:mod:`annotate.engines.openai_engine`): ``base_url`` (e.g.
    ``http://localhost:8000/v1``), ``api_key_env`` (the NAME of the environment variable holding the key;
    the key itself is never stored or logged; None = no key), ``timeout_s`` per attempt, ``max_retries``
    after the first attempt, ``max_concurrency`` requests in flight; the wait before retry k is uniform in
    [d/2, d], d = min(``backoff_max_s``, ``backoff_base_s`` * 2**k), and at least the server's Retry-After
    up to ``retry_after_max_s`` (seconds throughout); ``extra_body`` is merged into every request body and
    ``headers`` are extra HTTP headers (their values are masked in stats files)."""

    base_url: str | None = None
    api_key_env: str | None = None
    timeout_s: float = 120.0
    max_retries: int = 4
    max_concurrency: int = 8
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    retry_after_max_s: float = 300.0
    extra_body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        super().validate()
        _at_least(self, 0, "max_retries", "backoff_base_s", "backoff_max_s", "retry_after_max_s")
        _at_least(self, 1, "max_concurrency")
        if self.timeout_s <= 0:
            raise ValueError(f"key 'timeout_s' must be > 0 seconds, got {self.timeout_s}")


@dataclass
class TransformersEngineConfig(LLMEngineConfig):
    """transformers ``generate`` (:mod:`annotate.engines.transformers_engine`) on ``device`` (``auto``: CUDA
    when there is one; or a torch device such as ``cuda:1``), ``batch_size`` requests per batch."""

    device: str = "auto"
    dtype: Dtype = "auto"
    batch_size: int = 16

    def validate(self) -> None:
        super().validate()
        _at_least(self, 1, "batch_size")


@dataclass
class AcousticEngineConfig(EngineConfig):
    """The acoustic captioner (:mod:`annotate.engines.acoustic`): no model; ``measure`` its measurement
    settings (``configs/acoustic.yaml`` spells them out)."""

    measure: MeasureConfig = field(default_factory=MeasureConfig)


def engine_sections(class_name: str, names: tuple[str, ...], model: str | None = None) -> type:
    """A config dataclass with one section per engine of ``names`` (each its engine's settings class, at
    its defaults; ``model``: the default model of the LLM engines' sections), for the ``engine_config`` key
    of a config whose ``engine`` key selects one. ``sections[name]`` is engine ``name``'s section.
    A key of the old flat ``engine_config`` (``engine_config.base_url``) gets an error naming its new place
    (``moved_key``, read by :func:`clsp.config.from_dict`)."""
    from annotate.engines.registry import ENGINES

    def section(name: str) -> Any:
        cls = ENGINES[name].config_class
        return dataclasses.field(default_factory=lambda: cls(model=model) if model and issubclass(
            cls, LLMEngineConfig) else cls())

    def getitem(self: Any, name: str) -> EngineConfig:
        return getattr(self, name)

    def moved_key(cls: type, key: str) -> str | None:
        owners = [n for n in names if key in {f.name for f in dataclasses.fields(ENGINES[n].config_class)}]
        if not owners:
            return None
        return f"{owners[0] if len(owners) == 1 else '<engine>'}.{key}"

    sections = dataclasses.make_dataclass(
        class_name, [(n, ENGINES[n].config_class, section(n)) for n in names],
        namespace={"__getitem__": getitem, "moved_key": classmethod(moved_key),
                   "__doc__": f"One settings section per engine ({', '.join(names)})."})
    sections.__module__ = __name__
    globals()[class_name] = sections  # picklable by name
    return sections


def public_engine_config(sections: dict[str, Any]) -> dict[str, Any]:
    """``engine_config`` (its sections as dicts, :func:`clsp.config.to_dict`) fit to be written to stats and
    summary files: credentials inside a ``base_url`` (``user:password@``, ``?key=...`` values) and the values
    of extra HTTP ``headers`` replaced by ``***``."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    out = {}
    for name, section in sections.items():
        section = dict(section)
        if isinstance(section.get("headers"), dict):
            section["headers"] = {k: "***" for k in section["headers"]}
        url = section.get("base_url")
        if isinstance(url, str) and url:
            parts = urlsplit(url)
            netloc = parts.netloc
            if "@" in netloc:
                netloc = "***@" + netloc.rsplit("@", 1)[1]
            query = urlencode([(k, "***") for k, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
            section["base_url"] = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
        out[name] = section
    return out
