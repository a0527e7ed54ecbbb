from lhotse import MonoCut, SupervisionSegment

from clsp.data import from_recipe_cut, get_captions, read_cuts, split_manifest_path, to_recipe_cut, write_cuts
from clsp.data.captions import update_captions


def recipe_cut():
    sup = SupervisionSegment(
        id="psc-1", recording_id="psc-1", start=0, duration=3.0, text="hello there", gender="female",
        custom={
            "short_captions": ["A woman speaks quickly with a high-pitched voice."],
            # shortest first, as the recipe keeps them
            "long_captions": ["Another long caption " * 8, "A young woman with a bright voice speaks quickly ... " * 4],
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


def test_export_recipe_leaves_out_what_stage_2_cannot_sample_and_sorts_long_captions(small_corpus, tmp_path, capsys):
    import random

    from clsp.cli import main

    cuts = list(read_cuts(split_manifest_path(small_corpus, "dev")))[:4]
    reject = lambda keep: lambda c: c if keep(c) else c.with_status("rejected", ["test"])  # noqa: E731
    fines = [c.id for c in get_captions(cuts[1], "fine")]
    cuts[0] = update_captions(cuts[0], reject(lambda c: c.kind != "global"))  # no global caption left
    cuts[1] = update_captions(cuts[1], reject(lambda c: c.kind == "global" or c.id == fines[0]))  # one fine
    src = write_cuts(cuts, tmp_path / "ours.jsonl.gz")
    assert main(["manifest", "export-recipe", str(src), str(tmp_path / "recipe.jsonl.gz")]) == 0
    assert capsys.readouterr().out.strip() == (
        f"exported 2 cuts -> {tmp_path / 'recipe.jsonl.gz'}; left out 2: 1 with fewer than 1 kept global caption, "
        "1 with fewer than 2 kept fine captions")
    exported = list(read_cuts(tmp_path / "recipe.jsonl.gz"))
    assert [c.id for c in exported] == [cuts[2].id, cuts[3].id]
    for cut in exported:  # what the recipe's stage 2 does with every cut
        custom = cut.supervisions[0].custom
        random.choice(custom["short_captions"])
        random.sample(custom["long_captions"], 2)
        assert [len(t) for t in custom["long_captions"]] == sorted(len(t) for t in custom["long_captions"])
        assert sorted(custom["long_captions"]) == sorted(c.text for c in get_captions(cut, "fine", "kept"))
    none_ok = write_cuts(cuts[:2], tmp_path / "none.jsonl.gz")
    assert main(["manifest", "export-recipe", str(none_ok), str(tmp_path / "r2.jsonl.gz")]) == 2
    assert "no cut has the captions the recipe's stage 2 needs" in capsys.readouterr().err
    assert not (tmp_path / "r2.jsonl.gz").exists()


def recipe_names(state):
    """Our state dict under the recipe's names (what icefall's CLAP model saves)."""
    return {k.replace("speech_encoder.", "", 1).replace("text_encoder.model.", "text_encoder.", 1): v
            for k, v in state.items()}


def test_recipe_checkpoint_takes_the_average_and_reports_in_recipe_names(tmp_path):
    from pathlib import Path

    import pytest
    import torch

    from annotate.testing import tiny_model
    from clsp.errors import ClspError
    from clsp.model.checkpoints import load_recipe_checkpoint

    trained, averaged = tiny_model(1).state_dict(), tiny_model(2).state_dict()
    model = {f"module.{k}": v for k, v in recipe_names(trained).items()}  # saved from a DDP-wrapped model
    model["module.text_encoder.embeddings.position_ids"] = torch.arange(512)[None]  # older transformers
    avg = {k: v.double() if v.is_floating_point() else v for k, v in recipe_names(averaged).items()}  # fp64, as icefall
    torch.save({"model": model, "model_avg": avg, "optimizer": {}, "sampler": {"epoch": 3}, "epoch": 3,
                "exp_dir": Path("spear_roberta/exp"), "best_valid_loss": float("inf")}, tmp_path / "epoch-3.pt")
    target = tiny_model(3)
    load_recipe_checkpoint(tmp_path / "epoch-3.pt", target)  # the average, as the recipe evaluates
    assert all(torch.equal(v, averaged[k]) for k, v in target.state_dict().items())
    load_recipe_checkpoint(tmp_path / "epoch-3.pt", target, use_averaged=False)
    assert all(torch.equal(v, trained[k]) for k, v in target.state_dict().items())
    torch.save({"model": recipe_names(trained)}, tmp_path / "export.pt")  # an export: {"model": ...}
    assert set(load_recipe_checkpoint(tmp_path / "export.pt")) == set(trained)

    broken = dict(recipe_names(trained))
    broken.pop("encoder_embed.conv.0.weight")
    broken["text_encoder.pooler.extra"] = torch.zeros(2)
    broken["audio_projection.0.weight"] = torch.zeros(3, 3)
    torch.save({"model": broken}, tmp_path / "bad.pt")
    with pytest.raises(ClspError) as err:
        load_recipe_checkpoint(tmp_path / "bad.pt", tiny_model(3))
    msg = str(err.value)
    assert "1 missing: encoder_embed.conv.0.weight" in msg and "1 unexpected: text_encoder.pooler.extra" in msg
    assert "1 shape mismatch: audio_projection.0.weight" in msg and "speech_encoder." not in msg
