"""Neutral English sentences for the synthetic corpus.

Sentences are composed from small word lists, so thousands of distinct transcripts exist without a
text corpus. The words avoid style vocabulary (fast, loud, high, calm...) so a caption that copies
the transcript is detectable and a model cannot learn style from the words.
"""

from __future__ import annotations

import numpy as np

_SUBJECTS = [
    "the painter", "my neighbour", "the old farmer", "a young student", "the baker", "our teacher",
    "the gardener", "a tall stranger", "the librarian", "my cousin", "the captain", "a small child",
    "the mechanic", "the tailor", "her brother", "the doctor", "a quiet clerk", "the musician",
]
_VERBS = [
    "carried", "painted", "found", "repaired", "moved", "opened", "cleaned", "borrowed", "counted",
    "wrapped", "measured", "delivered", "folded", "sorted", "lifted", "washed", "tested", "mended",
]
_OBJECTS = [
    "a wooden ladder", "the blue bicycle", "three heavy boxes", "an empty basket", "the kitchen table",
    "a paper map", "the garden gate", "two glass jars", "a woollen blanket", "the brass lamp",
    "a stack of letters", "the iron kettle", "a bag of apples", "the green umbrella", "a silver spoon",
]
_PLACES = [
    "across the market square", "before the evening train", "near the old bridge", "in the back room",
    "after the long meeting", "beside the river", "at the end of the street", "during the morning",
    "behind the village hall", "on the second floor", "under the oak tree", "next to the harbour",
]


def sample_sentence(rng: np.random.Generator) -> str:
    """One sentence of 7-13 words, e.g. 'The baker folded a paper map beside the river.'"""
    subject = _SUBJECTS[rng.integers(len(_SUBJECTS))]
    verb = _VERBS[rng.integers(len(_VERBS))]
    obj = _OBJECTS[rng.integers(len(_OBJECTS))]
    place = _PLACES[rng.integers(len(_PLACES))]
    text = f"{subject} {verb} {obj} {place}."
    return text[0].upper() + text[1:]
