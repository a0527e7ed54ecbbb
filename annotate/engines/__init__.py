"""Caption / verifier engines behind one interface (:mod:`annotate.engines.base`), listed in
:mod:`annotate.engines.registry`, with their settings in :mod:`annotate.engines.configs`.

The names below load on first use, so importing the registry (e.g. for ``clsp annotate --engine``'s
choices) stays cheap."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Engine": "annotate.engines.base", "GenerationRequest": "annotate.engines.base",
    "GenerationResult": "annotate.engines.base", "SamplingConfig": "annotate.engines.base",
    "audio_message_part": "annotate.engines.base", "with_audio": "annotate.engines.base",
    "EngineConfig": "annotate.engines.configs",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
