"""Evidence: the numbers the rules judge, measured once from a run history.

Every field is None when the log lacks what it needs; `Evidence.missing` says what was
missing in words, so a report can say what it could not check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from nt_tui.analysis.diagnosis import thresholds as th
from nt_tui.analysis.diagnosis.context import RunContext
from nt_tui.analysis.diagnosis.signals import (
    Spike, despiked, drift, find_spikes, odd_window, periodicity, robust_sigma, rolling_mean,
    rolling_median)

if TYPE_CHECKING:
    from nt_tui.runlogs.history import RunHistory

#: Metrics logged on training steps: a NaN cell in a row that has one of these (and where
#: the metric is normally logged with it) was a NaN value, not a missing one.
TRAIN_SIDE = ("lr", "grad_norm", "train_loss", "throughput", "tokens_per_s", "clip_fraction")
#: nt-tui's metrics column counting NaN/Inf steps in a log window, and its warning code.
NONFINITE_COUNT = "nonfinite_steps"
NAN_WARNING = "nan_inf"
#: An evaluation metric counts as NaN in a row of training-side metrics only when it is
#: finite in at least this share of such rows (logged with them, not on its own cadence).
EVAL_TOGETHER_SHARE = 0.9


@dataclass
class LossEvidence:
    """The shape of the main loss curve (train loss, or validation loss when it is all)."""

    metric: str
    points: int
    first_step: int
    last_step: int
    #: False when the log starts mid-run (resumed): start-of-run checks do not apply
    from_start: bool
    initial: float
    final: float
    minimum: float
    minimum_step: int
    #: (initial - final) / initial of the smoothed curve
    decrease_rel: float
    #: share of the total decrease done in the first quarter of the run
    early_share: float | None
    #: share of the total decrease done in the last TAIL_SHARE of the run
    tail_share: float | None
    #: relative decrease of the smoothed curve over the last TAIL_SHARE of the run
    tail_change_rel: float
    #: step from which the smoothed curve stays within 2 x PLATEAU_REL of its final value
    plateau_from: int
    #: smoothed curve's rise above its minimum at the end, relative to the minimum (or the
    #: floor, when the minimum is below it)
    rise_after_min_rel: float
    #: robust noise of the second half, relative to its level (or the floor)
    noise_rel: float
    #: largest climb above the lowest loss so far within the first EARLY_SHARE of the run
    early_rise_rel: float
    early_rise_step: int | None
    spikes: list[Spike]
    #: (period in steps, autocorrelation) of a repeating pattern
    period: tuple[int, float] | None
    #: lag-1 autocorrelation and amplitude of the detrended second half
    drift_acf: float
    drift_rel: float
    #: median steps between logged points (10 for HF's and Lightning's defaults)
    interval: float = 1.0
    #: LOSS_FLOOR_SHARE of the start: relative changes of a loss below it are measured
    #: against it (a memorised loss near zero)
    floor: float = 0.0

    @property
    def span(self) -> int:
        return max(1, self.last_step - self.first_step)

    def share_of_run(self, step: int) -> float:
        return (step - self.first_step) / self.span


@dataclass
class BriefLoss:
    """A loss logged at fewer than MIN_CURVE_POINTS finite points (a run that stopped early,
    often because it blew up): only where it started and ended can be judged."""

    metric: str
    points: int
    first_step: int
    last_step: int
    first: float
    last: float

    @property
    def growth(self) -> float:
        """last / first (above 1: the loss grew)."""
        return self.last / self.first if self.first > 0 else 1.0


@dataclass
class NonFiniteEvidence:
    """Where NaN/Inf first appeared and what led up to it."""

    step: int
    metric: str
    #: grad norm over its last logged finite values before the NaN / its earlier median
    grad_ratio_before: float | None
    grad_before: float | None
    #: last finite loss / the median of the loss over the points before it
    loss_ratio_before: float | None
    #: points of finite loss before the NaN
    finite_points_before: int


@dataclass
class GradEvidence:
    median: float
    p95: float
    maximum: float
    maximum_step: int
    #: max / median
    blowup_ratio: float
    share_exploding: float
    share_vanishing: float
    #: median over the first EARLY_SHARE of the run / median over the rest
    early_ratio: float | None
    #: median of the last 10% / median of the run
    final_ratio: float
    #: max / median over the second half (isolated bursts of a run past its warmup)
    late_spikiness: float
    #: max / median of the values logged before it (how far it rose from where it was)
    rise_ratio: float | None = None
    #: max / median of the first GRAD_START_POINTS logged values: how far the norm grew from
    #: where the run started (a norm that is high from the first step did not "blow up")
    growth_from_start: float = 1.0
    #: logged points at or above GRAD_BURST_RATIO x the median, and their share of all points
    #: (a few are transient bursts; a large share is a sustained blow-up)
    burst_points: int = 0
    burst_share: float = 0.0
    #: the highest median of any GRAD_SUSTAINED_SHARE-long stretch of logged points / the
    #: starting level: how far the norm grew and *stayed* (one burst does not move a median)
    sustained_growth: float = 1.0
    #: first and last step of that stretch
    sustained_steps: tuple[int, int] | None = None
    #: median train loss over that stretch / median of the first GRAD_START_POINTS losses
    #: (did the loss follow the gradients up?); None without a train loss
    sustained_loss_growth: float | None = None


@dataclass
class LrEvidence:
    peak: float
    peak_step: int
    first: float
    final: float
    #: steps until the LR first reached LR_NO_WARMUP_SHARE of its peak
    warmup_steps: int
    #: first logged LR / peak
    first_share: float
    final_share: float
    #: step from which the LR stays below LR_NEAR_ZERO_SHARE of the peak (None = never)
    near_zero_from: int | None
    #: share of the logged run spent there
    near_zero_run_share: float
    shape: str


@dataclass
class ValEvidence:
    points: int
    first: float
    best: float
    best_step: int
    final: float
    final_step: int
    #: (final - best) / best, best no lower than the train loss's floor
    rise_rel: float
    #: evaluations after the best that were higher than the one before
    rising_evals: int
    #: evaluations before the best that were VAL_BOUNCE_REL above the one before (a noisy
    #: descent)
    ups_before_best: int
    #: evaluations before the best (the chances for a bounce)
    evals_before_best: int
    #: relative fall of the smoothed train loss from the val best to the end
    train_fall_after_best_rel: float | None
    #: (val - train) / train at the last evaluation, train smoothed at the same step
    gap_final_rel: float | None
    #: first step from which the gap stays above GAP_OPEN_REL
    gap_onset: int | None
    #: share of evaluations where val <= train x (1 + LEAKAGE_TOLERANCE_REL)
    share_at_or_below_train: float | None
    #: median (val / train) over the evaluations
    ratio_median: float | None
    #: median (val - train) / train over the last third of the evaluations (steadier than
    #: the last one alone, whose smoothed train value rests on a one-sided window)
    gap_late_rel: float | None = None
    #: first evaluation from which validation stays within PLATEAU_REL of its final value
    #: (None: fewer than VAL_PLATEAU_MIN_EVALS evaluations)
    plateau_from: int | None = None
    #: relative fall of validation over the last TAIL_SHARE of the train loss's span (None:
    #: fewer than VAL_PLATEAU_MIN_EVALS evaluations, or no train curve)
    tail_change_rel: float | None = None
    #: evaluations where validation jumped VAL_SWING_REL above the one before and fell back by
    #: as much at the next: an oscillating model, not a descent, a plateau or a steady rise
    swings: int = 0
    #: evaluations after the best that fell VAL_FALL_BACK_REL below the one before (a
    #: validation loss that overfits climbs; one that oscillates falls back as it rises)
    falls_after_best: int = 0


@dataclass
class Evidence:
    """Everything measured from one run."""

    steps: int
    metrics: list[str]
    loss: LossEvidence | None
    #: the loss when it has too few finite points for `loss` (None otherwise)
    brief: BriefLoss | None
    val: ValEvidence | None
    grad: GradEvidence | None
    lr: LrEvidence | None
    nonfinite: NonFiniteEvidence | None
    clip_fraction: float | None
    update_ratio: float | None
    #: passes over the training data by the end (the log's epoch column)
    epochs: float | None
    warning_codes: list[str]
    context: RunContext
    missing: list[str] = field(default_factory=list)
    #: the first logged loss shows a model trained before the log (`_trained_start`): the
    #: loss's start is that value, not ln(vocab)
    trained_start: bool = False
    #: the largest finite LR logged (also when too few points for `lr`)
    lr_max: float | None = None
    #: logged LR where the loss reached its plateau, as a share of the peak (None: no LR)
    lr_share_at_plateau: float | None = None
    #: how much the position within the epoch explains the detrended loss (None: no epoch
    #: column, or too few passes or points to tell)
    epoch_phase: "EpochPhase | None" = None
    #: with no epoch column: the same test at the period where the folded loss depends most
    #: on its phase, found by search (`steps_per_epoch` is that period; `epochs` the cycles)
    folded_phase: "EpochPhase | None" = None

    @property
    def peak_lr(self) -> float | None:
        """The peak LR: the config's value, else the largest logged one."""
        return self.context.lr or (self.lr.peak if self.lr else self.lr_max)

    @property
    def table_lr(self) -> float | None:
        """The model-size table's LR for the run's parameter count (None when unknown)."""
        if not self.context.num_params:
            return None
        from nt_tui.config.defaults import size_defaults

        return size_defaults(self.context.num_params).lr

    @property
    def uniform_loss(self) -> float | None:
        """ln(vocabulary or classes): the loss of a uniform guess."""
        size = self.context.vocab_size
        return math.log(size) if size and size > 1 else None


