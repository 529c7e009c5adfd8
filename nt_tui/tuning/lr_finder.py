"""The learning-rate range test: train briefly while the LR grows exponentially, then read a
good peak LR off the smoothed loss-vs-LR curve.

Procedure from Smith, "Cyclical Learning Rates for Training Neural Networks" (2017), as
popularised by fastai's `lr_find`: start at a tiny LR, multiply it by a constant factor every
optimizer step up to a huge one, stop once the loss diverges. The curve analysis
(`analyse_curve`) is numpy only, so it is unit-tested on synthetic curves and reused by the
app; `run_range_test` trains with the engine's model, data and optimizer builders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np

from nt_tui.errors import NtTuiError
from nt_tui.runfmt import free_path

Rule = Literal["auto", "steepest", "divergence"]
RULES: tuple[str, ...] = ("auto", "steepest", "divergence")

#: Bias-corrected exponential moving average of the loss. The average lags about
#: beta / (1 - beta) steps: fastai's 0.98 lags 49 steps, half of a 100-step test, which on the
#: demo config moved the smoothed minimum from LR 1e-2 to 0.16; 0.9 lags 9 steps, under one
#: decade of LR at the default range and length.
SMOOTHING_BETA = 0.9
#: The test has diverged once the smoothed loss exceeds this multiple of its minimum (fastai
#: stops its LR finder at 4x the best smoothed loss).
DIVERGENCE_FACTOR = 4.0
#: The `divergence` rule: a tenth of the LR at the loss minimum (fastai's "lr_min / 10"; the
#: minimum sits just before the loss turns up and diverges).
DIVERGENCE_FRACTION = 0.1
#: The steepest-descent search skips this share of the first points, where the moving average
#: is still settling and the first updates move the loss for reasons other than the LR.
SKIP_START_FRACTION = 0.1
#: The steepest descent counts only when it has this many points before the loss minimum ...
MIN_DESCENT_POINTS = 5
#: ... and the smoothed loss falls by at least this share of its starting value before it.
MIN_DESCENT_DROP = 0.05
#: Defaults of the test: fastai runs 100 iterations from 1e-7 to 10. AdamW barely moves a
#: Transformer below 1e-6 and diverges well before 1, so the range is 1e-6 to 1 (16 steps per
#: decade at 100 steps).
DEFAULT_STEPS = 100
DEFAULT_START_LR = 1e-6
DEFAULT_END_LR = 1.0
#: The written LR keeps this many significant digits (the test is not more precise).
LR_SIGNIFICANT_DIGITS = 2
#: Suffix of the config the suggestion is written into (`<name>-lr-find.yaml`).
CONFIG_SUFFIX = "-lr-find"


# ---------------------------------------------------------------------- curve analysis

def lr_schedule(start_lr: float, end_lr: float, steps: int) -> np.ndarray:
    """`steps` learning rates growing geometrically from `start_lr` to `end_lr`."""
    if not 0 < start_lr < end_lr:
        raise NtTuiError(f"the LR range must rise from a positive start (got {start_lr:g} to "
                         f"{end_lr:g})", hint="e.g. --start-lr 1e-7 --end-lr 1")
    if steps < 2 * MIN_DESCENT_POINTS:
        raise NtTuiError(f"{steps} steps are too few for a range test",
                         hint=f"use at least {2 * MIN_DESCENT_POINTS} steps (default "
                              f"{DEFAULT_STEPS})")
    return np.geomspace(start_lr, end_lr, steps)


def smooth(losses: Any, beta: float = SMOOTHING_BETA) -> np.ndarray:
    """Bias-corrected exponential moving average; NaN/Inf losses make the rest NaN."""
    values = np.asarray(losses, dtype=float)
    smoothed = np.empty_like(values)
    average = 0.0
    for index, value in enumerate(values):
        average = beta * average + (1 - beta) * value
        smoothed[index] = average / (1 - beta ** (index + 1))
    return smoothed


def divergence_index(smoothed: Any, factor: float = DIVERGENCE_FACTOR) -> int | None:
    """The first point where the smoothed loss is NaN/Inf or above `factor` x its minimum so
    far; None when the curve never diverges."""
    best = math.inf
    for index, value in enumerate(np.asarray(smoothed, dtype=float)):
        if not math.isfinite(value) or (index > 0 and value > factor * best):
            return index
        best = min(best, value)
    return None


@dataclass(frozen=True)
class LRSuggestion:
    """The suggested LR, the rule that gave it, and the numbers behind both rules."""

    lr: float
    rule: str
    explanation: str
    #: LR at the steepest descent (None when the curve has no clear descent)
    steepest_lr: float | None
    #: LR at the smoothed loss minimum, and the divergence rule's suggestion (a tenth of it)
    min_loss_lr: float
    divergence_rule_lr: float
    #: LR where the test diverged (None when it reached the end of the range)
    diverged_lr: float | None
    min_loss: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class LRCurve:
    """A range test: the LR and raw loss of every step, smoothed, and the suggestion."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float] = field(default_factory=list)
    suggestion: LRSuggestion | None = None
    stopped: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"lrs": self.lrs, "losses": self.losses, "smoothed": self.smoothed,
                "stopped": self.stopped,
                "suggestion": self.suggestion.to_dict() if self.suggestion else None}


