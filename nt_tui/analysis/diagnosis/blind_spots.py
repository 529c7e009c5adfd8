"""Causes a log cannot rule out: what its format does not record.

A log sampled one step in ten cannot show a bad batch between its points; one with no epoch
column cannot tell a leaked validation set from a held-out set in its first pass; one that
does not name the optimizer cannot tell plain SGD at a small step from Adam. When the rules
find nothing for such a cause, it is named as an alternative with a small strength
(`BLIND_SPOT_STRENGTH`, below any rule's real evidence and far below "healthy"), with a
sentence saying what the log does not show and so what to check. This ranks the
alternatives by what could be hiding rather than by the vocabulary's order; it never changes
the first answer of a run with evidence, nor "healthy" (suppression of healthy is computed
before these hints).
"""

from __future__ import annotations

from nt_tui.analysis.diagnosis import thresholds as th
from nt_tui.analysis.diagnosis.evidence import Evidence
from nt_tui.analysis.diagnosis.numbers import lr as fmt_lr
from nt_tui.analysis.diagnosis.numbers import num, step

#: Strength of a blind-spot hint: above "no evidence at all" (0), below what any rule's
#: evidence gives (rules start near 0.1), so a hint only orders the causes with none.
BLIND_SPOT_STRENGTH = 0.04
#: The underfitting hint of a run that learned little (under UNDERFIT_LEARNED_LITTLE_REL of
#: its start) is this many times BLIND_SPOT_STRENGTH: the first of the alternatives, still
#: below any rule's real evidence.
LEARNED_LITTLE_HINT = 2.0
#: Points this many steps apart or more are a sampled (or averaged) log.
COARSE_SPACING = 4


def warmup_unseen(ev: Evidence) -> bool:
    """The log cannot show the first steps (sampled or averaged from the start) and shows
    no warmup (or no LR at all): a warmup spike would leave no trace in it."""
    loss, lr = ev.loss, ev.lr
    if loss is None or not loss.from_start:
        return False
    coarse = loss.interval >= COARSE_SPACING or loss.first_step >= th.COARSE_FIRST_STEP
    return coarse and (lr is None or lr.first_share >= th.LR_NO_WARMUP_SHARE)


def blind_spots(ev: Evidence) -> dict[str, tuple[float, str]]:
    """cause -> (hint strength, sentence) for the causes this log cannot show."""
    loss, lr, val = ev.loss, ev.lr, ev.val
    hints: dict[str, tuple[float, str]] = {}
    if loss is None or ev.nonfinite is not None:
        return hints
    spacing = loss.interval
    coarse = spacing >= COARSE_SPACING or loss.first_step >= th.COARSE_FIRST_STEP
    window = ev.context.loss_window or 1
    every = f"one point every {step(round(spacing))} steps"
    if warmup_unseen(ev):
        hints["insufficient_warmup"] = (
            BLIND_SPOT_STRENGTH * 1.25,
            f"not visible in this log: it starts at step {step(loss.first_step)} with {every}, "
            "and a warmup spike lasts the first ~10 steps"
            + ("" if lr is None else f" (the LR was {fmt_lr(lr.first)} from the first point: "
                                     "no warmup seen)"))
    if spacing >= COARSE_SPACING and window <= 1:
        hints["data_outlier"] = (
            BLIND_SPOT_STRENGTH,
            f"not visible in this log: with {every}, a bad batch between logged steps "
            "leaves no trace")
    if coarse and ev.epochs is not None and ev.epochs >= 2 and ev.epoch_phase is None:
        hints["data_not_shuffled"] = (
            BLIND_SPOT_STRENGTH,
            f"not visible in this log: the data order shows as a pattern that repeats every "
            f"pass, and {every} over {num(ev.epochs)} passes is too coarse to see it")
    if val is not None and ev.epochs is None and (val.share_at_or_below_train or 0) >= 0.5:
        hints["label_leakage"] = (
            BLIND_SPOT_STRENGTH,
            "not visible in this log: it has no epoch column, and validation at or below "
            "train is what a held-out set shows in its first pass and a copy of the training "
            "data shows always")
    peak = ev.peak_lr
    if ev.context.optimizer is None and peak is not None and peak < th.SGD_LR_LOW and \
            loss.tail_change_rel < 2 * th.UNDERFIT_TAIL_REL:
        hints["lr_too_low"] = (
            BLIND_SPOT_STRENGTH,
            f"not visible in this log: it does not name the optimizer; for plain SGD a peak "
            f"LR of {fmt_lr(peak)} is too small a step (its useful range starts near "
            f"{fmt_lr(th.SGD_LR_LOW)})")
    gap = None if val is None else val.gap_late_rel if val.gap_late_rel is not None \
        else val.gap_final_rel
    # (validation averages the scatter of single-batch train losses)
    tail = loss.tail_change_rel if val is None or val.tail_change_rel is None else min(
        loss.tail_change_rel, val.tail_change_rel)
    if gap is not None and abs(gap) <= th.UNDERFIT_GAP_REL and tail < 2 * th.UNDERFIT_TAIL_REL:
        # a run that learned little of where it started makes a capacity limit the likeliest
        # of the faults no rule found (still far below "healthy": an alternative to check)
        little = loss.from_start and loss.decrease_rel < th.UNDERFIT_LEARNED_LITTLE_REL[0]
        hints["underfitting"] = (
            BLIND_SPOT_STRENGTH * (LEARNED_LITTLE_HINT if little else 1.0),
            f"validation ends within {num(abs(gap) * 100)}% of train and the loss is "
            "flattening" + (f" after learning only {num(loss.decrease_rel * 100)}% of where "
                            "it started" if little else "")
            + ": if it stays there, the model may be at its capacity")
    return hints
