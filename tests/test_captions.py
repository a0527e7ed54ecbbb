import pytest
from lhotse import MonoCut

from clsp.data.captions import (
    Caption,
    CaptionSource,
    add_captions,
    caption_texts,
    filter_captions,
    get_captions,
    make_caption_id,
    update_captions,
)
from clsp.errors import ManifestError


def bare_cut(cid="c1", captions=None):
    custom = {"captions": captions} if captions is not None else None
    return MonoCut(id=cid, start=0, duration=1.0, channel=0, custom=custom)


def cap(i, kind="fine", engine="acoustic", status="pending", seed=None):
    src = CaptionSource(engine=engine, model="m", prompt_id="p1", seed=seed if seed is not None else i)
    return Caption(id=make_caption_id("c1", kind, src, 0), kind=kind, text=f"text {i}", source=src, status=status)


def test_add_get_filter_update_do_not_mutate():
    cut = bare_cut()
    c2 = add_captions(cut, [cap(1), cap(2, kind="global"), cap(3, engine="vllm")])
    assert get_captions(cut) == []  # original untouched
    assert [c.text for c in get_captions(c2)] == ["text 1", "text 2", "text 3"]
    assert [c.text for c in get_captions(c2, kind="fine")] == ["text 1", "text 3"]
    assert [c.text for c in get_captions(c2, engine="vllm")] == ["text 3"]
    kept = update_captions(c2, lambda c: c.with_status("kept") if c.kind == "fine" else c.with_status(
        "rejected", ["too short"]))
    assert caption_texts(kept, "fine") == ["text 1", "text 3"]
    rejected = get_captions(kept, status="rejected")
    assert [(c.text, c.reasons) for c in rejected] == [("text 2", ("too short",))]
    only_vllm = filter_captions(kept, lambda c: c.source.engine == "vllm")
    assert [c.text for c in get_captions(only_vllm)] == ["text 3"]
    assert len(get_captions(kept)) == 3


def test_caption_ids_are_stable_and_re_adding_replaces():
    a, b = cap(1, seed=5), cap(9, seed=5)  # same (cut, kind, engine, prompt, seed, index) -> same id
    assert a.id == b.id == "c1/fine/acoustic/p1/s5/0"
    cut = add_captions(add_captions(bare_cut(), [a]), [b])
    assert [c.text for c in get_captions(cut)] == ["text 9"]


def test_duplicate_ids_in_one_call_are_refused():
    with pytest.raises(ManifestError, match="duplicate caption id"):
        add_captions(bare_cut(), [cap(1, seed=1), cap(2, seed=1)])


@pytest.mark.parametrize(
    "record, expected",
    [
        ({"id": "x", "kind": "medium", "text": "t", "source": {"engine": "e"}}, "field 'kind' must be 'global' or 'fine'"),
        ({"id": "x", "kind": "fine", "source": {"engine": "e"}}, "missing field 'text'"),
        ({"id": "x", "kind": "fine", "text": "t", "source": {"engine": "e"}, "status": "ok"}, "field 'status' must be"),
        ({"id": "x", "kind": "fine", "text": "t", "source": {"model": "m"}}, "'source' must be a mapping with a string"),
        ({"id": "x", "kind": "fine", "text": "t", "source": {"engine": "e", "seed": "7"}}, "'source.seed' must be"),
    ],
)
def test_bad_caption_records_name_the_cut_and_index(record, expected):
    cut = bare_cut("cut-42", [record])
    with pytest.raises(ManifestError) as err:
        get_captions(cut)
    assert str(err.value).startswith("cut 'cut-42' captions[0]: ")
    assert expected in str(err.value)
