"""The CLSP dual encoder (speech encoder + text encoder + heads) and its configuration."""

from clsp.model.clsp_model import CLSPModel
from clsp.model.config import HFAudioConfig, ModelConfig, SpeechEncoderConfig, TextEncoderConfig, ZipformerConfig

__all__ = ["CLSPModel", "HFAudioConfig", "ModelConfig", "SpeechEncoderConfig", "TextEncoderConfig",
           "ZipformerConfig"]
