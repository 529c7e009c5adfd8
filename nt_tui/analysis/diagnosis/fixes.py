"""The fix for each cause: one specific sentence, with the new value when it can be computed,
and the config changes that apply it to an nt-tui config (dotted keys)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from nt_tui.analysis.diagnosis import thresholds as th
from nt_tui.analysis.diagnosis.evidence import Evidence
from nt_tui.analysis.diagnosis.numbers import lr as fmt_lr
from nt_tui.analysis.diagnosis.numbers import nice_lr, num, step

#: Lower / raise the LR by this factor (one "notch" on a 1-3-10 grid: LR sweeps in GPT-3 and
#: Chinchilla move in factors of ~3).
LR_STEP_FACTOR = 3.0
#: Gradient clipping threshold to add when none is set (GPT-2/3, LLaMA: 1.0).
DEFAULT_CLIP = 1.0
#: Dropout and weight decay to add against overfitting (GPT-2 used dropout 0.1; AdamW
#: weight decay 0.1 as in GPT-3 and LLaMA).
OVERFIT_DROPOUT = 0.1
OVERFIT_WEIGHT_DECAY = 0.1
#: A longer warmup is this share of the run (nt-tui's warmup rule, capped at 2000 steps).
WARMUP_FIX_SHARE = 0.05


@dataclass
class Fix:
    text: str
    #: dotted config key -> new value (empty when the fix is not a config change)
    changes: dict[str, Any] = field(default_factory=dict)




def fix_lr_too_high(ev: Evidence) -> Fix:
    peak = ev.peak_lr
    if not peak:
        return Fix("Lower the peak learning rate 3x and keep gradient clipping at 1.0.")
    table = ev.table_lr if "sgd" not in (ev.context.optimizer or "") else None
    if table and peak > th.LR_TABLE_EXTREME * table / 3:
        new = table
        text = (f"Lower the peak learning rate to the size table's value: lr {fmt_lr(peak)} -> "
                f"{fmt_lr(new)}")
    else:
        new = nice_lr(peak / LR_STEP_FACTOR)
        text = f"Lower the peak learning rate 3x: lr {fmt_lr(peak)} -> {fmt_lr(new)}"
    changes: dict[str, Any] = {"optimizer.lr": new}
    if ev.context.grad_clip == 0:
        changes["regularization.grad_clip"] = DEFAULT_CLIP
        text += f"; turn gradient clipping on (grad_clip 0 -> {num(DEFAULT_CLIP)})"
    return Fix(text + ".", changes)


def fix_lr_too_low(ev: Evidence) -> Fix:
    peak = ev.peak_lr
    if not peak:
        return Fix("Raise the peak learning rate 3-10x (run an LR range test to pick it).")
    table = ev.table_lr if "sgd" not in (ev.context.optimizer or "") else None
    new = table if table and peak < table / (th.LR_TABLE_EXTREME / 3) else nice_lr(
        peak * LR_STEP_FACTOR)
    return Fix(f"Raise the peak learning rate 3-10x (now {fmt_lr(peak)}): lr {fmt_lr(peak)} -> "
               f"{fmt_lr(new)}, or run an LR range test.", {"optimizer.lr": new})


def fix_exploding(ev: Evidence) -> Fix:
    clip = ev.context.grad_clip
    changes: dict[str, Any] = {}
    if clip is None or clip == 0 or clip > DEFAULT_CLIP:
        changes["regularization.grad_clip"] = DEFAULT_CLIP
        parts = [f"Clip the gradient norm at {num(DEFAULT_CLIP)}"
                 + (f" (grad_clip {num(clip)} -> {num(DEFAULT_CLIP)})" if clip is not None else "")]
    else:
        parts = [f"Keep clipping at {num(clip)}"]
    peak = ev.peak_lr
    if peak:
        new = nice_lr(peak / 2)
        changes["optimizer.lr"] = new
        parts.append(f"lower the LR 2x (lr {fmt_lr(peak)} -> {fmt_lr(new)})")
    parts.append("check the residual/normalisation layers")
    return Fix(", ".join(parts) + ".", changes)


def fix_vanishing(ev: Evidence) -> Fix:
    return Fix("Restore gradient flow: use residual connections and pre-LayerNorm, an "
               "initialisation with std ~0.02 (not shrunk), non-saturating activations (GELU/ReLU "
               "instead of sigmoid/tanh), and check that no parameters are frozen or detached.")


def fix_numerical(ev: Evidence) -> Fix:
    at = f" at step {step(ev.nonfinite.step)}" if ev.nonfinite else ""
    changes = {"precision": "bf16"} if ev.context.precision == "fp16" else {}
    return Fix(f"Find the operation that produced NaN/Inf{at}: guard log/division/sqrt with an "
               "epsilon (e.g. log(x.clamp_min(1e-8))), check the data for inf/NaN, use bf16 or "
               "fp32 instead of fp16, and run with torch.autograd.set_detect_anomaly(True) to "
               "locate it.", changes)


def fix_warmup(ev: Evidence) -> Fix:
    run = ev.context.total_steps or (ev.loss.last_step if ev.loss else None)
    from nt_tui.config.defaults import WARMUP_CAP_STEPS

    if not run:
        return Fix("Add a linear warmup of ~5-10% of the run (at most 2000 steps).")
    new = max(10, min(WARMUP_CAP_STEPS, round(WARMUP_FIX_SHARE * run)))
    old = ev.context.warmup_steps if ev.context.warmup_steps is not None else (
        ev.lr.warmup_steps if ev.lr else None)
    if old is None:  # no LR column and no config: the current warmup is not known
        return Fix(f"Use a linear warmup of warmup_steps {new} ({WARMUP_FIX_SHARE:.0%} of the "
                   f"{step(run)}-step run) if the run has none or a shorter one.",
                   {"schedule.warmup_steps": new})
    return Fix(f"Add a linear warmup: warmup_steps {old} -> {new} ({WARMUP_FIX_SHARE:.0%} of "
               f"the {step(run)}-step run).", {"schedule.warmup_steps": new})


def fix_schedule(ev: Evidence) -> Fix:
    last = ev.loss.last_step if ev.loss else None
    total = ev.context.total_steps
    changes: dict[str, Any] = {}
    parts = []
    if last and (total is None or total < last):
        changes["schedule.total_steps"] = last
        parts.append(f"Make the schedule as long as the run: total_steps "
                     f"{step(total) if total else '?'} -> {step(last)}")
    peak = ev.peak_lr
    if peak:
        floor = nice_lr(0.1 * peak)
        changes["schedule.min_lr"] = floor
        parts.append(f"keep a floor of 10% of the peak (min_lr -> {fmt_lr(floor)})")
    if not parts:
        return Fix("Make the LR schedule's length match the run, with a floor of ~10% of the "
                   "peak LR.")
    return Fix("; ".join(parts) + ".", changes)


def fix_overfitting(ev: Evidence) -> Fix:
    val = ev.val
    stop = (f"Keep the checkpoint from step {step(val.best_step)} (best val {num(val.best)}) and "
            "stop there (early stopping)") if val else "Stop at the best validation loss"
    changes: dict[str, Any] = {}
    parts = [stop]
    dropout, decay = ev.context.dropout, ev.context.weight_decay
    if dropout is not None and dropout < OVERFIT_DROPOUT:
        changes["regularization.dropout"] = OVERFIT_DROPOUT
        parts.append(f"dropout {num(dropout)} -> {num(OVERFIT_DROPOUT)}")
    if decay is not None and decay < OVERFIT_WEIGHT_DECAY:
        changes["optimizer.weight_decay"] = OVERFIT_WEIGHT_DECAY
        parts.append(f"weight decay {num(decay)} -> {num(OVERFIT_WEIGHT_DECAY)}")
    if not changes:
        parts.append("add dropout (0.1) or weight decay (0.1)")
    parts.append("or get more data")
    return Fix("; ".join(parts) + ".", changes)


def fix_underfitting(ev: Evidence) -> Fix:
    from nt_tui.config.schema import BUILTIN_SIZES

    size = ev.context.model_size
    names = list(BUILTIN_SIZES)
    if size in names and names.index(size) + 1 < len(names):
        bigger = names[names.index(size) + 1]
        return Fix(f"Use a bigger model (size {size} -> {bigger}) or train longer; lower "
                   "regularization (dropout, weight decay) if set.", {"model.size": bigger})
    return Fix("Use a bigger model (2-4x the parameters) or train longer on more data; lower "
               "regularization (dropout, weight decay) if set.")


def fix_not_shuffled(ev: Evidence) -> Fix:
    period = f" (the loss repeats every ~{step(ev.loss.period[0])} steps)" if (
        ev.loss and ev.loss.period) else ""
    return Fix(f"Shuffle the training data every epoch{period}: shuffle=True in the DataLoader "
               "(or a shuffled sampler), and do not sort by length or label.")


def fix_outlier(ev: Evidence) -> Fix:
    spikes = [s for s in (ev.loss.spikes if ev.loss else [])]
    low, high = th.SPIKE_SKIP_BATCHES
    if spikes:
        first = spikes[0]
        back = max(0, first.step - th.SPIKE_ROLLBACK_STEPS)
        text = (f"Roll back to the checkpoint ~{th.SPIKE_ROLLBACK_STEPS} steps before the first "
                f"spike (step {step(back)}, spike at {step(first.step)}), skip the "
                f"{low}-{high} batches around it, and filter those examples")
    else:
        text = "Find and filter the bad batches"
    changes: dict[str, Any] = {}
    clip = ev.context.grad_clip
    if clip and clip > 0.5:
        changes["regularization.grad_clip"] = 0.5
        text += f"; lower the clip threshold (grad_clip {num(clip)} -> 0.5)"
    else:
        text += "; lower the clip threshold or the LR"
    return Fix(text + ".", changes)


def fix_leakage(ev: Evidence) -> Fix:
    return Fix("Check that validation examples are not in the training set (deduplicate by "
               "hash, split before any augmentation or windowing, split by document/source); "
               "use a held-out file or data.val_split on unseen text.")


def fix_bad_init(ev: Evidence) -> Fix:
    return Fix("Initialise weights with std ~0.02 (GPT-2) and scale residual output layers by "
               "1/sqrt(2 x layers); the initial loss should be close to ln(vocab)"
               + (f" = {num(ev.uniform_loss)}" if ev.uniform_loss else "") + ".")


def fix_healthy(ev: Evidence) -> Fix:
    if ev.loss is not None and ev.loss.tail_change_rel > 2 * th.PLATEAU_REL:
        return Fix("Nothing to fix: the loss is still falling, so training longer should help.")
    return Fix("Nothing to fix: keep the settings.")


FIXES: dict[str, Callable[[Evidence], Fix]] = {
    "healthy": fix_healthy,
    "lr_too_high": fix_lr_too_high,
    "lr_too_low": fix_lr_too_low,
    "exploding_gradients": fix_exploding,
    "vanishing_gradients": fix_vanishing,
    "numerical_instability": fix_numerical,
    "insufficient_warmup": fix_warmup,
    "schedule_exhausted": fix_schedule,
    "overfitting": fix_overfitting,
    "underfitting": fix_underfitting,
    "data_not_shuffled": fix_not_shuffled,
    "data_outlier": fix_outlier,
    "label_leakage": fix_leakage,
    "bad_initialization": fix_bad_init,
}
