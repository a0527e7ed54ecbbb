"""Time-aligned grounding: frame labels from segments, spans from scores, the segment error, the frame head
(save/load, scores), ``clsp ground`` and ``clsp eval grounding`` with a tiny random model on real audio."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from clsp.audio import load_audio
from clsp.cli import main
from clsp.errors import ClspError
from clsp.grounding import (DEFAULT_THRESHOLD, GROUNDING_TARGETS, UNKNOWN, GroundingTarget, frame_labels, ground,
                            phrase_threshold, spans_from_scores, spans_to_frames, target_spans, training_phrases)
from clsp.model import CLSPModel
from clsp.model.clsp_model import store_frame_thresholds
from clsp.model.config import FrameHeadConfig
from eval.grounding import (CALIBRATION_GRID, MIN_CALIBRATION_SECONDS, _segment_error, best_f1_threshold,
                            calibrate_thresholds, evaluate_grounding)

FAST = GroundingTarget("speaking_rate", "fast", ("speaking fast",))
SLOW = GroundingTarget("speaking_rate", "slow", ("speaking slowly",))
HIGH = GroundingTarget("pitch", "high", ("a high-pitched voice",))
WHISPER = GroundingTarget("voice_quality", "whisper", ("whispering",))
SEGMENTS = [{"start": 0.2, "end": 1.0, "speaking_rate": "slow", "pitch": "high"},
            {"start": 1.4, "end": 2.0, "speaking_rate": "fast"}]  # second segment: pitch unknown


def test_frame_labels_from_segments():
    # 0.2 s frames, centres 0.1, 0.3, ..., 2.3
    labels = frame_labels(SEGMENTS, [FAST, SLOW, HIGH, WHISPER], 12, 0.2, voice_quality="whisper")
    assert labels.shape == (4, 12) and labels.dtype == np.float32
    centres = (np.arange(12) + 0.5) * 0.2
    first = (centres >= 0.2) & (centres < 1.0)
    second = (centres >= 1.4) & (centres < 2.0)
    silence = ~first & ~second
    assert (labels[0, second] == 1).all() and (labels[0, first] == 0).all()       # fast
    assert (labels[1, first] == 1).all() and (labels[1, second] == 0).all()       # slow
    assert (labels[2, first] == 1).all() and (labels[2, second] == UNKNOWN).all()  # pitch unknown there
    assert (labels[3, first | second] == 1).all()                                 # the clip's voice quality
    assert (labels[:, silence] == 0).all()  # pauses and the ends: no style holds, for every phrase
    assert first.sum() == 4 and second.sum() == 3 and silence.sum() == 5
    # no segments: nothing known; more frames than the clip: 0 (silence)
    assert (frame_labels(None, [FAST], 5, 0.2) == UNKNOWN).all()
    assert frame_labels(SEGMENTS, [FAST], 30, 0.2)[0, 12:].sum() == 0


def test_frame_labels_boundary_uses_the_frame_centre():
    seg = [{"start": 0.0, "end": 0.25, "loudness": "loud"}, {"start": 0.25, "end": 0.5, "loudness": "soft"}]
    loud = GroundingTarget("loudness", "loud", ("a loud voice",))
    # 0.1 s frames, centres 0.05, 0.15, 0.25, 0.35, 0.45: the frame centred on 0.25 belongs to the second
    assert frame_labels(seg, [loud], 5, 0.1)[0].tolist() == [1, 1, 0, 0, 0]
    assert target_spans(seg, loud) == [(0.0, 0.25)]
    assert target_spans(seg, WHISPER, voice_quality="whisper") == [(0.0, 0.25), (0.25, 0.5)]


def test_spans_from_scores_bridges_gaps_and_drops_blips():
    scores = np.array([0.1, 0.9, 0.9, 0.2, 0.8, 0.8, 0.1, 0.1, 0.7, 0.1, 0.1, 0.1, 0.9, 0.9, 0.9])
    # 0.1 s frames: [0.1, 0.3) + gap 0.1 s + [0.4, 0.6) merge; [0.8, 0.9) is too short; [1.2, 1.5)
    assert spans_from_scores(scores, 0.1, 0.5, min_gap=0.15, min_duration=0.2) == [(0.1, 0.6), (1.2, 1.5)]
    assert spans_from_scores(scores, 0.1, 0.5, min_gap=0.0, min_duration=0.0) == [
        (0.1, 0.3), (0.4, 0.6), (0.8, 0.9), (1.2, 1.5)]
    assert spans_from_scores(scores, 0.1, 0.95) == []
    frames = spans_to_frames([(0.1, 0.6), (1.2, 1.5)], len(scores), 0.1)
    assert frames.tolist() == [False, True, True, True, True, True] + [False] * 6 + [True] * 3


def test_segment_error_counts_missed_false_alarm_and_confusion():
    # values (fast, slow) over 6 frames; reference: fast fast none slow slow none(unknown at frame 5)
    labels = np.array([[1, 1, 0, 0, 0, -1], [0, 0, 0, 1, 1, -1]], dtype=np.float32)
    active = np.array([[1, 0, 1, 1, 0, 1], [0, 0, 0, 1, 1, 0]], dtype=bool)
    scores = np.array([[.9, .1, .8, .6, .2, .9], [.1, .1, .1, .7, .9, .1]])
    # frame 0 right; 1 missed; 2 false alarm; 3 both active, slow scores higher: right; 4 right; 5 left out
    assert _segment_error(labels, active, scores) == {"missed": 1, "false_alarm": 1, "confusion": 0, "total": 5}
    scores[1, 3] = 0.5  # now fast wins at frame 3: confusion
    assert _segment_error(labels, active, scores)["confusion"] == 1


def test_training_phrases_cover_every_target():
    phrases, owner = training_phrases()
    assert len(phrases) == len(owner) == sum(len(t.phrases) for t in GROUNDING_TARGETS)
    assert [phrases[owner.index(i)] for i in range(len(GROUNDING_TARGETS))] == [t.phrase for t in GROUNDING_TARGETS]
    assert {"speaking fast", "speaking slowly", "a loud voice", "a soft voice", "a high-pitched voice",
            "a low-pitched voice", "whispering"} <= {t.phrase for t in GROUNDING_TARGETS}


# ---------------------------------------------------------------- with a model

@pytest.fixture(scope="module")
def ground_model_dir(tmp_path_factory, model_dir):
    model = CLSPModel.from_pretrained(model_dir)
    torch.manual_seed(0)
    model.add_frame_head(FrameHeadConfig(tau_init=0.5, bias_init=0.0))  # random head, scores spread out
    return model.save_pretrained(tmp_path_factory.mktemp("ground_model"))


@pytest.fixture(scope="module")
def test_cuts(small_corpus):
    from clsp.data import read_cuts, split_manifest_path

    return list(read_cuts(split_manifest_path(small_corpus, "test")))


def test_frame_head_round_trip_and_scores(ground_model_dir, test_cuts):
    model = CLSPModel.from_pretrained(ground_model_dir)
    assert model.config.frame_head == FrameHeadConfig(tau_init=0.5, bias_init=0.0)
    path = test_cuts[0].recording.sources[0].source
    (frames,) = model.encode_frames([path])
    assert frames.shape[1] == model.config.joint_dim
    assert abs(frames.shape[0] - test_cuts[0].duration / model.frame_shift) <= 2  # 25 Hz frames
    assert torch.allclose(frames.norm(dim=-1), torch.ones(frames.shape[0]), atol=1e-5)
    out = ground(model, [path], ["speaking fast", " whispering "], threshold=0.5)
    result = out["results"][0]
    assert out["texts"] == ["speaking fast", "whispering"] and out["frame_shift"] == pytest.approx(0.04)
    text = model.encode_text(out["texts"])
    expected = torch.sigmoid(2.0 * text @ frames.T)  # 1/tau = 2, b = 0
    for row, phrase in zip(expected, result["phrases"]):
        assert np.allclose(phrase["scores"], row.numpy(), atol=1e-4)
        assert phrase["spans"] == [list(s) for s in spans_from_scores(row.numpy(), 0.04, 0.5)]
    model.frame_head = None
    with pytest.raises(ClspError, match="no frame head"):
        ground(model, [path], ["speaking fast"])


def test_clsp_ground_cli_json_and_plot(ground_model_dir, test_cuts, tmp_path, capsys):
    path = test_cuts[0].recording.sources[0].source
    plot = tmp_path / "g.png"
    assert main(["ground", "--model", str(ground_model_dir), "--audio", path, "--text", "speaking fast",
                 "a loud voice", "--plot", str(plot)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["texts"] == ["speaking fast", "a loud voice"] and out["results"][0]["audio"] == path
    assert plot.stat().st_size > 1000 and out["plot"] == str(plot)
    for phrase in out["results"][0]["phrases"]:
        assert all(0 <= s <= 1 for s in phrase["scores"])
        assert all(0 <= a < b <= out["results"][0]["duration"] + 1e-6 for a, b in phrase["spans"])


def test_stack_frames_puts_consecutive_frames_side_by_side():
    from clsp.model.speech import stack_frames

    x = torch.arange(2 * 7 * 3, dtype=torch.float32).reshape(2, 7, 3)
    out = stack_frames(x, 2, 3)  # 7 frames -> 6 kept, 3 rows of 2
    assert out.shape == (2, 3, 6) and torch.equal(out[1, 2], torch.cat([x[1, 4], x[1, 5]]))
    padded = stack_frames(x, 4, 2)  # 7 frames -> padded to 8
    assert torch.equal(padded[0, 1], torch.cat([x[0, 4], x[0, 5], x[0, 6], torch.zeros(3)]))


@pytest.mark.parametrize("local", ["fbank", "embed"])
def test_frame_head_local_input_reads_what_lies_under_each_frame(local, model_dir, test_cuts, tmp_path):
    model = CLSPModel.from_pretrained(model_dir).eval()
    torch.manual_seed(0)
    model.add_frame_head(FrameHeadConfig(local_input=local, local_dim=8))
    path = test_cuts[0].recording.sources[0].source
    inputs, lengths = model.speech_inputs([load_audio(path)])
    frames, frame_lens, under = model.speech_encoder(inputs, lengths, local=local)
    assert under.shape == (1, frames.shape[1], model.speech_encoder.local_dim(local))
    if local == "fbank":  # output frame t holds fbank frames 4t .. 4t+3
        assert torch.equal(under[0, 3], inputs[0, 12:16].reshape(-1))
    with torch.no_grad():
        before = model.encode_frames([path])[0]
        model.frame_head.local_conv.weight.mul_(3)  # the local branch changes the frames' vectors
        assert not torch.allclose(model.encode_frames([path])[0], before, atol=1e-4)
    saved = CLSPModel.from_pretrained(model.save_pretrained(tmp_path / "m"))
    assert saved.config.frame_head.local_input == local
    assert torch.allclose(saved.encode_frames([path])[0], model.encode_frames([path])[0], atol=1e-5)


def test_frame_head_local_input_is_checked():
    with pytest.raises(ValueError, match="local_input"):
        FrameHeadConfig(local_input="mfcc").validate()


@pytest.mark.parametrize("args, message", [
    (["--audio", "/nonexistent/a.wav", "--text", "speaking fast"], "/nonexistent/a.wav: audio file not found"),
    (["--audio", "A.wav", "--text", ""], "non-empty style phrases"),
    (["--audio", "A.wav", "--text", "  "], "non-empty style phrases"),
    (["--audio", "A.wav"], "non-empty style phrases"),
    (["--audio", "A.wav", "--text", "x", "--threshold", "1.5"], "threshold must be in (0, 1)"),
])
def test_clsp_ground_bad_input_is_one_line(args, message, ground_model_dir, capsys):
    assert main(["ground", "--model", str(ground_model_dir), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("clsp: error: ") and message in err and err.count("\n") == 1


def test_clsp_ground_on_a_model_without_frame_head(model_dir, test_cuts, capsys):
    path = test_cuts[0].recording.sources[0].source
    assert main(["ground", "--model", str(model_dir), "--audio", path, "--text", "whispering"]) == 2
    assert "no frame head" in capsys.readouterr().err


def test_eval_grounding_counts_frames(ground_model_dir, test_cuts, small_corpus, tmp_path, capsys):
    model = CLSPModel.from_pretrained(ground_model_dir)
    result = evaluate_grounding(model, test_cuts, threshold=0.5)
    assert result["n"] == len(test_cuts) and result["skipped"] == 0
    fast = result["targets"]["speaking_rate=fast"]
    assert fast["phrase"] == "speaking fast" and (fast["f1"] is None or 0 <= fast["f1"] <= 1)
    total = sum(c.duration for c in test_cuts)
    for attr in result["attributes"].values():
        assert attr["total_seconds"] <= total + 1
        assert attr["error"] == pytest.approx((attr["missed_seconds"] + attr["false_alarm_seconds"]
                                               + attr["confusion_seconds"]) / attr["total_seconds"], abs=1e-3)
    manifest = small_corpus / "cuts_test.jsonl.gz"
    assert main(["eval", "grounding", "--model", str(ground_model_dir), "--manifest", str(manifest), "--out",
                 str(tmp_path), "--quiet"]) == 0
    assert "| speaking_rate | fast | speaking fast |" in capsys.readouterr().out
    assert json.loads((tmp_path / "grounding.json").read_text())["targets"] == json.loads(json.dumps(
        result["targets"]))


def test_best_f1_threshold_by_hand():
    scores = np.array([0.9, 0.8, 0.35, 0.3, 0.1, 0.05])
    labels = np.array([1, 1, 1, 0, 0, 0])
    # > 0.30 keeps the three positives only: F1 1; every lower threshold lets a negative in, higher ones lose one
    assert best_f1_threshold(scores, labels, np.array([0.2, 0.3, 0.32, 0.5])) == 0.3
    assert best_f1_threshold(scores, labels, np.array([0.5, 0.9])) == 0.5  # F1 0.8 vs 0
    assert best_f1_threshold(scores, np.zeros(6), np.array([0.5])) is None
    # no threshold of the grid finds a positive (F1 0 everywhere): no pick, not the grid's lowest
    assert best_f1_threshold(np.array([0.01, 0.9, 0.8]), np.array([1, 0, 0]), np.array([0.02, 0.5])) is None


def test_phrase_threshold_uses_the_owning_targets_calibration(ground_model_dir, test_cuts):
    model = CLSPModel.from_pretrained(ground_model_dir)
    path = test_cuts[0].recording.sources[0].source
    assert phrase_threshold(model, "speaking fast") == DEFAULT_THRESHOLD
    model.config.frame_head.thresholds = {"speaking_rate=fast": 0.2}
    # every phrase of the target (any case) takes its threshold; other phrases keep the default
    assert phrase_threshold(model, "Talking quickly ") == 0.2 and phrase_threshold(model, "speaking slowly") == 0.5
    assert phrase_threshold(model, "a husky voice") == DEFAULT_THRESHOLD
    out = ground(model, [path], ["speaking fast", "whispering"])
    assert out["thresholds"] == {"speaking fast": 0.2, "whispering": 0.5}
    assert [p["threshold"] for p in out["results"][0]["phrases"]] == [0.2, 0.5]
    assert ground(model, [path], ["speaking fast"], threshold=0.7)["thresholds"] == {"speaking fast": 0.7}


def test_calibrate_stores_thresholds_the_model_then_uses(ground_model_dir, test_cuts, small_corpus, tmp_path, capsys):
    model_dir = Path(shutil.copytree(ground_model_dir, tmp_path / "model"))
    model = CLSPModel.from_pretrained(model_dir)
    picked = calibrate_thresholds(model, test_cuts)
    labelled = {t.key for t in GROUNDING_TARGETS
                if any(t.value == (c.custom.get("voice_quality") if t.attribute == "voice_quality" else s.get(t.attribute))
                       for c in test_cuts for s in c.custom["style_segments"])}
    assert set(picked) <= labelled and picked and all(v in CALIBRATION_GRID for v in picked.values())
    positive_s = {t.key: sum(((frame_labels(c.custom["style_segments"], [t], 10_000, model.frame_shift,
                                            c.custom.get("voice_quality")) == 1).sum() * model.frame_shift)
                             for c in test_cuts) for t in GROUNDING_TARGETS}
    assert set(picked) == {k for k, s in positive_s.items() if s >= MIN_CALIBRATION_SECONDS}
    assert calibrate_thresholds(model, test_cuts, min_positive_s=1e6) == {}  # too few positives: keep 0.5
    # each picked threshold gives at least the F1 of 0.5 on the clips it was picked on
    at_half = evaluate_grounding(model, test_cuts, threshold=0.5)["targets"]
    model.config.frame_head.thresholds = picked
    at_picked = evaluate_grounding(model, test_cuts)["targets"]
    for key in picked:
        assert at_picked[key]["threshold"] == picked[key]
        assert (at_picked[key]["f1"] or 0) >= (at_half[key]["f1"] or 0) - 1e-9
    # the command stores them in the model folder; ground and eval then use them
    manifest = small_corpus / "cuts_test.jsonl.gz"
    assert main(["eval", "grounding", "--model", str(model_dir), "--manifest", str(manifest), "--calibrate",
                 "--quiet"]) == 0
    assert "calibrated on" in capsys.readouterr().err
    reloaded = CLSPModel.from_pretrained(model_dir)
    assert reloaded.config.frame_head.thresholds == picked
    assert torch.equal(reloaded.frame_head.out.weight, model.frame_head.out.weight)  # weights untouched
    assert main(["eval", "grounding", "--model", str(ground_model_dir), "--manifest", str(manifest), "--quiet",
                 "--threshold", "0"]) == 2
    assert "threshold must be in (0, 1)" in capsys.readouterr().err


def test_a_bad_stored_threshold_is_one_line(ground_model_dir, tmp_path):
    model_dir = Path(shutil.copytree(ground_model_dir, tmp_path / "model"))
    with pytest.raises(Exception, match=r"thresholds\.loudness=loud.*\(0, 1\)"):
        store_frame_thresholds(model_dir, {"loudness=loud": 1.5})
    assert CLSPModel.from_pretrained(model_dir).config.frame_head.thresholds == {}
