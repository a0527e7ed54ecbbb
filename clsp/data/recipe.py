"""Import/export of the CLSP recipe's caption fields.

The icefall recipe (and the FCaps / ParaSpeechCaps manifests) keep captions on the first
supervision of each cut::

    supervision.custom = {"short_captions": [str, ...],   # global captions
                          "long_captions": [str, ...],    # fine captions
                          "pitch": str, "speaking_rate": str, "accent": str,
                          "intrinsic_tags": [str], "situational_tags": [str]}
    supervision.gender = "male" | "female"

:func:`from_recipe_cut` turns such a cut into our data model (captions as records in
``cut.custom["captions"]``, attributes as cut custom fields); :func:`to_recipe_cut` writes the kept
captions and attributes back onto the supervision so our manifests train in the original recipe's
**stage 2** (its stage 1 trains on ``supervision.text`` from webdataset tars, not on these manifests).
Stage 2 draws ``random.choice(short_captions)`` and ``random.sample(long_captions, 2)``, so
:func:`export_recipe_cuts` leaves out (and counts) cuts with fewer than :data:`RECIPE_MIN_CAPTIONS`; long
captions are written shortest first, as the recipe sorts them (its evaluation takes ``long_captions[-1]``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from lhotse.cut import Cut
from lhotse.utils import fastcopy

from clsp.data.captions import Caption, CaptionSource, add_captions, get_captions, make_caption_id
from clsp.errors import ManifestError

RECIPE_CAPTION_FIELDS = {"global": "short_captions", "fine": "long_captions"}
RECIPE_MIN_CAPTIONS = {"global": 1, "fine": 2}  # what the recipe's stage 2 samples from every cut
# Attributes the recipe keeps on supervisions; strings unless listed in _LIST_ATTRIBUTES.
RECIPE_ATTRIBUTES = ("pitch", "speaking_rate", "accent", "intrinsic_tags", "situational_tags")
_LIST_ATTRIBUTES = ("intrinsic_tags", "situational_tags")


def from_recipe_cut(cut: Cut, dataset: str = "recipe") -> Cut:
    """Recipe cut → our data model. Imported captions are ``kept`` with ``source.engine='import'``.

    Captions whose (kind, text) the cut already holds as records are not added twice.
    """
    if not cut.supervisions:
        raise ManifestError(f"cut '{cut.id}': the recipe format needs a supervision holding the captions")
    sup = cut.supervisions[0]
    custom = dict(sup.custom or {})
    source = CaptionSource(engine="import", model=dataset)
    captions = []
    present = {(c.kind, c.text) for c in get_captions(cut)}  # a cut we exported keeps its records too
    for kind, field in RECIPE_CAPTION_FIELDS.items():
        texts = custom.get(field) or []
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ManifestError(f"cut '{cut.id}': supervision field '{field}' must be a list of strings")
        for i, text in enumerate(texts):
            if (kind, text) in present:
                continue
            cid = make_caption_id(cut.id, kind, source, i)
            captions.append(Caption(id=cid, kind=kind, text=text, source=source, status="kept"))
    out = add_captions(cut, captions)
    gender = sup.gender or custom.get("gender")
    if gender:
        out = out.with_custom("gender", str(gender).lower())
    for name in RECIPE_ATTRIBUTES:
        if custom.get(name) is not None:
            value = custom[name]
            out = out.with_custom(name, list(value) if name in _LIST_ATTRIBUTES else str(value))
    return out


def to_recipe_cut(cut: Cut, status: str = "kept") -> Cut:
    """Our data model → recipe cut: captions of ``status`` become ``short_captions``/``long_captions``
    (long captions shortest first, as the recipe keeps them)."""
    if not cut.supervisions:
        raise ManifestError(f"cut '{cut.id}': the recipe format needs a supervision to hold the captions")
    sup = cut.supervisions[0]
    custom = dict(sup.custom or {})
    for kind, field in RECIPE_CAPTION_FIELDS.items():
        texts = [c.text for c in get_captions(cut, kind=kind, status=status)]
        custom[field] = sorted(texts, key=len) if kind == "fine" else texts
    cut_custom = cut.custom or {}
    for name in RECIPE_ATTRIBUTES:
        if cut_custom.get(name) is not None:
            custom[name] = cut_custom[name]
    gender = cut_custom.get("gender") or sup.gender
    new_sup = fastcopy(sup, custom=custom, gender=gender)
    return fastcopy(cut, supervisions=[new_sup, *cut.supervisions[1:]])


def export_recipe_cuts(cuts: Iterable[Cut], status: str, left_out: Counter[str]) -> Iterator[Cut]:
    """Recipe cuts of ``cuts`` (:func:`to_recipe_cut`) that the recipe's stage 2 can train on; the others are
    left out and counted in ``left_out`` by reason."""
    for cut in cuts:
        out = to_recipe_cut(cut, status)
        custom = out.supervisions[0].custom
        short = [k for k, n in RECIPE_MIN_CAPTIONS.items() if len(custom[RECIPE_CAPTION_FIELDS[k]]) < n]
        if short:
            kind = short[0]
            n = RECIPE_MIN_CAPTIONS[kind]
            left_out[f"fewer than {n} {status} {kind} caption{'s' if n > 1 else ''}"] += 1
            continue
        yield out