def round_lr(lr: float, digits: int = LR_SIGNIFICANT_DIGITS) -> float:
    """`lr` to `digits` significant digits (1.2345e-3 -> 1.2e-3)."""
    return float(f"{lr:.{digits - 1}e}")


def _steepest_index(smoothed: np.ndarray, log_lrs: np.ndarray, minimum: int) -> int | None:
    """Index of the fastest fall per decade of LR before the minimum, when the fall is clear."""
    start = int(len(smoothed) * SKIP_START_FRACTION)
    if minimum - start < MIN_DESCENT_POINTS:
        return None
    window = smoothed[start:minimum + 1]
    if window[0] - window[-1] < MIN_DESCENT_DROP * abs(window[0]):
        return None
    slopes = np.gradient(window, log_lrs[start:minimum + 1])
    return start + int(np.argmin(slopes[:-1]))


def analyse_curve(lrs: Any, losses: Any, rule: Rule = "auto") -> tuple[np.ndarray, LRSuggestion]:
    """Smooth the losses and suggest a peak LR with `rule` (see docs/sweeps.md).

    `auto` takes the steepest descent when the curve has a clear one before its minimum, and
    a tenth of the LR at the minimum otherwise.
    """
    if rule not in RULES:
        raise NtTuiError(f"unknown LR rule {rule!r}", hint=f"use one of {', '.join(RULES)}")
    lrs = np.asarray(lrs, dtype=float)
    smoothed = smooth(losses)
    if len(lrs) != len(smoothed) or len(lrs) < 2:
        raise NtTuiError("the range test recorded too few steps to read a curve",
                         hint="run more steps, or start from a lower LR")
    diverged = divergence_index(smoothed)
    usable = len(smoothed) if diverged is None else diverged
    if usable < 2:
        raise NtTuiError(f"the loss diverged at once (LR {lrs[0]:.2g})",
                         hint="start the range lower, e.g. --start-lr 1e-8, or check the data "
                              "and the model")
    minimum = int(np.argmin(smoothed[:usable]))
    min_lr = float(lrs[minimum])
    divergence_lr = min_lr * DIVERGENCE_FRACTION
    steep = _steepest_index(smoothed, np.log10(lrs), minimum)
    steepest_lr = float(lrs[steep]) if steep is not None else None
    use = rule if rule != "auto" else ("steepest" if steepest_lr is not None else "divergence")
    if use == "steepest" and steepest_lr is None:
        raise NtTuiError("the loss has no clear descent before its minimum, so the steepest-"
                         "descent rule has nothing to read",
                         hint="use --rule divergence, or widen the LR range / run more steps")
    if use == "steepest":
        lr = round_lr(steepest_lr)
        why = (f"steepest descent: the smoothed loss falls fastest at LR {steepest_lr:.2g} "
               f"(minimum {smoothed[minimum]:.3f} at LR {min_lr:.2g})")
    else:
        lr = round_lr(divergence_lr)
        why = (f"divergence point: a tenth of LR {min_lr:.2g}, where the smoothed loss is "
               f"lowest ({smoothed[minimum]:.3f}) before it turns up")
    return smoothed, LRSuggestion(
        lr=lr, rule=use, explanation=why, steepest_lr=steepest_lr, min_loss_lr=min_lr,
        divergence_rule_lr=divergence_lr,
        diverged_lr=float(lrs[diverged]) if diverged is not None else None,
        min_loss=float(smoothed[minimum]))


# -------------------------------------------------------------------------- the test

ProgressFn = Callable[[int, float, float], None]


def _accelerator(precision: str) -> Any:
    """An Accelerator for `precision` on the GPU when there is one (as the Trainer sets up)."""
    import torch
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    mixed = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[precision]
    if AcceleratorState._shared_state and AcceleratorState().mixed_precision != mixed:
        AcceleratorState._reset_state()
    return Accelerator(mixed_precision=mixed, cpu=not torch.cuda.is_available())


