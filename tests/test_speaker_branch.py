"""The frozen speaker branch (clsp/model/speaker.py): GE2E's input features, its real weights (the file the PyPI
package ``resemblyzer`` ships) telling voices of three engines apart, and a CLSP model carrying it: frozen,
saved with the model, independent of batching, and left alone by a SPEAR checkpoint."""

import dataclasses
from collections import OrderedDict

import numpy as np
import pytest
import torch

from annotate.testing import TINY_ZIPFORMER
from clsp.errors import ClspError
from clsp.model import CLSPModel, ModelConfig, SpeechEncoderConfig
from clsp.model import speaker as speaker_module
from clsp.model.checkpoints import load_spear_checkpoint
from clsp.model.speaker import SpeakerEncoder, mel_filterbank, resemblyzer_weights, speaker_mel_frames
from clsp.model.speech import ZipformerSpeechEncoder
from clsp.synth.backends import Controls, get_backend
from schedulers.optim import OptimConfig, build_optimizer

SPEAKER_ZIPFORMER = dataclasses.replace(TINY_ZIPFORMER, speaker_branch="resemblyzer", frame_shift=0.02)
SENTENCES = ("My cousin carried three heavy boxes across the market square.",
             "The old clock on the wall stopped ringing before the storm.")
VOICES = {"espeak": ["en-us+f3", "en-us+m3", "en-gb-x-rp+f5"], "flite": ["slt", "awb", "rms"], "piper": ["joe"]}


def test_mel_filterbank_is_the_slaney_one_ge2e_was_trained_with():
    from torchaudio.functional import melscale_fbanks  # pure torch (librosa's filters.mel defaults)

    ref = melscale_fbanks(201, 0.0, 8000.0, 40, 16000, norm="slaney", mel_scale="slaney").T.numpy()
    np.testing.assert_allclose(mel_filterbank(), ref, rtol=1e-4, atol=1e-7)


def test_mel_frames_follow_the_wave_not_its_level():
    rng = np.random.default_rng(0)
    wave = (0.05 * rng.standard_normal(16000)).astype(np.float32)
    mels = speaker_mel_frames(wave)
    assert mels.shape == (101, 40) and np.isfinite(mels).all()
    np.testing.assert_allclose(speaker_mel_frames(wave * 8), mels, rtol=1e-4)
    assert speaker_mel_frames(np.zeros(3200, np.float32)).shape == (21, 40)  # silence: no division by zero


@pytest.fixture(scope="module")
def voice_embeddings(tmp_path_factory):
    """{voice id: [(256,) embedding per sentence]} from the real GE2E weights, on two sentences of seven voices
    from three engines."""
    work = str(tmp_path_factory.mktemp("voices"))
    encoder = SpeakerEncoder()
    encoder.load_weights("resemblyzer")
    out = {}
    for name, wanted in VOICES.items():
        backend = get_backend(name, work)
        backend.prepare()
        voices = {v.name: v for v in backend.voices()}
        for voice_name in wanted:
            vectors = []
            for text in SENTENCES:
                wave = backend.render(voices[voice_name], text, Controls())
                mels = torch.from_numpy(speaker_mel_frames(wave))[None]
                vectors.append(encoder(mels, torch.tensor([mels.shape[1]]))[0])
            out[f"{name}:{voice_name}"] = vectors
    return out


def test_ge2e_weights_tell_voices_of_three_engines_apart(voice_embeddings):
    # speaker verification's property: another sentence of the same voice is nearer than any other voice
    for voice, (a, b) in voice_embeddings.items():
        same = float(a @ b)
        others = max(float(a @ v) for other, vs in voice_embeddings.items() if other != voice for v in vs)
        assert same > others, (voice, same, others)


def test_partial_windows_cover_the_utterance():
    assert SpeakerEncoder.windows(100) == [(0, 100)]
    assert SpeakerEncoder.windows(160) == [(0, 160)]
    spans = SpeakerEncoder.windows(500)
    assert spans[0] == (0, 160) and all(e - s == 160 for s, e in spans) and spans[-1][1] >= 500 - 0.75 * 77


