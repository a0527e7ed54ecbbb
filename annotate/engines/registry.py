"""The engines, by name: the one list of them.

Each entry names the engine's class (its module imported on demand, so vLLM, Ray, transformers and httpx
load only for the engine used) and its typed settings (a class of :mod:`annotate.engines.configs`). What
else lists engines derives from :data:`ENGINES`: ``clsp annotate --engine``'s choices, the ``engine``
key and the ``engine_config`` sections of the annotate config, and the verifier's LLM engines (those whose
settings are an :class:`~annotate.engines.configs.LLMEngineConfig`). This module itself imports cheaply.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from clsp.errors import ClspError, one_line

if TYPE_CHECKING:
    from annotate.engines.base import Engine
    from annotate.engines.configs import EngineConfig

T = TypeVar("T")


@dataclass(frozen=True)
class EngineSpec:
    """Where engine ``name``'s class lives (``module``, ``cls``) and the name of its settings class in
    :mod:`annotate.engines.configs` (``config``)."""

    module: str
    cls: str
    config: str

    @property
    def config_class(self) -> type[EngineConfig]:
        from annotate.engines import configs

        return getattr(configs, self.config)

    @property
    def llm(self) -> bool:
        """Whether the engine answers text prompts with a model (the verifier's LLM checklist can use it)."""
        from annotate.engines.configs import LLMEngineConfig

        return issubclass(self.config_class, LLMEngineConfig)


ENGINES: dict[str, EngineSpec] = {
    "vllm": EngineSpec("annotate.engines.vllm_engine", "VLLMEngine", "VLLMEngineConfig"),
    "openai": EngineSpec("annotate.engines.openai_engine", "OpenAIEngine", "OpenAIEngineConfig"),
    "transformers": EngineSpec("annotate.engines.transformers_engine", "TransformersEngine",
                               "TransformersEngineConfig"),
    "acoustic": EngineSpec("annotate.engines.acoustic", "AcousticEngine", "AcousticEngineConfig"),
}


def engine_names() -> tuple[str, ...]:
    """Every engine's name, in :data:`ENGINES`' order."""
    return tuple(ENGINES)


def llm_engine_names() -> tuple[str, ...]:
    """The engines that are LLMs (usable by ``clsp verify``'s llm check)."""
    return tuple(name for name, spec in ENGINES.items() if spec.llm)


def engine_class(name: str) -> type:
    """The class of engine ``name`` (one of :data:`ENGINES`), its module imported on demand."""
    if name not in ENGINES:
        raise ClspError(f"unknown engine {name!r} (expected one of: {', '.join(ENGINES)})")
    spec = ENGINES[name]
    try:
        module = importlib.import_module(spec.module)
    except ModuleNotFoundError as e:
        if e.name == spec.module:
            raise ClspError(f"engine {name!r} is not available in this installation ({spec.module} is "
                            "missing)") from None
        raise ClspError(f"engine {name!r} needs the Python package '{e.name}', which is not installed") from None
    return getattr(module, spec.cls)


def preflight_engine(name: str, config: EngineConfig) -> None:
    """The cheap checks an engine can make before it is started (e.g. that its model can be found), so a run
    that would fail when it reaches the engine stops at once (:class:`~annotate.engines.base.EngineDown`)."""
    check = getattr(engine_class(name), "preflight", None)
    if check is not None:
        check(config)


def build_engine(name: str, config: EngineConfig) -> Engine:
    """An engine instance for ``name`` (one of :data:`ENGINES`) built from ``config`` (its settings section)."""
    from annotate.engines.base import EngineDown

    cls = engine_class(name)
    try:
        return cls(config)
    except ClspError:
        raise
    except Exception as e:  # a model that does not load, a server library that fails: one line, not a traceback
        raise EngineDown(f"engine {name!r} failed to start: {one_line(f'{type(e).__name__}: {e}')}") from None


def load_run_config(cls: type[T], path: str | Path | None, overrides: list[str], model: str | None = None) -> T:
    """``clsp.config.load_config(cls, path, overrides)`` for a config with ``engine`` and ``engine_config``
    (annotate's, verify's), with ``model`` (a ``--model`` flag; None: not given) set on the section of the
    engine the config selects, after the other overrides."""
    from clsp.config import load_config

    cfg: Any = load_config(cls, path, overrides)
    if model is None:
        return cfg
    if "model" not in {f.name for f in fields(cfg.engine_config[cfg.engine])}:
        raise ClspError(f"--model: the {cfg.engine} engine takes no model")
    return load_config(cls, path, [*overrides, f"engine_config.{cfg.engine}.model={json.dumps(model)}"])
