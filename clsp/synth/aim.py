"""Rendering a segment on its pitch target: measure the rendered F0, correct a miss.

A voice's calibrated pitch response (:mod:`clsp.synth.calibrate`) puts the calibration sentence within a few
tenths of a semitone of any shift, but a sentence's own intonation, its pitch range and its rate still move the
median F0: measured on our 24 formant-scaled espeak-ng speakers, about one segment in five landed more than 1 st
from its target. And some engines cannot go as far as asked (espeak-ng's ``-p`` stops at 0 and 99: stock voices
such as en-us+Annie do not go under ~185 Hz). So :func:`render_segment` closes the loop on every modal segment:

1. render; measure the median F0 with the project's measurer (:func:`clsp.style.measure.measure_style`, the
   voice's gender given); within :data:`PITCH_TOLERANCE_ST` of ``f0_target_hz``: done (``on_target``);
2. else, when the engine sets the pitch, render once more with the miss taken off the pitch control and keep the
   closer rendering (``rerendered`` when it is within the tolerance);
3. still off (the engine's control ends short), or a voice whose pitch is PSOLA anyway (Piper, Kokoro, flite
   rms: rendering again would only repeat the engine's work): the rest of the way with PSOLA
   (:func:`clsp.augment.transforms.pitch_shift`, as for engines without a pitch control), loudness set again
   (``shifted``); ``off_target`` only if even that misses.

Whispered and creaky segments have no reliable F0 and are rendered once (``unmeasured``). Everything here is
deterministic (the engines are, the measurer is), so a corpus stays the same for a seed.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from clsp.audio import SAMPLING_RATE
from clsp.style.measure import measure_style
from clsp.synth.backends import Backend, VoiceSpec
from clsp.synth.styles import SegmentPlan

PITCH_TOLERANCE_ST = 1.0  # a segment's median F0 within this (st) of its target is on target
OUTCOMES: tuple[str, ...] = ("on_target", "rerendered", "shifted", "off_target", "unmeasured")


def f0_miss_st(audio: np.ndarray, seg: SegmentPlan, gender: str) -> float | None:
    """How far (st) the median F0 of ``audio`` (S,) at 16 kHz lies from ``seg.f0_target_hz``; None unvoiced."""
    f0 = measure_style(audio, SAMPLING_RATE, transcript=seg.text, gender=gender).f0_median_hz
    return None if f0 is None else 12 * math.log2(f0 / seg.f0_target_hz)


def render_segment(backend: Backend, voice: VoiceSpec, seg: SegmentPlan, quality: str) -> tuple[np.ndarray, str]:
    """``seg`` spoken by ``voice``: (S,) float32 at 16 kHz, and how its pitch went (one of :data:`OUTCOMES`)."""
    from clsp.augment.transforms import pitch_shift
    from clsp.synth.render import set_active_rms

    audio = backend.render(voice, seg.text, seg.controls)
    if quality != "modal":
        return audio, "unmeasured"
    miss = f0_miss_st(audio, seg, voice.gender)
    if miss is None:
        return audio, "unmeasured"
    if abs(miss) <= PITCH_TOLERANCE_ST:
        return audio, "on_target"
    if voice.pitch_control:
        again = backend.render(voice, seg.text,
                               dataclasses.replace(seg.controls, pitch_st=seg.controls.pitch_st - miss))
        miss_again = f0_miss_st(again, seg, voice.gender)
        if miss_again is not None and abs(miss_again) < abs(miss):
            audio, miss = again, miss_again
            if abs(miss) <= PITCH_TOLERANCE_ST:
                return audio, "rerendered"
    shifted = pitch_shift(audio, -miss)
    if seg.controls.rms_dbfs is not None:
        shifted = set_active_rms(shifted, seg.controls.rms_dbfs)
    miss_shifted = f0_miss_st(shifted, seg, voice.gender)
    if miss_shifted is None or abs(miss_shifted) >= abs(miss):
        return audio, "off_target"
    return shifted, "shifted" if abs(miss_shifted) <= PITCH_TOLERANCE_ST else "off_target"