@pytest.fixture(scope="module")
def speaker_model():
    torch.manual_seed(0)
    return CLSPModel(ModelConfig(speech=SpeechEncoderConfig(zipformer=SPEAKER_ZIPFORMER))).eval()


def test_a_model_with_the_branch_keeps_it_frozen_and_saves_it(speaker_model, tmp_path):
    model = speaker_model
    assert model.speech_encoder.output_dim == max(SPEAKER_ZIPFORMER.encoder_dim) + 256
    reference = SpeakerEncoder()
    reference.load_weights("resemblyzer")
    for k, v in reference.state_dict().items():
        assert torch.equal(model.speech_encoder.speaker.state_dict()[k], v)
    speaker_params = {id(p) for p in model.speech_encoder.speaker.parameters()}
    optimizer, _ = build_optimizer(model, OptimConfig())
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert speaker_params and not speaker_params & in_optimizer
    model.train()
    assert not model.speech_encoder.speaker.training  # frozen: eval mode whatever the model's

    rng = np.random.default_rng(1)
    waves = [(0.05 * rng.standard_normal(n)).astype(np.float32) for n in (12000, 40000)]  # 0.75 s and 2.5 s
    enc = model.speech_encoder
    voice = enc.speaker(*enc.input_spec.split(*enc.input_spec(waves))[2:])
    alone = torch.cat([enc.speaker(*enc.input_spec.split(*enc.input_spec([w]))[2:]) for w in waves])
    torch.testing.assert_close(voice, alone, atol=1e-5, rtol=1e-5)  # padding does not reach the voice vector
    together = model.encode_audio([(w, 16000) for w in waves], batch_size=2)
    model.save_pretrained(tmp_path / "m")
    loaded = CLSPModel.from_pretrained(tmp_path / "m")
    torch.testing.assert_close(loaded.encode_audio([(w, 16000) for w in waves]), together, atol=1e-5, rtol=1e-5)


def test_speaker_dropout_zeroes_whole_voice_vectors_in_training_only():
    torch.manual_seed(2)
    cfg = dataclasses.replace(SPEAKER_ZIPFORMER, speaker_dropout=0.5)
    enc = ZipformerSpeechEncoder(cfg, pretrained=True)
    rng = np.random.default_rng(3)
    waves = [(0.05 * rng.standard_normal(16000)).astype(np.float32) for _ in range(16)]
    inputs, lengths = enc.input_spec(waves)
    width = max(cfg.encoder_dim)
    enc.train()
    voice = enc(inputs, lengths)[0][:, :, width:]
    dropped = (voice == 0).all(dim=2).all(dim=1)
    assert 0 < int(dropped.sum()) < 16  # some clips lose their voice vector, not all (p = 0.5 over 16 clips)
    assert bool((voice[~dropped] != 0).any(dim=2).all())  # the others keep it in every frame
    enc.eval()
    assert bool((enc(inputs, lengths)[0][:, :, width:] != 0).any(dim=2).all())  # eval never drops
    with pytest.raises(ValueError, match="speaker_dropout"):
        dataclasses.replace(SPEAKER_ZIPFORMER, speaker_dropout=1.0).validate()


def test_a_spear_checkpoint_leaves_the_speaker_branch_alone(tmp_path):
    torch.manual_seed(1)
    src = ZipformerSpeechEncoder(TINY_ZIPFORMER)
    torch.save({"model": src.state_dict()}, tmp_path / "spear.pt")
    dst = ZipformerSpeechEncoder(dataclasses.replace(TINY_ZIPFORMER, speaker_branch="resemblyzer"))
    before = {k: v.clone() for k, v in dst.speaker.state_dict().items()}
    assert load_spear_checkpoint(dst, tmp_path / "spear.pt").ok
    assert all(torch.equal(dst.speaker.state_dict()[k], v) for k, v in before.items())
    assert torch.equal(dst.encoder_embed.conv[0].weight, src.encoder_embed.conv[0].weight)


