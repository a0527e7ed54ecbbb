"""CLSP toolkit: speaking-style captioning and contrastive language-speech pretraining."""

__version__ = "0.1.0"
