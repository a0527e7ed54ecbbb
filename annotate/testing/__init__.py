"""Test support, in one importable place (shipped with the package, like ``transformers.testing_utils``).

Here rather than in ``clsp``: the base may import no stage, and some support builds annotate engines; no
stage imports this package, tests and benchmarks do.

- :mod:`~annotate.testing.fault_server`: the FAULT-INJECTION OpenAI-compatible server (a fake, for tests);
- :mod:`~annotate.testing.fault_judge`: a scripted checklist judge behind it, for the verifier's tests;
- :mod:`~annotate.testing.tiny_models`: tiny random vLLM/transformers checkpoints built offline from configs;
- :mod:`~annotate.testing.tiny_clsp`: a tiny random CLSP model and tiny training-config overrides;
- :mod:`~annotate.testing.inputs`: the small corpus's settings, a test tone, bad-input and long manifests.
"""

from __future__ import annotations

import importlib

# name -> the module that holds it. Loaded on first use, so that one helper does not import them all (torch,
# lhotse) and ``python -m annotate.testing.fault_server`` starts light.
_HOMES = {
    **dict.fromkeys(["GOOD", "judge_engine", "judge_text"], "fault_judge"),
    **dict.fromkeys(["FaultServer", "audio_digest"], "fault_server"),
    **dict.fromkeys(["SMALL", "harmonic", "make_bad_manifest", "make_long_manifest"], "inputs"),
    **dict.fromkeys(["TINY", "TINY_RUN", "TINY_ZIPFORMER", "params", "tiny_model", "tiny_train_config"], "tiny_clsp"),
    **dict.fromkeys(["build_tiny_qwen2_audio", "build_tiny_text_lm", "cpu_engine_config", "tiny_cache_dir"],
                    "tiny_models"),
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
