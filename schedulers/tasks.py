"""Task scheduling for CLSP stage 2 (multi-positive contrastive training).

Each training step draws ONE task for the whole batch:

* Task 1 (:data:`TASK_GLOBAL_FINE`): the two positives of a clip are one global caption and one
  fine-grained caption.
* Task 2 (:data:`TASK_FINE_FINE`): the two positives are two different fine-grained captions.

``prob_task1(step)`` gives P(Task 1) at a step; ``step`` is an optimiser step (batch) counted from
the start of stage 2 (0-based). The recipe's dynamic schedule decays linearly, then stays flat::

    p_t = max(p_min, p0 - (t / T) * (p0 - p_min))      # defaults p0=0.95, p_min=0.50, T=10000 steps

Draws are a pure function of ``(seed, step)`` (a SplitMix64 integer hash, no Python ``hash()`` and
no hidden state), so every data-parallel rank draws the same task at the same step without any
communication, and resuming at step t reproduces the draws of an uninterrupted run.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Literal

TASK_GLOBAL_FINE = "global_fine"  # Task 1: (global caption, fine caption)
TASK_FINE_FINE = "fine_fine"  # Task 2: (fine caption, fine caption)

_KINDS = ("dynamic", "static", "piecewise")
_MASK64 = (1 << 64) - 1


@dataclass
class TaskScheduleConfig:
    """Config of the stage-2 task schedule. All step counts are optimiser steps from stage-2 start."""

    kind: Literal["dynamic", "static", "piecewise"] = "dynamic"
    p0: float = 0.95  # dynamic: P(Task 1) at step 0
    p_min: float = 0.50  # dynamic: floor, reached at step total_steps
    total_steps: int = 10000  # dynamic: T, decay length in steps
    p: float = 0.5  # static: constant P(Task 1)
    points: list[list[float]] = field(default_factory=list)  # piecewise: [[step, p], ...]
    seed: int = 0  # seed of the task draws (must be the same on every rank)

    def validate(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"key 'kind' must be one of {', '.join(_KINDS)}, got {self.kind!r}")
        for key in ("p0", "p_min", "p"):
            _check_prob(key, getattr(self, key))
        if self.p_min > self.p0:
            raise ValueError(
                f"key 'p_min' must be <= p0 ({self.p0}), got {self.p_min} "
                "(use kind: piecewise for a rising schedule)"
            )
        if self.total_steps <= 0:
            raise ValueError(f"key 'total_steps' must be > 0, got {self.total_steps}")
        if self.kind == "piecewise" and not self.points:
            raise ValueError("key 'points' must hold at least one [step, p] pair when kind is piecewise")
        prev = None
        for i, pt in enumerate(self.points):
            if not isinstance(pt, (list, tuple)) or len(pt) != 2:
                raise ValueError(f"key 'points[{i}]' must be a [step, p] pair, got {pt!r}")
            step, p = float(pt[0]), float(pt[1])
            if step < 0:
                raise ValueError(f"key 'points[{i}]' step must be >= 0, got {pt[0]}")
            _check_prob(f"points[{i}]", p)
            if prev is not None and step < prev:
                raise ValueError(f"key 'points' must be sorted by step, got {pt[0]} after {prev}")
            prev = step


def _check_prob(key: str, value: float) -> None:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"key '{key}' must be in [0, 1], got {value}")


def _check_step(step: int) -> None:
    if step < 0:
        raise ValueError(f"step must be >= 0 (counted from the start of stage 2), got {step}")


class TaskSchedule:
    """Base class: ``prob_task1(step)`` = P(Task 1) at optimiser step ``step`` (>= 0)."""

    def prob_task1(self, step: int) -> float:
        raise NotImplementedError


class DynamicTaskSchedule(TaskSchedule):
    """``p_t = max(p_min, p0 - (t / total_steps) * (p0 - p_min))``: linear decay over
    ``total_steps`` steps, then constant at ``p_min``."""

    def __init__(self, p0: float = 0.95, p_min: float = 0.50, total_steps: int = 10000):
        TaskScheduleConfig(kind="dynamic", p0=p0, p_min=p_min, total_steps=total_steps).validate()
        self.p0, self.p_min, self.total_steps = float(p0), float(p_min), int(total_steps)

    def prob_task1(self, step: int) -> float:
        _check_step(step)
        return max(self.p_min, self.p0 - (step / self.total_steps) * (self.p0 - self.p_min))


class StaticTaskSchedule(TaskSchedule):
    """Constant ``P(Task 1) = p`` at every step."""

    def __init__(self, p: float = 0.5):
        _check_prob("p", p)
        self.p = float(p)

    def prob_task1(self, step: int) -> float:
        _check_step(step)
        return self.p


class PiecewiseTaskSchedule(TaskSchedule):
    """Linear interpolation between ``[[step, p], ...]`` (sorted by step), constant beyond the ends.
    Two points at the same step make a jump: the later point applies from that step on."""

    def __init__(self, points: list[list[float]]):
        TaskScheduleConfig(kind="piecewise", points=[list(pt) for pt in points]).validate()
        self.steps = [float(s) for s, _ in points]
        self.probs = [float(p) for _, p in points]

    def prob_task1(self, step: int) -> float:
        _check_step(step)
        xs, ys = self.steps, self.probs
        if step < xs[0]:
            return ys[0]
        if step >= xs[-1]:
            return ys[-1]
        i = bisect.bisect_right(xs, step) - 1  # xs[i] <= step < xs[i + 1]
        frac = (step - xs[i]) / (xs[i + 1] - xs[i])
        return ys[i] + frac * (ys[i + 1] - ys[i])


def build_task_schedule(cfg: TaskScheduleConfig) -> TaskSchedule:
    """Validate ``cfg`` and build the schedule its ``kind`` names."""
    cfg.validate()
    if cfg.kind == "dynamic":
        return DynamicTaskSchedule(cfg.p0, cfg.p_min, cfg.total_steps)
    if cfg.kind == "static":
        return StaticTaskSchedule(cfg.p)
    return PiecewiseTaskSchedule(cfg.points)


def _splitmix64(x: int) -> int:
    """SplitMix64 finaliser: a fixed, platform-independent 64-bit integer hash."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def uniform(seed: int, step: int) -> float:
    """Deterministic U[0, 1) value for ``(seed, step)`` with 53 random bits."""
    h = _splitmix64(_splitmix64(int(seed) & _MASK64) ^ (int(step) & _MASK64))
    return (h >> 11) / float(1 << 53)


class TaskSampler:
    """Draws the task of each step: Task 1 iff ``uniform(seed, step) < schedule.prob_task1(step)``.

    Stateless: ``draw(step)`` depends only on ``(seed, step)`` and the schedule, so all ranks agree
    and a resumed run repeats the draws of an uninterrupted one. For a fixed ``(seed, step)`` a
    higher P(Task 1) never turns a Task-1 draw into Task 2 (draws are coupled across schedules).
    """

    def __init__(self, schedule: TaskSchedule, seed: int = 0):
        self.schedule = schedule
        self.seed = int(seed)

    @classmethod
    def from_config(cls, cfg: TaskScheduleConfig) -> "TaskSampler":
        return cls(build_task_schedule(cfg), seed=cfg.seed)

    def probability(self, step: int) -> float:
        """P(Task 1) at optimiser step ``step`` (from the start of stage 2)."""
        return self.schedule.prob_task1(step)

    def draw(self, step: int) -> str:
        """The task of optimiser step ``step``: :data:`TASK_GLOBAL_FINE` or :data:`TASK_FINE_FINE`."""
        p = self.probability(step)
        return TASK_GLOBAL_FINE if uniform(self.seed, step) < p else TASK_FINE_FINE
