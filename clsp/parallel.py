"""Ordered ``map`` over worker processes, for the CPU-bound corpus stages (``clsp synth``, ``clsp augment``).

Workers start from a fresh interpreter (``forkserver``), not a fork of the caller: a process that has already run
torch's (OpenMP) thread pool, as a test session or a long job has, leaves forked children that hang in their first
parallel torch operation (lhotse's resampling and narrow-band transforms use torch). ``workers == 1`` maps in this
process. ``map`` keeps the input order, so results do not depend on the number of workers.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any


class SerialExecutor(Executor):
    """``map`` in this process, as an executor."""

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any], timeout=None, chunksize: int = 1) -> Iterator[Any]:
        return map(fn, *iterables)


def process_pool(workers: int) -> Executor:
    """An executor with ``min(workers, CPU count)`` worker processes (a :class:`SerialExecutor` for one)."""
    n = min(workers, os.cpu_count() or 1)
    if n <= 1:
        return SerialExecutor()
    return ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("forkserver"))
