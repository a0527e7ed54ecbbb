"""Split recordings longer than the captioner's limit (30 s) into <= 30 s speech pieces with Silero VAD.

Silero (the ``silero-vad`` package, its TorchScript model shipped inside the package) finds speech
regions; :func:`plan_pieces` joins neighbouring regions into pieces of at most ``max_s`` seconds; each
piece becomes a lhotse cut ``<cut_id>-vad<NNN>`` (a truncation of the recording) that replaces the
long cut. The recording is read in windows of at most :data:`WINDOW_S` (bounded memory however long it
is) and each piece's audio is read only when it is sent to the engine. Pieces keep the supervisions that lie wholly inside them and the speaker-level ``gender``;
clip-level style labels and captions of the long recording are dropped (they need not hold for a
piece), and ``custom["vad"] = {"parent", "index", "count", "start", "end"}`` records where the piece came from.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from lhotse.cut import Cut
from lhotse.utils import fastcopy

from annotate.config import VADConfig
from clsp.audio import SAMPLING_RATE

WINDOW_S = 600.0  # seconds of a long recording that Silero sees at a time
KEEP_CUSTOM = ("gender", "split")
MIN_SUPERVISION_OVERLAP = 0.5  # a supervision goes with the piece holding more than half of it


def plan_pieces(spans: list[tuple[float, float]], max_s: float, merge_gap_s: float, min_piece_s: float,
                total_s: float) -> list[tuple[float, float]]:
    """Join speech ``spans`` (seconds, sorted) into pieces: neighbours closer than ``merge_gap_s`` are joined
    while the piece stays <= ``max_s``; a span longer than ``max_s`` is cut into equal parts; pieces are
    clipped to [0, ``total_s``] and those shorter than ``min_piece_s`` dropped."""
    parts: list[tuple[float, float]] = []
    for start, end in spans:
        start, end = max(0.0, start), min(total_s, end)
        if end <= start:
            continue
        n = int(np.ceil((end - start) / max_s - 1e-9))
        step = (end - start) / n
        parts.extend((start + i * step, start + (i + 1) * step) for i in range(n))
    pieces: list[tuple[float, float]] = []
    for start, end in parts:
        if pieces and start - pieces[-1][1] <= merge_gap_s and end - pieces[-1][0] <= max_s:
            pieces[-1] = (pieces[-1][0], end)
        else:
            pieces.append((start, end))
    return [(round(s, 3), round(e, 3)) for s, e in pieces if e - s >= min_piece_s]


def piece_cut(cut: Cut, index: int, count: int, start: float, end: float) -> Cut:
    """The lhotse cut of piece ``index`` of ``count``, [start, end) seconds of ``cut`` (id ``<cut_id>-vad<NNN>``).
    It keeps the supervisions of which more than half lies inside it, clipped to its bounds (VAD trims the
    soft edges of an utterance, which must not lose its transcript; no supervision goes to two pieces)."""
    piece = cut.truncate(offset=start, duration=end - start, keep_excessive_supervisions=True, preserve_id=True)
    keep = []
    for s in piece.supervisions:
        a, b = max(s.start, 0.0), min(s.end, piece.duration)
        if b - a > MIN_SUPERVISION_OVERLAP * s.duration:
            keep.append(fastcopy(s, start=round(a, 4), duration=round(b - a, 4)))  # clipped to the piece
    piece = fastcopy(piece, supervisions=keep).with_id(f"{cut.id}-vad{index:03d}")
    custom: dict[str, Any] = {k: v for k, v in (cut.custom or {}).items() if k in KEEP_CUSTOM}
    custom["vad"] = {"parent": cut.id, "index": index, "count": count, "start": start, "end": end}
    piece.custom = custom
    return piece


class SileroSplitter:
    """Loads a Silero model per thread on first use (the model keeps state between chunks), so the
    pipeline's loader threads split recordings in parallel."""

    def __init__(self, cfg: VADConfig, max_s: float):
        self.cfg = cfg
        self.max_s = max_s
        self._local = threading.local()
        self._lock = threading.Lock()  # the import of silero_vad touches torch's global thread count

    def _load(self):
        import torch

        with self._lock:
            threads = torch.get_num_threads()
            from silero_vad import load_silero_vad  # its import sets torch's thread count to 1: put it back

            model = load_silero_vad()
            torch.set_num_threads(threads)
        return model

    def speech_spans(self, audio: np.ndarray) -> list[tuple[float, float]]:
        """Speech regions of (S,) float32 16 kHz audio, in seconds."""
        import torch
        from silero_vad import get_speech_timestamps

        pad = self.cfg.speech_pad_s
        model = getattr(self._local, "model", None)
        if model is None:
            model = self._local.model = self._load()
        with torch.inference_mode():
            stamps = get_speech_timestamps(
                torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)), model,
                threshold=self.cfg.threshold, sampling_rate=SAMPLING_RATE,
                min_speech_duration_ms=int(self.cfg.min_speech_s * 1000),
                min_silence_duration_ms=int(self.cfg.min_silence_s * 1000),
                speech_pad_ms=int(pad * 1000), max_speech_duration_s=self.max_s - 2 * pad, return_seconds=False)
        return [(s["start"] / SAMPLING_RATE, s["end"] / SAMPLING_RATE) for s in stamps]

    def split(self, cut: Cut, min_peak: float = 0.0) -> list[Cut]:
        """The piece cuts of ``cut`` (empty when no speech is found). The recording is read window by window
        (:func:`clsp.audio.audio_windows`); unreadable, empty, NaN/inf audio or a peak below ``min_peak``
        (silence) raise :class:`clsp.audio_checks.AudioReject`."""
        from clsp.audio_checks import AudioReject
        from clsp.audio import AudioError, audio_windows

        spans: list[tuple[float, float]] = []
        offset, peak = 0.0, 0.0
        try:
            for audio in audio_windows(cut, WINDOW_S):
                peak = max(peak, float(np.abs(audio).max()))
                spans += [(offset + a, offset + b) for a, b in self.speech_spans(audio)]
                offset += len(audio) / SAMPLING_RATE
        except AudioError as e:
            raise AudioReject(e.code, str(e)) from None
        if peak < min_peak:
            raise AudioReject("silent", f"peak amplitude {peak:.2e} is below {min_peak:.0e}")
        pieces = plan_pieces(spans, self.max_s, self.cfg.merge_gap_s, self.cfg.min_piece_s, min(offset, cut.duration))
        return [piece_cut(cut, i, len(pieces), start, end) for i, (start, end) in enumerate(pieces)]
