"""The one data model: lhotse CutSet manifests with caption records and style attributes."""

from clsp.data.captions import (
    Caption,
    CaptionSource,
    add_captions,
    caption_texts,
    filter_captions,
    get_captions,
    has_captions,
    make_caption_id,
    update_captions,
    with_captions,
)
from clsp.data.manifest import (
    STYLE_FIELDS,
    find_split_manifest,
    load_checked,
    read_cuts,
    resolve_inputs,
    split_manifest_path,
    summarize,
    validate_cut,
    write_cuts,
)
from clsp.data.recipe import from_recipe_cut, to_recipe_cut

__all__ = [
    "Caption",
    "CaptionSource",
    "STYLE_FIELDS",
    "add_captions",
    "caption_texts",
    "filter_captions",
    "find_split_manifest",
    "from_recipe_cut",
    "get_captions",
    "has_captions",
    "load_checked",
    "make_caption_id",
    "read_cuts",
    "resolve_inputs",
    "split_manifest_path",
    "summarize",
    "to_recipe_cut",
    "update_captions",
    "validate_cut",
    "with_captions",
    "write_cuts",
]
