"""Early warnings from logged metrics alone (no torch): the engine runs this detector on every
metric record it logs, and the live monitor runs the same detector on other tools' logs.

`EarlyWarningDetector.update(record)` takes one metric record (keys as in docs/run-format.md:
step, train_loss, grad_norm, lr, val_loss, ...; missing keys are fine) and returns the warning
events it triggers: dicts with kind "warning", step, message, code, severity, values and
knowledge (a `common-failures.md#...` link). A code that fired stays quiet for
`cooldown_records` records so a lasting problem is reported, not repeated every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

#: A logged train loss above this multiple of its moving average is a spike (the seed's rule).
LOSS_SPIKE_FACTOR = 2.0
#: A global grad norm above this multiple of its moving average is a spike (the seed's rule).
GRAD_SPIKE_FACTOR = 10.0
#: Moving averages are exponential over records with this decay (~10 records of memory).
AVERAGE_DECAY = 0.9
#: Records needed before a moving average is trusted for spike detection.
MIN_HISTORY = 3
#: Overfitting: the latest validation loss is this much above the best one (relative) ...
OVERFIT_MARGIN = 0.02
#: ... after at least this many validations.
OVERFIT_MIN_VALIDATIONS = 3
#: LR below this share of the peak LR seen counts as "near zero" (schedule exhausted) ...
LR_NEAR_ZERO_FRACTION = 0.01
#: ... when more than this share of the run is still ahead.
LR_REMAINING_FRACTION = 0.10
#: Without a known run length: near-zero LR for this share of the steps so far.
LR_STALL_FRACTION = 0.10
#: Records a fired warning code stays quiet for.
DEFAULT_COOLDOWN = 20

WARNING = "warning"
CRITICAL = "critical"

KNOWLEDGE = {
    "loss_spike": "common-failures.md#loss-spikes",
    "grad_spike": "common-failures.md#exploding-gradients",
    "nan_inf": "common-failures.md#nan-or-inf-loss",
    "overfitting": "common-failures.md#overfitting",
    "lr_near_zero": "common-failures.md#schedule-exhausted",
    "params_frozen": "common-failures.md#silent-errors",
    "zero_grads": "common-failures.md#silent-errors",
    "lr_off_schedule": "common-failures.md#silent-errors",
    "update_ratio": "common-failures.md#silent-errors",
}


def warning_event(code: str, step: int | None, message: str, values: dict[str, float],
                  severity: str = WARNING, knowledge: str | None = None) -> dict[str, Any]:
    """A warning event dict (the engine adds `time` when it writes it)."""
    return {"kind": "warning", "step": step, "message": message, "code": code,
            "severity": severity, "values": values,
            "knowledge": knowledge or KNOWLEDGE.get(code, "common-failures.md#silent-errors")}


def _number(record: dict[str, Any], key: str) -> float | None:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


@dataclass
class _Average:
    """Bias-corrected exponential moving average over finite values."""

    decay: float = AVERAGE_DECAY
    total: float = 0.0
    weight: float = 0.0
    count: int = 0

    def add(self, value: float) -> None:
        self.total = self.decay * self.total + (1 - self.decay) * value
        self.weight = self.decay * self.weight + (1 - self.decay)
        self.count += 1

    @property
    def value(self) -> float | None:
        return self.total / self.weight if self.count >= MIN_HISTORY else None


@dataclass
class EarlyWarningDetector:
    """Stateful detector over a stream of metric records (one run, increasing steps)."""

    total_steps: int | None = None
    cooldown_records: int = DEFAULT_COOLDOWN
    _loss: _Average = field(default_factory=_Average)
    _grad: _Average = field(default_factory=_Average)
    _validations: list[tuple[int, float, float | None]] = field(default_factory=list)
    _peak_lr: float = 0.0
    _near_zero_since: int | None = None
    _records: int = 0
    _last_fired: dict[str, int] = field(default_factory=dict)

    def update(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """Feed one metric record; return the warnings it triggers (often none)."""
        self._records += 1
        step = record.get("step")
        found = [*self._nan_inf(record, step), *self._spikes(record, step),
                 *self._overfitting(record, step), *self._lr(record, step)]
        return [event for event in found if self._may_fire(event)]

    def _may_fire(self, event: dict[str, Any]) -> bool:
        code = event["code"]
        last = self._last_fired.get(code)
        if code != "nan_inf" and last is not None and \
                self._records - last < self.cooldown_records:
            return False
        self._last_fired[code] = self._records
        return True

    def _nan_inf(self, record: dict[str, Any], step: Any) -> list[dict[str, Any]]:
        bad = {key: value for key in ("train_loss", "grad_norm", "val_loss")
               if (value := _number(record, key)) is not None and not math.isfinite(value)}
        skipped = _number(record, "nonfinite_steps") or 0.0
        if not bad and not skipped:
            return []
        what = ", ".join(f"{key} = {value}" for key, value in bad.items())
        if skipped:
            what = (what + "; " if what else "") + f"{skipped:g} step(s) with NaN/Inf loss or " \
                                                     "gradients since the last log"
        values = {**bad, "nonfinite_steps": skipped}
        return [warning_event("nan_inf", step, f"NaN/Inf at step {step}: {what}", values,
                              CRITICAL)]

    def _spikes(self, record: dict[str, Any], step: Any) -> list[dict[str, Any]]:
        found = []
        checks = (("train_loss", self._loss, LOSS_SPIKE_FACTOR, "loss_spike", "train loss"),
                  ("grad_norm", self._grad, GRAD_SPIKE_FACTOR, "grad_spike", "gradient norm"))
        for key, average, factor, code, label in checks:
            value = _number(record, key)
            if value is None or not math.isfinite(value):
                continue
            mean = average.value
            if mean is not None and mean > 0 and value > factor * mean:
                found.append(warning_event(
                    code, step,
                    f"{label} spike at step {step}: {value:.4g} is {value / mean:.1f}x its "
                    f"moving average {mean:.4g} (threshold {factor:g}x)",
                    {key: value, "moving_average": mean, "ratio": value / mean,
                     "threshold": factor}))
                continue  # a spike does not drag the average up
            average.add(value)
        return found

    def _overfitting(self, record: dict[str, Any], step: Any) -> list[dict[str, Any]]:
        val = _number(record, "val_loss")
        if val is None or not math.isfinite(val) or not isinstance(step, int):
            return []
        train = _number(record, "train_loss_avg")
        if train is None:
            train = self._loss.total / self._loss.weight if self._loss.weight else None
        self._validations.append((step, val, train))
        if len(self._validations) < OVERFIT_MIN_VALIDATIONS:
            return []
        best_step, best_val, best_train = min(self._validations, key=lambda item: item[1])
        _, previous_val, _ = self._validations[-2]
        rising = val > best_val * (1 + OVERFIT_MARGIN) and val > previous_val
        train_falling = train is not None and best_train is not None and train < best_train
        if not (rising and train_falling):
            return []
        return [warning_event(
            "overfitting", step,
            f"overfitting: validation loss rose from {best_val:.4f} (step {best_step}) to "
            f"{val:.4f} at step {step} while train loss fell from {best_train:.4f} to "
            f"{train:.4f}; the best checkpoint is from step {best_step}",
            {"val_loss": val, "best_val_loss": best_val, "best_step": best_step,
             "train_loss": train, "train_loss_at_best": best_train})]

    def _lr(self, record: dict[str, Any], step: Any) -> list[dict[str, Any]]:
        lr = _number(record, "lr")
        if lr is None or not isinstance(step, int):
            return []
        self._peak_lr = max(self._peak_lr, lr)
        if self._peak_lr <= 0 or lr >= LR_NEAR_ZERO_FRACTION * self._peak_lr:
            self._near_zero_since = None
            return []
        if self._near_zero_since is None:
            self._near_zero_since = step
        if self.total_steps:
            remaining = self.total_steps - step
            if remaining <= LR_REMAINING_FRACTION * self.total_steps:
                return []
            ahead = f"{remaining} of {self.total_steps} steps remain"
        else:
            stalled = step - self._near_zero_since
            if stalled < LR_STALL_FRACTION * max(step, 1):
                return []
            ahead = f"training went on for {stalled} steps at this LR"
        return [warning_event(
            "lr_near_zero", step,
            f"learning rate {lr:.3g} at step {step} is under {LR_NEAR_ZERO_FRACTION:.0%} of its "
            f"peak {self._peak_lr:.3g} while {ahead}: the schedule is exhausted and the "
            "remaining steps barely train",
            {"lr": lr, "peak_lr": self._peak_lr,
             "remaining_steps": float(self.total_steps - step) if self.total_steps else -1.0})]
