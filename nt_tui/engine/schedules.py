"""Learning-rate schedules as pure functions of the step (no torch: the monitor and the
silent-error checks use the same formulas).

Step numbering: `lr_at(step)` is the learning rate of optimizer step `step`, counted from 0.
Warmup rises linearly to the peak over `warmup_steps` steps ((step + 1) / warmup, so the first
step already moves); then, over the remaining steps, `progress` goes from 0 to 1 and

    cosine                      min + (peak - min) * (1 + cos(pi * progress)) / 2
    linear                      peak - (peak - min) * progress
    constant                    peak
    constant_with_final_decay   peak, then linear to min over the last `decay_fraction` of
                                the run (warmup-stable-decay)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nt_tui.config.schema import SCHEDULES, TrainingConfig


@dataclass(frozen=True)
class Schedule:
    name: str
    peak_lr: float
    total_steps: int
    warmup_steps: int = 0
    min_lr: float = 0.0
    decay_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.name not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.name!r}; expected one of {SCHEDULES}")

    @classmethod
    def from_config(cls, config: TrainingConfig) -> Schedule:
        """The schedule of a resolved config (every field filled by `resolve`)."""
        sched = config.schedule
        return cls(name=sched.name or "cosine", peak_lr=float(config.optimizer.lr),
                   total_steps=int(sched.total_steps), warmup_steps=int(sched.warmup_steps or 0),
                   min_lr=float(sched.min_lr or 0.0), decay_fraction=sched.decay_fraction)

    @property
    def decay_start(self) -> int:
        """First step of the final decay (constant_with_final_decay)."""
        decay_steps = max(1, round(self.decay_fraction * self.total_steps))
        return max(self.warmup_steps, self.total_steps - decay_steps)

    def lr_at(self, step: int) -> float:
        """Learning rate of optimizer step `step` (0-based); past the end it stays at the end."""
        if step < self.warmup_steps:
            return self.peak_lr * (step + 1) / self.warmup_steps
        if self.name == "constant":
            return self.peak_lr
        if self.name == "constant_with_final_decay":
            start = self.decay_start
            if step < start:
                return self.peak_lr
            progress = _fraction(step - start, self.total_steps - 1 - start)
            return self.peak_lr - (self.peak_lr - self.min_lr) * progress
        progress = _fraction(step - self.warmup_steps, self.total_steps - 1 - self.warmup_steps)
        if self.name == "linear":
            return self.peak_lr - (self.peak_lr - self.min_lr) * progress
        return self.min_lr + (self.peak_lr - self.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))


def _fraction(done: int, span: int) -> float:
    """done / span clamped to [0, 1]; a span of 0 counts as finished."""
    if span <= 0:
        return 1.0
    return min(1.0, max(0.0, done / span))
