"""Batch style captioning of speech corpora (Ray + vLLM and offline engines)."""
