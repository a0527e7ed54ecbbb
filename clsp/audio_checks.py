"""Load a cut's audio for annotate's engines and for augment, rejecting bad input with a reason instead of
stopping the run.

Checks, in order (each failure raises :class:`AudioReject` with a ``code`` and a one-line detail):

- ``missing_file``: a file source of the recording does not exist;
- ``undecodable``: the header or the samples cannot be read (corrupt or unknown format);
- ``sampling_rate_mismatch``: the file header's sampling rate contradicts the manifest's;
- ``length_mismatch``: the file holds fewer/more samples than the manifest says (beyond a tolerance);
- ``empty``: no samples; ``non_finite``: NaN or inf samples; ``silent``: peak amplitude below a floor.

Audio whose (consistent) sampling rate is not 16 kHz is resampled with lhotse; channels are averaged.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from lhotse.cut import Cut

from clsp.audio import SAMPLING_RATE
from clsp.errors import one_line



class AudioReject(Exception):
    """Bad input audio: ``code`` (e.g. ``missing_file``) and a one-line ``detail``."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.detail}"


def _loader_error(err: BaseException, limit: int = 200) -> str:
    """The most telling line of a (possibly multi-line, nested) loader error, as one line."""
    text = str(err)
    m = re.search(r"Error opening [^\n]*?: ([^\n]+)", text)
    line = m.group(1) if m else next((ln.strip() for ln in text.splitlines() if ln.strip()), type(err).__name__)
    return one_line(line, limit)


def check_header(cut: Cut, length_tolerance_s: float = 0.1) -> None:
    """Check the recording's files against the manifest without decoding the samples."""
    from lhotse.audio.backend import info

    rec = cut.recording
    if rec is None:
        raise AudioReject("missing_file", "the cut has no recording")
    for src in rec.sources:
        if src.type != "file":
            continue
        path = Path(src.source)
        if not path.is_file():
            raise AudioReject("missing_file", f"audio file '{path}' not found")
        try:
            header = info(str(path))
        except Exception as e:  # lhotse tries every backend and raises its own error class
            raise AudioReject("undecodable", f"'{path}': {_loader_error(e)}") from None
        frames = getattr(header, "frames", None)
        if frames == 0:
            raise AudioReject("empty", f"'{path}' holds no samples")
        if rec.transforms:  # the manifest's rate is after its own transforms: nothing to compare with
            continue
        if int(header.samplerate) != int(rec.sampling_rate):
            raise AudioReject("sampling_rate_mismatch", f"'{path}' header says {int(header.samplerate)} Hz, "
                              f"the manifest says {rec.sampling_rate} Hz")
        if frames is not None and abs(frames - rec.num_samples) > length_tolerance_s * rec.sampling_rate:
            raise AudioReject("length_mismatch", f"'{path}' holds {frames / rec.sampling_rate:.2f} s, "
                              f"the manifest says {rec.duration:.2f} s")


def load_checked_audio(cut: Cut, length_tolerance_s: float = 0.1, min_peak: float = 1e-4) -> np.ndarray:
    """The cut's audio as (S,) float32 at 16 kHz, mono; raises :class:`AudioReject` for bad input."""
    check_header(cut, length_tolerance_s)
    if cut.duration is None or cut.duration <= 0:
        raise AudioReject("empty", f"duration {cut.duration} s in the manifest")
    src = cut if cut.sampling_rate == SAMPLING_RATE else cut.resample(SAMPLING_RATE)
    try:
        audio = src.load_audio()
    except Exception as e:
        raise AudioReject("undecodable", _loader_error(e)) from None
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=0)
    if audio.size == 0:
        raise AudioReject("empty", "no samples")
    if not np.isfinite(audio).all():
        bad = int((~np.isfinite(audio)).sum())
        raise AudioReject("non_finite", f"{bad} of {audio.size} samples are NaN or inf")
    peak = float(np.abs(audio).max())
    if peak < min_peak:
        raise AudioReject("silent", f"peak amplitude {peak:.2e} is below {min_peak:.0e}")
    return np.ascontiguousarray(audio)
