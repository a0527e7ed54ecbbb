"""Voice engines behind one interface (:class:`~clsp.synth.backends.base.Backend`): espeak-ng, flite, Piper and
Kokoro. :func:`get_backend` gives one instance per (engine, work folder) and process, so models load once."""

from __future__ import annotations

from functools import lru_cache

from clsp.errors import ClspError
from clsp.synth.backends.base import Backend, Controls, VoiceSpec
from clsp.synth.backends.espeak import EspeakBackend
from clsp.synth.backends.flite import FliteBackend
from clsp.synth.backends.kokoro import KokoroBackend
from clsp.synth.backends.piper import PiperBackend

BACKENDS: dict[str, type[Backend]] = {b.name: b for b in (EspeakBackend, FliteBackend, PiperBackend, KokoroBackend)}


@lru_cache(maxsize=None)
def get_backend(name: str, workdir: str) -> Backend:
    """The backend ``name`` working in ``workdir``; a one-line error when it is unknown or cannot run here."""
    if name not in BACKENDS:
        raise ClspError(f"unknown voice source {name!r} (expected one of: {', '.join(BACKENDS)})")
    why = BACKENDS[name].available()
    if why:
        raise ClspError(f"voice source {name!r} cannot run: {why}")
    return BACKENDS[name](workdir)


__all__ = ["BACKENDS", "Backend", "Controls", "VoiceSpec", "get_backend"]
