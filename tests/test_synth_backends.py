"""Voice backends: each lists gendered voices and renders 16 kHz speech whose rate, pitch and loudness follow the
controls; calibration measures a voice's natural pitch and rate and leaves out what is not modal speech."""

import numpy as np
import pytest

from clsp.style.labels import GENDERS
from clsp.style.measure import measure_style
from clsp.synth.backends import BACKENDS, Controls, get_backend
from clsp.synth.backends.espeak import english_languages, espeak_pitch, gendered_variants
from clsp.synth.calibrate import measure_voice

TEXT = "My cousin carried three heavy boxes across the market square."
# one voice per backend (Kokoro renders at about real time per core: keep its renders few)
VOICE = {"espeak": "en-gb-x-rp+f3", "flite": "slt", "piper": "joe", "kokoro": "jf_alpha"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("backends"))


def backend_voice(name, workdir):
    backend = get_backend(name, workdir)
    backend.prepare()
    voice = next(v for v in backend.voices() if v.name == VOICE[name])
    natural = measure_voice(voice, workdir)
    return backend, voice.with_natural(natural["f0_hz"], natural["rate_sps"])


@pytest.mark.parametrize("name", list(BACKENDS))
def test_backend_lists_gendered_voices(name, workdir):
    voices = get_backend(name, workdir).voices()
    assert voices and len({v.id for v in voices}) == len(voices)
    assert all(v.gender in GENDERS and v.source == name and v.id == f"{name}:{v.name}" for v in voices)


@pytest.mark.parametrize("name", list(BACKENDS))
def test_backend_renders_speech_that_follows_the_controls(name, workdir):
    backend, voice = backend_voice(name, workdir)
    assert voice.f0_hz > 0 and 2.5 < voice.rate_sps < 8

    def measure(**controls):
        audio = backend.render(voice, TEXT, Controls(**controls))
        assert audio.dtype == np.float32 and audio.ndim == 1 and np.isfinite(audio).all()
        return audio, measure_style(audio, 16000, transcript=TEXT, gender=voice.gender)

    slow, m_slow = measure(rate=0.7, rms_dbfs=-30)
    fast, m_fast = measure(rate=1.4, pitch_st=4, rms_dbfs=-18)
    assert len(slow) > 1.5 * len(fast)
    assert m_fast.speaking_rate > 1.5 * m_slow.speaking_rate
    assert 12 * np.log2(m_fast.f0_median_hz / m_slow.f0_median_hz) == pytest.approx(4, abs=1.5)
    assert m_slow.rms_dbfs == pytest.approx(-30, abs=1.5) and m_fast.rms_dbfs == pytest.approx(-18, abs=1.5)


def test_espeak_crosses_every_english_accent_with_every_gendered_variant(workdir):
    langs, variants = english_languages(), dict(gendered_variants())
    assert {"en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc"} <= set(langs)
    assert {f"m{i}" for i in range(1, 9)} | {f"f{i}" for i in range(1, 6)} <= set(variants)
    assert variants["f3"] == "female" and variants["m3"] == "male"
    names = {v.name: v for v in get_backend("espeak", workdir).voices()}
    assert len(names) == 24 + len(langs) * len(variants)
    assert names["en-029+f2"].gender == "female" and names["en-029+f2"].group == "f2"
    assert names["clsp_f03"].qualities == ("modal", "whisper", "creaky") and names["clsp_f03"].split == "test"
    assert espeak_pitch(0) == 50 and espeak_pitch(-20) == 0 and espeak_pitch(20) == 99


def test_flite_has_both_genders_and_knows_which_voices_take_a_pitch_target(workdir):
    voices = {v.name: v for v in get_backend("flite", workdir).voices()}
    assert {"slt", "awb", "rms", "kal", "kal16"} <= set(voices)
    assert voices["slt"].gender == "female" and {voices[n].gender for n in ("awb", "rms", "kal")} == {"male"}
    assert not voices["rms"].pitch_control and voices["slt"].pitch_control


def test_whisper_variants_are_qualities_not_voices_and_calibration_measures_natural_pitch(workdir):
    voices = {v.name: v for v in get_backend("espeak", workdir).voices()}
    assert "en-us+whisper" not in voices and "en-us+whisperf" not in voices and "en-us+m3" in voices
    whispers = dict(gendered_variants(whisper=True))  # listed on request (benchmarks/acoustic_sources.py)
    assert whispers == {"whisper": "male", "whisperf": "female"} and not set(whispers) & set(dict(gendered_variants()))
    low, high = (measure_voice(voices[n], workdir) for n in ("en-us+m8", "en-029+Alicia"))
    assert low["f0_hz"] < 110 < 200 < high["f0_hz"]  # the variant files' base pitches: 65 and 180 Hz
    assert measure_voice(voices["en-gb+f3"], workdir)["f0_hz"] > 170  # en-gb's default voice is a man's, 98 Hz
    assert measure_voice(voices["en-us+m3"], workdir) == measure_voice(voices["en-us+m3"], workdir)
