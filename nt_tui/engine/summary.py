"""The post-training summary and its recommendation, from the curves (no torch).

`recommend` reads the train and validation curves and the warnings of a run and returns one of
the seed's verdicts: converged well, overfitting (stop at step X), underfitting, unstable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

#: Unstable: this many loss spikes, or any NaN/Inf, in one run.
UNSTABLE_SPIKES = 3
#: Overfitting: final validation loss this much above the best (relative).
OVERFIT_FINAL_MARGIN = 0.02
#: Underfitting: train loss still falling by more than this (relative) over the last
#: `TAIL_FRACTION` of the run, or ...
STILL_FALLING = 0.03
TAIL_FRACTION = 0.2
#: ... the loss fell by less than this share of its first value over the whole run.
BARELY_LEARNED = 0.10


@dataclass
class Curves:
    """(step, value) points gathered while training."""

    train: list[tuple[int, float]] = field(default_factory=list)
    val: list[tuple[int, float]] = field(default_factory=list)
    warnings: dict[str, int] = field(default_factory=dict)


def _finite(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    return [(step, value) for step, value in points if math.isfinite(value)]


def recommend(curves: Curves, failed_nan: bool = False,
              planned_steps: int | None = None) -> dict[str, Any]:
    """{verdict, message, knowledge[, stop_at_step]} for a run's curves.

    `curves.train` should be the smoothed train loss (train_loss_avg) so noise is not trend.
    `planned_steps`, when given, tells a run stopped early (still falling: resume it) from one
    that used its whole budget and still underfits.
    """
    spikes = curves.warnings.get("loss_spike", 0) + curves.warnings.get("grad_spike", 0)
    nan = failed_nan or bool(curves.warnings.get("nan_inf"))
    if nan or spikes >= UNSTABLE_SPIKES:
        seen = f"{spikes} spike(s)" + (", NaN/Inf values" if nan else "")
        return {"verdict": "unstable",
                "message": f"unstable ({seen}): lower the learning rate, lengthen warmup or "
                           "clip gradients harder",
                "knowledge": "common-failures.md#numerical-instability"}
    train, val = _finite(curves.train), _finite(curves.val)
    if len(train) < 2:
        return {"verdict": "too_short", "message": "too few logged steps to judge the run",
                "knowledge": "common-failures.md#healthy-training"}
    if len(val) >= 2:
        best_step, best_val = min(val, key=lambda point: point[1])
        final_val = val[-1][1]
        if best_step < val[-1][0] and final_val > best_val * (1 + OVERFIT_FINAL_MARGIN):
            return {"verdict": "overfitting", "stop_at_step": best_step,
                    "message": f"overfitting: validation loss was best at step {best_step} "
                               f"({best_val:.4f}) and ended at {final_val:.4f}; stop at step "
                               f"{best_step} (best.pt), or add regularization / more data",
                    "knowledge": "common-failures.md#overfitting"}
    first, last = train[0][1], train[-1][1]
    tail_start = train[-1][0] - TAIL_FRACTION * (train[-1][0] - train[0][0])
    before_tail = [value for step, value in train if step <= tail_start][-3:] or [first]
    tail_from = sum(before_tail) / len(before_tail)
    tail_end = sum(value for _, value in train[-3:]) / len(train[-3:])
    still_falling = tail_from > 0 and (tail_from - tail_end) / tail_from > STILL_FALLING
    barely = first > 0 and (first - last) / first < BARELY_LEARNED
    stopped_early = planned_steps is not None and train[-1][0] < planned_steps
    if still_falling and stopped_early:
        return {"verdict": "stopped_early",
                "message": f"stopped early at step {train[-1][0]} of {planned_steps} while the "
                           f"loss was still falling ({tail_from:.4f} -> {tail_end:.4f}): resume "
                           "the run (nt-tui train --resume RUN_DIR) to finish it",
                "knowledge": "common-failures.md#healthy-training"}
    if still_falling or barely:
        why = ("the loss barely fell: check the learning rate and the data" if barely else
               f"the train loss was still falling ({tail_from:.4f} -> {tail_end:.4f} over the "
               "last part of the run): train longer or use a larger model")
        return {"verdict": "underfitting", "message": f"underfitting: {why}",
                "knowledge": "common-failures.md#underfitting"}
    return {"verdict": "converged_well",
            "message": "converged well: the loss flattened out"
                       + (" and validation loss is at its best" if val else ""),
            "knowledge": "common-failures.md#healthy-training"}


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as the lines `nt-tui train --headless` prints at the end."""
    def number(key: str, spec: str = ".4f") -> str:
        value = summary.get(key)
        return "-" if value is None else format(value, spec)

    steps = f"{summary.get('total_steps', 0)} of {summary.get('planned_steps', '?')}"
    best = f"{number('best_val_loss')} at step {summary.get('best_val_step') or '-'}"
    speed = (f"{number('samples_per_s', ',.1f')} samples/s, "
             f"{number('tokens_per_s', ',.0f')} tokens/s")
    lines = [
        f"Run {summary.get('status', '?')}: {summary.get('run_dir', '')}",
        f"  steps            {steps}",
        f"  final train loss {number('final_train_loss')}",
        f"  best val loss    {best}",
        f"  time             {number('total_time_s', '.1f')} s ({speed})",
    ]
    if summary.get("reason"):
        lines.append(f"  reason           {summary['reason']}")
    for label, key in (("last checkpoint", "last_checkpoint"), ("best checkpoint",
                                                                "best_checkpoint")):
        if summary.get(key):
            lines.append(f"  {label:<16} {summary[key]}")
    for name, path in summary.get("logs", {}).items():
        lines.append(f"  {'log (' + name + ')':<16} {path}")
    advice = summary.get("recommendation") or {}
    if advice:
        lines.append(f"  verdict          {advice.get('message')}")
        lines.append(f"  see              knowledge/{advice.get('knowledge')}")
    return "\n".join(lines)
