"""Test support that ships with the package: tiny random-weight checkpoints built offline."""

from annotate.testing.tiny_models import build_tiny_qwen2_audio, build_tiny_text_lm, cpu_engine_config

__all__ = ["build_tiny_qwen2_audio", "build_tiny_text_lm", "cpu_engine_config"]
