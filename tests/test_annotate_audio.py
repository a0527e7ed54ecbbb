"""Audio checks (bad input -> a reject with its reason) and Silero VAD splitting, on real espeak-ng audio
(the bad-input and long-recording manifests come from ``annotate.testing``)."""

from __future__ import annotations

import numpy as np
import pytest

from annotate.config import VADConfig
from annotate.testing import make_bad_manifest, make_long_manifest
from annotate.vad import SileroSplitter, plan_pieces
from clsp.audio import SAMPLING_RATE as SR
from clsp.audio_checks import AudioReject, load_checked_audio
from clsp.data.manifest import read_cuts


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
