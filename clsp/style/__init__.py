"""Speaking-style labels and their description in words (shared by synth and annotate)."""

from clsp.style.describe import describe_fine, describe_global, write_captions
from clsp.style.labels import EMOTIONS, LEVELS, VARYING, StyleSpan, StyleSummary

__all__ = ["EMOTIONS", "LEVELS", "VARYING", "StyleSpan", "StyleSummary", "describe_fine", "describe_global",
           "write_captions"]
