"""Import shims that let Ray Data LLM (``ray.data.llm``) run on the vLLM release installed here.

Why: Ray 2.60's multimodal stage (``PrepareMultimodalUDF``) does
``from vllm.entrypoints.chat_utils import parse_chat_messages_async``, but vLLM 0.32 moved the chat
parsing to ``vllm.renderers.chat_utils`` and no longer has ``vllm.entrypoints.chat_utils`` at all, so every
audio request would fail inside Ray's stage with an ImportError. The import happens inside Ray worker
processes (the stage actors), not in the driver, so the fix has to be installed in every worker: the
VLLMEngine starts Ray with ``runtime_env={"worker_process_setup_hook": HOOK}``, which runs
:func:`install` once in each worker process as it starts.

:func:`install` adds an import hook, not a copy of anything: when (and only when) a listed old module
name cannot be found, importing it yields a small module that forwards attribute lookups to the new
location. With a vLLM that still has the old module, nothing changes. Nothing is imported at install
time, so workers that never touch vLLM (Ray Data read/map tasks) pay nothing. Keep Ray and vLLM pinned
together (ray 2.60 with vllm 0.32 is the tested pair); a new pair may need another alias here.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any

# old module name -> module that now holds its contents
ALIASES: dict[str, str] = {
    "vllm.entrypoints.chat_utils": "vllm.renderers.chat_utils",
}

HOOK = "annotate.engines.ray_compat.install"


class _ForwardingLoader(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # the default: a fresh, empty module

    def exec_module(self, module: ModuleType) -> None:
        target = self.target

        def __getattr__(name: str) -> Any:  # PEP 562: `from old import x` reads x from the new module
            return getattr(importlib.import_module(target), name)

        module.__getattr__ = __getattr__  # type: ignore[method-assign]
        module.__doc__ = f"Compatibility alias of {target} (installed by {__name__})."


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Resolves a name in :data:`ALIASES` to a forwarding module when no real module has that name."""

    def find_spec(self, fullname: str, path: Any, target: ModuleType | None = None):
        if fullname not in ALIASES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            if finder.find_spec(fullname, path, target) is not None:
                return None  # the real module exists: import it normally
        return importlib.util.spec_from_loader(fullname, _ForwardingLoader(ALIASES[fullname]))


def install() -> None:
    """Install the alias import hook in this process (idempotent). Ray's worker_process_setup_hook."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())


def runtime_env(env_vars: dict[str, str] | None = None) -> dict[str, Any]:
    """The job-level Ray runtime_env that installs the shims in every worker (plus ``env_vars``)."""
    env: dict[str, Any] = {"worker_process_setup_hook": HOOK}
    if env_vars:
        env["env_vars"] = dict(env_vars)
    return env
