from lhotse import MonoCut, SupervisionSegment

from clsp.data import from_recipe_cut, get_captions, read_cuts, split_manifest_path, to_recipe_cut, write_cuts
from clsp.data.captions import update_captions


def recipe_cut():
    sup = SupervisionSegment(
        id="psc-1", recording_id="psc-1", start=0, duration=3.0, text="hello there", gender="female",
        custom={
            "short_captions": ["A woman speaks quickly with a high-pitched voice."],
            "long_captions": ["A young woman with a bright voice speaks quickly ... " * 4, "Another long caption " * 8],
            "pitch": "high-pitched", "speaking_rate": "fast speed", "accent": "Scottish",
            "intrinsic_tags": ["shrill"], "situational_tags": ["enthusiastic"],
        },
    )
    return MonoCut(id="psc-1", start=0, duration=3.0, channel=0, supervisions=[sup])


def test_import_reads_recipe_fields_into_records():
    cut = from_recipe_cut(recipe_cut(), dataset="paraspeechcaps")
    globals_ = get_captions(cut, kind="global")
    fines = get_captions(cut, kind="fine")
    assert [c.text for c in globals_] == ["A woman speaks quickly with a high-pitched voice."]
    assert len(fines) == 2 and all(c.status == "kept" for c in globals_ + fines)
    assert {c.source.engine for c in fines} == {"import"} and fines[0].source.model == "paraspeechcaps"
    assert cut.custom["gender"] == "female" and cut.custom["accent"] == "Scottish"
    assert cut.custom["situational_tags"] == ["enthusiastic"]


def test_recipe_round_trip_is_lossless():
    original = recipe_cut()
    back = to_recipe_cut(from_recipe_cut(original))
    for field in ("short_captions", "long_captions", "pitch", "speaking_rate", "accent", "intrinsic_tags",
                  "situational_tags"):
        assert back.supervisions[0].custom[field] == original.supervisions[0].custom[field], field
    assert back.supervisions[0].gender == "female"


def test_export_keeps_only_the_requested_status(small_corpus, tmp_path):
    cuts = list(read_cuts(split_manifest_path(small_corpus, "dev")))
    # reject every global caption of the first cut: it exports with no short captions
    cuts[0] = update_captions(cuts[0], lambda c: c.with_status("rejected", ["test"]) if c.kind == "global" else c)
    out = write_cuts([to_recipe_cut(c) for c in cuts], tmp_path / "recipe.jsonl.gz")
    exported = list(read_cuts(out))
    assert exported[0].supervisions[0].custom["short_captions"] == []
    assert exported[1].supervisions[0].custom["short_captions"] == [c.text for c in get_captions(cuts[1], "global")]
    # ...and our export imports back to the same kept captions
    again = from_recipe_cut(exported[1])
    assert [c.text for c in get_captions(again)] == [c.text for c in get_captions(cuts[1])]