def test_bad_speaker_weights_are_one_line_errors(tmp_path):
    (tmp_path / "cut.pt").write_bytes(resemblyzer_weights().read_bytes()[:1000])
    torch.save({"model_state": {"lstm.weight_ih_l0": torch.zeros(1024, 40)}}, tmp_path / "part.pt")
    for path, words in ((tmp_path / "none.pt", "not found"), (tmp_path / "cut.pt", "not a GE2E weights file"),
                        (tmp_path / "part.pt", "lacks")):
        with pytest.raises(ClspError, match=words) as err:
            SpeakerEncoder().load_weights(str(path))
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="multiple of 0.01"):
        dataclasses.replace(SPEAKER_ZIPFORMER, frame_shift=0.015).validate()


def test_the_embedding_cache_gives_what_the_lstm_gives_and_forgets_old_weights(monkeypatch):
    monkeypatch.setattr(speaker_module, "_VECTORS", OrderedDict())
    encoder = SpeakerEncoder()
    encoder.load_weights("resemblyzer")
    rng = np.random.default_rng(2)
    mels = [torch.from_numpy(speaker_mel_frames((0.05 * rng.standard_normal(n)).astype(np.float32)))
            for n in (20000, 48000)]
    x = torch.nn.utils.rnn.pad_sequence(mels, batch_first=True)
    lengths = torch.tensor([m.shape[0] for m in mels])
    first = encoder(x, lengths)
    assert len(speaker_module._VECTORS) == 2
    torch.testing.assert_close(encoder(x, lengths), first, rtol=0, atol=0)
    torch.testing.assert_close(encoder._embed(x, lengths), first, rtol=1e-6, atol=1e-6)
    # a second encoder with the same weights (the next stage's model) finds the vectors without the LSTM
    other = SpeakerEncoder()
    other.load_weights("resemblyzer")
    monkeypatch.setattr(other, "_embed", None)  # calling it would fail
    torch.testing.assert_close(other(x, lengths), first, rtol=0, atol=0)
    encoder.load_state_dict({k: torch.zeros_like(v) for k, v in encoder.state_dict().items()})
    assert not torch.allclose(encoder(x, lengths), first)  # new weights: nothing stale from the cache
    assert len(speaker_module._VECTORS) == 4


def test_a_smaller_speaker_dim_is_a_trained_projection():
    torch.manual_seed(0)
    cfg = dataclasses.replace(SPEAKER_ZIPFORMER, speaker_dim=16)
    model = CLSPModel(ModelConfig(speech=SpeechEncoderConfig(zipformer=cfg)))
    assert model.speech_encoder.output_dim == max(cfg.encoder_dim) + 16
    optimizer, _ = build_optimizer(model, OptimConfig())
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert {id(p) for p in model.speech_encoder.speaker_proj.parameters()} <= in_optimizer
    inputs, lengths = model.speech_inputs([np.zeros(16000, np.float32) + 0.01])
    frames, _ = model.speech_encoder(inputs, lengths)
    assert frames.shape[-1] == model.speech_encoder.output_dim
    with pytest.raises(ValueError, match="speaker_dim"):
        dataclasses.replace(cfg, speaker_dim=0).validate()


