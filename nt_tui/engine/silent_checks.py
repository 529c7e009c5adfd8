"""Checks for the silent errors no loss curve shows, run every `warnings.check_every` steps.

Around one optimizer step the engine snapshots the trainable parameters, then checks:
- params_frozen: trainable parameters that did not change (detached from the graph, missing
  from the optimizer, a missing `optimizer.step()`);
- zero_grads: every gradient exactly zero;
- lr_off_schedule: the optimizer's learning rate differs from the configured schedule;
- update_ratio: ||update|| / ||weight|| over the weight matrices far from ~1e-3 (Karpathy,
  "A Recipe for Training Neural Networks", 2019; CS231n's rule of thumb).
The snapshot is one copy of the trainable parameters, taken only on check steps.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from nt_tui.analysis.early_warnings import CRITICAL, warning_event
from nt_tui.engine.schedules import Schedule

#: The rule-of-thumb update-to-weight ratio ...
TARGET_UPDATE_RATIO = 1e-3
#: ... and how far from it is "far": Adam's per-element steps of ~lr on weights of ~0.02 make
#: 1e-2 - 5e-2 normal for small models at lr 1e-3 (measured on the demo, docs/performance.md),
#: so the band is wide: outside [1e-3 / 100, 1e-3 * 100].
UPDATE_RATIO_FACTOR = 100.0
#: Only call updates too small while the LR is at least this share of its peak (warmup and the
#: end of a decay are small on purpose).
LOW_RATIO_MIN_LR_SHARE = 0.5
#: Relative difference between the optimizer's LR and the schedule's that counts as off.
LR_TOLERANCE = 1e-6
#: Parameter names listed in a warning message.
NAMES_SHOWN = 5


class SilentChecks:
    def __init__(self, model: nn.Module, schedule: Schedule, every: int) -> None:
        self.every = every
        self.schedule = schedule
        self.named = [(name, param) for name, param in model.named_parameters()
                      if param.requires_grad]
        self._snapshot: list[torch.Tensor] | None = None

    def due(self, step: int) -> bool:
        """True when optimizer step number `step` (1-based) is a check step."""
        return step % self.every == 0

    def before_step(self) -> None:
        self._snapshot = [param.detach().clone() for _, param in self.named]

    def after_step(self, step: int, grad_norm: float, lr: float, step_was_finite: bool
                   ) -> list[dict[str, Any]]:
        """Warnings for the step just taken (optimizer step `step`, 1-based)."""
        snapshot, self._snapshot = self._snapshot, None
        warnings = [*self._check_lr(step, lr)]
        if not step_was_finite or snapshot is None:
            return warnings  # a skipped NaN step changes nothing on purpose
        if grad_norm == 0.0:
            warnings.append(warning_event(
                "zero_grads", step,
                f"every gradient is exactly zero at step {step}: the loss does not depend on "
                "the parameters (detached output, constant loss, or a zero learning signal)",
                {"grad_norm": 0.0}, CRITICAL))
            return warnings
        frozen, delta_sq, weight_sq = self._compare(snapshot)
        if frozen:
            shown = ", ".join(frozen[:NAMES_SHOWN]) + (
                f" and {len(frozen) - NAMES_SHOWN} more" if len(frozen) > NAMES_SHOWN else "")
            warnings.append(warning_event(
                "params_frozen", step,
                f"{len(frozen)} of {len(self.named)} trainable parameter tensors did not change "
                f"in optimizer step {step}: {shown} (detached from the loss, no gradient, or not "
                "in the optimizer)",
                {"frozen": float(len(frozen)), "trainable": float(len(self.named))}, CRITICAL))
        if weight_sq > 0:
            warnings.extend(self._check_ratio(step, math.sqrt(delta_sq / weight_sq), lr))
        return warnings

    def _compare(self, snapshot: list[torch.Tensor]) -> tuple[list[str], float, float]:
        """(names of unchanged parameters, sum ||delta||^2 and sum ||w||^2 over matrices)."""
        changed, delta_sq, weight_sq = [], [], []
        for (_, param), before in zip(self.named, snapshot):
            current = param.detach()
            changed.append(torch.ne(current, before).any())
            if current.dim() >= 2:
                delta_sq.append((current.float() - before.float()).square().sum())
                weight_sq.append(before.float().square().sum())
        flags = torch.stack(changed).tolist()
        sums = torch.stack([torch.stack(delta_sq).sum(), torch.stack(weight_sq).sum()]
                           ).tolist() if delta_sq else [0.0, 0.0]
        frozen = [name for (name, _), moved in zip(self.named, flags) if not moved]
        return frozen, sums[0], sums[1]

    def _check_lr(self, step: int, lr: float) -> list[dict[str, Any]]:
        expected = self.schedule.lr_at(step - 1)
        if abs(lr - expected) <= LR_TOLERANCE * max(abs(expected), 1e-12):
            return []
        return [warning_event(
            "lr_off_schedule", step,
            f"the optimizer used lr {lr:.6g} at step {step} but the {self.schedule.name} "
            f"schedule gives {expected:.6g}: something else changes the learning rate",
            {"lr": lr, "expected_lr": expected})]

    def _check_ratio(self, step: int, ratio: float, lr: float) -> list[dict[str, Any]]:
        high = TARGET_UPDATE_RATIO * UPDATE_RATIO_FACTOR
        low = TARGET_UPDATE_RATIO / UPDATE_RATIO_FACTOR
        at_peak = lr >= LOW_RATIO_MIN_LR_SHARE * self.schedule.peak_lr
        if ratio > high:
            verdict, knowledge = "too large: the learning rate is likely too high", \
                "common-failures.md#learning-rate-too-high"
        elif ratio < low and at_peak:
            verdict, knowledge = "too small: the learning rate is likely too low", \
                "common-failures.md#learning-rate-too-low"
        else:
            return []
        return [warning_event(
            "update_ratio", step,
            f"update-to-weight ratio {ratio:.2e} at step {step} is {verdict} "
            f"(rule of thumb ~{TARGET_UPDATE_RATIO:g}; warned outside [{low:g}, {high:g}])",
            {"update_ratio": ratio, "lr": lr, "low": low, "high": high}, knowledge=knowledge)]
