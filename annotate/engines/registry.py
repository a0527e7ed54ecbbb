"""Engines by name, imported lazily (vLLM, Ray, transformers and httpx load only for the engine used)."""

from __future__ import annotations

import importlib

from annotate.engines.base import Engine, EngineConfig, EngineDown
from clsp.errors import ClspError, one_line

ENGINE_CLASSES: dict[str, tuple[str, str]] = {
    "vllm": ("annotate.engines.vllm_engine", "VLLMEngine"),
    "openai": ("annotate.engines.openai_engine", "OpenAIEngine"),
    "transformers": ("annotate.engines.transformers_engine", "TransformersEngine"),
    "acoustic": ("annotate.engines.acoustic", "AcousticEngine"),
}


def engine_names() -> tuple[str, ...]:
    return tuple(ENGINE_CLASSES)


def engine_class(name: str) -> type:
    """The class of engine ``name`` (one of :data:`ENGINE_CLASSES`), its module imported on demand."""
    if name not in ENGINE_CLASSES:
        raise ClspError(f"unknown engine {name!r} (expected one of: {', '.join(ENGINE_CLASSES)})")
    module_name, class_name = ENGINE_CLASSES[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            raise ClspError(f"engine {name!r} is not available in this installation ({module_name} is missing)") from None
        raise ClspError(f"engine {name!r} needs the Python package '{e.name}', which is not installed") from None
    return getattr(module, class_name)


def preflight_engine(name: str, config: EngineConfig) -> None:
    """The cheap checks an engine can make before it is started (e.g. that its model can be found), so a run
    that would fail when it reaches the engine stops at once (:class:`EngineDown`)."""
    check = getattr(engine_class(name), "preflight", None)
    if check is not None:
        check(config)


def build_engine(name: str, config: EngineConfig) -> Engine:
    """An engine instance for ``name`` (one of :data:`ENGINE_CLASSES`) built from ``config``."""
    cls = engine_class(name)
    try:
        return cls(config)
    except ClspError:
        raise
    except Exception as e:  # a model that does not load, a server library that fails: one line, not a traceback
        raise EngineDown(f"engine {name!r} failed to start: {one_line(f'{type(e).__name__}: {e}')}") from None
