"""Test inputs: the small synthetic corpus's settings, a voiced-like tone, and manifests of bad input and of
one long recording built from a corpus (real audio, written to disk)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from lhotse import MonoCut, Recording, SupervisionSegment
from lhotse.audio import AudioSource
from lhotse.utils import fastcopy

from clsp.audio import SAMPLING_RATE as SR
from clsp.audio import resample
from clsp.augment.config import AugmentConfig
from clsp.data.manifest import read_cuts, write_cuts
from clsp.synth.corpus import SourceConfig

# The ``small_corpus`` fixture's SynthConfig fields: our 24 formant-scaled espeak-ng speakers (train/dev/test,
# no held-out source), no augmentation: fast, and the shape most tests expect. tests/test_synth.py builds a
# multi-source corpus of its own.
SMALL = dict(num_clips=60, seed=7, dev_fraction=0.2, test_fraction=0.2,
             sources={"espeak": SourceConfig(voices=["clsp_*"])},
             heldout_source=None, augment=AugmentConfig(fraction=0.0))


def harmonic(f0: float, seconds: float, level_db: float = -20.0, sr: int = SR) -> np.ndarray:
    """A voiced-like tone (S,) float32: 10 harmonics of ``f0`` Hz with 4 Hz amplitude bursts (syllables)."""
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 11))
    x *= 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2
    x = x / np.sqrt(np.mean(x**2)) * 10 ** (level_db / 20)
    return x.astype(np.float32)


def _with_file(cut: MonoCut, new_id: str, path: Path, **rec_changes) -> MonoCut:
    rec = fastcopy(cut.recording, id=new_id, sources=[AudioSource("file", [0], str(path))], **rec_changes)
    sups = [fastcopy(s, id=new_id, recording_id=new_id) for s in cut.supervisions]
    return fastcopy(cut, id=new_id, recording=rec, supervisions=sups)


def make_bad_manifest(corpus: Path, out: Path) -> tuple[Path, dict[str, str]]:
    """``out/cuts_bad.jsonl.gz`` with one cut per kind of bad input (plus one good 22.05 kHz cut that must be
    resampled). Returns the manifest and {cut_id: expected reject code, or "ok"}."""
    out.mkdir(parents=True, exist_ok=True)
    src = list(read_cuts(corpus / "cuts_test.jsonl.gz"))[:2]
    base = src[0]
    audio = base.load_audio()[0]
    cuts, expected = [], {}

    def add(cut, code):
        cuts.append(cut)
        expected[cut.id] = code

    add(_with_file(base, "bad-missing", out / "nowhere.wav"), "missing_file")
    (out / "corrupt.wav").write_bytes(b"RIFF....WAVEfmt this is not audio at all" * 10)
    add(_with_file(base, "bad-corrupt", out / "corrupt.wav"), "undecodable")
    sf.write(out / "empty.wav", np.zeros(0, dtype=np.float32), SR)
    add(_with_file(base, "bad-empty", out / "empty.wav"), "empty")  # the manifest still gives a duration
    nan = audio.copy()
    nan[1000:1100] = np.nan
    sf.write(out / "nan.wav", nan, SR, subtype="FLOAT")
    add(_with_file(base, "bad-nan", out / "nan.wav"), "non_finite")
    sf.write(out / "rate.wav", resample(audio, SR, 22050), 22050)
    add(_with_file(base, "bad-rate", out / "rate.wav"), "sampling_rate_mismatch")  # manifest still says 16 kHz
    sf.write(out / "short.wav", audio[: len(audio) // 2], SR)
    add(_with_file(base, "bad-length", out / "short.wav"), "length_mismatch")
    sf.write(out / "silent.wav", np.zeros_like(audio), SR)
    add(_with_file(base, "bad-silent", out / "silent.wav"), "silent")
    other = src[1]
    sf.write(out / "good22k.wav", resample(other.load_audio()[0], SR, 22050), 22050)
    rec = Recording.from_file(out / "good22k.wav", recording_id="good-22k")
    add(fastcopy(other, id="good-22k", recording=rec, duration=rec.duration,
                 supervisions=[fastcopy(other.supervisions[0], id="good-22k", recording_id="good-22k",
                                        duration=rec.duration)]), "ok")
    path = write_cuts(cuts, out / "cuts_bad.jsonl.gz")
    return path, expected


def make_long_manifest(corpus: Path, out: Path, gap_s: float = 1.5, n: int = 7) -> tuple[Path, float]:
    """``out/cuts_long.jsonl.gz``: one recording of ``n`` test clips joined with ``gap_s`` of silence, one
    supervision per clip at its place. Returns the manifest and the recording's duration (seconds)."""
    out.mkdir(parents=True, exist_ok=True)
    src = list(read_cuts(corpus / "cuts_train.jsonl.gz"))[:n]
    pieces, sups, t = [], [], 0.0
    for i, c in enumerate(src):
        a = c.load_audio()[0]
        sups.append(SupervisionSegment(id=f"long-{i}", recording_id="long", start=round(t, 4),
                                       duration=round(len(a) / SR, 4), text=c.supervisions[0].text,
                                       speaker=c.supervisions[0].speaker))
        pieces += [a, np.zeros(int(gap_s * SR), dtype=np.float32)]
        t += len(a) / SR + gap_s
    sf.write(out / "long.wav", np.concatenate(pieces), SR)
    rec = Recording.from_file(out / "long.wav", recording_id="long")
    cut = MonoCut(id="long", start=0.0, duration=rec.duration, channel=0, recording=rec, supervisions=sups,
                  custom={"gender": "mixed", "pitch": "varying"})
    return write_cuts([cut], out / "cuts_long.jsonl.gz"), rec.duration
