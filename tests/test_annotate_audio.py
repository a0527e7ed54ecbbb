"""Audio checks (bad input -> a reject with its reason) and Silero VAD splitting, on real espeak-ng audio.

Also holds the builders of bad-input and long-recording manifests that the pipeline tests use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from lhotse import MonoCut, Recording, SupervisionSegment
from lhotse.audio import AudioSource
from lhotse.utils import fastcopy

from annotate.config import VADConfig
from annotate.vad import SileroSplitter, plan_pieces
from clsp.audio import resample
from clsp.audio_checks import AudioReject, load_checked_audio
from clsp.data.manifest import read_cuts, write_cuts

SR = 16000


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


@pytest.fixture(scope="module")
def bad_inputs(small_corpus, tmp_path_factory):
    return make_bad_manifest(small_corpus, tmp_path_factory.mktemp("bad"))


def test_each_kind_of_bad_audio_is_rejected_with_its_reason(bad_inputs):
    path, expected = bad_inputs
    for cut in read_cuts(path):
        if expected[cut.id] == "ok":
            continue
        with pytest.raises(AudioReject) as err:
            load_checked_audio(cut)
        assert err.value.code == expected[cut.id], (cut.id, err.value.reason)
        assert "\n" not in err.value.reason and len(err.value.reason) < 300


def test_consistent_non_16k_audio_is_resampled(bad_inputs, small_corpus):
    path, _ = bad_inputs
    cut = next(c for c in read_cuts(path) if c.id == "good-22k")
    assert cut.sampling_rate == 22050
    audio = load_checked_audio(cut)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - cut.duration * SR) <= 2  # 16 kHz samples for the cut's duration
    original = list(read_cuts(small_corpus / "cuts_test.jsonl.gz"))[1].load_audio()[0]
    n = min(len(original), len(audio))
    assert np.corrcoef(original[:n], audio[:n])[0, 1] > 0.95  # the same speech, back at 16 kHz


def test_good_clip_loads_unchanged(small_corpus):
    cut = next(iter(read_cuts(small_corpus / "cuts_dev.jsonl.gz")))
    audio = load_checked_audio(cut)
    np.testing.assert_allclose(audio, cut.load_audio()[0], atol=1e-6)


def test_plan_pieces_joins_close_spans_and_respects_the_limit():
    spans = [(0.5, 8.0), (8.4, 15.0), (15.3, 29.0), (31.0, 40.0), (40.2, 40.5), (47.0, 110.0)]
    pieces = plan_pieces(spans, max_s=30.0, merge_gap_s=1.0, min_piece_s=1.0, total_s=120.0)
    assert all(e - s <= 30.0 + 1e-6 for s, e in pieces)
    assert pieces[0] == (0.5, 29.0)  # three close spans joined, 28.5 s
    assert pieces[1] == (31.0, 40.5)  # the tiny span joined to its neighbour
    long_parts = [p for p in pieces if p[0] >= 47.0]
    assert len(long_parts) == 3 and long_parts[0][0] == 47.0 and long_parts[-1][1] == 110.0  # 63 s in 3 parts
    assert plan_pieces([(1.0, 1.5)], 30.0, 1.0, 1.0, 10.0) == []  # too short to keep
    assert plan_pieces([(5.0, 12.0)], 30.0, 1.0, 1.0, 10.0) == [(5.0, 10.0)]  # clipped to the recording


def test_silero_splits_a_long_recording_into_speech_pieces(small_corpus, tmp_path):
    path, duration = make_long_manifest(small_corpus, tmp_path)
    cut = next(iter(read_cuts(path)))
    assert duration > 30.0
    audio = load_checked_audio(cut)
    pieces = [(p, load_checked_audio(p)) for p in SileroSplitter(VADConfig(), max_s=30.0).split(cut)]
    assert len(pieces) >= 2
    sups = cut.supervisions
    for i, (piece, piece_audio) in enumerate(pieces):
        assert piece.id == f"long-vad{i:03d}" and piece.duration <= 30.0
        assert abs(len(piece_audio) - piece.duration * SR) <= 2
        start = int(round(piece.custom["vad"]["start"] * SR))
        np.testing.assert_allclose(piece_audio[:1000], audio[start:start + 1000], atol=1e-4)
        vad = piece.custom["vad"]
        assert vad["parent"] == "long" and vad["index"] == i and vad["count"] == len(pieces)
        assert "pitch" not in piece.custom and piece.custom["gender"] == "mixed"  # clip-level labels dropped
        for s in piece.supervisions:  # supervisions clipped to the piece
            assert s.start >= 0.0 and s.end <= piece.duration + 1e-6
        np.testing.assert_allclose(piece_audio[:1000], piece.load_audio()[0][:1000], atol=1e-4)
    # the pieces cover every clip's speech (whispered and soft clips too): each supervision's midpoint lies
    # inside some piece, and each clip's transcript went with exactly one piece
    covered = [(p.custom["vad"]["start"], p.custom["vad"]["end"]) for p, _ in pieces]
    for s in sups:
        mid = s.start + s.duration / 2
        assert any(a <= mid <= b for a, b in covered), (mid, covered)
    kept_texts = [s.text for p, _ in pieces for s in p.supervisions]
    assert sorted(kept_texts) == sorted(s.text for s in sups)
    # the 1.5 s silences between clips are longer than the 1 s merge gap: they separate pieces
    assert len(pieces) >= 3