def test_adding_the_branch_to_a_trained_model_keeps_its_outputs(tmp_path):
    from clsp.model.config import FrameHeadConfig

    torch.manual_seed(0)
    model = CLSPModel(ModelConfig(speech=SpeechEncoderConfig(zipformer=dataclasses.replace(TINY_ZIPFORMER,
                                                                                           frame_shift=0.02)),
                                  pooled_norm="batch", frame_head=FrameHeadConfig())).eval()
    rng = np.random.default_rng(3)
    waves = [(0.05 * rng.standard_normal(n)).astype(np.float32) for n in (16000, 30000)]
    before = model.encode_audio([(w, 16000) for w in waves], batch_size=1)
    inputs, lengths = model.speech_inputs(waves)
    frames_before = model.forward_speech(inputs, lengths, return_frames=True)[1]
    d = model.speech_encoder.output_dim
    model.add_speaker_branch("resemblyzer")
    assert model.speech_encoder.output_dim == d + 256 and model.config.speech.zipformer.speaker_branch == "resemblyzer"
    after = model.encode_audio([(w, 16000) for w in waves], batch_size=1)
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-5)  # zero-initialised new inputs
    inputs, lengths = model.speech_inputs(waves)
    assert inputs.shape[-1] == TINY_ZIPFORMER.num_mel_bins + 2 * 40  # + two 10 ms GE2E frames per 20 ms row
    torch.testing.assert_close(model.forward_speech(inputs, lengths, return_frames=True)[1], frames_before,
                               atol=1e-5, rtol=1e-5)
    model.save_pretrained(tmp_path / "m")  # the export records it and loads as a model built with it
    loaded = CLSPModel.from_pretrained(tmp_path / "m")
    torch.testing.assert_close(loaded.encode_audio([(w, 16000) for w in waves], batch_size=1), after, atol=1e-5,
                               rtol=1e-5)
    with pytest.raises(ClspError, match="already has"):
        model.add_speaker_branch("resemblyzer")


def test_stage2_adds_the_branch_to_its_init_model_and_trains_around_it(small_corpus, tmp_path):
    from annotate.testing import params, tiny_train_config
    from clsp.train.trainer import train

    stage1 = train(tiny_train_config("demo-stage1.yaml", "max_steps=2"), small_corpus, tmp_path / "s1", progress=False)
    stage2 = train(tiny_train_config("demo-stage2.yaml", "max_steps=2", "add_speaker_branch=resemblyzer"),
                   small_corpus, tmp_path / "s2", init=stage1, progress=False)
    loaded = CLSPModel.from_pretrained(stage2)
    assert loaded.config.speech.zipformer.speaker_branch == "resemblyzer"
    reference = SpeakerEncoder()
    reference.load_weights("resemblyzer")
    for k, v in reference.state_dict().items():  # frozen through training
        assert torch.equal(loaded.speech_encoder.speaker.state_dict()[k], v), k
    before, after = params(stage1), loaded.state_dict()
    assert not torch.equal(before["speech_encoder.encoder_embed.conv.0.weight"],
                           after["speech_encoder.encoder_embed.conv.0.weight"])  # the rest trained
    assert after["audio_projection.0.weight"].shape[1] == before["audio_projection.0.weight"].shape[1] + 256


@pytest.mark.parametrize("read_voice", [True, False])
def test_the_frame_head_reads_the_voice_vector_only_when_asked(read_voice, tmp_path):
    from clsp.model.config import FrameHeadConfig

    torch.manual_seed(0)
    model = CLSPModel(ModelConfig(speech=SpeechEncoderConfig(zipformer=SPEAKER_ZIPFORMER), pooled_norm="batch",
                                  frame_head=FrameHeadConfig(read_voice=read_voice))).eval()
    enc = model.speech_encoder
    assert model.frame_head.conv.in_channels == enc.output_dim - (0 if read_voice else enc.voice_dim)
    waves = [(0.05 * np.random.default_rng(4).standard_normal(24000)).astype(np.float32)]
    inputs, lengths = model.speech_inputs(waves)
    clip, frames, _ = model.forward_speech(inputs, lengths, return_frames=True)
    with torch.no_grad():  # another voice vector for the same frames
        enc.speaker.linear.bias.add_(0.5)
    enc.speaker._weights_key = None
    other_clip, other_frames, _ = model.forward_speech(inputs, lengths, return_frames=True)
    assert not torch.allclose(other_clip, clip)  # the clip vector always reads the voice
    assert torch.allclose(other_frames, frames) != read_voice
    model.save_pretrained(tmp_path / "m")  # the key travels with the export
    assert CLSPModel.from_pretrained(tmp_path / "m").config.frame_head.read_voice == read_voice
