"""The CLSP dual encoder: shapes, audio input forms, export round trip, checkpoint key mapping."""

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from annotate.testing import TINY_ZIPFORMER
from clsp.audio import resample
from clsp.config import load_config
from clsp.errors import ClspError
from clsp.model import CLSPModel, HFAudioConfig, ModelConfig, SpeechEncoderConfig, TextEncoderConfig, ZipformerConfig
from clsp.model.checkpoints import load_spear_checkpoint, map_recipe_state_dict
from clsp.model.features import InputSpec
from clsp.model.speech import HFAudioEncoder, ZipformerSpeechEncoder, build_speech_encoder, speech_input_spec
from clsp.train.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wavs(small_corpus):
    return sorted((small_corpus / "wavs").glob("*.wav"))[:4]


def test_encode_audio_and_text_give_unit_vectors(model, wavs):
    a = model.encode_audio([str(p) for p in wavs])
    t = model.encode_text(["A man speaks slowly.", "A woman speaks quickly and loudly."])
    assert a.shape == (4, 512) and t.shape == (2, 512)
    assert torch.allclose(a.norm(dim=1), torch.ones(4), atol=1e-5)
    assert torch.allclose(t.norm(dim=1), torch.ones(2), atol=1e-5)
    sim = model.similarity(a, t)
    assert sim.shape == (4, 2) and sim.abs().max() <= 1 + 1e-5
    assert not torch.allclose(a[0], a[1])  # different clips, different embeddings


