"""Retrieval, zero-shot classification and style-similarity evaluation."""
