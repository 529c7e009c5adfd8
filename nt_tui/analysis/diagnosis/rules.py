"""One rule per cause: how strongly the evidence shows that cause's pattern.

A rule returns a `Finding`: a strength in [0, 1] (0 = pattern absent, 1 = textbook case)
and the evidence sentences, with numbers, that support it. Rules follow the contract's
definitions of the causes (the physics of the curves), never a particular log's quirks.
`nt_tui.analysis.diagnosis.calibration` turns strengths into confidences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from nt_tui.analysis.diagnosis import thresholds as th
from nt_tui.analysis.diagnosis.blind_spots import warmup_unseen
from nt_tui.analysis.diagnosis.evidence import EpochPhase, Evidence
from nt_tui.analysis.diagnosis.numbers import lr as fmt_lr
from nt_tui.analysis.diagnosis.numbers import num, pct, step
from nt_tui.analysis.diagnosis.signals import Spike


@dataclass
class Finding:
    strength: float = 0.0
    evidence: list[str] = field(default_factory=list)

    def add(self, strength: float, sentence: str | None = None) -> None:
        """Raise the strength to at least `strength` and keep the sentence."""
        self.strength = max(self.strength, min(1.0, strength))
        if sentence and sentence not in self.evidence:
            self.evidence.append(sentence)

    def note(self, sentence: str) -> None:
        if sentence not in self.evidence:
            self.evidence.append(sentence)

    def scale(self, factor: float, sentence: str | None = None) -> None:
        self.strength = max(0.0, min(1.0, self.strength * factor))
        if sentence:
            self.note(sentence)


def ramp(value: float, low: float, high: float) -> float:
    """0 at `low`, 1 at `high`, linear between (works for high < low too)."""
    if high == low:
        return float(value >= high)
    return max(0.0, min(1.0, (value - low) / (high - low)))


# --- shared facts ---------------------------------------------------------------------------

def _late_spikes(ev: Evidence) -> list:
    loss = ev.loss
    if loss is None:
        return []
    cutoff = loss.first_step + th.EARLY_SHARE * loss.span if loss.from_start else -math.inf
    return [s for s in loss.spikes if s.step > cutoff]


def _early_spikes(ev: Evidence) -> list:
    loss = ev.loss
    if loss is None or not loss.from_start:
        return []
    return [s for s in loss.spikes if s.step <= loss.first_step + th.EARLY_SHARE * loss.span]


def _spike_text(spikes: list, limit: int = 3) -> str:
    shown = ", ".join(f"step {step(s.step)} ({num(s.value)} vs {num(s.baseline)})"
                      for s in spikes[:limit])
    more = f" and {len(spikes) - limit} more" if len(spikes) > limit else ""
    return shown + more


def _loss_window(ev: Evidence) -> int:
    """Steps each logged train loss is the mean of (HF's logging_steps), capped."""
    return max(1, min(ev.context.loss_window or 1, th.LOSS_WINDOW_MAX))


def _spike_share(ev: Evidence, spikes: int) -> float:
    """Spikes per step the log covers: a point of a window-mean log covers its window (a bad
    batch anywhere in it shows), a sampled or per-step point one step."""
    loss = ev.loss
    return spikes / max(1, loss.points * _loss_window(ev)) if loss is not None else 0.0


def _isolated(ev: Evidence) -> bool:
    """Spikes after the start are few, short and recover (or are one batch's loss, many
    times the level, gone at the next point: a bad batch, even when it knocked the weights to
    a higher level)."""
    spikes = _judged_spikes(ev)
    loss = ev.loss
    return bool(spikes) and loss is not None and (
        len(spikes) == 1 or _spike_share(ev, len(spikes)) <= th.ISOLATED_SPIKE_MAX_SHARE) and all(
        (s.recovered and s.width <= 3) or _one_batch(s) for s in spikes)


def _judged_spikes(ev: Evidence) -> list:
    """The late spikes less a jump on the last logged point under the seed's 2x rule: with
    nothing after it, whether it recovers cannot be seen, so it neither makes nor breaks the
    case for isolated bad batches."""
    return [s for s in _late_spikes(ev)
            if not (math.isnan(s.level_after) and s.ratio < th.SPIKE_RATIO)]


def _one_batch(spike: Spike) -> bool:
    """A spike of one or two logged points at ONE_BATCH_SPIKE_RATIO x the level before it:
    a step size that is too large builds up over several steps; one batch of garbage (or
    mislabelled) data gives a loss that high at once."""
    return spike.width <= 2 and spike.ratio >= th.ONE_BATCH_SPIKE_RATIO


def _phase(ev: Evidence) -> tuple["EpochPhase | None", float]:
    """The data-order phase evidence and how clearly it shows (0: not, or unknown): from the
    epoch column, else from folding a log that has none (`Evidence.folded_phase`)."""
    phase = ev.epoch_phase
    if phase is not None:
        return phase, ramp(phase.f_ratio, *th.PHASE_F[phase.bins]) * ramp(
            phase.explained, *th.PHASE_EXPLAINED[phase.bins])
    phase = ev.folded_phase
    if phase is not None:
        return phase, ramp(phase.f_ratio, *th.FOLD_F) * ramp(phase.explained,
                                                             *th.FOLD_EXPLAINED)
    return None, 0.0


def _spikes_in_worst_phase(ev: Evidence) -> bool:
    """Every late spike falls in the stretch of the epoch (or folded cycle) where the loss
    sits highest."""
    (phase, strength), spikes = _phase(ev), _late_spikes(ev)
    if phase is None or not spikes or not strength:
        return False
    cycle, width = phase.steps_per_epoch, 1 / phase.bins
    return all(phase.worst_phase <= (s.step / cycle) % 1.0 < phase.worst_phase + width
               for s in spikes)


def _pattern_spikes(ev: Evidence) -> bool:
    """The spikes after the start recur at the loss's period (the data order), not at random
    steps as bad batches of shuffled data or instability do."""
    if _spike_period(ev) is not None or _spikes_in_worst_phase(ev):
        return True
    cycle = _spike_cycle(ev)
    spikes = _late_spikes(ev)
    if cycle is None or len(spikes) < 2:
        return False
    # the phase of each spike within the period: data-order spikes share one phase
    phases = [(s.step % cycle) / cycle for s in spikes]
    best = max(sum(_near_phase(p, q) for q in phases) for p in phases)
    return best >= 2 and best / len(phases) >= 0.6


def _near_phase(a: float, b: float) -> bool:
    """Two positions within a period (0-1, wrapping round) are the same stretch of data."""
    return min(abs(a - b), 1 - abs(a - b)) <= th.PERIOD_SPIKE_MATCH


def _spike_cycle(ev: Evidence) -> float | None:
    """The period data-order spikes would recur at: one pass over the data (the epoch column)
    when the loss's own period agrees with it, else the loss's period (autocorrelation, or
    folding a log with no epoch column); None when the loss shows none."""
    loss = ev.loss
    cycle = loss.period[0] if loss is not None and loss.period is not None else None
    phase, strength = _phase(ev)
    if cycle is None and strength:
        cycle = phase.steps_per_epoch  # (the folded period, in a log with no epoch column)
    if cycle is None:
        return None
    period = _epoch_steps(ev) or cycle
    return cycle if ev.epochs and not (abs(period / cycle - 1) <= th.PERIOD_EPOCH_MATCH) \
        else period


def _on_data_period(ev: Evidence, at: int | None) -> bool:
    """Step `at` (an early spike or climb) falls on the stretch of data where the spikes of a
    data-order pattern recur later: the first of them, not instability from the start."""
    if at is None or not _pattern_spikes(ev):
        return False
    cycle = _spike_period(ev) or _spike_cycle(ev) or _epoch_steps(ev)
    if not cycle:
        return False
    return any(_near_phase((at % cycle) / cycle, (s.step % cycle) / cycle)
               for s in _late_spikes(ev))


def _spike_period(ev: Evidence) -> int | None:
    """The spacing of spikes that recur at a regular interval (four or more spikes, or three
    one epoch apart; nearly every gap a whole number of that spacing), or None: bad batches
    of shuffled data and instabilities land at irregular steps."""
    spikes = _late_spikes(ev)
    if len(spikes) < 3:
        return None
    gaps = sorted(b.step - a.step for a, b in zip(spikes, spikes[1:]))
    spacing = gaps[0] if gaps[0] > 0 else None
    if spacing is None:
        return None
    matched = [abs(gap / spacing - round(gap / spacing)) <= th.PERIOD_SPIKE_MATCH
               for gap in gaps]
    if sum(matched) / len(matched) < 0.75:
        return None
    # two gaps that agree happen by chance; three spikes count only when their spacing is
    # also one pass over the data
    epoch = _epoch_steps(ev)
    if len(spikes) == 3:
        if not (epoch and abs(spacing / epoch - 1) <= th.PERIOD_EPOCH_MATCH):
            return None
        # the same stretch of data comes back at the same place in every pass: over the
        # passes they span, the spikes are a pass apart on average to within the log's
        # interval (bad batches every 100 steps in 92-step passes drift 8 steps a pass)
        span = spikes[-1].step - spikes[0].step
        passes = max(1, round(span / epoch))
        interval = (ev.loss.last_step - ev.loss.first_step) / max(1, ev.loss.points - 1)
        if abs(span / passes - epoch) > interval:
            return None
    return spacing


def _unsettled_spikes(ev: Evidence) -> bool:
    """Spikes after the start that are neither isolated nor part of the data's period."""
    return bool(_late_spikes(ev)) and not _isolated(ev) and not _pattern_spikes(ev)


def _epoch_steps(ev: Evidence) -> float | None:
    """Steps per pass over the training data, from the log's epoch column."""
    loss = ev.loss
    if loss is None or not ev.epochs or ev.epochs < 2:
        return None
    if ev.epoch_phase is not None:  # an integer epoch column, spread between epoch starts
        return ev.epoch_phase.steps_per_epoch
    return loss.last_step / ev.epochs


def _diverging(ev: Evidence) -> float:
    """How strongly the (finite) train loss climbs back above its minimum."""
    loss = ev.loss
    if loss is None or loss.metric != "train_loss":
        return 0.0
    return ramp(loss.rise_after_min_rel, th.DIVERGENCE_REL * 0.5, th.DIVERGENCE_REL * 3)


def _bad_batch_climb(ev: Evidence) -> Spike | None:
    """The one-batch spike (`_one_batch`) after the loss's minimum across which most of its
    climb above that minimum happened (the level after it up by BAD_BATCH_CLIMB_SHARE of the
    climb or more), or None: a batch of garbage data that knocked the weights to a higher
    level, not a step size that walks the loss up."""
    loss = ev.loss
    if loss is None or not _diverging(ev):
        return None
    return next((s for s in _late_spikes(ev) if _one_batch(s) and s.step > loss.minimum_step
                 and s.baseline > 0 and (s.level_after / s.baseline - 1)
                 >= th.BAD_BATCH_CLIMB_SHARE * loss.rise_after_min_rel), None)


def _val_held_best(ev: Evidence) -> float:
    """How surely a climb of the train loss above its minimum (up to NOISE_CLIMB_MAX_REL)
    is the noise of sparse single-batch losses, not a step too large: over
    VAL_PLATEAU_MIN_EVALS evaluations or more, validation ends at its best (within
    OVERFIT_RISE_REL / 3, none at OVERFIT_RISE_REL). A run that diverges takes validation
    up with it; the lowest of many noisy train points is no level to climb back from."""
    loss, val = ev.loss, ev.val
    if loss is None or val is None or val.points < th.VAL_PLATEAU_MIN_EVALS or \
            loss.rise_after_min_rel > th.NOISE_CLIMB_MAX_REL:
        return 0.0
    return ramp(val.rise_rel, th.OVERFIT_RISE_REL, th.OVERFIT_RISE_REL / 3)


def _flat(ev: Evidence) -> bool:
    loss = ev.loss
    return loss is not None and loss.from_start and loss.decrease_rel < th.FLAT_REL \
        and loss.rise_after_min_rel < th.DIVERGENCE_REL


def _learned_before(ev: Evidence) -> float:
    """The validation loss sits clearly above train (ramp from GAP_OPEN_REL to twice it): the
    model fits its training data better than held-out data, so it has learned, before this
    log (a fine-tune, a resumed run) if the loss is flat in it. A model that cannot learn
    (vanishing gradients, a step far too small) shows no such gap: both sit at the start."""
    val = ev.val
    if val is None or val.gap_final_rel is None:
        return 0.0
    return ramp(val.gap_final_rel, th.GAP_OPEN_REL, 2 * th.GAP_OPEN_REL)


def _fit_before_log(ev: Evidence) -> float:
    """`_learned_before`, or a gap as wide as the fall in this log (GAP_BEYOND_FALL_RATIO):
    a fresh model starts with validation on train, so such a gap was opened before the log
    began. It excuses a curve that moves little (a "cannot learn" claim); it is no sign of
    health on its own (a run stuck at too large a step shows it too, once its first drop
    came before the first logged point)."""
    val, loss = ev.val, ev.loss
    learned = _learned_before(ev)
    if learned >= 1 or val is None or val.gap_final_rel is None or loss is None or \
            not loss.from_start or val.rise_rel >= th.GAP_OPEN_REL or \
            loss.decrease_rel <= -th.FLAT_REL or loss.rise_after_min_rel >= th.DIVERGENCE_REL:
        return learned  # (validation that rose, or a train loss that did, opens gaps too)
    gap = val.gap_final_rel
    ratio = gap / max(loss.decrease_rel, th.FLAT_REL)
    return max(learned, ramp(ratio, *th.GAP_BEYOND_FALL_RATIO) * ramp(
        gap, *th.GAP_BEYOND_FALL_MIN_REL))


def _learned_before_text(ev: Evidence, *, as_far_as_the_fall: bool = False) -> str:
    fall = f", as far as the loss fell in this log ({pct(ev.loss.decrease_rel)})" \
        if as_far_as_the_fall else ""
    return (f"validation sits {pct(ev.val.gap_final_rel)} above train{fall}: the model has "
            "learned (a fine-tune or a resumed run is flat once it fits), which a model that "
            "cannot learn does not show")


def _shape_weight(ev: Evidence) -> float:
    """How far the curve's shape (plateau onset, share of the decrease per stretch, a
    straight fall) can be trusted with the points the log has (`SHAPE_POINTS`)."""
    loss = ev.loss
    return 0.0 if loss is None else ramp(loss.points, *th.SHAPE_POINTS)


def _discount_learned(ev: Evidence, finding: Finding) -> None:
    """Take up to 70% off a claim that the model cannot learn when it shows it has."""
    learned = _fit_before_log(ev)
    if learned:
        finding.scale(1 - 0.7 * learned, "but " + _learned_before_text(
            ev, as_far_as_the_fall=not _learned_before(ev)))


def _barely_learned(ev: Evidence) -> float:
    """How strongly a from-scratch run has learned almost nothing: its loss fell only a few
    percent (a capacity limit still learns the easy part; a tiny step size does not)."""
    loss = ev.loss
    if loss is None or not loss.from_start or loss.rise_after_min_rel >= th.DIVERGENCE_REL:
        return 0.0
    return ramp(loss.decrease_rel, th.BARELY_LEARNED_REL, th.FLAT_REL * 2)


def _transient_grad_burst(ev: Evidence) -> bool:
    """The grad norm burst at a few logged points while the loss neither spiked nor
    diverged nor turned NaN: clipping or a single odd batch, not gradients blowing up."""
    grad, loss = ev.grad, ev.loss
    return grad is not None and ev.nonfinite is None and (
        grad.burst_points <= 2 or grad.burst_share <= th.GRAD_TRANSIENT_SHARE) and (
        loss is None or (not loss.spikes and _diverging(ev) < 0.3))


def _grad_blew_up(ev: Evidence) -> bool:
    """The grad norm rose by orders of magnitude from where it started, and stayed up or took
    the loss with it (the contract's exploding gradients)."""
    grad = ev.grad
    return grad is not None and _grad_late_blowup(ev) >= th.GRAD_BLOWUP_RATIO and \
        grad.growth_from_start >= th.GRAD_GROWTH_MIN and not _transient_grad_burst(ev)


def _sustained_blowup(ev: Evidence) -> float:
    """The grad norm rose >= GRAD_GROWTH_MIN x from its start and stayed there over a stretch
    (`GradEvidence.sustained_growth`) while the loss followed it up (>= SPIKE_RATIO x its
    start), with gradients not clipped on most steps: the growth in orders of magnitude, 0
    when absent."""
    grad = ev.grad
    if grad is None or grad.sustained_growth < th.GRAD_GROWTH_MIN or (
            grad.sustained_loss_growth or 0) < th.SPIKE_RATIO:
        return 0.0
    if ev.clip_fraction is not None and ev.clip_fraction > th.CLIP_FRACTION_HIGH:
        return 0.0  # clipped updates are bounded: the step size did the damage
    return math.log10(grad.sustained_growth)


def _grad_late_blowup(ev: Evidence) -> float:
    grad = ev.grad
    if grad is None:
        return 0.0
    ratio = grad.blowup_ratio
    late = ev.loss is None or not ev.loss.from_start or ev.loss.share_of_run(
        grad.maximum_step) > th.EARLY_SHARE
    return ratio if late else 0.0




def _early_climb(ev: Evidence) -> float:
    """How strongly the loss climbed in the first steps, beyond what its noise explains."""
    loss = ev.loss
    if loss is None or not loss.from_start:
        return 0.0
    bar = max(th.EARLY_RISE_REL, th.EARLY_RISE_NOISE * loss.noise_rel)
    return ramp(loss.early_rise_rel, bar, 3 * bar)


def _early_climb_text(loss) -> str:
    return (f"the loss climbed {pct(loss.early_rise_rel)} above its lowest value so far in the "
            f"first steps (step {step(loss.early_rise_step)}; noise later is "
            f"{pct(loss.noise_rel)})")


def _warmup_missing(ev: Evidence) -> tuple[float, str | None]:
    """(how sure the warmup is missing or too short, sentence); 0.5 when unknown."""
    loss = ev.loss
    run = loss.span if loss else ev.steps
    if ev.lr is not None:
        if ev.lr.first_share >= th.LR_NO_WARMUP_SHARE:
            return 1.0, (f"no warmup: the first logged LR {fmt_lr(ev.lr.first)} is already "
                         f"{pct(ev.lr.first_share)} of the peak {fmt_lr(ev.lr.peak)}")
        if ev.lr.warmup_steps < th.WARMUP_MIN_SHARE * run:
            return 0.8, (f"warmup reaches the peak LR in {step(ev.lr.warmup_steps)} steps, "
                         f"under {pct(th.WARMUP_MIN_SHARE)} of the {step(run)}-step run")
        return 0.1, f"LR warms up over {step(ev.lr.warmup_steps)} steps"
    if ev.context.warmup_steps is not None:
        if ev.context.warmup_steps < th.WARMUP_MIN_SHARE * run:
            return 0.9, f"warmup_steps is {ev.context.warmup_steps} in the config"
        return 0.1, f"warmup_steps is {ev.context.warmup_steps} in the config"
    return 0.5, None


def _noisy(ev: Evidence) -> tuple[float, str | None]:
    """How strongly the run past its start bounces: grad-norm bursts, a validation loss that
    goes up and down on its way down (healthy runs descend smoothly)."""
    signals = [(0.0, None)]
    grad = ev.grad
    if grad is not None and grad.late_spikiness > th.GRAD_BURST_RATIO:
        signals.append((ramp(grad.late_spikiness, th.GRAD_BURST_RATIO, 4 * th.GRAD_BURST_RATIO),
                        f"grad norm bursts to {num(grad.late_spikiness)}x its median in the "
                        "second half"))
    val = ev.val
    if val is not None and val.ups_before_best:
        # (as a share of the evaluations before the best: sampling noise alone makes a bounce
        # now and then, so a log with many evaluations shows more of them)
        chances = max(val.evals_before_best, th.VAL_BOUNCE_MIN_EVALS)
        signals.append((ramp(val.ups_before_best / chances, 0, th.VAL_BOUNCE_SHARE),
                        f"validation loss went up {val.ups_before_best} time(s) before its best"))
    return max(signals, key=lambda item: item[0])


def _stalled_noisy(ev: Evidence) -> tuple[float, str]:
    """A fast first drop, then a noisy stall at a high loss: Adam at too large a step size."""
    loss = ev.loss
    if loss is None or not loss.from_start or loss.early_share is None:
        return 0.0, ""
    flat_tail = ramp(loss.tail_change_rel, th.UNDERFIT_TAIL_REL, th.UNDERFIT_TAIL_REL / 3)
    stalled = ramp(loss.early_share, th.STALL_EARLY_SHARE - 0.1, th.STALL_EARLY_SHARE) * flat_tail
    noisy, why = _noisy(ev)
    immediate = _immediate_stall(ev) * ramp(loss.tail_change_rel, 4 * th.PLATEAU_REL,
                                            th.PLATEAU_REL)
    if stalled * noisy * 0.8 >= 0.7 * immediate and stalled * noisy > 0:
        return 0.8 * stalled * noisy, (f"the loss dropped fast, then stalled at ~{num(loss.final)} "
                                 f"({pct(loss.early_share)} of its decrease in the first "
                                 f"quarter) while {why}")
    if immediate:
        # a too-small model also stalls at once, smoothly: without noise or an LR far above
        # the size table, the stall alone is half the evidence
        extreme = _table_extreme(ev, low=False)[0] / 0.6
        share = pct(loss.share_of_run(loss.plateau_from))
        return 0.7 * immediate * max(0.5, noisy, extreme), (
            f"the loss stopped improving at ~{num(loss.final)} by step "
            f"{step(loss.plateau_from)} ({share} of the run) and stayed there: the optimizer "
            "stalled at once")
    return 0.0, ""


def _immediate_stall(ev: Evidence) -> float:
    """How strongly the loss stopped improving within the first few percent of the run (a
    capacity limit is approached gradually; a step size that is too large stalls at once)."""
    loss = ev.loss
    if loss is None or not loss.from_start or loss.decrease_rel < th.STALL_MIN_DROP_REL:
        return 0.0
    return ramp(loss.share_of_run(loss.plateau_from), th.STALL_PLATEAU_SHARE * 2,
                th.STALL_PLATEAU_SHARE)


def _stall(ev: Evidence) -> float:
    """How clearly the run stopped improving while the LR was still high (`STALL_SHARE`):
    the optimizer takes full steps and nothing comes of them."""
    loss, at = ev.loss, ev.lr_share_at_plateau
    if loss is None or at is None or not loss.from_start or ev.nonfinite is not None or \
            loss.metric != "train_loss" or loss.decrease_rel < th.FLAT_REL or \
            _diverging(ev) > 0.3:
        return 0.0
    return ramp(1 - loss.share_of_run(loss.plateau_from), *th.STALL_SHARE) * ramp(
        abs(loss.tail_change_rel), *th.STALL_TAIL_REL) * ramp(
        at, th.LR_PLATEAU_DECAYED_SHARE, th.LR_PLATEAU_HIGH_SHARE)


def _stall_text(ev: Evidence) -> str:
    loss = ev.loss
    return (f"the loss has not improved since step {step(loss.plateau_from)} "
            f"({pct(1 - loss.share_of_run(loss.plateau_from))} of the run; "
            f"{pct(loss.tail_change_rel)} change over the last {pct(th.TAIL_SHARE)}) while the "
            f"LR was still {pct(ev.lr_share_at_plateau)} of its peak")


def _small_for_optimizer(ev: Evidence) -> bool:
    """The peak LR is small for plain SGD (below SGD_LR_LOW), and, when the log names an
    Adam-type optimizer, also below its size table (the table's smallest value when the
    model size is unknown) by LR_TABLE_FACTOR."""
    peak = ev.peak_lr
    if peak is None or peak >= th.SGD_LR_LOW:
        return False
    if ev.context.optimizer and _adaptive(ev):
        from nt_tui.config.defaults import SIZE_TABLE

        table = ev.table_lr or min(row.lr for row in SIZE_TABLE)
        return peak < table / th.LR_TABLE_FACTOR
    return True


def _slow_stall(ev: Evidence) -> float:
    """A stall reached slowly after learning little (`SLOW_STALL_EARLY_SHARE`): a step size
    too small to leave the first plateau."""
    loss = ev.loss
    if loss is None or loss.early_share is None:
        return 0.0
    return _stall(ev) * ramp(loss.early_share, *th.SLOW_STALL_EARLY_SHARE) * ramp(
        loss.decrease_rel, *th.SLOW_STALL_DECREASE)


# --- the rules ------------------------------------------------------------------------------

def rule_numerical_instability(ev: Evidence) -> Finding:
    finding = Finding()
    bad = ev.nonfinite
    if bad is None:
        return finding
    where = f"{bad.metric} became NaN/Inf at step {step(bad.step)}"
    if bad.finite_points_before < 2:
        extreme, why = _table_extreme(ev, low=False)
        if extreme:  # nothing to judge the gradients by, but a step size that large blows up
            finding.add(0.4, f"{where}, from the first logged steps")
            finding.note(f"{why}: a step size that large is the likelier cause")
        else:
            finding.add(0.8, f"{where}, from the first logged steps")
        return finding
    grad_calm = bad.grad_ratio_before is not None and bad.grad_ratio_before < \
        th.GRAD_RISE_BEFORE_NAN and (bad.grad_before or 0) < th.GRAD_NORM_EXPLOSION
    loss_calm = bad.loss_ratio_before is None or bad.loss_ratio_before < 1.5
    if grad_calm and loss_calm:
        finding.add(0.95, f"{where} while the grad norm just before was normal "
                          f"({num(bad.grad_before)}, {num(bad.grad_ratio_before)}x its median)")
    elif bad.grad_ratio_before is None and loss_calm:
        finding.add(0.7, f"{where} with no rise of the loss before it "
                         f"(last finite loss {num(bad.loss_ratio_before)}x its median)")
    elif loss_calm:
        finding.add(0.25, where)
    else:
        finding.add(0.1, where)
    return finding


def rule_exploding_gradients(ev: Evidence) -> Finding:
    finding = Finding()
    bad, grad = ev.nonfinite, ev.grad
    if bad is not None:
        if bad.grad_ratio_before is not None and (
                bad.grad_ratio_before >= th.GRAD_RISE_BEFORE_NAN
                or (bad.grad_before or 0) >= th.GRAD_NORM_EXPLOSION):
            finding.add(0.95, f"grad norm rose to {num(bad.grad_before)} "
                              f"({num(bad.grad_ratio_before)}x its median) before the NaN at "
                              f"step {step(bad.step)}")
        elif bad.finite_points_before < 2 and _table_extreme(ev, low=False)[0]:
            finding.add(0.75, f"NaN/Inf at step {step(bad.step)}, within the first logged "
                              f"steps, at {_table_extreme(ev, low=False)[1]}")
        elif bad.grad_ratio_before is None and (bad.loss_ratio_before or 0) >= 3:
            finding.add(0.6, f"the loss grew {num(bad.loss_ratio_before)}x just before turning "
                             f"NaN at step {step(bad.step)}")
        elif bad.grad_ratio_before is None and (bad.loss_ratio_before or 0) >= 1.5:
            finding.add(0.35, f"the loss grew {num(bad.loss_ratio_before)}x just before turning "
                              f"NaN at step {step(bad.step)}")
    if grad is not None:
        ratio = _grad_late_blowup(ev)
        if ratio >= th.GRAD_BLOWUP_RATIO or grad.maximum >= th.GRAD_NORM_EXPLOSION:
            strength = max(ramp(math.log10(max(ratio, 1)), 1.5, 2.5),
                           ramp(math.log10(max(grad.maximum, 1e-12)), 1.7, 2.7))
            if ratio < 10 and grad.median >= th.GRAD_NORM_EXPLOSION:
                strength = max(strength, 0.6)
            sentence = (f"grad norm peaked at {num(grad.maximum)} at step "
                        f"{step(grad.maximum_step)}, {num(grad.blowup_ratio)}x its median "
                        f"{num(grad.median)} (explosion > {num(th.GRAD_NORM_EXPLOSION)})")
            if grad.growth_from_start < th.GRAD_GROWTH_MIN and bad is None:
                # high from the first logged steps and no growth: a large step size or scale
                finding.add(min(strength, 0.6) * 0.8, sentence)
                finding.note(f"but it was already {num(grad.maximum / grad.growth_from_start)} "
                             f"at the start: it rose only {num(grad.growth_from_start)}x, not "
                             "by orders of magnitude")
            elif _transient_grad_burst(ev):
                finding.add(0.5 * strength, sentence)
                finding.note(f"but only {grad.burst_points} logged point(s) reach "
                             f"{num(th.GRAD_BURST_RATIO)}x the median and the loss did not "
                             "follow: a transient burst, not a blow-up")
            else:
                finding.add(strength, sentence)
        orders = _sustained_blowup(ev)
        if orders and grad.sustained_steps is not None:
            first, last = grad.sustained_steps
            finding.add(0.6 + 0.3 * ramp(orders, 1.0, 2.0),
                        f"grad norm rose {num(grad.sustained_growth)}x above its start and "
                        f"stayed there (median over steps {step(first)}-{step(last)}) while "
                        f"the loss rose {num(grad.sustained_loss_growth)}x with it, unclipped")
        if grad.share_exploding > 0:
            finding.note(f"{pct(grad.share_exploding)} of logged steps have grad norm > "
                         f"{num(th.GRAD_NORM_EXPLOSION)}")
        loss = ev.loss
        if bad is None and loss is not None and loss.from_start and \
                loss.share_of_run(grad.maximum_step) <= th.EARLY_SHARE and \
                grad.final_ratio < 1 and loss.decrease_rel > th.BARELY_LEARNED_REL:
            finding.scale(0.5, "the largest gradients came at the start and the loss fell from "
                               "there: the initialisation more than an explosion")
        elif bad is None and loss is not None and loss.from_start and finding.strength and \
                not loss.spikes and not _diverging(ev) and not _early_climb(ev) and \
                loss.decrease_rel > th.BARELY_LEARNED_REL:
            finding.scale(0.5, f"but the loss fell steadily throughout ({num(loss.initial)} -> "
                               f"{num(loss.final)}, no spike, no climb): the gradient bursts did "
                               "not disturb training")
    elif bad is None and ev.loss is not None and ev.loss.rise_after_min_rel > 1.0:
        finding.add(0.35, f"the loss grew to {num(1 + ev.loss.rise_after_min_rel)}x its minimum "
                          "(no grad norm logged to confirm)")
    brief = ev.brief
    if brief is not None and brief.growth >= th.BRIEF_DIVERGED_GROWTH:
        if grad is not None and (grad.rise_ratio or 0) >= th.GRAD_RISE_BEFORE_NAN:
            finding.add(0.9, f"the log stops after {brief.points} finite loss point(s): the "
                             f"grad norm rose {num(grad.rise_ratio)}x to {num(grad.maximum)} "
                             f"while the loss grew {num(brief.growth)}x ({num(brief.first)} -> "
                             f"{num(brief.last)} by step {step(brief.last_step)})")
        elif grad is None and bad is None:
            finding.add(0.35, f"the loss grew {num(brief.growth)}x ({num(brief.first)} -> "
                              f"{num(brief.last)}) in a log of {brief.points} finite point(s) "
                              "(no grad norm logged to confirm)")
    if finding.strength and _updates_bounded(ev):
        finding.scale(0.5, (
            f"but gradients were clipped on {pct(ev.clip_fraction)} of steps: every update was "
            "bounded, so the blow-up came from the step size (LR x clip), not from unbounded "
            "gradients") if ev.clip_fraction is not None else (
            f"but the grad norm stayed above {num(th.GRAD_NORM_EXPLOSION)} on "
            f"{pct(ev.grad.share_exploding)} of logged steps with the loss finite: updates "
            "that large, unbounded, overflow the weights within a few steps, so something "
            "bounded them (clipping, or Adam's normalisation) and the step size did the damage"))
    return finding


def _updates_bounded(ev: Evidence) -> bool:
    """Clipping held most updates to the threshold, or (no clip fraction logged) the run
    shows updates were bounded: exploding gradients (the fix: clip) cannot be what blew the
    run up; the step size can."""
    if ev.clip_fraction is not None:
        return ev.clip_fraction >= th.CLIP_FRACTION_BOUNDED
    grad, loss = ev.grad, ev.loss
    # a grad norm above the explosion line on most steps while the loss stays finite, far
    # above its minimum: the run lives with huge gradients instead of overflowing
    return grad is not None and loss is not None and ev.nonfinite is None and \
        grad.share_exploding >= th.HELD_BLOWUP_SHARE and \
        loss.rise_after_min_rel >= th.HELD_BLOWUP_RISE_REL


def rule_vanishing_gradients(ev: Evidence) -> Finding:
    finding = Finding()
    grad, loss = ev.grad, ev.loss
    if grad is not None:
        if grad.median < th.GRAD_NORM_VANISHING:
            finding.add(0.95, f"grad norm median {num(grad.median)} is below "
                              f"{num(th.GRAD_NORM_VANISHING)} (vanished)")
        elif grad.median < th.GRAD_NORM_NEAR_ZERO:
            finding.add(0.6 + 0.3 * _flat(ev), f"grad norm median {num(grad.median)} is near "
                                               f"zero (healthy {num(th.GRAD_NORM_HEALTHY[0])}-"
                                               f"{num(th.GRAD_NORM_HEALTHY[1])})")
        elif grad.median < th.GRAD_NORM_HEALTHY[0] and _flat(ev):
            finding.add(0.5, f"grad norm median {num(grad.median)} is below the healthy "
                             f"{num(th.GRAD_NORM_HEALTHY[0])}-{num(th.GRAD_NORM_HEALTHY[1])}")
    elif _flat(ev):
        finding.add(0.45, f"the loss is flat from the start ({pct(loss.decrease_rel)} change "
                          "over the run; no grad norm logged to tell vanishing gradients from "
                          "a tiny LR)")
        peak = ev.peak_lr
        if peak is not None and peak >= th.LR_NOT_TINY:
            finding.add(0.6, f"the peak LR {fmt_lr(peak)} is not small, so a step size too "
                             "small cannot explain a loss that does not move")
        elif peak is not None and peak <= th.LR_TINY:
            finding.scale(0.6, f"but the peak LR {fmt_lr(peak)} is tiny")
        _discount_learned(ev, finding)
    if finding.strength and loss is not None and _flat(ev):
        finding.note(f"loss changed only {pct(loss.decrease_rel)} from {num(loss.initial)} over "
                     f"{step(loss.span)} steps")
    return finding


def rule_lr_too_low(ev: Evidence) -> Finding:
    finding = Finding()
    loss, grad = ev.loss, ev.grad
    if loss is None or ev.nonfinite is not None:
        return finding
    if grad is not None and grad.median < th.GRAD_NORM_NEAR_ZERO:
        return finding
    healthy_grads = grad is not None and grad.median >= th.GRAD_NORM_HEALTHY[0] * 0.1
    barely = _barely_learned(ev)
    peak = ev.peak_lr
    lr_not_small = peak is not None and peak >= th.LR_NOT_TINY and (_flat(ev) or _adaptive(ev))
    if _flat(ev) or barely:
        strength = 1.0 if _flat(ev) else barely
        finding.add((0.8 if healthy_grads else 0.45) * strength,
                    f"the loss barely moved: {pct(loss.decrease_rel)} change over "
                    f"{step(loss.span)} steps (healthy runs fall by a third or more)")
        if healthy_grads:
            finding.note(f"grad norm median {num(grad.median)}: the gradients are there, the "
                         "steps are too small")
        if grad is None and peak is not None and peak <= th.LR_TINY:
            finding.add(0.7 * strength, f"the peak LR {fmt_lr(peak)} is tiny")
        elif lr_not_small:
            finding.scale(0.5, f"but the peak LR {fmt_lr(peak)} is not small")
        fast_start = ramp(loss.early_share, *th.FAST_START_EARLY_SHARE) \
            if loss.early_share is not None and not _flat(ev) else 0.0
        if fast_start:
            finding.scale(1 - 0.7 * fast_start,
                          f"but {pct(loss.early_share)} of its decrease came in the first "
                          "quarter: too small a step crawls from the start, while a fast "
                          "first drop that then stopped is a model settling (a fine-tune), "
                          "a capacity limit or too large a step")
    if not _flat(ev) and loss.from_start and loss.early_share is not None and \
            loss.tail_share is not None and loss.rise_after_min_rel < th.DIVERGENCE_REL:
        # a slowed-down curve is nearly linear: no fast start, no late acceleration (an LR
        # decaying at the end speeds the loss up: the annealing drop); at an LR logged
        # constant to the end nothing but the step size sets the pace, so a curve still
        # speeding up then is one that never got going
        constant = _constant_lr(ev)
        late = 1.0 if constant else ramp(loss.tail_share, 0.6, 0.45)
        steady = ramp(loss.early_share, th.CONVEX_SHARE, 0.25) * late * ramp(
            loss.tail_share, 0.15, 0.3)
        if steady > 0:
            # the shape alone, with no LR value in the log or config, is a hint that stays
            # below what outranks "healthy" (a curve can be near-linear for other reasons);
            # beside "barely learned" it is a second, independent sign (the two combine)
            shape = (th.LINEAR_AT_CONSTANT_LR_STRENGTH if constant else 0.7 if ev.peak_lr
                     else 0.5) * steady * (0.5 if lr_not_small else 1.0)
            finding.add(1 - (1 - finding.strength) * (1 - shape),
                        f"the loss falls almost linearly: {pct(loss.early_share)} of its "
                        f"decrease came in the first quarter of the run (healthy curves: over "
                        f"{pct(th.CONVEX_SHARE)}) and it is still falling "
                        f"{pct(loss.tail_change_rel)} over the last {pct(th.TAIL_SHARE)}")
    _scale_to_shape(ev, finding)  # (the evidence above is the curve's shape; below, the LR)
    sgd_peak = ev.peak_lr if _plain_sgd(ev) else None
    # (with no grad norm logged, a loss that fell before it stalled shows gradients flow;
    # the SGD evidence then counts SGD_UNSEEN_GRAD_WEIGHT of its strength)
    grads_seen = healthy_grads or (grad is None and loss.decrease_rel >= th.FLAT_REL)
    # (stalled, or still falling from a fresh model's loss: a from-scratch run at a step
    # that small is slow either way; a fine-tune, which starts well below ln(vocab), may use
    # SGD at 1e-3 on purpose)
    if sgd_peak is not None and sgd_peak < th.SGD_LR_LOW and grads_seen and \
            loss.rise_after_min_rel < th.DIVERGENCE_REL and (
                loss.tail_change_rel < th.UNDERFIT_TAIL_REL or barely or _fresh_start(ev)):
        weight = 1.0 if healthy_grads else th.SGD_UNSEEN_GRAD_WEIGHT
        grads = f"the grad norm is healthy ({num(grad.median)})" if healthy_grads else \
            "the loss fell before it stalled (no grad norm logged)"
        finding.add(finding.strength + 0.7 * weight * ramp(
            math.log10(th.SGD_LR_LOW / sgd_peak), 0, 0.5),
                    f"plain SGD at a peak LR of {fmt_lr(sgd_peak)} (its useful range starts "
                    f"near {fmt_lr(th.SGD_LR_LOW)}) while {grads}: the loss stalled at "
                    f"{num(loss.final)} because the steps are too small")
    stall, small = _stall(ev), _small_for_optimizer(ev)
    if stall and small:
        unnamed = ev.context.optimizer is None
        finding.note(_stall_text(ev) + (
            f": if the optimizer is plain SGD, its peak LR {fmt_lr(ev.peak_lr)} is below its "
            f"useful range (from {fmt_lr(th.SGD_LR_LOW)}) and too small a step does this; the "
            "log does not name the optimizer" if unnamed else ""))
        if unnamed:
            # a conditional sign, below "healthy" (with Adam the LR is fine)
            finding.add(th.STALL_UNNAMED_OPTIMIZER_STRENGTH * stall)
        slow = _slow_stall(ev) * _shape_weight(ev)
        if slow:
            finding.add(1 - (1 - finding.strength) * (1 - th.SLOW_STALL_STRENGTH * slow),
                        f"it crawled to that plateau: {pct(loss.early_share)} of its decrease "
                        f"came in the first quarter (a capacity limit is reached at once) and "
                        f"it fell only {pct(loss.decrease_rel)} in all")
    extreme, why = _table_extreme(ev, low=True)
    if extreme and not _flat(ev) and loss.rise_after_min_rel < th.DIVERGENCE_REL and (
            loss.tail_change_rel > th.PLATEAU_REL):
        finding.add(extreme, why)
    if finding.strength:
        _discount_learned(ev, finding)  # (the curve's evidence above is all "cannot learn")
        _lr_value_evidence(ev, finding, low=True)
    return finding


def _constant_lr(ev: Evidence) -> bool:
    """The LR is logged and held at its peak to the end (no decay to speed the loss up)."""
    return ev.lr is not None and ev.lr.final_share >= th.LR_HELD_SHARE


def _plain_sgd(ev: Evidence) -> bool:
    return (ev.context.optimizer or "").lower() == "sgd"


def _adaptive(ev: Evidence) -> bool:
    """The size table's LRs are for Adam-type optimizers (unknown counts as AdamW, the usual
    default); SGD's step sizes live on another scale."""
    name = (ev.context.optimizer or "adamw").lower()
    return "adam" in name or "lion" in name


def _table_extreme(ev: Evidence, *, low: bool) -> tuple[float, str | None]:
    """How far the peak LR is outside the model-size table (orders of magnitude), as a
    strength on its own: 0 within LR_TABLE_EXTREME of the table."""
    peak, table = ev.peak_lr, ev.table_lr
    for_size = True
    if peak and not table:  # model size unknown: the table's end that holds for any size
        from nt_tui.config.defaults import SIZE_TABLE

        rates = [row.lr for row in SIZE_TABLE]
        table, for_size = (min(rates) if low else max(rates)), False
    if peak and not low and _plain_sgd(ev):
        # the size table is Adam's; plain SGD has its own scale, useful up to about 1
        strength = ramp(math.log10(peak / th.SGD_LR_HIGH), 0.0, 1.0)
        return (0.6 * strength, f"peak LR {fmt_lr(peak)} is {num(peak / th.SGD_LR_HIGH)}x "
                                f"the top of plain SGD's useful range ({fmt_lr(th.SGD_LR_HIGH)})"
                ) if strength else (0.0, None)
    if not peak or not table or not _adaptive(ev):
        return 0.0, None
    ratio = table / peak if low else peak / table
    strength = ramp(math.log10(max(ratio, 1e-12)), math.log10(th.LR_TABLE_EXTREME), 2.3)
    if not strength:
        return 0.0, None
    where = "below" if low else "above"
    size = f"for {num(ev.context.num_params)} parameters" if for_size else \
        "(the table's value for any model size)"
    text = f"peak LR {fmt_lr(peak)} is {num(ratio)}x {where} the size table's {fmt_lr(table)} {size}"
    if not low and not ev.context.optimizer:
        # the table is Adam's; plain SGD runs at 1e-2 to 1, so a high value from a log that
        # does not name its optimizer is a hint, not evidence on its own, unless the curve
        # shows what Adam at such a step size does: a fast first drop, then a stall (most of
        # the decrease in the first quarter, or little decrease at all within the log)
        loss = ev.loss
        stalled = 0.0
        if loss is not None:
            stalled = ramp(loss.decrease_rel, th.BARELY_LEARNED_REL, th.BARELY_LEARNED_REL / 2)
            if loss.early_share is not None:
                stalled = max(stalled, ramp(loss.early_share, th.STALL_EARLY_SHARE - 0.1,
                                            th.STALL_EARLY_SHARE))
        weight = th.UNKNOWN_OPTIMIZER_LR_WEIGHT
        strength *= weight + (1 - weight) * stalled
        text += " if the optimizer is Adam-type (the log does not say; SGD runs far higher)"
    return 0.6 * strength, text


def _lr_value_evidence(ev: Evidence, finding: Finding, *, low: bool) -> None:
    """Compare the peak LR with the model-size table and the update ratio with 1e-3."""
    peak, table = ev.peak_lr, ev.table_lr
    if peak and table and _adaptive(ev) and max(peak / table, table / peak) < th.LR_TABLE_EXTREME:
        if low and peak < table / th.LR_TABLE_FACTOR:
            finding.add(finding.strength + 0.15, f"peak LR {fmt_lr(peak)} is "
                        f"{num(table / peak)}x below the size table's {fmt_lr(table)}")
        elif not low and peak > table * th.LR_TABLE_FACTOR:
            finding.add(finding.strength + 0.15, f"peak LR {fmt_lr(peak)} is "
                        f"{num(peak / table)}x the size table's {fmt_lr(table)}")
        elif (low and peak > table) or (not low and peak < table / th.LR_TABLE_FACTOR):
            finding.scale(0.6, f"peak LR {fmt_lr(peak)} vs the size table's {fmt_lr(table)}")
    ratio = ev.update_ratio
    if ratio:
        if low and ratio < th.UPDATE_RATIO_TOO_LOW:
            finding.add(finding.strength + 0.1, f"update-to-weight ratio {num(ratio)} (healthy "
                        f"~{num(th.UPDATE_RATIO_HEALTHY)})")
        elif not low and ratio > th.UPDATE_RATIO_TOO_HIGH:
            finding.add(finding.strength + 0.1, f"update-to-weight ratio {num(ratio)} (healthy "
                        f"~{num(th.UPDATE_RATIO_HEALTHY)})")


def _brief_lr_too_high(ev: Evidence) -> Finding:
    """A loss with too few points for a curve: a loss that grew is divergence."""
    finding = Finding()
    brief = ev.brief
    if brief is None or brief.growth < th.BRIEF_DIVERGED_GROWTH:
        return finding
    finding.add(0.6, f"the loss grew {num(brief.growth)}x ({num(brief.first)} -> "
                     f"{num(brief.last)}) over the {brief.points} finite point(s) logged")
    grad = ev.grad
    if grad is not None and (grad.rise_ratio or 0) >= th.GRAD_RISE_BEFORE_NAN:
        finding.scale(0.6, "the gradient norm blew up by orders of magnitude: exploding "
                           "gradients describe it more precisely")
    return finding


def rule_lr_too_high(ev: Evidence) -> Finding:
    finding = Finding()
    loss = ev.loss
    if loss is None:
        return _brief_lr_too_high(ev)
    diverging = _diverging(ev)
    if diverging:
        finding.add(0.85 * diverging, f"the loss climbed back {pct(loss.rise_after_min_rel)} "
                                      f"above its minimum {num(loss.minimum)} (step "
                                      f"{step(loss.minimum_step)})")
        knock = _bad_batch_climb(ev)
        if knock is not None:
            finding.scale(th.BAD_BATCH_CLIMB_WEIGHT,
                          f"but the climb began with one batch's loss at step {step(knock.step)} "
                          f"({num(knock.ratio)}x the level before it): bad data knocked the "
                          "weights up, the step size did not walk the loss there")
        held = _val_held_best(ev)
        if held:
            finding.scale(1 - 0.8 * held, f"but validation ends within "
                                          f"{pct(ev.val.rise_rel)} of its best: a run that "
                                          "diverges takes validation up with it, so the climb is "
                                          "the noise of the train points")
    late = _late_spikes(ev)
    if _unsettled_spikes(ev):
        finding.add(0.4 + 0.4 * ramp(_spike_share(ev, len(late)), th.ISOLATED_SPIKE_MAX_SHARE,
                                     0.15),
                    f"{len(late)} loss spikes that do not settle: {_spike_text(late)}")
    stall = _stalled_noisy(ev)
    if stall[0]:
        finding.add(stall[0], stall[1])
    swings = ev.val.swings if ev.val is not None else 0
    if swings:
        low, high = th.VAL_SWING_STRENGTH
        finding.add(low + (high - low) * ramp(swings, 1, 3),
                    f"validation swung up and back down by over {pct(th.VAL_SWING_REL)} "
                    f"{swings} time(s) between evaluations: the weights are thrown about")
    stuck, stuck_text = _never_learned_after_blowup(ev)
    if stuck:
        finding.add(th.STUCK_AFTER_BLOWUP_STRENGTH * stuck,
                    f"the loss blew up in the first steps and {stuck_text}: the step size "
                    "wrecked the model, not only its first updates")
    missing, warmup_text = _warmup_missing(ev)
    if _early_climb(ev) and missing <= 0.1:  # a warmup was there: the peak itself is too high
        finding.add(0.7 * _early_climb(ev), f"{_early_climb_text(loss)} although {warmup_text}")
    bad = ev.nonfinite
    if bad is not None and (bad.loss_ratio_before or 0) >= 1.5 and (
            bad.grad_ratio_before is None or bad.grad_ratio_before < th.GRAD_RISE_BEFORE_NAN):
        finding.add(0.45, f"the loss rose {num(bad.loss_ratio_before)}x before the NaN")
    extreme, why = _table_extreme(ev, low=False)
    # an LR far off the table counts where the loss stalled, or where it has learned little
    # while still creeping down (at an Adam step 100x too large it hovers near what the token
    # frequencies alone give); a loss flat from the start never moved: too large a step moves it
    stalled = 1.0 if loss.tail_change_rel < 2 * th.PLATEAU_REL else \
        ramp(loss.decrease_rel, *th.HIGH_LR_LEARNED_LITTLE_REL)
    if loss.from_start and loss.decrease_rel >= th.HIGH_LR_LEARNED_WELL_REL[1]:
        # a from-scratch loss that fell as far as healthy runs do did not take Adam steps
        # hundreds of times too large: the LR is on another optimizer's scale (plain SGD)
        stalled *= ramp(loss.decrease_rel, *th.HIGH_LR_LEARNED_WELL_REL)
    if extreme and stalled and not _flat(ev):
        finding.add((extreme + 0.2 * _noisy(ev)[0]) * stalled, why)
        if stalled < 1:
            finding.note(f"the loss fell only {pct(loss.decrease_rel)} over the run "
                         "(healthy runs fall by a third or more)")
    if not finding.strength:
        return finding
    if ev.clip_fraction is not None and ev.clip_fraction > th.CLIP_FRACTION_HIGH:
        finding.add(finding.strength + 0.1 * ramp(ev.clip_fraction, th.CLIP_FRACTION_HIGH, 0.8),
                    f"gradients clipped on {pct(ev.clip_fraction)} of steps in the second half "
                    f"(> {pct(th.CLIP_FRACTION_HIGH)} means the LR is too high)")
    _lr_value_evidence(ev, finding, low=False)
    exploded = (bad is not None and (bad.grad_ratio_before or 0) >= th.GRAD_RISE_BEFORE_NAN) or \
        _grad_blew_up(ev) or _sustained_blowup(ev) or (
            bad is not None and ev.grad is None and (bad.loss_ratio_before or 0) >= 3)
    if exploded and not _updates_bounded(ev):
        finding.scale(0.6, "the gradient norm blew up by orders of magnitude: exploding "
                           "gradients describe it more precisely")
    return finding


def rule_insufficient_warmup(ev: Evidence) -> Finding:
    finding = Finding()
    loss = ev.loss
    if loss is None or not loss.from_start:
        return finding
    # an early spike on the stretch of data whose spikes recur every pass is the data order
    early = [s for s in _early_spikes(ev) if not _on_data_period(ev, s.step)]
    signals = []
    if _early_climb(ev) and not _on_data_period(ev, loss.early_rise_step):
        signals.append((_early_climb(ev), _early_climb_text(loss)))
    if early:
        signals.append((0.7, f"{len(early)} loss spike(s) in the first "
                             f"{pct(th.EARLY_SHARE)} of the run: {_spike_text(early)}"))
    if ev.nonfinite is not None and loss.share_of_run(ev.nonfinite.step) <= th.EARLY_SHARE:
        signals.append((0.5, f"NaN/Inf at step {step(ev.nonfinite.step)}, in the first "
                             f"{pct(th.EARLY_SHARE)} of the run"))
    for unseen in (_hidden_warmup_spike(ev), _adam_first_steps(ev)):
        if unseen[0]:
            signals.append(unseen)
    if not signals:
        return finding
    strength = max(s for s, _ in signals)
    for _, sentence in signals:
        finding.note(sentence)
    missing, sentence = _warmup_missing(ev)
    if sentence:
        finding.note(sentence)
    # (validation thrown up and back down later on is trouble after the first steps too)
    swings = ev.val.swings if ev.val is not None else 0
    later_trouble = max(_diverging(ev), 0.6 if _unsettled_spikes(ev) else 0.0,
                        0.6 * ramp(swings, 0, 2))
    calm_after = 1.0 - 0.7 * later_trouble
    finding.add(strength * (0.35 + 0.65 * missing) * calm_after)
    stuck, stuck_text = _never_learned_after_blowup(ev)
    if stuck:
        finding.scale(1 - 0.7 * stuck, f"but the loss {stuck_text}: a warmup tames the first "
                                       "steps, this step size stops the model learning at all")
    elif calm_after > 0.8:
        finding.note("after the first steps the run is stable")
    return finding


def _never_learned_after_blowup(ev: Evidence) -> tuple[float, str]:
    """How surely the loss blew up in the first steps (an early climb or spike to
    STUCK_BLOWUP_RATIO x the loss before it) and then never got below where it started
    (within STUCK_AFTER_BLOWUP_REL of the first logged loss, or of ln(vocab) when that is
    lower): a run missing only its warmup recovers and learns; one whose model the step size
    wrecked sits at the start level for good."""
    loss = ev.loss
    if loss is None or not loss.from_start or ev.nonfinite is not None:
        return 0.0, ""
    blown = max([loss.early_rise_rel + 1] + [s.ratio for s in _early_spikes(ev)])
    if blown < th.STUCK_BLOWUP_RATIO:
        return 0.0, ""
    start = min(loss.initial, ev.uniform_loss or math.inf)
    if start <= 0:
        return 0.0, ""
    fall = (start - loss.final) / start
    stuck = ramp(fall, th.STUCK_AFTER_BLOWUP_REL[1], th.STUCK_AFTER_BLOWUP_REL[0])
    return stuck, (f"never got below where it started ({num(start)} -> {num(loss.final)} "
                   "at the end)")


def _adam_first_steps(ev: Evidence) -> tuple[float, str]:
    """Adam's first updates move every weight by about the LR (before its moment estimates
    settle, m / sqrt(v) is about +-1: Kingma & Ba 2015, sec. 2.1, the step is bounded by the
    step size): with no warmup and an LR at or above a transformer's init scale
    (`ADAM_INIT_SCALE`), the first steps throw the weights off their init and the loss
    spikes. In a log that cannot show those steps (`warmup_unseen`) this is the evidence; a
    log that does not name its optimizer gets `UNKNOWN_OPTIMIZER_WARMUP_WEIGHT` of it (plain
    SGD's steps are the LR times the gradient, not the LR)."""
    peak = ev.peak_lr
    if peak is None or ev.lr is None or ev.nonfinite is not None or not warmup_unseen(ev) or (
            ev.context.optimizer and not _adaptive(ev)):
        return 0.0, ""
    size = ramp(math.log10(peak / th.ADAM_INIT_SCALE), 0.0, th.ADAM_FIRST_STEP_FULL)
    if not size:
        return 0.0, ""
    named = ev.context.optimizer is not None
    text = (f"no warmup and a peak LR of {fmt_lr(peak)} from the first logged step: Adam's "
            f"first updates move every weight by about the LR, {num(peak / th.ADAM_INIT_SCALE)}x "
            f"a transformer's init scale ({num(th.ADAM_INIT_SCALE)}), which spikes the loss in "
            f"steps this log does not show (it starts at step {step(ev.loss.first_step)}, one "
            f"point every {step(round(ev.loss.interval))} steps)")
    if not named:
        text += "; if the optimizer is Adam-type (the log does not say)"
    return th.ADAM_FIRST_STEP_STRENGTH * size * (
        1.0 if named else th.UNKNOWN_OPTIMIZER_WARMUP_WEIGHT), text


def _hidden_warmup_spike(ev: Evidence) -> tuple[float, str]:
    """A log that starts after the first steps (averaged or sampled, as HF and Lightning log)
    cannot show a spike there; with no warmup at an LR far above the size table, one is
    likely hidden before the first point, and a first logged loss above the uniform guess
    ln(vocab) (where a fresh model starts) means the loss went up in those steps."""
    loss, lr = ev.loss, ev.lr
    if loss is None or lr is None or loss.first_step < th.COARSE_FIRST_STEP or \
            lr.first_share < th.LR_NO_WARMUP_SHARE or ev.nonfinite is not None:
        return 0.0, ""
    extreme = _table_extreme(ev, low=False)[0] / 0.6
    if not extreme:
        return 0.0, ""
    above = _first_point_above_uniform(ev)
    # above ln(vocab) at the first point, with the LR at its peak from step 0: the loss went
    # up in the unlogged first steps, the spike itself averaged or sampled away
    strength = (th.HIDDEN_SPIKE_SEEN + (1 - th.HIDDEN_SPIKE_SEEN) * extreme) if above \
        else 0.35 * extreme
    text = (f"the log starts at step {step(loss.first_step)}: a spike in the first steps "
            f"would not show, and the LR {fmt_lr(lr.first)} was at its peak from the start, "
            f"{num(ev.peak_lr / (ev.table_lr or _table_extreme_reference()))}x the size table")
    if above:
        text += (f"; the first logged loss {num(loss.initial)} is above ln(vocab) = "
                 f"{num(ev.uniform_loss)}, where a fresh model starts: it went up in those steps")
    return strength, text


def _fresh_start(ev: Evidence) -> bool:
    """The log starts where a freshly initialised model does: its first loss within
    FRESH_START_REL of ln(vocab) (None vocabulary: unknown, False)."""
    uniform, loss = ev.uniform_loss, ev.loss
    return uniform is not None and loss is not None and loss.from_start and \
        abs(loss.initial / uniform - 1) <= th.FRESH_START_REL


def _first_point_above_uniform(ev: Evidence) -> bool:
    uniform, loss = ev.uniform_loss, ev.loss
    return uniform is not None and loss is not None and \
        loss.initial > uniform * (1 + th.EARLY_RISE_REL)


def _table_extreme_reference() -> float:
    from nt_tui.config.defaults import SIZE_TABLE

    return max(row.lr for row in SIZE_TABLE)


def rule_schedule_exhausted(ev: Evidence) -> Finding:
    finding = Finding()
    loss, lr = ev.loss, ev.lr
    if lr is not None:
        if lr.near_zero_from is None:
            return finding
        share = lr.near_zero_run_share
        strength = ramp(share, th.LR_EXHAUSTED_RUN_SHARE * 0.6, th.LR_EXHAUSTED_RUN_SHARE * 1.4)
        if strength:
            finding.add(strength, f"the LR fell below {pct(th.LR_NEAR_ZERO_SHARE)} of its peak "
                                  f"{fmt_lr(lr.peak)} at step {step(lr.near_zero_from)} and the "
                                  f"run went on for {pct(share)} of its length (LR at the end "
                                  f"{num(lr.final)})")
            if loss is not None and loss.tail_change_rel < th.PLATEAU_REL:
                finding.add(strength + 0.1, f"the loss moved {pct(loss.tail_change_rel)} over "
                                            f"the last {pct(th.TAIL_SHARE)} of the run")
        return finding
    context = ev.context
    if loss is not None and context.total_steps and context.min_lr == 0 and \
            context.total_steps < 0.75 * loss.last_step:
        finding.add(0.6, f"the schedule ends at step {step(context.total_steps)} with min_lr 0, "
                         f"but the run went on to step {step(loss.last_step)}")
    elif loss is not None and context.total_steps is None and loss.from_start and \
            loss.decrease_rel > th.FLAT_REL and loss.tail_change_rel < th.PLATEAU_REL and \
            ev.nonfinite is None and _diverging(ev) < 0.3 and not _late_spikes(ev) and \
            loss.period is None:
        # no LR in the log or config: a quiet plateau after real progress may be the
        # schedule's end (near-zero steps leave no spikes or patterns of their own); the loss
        # alone cannot tell it from a capacity limit, so it stays an alternative
        finding.add(th.UNSEEN_SCHEDULE_STRENGTH,
                    f"the loss moved {pct(loss.tail_change_rel)} over the last "
                    f"{pct(th.TAIL_SHARE)} of the run and no learning rate is logged: an LR "
                    "decayed to zero stops progress the same way")
    return finding


def rule_overfitting(ev: Evidence) -> Finding:
    finding = Finding()
    val = ev.val
    if val is None or val.points < 3:
        return finding
    if val.rise_rel < th.OVERFIT_RISE_REL * 0.5 or val.best_step == val.final_step:
        return finding
    strength = ramp(val.rise_rel, th.OVERFIT_RISE_REL * 0.5, th.OVERFIT_RISE_REL * 3)
    strength *= 0.6 + 0.4 * ramp(val.rising_evals, 1, 3)
    train_fall = val.train_fall_after_best_rel
    # a fall within the scatter of the train loss's points is no fall
    noise = ev.loss.noise_rel if ev.loss is not None else 0.0
    low = noise * th.OVERFIT_FALL_NOISE[0]
    high = max(2 * th.OVERFIT_TRAIN_FALL_REL, noise * th.OVERFIT_FALL_NOISE[1])
    if train_fall is not None:
        strength *= 0.3 + 0.7 * ramp(train_fall, low, high)
    # an overfitting validation loss climbs; one that falls back as often as it rises swings
    after = val.points - 1 - val.evals_before_best  # evaluations after the best
    back = ramp(val.falls_after_best / after, *th.OVERFIT_FALL_BACK_SHARE) if after else 0.0
    strength *= 1 - 0.7 * back
    if val.rise_rel >= th.OVERFIT_RISE_REL and val.rising_evals >= th.OVERFIT_RISING_EVALS and \
            (train_fall or 0) >= high and not back:
        strength = max(strength, th.OVERFIT_SUSTAINED_STRENGTH)
    finding.add(strength, f"validation loss rose {pct(val.rise_rel)} from its best "
                          f"{num(val.best)} (step {step(val.best_step)}) to {num(val.final)} "
                          f"(step {step(val.final_step)})")
    if train_fall is not None:
        finding.note(f"meanwhile the train loss fell a further {pct(train_fall)}")
    if val.gap_final_rel is not None:
        onset = f", open since step {step(val.gap_onset)}" if val.gap_onset is not None else ""
        finding.note(f"train/val gap {pct(val.gap_final_rel)} of the train loss at the end{onset}")
    return finding


def rule_underfitting(ev: Evidence) -> Finding:
    finding = Finding()
    loss, val = ev.loss, ev.val
    if loss is None or ev.nonfinite is not None or _flat(ev) or loss.metric != "train_loss":
        return finding
    if _diverging(ev) > 0.3:
        return finding
    plateau_share = 1 - loss.share_of_run(loss.plateau_from)
    # (validation, averaged over many batches, shows where the curve stopped; the scatter of
    # single-batch train losses can put the train plateau's start late)
    val_plateau_share = 1 - min(1.0, max(0.0, loss.share_of_run(val.plateau_from))) \
        if val is not None and val.plateau_from is not None else 0.0
    by_val = val_plateau_share > plateau_share
    plateau_share = max(plateau_share, val_plateau_share)
    settled = loss.from_start and loss.decrease_rel < th.BARELY_LEARNED_REL
    if settled:
        # learned little: a capacity limit only if validation stopped with it, on train
        strength = _settled_on_train(ev)
    else:
        # (validation, averaged over many batches, shows a flat tail that the scatter of
        # single-batch train losses can hide)
        tail = loss.tail_change_rel
        if val is not None and val.tail_change_rel is not None:
            # (and validation still falling by the bar itself is a model still learning, which
            # a train curve averaged flat over its logging interval can hide in turn)
            still = ramp(val.tail_change_rel, *th.UNDERFIT_VAL_STILL_FALLING_REL)
            low = min(tail, val.tail_change_rel)
            tail = low + still * (val.tail_change_rel - low)
        strength = ramp(plateau_share, 0.3, 0.6) * ramp(
            tail, th.UNDERFIT_TAIL_REL, th.UNDERFIT_TAIL_REL / 3)
    together = _stopped_together_high(ev)
    by_together = together > 0 and together >= strength
    strength = max(strength, together)
    # a capacity limit is approached smoothly and gradually
    # (an immediate stall counts against it only with a sign of a too-large step: noise or an
    # LR far above the size table; a tiny model also reaches its ceiling at once)
    extreme = _table_extreme(ev, low=False)[0] / 0.6
    hint = max(_noisy(ev)[0], extreme)
    strength *= (1 - _noisy(ev)[0]) * (1 - 0.7 * _immediate_stall(ev) * hint)
    # a plateau at an LR far above the size table (30x or more) is that LR's doing, not the
    # model's capacity: the contract's underfitting is a too-small model or too little training
    strength *= 1 - 0.7 * extreme
    # "plateau early": nearly all of the decrease in the first quarter (a run that keeps
    # improving after that is still learning, not at the model's limit; validation that has
    # stopped on train says so with less of the decrease up front)
    early = loss.early_share if loss.from_start else None
    if early is not None:
        low, high = th.UNDERFIT_EARLY_SHARE
        shift = th.UNDERFIT_EARLY_SHARE_SHIFT * by_together
        strength *= ramp(early, low - shift, high - shift)
    if not strength:
        return finding
    sentence = (f"train loss has been flat at ~{num(loss.final)} since step "
                f"{step(loss.plateau_from)} ({pct(plateau_share)} of the run; "
                f"{pct(loss.tail_change_rel)} change over the last {pct(th.TAIL_SHARE)})")
    if by_val:
        sentence = (f"validation has stayed within {pct(th.PLATEAU_REL)} of {num(val.final)} "
                    f"since step {step(val.plateau_from)} ({pct(plateau_share)} of the run), "
                    f"the train loss scattering around ~{num(loss.final)}")
    if settled:
        sentence = (f"the loss learned only {pct(loss.decrease_rel)} and stopped: validation "
                    f"has stayed within {pct(th.PLATEAU_REL)} of {num(val.final)} since step "
                    f"{step(val.plateau_from)}, on the train loss")
    elif by_together:
        sentence = (f"the loss learned only {pct(loss.decrease_rel)} of its start; validation "
                    f"fell to {num(val.final)} and stopped there "
                    f"({pct(val.tail_change_rel)} change over the last {pct(th.TAIL_SHARE)}), "
                    f"{pct(val.gap_late_rel)} from the train loss")
    if val is not None and val.gap_final_rel is not None:
        # (where validation's stop on train is the evidence, over the last third of the
        # evaluations as `_stopped_together_high` measures it: the last one alone is set
        # against a train value that a one-sided window over scattered single-batch losses
        # makes unsteady)
        gap = val.gap_late_rel if by_together and val.gap_late_rel is not None \
            else val.gap_final_rel
        if abs(gap) <= th.UNDERFIT_GAP_REL and val.rise_rel < th.OVERFIT_RISE_REL:
            finding.add(0.85 * strength, sentence)
            finding.note(f"validation plateaus with it: gap {pct(gap)} at the end "
                         f"(val {num(val.final)})")
        else:
            finding.add(0.2 * strength, sentence)
    else:
        finding.add(0.5 * strength, sentence)
    if ev.lr is not None and ev.lr.final_share < th.LR_NEAR_ZERO_SHARE:
        finding.scale(0.5, f"but the LR has decayed to {pct(ev.lr.final_share)} of its peak")
    if finding.strength and early is not None:
        finding.note(f"{pct(early)} of the decrease came in the first quarter of the run, "
                     "then it stopped improving")
    if finding.strength and not loss.from_start:
        finding.scale(0.7, f"the log starts at step {step(loss.first_step)} (resumed): how early "
                           "the plateau began cannot be seen")
    at_plateau = ev.lr_share_at_plateau
    if finding.strength and at_plateau is not None:
        if at_plateau >= th.LR_PLATEAU_HIGH_SHARE:
            finding.add(finding.strength + 0.1, f"it stopped improving while the LR was still "
                                                f"{pct(at_plateau)} of its peak")
        else:
            finding.scale(0.5 + 0.5 * ramp(at_plateau, th.LR_PLATEAU_DECAYED_SHARE,
                                           th.LR_PLATEAU_HIGH_SHARE),
                          f"the loss flattened as the LR decayed ({pct(at_plateau)} of its "
                          "peak at the plateau's start)")
    uniform = ev.uniform_loss
    if uniform and finding.strength:
        finding.note(f"final loss {num(loss.final)} is {pct(loss.final / uniform)} of a uniform "
                     f"guess ln({ev.context.vocab_size}) = {num(uniform)}")
    _scale_to_shape(ev, finding)
    return finding


def _stopped_together_high(ev: Evidence) -> float:
    """A from-scratch run that learned little (under UNDERFIT_LEARNED_LITTLE_REL of its
    start) and whose validation fell at first (UNDERFIT_VAL_FELL_REL: not a fine-tune already
    at its level), then stopped (its tail within UNDERFIT_VAL_TAIL_REL) on top of the train
    loss (within UNDERFIT_TOGETHER_GAP_REL over the last third of the evaluations): train and
    validation plateau together at a high value, the contract's underfitting. Single-batch
    train points scatter too much to show the plateau; validation averages it out."""
    loss, val = ev.loss, ev.val
    if loss is None or val is None or not loss.from_start or \
            val.points < th.VAL_PLATEAU_MIN_EVALS or val.tail_change_rel is None or \
            val.gap_late_rel is None or val.first <= 0:
        return 0.0
    if ev.lr is not None and ev.lr.final_share < th.UNDERFIT_TOGETHER_LR_SHARE:
        return 0.0  # a decayed LR flattens any curve (the schedule finishing its job)
    fell = (val.first - val.final) / val.first
    return (ramp(loss.decrease_rel, *th.UNDERFIT_LEARNED_LITTLE_REL)
            * ramp(fell, *th.UNDERFIT_VAL_FELL_REL)
            * ramp(val.tail_change_rel, *th.UNDERFIT_VAL_TAIL_REL)
            * ramp(abs(val.gap_late_rel), *th.UNDERFIT_TOGETHER_GAP_REL))


def _settled_on_train(ev: Evidence) -> float:
    """Validation flat for most of the run (UNDERFIT_VAL_FLAT_SHARE) while it sits on train
    (the gap over the last third of the evaluations at most UNDERFIT_SETTLED_GAP_REL): both
    curves stopped together, as a model at its capacity does; a settled fine-tune keeps
    validation above train."""
    val, loss = ev.val, ev.loss
    if val is None or val.plateau_from is None or val.gap_late_rel is None or loss is None:
        return 0.0
    flat_share = 1 - min(1.0, max(0.0, loss.share_of_run(val.plateau_from)))
    return ramp(flat_share, *th.UNDERFIT_VAL_FLAT_SHARE) * ramp(
        val.gap_late_rel, 2 * th.UNDERFIT_SETTLED_GAP_REL, th.UNDERFIT_SETTLED_GAP_REL)


def _scale_to_shape(ev: Evidence, finding: Finding) -> None:
    """Scale a finding that rests on the curve's shape by `_shape_weight`, saying so."""
    weight = _shape_weight(ev)
    if finding.strength and weight < 1:
        finding.scale(weight, f"but the log has only {ev.loss.points} loss points: too few "
                              "to tell the shape of the curve")


def rule_data_not_shuffled(ev: Evidence) -> Finding:
    finding = Finding()
    loss = ev.loss
    if loss is None or loss.metric != "train_loss":
        return finding
    if loss.period is not None:
        period, acf = loss.period
        sigmas = acf * math.sqrt(loss.points)  # white noise: autocorrelation ~ N(0, 1/n)
        finding.add(0.9 * ramp(sigmas, th.PERIOD_ACF_SIGMAS * 0.8, th.PERIOD_ACF_SIGMAS * 1.5),
                    f"the loss repeats every ~{step(period)} steps (autocorrelation "
                    f"{num(acf)} of the detrended loss at that lag, {num(sigmas)} standard "
                    "errors; independent batches give ~0)")
    if loss.drift_acf >= th.DRIFT_ACF_MIN * 0.8 and loss.drift_rel >= th.DRIFT_MIN_REL * 0.5:
        strength = ramp(loss.drift_acf, th.DRIFT_ACF_MIN * 0.8, 0.85) * ramp(
            loss.drift_rel, th.DRIFT_MIN_REL * 0.5, th.DRIFT_MIN_REL * 2)
        finding.add(0.85 * strength, f"the loss drifts with the data: neighbouring logged values "
                                     f"correlate {num(loss.drift_acf)} after detrending, with "
                                     f"swings of {pct(loss.drift_rel)} of the loss")
    phase, strength = _phase(ev)
    if strength and phase is ev.epoch_phase:
        finding.add(0.85 * strength,
                    f"the loss follows the position within the epoch: the phase explains "
                    f"{pct(phase.explained)} of the detrended loss over {num(phase.epochs)} "
                    f"passes (F = {num(phase.f_ratio)}; shuffled batches give ~0%), "
                    f"highest in the stretch from {pct(phase.worst_phase)} of each pass")
    elif strength:
        finding.add(0.85 * strength,
                    f"the loss repeats every ~{step(phase.steps_per_epoch)} steps: folded at "
                    f"that period, the position within it explains {pct(phase.explained)} of "
                    f"the detrended loss in every cycle (F = {num(phase.f_ratio)}, the largest "
                    f"over the periods tried; shuffled batches stay under "
                    f"{num(th.FOLD_F[0])}), highest in the stretch from "
                    f"{pct(phase.worst_phase)} of each cycle")
    val = ev.val
    memorised = ramp(val.gap_late_rel, *th.MEMORISED_GAP_REL) \
        if val is not None and val.gap_late_rel is not None else 0.0
    if finding.strength and memorised:
        finding.scale(1 - 0.8 * memorised,
                      f"but validation sits {pct(val.gap_late_rel)} above train: a model that "
                      "memorises its data finds the batches it saw last easier, so the loss "
                      "climbs through each reshuffled pass and drops at the next")
    spaced = _spike_period(ev)
    if spaced is not None:
        spikes = _late_spikes(ev)
        finding.add(0.6 if len(spikes) == 3 else 0.75,
                    f"{len(spikes)} loss spikes recur every ~{step(spaced)} steps "
                    f"({_spike_text(spikes)}): the same stretch of data each pass")
    if finding.strength and (loss.period is not None or spaced is not None):
        period = spaced or loss.period[0]
        epoch = _epoch_steps(ev)
        if epoch and abs(period / epoch - 1) <= th.PERIOD_EPOCH_MATCH:
            finding.add(finding.strength + 0.1, f"the period matches one pass over the training "
                                                f"data ({step(epoch)} steps per epoch)")
        if _pattern_spikes(ev) and spaced is None:
            finding.add(finding.strength + 0.05, f"{len(_late_spikes(ev))} loss spikes recur at "
                                                 "that period (the same stretch of data each "
                                                 "pass)")
    if finding.strength and _unsettled_spikes(ev):
        finding.scale(0.6)
    grad = ev.grad
    doubled = th.BRIEF_DIVERGED_GROWTH - 1  # the loss doubled: far beyond any data pattern
    # (an early jump on the stretch of data whose spikes recur every pass is that pattern)
    early_rise = 0.0 if _on_data_period(ev, loss.early_rise_step) else loss.early_rise_rel
    if finding.strength and (max(loss.rise_after_min_rel, early_rise) >= doubled or (
            grad is not None and grad.maximum >= th.GRAD_NORM_EXPLOSION)):
        finding.scale(0.3, "but the loss blew up, which makes any curve wander")
    return finding


def rule_data_outlier(ev: Evidence) -> Finding:
    finding = Finding()
    loss = ev.loss
    if loss is None or not _isolated(ev):
        return finding
    spikes = _judged_spikes(ev)
    strength = {1: 0.55, 2: 0.75}.get(len(spikes), 0.85)
    # a bad batch throws the loss well up; a jump just past the statistical minimum on a
    # smooth curve is ordinary noise, not evidence of bad data. In a log of window means
    # (HF's logging_steps) one batch x times the loss lifts its window's mean by (x - 1) / n.
    window = _loss_window(ev)
    largest = max(s.ratio for s in spikes)
    batch = 1 + window * (largest - 1)
    strength *= ramp(batch, 1 + th.SPIKE_MIN_REL, th.OUTLIER_FULL_RATIO)
    knock = _bad_batch_climb(ev)
    if knock is None:
        strength *= 1.0 - 0.6 * _diverging(ev)
    if _pattern_spikes(ev):
        strength *= 0.5  # recurring at the data's period: the order of the data, not outliers
    settled = all(s.recovered for s in spikes)
    one_batch = "" if settled else (
        f" or are one batch's loss (one or two points at {num(th.ONE_BATCH_SPIKE_RATIO)}x the "
        "level or more)")
    finding.add(strength, f"{len(spikes)} isolated loss spike(s) that recover within "
                          f"{th.SPIKE_RECOVERY_POINTS} logged points{one_batch}: "
                          f"{_spike_text(spikes)}")
    if not settled and knock is not None:
        finding.note(f"the loss stayed {pct(loss.rise_after_min_rel)} above its minimum after "
                     "the first: the bad batch knocked the weights; roll back past it")
    finding.note(f"largest spike {num(largest)}x the loss around it (spike rule: > "
                 f"{num(th.SPIKE_RATIO)}x the moving average, or a {num(th.SPIKE_SIGMAS)}-sigma "
                 "jump)")
    if window > 1:
        finding.note(f"each point is the mean of {window} steps (logging_steps): one batch "
                     f"about {num(batch)}x the loss lifts it that much")
    return finding


def rule_label_leakage(ev: Evidence) -> Finding:
    finding = Finding()
    val = ev.val
    if val is None or val.share_at_or_below_train is None or val.points < 3:
        return finding
    if val.gap_final_rel is None:
        return finding
    fell = (val.first - val.final) / val.first if val.first > 0 else 0.0
    ratio = val.ratio_median if val.ratio_median is not None else 1 + val.gap_final_rel
    late_gap = val.gap_late_rel if val.gap_late_rel is not None else val.gap_final_rel
    if val.rise_rel > th.OVERFIT_RISE_REL and late_gap > th.GAP_OPEN_REL:
        return finding  # validation rising above train: overfitting, not a copy of it
    # (a copy of the training data wanders with the train loss: near a memorised loss of ~1
    # nat, 0.03 nats is a 3% rise while validation stays at or below train)
    # leaked validation tracks train closely (the same data in eval mode); a set well below
    # train is more likely an easier held-out set (real pre-training logs show this)
    close = ramp(abs(ratio - 1), th.LEAKAGE_CLOSE_REL * 2.5, th.LEAKAGE_CLOSE_REL)
    if ev.epochs is not None and ev.epochs >= th.LEAKAGE_MANY_EPOCHS:
        close = 1.0  # after that many passes no held-out set stays at or below train
    # "at or below train throughout": most evaluations at or below it, or a median ratio
    # within the evaluation noise of it (no gap ever opened)
    together = max(ramp(val.share_at_or_below_train, 0.5, 0.75),
                   ramp(ratio, 1 + th.GAP_OPEN_REL, 1 + th.LEAKAGE_TOLERANCE_REL)) * close
    # after several passes over the training data a held-out set shows a gap; none = not held out
    if ev.epochs is not None:
        regime = ramp(ev.epochs, th.LEAKAGE_MIN_EPOCHS * 0.5, th.LEAKAGE_MIN_EPOCHS)
    else:  # no epoch count: a long fall with no gap stands in for many passes
        regime = th.LEAKAGE_SHORT_FALL_WEIGHT + (
            th.LEAKAGE_LONG_FALL_WEIGHT - th.LEAKAGE_SHORT_FALL_WEIGHT) * ramp(
            fell, *th.LEAKAGE_LONG_FALL_REL)
    if late_gap > th.GAP_OPEN_REL:
        regime = 0.0  # validation clearly above train late in the run: a gap has opened
    strength = 0.9 * together * regime * ramp(fell, 0.02, 0.1)
    if not strength:
        return finding
    finding.add(strength, f"validation loss is at or below the train loss at "
                          f"{pct(val.share_at_or_below_train)} of evaluations (median val/train "
                          f"{num(val.ratio_median)}; at the end {num(val.final)}, gap "
                          f"{pct(val.gap_final_rel)})")
    if ev.epochs is not None:
        finding.note(f"after {num(ev.epochs)} passes over the training data no generalisation "
                     "gap has opened: validation falls with train as if it were in the "
                     "training set")
    else:
        finding.note(f"validation fell {pct(fell)} together with the train loss, with no "
                     "generalisation gap opening")
    if ev.context.dropout:
        finding.scale(0.6, f"dropout {num(ev.context.dropout)} raises the train loss, which can "
                           "also put validation below it")
    return finding


def rule_bad_initialization(ev: Evidence) -> Finding:
    finding = Finding()
    loss = ev.loss
    if loss is None or not loss.from_start or loss.metric != "train_loss":
        return finding
    start = loss.initial
    uniform = ev.uniform_loss
    if uniform:
        excess = start - uniform
        if excess > th.INIT_EXCESS_NATS:
            strength = ramp(excess / uniform, th.INIT_EXCESS_SHARE * 0.5,
                            th.INIT_EXCESS_SHARE * 2)
            finding.add(strength, f"initial loss {num(start)} is {num(excess)} nats above a "
                                  f"uniform guess ln({ev.context.vocab_size}) = {num(uniform)}")
            if excess < uniform * th.INIT_HIDDEN_SPIKE_MAX_SHARE and \
                    _hidden_warmup_spike(ev)[0]:
                finding.scale(0.5, f"but the first point is step {step(loss.first_step)} of a "
                                   "run with no warmup at a very high LR: a spike in the "
                                   "unlogged first steps can lift it that far")
    elif start > th.ANY_VOCAB_MAX_LOSS:
        finding.add(0.85, f"initial loss {num(start)} is above ln(440k) = "
                          f"{num(th.ANY_VOCAB_MAX_LOSS)}, the uniform-guess loss of any common "
                          "vocabulary")
    if finding.strength and loss.final < start:
        finding.note(f"it falls from {num(start)} to {num(loss.final)}: the start is wasted "
                     "undoing the initialisation")
    diverging = ramp(loss.rise_after_min_rel, *th.INIT_BLOWUP_RISE_REL)
    if finding.strength and diverging:
        # a badly scaled start is undone by training; a loss that climbs back far above its
        # lowest point (the noise of a high loss is several percent) is blowing up, and the
        # high first point was its beginning
        finding.scale(1 - 0.8 * diverging,
                      f"but the loss climbed back {pct(loss.rise_after_min_rel)} above its "
                      "lowest value: a blow-up under way, not a start being undone")
    # (a start still not undone, the loss above a uniform guess at the end, swings with it)
    undone = loss.final < (uniform or th.ANY_VOCAB_MAX_LOSS)
    unstable = ramp(loss.noise_rel, *th.INIT_UNSTABLE_NOISE_REL) if undone else 0.0
    if finding.strength and unstable:
        # a bad start is undone by training, and the run is ordinary after it
        finding.scale(1 - 0.8 * unstable,
                      f"but the loss keeps swinging {pct(loss.noise_rel)} between logged points "
                      "in the second half: an unstable run, whose high first point is more "
                      "likely the same instability (too large a step before the first log)")
    return finding


def rule_healthy(ev: Evidence) -> Finding:
    finding = Finding()
    loss = ev.loss
    brief = ev.brief
    if loss is None and brief is not None and ev.nonfinite is None and brief.points >= 2 \
            and brief.last < brief.first:
        finding.add(0.5, f"{brief.metric} fell from {num(brief.first)} to {num(brief.last)} "
                         f"over the {brief.points} points logged (too few to judge the curve)")
    if loss is None or ev.nonfinite is not None:
        return finding
    if loss.decrease_rel > th.FLAT_REL or not loss.from_start:
        # a from-scratch run that has barely learned is not progressing normally
        learned = max(ramp(loss.decrease_rel, th.FLAT_REL, th.BARELY_LEARNED_REL),
                      _learned_before(ev)) if loss.from_start else 1.0
        moved = (f"fell {pct(loss.decrease_rel)}" if loss.decrease_rel >= 0
                 else f"rose {pct(-loss.decrease_rel)}")
        finding.add(0.8 * (0.5 + 0.5 * learned), f"{loss.metric} {moved} "
                         f"({num(loss.initial)} -> {num(loss.final)}) over {step(loss.span)} "
                         f"steps")
        if loss.from_start and _learned_before(ev) > ramp(loss.decrease_rel, th.FLAT_REL,
                                                          th.BARELY_LEARNED_REL):
            finding.note(f"it moved little, but {_learned_before_text(ev)}")
        if ev.trained_start:
            finding.note(f"it starts at {num(loss.initial)}, "
                         f"{pct(loss.initial / ev.uniform_loss)} of a uniform guess "
                         f"ln({ev.context.vocab_size}) = {num(ev.uniform_loss)}, at its first "
                         "logged step: a model trained before this log (a fine-tune), so it has "
                         "less left to learn")
        if not _late_spikes(ev):
            finding.note("no loss spikes")
        if ev.grad is not None and th.GRAD_NORM_HEALTHY[0] <= ev.grad.median <= \
                th.GRAD_NORM_HEALTHY[1]:
            finding.note(f"grad norm median {num(ev.grad.median)} (healthy "
                         f"{num(th.GRAD_NORM_HEALTHY[0])}-{num(th.GRAD_NORM_HEALTHY[1])})")
        if ev.val is not None and ev.val.gap_final_rel is not None:
            finding.note(f"train/val gap {pct(ev.val.gap_final_rel)} at the end")
        early = [s for s in _early_spikes(ev) if not _on_data_period(ev, s.step)]
        if early:
            finding.scale(1 - th.EARLY_SPIKE_HEALTHY_DISCOUNT,
                          f"but the loss spiked in the first {pct(th.EARLY_SHARE)} of the run: "
                          f"{_spike_text(early)}")
        # (a model trained before this log, a fine-tune, learns little in it by nature)
        crawl = _slow_stall(ev) * (1 - _fit_before_log(ev)) if _small_for_optimizer(ev) else 0.0
        if crawl:
            finding.scale(1 - th.STALL_HEALTHY_DISCOUNT * crawl,
                          f"but it learned little ({pct(loss.decrease_rel)}) and "
                          + _stall_text(ev).removeprefix("the loss "))
    else:
        finding.add(0.2)
        if _learned_before(ev):
            finding.add(0.2 + 0.5 * _learned_before(ev),
                        f"{loss.metric} changed only {pct(loss.decrease_rel)}, but "
                        + _learned_before_text(ev))
    return finding


RULES: dict[str, Callable[[Evidence], Finding]] = {
    "healthy": rule_healthy,
    "lr_too_high": rule_lr_too_high,
    "lr_too_low": rule_lr_too_low,
    "exploding_gradients": rule_exploding_gradients,
    "vanishing_gradients": rule_vanishing_gradients,
    "numerical_instability": rule_numerical_instability,
    "insufficient_warmup": rule_insufficient_warmup,
    "schedule_exhausted": rule_schedule_exhausted,
    "overfitting": rule_overfitting,
    "underfitting": rule_underfitting,
    "data_not_shuffled": rule_data_not_shuffled,
    "data_outlier": rule_data_outlier,
    "label_leakage": rule_label_leakage,
    "bad_initialization": rule_bad_initialization,
}
