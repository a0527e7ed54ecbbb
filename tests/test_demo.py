"""The demo end to end on a small corpus with training cut to a few steps: every stage's output is there,
the report holds every section and plot, the model loads, the trained-on captions are the engine's (not the
corpus's own), and a rerun reuses every finished stage."""

import json

import pytest

from clsp.data import get_captions, read_cuts, split_manifest_path
from recipes.demo import run_demo
from clsp.model import CLSPModel

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # every stage of the demo

SHORT = ["max_steps=3", "checkpoint_every=3", "log_every=1", "data.max_duration=60"]


def test_demo_runs_every_stage_and_reuses_them(tmp_path, capsys):
    out = tmp_path / "demo"
    assert run_demo(out, num_clips=100, train_overrides=SHORT) == 0
    first = capsys.readouterr().out
    assert "[8/8] write the report" in first and f"Report: {out / 'report.md'}" in first

    # the training data are the annotated + verified captions, made from the audio alone
    raw = list(read_cuts(split_manifest_path(out / "raw", "train")))
    assert raw and all(not get_captions(c) for c in raw)
    verified = list(read_cuts(split_manifest_path(out / "verified", "train")))
    captions = [cap for c in verified for cap in get_captions(c)]
    assert len(verified) == len(raw) and {cap.source.engine for cap in captions} == {"acoustic"}
    assert {cap.status for cap in captions} <= {"kept", "rejected"}
    assert sum(cap.status == "kept" for cap in captions) > 0.8 * len(captions)

    report = (out / "report.md").read_text()
    for section in ("## Annotation", "## Verification", "## Training", "### Zero-shot classification",
                    "### Speech ↔ text retrieval", "## Stage 3: attribute-sensitive fine-tuning",
                    "| **mean of the four** |", "## Time-aligned style grounding", "Segment level:",
                    "## Evaluation on a held-out voice source", "| held-out source: flite |",
                    "### held-out source: flite"):
        assert section in report
    for png in ("training_curves.png", "similarity_map.png", "eval/synth_gender.png", "eval/synth_rate.png",
                "grounding_example.png"):
        assert (out / png).stat().st_size > 5000, png
    metrics = json.loads((out / "demo_metrics.json").read_text())
    n_test = len(list(read_cuts(split_manifest_path(out / "data", "test"))))
    assert metrics["synth_gender"]["n"] == n_test and metrics["retrieval_global"]["n"] == n_test
    assert metrics["stage2"]["synth_gender"]["n"] == n_test
    assert "speaking_rate=fast" in metrics["grounding"]["targets"]
    # the held-out source (flite by default): every one of its clips evaluated, by stage 2 and 3, and grounded
    heldout = list(read_cuts(split_manifest_path(out / "data", "heldout")))
    assert heldout and {c.custom["source"] for c in heldout} == {"flite"} and set(metrics["heldout"]) == {"flite"}
    flite = metrics["heldout"]["flite"]
    assert flite["synth_gender"]["n"] == flite["stage2"]["synth_gender"]["n"] == len(heldout)
    assert "speaking_rate=fast" in flite["grounding"]["targets"]
    for stage in (2, 3):
        summary = json.loads((out / f"stage{stage}" / "train_summary.json").read_text())
        assert summary["steps"] == 3

    model = CLSPModel.from_pretrained(out / "model")  # stage 3's, with its frame head
    assert model.frame_head is not None
    assert model.encode_text(["A man speaks slowly."]).shape == (1, model.config.joint_dim)

    assert run_demo(out, num_clips=100, train_overrides=SHORT) == 0
    again = capsys.readouterr().out
    assert "reused the finished corpus" in again
    assert "0 captions requested" in again
    assert again.count("resumed from") == 3  # every stage starts at its last checkpoint, at the end
    assert "reused the finished verification" in again
