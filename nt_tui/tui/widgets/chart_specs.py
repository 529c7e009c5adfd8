"""Which charts a screen shows: the four default charts, one chart per other metric, and the
metric filter (a regular expression, as in TensorBoard's tag filter)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nt_tui.analysis.metric_buffer import RunBuffer
from nt_tui.tui.widgets.chart import Trace


@dataclass(frozen=True)
class ChartSpec:
    """A chart: its id, title, the metrics it overlays and their colours."""

    id: str
    title: str
    metrics: tuple[str, ...]
    colors: tuple[str, ...] = ("primary",)
    smooth: bool = True
    #: short legend labels per metric (single run)
    labels: tuple[str, ...] = ()


DEFAULT_CHARTS = (
    ChartSpec("loss", "loss", ("train_loss", "val_loss"), ("primary", "accent"),
              labels=("train", "val")),
    ChartSpec("lr", "learning rate", ("lr",), ("secondary",), smooth=False, labels=("lr",)),
    ChartSpec("grad_norm", "grad norm", ("grad_norm",), ("success",), labels=("norm",)),
    ChartSpec("throughput", "samples/s", ("samples_per_s",), ("primary",), labels=("now",)),
)
#: Metrics that get no chart of their own unless the filter asks for them: the engine's
#: bookkeeping, derived values shown elsewhere, per-layer norms.
QUIET_METRICS = ("train_loss_avg", "eta_s", "epoch", "val_ppl", "tokens_per_s",
                 "clip_fraction", "nonfinite_steps")
QUIET_PREFIXES = ("layer_grad_norms/",)
#: Colours of overlaid runs, in order.
RUN_COLOURS = ("primary", "accent", "success", "secondary", "warning", "error")
#: Metrics whose smoothed line would only blur a schedule.
UNSMOOTHED = ("lr", "epoch")


def compile_filter(pattern: str) -> re.Pattern[str] | None:
    """The filter as a regex (case-insensitive); None for an empty pattern. Raises re.error."""
    pattern = pattern.strip()
    return re.compile(pattern, re.IGNORECASE) if pattern else None


def chart_specs(metrics: list[str], pattern: re.Pattern[str] | None,
                keep_empty: bool = True) -> list[ChartSpec]:
    """The charts for runs logging `metrics`: the default four plus one per other metric;
    with a filter, only the charts whose title or metrics match it. A run trained here keeps
    the default four even before they have data (`keep_empty`: its curves will appear there);
    a followed log that has logged something drops the defaults it does not log (a Trainer
    state with no throughput gets no empty throughput chart)."""
    covered = {metric for spec in DEFAULT_CHARTS for metric in spec.metrics}
    defaults = [spec for spec in DEFAULT_CHARTS
                if keep_empty or not metrics or any(m in metrics for m in spec.metrics)]
    extra = [ChartSpec(m, m, (m,), smooth=m not in UNSMOOTHED, labels=(m,))
             for m in metrics if m not in covered]
    if pattern is None:
        return [*defaults, *(spec for spec in extra if spec.id not in QUIET_METRICS
                             and not spec.id.startswith(QUIET_PREFIXES))]
    return [spec for spec in (*defaults, *extra)
            if any(pattern.search(name) for name in (spec.id, spec.title, *spec.metrics))]


def traces_for(spec: ChartSpec, runs: list[RunBuffer]) -> list[Trace]:
    """The chart's curves: each of its metrics for each run (colours per metric for one run,
    per run when several are overlaid)."""
    traces = []
    for index, run in enumerate(runs):
        for position, metric in enumerate(spec.metrics):
            if len(runs) > 1 and not run.has(metric):
                continue
            if len(runs) == 1:
                color = spec.colors[min(position, len(spec.colors) - 1)]
                label = spec.labels[position] if position < len(spec.labels) else metric
            else:
                color = RUN_COLOURS[index % len(RUN_COLOURS)]
                label = run.name if position == 0 else f"{run.name} {spec.labels[position]}"
            traces.append(Trace(run, metric, label, color, spec.smooth))
    return traces