def test_resample_with_its_filter_designed_once_gives_scipys_own_samples():
    from math import gcd

    from scipy.signal import resample_poly

    rng = np.random.default_rng(0)
    for sr_in, sr_out in ((22050, 16000), (16000, 48000), (44100, 16000), (8000, 16000)):
        g = gcd(sr_in, sr_out)
        for dtype in (np.float32, np.float64, np.int16):
            x = (rng.normal(size=sr_in // 2) * 1000).astype(dtype)
            expected = resample_poly(x, sr_out // g, sr_in // g).astype(np.float32)  # scipy designing its filter
            assert np.array_equal(resample(x, sr_in, sr_out), expected)


def test_arrays_at_other_rates_are_resampled(model, wavs):
    audio, sr = sf.read(wavs[0], dtype="float32")
    from_path = model.encode_audio([str(wavs[0])])
    from_array = model.encode_audio([(audio, sr)])
    at_48k = model.encode_audio([(resample(audio, 16000, 48000), 48000)])
    assert torch.allclose(from_path, from_array, atol=1e-6)
    assert float(from_path @ at_48k.T) > 0.99
    with pytest.raises(ClspError, match="NaN"):
        model.encode_audio([(np.full(1600, np.nan, dtype=np.float32), 16000)])


def test_save_and_load_pretrained_offline(model, wavs, tmp_path):
    out = model.save_pretrained(tmp_path / "m")
    assert {"config.json", "model.safetensors", "text_encoder"} <= {p.name for p in out.iterdir()}
    assert (out / "text_encoder" / "tokenizer.json").is_file()
    again = CLSPModel.from_pretrained(out)
    texts = ["A deep-voiced man speaks softly."]
    assert torch.allclose(again.encode_text(texts), model.encode_text(texts), atol=1e-6)
    assert torch.allclose(again.encode_audio([str(wavs[1])]), model.encode_audio([str(wavs[1])]), atol=1e-6)
    (out / "model.safetensors").unlink()
    with pytest.raises(ClspError, match="not an exported CLSP model"):
        CLSPModel.from_pretrained(out)


def test_heads_and_temperature_follow_the_recipe(model):
    keys = set(model.state_dict())
    for name in ("audio_projection.0.weight", "audio_projection.2.weight", "audio_transform.sequential.0.weight",
                 "audio_transform.sequential.3.weight", "text_projection.0.weight", "text_transform.sequential.3.bias",
                 "logit_scale"):
        assert name in keys
    assert model.audio_projection[0].in_features == 64 and model.text_projection[0].in_features == 384
    assert float(model.logit_scale) == pytest.approx(math.log(1 / 0.07))
    with torch.no_grad():
        model.logit_scale.fill_(9.0)
    model.clamp_logit_scale()
    assert float(model.logit_scale) == pytest.approx(math.log(100))
    with torch.no_grad():
        model.logit_scale.fill_(math.log(1 / 0.07))


def test_recipe_checkpoint_keys_map_onto_ours(model):
    ours = model.state_dict()
    recipe = {}
    for key, value in ours.items():  # write our weights under the recipe's names
        key = key.replace("speech_encoder.", "", 1).replace("text_encoder.model.", "text_encoder.", 1)
        recipe[key] = value
    assert "encoder_embed.conv.0.weight" in recipe and "text_encoder.embeddings.word_embeddings.weight" in recipe
    mapped = map_recipe_state_dict(recipe)
    assert set(mapped) == set(ours)
    model.load_state_dict(mapped, strict=True)


def test_spear_checkpoint_loads_strictly_with_a_readable_report(tmp_path):
    torch.manual_seed(1)
    src = ZipformerSpeechEncoder(TINY_ZIPFORMER)
    state = {f"model.{k}" if i % 2 else k: v for i, (k, v) in enumerate(src.state_dict().items())}
    torch.save({"model": state, "optimizer": {}}, tmp_path / "spear.pt")
    dst = ZipformerSpeechEncoder(TINY_ZIPFORMER)
    report = load_spear_checkpoint(dst, tmp_path / "spear.pt")
    assert report.ok and report.loaded == len(src.state_dict())
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v)
    bad = dict(state)
    bad.pop("encoder_embed.conv.0.weight")
    bad["encoder.extra.weight"] = torch.zeros(1)
    torch.save({"model": bad}, tmp_path / "bad.pt")
    with pytest.raises(ClspError) as err:
        load_spear_checkpoint(ZipformerSpeechEncoder(TINY_ZIPFORMER), tmp_path / "bad.pt")
    msg = str(err.value)
    assert "1 missing: encoder_embed.conv.0.weight" in msg and "1 unexpected: encoder.extra.weight" in msg


def test_spear_xlarge_size_on_the_meta_device():
    with torch.device("meta"):
        enc = ZipformerSpeechEncoder(ZipformerConfig())  # defaults are SPEAR-XLarge
    n = sum(p.numel() for p in enc.parameters())
    assert 590e6 < n < 605e6, n  # the paper: ~599M
    assert enc.output_dim == 1280


def test_the_input_spec_of_a_config_is_the_built_encoders_own():
    xlarge = load_config(TrainConfig, REPO / "configs" / "clsp-xlarge-stage1.yaml").model.speech
    other = SpeechEncoderConfig(zipformer=replace(TINY_ZIPFORMER, num_mel_bins=80, frame_shift=0.02))
    for cfg in (xlarge, other):
        with torch.device("meta"):
            built = build_speech_encoder(cfg, pretrained=False).input_spec
        assert speech_input_spec(cfg) == built == InputSpec("fbank", cfg.zipformer.num_mel_bins, cfg.zipformer.frame_shift)
    assert speech_input_spec(xlarge).num_mel_bins == 128
    assert speech_input_spec(SpeechEncoderConfig(backend="hf", hf=HFAudioConfig(name_or_path="x"))).kind == "waveform"


@pytest.mark.parametrize("spec, frames_per_second", [
    ({"model_type": "wav2vec2", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
      "intermediate_size": 64, "conv_dim": [16, 16], "conv_kernel": [10, 3], "conv_stride": [5, 2],
      "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2}, 1600),
    ({"model_type": "whisper", "d_model": 32, "encoder_layers": 1, "decoder_layers": 1, "encoder_attention_heads": 2,
      "decoder_attention_heads": 2, "encoder_ffn_dim": 64, "decoder_ffn_dim": 64, "num_mel_bins": 80}, 50),
])
def test_transformers_audio_backends(spec, frames_per_second):
    enc = HFAudioEncoder(HFAudioConfig(config=spec)).eval()
    waves = torch.randn(2, 16000)
    lengths = torch.tensor([16000, 8000])
    with torch.no_grad():
        feats, lens = enc(waves, lengths)
    assert feats.shape[0] == 2 and feats.shape[2] == 32
    assert abs(int(lens[0]) - frames_per_second) <= 2 and abs(int(lens[1]) - frames_per_second // 2) <= 2


def test_hf_backend_model_builds_and_encodes(wavs):
    cfg = ModelConfig(speech=SpeechEncoderConfig(backend="hf", hf=HFAudioConfig(config={
        "model_type": "wavlm", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": 64, "conv_dim": [16, 16], "conv_kernel": [10, 3], "conv_stride": [5, 2],
        "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2})))
    m = CLSPModel(cfg)
    assert m.encode_audio([str(p) for p in wavs[:2]]).shape == (2, 512)


def test_remote_code_needs_explicit_trust(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "spear", "auto_map": {"AutoModel": "modeling.SpearModel"}}')
    with pytest.raises(ClspError):
        HFAudioEncoder(HFAudioConfig(name_or_path=str(tmp_path)))


def test_text_encoder_pooler_pooling_with_random_weights():
    cfg = ModelConfig(speech=SpeechEncoderConfig(zipformer=TINY_ZIPFORMER), text=TextEncoderConfig(
        pooling="pooler", config={"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 1,
                                  "num_attention_heads": 2, "intermediate_size": 64, "vocab_size": 30522}))
    m = CLSPModel(cfg)
    assert m.text_projection[0].in_features == 32
    assert m.encode_text(["a", "b c"]).shape == (2, 512)