#: Fewest finite points for a loss curve's shape (trend, tail, minimum).
MIN_CURVE_POINTS = 3


@dataclass
class EpochPhase:
    """Does the loss depend on where in the epoch a batch comes from? Unshuffled data gives
    every pass the same stretches in the same order, so the detrended loss repeats with the
    position in the epoch; shuffled batches leave it noise. Read from the epoch column, this
    works on coarse logs (HF's window means, Lightning's one step in ten) whose few points per
    epoch hide the autocorrelation."""

    #: share of the detrended loss's variance explained by the phase bins (eta squared)
    explained: float
    #: F statistic of the phase bins against the scatter within them
    f_ratio: float
    points: int
    epochs: float
    #: the phase bin (0-1, start of bin) where the loss sits highest above its trend
    worst_phase: float
    #: steps per pass, from the (spread) epoch column
    steps_per_epoch: float
    #: how many bins of the phase (the resolution that showed it most clearly)
    bins: int = 4


def _continuous_epochs(steps: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """Fractional epochs: the column as is, or an integer column (Lightning logs the epoch
    index) spread linearly between the first steps of consecutive epochs."""
    if np.any(np.abs(epochs - np.round(epochs)) > 1e-9):
        return epochs
    starts = {int(k): steps[np.argmax(epochs == k)] for k in np.unique(epochs)}
    keys = sorted(starts)
    out = epochs.astype(float).copy()
    for i, k in enumerate(keys):
        begin = starts[k]
        end = starts[keys[i + 1]] if i + 1 < len(keys) else None
        if end is None:
            if i == 0:
                return epochs
            end = begin + (begin - starts[keys[i - 1]])
        inside = epochs == k
        out[inside] = k + (steps[inside] - begin) / max(1, end - begin)
    return out


def _epoch_phase(history: "RunHistory", metric: str) -> EpochPhase | None:
    if not history.has("epoch"):
        return None
    loss = history.series(metric)
    loss = loss[np.isfinite(loss.to_numpy())]
    epoch = history.series("epoch")
    epoch = epoch[np.isfinite(epoch.to_numpy())]
    if len(loss) < th.PHASE_MIN_POINTS or len(epoch) < 2:
        return None
    steps = loss.index.to_numpy(dtype=float)
    epochs = _continuous_epochs(epoch.index.to_numpy(dtype=float), epoch.to_numpy(dtype=float))
    at = np.interp(steps, epoch.index.to_numpy(dtype=float), epochs)
    total = float(at[-1] - at[0])
    per_epoch = len(steps) / total if total > 0 else 0.0
    if total < th.PHASE_MIN_EPOCHS or per_epoch < th.PHASE_MIN_POINTS_PER_EPOCH:
        return None
    # a centred mean over exactly one epoch removes the trend and keeps the within-epoch shape
    window = max(3, int(round(per_epoch)) // 2 * 2 + 1)
    values = loss.to_numpy(dtype=float)
    trend = np.full(values.size, np.nan)
    half = window // 2
    if values.size > window:
        trend[half:values.size - half] = np.convolve(values, np.ones(window) / window, "valid")
    # (the first pass is the fast initial fall; a loss of exactly 0 has no relative residual)
    keep = np.isfinite(trend) & (trend != 0) & (at >= at[0] + 1.0)
    resid = (values - trend)[keep] / trend[keep]
    found = [phase for bins in th.PHASE_BINS
             if (phase := _phase_bins(resid, at[keep] % 1.0, bins, total,
                                      float(steps[-1] - steps[0]) / total)) is not None]
    # the more significant resolution: F against its own 0.5% tail
    return max(found, key=lambda phase: phase.f_ratio / th.PHASE_F[phase.bins][0],
               default=None)


def _folded_phase(steps: np.ndarray, values: np.ndarray) -> EpochPhase | None:
    """Epoch folding for a log without an epoch column: for every candidate period (from
    FOLD_MIN_PERIOD points to a quarter of the log), detrend by a centred median over one
    period (a median follows a step in the curve, where a mean would leave a ramp),
    fold at it and test the phase bins (`_phase_bins`, FOLD_BINS of them); keep the period
    with the largest F. A long log is first reduced to FOLD_MAX_POINTS means of consecutive
    points (a data pattern spans many steps; the cost stays fixed)."""
    if values.size > th.FOLD_MAX_POINTS:
        groups = np.array_split(np.arange(values.size), th.FOLD_MAX_POINTS)
        steps = np.array([steps[g].mean() for g in groups])
        values = np.array([values[g].mean() for g in groups])
    points = values.size
    interval = float(np.median(np.diff(steps))) if points > 1 else 1.0
    best: EpochPhase | None = None
    series = pd.Series(values)
    for period in range(th.FOLD_MIN_PERIOD, points // th.FOLD_MIN_CYCLES + 1):
        window = period // 2 * 2 + 1
        trend = series.rolling(window, center=True).median().to_numpy()
        index = np.arange(points)
        # (the first cycle is the fast fall; a zero trend has no relative residual)
        keep = np.isfinite(trend) & (trend != 0) & (index >= period)
        if keep.sum() < th.FOLD_BINS * 4:
            continue
        resid = (values[keep] - trend[keep]) / trend[keep]
        phases = (index[keep] % period) / period
        found = _phase_bins(resid, phases, th.FOLD_BINS, points / period, period * interval)
        if found is None or (best is not None and found.f_ratio <= best.f_ratio):
            continue
        if _repeats(resid, phases, (index[keep] // period) % 2):
            best = found
    return best


def _repeats(resid: np.ndarray, phases: np.ndarray, parity: np.ndarray) -> bool:
    """The phase profile of the even cycles and that of the odd ones agree (correlation
    >= FOLD_REPEAT_CORRELATION): a data order shows in every cycle, while a one-off kink of
    the curve (a schedule step, the end of a fast fall) lands in one cycle only."""
    bins = np.floor(phases * th.FOLD_BINS).astype(int)
    profiles = []
    for half in (0, 1):
        chosen = parity == half
        if len(np.unique(bins[chosen])) < th.FOLD_BINS:
            return False
        profiles.append([resid[chosen & (bins == b)].mean() for b in range(th.FOLD_BINS)])
    first, second = (np.asarray(p) - np.mean(p) for p in profiles)
    scale = float(np.sqrt(np.sum(first ** 2) * np.sum(second ** 2)))
    return scale > 0 and float(np.sum(first * second)) / scale >= th.FOLD_REPEAT_CORRELATION


def _phase_bins(resid: np.ndarray, phases: np.ndarray, bins: int, epochs: float,
                steps_per_epoch: float) -> EpochPhase | None:
    """One-way analysis of variance of the detrended loss by `bins` bins of the phase."""
    index = np.floor(phases * bins).astype(int)
    if resid.size < bins * 4 or len(np.unique(index)) < bins:
        return None
    means = np.array([resid[index == b].mean() for b in range(bins)])
    counts = np.array([(index == b).sum() for b in range(bins)])
    between = float(np.sum(counts * (means - resid.mean()) ** 2))
    within = float(np.sum((resid - means[index]) ** 2))
    if within <= 0:
        return None
    f_ratio = (between / (bins - 1)) / (within / (resid.size - bins))
    return EpochPhase(explained=between / (between + within), f_ratio=f_ratio,
                      points=int(resid.size), epochs=epochs,
                      worst_phase=float(np.argmax(means)) / bins,
                      steps_per_epoch=steps_per_epoch, bins=bins)


def _finite(values: np.ndarray) -> np.ndarray:
    return np.isfinite(values)


def nonfinite_steps(history: "RunHistory", metric: str) -> list[int]:
    """Steps where `metric` was logged as NaN or Inf: the NaN values the reader saw written as
    such (`RunHistory.nan_steps`; of a metric with a finite value: one never finite is no
    curve that turned NaN), and, for a log read without that, a NaN cell in a row that holds
    another training-side metric normally logged with it."""
    frame = history.frame
    if metric not in frame.columns:
        return []
    values = frame[metric].to_numpy(dtype=float)
    steps = frame["step"].to_numpy()
    found = set(steps[np.isinf(values)].tolist())
    if np.isfinite(values).any():
        found.update(history.nan_steps.get(metric, []))
    metrics = [c for c in frame.columns if c != "step"]
    empty_row = frame[metrics].isna().all(axis=1).to_numpy()
    if empty_row.any() and np.isfinite(values).sum() >= 3:
        # a row with a step and nothing else can only come from NaN values written as such
        found.update(steps[empty_row].tolist())
    partners = [c for c in TRAIN_SIDE if c != metric and c in frame.columns]
    finite_steps = steps[np.isfinite(values)]
    for partner in partners:
        with_partner = frame[partner].notna().to_numpy()
        if with_partner.sum() < 2 or not finite_steps.size:
            continue
        # logged together while it was finite: judged up to its last finite value, since a
        # run that blew up logs NaN for the rest (most of the log, when it blew up early)
        # (train-side metrics only: an evaluation metric is logged on its own cadence)
        train_side = metric in TRAIN_SIDE
        until = with_partner & (steps <= finite_steps[-1]) if train_side else with_partner
        if until.sum() < (1 if train_side else 2):
            continue
        together = np.isfinite(values[until]).mean()
        # (an evaluation metric shares many rows with train-side ones when its cadence and
        # theirs have common multiples, e.g. validation every 30 steps and train every 20:
        # only one logged with nearly every such row is missing where it was NaN)
        if together >= (0.5 if train_side else EVAL_TOGETHER_SHARE):
            found.update(steps[with_partner & np.isnan(values)].tolist())
    return sorted(int(s) for s in found)


def _loss_evidence(metric: str, steps: np.ndarray, values: np.ndarray,
                   uniform: float | None = None) -> LossEvidence | None:
    """The shape of one loss curve; `uniform` (ln vocab) is where a from-scratch run starts."""
    keep = _finite(values)
    steps, values = steps[keep], values[keep]
    points = len(values)
    if points < MIN_CURVE_POINTS:
        return None
    first_step, last_step = int(steps[0]), int(steps[-1])
    interval = float(np.median(np.diff(steps))) if points > 1 else 1.0
    from_start = first_step <= max(th.RESUMED_START_SHARE * last_step, 2 * interval)
    trend = rolling_median(values, odd_window(points, 0.05))
    span = max(1, last_step - first_step)
    tail_n = max(3, points // 10)
    initial = float(values[0])
    start_level = float(np.median(values[: min(3, points)]))
    final = float(np.median(values[-tail_n:]))
    head = float(trend[0])
    if from_start:  # the first drop can come before the first log: start from step 0's loss
        # (a fresh model's loss is near ln(vocab) and barely noisy, so the first logged value
        # is the best measure of the start; the median of the first three mixes in points
        # that have already fallen when the log is coarse)
        head = max(start_level, initial, uniform or 0.0)
    decrease_rel = (head - final) / abs(head) if head else 0.0
    quarter = float(np.interp(first_step + 0.25 * span, steps, trend))
    total = head - final
    early_share = (head - quarter) / total if total > 0 and decrease_rel > th.FLAT_REL else None
    tail_start = float(np.interp(first_step + (1 - th.TAIL_SHARE) * span, steps, trend))
    tail_change = (tail_start - float(trend[-1])) / abs(tail_start) if tail_start else 0.0
    tail_share = (tail_start - float(trend[-1])) / total if early_share is not None else None
    # relative to a loss near zero every wobble is huge: measure against a floor (a share of
    # ln(vocab), else of the lower of the first value and the first three's median, so a
    # spike in the first points does not set it)
    floor = th.LOSS_FLOOR_SHARE * abs(uniform or min(initial, start_level))
    half = values[points // 2:]
    local = rolling_median(values, odd_window(points, 0.02, smallest=7, largest=51))[points // 2:]
    level = max(float(np.median(np.abs(local))), floor) or 1.0
    noise_rel = robust_sigma(half - local) / level
    # the plateau band: within 2 x PLATEAU_REL of the final value, or within the smoothed
    # curve's own noise (a sparse log of single-step losses, e.g. one step in ten, wanders by
    # more than that around a flat line: the median of w points has a standard error of
    # ~1.25 sigma / sqrt(w))
    window = odd_window(points, 0.05)
    band = max(abs(final) * 2 * th.PLATEAU_REL,
               th.PLATEAU_NOISE_SIGMAS * 1.25 * noise_rel * level / math.sqrt(window))
    outside = np.nonzero(np.abs(trend - final) > band)[0]
    plateau_from = int(steps[outside[-1] + 1]) if outside.size and outside[-1] + 1 < points \
        else (int(steps[0]) if not outside.size else last_step)
    body = trend[: max(1, points - tail_n // 2)]
    min_index = int(np.argmin(body))
    lowest_level = max(abs(float(body[min_index])), floor)
    rise = (float(np.median(trend[-tail_n:])) - float(body[min_index])) / lowest_level \
        if lowest_level else 0.0
    early_mask = steps <= first_step + th.EARLY_SHARE * span
    early_rise, early_step = 0.0, None
    if from_start and early_mask.sum() > 1 and start_level > 0:
        # the largest climb above the lowest loss seen so far (a loss that first dropped fast,
        # then jumped back up, climbed even if it stays below its very first value)
        early_values = values[early_mask]
        lowest = np.minimum.accumulate(early_values)[:-1]
        climbs = (early_values[1:] - lowest) / np.where(lowest > 0, np.maximum(lowest, floor),
                                                         np.nan)
        if np.isfinite(climbs).any():
            index = int(np.nanargmax(climbs))
            early_rise = max(0.0, float(climbs[index]))
            early_step = int(steps[early_mask][1:][index])
    smooth_part = despiked(values)
    period = periodicity(smooth_part)
    drift_acf, drift_rel = drift(smooth_part)
    return LossEvidence(
        metric=metric, points=points, first_step=first_step, last_step=last_step,
        from_start=bool(from_start), initial=initial, final=final,
        minimum=float(values.min()), minimum_step=int(steps[int(np.argmin(values))]),
        decrease_rel=float(decrease_rel), early_share=early_share, tail_share=tail_share,
        tail_change_rel=float(tail_change), plateau_from=plateau_from,
        rise_after_min_rel=float(rise), noise_rel=float(noise_rel),
        early_rise_rel=float(early_rise), early_rise_step=early_step,
        spikes=find_spikes(steps, values),
        period=(int(round(period[0] * interval)), period[1]) if period else None,
        drift_acf=drift_acf, drift_rel=drift_rel, interval=interval, floor=floor)


def _counted_nonfinite(history: "RunHistory") -> list[tuple[int, str]]:
    """NaN/Inf steps an nt-tui run counted itself: the `nonfinite_steps` column (steps of a
    log window with NaN/Inf loss or gradients) and `nan_inf` warning events."""
    found = []
    if history.has(NONFINITE_COUNT):
        counts = history.series(NONFINITE_COUNT)
        found += [(int(step), "train_loss") for step in counts.index[counts.to_numpy() > 0]]
    found += [(int(event["step"]), "train_loss") for event in history.events
              if event.get("code") == NAN_WARNING and isinstance(event.get("step"), int)]
    return found


def _nonfinite_evidence(history: "RunHistory") -> NonFiniteEvidence | None:
    candidates = _counted_nonfinite(history)
    for metric in ("train_loss", "grad_norm", "val_loss"):
        bad = nonfinite_steps(history, metric)
        if bad:
            candidates.append((bad[0], metric))
    if not candidates:
        return None
    order = ("train_loss", "val_loss", "grad_norm")  # name the loss when both turned NaN
    step, metric = min(candidates, key=lambda item: (item[0], order.index(item[1])))
    grad_ratio = grad_before = loss_ratio = None
    if history.has("grad_norm"):
        grads = history.series("grad_norm")
        grads = grads[(grads.index < step) & np.isfinite(grads.to_numpy())]
        if len(grads) >= 2:  # the last few values against the ones before them
            last = 3 if len(grads) >= 4 else 1
            recent = float(grads.iloc[-last:].max())
            earlier = float(grads.iloc[:-last].median())
            grad_before = recent
            grad_ratio = recent / earlier if earlier > 0 else None
    losses = history.series("train_loss") if history.has("train_loss") else history.series(
        "val_loss")
    losses = losses[(losses.index < step) & np.isfinite(losses.to_numpy())]
    if len(losses) >= 2:
        last = 2 if len(losses) >= 4 else 1
        earlier = float(losses.iloc[:-last].median())
        loss_ratio = float(losses.iloc[-last:].max()) / earlier if earlier > 0 else None
    return NonFiniteEvidence(step=step, metric=metric, grad_ratio_before=grad_ratio,
                             grad_before=grad_before, loss_ratio_before=loss_ratio,
                             finite_points_before=len(losses))


def _grad_evidence(history: "RunHistory", first: int, last: int) -> GradEvidence | None:
    grads = history.series("grad_norm")
    grads = grads[np.isfinite(grads.to_numpy())]
    if len(grads) < 2:  # two points are enough to see a blow-up in a run that stopped early
        return None
    values, steps = grads.to_numpy(), grads.index.to_numpy()
    median = float(np.median(values))
    span = max(1, last - first)
    early = values[steps <= first + th.EARLY_SHARE * span]
    rest = values[steps > first + th.EARLY_SHARE * span]
    early_ratio = (float(np.median(early)) / float(np.median(rest))
                   if early.size >= 2 and rest.size >= 3 and np.median(rest) > 0 else None)
    tail = values[-max(3, len(values) // 10):]
    half = values[len(values) // 2:]
    index = int(np.argmax(values))
    start = float(np.median(values[:th.GRAD_START_POINTS]))
    bursts = int(np.sum(values >= th.GRAD_BURST_RATIO * median)) if median > 0 else 0
    sustained = _sustained_growth(history, values, steps, start)
    return GradEvidence(
        median=median, p95=float(np.percentile(values, 95)), maximum=float(values[index]),
        maximum_step=int(steps[index]),
        blowup_ratio=float(values[index] / median) if median > 0 else float("inf"),
        share_exploding=float(np.mean(values > th.GRAD_NORM_EXPLOSION)),
        share_vanishing=float(np.mean(values < th.GRAD_NORM_VANISHING)),
        early_ratio=early_ratio,
        final_ratio=float(np.median(tail) / median) if median > 0 else 1.0,
        late_spikiness=float(half.max() / np.median(half)) if np.median(half) > 0 else 1.0,
        rise_ratio=(float(values[index] / np.median(values[:index]))
                    if index > 0 and np.median(values[:index]) > 0 else None),
        growth_from_start=(float(values[index] / start) if start > 0 else float("inf")),
        burst_points=bursts, burst_share=bursts / len(values), **sustained)


def _sustained_growth(history: "RunHistory", values: Any, steps: Any,
                      start: float) -> dict[str, Any]:
    """The stretch of GRAD_SUSTAINED_SHARE of the logged points whose median grad norm is
    highest, its growth over the starting level and the train loss's growth over the same
    steps (see `GradEvidence`)."""
    window = max(3, int(round(th.GRAD_SUSTAINED_SHARE * len(values))))
    if len(values) < window + th.GRAD_START_POINTS or start <= 0:
        return {}
    medians = np.median(np.lib.stride_tricks.sliding_window_view(values, window), axis=1)
    best = int(np.argmax(medians))
    first, last = int(steps[best]), int(steps[best + window - 1])
    out: dict[str, Any] = {"sustained_growth": float(medians[best] / start),
                           "sustained_steps": (first, last)}
    if history.has("train_loss"):
        losses = history.series("train_loss")
        losses = losses[np.isfinite(losses.to_numpy())]
        begin = float(np.median(losses.to_numpy()[:th.GRAD_START_POINTS])) if len(
            losses) else 0.0
        during = losses[(losses.index >= first) & (losses.index <= last)]
        if len(during) and begin > 0:
            out["sustained_loss_growth"] = float(np.median(during.to_numpy())) / begin
    return out


def _brief_loss(metric: str, series: Any) -> BriefLoss | None:
    finite = series[np.isfinite(series.to_numpy(dtype=float))]
    if len(finite) == 0:
        return None
    return BriefLoss(metric=metric, points=len(finite), first_step=int(finite.index[0]),
                     last_step=int(finite.index[-1]), first=float(finite.iloc[0]),
                     last=float(finite.iloc[-1]))


def _lr_evidence(history: "RunHistory") -> LrEvidence | None:
    lrs = history.series("lr")
    lrs = lrs[np.isfinite(lrs.to_numpy())]
    if len(lrs) < 3:
        return None
    values, steps = lrs.to_numpy(), lrs.index.to_numpy()
    peak_index = int(np.argmax(values))
    peak = float(values[peak_index])
    if peak <= 0:
        return None
    reached = np.nonzero(values >= th.LR_NO_WARMUP_SHARE * peak)[0]
    warmup = int(steps[reached[0]] - steps[0]) if reached.size else 0
    near_zero = values < th.LR_NEAR_ZERO_SHARE * peak
    after_peak = np.arange(len(values)) > peak_index
    tail_zero = near_zero & after_peak
    near_zero_from = None
    if tail_zero.any() and near_zero[-1]:
        above = np.nonzero(~near_zero)[0]
        near_zero_from = int(steps[above[-1] + 1]) if above.size else int(steps[0])
    span = max(1, int(steps[-1] - steps[0]))
    share = (int(steps[-1]) - near_zero_from) / span if near_zero_from is not None else 0.0
    spread = float(values.max() - values.min()) / peak
    if spread < 0.05:
        shape = "constant"
    elif warmup > 0 and values[-1] < 0.95 * peak:
        shape = "warmup then decay"
    elif values[-1] < 0.95 * peak:
        shape = "decay"
    else:
        shape = "warmup then constant"
    return LrEvidence(
        peak=peak, peak_step=int(steps[peak_index]), first=float(values[0]),
        final=float(values[-1]), warmup_steps=warmup, first_share=float(values[0]) / peak,
        final_share=float(values[-1]) / peak, near_zero_from=near_zero_from,
        near_zero_run_share=float(share), shape=shape)


def _val_evidence(history: "RunHistory", loss: LossEvidence | None) -> ValEvidence | None:
    val = history.series("val_loss")
    val = val[np.isfinite(val.to_numpy())]
    if len(val) < 2:
        return None
    values, steps = val.to_numpy(), val.index.to_numpy()
    best_index = int(np.argmin(values))
    best = float(values[best_index])
    # relative moves of a validation loss near zero are measured against the loss's floor
    floor = loss.floor if loss is not None else th.LOSS_FLOOR_SHARE * abs(float(values[0]))
    lifted = np.maximum(values, floor)
    ups = lifted[1:] > lifted[:-1] * (1 + th.VAL_UP_REL)
    rising = int(ups[best_index:].sum())
    bounces = lifted[1:] > lifted[:-1] * (1 + th.VAL_BOUNCE_REL)
    ups_before = int(bounces[:best_index].sum())
    steps_up = lifted[1:] / np.where(lifted[:-1] > 0, lifted[:-1], np.nan)
    swings = int(np.sum((steps_up[:-1] > 1 + th.VAL_SWING_REL) &
                        (steps_up[1:] < 1 / (1 + th.VAL_SWING_REL))))
    after_best = lifted[best_index:]
    falls_after = int(np.sum(after_best[1:] < after_best[:-1] * (1 - th.VAL_FALL_BACK_REL)))
    train_fall = gap_final = gap_onset = at_or_below = ratio_median = gap_late = None
    if loss is not None and loss.metric == "train_loss" and history.has("train_loss"):
        train = history.series("train_loss")
        train = train[np.isfinite(train.to_numpy())]
        t_steps, t_values = train.index.to_numpy(), train.to_numpy()
        # a mean, not a median: validation averages batches, and batch losses are skewed
        smooth = rolling_mean(t_values, odd_window(len(t_values), 0.05))
        inside = (steps >= t_steps[0]) & (steps <= t_steps[-1])
        if inside.sum() >= 2:
            aligned = np.interp(steps[inside], t_steps, smooth)
            ratios = values[inside] / np.where(aligned > 0, aligned, np.nan)
            gaps = ratios - 1
            gap_final = float(gaps[-1])
            open_ = gaps > th.GAP_OPEN_REL
            if open_[-1]:
                closed = np.nonzero(~open_)[0]
                gap_onset = int(steps[inside][closed[-1] + 1]) if closed.size else int(
                    steps[inside][0])
            at_or_below = float(np.mean(ratios <= 1 + th.LEAKAGE_TOLERANCE_REL))
            ratio_median = float(np.nanmedian(ratios))
            gap_late = float(np.nanmedian(gaps[-max(1, len(gaps) // 3):]))
            at_best = float(np.interp(steps[best_index], t_steps, smooth))
            if at_best > 0:
                train_fall = (at_best - float(smooth[-1])) / at_best
    plateau_from = tail_change = None
    if len(values) >= th.VAL_PLATEAU_MIN_EVALS:
        outside = np.nonzero(np.abs(values - values[-1]) > th.PLATEAU_REL * abs(values[-1]))[0]
        plateau_from = int(steps[outside[-1] + 1]) if outside.size else int(steps[0])
        if loss is not None:
            start = float(np.interp(loss.first_step + (1 - th.TAIL_SHARE) * loss.span, steps,
                                    values))
            tail_change = (start - float(values[-1])) / abs(start) if start else None
    return ValEvidence(
        points=len(values), first=float(values[0]), best=best, best_step=int(steps[best_index]),
        final=float(values[-1]), final_step=int(steps[-1]),
        rise_rel=float((values[-1] - best) / max(best, floor)) if max(best, floor) > 0 else 0.0,
        rising_evals=rising, ups_before_best=ups_before,
        evals_before_best=best_index,
        train_fall_after_best_rel=train_fall,
        gap_final_rel=gap_final, gap_onset=gap_onset, share_at_or_below_train=at_or_below,
        ratio_median=ratio_median, gap_late_rel=gap_late, plateau_from=plateau_from,
        tail_change_rel=tail_change, swings=swings, falls_after_best=falls_after)


def _mean_of(history: "RunHistory", names: tuple[str, ...], start_share: float = 0.0
             ) -> float | None:
    for name in names:
        if history.has(name):
            series = history.series(name)
            series = series[np.isfinite(series.to_numpy())]
            if len(series):
                cut = series.index.min() + start_share * (series.index.max() - series.index.min())
                later = series[series.index >= cut]
                return float((later if len(later) else series).median()
                             if "ratio" in name else (later if len(later) else series).mean())
    return None


def _trained_start(history: "RunHistory", series: Any, uniform: float | None) -> bool:
    """The first logged loss is far under ln(vocab) although almost no learning rate was spent
    before it (`TRAINED_START_SHARE`): the model was trained before this log."""
    finite = series[np.isfinite(series.to_numpy(dtype=float))]
    if uniform is None or not len(finite):
        return False
    first_step, first = int(finite.index[0]), float(finite.iloc[0])
    if not first < th.TRAINED_START_SHARE * uniform:
        return False
    lrs = history.series("lr") if history.has("lr") else None
    if lrs is None:
        return first < th.TRAINED_START_SHARE_WITHOUT_LR * uniform
    lrs = lrs[np.isfinite(lrs.to_numpy(dtype=float))]
    at_first = lrs[lrs.index <= first_step]
    if not len(at_first):
        return False
    return max(first_step, 1) * float(at_first.iloc[-1]) <= th.TRAINED_START_LR_SPENT


def collect_evidence(history: "RunHistory", context: RunContext | None = None) -> Evidence:
    """Measure everything the rules need from `history` (plus what `context` knows)."""
    context = context or RunContext()
    metric = "train_loss" if history.has("train_loss") else "val_loss"
    series = history.series(metric)
    uniform = math.log(context.vocab_size) if context.vocab_size and context.vocab_size > 1 \
        else None
    trained = metric == "train_loss" and _trained_start(history, series, uniform)
    loss = _loss_evidence(metric, series.index.to_numpy(), series.to_numpy(dtype=float),
                          uniform if metric == "train_loss" and not trained else None) \
        if len(series) else None
    brief = _brief_loss(metric, series) if loss is None and len(series) else None
    first = loss.first_step if loss else 0
    last = loss.last_step if loss else int(history.frame["step"].max()) if len(
        history.frame) else 0
    evidence = Evidence(
        steps=history.steps, metrics=list(history.metrics), loss=loss, brief=brief,
        val=_val_evidence(history, loss) if metric == "train_loss" else None,
        grad=_grad_evidence(history, first, last), lr=_lr_evidence(history),
        nonfinite=_nonfinite_evidence(history),
        clip_fraction=_mean_of(history, ("clip_fraction",), 0.5),
        update_ratio=_mean_of(history, ("update_ratio", "update_to_weight_ratio")),
        epochs=float(history.series("epoch").max()) if history.has("epoch") else None,
        warning_codes=sorted({str(e.get("code")) for e in history.events
                              if e.get("kind") == "warning" and e.get("code")}),
        context=context, trained_start=trained)
    if history.has("lr"):
        rates = history.series("lr").to_numpy(dtype=float)
        rates = rates[np.isfinite(rates) & (rates > 0)]
        evidence.lr_max = float(rates.max()) if rates.size else None
        if loss is not None and evidence.lr is not None:
            lrs = history.series("lr")
            lrs = lrs[np.isfinite(lrs.to_numpy())]
            # a plateau reached during warmup stayed while the LR rose to its peak
            at = max(loss.plateau_from, evidence.lr.peak_step)
            evidence.lr_share_at_plateau = float(np.interp(
                at, lrs.index.to_numpy(), lrs.to_numpy())) / evidence.lr.peak
    if metric == "train_loss":
        evidence.epoch_phase = _epoch_phase(history, metric)
        if not history.has("epoch") and evidence.loss is not None:
            series = history.series(metric)
            series = series[np.isfinite(series.to_numpy())]
            # (isolated spikes clipped first: three bad batches that happen to be evenly
            # spaced are no data order, and must not make the period they are explained by)
            evidence.folded_phase = _folded_phase(series.index.to_numpy(dtype=float),
                                                  despiked(series.to_numpy(dtype=float)))
    evidence.missing = _missing(evidence)
    return evidence


def _missing(evidence: Evidence) -> list[str]:
    missing = []
    if evidence.loss is None:
        points = evidence.brief.points if evidence.brief else 0
        missing.append(f"no usable loss curve ({points} finite point(s); the shape needs "
                       f"{MIN_CURVE_POINTS}): judged from its first and last values only")
    elif evidence.loss.metric != "train_loss":
        missing.append("no training loss: the validation loss was analysed instead")
    if evidence.val is None:
        missing.append("no validation loss: overfitting, underfitting and leakage checks are "
                       "weaker")
    if evidence.grad is None:
        missing.append("no gradient norm: explosion and vanishing were judged from the loss "
                       "alone")
    if evidence.lr is None:
        missing.append("no learning-rate column: warmup and schedule were judged from the "
                       "config or not at all")
    if evidence.context.vocab_size is None:
        missing.append("vocabulary size unknown: the initial loss was compared with the "
                       "largest plausible ln(vocab) only")
    return missing


def describe_context(context: RunContext) -> dict[str, Any]:
    """The known context values with their sources, for reports."""
    return {name: {"value": value, "source": context.sources.get(name, "given")}
            for name, value in context.known().items()}