def run_range_test(resolved: Any, *, steps: int = DEFAULT_STEPS,
                   start_lr: float = DEFAULT_START_LR, end_lr: float = DEFAULT_END_LR,
                   rule: Rule = "auto", on_step: ProgressFn | None = None,
                   should_stop: Callable[[], bool] | None = None) -> LRCurve:
    """Run the range test on a resolved config's model and training data.

    A fresh model (the config's seed) trains with the config's optimizer, batch size, gradient
    accumulation, clipping and precision; the LR of step `i` is the `i`-th of
    `lr_schedule(start_lr, end_lr, steps)`. Stops when the smoothed loss diverges, at the end
    of the range, or when `should_stop()` says so. `on_step(step, lr, loss)` reports progress
    (from the calling thread).
    """
    import torch
    from accelerate.utils import send_to_device, set_seed

    from nt_tui.engine.data import TrainBatches
    from nt_tui.engine.optimizers import build_optimizer
    from nt_tui.engine.task import build_task

    config = resolved.config
    schedule = lr_schedule(start_lr, end_lr, steps)
    accelerator = _accelerator(config.precision)
    set_seed(config.seed)
    task = build_task(resolved)
    optimizer, _ = build_optimizer(task.model, config)
    model, optimizer = accelerator.prepare(task.model, optimizer)
    model.train()
    batches = TrainBatches(task.train, config.data.batch_size, config.seed)
    accum, clip = config.data.grad_accum, config.regularization.grad_clip
    params = [p for p in model.parameters() if p.requires_grad]
    curve = LRCurve(lrs=[], losses=[])
    best, average, position = math.inf, 0.0, 0
    try:
        for step, lr in enumerate(schedule.tolist()):
            if should_stop is not None and should_stop():
                curve.stopped = "stopped by the user"
                break
            for group in optimizer.param_groups:
                group["lr"] = lr
            total = 0.0
            for _ in range(accum):
                inputs, targets = send_to_device(batches.batch(position), accelerator.device)
                position += 1
                with accelerator.autocast():
                    loss = task.loss_fn(model(inputs), targets)
                accelerator.backward(loss / accum)
                total += float(loss.detach()) / accum
            if clip > 0:
                accelerator.clip_grad_norm_(params, clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            curve.lrs.append(lr)
            curve.losses.append(total)
            if on_step is not None:
                on_step(step, lr, total)
            average = SMOOTHING_BETA * average + (1 - SMOOTHING_BETA) * total
            smoothed = average / (1 - SMOOTHING_BETA ** (step + 1))
            if not math.isfinite(smoothed) or smoothed > DIVERGENCE_FACTOR * best:
                curve.stopped = f"the loss diverged at LR {lr:.2g}"
                break
            best = min(best, smoothed)
        else:
            curve.stopped = f"reached the end of the range (LR {end_lr:g})"
    except torch.OutOfMemoryError:
        raise NtTuiError("out of memory during the LR range test",
                         hint="lower data.batch_size or data.seq_len in the config") from None
    finally:
        accelerator.free_memory()
    smoothed_curve, curve.suggestion = analyse_curve(curve.lrs, curve.losses, rule)
    curve.smoothed = smoothed_curve.tolist()
    return curve


# ------------------------------------------------------------------- the new config

def free_config_path(config_path: Path) -> Path:
    """`<stem>-lr-find.yaml` beside the config, or `-2`, `-3` ... when taken."""
    return free_path(config_path.parent, f"{config_path.stem}{CONFIG_SUFFIX}", ".yaml")


def _portable_paths(config: Any, source_dir: Path, target_dir: Path) -> None:
    """Make relative file paths absolute when the new config lives in another folder."""
    from nt_tui.resources import DEMO_DATASET_NAME
    from nt_tui.textdata import dataset_path

    if source_dir.resolve() == target_dir.resolve():
        return
    for section, key in (("data", "train"), ("data", "validation"), ("model", "path")):
        spec = getattr(getattr(config, section), key)
        if spec and spec != DEMO_DATASET_NAME:
            setattr(getattr(config, section), key, str(dataset_path(spec, source_dir).resolve()))


def write_lr_config(config_path: Path, suggestion: LRSuggestion, out: Path | None = None) -> Path:
    """Write the config at `config_path` with `optimizer.lr` set to the suggestion into a new
    file (`out`, or `free_config_path`); the original, and any existing file, stay as they are.
    """
    from nt_tui.config import load_config
    from nt_tui.config.loader import dump_config
    from nt_tui.runfmt import write_atomic

    config_path = Path(config_path)
    config = load_config(config_path)
    config.optimizer.lr = suggestion.lr
    target = Path(out) if out is not None else free_config_path(config_path)
    if target.exists():
        raise NtTuiError(f"{target} already exists", hint="choose another --out; nt-tui never "
                                                          "overwrites a config")
    _portable_paths(config, config_path.parent, target.parent)
    header = (f"# Written by `nt-tui lr-find {config_path}`: optimizer.lr = {suggestion.lr:g}\n"
              f"# Rule: {suggestion.explanation}.\n")
    write_atomic(target, header + dump_config(config))
    return target
