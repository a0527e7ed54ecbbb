"""Settings of ``clsp augment`` (``configs/augment-demo.yaml``) and of the ``augment`` section of ``clsp synth``.

Each transform has a ``probability`` (drawn independently per augmented copy) and the range it draws from.
Label-changing transforms either ``aim`` at a level (``levels``: a target level is drawn uniformly, and the
change that takes the clip's measured value there is used, clipped to the range, so the augmented labels come
out balanced) or draw the change itself (``uniform``: log-uniform tempo factors, uniform dB and semitones).
A copy whose draws all miss gets one enabled transform anyway, so every copy differs from its source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from clsp.augment.transforms import CODECS, NOISE_COLORS

Aim = Literal["levels", "uniform"]


def _check_range(name: str, lo_hi: tuple[float, float], low: float | None = None) -> None:
    lo, hi = lo_hi
    if lo > hi or (low is not None and lo < low):
        raise ValueError(f"key '{name}' must be [low, high] with low <= high" + (f" and low >= {low}" if low else ""))


def _check_probability(p: float) -> None:
    if not 0 <= p <= 1:
        raise ValueError(f"key 'probability' must be in [0, 1], got {p}")


@dataclass
class TempoConfig:
    """WSOLA tempo (keeps pitch) -> speaking_rate. factor > 1 is faster."""

    probability: float = 0.5
    factor_range: tuple[float, float] = (0.6, 1.6)
    aim: Aim = "levels"

    def validate(self) -> None:
        _check_probability(self.probability)
        _check_range("factor_range", self.factor_range, 0.25)
        if self.factor_range[1] > 4:
            raise ValueError("key 'factor_range' must stay within [0.25, 4]")


@dataclass
class GainConfig:
    """Gain in dB -> loudness (never past a peak of ``max_peak``)."""

    probability: float = 0.5
    db_range: tuple[float, float] = (-14.0, 14.0)
    aim: Aim = "levels"
    max_peak: float = 0.89

    def validate(self) -> None:
        _check_probability(self.probability)
        _check_range("db_range", self.db_range)
        if not 0 < self.max_peak <= 1:
            raise ValueError(f"key 'max_peak' must be in (0, 1], got {self.max_peak}")


@dataclass
class PitchConfig:
    """PSOLA pitch shift in semitones (keeps duration and formants) -> pitch."""

    probability: float = 0.3
    semitone_range: tuple[float, float] = (-4.0, 4.0)
    aim: Aim = "levels"

    def validate(self) -> None:
        _check_probability(self.probability)
        _check_range("semitone_range", self.semitone_range)
        if max(abs(x) for x in self.semitone_range) > 12:
            raise ValueError("key 'semitone_range' must stay within [-12, 12]")


@dataclass
class ReverbConfig:
    probability: float = 0.15
    rt60_range_s: tuple[float, float] = (0.2, 0.8)
    direct_to_reverb_db_range: tuple[float, float] = (0.0, 8.0)

    def validate(self) -> None:
        _check_probability(self.probability)
        _check_range("rt60_range_s", self.rt60_range_s, 0.05)
        _check_range("direct_to_reverb_db_range", self.direct_to_reverb_db_range)


@dataclass
class NoiseConfig:
    probability: float = 0.2
    snr_range_db: tuple[float, float] = (10.0, 30.0)
    colors: list[str] = field(default_factory=lambda: list(NOISE_COLORS))

    def validate(self) -> None:
        _check_probability(self.probability)
        _check_range("snr_range_db", self.snr_range_db)
        bad = set(self.colors) - set(NOISE_COLORS)
        if bad or not self.colors:
            raise ValueError(f"key 'colors' must list some of {', '.join(NOISE_COLORS)}, got {self.colors}")


@dataclass
class TelephoneConfig:
    probability: float = 0.1
    band_hz: tuple[float, float] = (300.0, 3400.0)

    def validate(self) -> None:
        _check_probability(self.probability)
        _check_range("band_hz", self.band_hz, 1.0)
        if self.band_hz[1] >= 8000:
            raise ValueError("key 'band_hz' must stay under 8000 Hz (half the 16 kHz sampling rate)")


@dataclass
class CodecConfig:
    probability: float = 0.15
    codecs: list[str] = field(default_factory=lambda: list(CODECS))
    level_range: tuple[float, float] = (0.3, 0.9)  # compression level, 0 = least, 1 = most

    def validate(self) -> None:
        _check_probability(self.probability)
        _check_range("level_range", self.level_range, 0.0)
        if self.level_range[1] > 1:
            raise ValueError("key 'level_range' must stay within [0, 1]")
        bad = set(self.codecs) - set(CODECS)
        if bad or not self.codecs:
            raise ValueError(f"key 'codecs' must list some of {', '.join(CODECS)}, got {self.codecs}")


@dataclass
class AugmentConfig:
    """Which clips get augmented copies, and the transforms drawn for each copy."""

    fraction: float = 1.0  # share of the input clips that get ``copies`` augmented copies
    copies: int = 1
    include_original: bool = True  # False: a clip that gets copies is replaced by them
    min_duration_s: float = 0.5  # shorter clips are rejected
    tempo: TempoConfig = field(default_factory=TempoConfig)
    gain: GainConfig = field(default_factory=GainConfig)
    pitch: PitchConfig = field(default_factory=PitchConfig)
    reverb: ReverbConfig = field(default_factory=ReverbConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    telephone: TelephoneConfig = field(default_factory=TelephoneConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)

    def validate(self) -> None:
        if not 0 <= self.fraction <= 1:
            raise ValueError(f"key 'fraction' must be in [0, 1], got {self.fraction}")
        if self.copies < 1:
            raise ValueError(f"key 'copies' must be >= 1, got {self.copies}")
        if self.min_duration_s < 0.1:
            raise ValueError(f"key 'min_duration_s' must be >= 0.1 (the measurer's shortest clip), "
                             f"got {self.min_duration_s}")

    def transforms(self) -> dict[str, float]:
        """Transform name -> probability, label-changing first, in the order they are applied."""
        return {name: getattr(self, name).probability for name in TRANSFORMS}


LABEL_CHANGING: dict[str, str] = {"tempo": "speaking_rate", "pitch": "pitch", "gain": "loudness"}
CHANNEL: tuple[str, ...] = ("reverb", "noise", "telephone", "codec")
TRANSFORMS: tuple[str, ...] = (*LABEL_CHANGING, *CHANNEL)


@dataclass
class AugmentRunConfig(AugmentConfig):
    """``clsp augment``: the transforms plus the run's seed, captions, labelling margins and workers."""

    seed: int = 0
    num_global_captions: int = 4
    num_fine_captions: int = 4
    workers: int = 2

    def validate(self) -> None:
        super().validate()
        if self.workers < 1:
            raise ValueError(f"key 'workers' must be >= 1, got {self.workers}")
        if self.num_global_captions < 0 or self.num_fine_captions < 0:
            raise ValueError("keys 'num_global_captions' and 'num_fine_captions' must be >= 0")
