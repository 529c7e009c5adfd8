"""Interpret training curves: the numbers behind "is this run healthy?", then ranked
conclusions. No UI; the CLI (`nt-tui analyze`), the report and the app's screen all call
`interpret(history, baseline=None)`.

Seed analysis standards: plot before concluding (`charts()` gives the curves every front end
draws first), concrete numbers in every conclusion, conclusions ranked by how much they matter.
Shared thresholds come from `nt_tui.analysis.diagnosis.thresholds` so the diagnosis and the
interpretation judge a curve the same way; the ones only used here are defined below with
their source.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nt_tui.analysis.diagnosis import thresholds as th
from nt_tui.analysis.diagnosis.numbers import num, pct, step as fmt_step
from nt_tui.analysis.diagnosis.signals import find_spikes, odd_window
from nt_tui.errors import NtTuiError
from nt_tui.runlogs.history import RunHistory
from nt_tui.runlogs.load import ALIGN_RELATIVE, align

#: The trend window: the last 20% of the logged points (common-failures.md#loss-plateau:
#: "changes by less than about 1% over ... the last 20% of the run").
TREND_WINDOW_SHARE = 0.2
#: Fewest points for a trend, a fit or a correlation.
MIN_POINTS = 5
#: Smoothing for plots and levels: a centred rolling mean over 5% of the points (keeps
#: the shape of a run of a few hundred points, removes batch noise).
SMOOTH_SHARE = 0.05
#: Throughput: the first 5% of the points are warm-up (compilation, caches) and not judged.
THROUGHPUT_WARMUP_SHARE = 0.05
#: A throughput whose coefficient of variation exceeds this is unstable: a dedicated GPU with
#: a keeping-up input pipeline varies by a few percent between log steps, 15% means stalls.
THROUGHPUT_CV_UNSTABLE = 0.15
#: A throughput point below this share of the median is a drop (a stall, an eval, a save).
THROUGHPUT_DROP_SHARE = 0.5
#: Loss noise: a detrended coefficient of variation above this in the trend window is noisy
#: (batch-to-batch noise of a healthy LM run at batch sizes of a few hundred sequences is
#: ~1-3% of the loss; 10% hides the trend).
NOISY_CV = 0.10
#: LR phases: "high" LR is at least half of the peak.
HIGH_LR_SHARE = 0.5
#: A spike within this share of the run around the LR peak is "at the LR peak".
LR_PEAK_NEIGHBOURHOOD = 0.1
#: A spike must stand this many logging quanta above its level: HF rounds the loss to 4
#: decimals, so 0.0002 after 0.0001 is one quantum of rounding, not a 2x spike.
SPIKE_MIN_QUANTA = 5
#: Baseline: same-step deltas reported at these shares of the overlapping steps.
DELTA_AT_SHARES = (0.25, 0.5, 0.75, 1.0)
#: Two runs starting more than this share of the longer run apart are aligned by relative step.
AUTO_RELATIVE_SHARE = 0.05

CRITICAL, WARNING, INFO, GOOD = "critical", "warning", "info", "good"
KNOWLEDGE = {
    "nan": "common-failures.md#nan-or-inf-loss",
    "diverging": "common-failures.md#learning-rate-too-high",
    "overfitting": "common-failures.md#overfitting",
    "spikes": "common-failures.md#loss-spikes",
    "plateau": "common-failures.md#loss-plateau",
    "schedule": "common-failures.md#schedule-exhausted",
    "lr_high": "common-failures.md#learning-rate-too-high",
    "throughput": "common-failures.md#slow-training",
    "healthy": "common-failures.md#healthy-training",
    "noisy": "common-failures.md#numerical-instability",
    "no_val": "common-failures.md#overfitting",
    "gap": "common-failures.md#overfitting",
    "baseline": "common-failures.md#healthy-training",
}


# --------------------------------------------------------------------------- numbers


def smooth(values: np.ndarray) -> np.ndarray:
    """Centred rolling mean over `SMOOTH_SHARE` of the points (what plots and levels use)."""
    if len(values) < 3:
        return np.asarray(values, dtype=float)
    window = odd_window(len(values), SMOOTH_SHARE, smallest=1, largest=201)
    return pd.Series(values).rolling(window, center=True, min_periods=1).mean().to_numpy()


def _finite(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    steps = series.index.to_numpy(dtype=np.int64)
    values = series.to_numpy(dtype=float)
    keep = np.isfinite(values)
    return steps[keep], values[keep]


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/Inf floats become None, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


@dataclass
class Trend:
    """A straight-line fit to the last `TREND_WINDOW_SHARE` of a curve."""

    start_step: int
    end_step: int
    points: int
    #: change of the fitted line per 1,000 steps
    slope_per_1k: float
    #: fitted end / fitted start - 1
    relative_change: float
    #: std of the residuals around the line / mean level (noise, not trend)
    cv: float


def trend(steps: np.ndarray, values: np.ndarray) -> Trend | None:
    count = max(MIN_POINTS, int(round(len(values) * TREND_WINDOW_SHARE)))
    if len(values) < MIN_POINTS:
        return None
    x, y = steps[-count:].astype(float), values[-count:]
    if x[-1] == x[0]:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    start, end = slope * x[0] + intercept, slope * x[-1] + intercept
    level = float(np.mean(np.abs(y))) or 1.0
    residual = y - (slope * x + intercept)
    return Trend(int(x[0]), int(x[-1]), len(y), float(slope * 1000),
                 float(end / start - 1) if start else 0.0, float(np.std(residual) / level))


@dataclass
class SpikeInfo:
    step: int
    value: float
    #: the moving level before it (median of the 5 points before)
    baseline: float
    ratio: float
    recovered: bool


@dataclass
class CurveSummary:
    metric: str
    points: int
    first_step: int
    last_step: int
    first: float
    last: float
    #: smoothed value at the end (the level, not the last noisy point)
    level: float
    minimum: float
    min_step: int
    trend: Trend | None
    #: step from which the smoothed curve stays within `th.PLATEAU_REL` of its final level,
    #: when the trend window is flat too
    plateau_since: int | None
    spikes: list[SpikeInfo]
    #: NaN or Inf values logged
    nonfinite: int


def quantum(values: np.ndarray) -> float:
    """The logging resolution: the smallest step between distinct values."""
    distinct = np.unique(values)
    return float(np.diff(distinct).min()) if distinct.size > 1 else 0.0


def plateau_start(steps: np.ndarray, smoothed: np.ndarray) -> int | None:
    """First step after which the smoothed curve never leaves the band around its end."""
    level = smoothed[-1]
    if level == 0:
        return None
    outside = np.nonzero(np.abs(smoothed / level - 1) > th.PLATEAU_REL)[0]
    start = int(outside[-1]) + 1 if outside.size else 0
    return int(steps[start]) if start < len(steps) - 1 else None


def summarize_curve(history: RunHistory, metric: str) -> CurveSummary | None:
    series = history.series(metric)
    steps, values = _finite(series)
    if len(values) < 2:
        return None
    smoothed = smooth(values)
    fit = trend(steps, values)
    since = plateau_start(steps, smoothed)
    run_span = steps[-1] - steps[0]
    flat = fit is not None and abs(fit.relative_change) < th.PLATEAU_REL
    plateau = since if flat and since is not None and \
        steps[-1] - since >= TREND_WINDOW_SHARE * run_span else None
    spikes = [SpikeInfo(s.step, s.value, s.baseline, s.ratio, s.recovered)
              for s in find_spikes(steps, values)
              if s.value - s.baseline > SPIKE_MIN_QUANTA * quantum(values)] \
        if values.min() > 0 else []
    lowest = int(np.argmin(values))
    return CurveSummary(metric, len(values), int(steps[0]), int(steps[-1]), float(values[0]),
                        float(values[-1]), float(smoothed[-1]), float(values[lowest]),
                        int(steps[lowest]), fit, plateau, spikes,
                        int(len(series) - len(values)))


@dataclass
class ValidationSummary:
    points: int
    best: float
    best_step: int
    last: float
    last_step: int
    #: last val loss / best - 1
    rise_since_best: float
    #: evaluations in a row, at the end, each higher than the one before
    rising_evaluations: int
    #: val - smoothed train at the last evaluation, absolute and relative to train
    gap: float | None
    gap_rel: float | None
    #: relative gap at the best evaluation (to see it widen)
    gap_rel_at_best: float | None
    #: first evaluation after the best that is `th.VAL_UP_REL` above it, while train kept
    #: falling: where overfitting set in
    overfit_onset_step: int | None
    #: train loss change from the best evaluation to the end (relative)
    train_change_since_best: float | None
    #: the evaluation before the last one
    previous: float | None = None


def summarize_validation(history: RunHistory) -> ValidationSummary | None:
    steps, values = _finite(history.series("val_loss"))
    if len(values) < 1:
        return None
    best_index = int(np.argmin(values))
    best, best_step = float(values[best_index]), int(steps[best_index])
    rising = 0
    for index in range(len(values) - 1, 0, -1):
        if values[index] > values[index - 1] * (1 + th.VAL_UP_REL):
            rising += 1
        else:
            break
    gap = gap_rel = gap_at_best = train_change = onset = None
    train_steps, train_values = _finite(history.series("train_loss"))
    if len(train_values) >= 2:
        train_smooth = smooth(train_values)
        at_val = np.interp(steps, train_steps, train_smooth)
        inside = (steps >= train_steps[0]) & (steps <= train_steps[-1])
        if inside[-1]:
            gap = float(values[-1] - at_val[-1])
            gap_rel = gap / float(at_val[-1]) if at_val[-1] else None
        if inside[best_index] and at_val[best_index]:
            gap_at_best = float(values[best_index] / at_val[best_index] - 1)
            train_change = float(at_val[-1] / at_val[best_index] - 1)
        above = np.nonzero((steps > best_step) & (values > best * (1 + th.VAL_UP_REL)))[0]
        overfit = values[-1] > best * (1 + th.OVERFIT_RISE_REL) and train_change is not None \
            and train_change < -th.OVERFIT_TRAIN_FALL_REL
        onset = int(steps[above[0]]) if overfit and above.size else None
    return ValidationSummary(len(values), best, best_step, float(values[-1]), int(steps[-1]),
                             float(values[-1] / best - 1) if best else 0.0, rising, gap,
                             gap_rel, gap_at_best, onset, train_change,
                             float(values[-2]) if len(values) > 1 else None)


@dataclass
class LrSummary:
    peak: float
    peak_step: int
    last: float
    #: last LR / peak
    last_share: float
    #: steps from the first record to the peak (warmup when > 0)
    warmup_steps: int
    #: share of the total train-loss decrease made while LR >= HIGH_LR_SHARE of its peak
    decrease_share_at_high_lr: float | None
    #: Spearman correlation of LR with the local rate of loss decrease (positive: the loss
    #: falls faster when the LR is higher)
    lr_progress_correlation: float | None
    #: share of the logged steps spent below `th.LR_NEAR_ZERO_SHARE` of the peak
    near_zero_share: float = 0.0


def summarize_lr(history: RunHistory) -> LrSummary | None:
    steps, lrs = _finite(history.series("lr"))
    if len(lrs) < 2 or lrs.max() <= 0:
        return None
    peak_index = int(np.argmax(lrs))
    peak = float(lrs[peak_index])
    share = correlation = None
    train_steps, train_values = _finite(history.series("train_loss"))
    if len(train_values) >= 2 * MIN_POINTS:
        level = smooth(train_values)
        lr_at = np.interp(train_steps, steps, lrs)
        drops = -np.diff(level)
        high = lr_at[1:] >= HIGH_LR_SHARE * peak
        total = float(level[0] - level.min())
        if total > 0:
            share = float(np.clip(drops[high].sum() / total, 0, None))
        chunks = np.array_split(np.arange(len(level)), max(MIN_POINTS, len(level) // 20))
        rates = [(float(lr_at[c].mean()), float(level[c[0]] - level[c[-1]]) /
                  max(float(train_steps[c[-1]] - train_steps[c[0]]), 1.0))
                 for c in chunks if len(c) >= 2]
        if len(rates) >= MIN_POINTS:
            table = pd.DataFrame(rates, columns=["lr", "rate"])
            if table["lr"].nunique() > 1 and table["rate"].nunique() > 1:
                # Spearman = Pearson on ranks (pandas' method="spearman" needs scipy)
                correlation = float(table["lr"].rank().corr(table["rate"].rank()))
    span = max(float(steps[-1] - steps[0]), 1.0)
    near_zero = (lrs < th.LR_NEAR_ZERO_SHARE * peak) & (steps > steps[peak_index])
    near_zero_share = float(steps[-1] - steps[near_zero][0]) / span if near_zero.any() else 0.0
    return LrSummary(peak, int(steps[peak_index]), float(lrs[-1]), float(lrs[-1] / peak),
                     int(steps[peak_index] - steps[0]), share, correlation, near_zero_share)


@dataclass
class ThroughputSummary:
    metric: str
    median: float
    cv: float
    drops: int
    drop_steps: list[int]


def summarize_throughput(history: RunHistory) -> ThroughputSummary | None:
    metric = next((m for m in ("throughput", "tokens_per_s") if history.has(m)), None)
    if metric is None:
        return None
    steps, values = _finite(history.series(metric))
    values, steps = values[int(len(values) * THROUGHPUT_WARMUP_SHARE):], \
        steps[int(len(steps) * THROUGHPUT_WARMUP_SHARE):]
    if len(values) < MIN_POINTS:
        return None
    median = float(np.median(values))
    low = np.nonzero(values < THROUGHPUT_DROP_SHARE * median)[0]
    cv = float(np.std(values) / np.mean(values)) if np.mean(values) else 0.0
    return ThroughputSummary(metric, median, cv, int(low.size), [int(steps[i]) for i in low[:10]])


@dataclass
class StepDelta:
    step: int
    value: float
    baseline: float
    delta: float
    relative: float


@dataclass
class BaselineComparison:
    baseline: str
    metric: str
    #: "step" or "relative" (steps counted from each run's first record)
    aligned_by: str
    overlap: tuple[int, int] | None
    deltas: list[StepDelta]
    #: mean of (this - baseline) / baseline over the overlap (negative: this run is lower)
    mean_relative_delta: float | None
    #: the loss both runs reach (the higher of the two final levels)
    target_loss: float | None
    steps_to_target: int | None
    baseline_steps_to_target: int | None
    #: baseline steps / this run's steps to the target (above 1: this run is faster)
    speedup: float | None
    best_val: float | None = None
    baseline_best_val: float | None = None


def _steps_to(steps: np.ndarray, level: np.ndarray, target: float) -> int | None:
    reached = np.nonzero(level <= target)[0]
    return int(steps[reached[0]] - steps[0]) if reached.size else None


def compare(history: RunHistory, baseline: RunHistory, align: str = "auto"
            ) -> BaselineComparison | None:
    """Same-step deltas and steps-to-reach-loss against a baseline run."""
    metric = "train_loss" if history.has("train_loss") and baseline.has("train_loss") \
        else "val_loss"
    steps, values = _finite(history.series(metric))
    base_steps, base_values = _finite(baseline.series(metric))
    if len(values) < 2 or len(base_steps) < 2:
        return None
    if align == "auto":
        span = max(steps[-1] - steps[0], base_steps[-1] - base_steps[0], 1)
        align = "relative" if abs(steps[0] - base_steps[0]) > AUTO_RELATIVE_SHARE * span \
            else "step"
    if align == "relative":
        steps, base_steps = steps - steps[0], base_steps - base_steps[0]
    level, base_level = smooth(values), smooth(base_values)
    start, end = max(steps[0], base_steps[0]), min(steps[-1], base_steps[-1])
    deltas: list[StepDelta] = []
    mean_rel = None
    if end > start:
        inside = (steps >= start) & (steps <= end)
        base_at = np.interp(steps[inside], base_steps, base_level)
        mean_rel = float(np.mean(level[inside] / base_at - 1))
        for share in DELTA_AT_SHARES:
            at = start + share * (end - start)
            index = int(np.searchsorted(steps, at, side="right") - 1)
            index = min(max(index, 0), len(steps) - 1)
            here = float(level[index])
            there = float(np.interp(steps[index], base_steps, base_level))
            deltas.append(StepDelta(int(steps[index]), here, there, here - there,
                                    here / there - 1 if there else 0.0))
    target = float(max(level[-1], base_level[-1]))
    mine, theirs = _steps_to(steps, level, target), _steps_to(base_steps, base_level, target)
    speedup = theirs / mine if mine and theirs is not None else None
    best = float(history.series("val_loss").min()) if history.has("val_loss") else None
    base_best = float(baseline.series("val_loss").min()) if baseline.has("val_loss") else None
    return BaselineComparison(baseline.name, metric, align,
                              (int(start), int(end)) if end > start else None, deltas,
                              mean_rel, target, mine, theirs, speedup, best, base_best)


# --------------------------------------------------------------------------- charts


@dataclass
class ChartSeries:
    label: str
    steps: list[int]
    values: list[float]
    smoothed: list[float]


@dataclass
class Chart:
    """One chart to draw before any conclusion: a metric, one series per run."""

    title: str
    metric: str
    series: list[ChartSeries]
    log_y: bool = False
    #: what the x axis counts: logged steps, or steps since each run's first record
    x_label: str = "step"


#: The x axis of runs lined up by steps since each one's start.
RELATIVE_X_LABEL = "steps since start"
#: Charts in the order they are drawn, and which metrics go on each.
CHART_METRICS = (("Loss", ("train_loss", "val_loss")), ("Learning rate", ("lr",)),
                 ("Gradient norm", ("grad_norm",)), ("Throughput", ("throughput",
                                                                    "tokens_per_s")))


def overlay_charts(runs: list[tuple[RunHistory, str]], x_label: str = "step") -> list[Chart]:
    """Charts with every run's curves overlaid: (history, label suffix) pairs, already
    aligned (`nt_tui.runlogs.align`); `x_label` names what their steps count."""
    found = []
    for title, metrics in CHART_METRICS:
        series = []
        for run, tag in runs:
            for metric in metrics:
                steps, values = _finite(run.series(metric)) if run.has(metric) else ([], [])
                if len(values):
                    series.append(ChartSeries(f"{metric}{tag}", [int(s) for s in steps],
                                              [float(v) for v in values],
                                              [float(v) for v in smooth(np.asarray(values))]))
        if series:
            found.append(Chart(title, metrics[0], series, log_y=title == "Learning rate",
                               x_label=x_label))
    return found


def charts(history: RunHistory, baseline: RunHistory | None = None,
           aligned_by: str = "step") -> list[Chart]:
    """The curves to plot: loss (train and val), LR, grad norm, throughput; a baseline's are
    overlaid, labelled "(baseline)", both counted from their first step when `aligned_by` is
    "relative" (pass the comparison's `aligned_by`)."""
    runs = [(history, "")] if baseline is None else [(history, ""), (baseline, " (baseline)")]
    if baseline is not None and aligned_by == ALIGN_RELATIVE:
        aligned = align([history, baseline], ALIGN_RELATIVE)
        return overlay_charts([(aligned[0], ""), (aligned[1], " (baseline)")],
                              RELATIVE_X_LABEL)
    return overlay_charts(runs)


# --------------------------------------------------------------------------- conclusions


@dataclass
class Conclusion:
    severity: str
    #: 0..1, how much it matters; conclusions are sorted by it
    score: float
    title: str
    detail: str
    knowledge: str


@dataclass
class Interpretation:
    run: str
    source: str
    format: str
    steps: int
    metrics: list[str]
    notes: list[str]
    curves: dict[str, CurveSummary]
    validation: ValidationSummary | None
    lr: LrSummary | None
    throughput: ThroughputSummary | None
    baseline: BaselineComparison | None
    conclusions: list[Conclusion] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-safe values (for `nt-tui analyze --json`)."""
        return _clean(asdict(self))


def _conclude_curve(loss: CurveSummary, lr: LrSummary | None,
                    val: ValidationSummary | None) -> list[Conclusion]:
    found = []
    if loss.nonfinite:
        found.append(Conclusion(CRITICAL, 1.0, f"{loss.metric} has NaN/Inf values",
                                f"{loss.nonfinite} of {loss.points + loss.nonfinite} logged "
                                f"values are NaN or Inf", KNOWLEDGE["nan"]))
    fit = loss.trend
    if loss.minimum > 0 and loss.level > loss.minimum * (1 + th.DIVERGENCE_REL) and \
            fit is not None and fit.relative_change > th.PLATEAU_REL:
        found.append(Conclusion(
            CRITICAL, 0.95, f"{loss.metric} is rising (diverging)",
            f"level {num(loss.level)} is {pct(loss.level / loss.minimum - 1)} above its "
            f"minimum {num(loss.minimum)} (step {fmt_step(loss.min_step)}) and rose "
            f"{pct(fit.relative_change)} over the last {fit.points} points",
            KNOWLEDGE["diverging"]))
    if loss.spikes:
        worst = max(loss.spikes, key=lambda s: s.ratio)
        unrecovered = sum(1 for s in loss.spikes if not s.recovered)
        near_peak = [s for s in loss.spikes if lr is not None and abs(s.step - lr.peak_step)
                     <= LR_PEAK_NEIGHBOURHOOD * max(loss.last_step - loss.first_step, 1)]
        detail = (f"{len(loss.spikes)} spike(s) at steps "
                  f"{', '.join(fmt_step(s.step) for s in loss.spikes[:5])}"
                  f"{' ...' if len(loss.spikes) > 5 else ''}; the largest is "
                  f"{worst.ratio:.1f}x its moving level ({num(worst.value)} vs "
                  f"{num(worst.baseline)}) at step {fmt_step(worst.step)}")
        if unrecovered:
            detail += f"; {unrecovered} did not recover within {th.SPIKE_RECOVERY_POINTS} points"
        if near_peak:
            detail += f"; {len(near_peak)} near the LR peak (step {fmt_step(lr.peak_step)})"
        score = 0.75 if unrecovered or len(loss.spikes) >= 3 else 0.5
        found.append(Conclusion(WARNING, score, f"{loss.metric} spikes", detail,
                                KNOWLEDGE["lr_high" if near_peak else "spikes"]))
    if loss.plateau_since is not None and fit is not None:
        detail = (f"the level stayed within {pct(th.PLATEAU_REL)} of {num(loss.level)} since "
                  f"step {fmt_step(loss.plateau_since)} ({pct((loss.last_step - loss.plateau_since) / max(loss.last_step - loss.first_step, 1))} "
                  f"of the run); last-window change {pct(fit.relative_change)}")
        link = KNOWLEDGE["plateau"]
        if lr is not None:
            detail += f"; LR is at {pct(lr.last_share)} of its peak {num(lr.peak)}"
            if lr.near_zero_share >= th.LR_EXHAUSTED_RUN_SHARE:
                detail += (f", below {pct(th.LR_NEAR_ZERO_SHARE)} of it for the last "
                           f"{pct(lr.near_zero_share)} of the run (schedule exhausted)")
                link = KNOWLEDGE["schedule"]
        converging = val is not None and val.best_step == val.last_step and val.points > 1
        if converging:
            detail += "; validation loss is still improving (best at the latest evaluation)"
        found.append(Conclusion(INFO if converging else WARNING, 0.4 if converging else 0.65,
                                f"{loss.metric} has plateaued", detail, link))
    elif fit is not None and fit.relative_change < -th.PLATEAU_REL / 2:
        found.append(Conclusion(
            GOOD, 0.3, f"{loss.metric} is still improving",
            f"fell {pct(-fit.relative_change)} over the last {fit.points} points (steps "
            f"{fmt_step(fit.start_step)}-{fmt_step(fit.end_step)}, slope "
            f"{num(fit.slope_per_1k)} per 1,000 steps); level {num(loss.level)}",
            KNOWLEDGE["healthy"]))
    if fit is not None and fit.cv > NOISY_CV:
        found.append(Conclusion(
            INFO, 0.35, f"{loss.metric} is noisy",
            f"scatter around the trend is {pct(fit.cv)} of the level over the last "
            f"{fit.points} points (above {pct(NOISY_CV)}): judge the smoothed curve",
            KNOWLEDGE["noisy"]))
    return found


def _last_gain(val: ValidationSummary) -> str:
    if not val.previous:
        return ""
    gain = 1 - val.last / val.previous
    shown = f"{100 * gain:.2f}%" if abs(gain) < 0.001 else pct(gain)
    return f", {shown} below the previous evaluation"


def relative_above(relative: float) -> str:
    """'12% above', '3% below' or, past doubling, '3.4x'."""
    if relative < 0:
        return f"{pct(-relative)} below"
    return f"{pct(relative)} above" if relative < 1 else f"{relative + 1:,.1f}x"


def _conclude_validation(val: ValidationSummary | None, has_train: bool) -> list[Conclusion]:
    if val is None:
        return [Conclusion(WARNING, 0.45, "no validation loss",
                           "the log has no validation metric, so overfitting and the best "
                           "checkpoint cannot be judged: add a held-out set",
                           KNOWLEDGE["no_val"])] if has_train else []
    found = []
    if val.overfit_onset_step is not None:
        found.append(Conclusion(
            WARNING, 0.85, "overfitting",
            f"validation loss was best at {num(val.best)} (step {fmt_step(val.best_step)}) and "
            f"rose {pct(val.rise_since_best)} to {num(val.last)} by step "
            f"{fmt_step(val.last_step)}, rising since step {fmt_step(val.overfit_onset_step)}, "
            f"while train loss fell {pct(-(val.train_change_since_best or 0))}: keep the "
            f"checkpoint from step {fmt_step(val.best_step)}", KNOWLEDGE["overfitting"]))
    elif val.rise_since_best > th.VAL_UP_REL and val.rising_evaluations >= 1 and \
            val.best_step < val.last_step:
        found.append(Conclusion(
            WARNING, 0.6, "validation loss drifting up",
            f"best {num(val.best)} at step {fmt_step(val.best_step)}, now {num(val.last)} "
            f"({pct(val.rise_since_best)} higher, {val.rising_evaluations} rising "
            f"evaluation(s) at the end): plateau or the onset of overfitting",
            KNOWLEDGE["overfitting"]))
    else:
        found.append(Conclusion(
            GOOD if val.best_step == val.last_step else INFO, 0.25, "best validation loss",
            f"{num(val.best)} at step {fmt_step(val.best_step)} of {val.points} evaluations"
            + (f" (the latest{_last_gain(val)})" if val.best_step == val.last_step
               else f"; latest {num(val.last)}"), KNOWLEDGE["healthy"]))
    if val.gap_rel is not None and val.gap_rel > th.GAP_OPEN_REL and \
            (val.gap_rel_at_best is None or val.gap_rel > val.gap_rel_at_best):
        found.append(Conclusion(
            INFO, 0.5, "train/validation gap is widening",
            f"validation is {relative_above(val.gap_rel)} the smoothed train loss at step "
            f"{fmt_step(val.last_step)} (gap {num(val.gap)})"
            + (f", up from {relative_above(val.gap_rel_at_best)} at the best evaluation"
               if val.gap_rel_at_best is not None else ""), KNOWLEDGE["gap"]))
    return found


def _conclude_throughput(speed: ThroughputSummary | None) -> list[Conclusion]:
    if speed is None or (speed.cv <= THROUGHPUT_CV_UNSTABLE and not speed.drops):
        return []
    return [Conclusion(
        WARNING if speed.cv > THROUGHPUT_CV_UNSTABLE else INFO, 0.4,
        f"{speed.metric} is unsteady",
        f"median {num(speed.median)}, coefficient of variation {pct(speed.cv)} (steady is "
        f"below {pct(THROUGHPUT_CV_UNSTABLE)}); {speed.drops} point(s) below "
        f"{pct(THROUGHPUT_DROP_SHARE)} of the median"
        + (f", first at step {fmt_step(speed.drop_steps[0])}" if speed.drop_steps else ""),
        KNOWLEDGE["throughput"])]


def _conclude_baseline(comparison: BaselineComparison | None) -> list[Conclusion]:
    if comparison is None or comparison.mean_relative_delta is None:
        return []
    mean = comparison.mean_relative_delta
    better = mean < 0
    detail = (f"{comparison.metric} is {pct(abs(mean))} {'lower' if better else 'higher'} on "
              f"average over steps {fmt_step(comparison.overlap[0])}-"
              f"{fmt_step(comparison.overlap[1])} (aligned by "
              f"{'step' if comparison.aligned_by == 'step' else 'steps from each start'})")
    if comparison.speedup is not None:
        detail += (f"; reaches {num(comparison.target_loss)} in "
                   f"{fmt_step(comparison.steps_to_target)} steps vs "
                   f"{fmt_step(comparison.baseline_steps_to_target)} "
                   f"({comparison.speedup:.2f}x)")
    if comparison.best_val is not None and comparison.baseline_best_val is not None:
        detail += (f"; best validation {num(comparison.best_val)} vs "
                   f"{num(comparison.baseline_best_val)}")
    return [Conclusion(GOOD if better else INFO, 0.55,
                       f"{'better' if better else 'worse'} than baseline {comparison.baseline}",
                       detail, KNOWLEDGE["baseline"])]


def check_interpretable(history: RunHistory) -> None:
    """NtTuiError when the run has no loss curve to interpret (no loss, every value NaN/Inf,
    a single point)."""
    losses = [m for m in ("train_loss", "val_loss") if m in history.frame.columns]
    if not losses:
        raise NtTuiError(f"{history.source}: no loss values to interpret (metrics found: "
                         f"{', '.join(history.metrics) or 'none'})",
                         hint="nt-tui needs a train or validation loss column; see "
                              "docs/log-formats.md for the names it knows")
    logged = {m: history.frame[m].notna() | np.isinf(history.frame[m]) for m in losses}
    finite = {m: np.isfinite(history.frame[m]).sum() for m in losses}
    if not any(finite.values()):
        count = int(sum(int(mask.sum()) for mask in logged.values())) or len(history.frame)
        raise NtTuiError(f"{history.source}: every loss value is NaN or Inf ({count} logged): "
                         "no curve to interpret",
                         hint="the run diverged from its first logged step; `nt-tui diagnose` "
                              "ranks the causes")
    if max(finite.values()) < 2:
        step = int(history.frame["step"].iloc[0])
        raise NtTuiError(f"{history.source}: only one logged loss value (step {step}): a curve "
                         "needs at least 2 points", hint="analyze it again once the run has "
                                                         "logged more steps")


def interpret(history: RunHistory, baseline: RunHistory | None = None,
              align: str = "auto") -> Interpretation:
    """Numbers and ranked conclusions for one run (and its comparison with a baseline);
    NtTuiError when there is no loss curve to interpret."""
    check_interpretable(history)
    curves = {metric: summary for metric in ("train_loss", "val_loss", "grad_norm")
              if history.has(metric) and (summary := summarize_curve(history, metric))}
    validation = summarize_validation(history)
    lr = summarize_lr(history)
    speed = summarize_throughput(history)
    comparison = compare(history, baseline, align) if baseline is not None else None
    conclusions: list[Conclusion] = []
    loss_metric = "train_loss" if "train_loss" in curves else "val_loss"
    if loss_metric in curves:
        conclusions += _conclude_curve(curves[loss_metric], lr, validation)
    conclusions += _conclude_validation(validation, "train_loss" in curves)
    conclusions += _conclude_throughput(speed)
    conclusions += _conclude_baseline(comparison)
    conclusions.sort(key=lambda c: -c.score)
    return Interpretation(history.name, history.source, history.format, history.steps,
                          list(history.metrics), list(history.notes), curves, validation, lr,
                          speed, comparison, conclusions)
