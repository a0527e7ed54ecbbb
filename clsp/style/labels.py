"""Style label vocabulary and the time-aligned style summary of a clip."""

from __future__ import annotations

from dataclasses import dataclass

LEVELS: dict[str, tuple[str, ...]] = {
    "pitch": ("low", "medium", "high"),
    "pitch_range": ("narrow", "normal", "wide"),
    "speaking_rate": ("slow", "normal", "fast"),
    "loudness": ("soft", "normal", "loud"),
}
EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "calm")
QUALITIES: tuple[str, ...] = ("modal", "whisper", "creaky")
GENDERS: tuple[str, ...] = ("male", "female")
VARYING = "varying"


@dataclass(frozen=True)
class StyleSpan:
    """Style of one stretch of a clip, ``start``/``end`` in seconds. ``None`` = unknown/not applicable."""

    start: float
    end: float
    pitch: str | None = None
    pitch_range: str | None = None
    speaking_rate: str | None = None
    loudness: str | None = None
    emotion: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class StyleSummary:
    """A clip's voice (gender, quality) and its style over time (one or more spans, in order)."""

    gender: str | None
    voice_quality: str | None
    spans: tuple[StyleSpan, ...]

    @property
    def duration(self) -> float:
        return self.spans[-1].end if self.spans else 0.0

    def label(self, attribute: str) -> str | None:
        """The clip-level label: shared value, ``'varying'``, or None when unknown."""
        values = {getattr(s, attribute) for s in self.spans} - {None}
        if not values:
            return None
        return values.pop() if len(values) == 1 else VARYING
