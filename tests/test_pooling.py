"""The BatchNorm on the pooled speech and text vectors (``model.pooled_norm: batch``, the demo configs' fix for
the InfoNCE plateau): it separates clips and captions at initialisation, it is saved with the model, and at
inference it is a fixed map (a clip's vector does not depend on the batch it is encoded in)."""

from pathlib import Path

import pytest
import torch

from clsp.audio import load_audio
from clsp.config import load_config
from clsp.data import read_cuts, split_manifest_path
from clsp.data.captions import get_captions
from clsp.model import CLSPModel
from clsp.model.pooling import masked_mean
from clsp.train.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]


def demo_model(seed: int, norm: str) -> CLSPModel:
    cfg = load_config(TrainConfig, REPO / "configs" / "demo-stage1.yaml", [f"model.pooled_norm={norm}"])
    torch.manual_seed(seed)
    return CLSPModel(cfg.model)


def mean_cosine(z: torch.Tensor) -> float:
    """Mean cosine similarity of the distinct pairs of rows of (B, D)."""
    z = torch.nn.functional.normalize(z.float(), dim=-1)
    sim = z @ z.T
    return float(sim[~torch.eye(len(z), dtype=torch.bool)].mean())


@pytest.fixture(scope="module")
def cuts(small_corpus):
    return list(read_cuts(split_manifest_path(small_corpus, "train")))[:16]


@pytest.fixture(scope="module")
def clips(cuts):
    return [str(c.recording.sources[0].source) for c in cuts]


def test_demo_configs_use_the_pooled_norm():
    assert load_config(TrainConfig, REPO / "configs" / "demo-stage1.yaml").model.pooled_norm == "batch"
    assert isinstance(demo_model(0, "none").audio_norm, torch.nn.Identity)  # the paper's default: no buffers


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pooled_norm_separates_clips_and_captions_at_initialisation(cuts, clips, seed):
    """The cause of the plateau and its fix, on real clips and captions with the demo config at init: the pooled
    vectors of different inputs are nearly parallel, and still are after the heads; with the norm they are not."""
    texts = [next(c.text for c in get_captions(cut) if c.kind == "global") for cut in cuts]
    found = {}
    for norm in ("none", "batch"):
        model = demo_model(seed, norm).eval()
        model.audio_norm.train()  # batch statistics, as in training (the rest without dropout)
        model.text_norm.train()
        with torch.no_grad():
            inputs, lengths = model.speech_inputs([load_audio(p) for p in clips])
            frames, frame_lens = model.speech_encoder(inputs, lengths)
            found[norm, "speech pooled"] = masked_mean(frames, frame_lens)
            found[norm, "speech"] = model.forward_speech(inputs, lengths)
            tok = model.text_encoder.tokenize(texts, model.device)
            found[norm, "text"] = model.forward_text(tok["input_ids"], tok["attention_mask"])
    assert mean_cosine(found["none", "speech pooled"]) > 0.9  # one direction common to every clip dominates
    for side in ("speech", "text"):
        assert mean_cosine(found["none", side]) > 0.9
        assert mean_cosine(found["batch", side]) < mean_cosine(found["none", side]) - 0.2


def test_pooled_norm_statistics_are_saved_and_fixed_at_inference(cuts, clips, tmp_path):
    model = demo_model(0, "batch").train()
    inputs, lengths = model.speech_inputs([load_audio(p) for p in clips])
    texts = [c.text for cut in cuts for c in get_captions(cut)]
    with torch.no_grad():  # training-mode forwards update the running statistics
        model.forward_speech(inputs, lengths)
        tok = model.text_encoder.tokenize(texts, model.device)
        model.forward_text(tok["input_ids"], tok["attention_mask"])
    for norm in (model.audio_norm, model.text_norm):
        assert int(norm.num_batches_tracked) == 1 and float(norm.running_mean.abs().max()) > 0

    loaded = CLSPModel.from_pretrained(model.save_pretrained(tmp_path / "m"))
    for name in ("audio_norm", "text_norm"):
        for stat in ("running_mean", "running_var"):
            assert torch.equal(getattr(getattr(loaded, name), stat), getattr(getattr(model, name), stat))
    model.eval()
    with torch.no_grad():
        expected_speech = model.forward_speech(inputs, lengths)
        expected_text = model.forward_text(tok["input_ids"], tok["attention_mask"])
    assert torch.allclose(loaded.encode_audio(clips, batch_size=16), expected_speech, atol=1e-5)
    assert torch.allclose(loaded.encode_text(texts, batch_size=len(texts)), expected_text, atol=1e-5)
    # a fixed map at inference: a clip alone and in a batch of copies, a caption alone, give the same vector
    assert torch.allclose(loaded.encode_audio(clips[:1] * 3)[2], loaded.encode_audio(clips[:1])[0], atol=1e-5)
    assert torch.allclose(loaded.encode_text(texts[:1])[0], expected_text[0], atol=1e-5)
