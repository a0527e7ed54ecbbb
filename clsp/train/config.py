"""Typed training configuration (``configs/demo-stage1.yaml`` and friends)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from clsp.model.config import FrameHeadConfig, ModelConfig
from clsp.train.data import DataConfig
from schedulers.optim import OptimConfig
from schedulers.tasks import TaskScheduleConfig


@dataclass
class LossConfig:
    # auto: stage 1 → infonce; stages 2 and 3 → multi_positive (two captions per clip)
    kind: Literal["auto", "infonce", "multi_positive", "sigmoid"] = "auto"
    lam: float = 0.5  # multi-positive: target weight of the first caption (CLSP's λ), 1 − λ on the second
    # stage 3: weight of the local loss (each clip's global caption against its perturbed copy), the recipe's 0.2
    local_weight: float = 0.2

    def validate(self) -> None:
        if not 0 <= self.lam <= 1:
            raise ValueError(f"key 'lam' must be in [0, 1], got {self.lam}")
        if self.local_weight < 0:
            raise ValueError(f"key 'local_weight' must be >= 0, got {self.local_weight}")


@dataclass
class GroundingConfig:
    """Time-aligned style grounding, trained jointly with the clip-level loss: FineLAP's frame-level sigmoid
    loss of the phrases in :data:`clsp.grounding.GROUNDING_TARGETS` against frame labels from each clip's
    ``style_segments`` (clips without them are left out of it)."""

    weight: float = 0.0  # weight of the frame loss next to the clip-level loss; 0 = off
    # positive frames of each phrase weighted by (negatives / positives) ** balance, counted per batch:
    # 0 = FineLAP's plain BCE, 1 = positives and negatives of each phrase weigh the same in total
    balance: float = 0.0
    head: FrameHeadConfig = field(default_factory=FrameHeadConfig)  # the frame head a model without one gets

    def validate(self) -> None:
        if self.weight < 0:
            raise ValueError(f"key 'weight' must be >= 0, got {self.weight}")
        if not 0 <= self.balance <= 1:
            raise ValueError(f"key 'balance' must be in [0, 1], got {self.balance}")


@dataclass
class TrainConfig:
    stage: Literal[1, 2, 3] = 1  # 3: stage 2's loss (always Task 1, global + fine) + local loss
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    tasks: TaskScheduleConfig = field(default_factory=TaskScheduleConfig)  # stage 2 only
    loss: LossConfig = field(default_factory=LossConfig)
    grounding: GroundingConfig = field(default_factory=GroundingConfig)
    max_steps: int = 1000
    seed: int = 0
    log_every: int = 10  # steps between TensorBoard/progress updates
    checkpoint_every: int = 500  # steps between checkpoints (model, optimiser, scheduler, sampler, RNG)
    keep_checkpoints: int = 2
    average_period: int = 0  # steps between updates of the running parameter average; 0 = off
    # Fine-tuning a pretrained Zipformer: its ScheduledFloat values (dropout, skips) start at their final values.
    large_batch_count: bool = False
    bf16: bool = True  # autocast on CUDA (ignored on CPU)
    threads: int = 0  # torch CPU threads; 0 = torch's default
    # stage 2/3 from a model without the frozen speaker branch: add it ("resemblyzer" or a weights path) with
    # zero-initialised new head inputs (CLSPModel.add_speaker_branch), so training starts from the init model's
    # outputs; a model that has one keeps it
    add_speaker_branch: str | None = None

    def validate(self) -> None:
        if self.max_steps < 1:
            raise ValueError(f"key 'max_steps' must be >= 1, got {self.max_steps}")
        if self.checkpoint_every < 1 or self.log_every < 1:
            raise ValueError("keys 'checkpoint_every' and 'log_every' must be >= 1")
        if self.average_period < 0:
            raise ValueError(f"key 'average_period' must be >= 0, got {self.average_period}")

    @property
    def loss_kind(self) -> str:
        if self.loss.kind != "auto":
            return self.loss.kind
        return "infonce" if self.stage == 1 else "multi_positive"

    @property
    def captions_per_clip(self) -> int:
        """K: texts per clip in a step (stage 1: 1; stage 2: 2, one per caption of the task's pair)."""
        return 1 if self.stage == 1 else 2
