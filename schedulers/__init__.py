"""Task schedulers for multi-positive contrastive training, and the recipe's optimiser.

``schedulers.tasks`` (no torch needed) picks the stage-2 task of each step; ``schedulers.optim``
builds ScaledAdam + Eden with per-module lr scales. The optim names are imported lazily so that
importing the task scheduler does not import torch/zipformer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from schedulers.tasks import (
    TASK_FINE_FINE,
    TASK_GLOBAL_FINE,
    DynamicTaskSchedule,
    PiecewiseTaskSchedule,
    StaticTaskSchedule,
    TaskSampler,
    TaskSchedule,
    TaskScheduleConfig,
    build_task_schedule,
)

if TYPE_CHECKING:
    from schedulers.optim import OptimConfig, build_optimizer, current_lrs, eden_lr

_OPTIM_NAMES = ("OptimConfig", "build_optimizer", "current_lrs", "eden_lr")

__all__ = [
    "TASK_GLOBAL_FINE",
    "TASK_FINE_FINE",
    "TaskScheduleConfig",
    "TaskSchedule",
    "DynamicTaskSchedule",
    "StaticTaskSchedule",
    "PiecewiseTaskSchedule",
    "build_task_schedule",
    "TaskSampler",
    *_OPTIM_NAMES,
]


def __getattr__(name: str) -> Any:
    if name in _OPTIM_NAMES:
        from schedulers import optim

        return getattr(optim, name)
    raise AttributeError(f"module 'schedulers' has no attribute {name!r}")
