"""Preparers for evaluation corpora the user downloads: IEMOCAP, RAVDESS, CREMA-D, ParaSpeechCaps / FCaps.

lhotse 1.33 has no recipe for IEMOCAP, RAVDESS or CREMA-D (its ``ears`` and ``voxceleb`` recipes
prepare those corpora's own transcripts, not ParaSpeechCaps' captions), so each has a small
``prepare_<corpus>`` here writing our manifest format.
"""

from eval.corpora.cremad import prepare_cremad
from eval.corpora.hf_captions import prepare_caption_dataset
from eval.corpora.iemocap import prepare_iemocap
from eval.corpora.ravdess import prepare_ravdess

__all__ = ["prepare_caption_dataset", "prepare_cremad", "prepare_iemocap", "prepare_ravdess"]
