"""The curve report as Markdown: plots first, then the numbers, then ranked conclusions.

Plots are PNG files written beside the report when matplotlib is installed (`nt-tui[plots]`)
and `images` allows it, else text plots (plotext, which the app already depends on) inside
code blocks, so the report reads the same in a terminal, a pull request or a notebook.
"""

from __future__ import annotations

import re
from pathlib import Path

from nt_tui.analysis.curves import Chart, Interpretation, relative_above
from nt_tui.analysis.diagnosis.numbers import num, pct, step as fmt_step
from nt_tui.safetext import clean

TEXT_PLOT_WIDTH = 76
TEXT_PLOT_HEIGHT = 16
#: Text plots show at most this many points per series (min and max per bucket keep spikes).
TEXT_PLOT_POINTS = 400
#: Markers that tell overlaid curves apart in a text plot (reports carry no colour).
TEXT_PLOT_MARKERS = "•x+o*#%@"
PNG_SIZE_INCHES = (8.0, 3.6)
PNG_DPI = 110
IMAGES = ("auto", "png", "text")
_SLUG = re.compile(r"[^a-z0-9]+")


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def downsample(steps: list[int], values: list[float], points: int) -> tuple[list, list]:
    """At most ~`points` points: the min and max of each bucket, in step order."""
    if len(values) <= points:
        return steps, values
    bucket = -(-len(values) // (points // 2))
    kept_steps, kept_values = [], []
    for start in range(0, len(values), bucket):
        chunk = range(start, min(start + bucket, len(values)))
        low = min(chunk, key=values.__getitem__)
        high = max(chunk, key=values.__getitem__)
        for index in sorted({low, high}):
            kept_steps.append(steps[index])
            kept_values.append(values[index])
    return kept_steps, kept_values


def text_plot(chart: Chart, width: int = TEXT_PLOT_WIDTH,
              height: int = TEXT_PLOT_HEIGHT) -> str:
    """A chart drawn with characters: raw points faint, smoothed line solid."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    several = len(chart.series) > 1
    legend = []
    for index, series in enumerate(chart.series):
        steps, values = downsample(series.steps, series.smoothed, TEXT_PLOT_POINTS)
        if several:  # no colours in a report: one marker per curve, the legend below the plot
            marker = TEXT_PLOT_MARKERS[index % len(TEXT_PLOT_MARKERS)]
            plt.plot(steps, values, marker=marker)
            legend.append(f"    {marker} {clean(series.label, width - 6)}")
        else:
            plt.plot(steps, values, label=clean(series.label, 40))
    if chart.log_y:
        plt.yscale("log")
    plt.title(chart.title)
    plt.xlabel(chart.x_label)
    text = plt.build()
    plt.clear_figure()
    return "\n".join([clean(line).rstrip() for line in text.splitlines()] + legend)


def png_plot(chart: Chart, path: Path) -> Path:
    """A chart as a PNG: raw points thin, smoothed line on top."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=PNG_SIZE_INCHES)
    for series in chart.series:
        line, = axes.plot(series.steps, series.values, linewidth=0.6, alpha=0.35)
        axes.plot(series.steps, series.smoothed, linewidth=1.6, color=line.get_color(),
                  label=series.label)
    if chart.log_y:
        axes.set_yscale("log")
    axes.set_title(chart.title)
    axes.set_xlabel(chart.x_label)
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=PNG_DPI)
    plt.close(figure)
    return path


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _numbers(result: Interpretation) -> list[str]:
    lines = ["## Numbers", ""]
    rows = []
    for curve in result.curves.values():
        fit = curve.trend
        rows.append([
            curve.metric, str(curve.points), f"{fmt_step(curve.first_step)}-{fmt_step(curve.last_step)}",
            num(curve.first), num(curve.last), num(curve.level),
            f"{num(curve.minimum)} @ {fmt_step(curve.min_step)}",
            pct(fit.relative_change) if fit else "n/a",
            num(fit.slope_per_1k) if fit else "n/a", pct(fit.cv) if fit else "n/a",
            fmt_step(curve.plateau_since) if curve.plateau_since is not None else "no",
            str(len(curve.spikes)), str(curve.nonfinite)])
    if rows:
        lines += _table(["metric", "points", "steps", "first", "last", "level", "min @ step",
                         "last-window change", "slope / 1k steps", "CV", "plateau since",
                         "spikes", "NaN/Inf"], rows) + [""]
    val = result.validation
    if val is not None:
        lines += _table(["validation", "value"], [
            ["best", f"{num(val.best)} at step {fmt_step(val.best_step)}"],
            ["last", f"{num(val.last)} at step {fmt_step(val.last_step)}"],
            ["rise since best", pct(val.rise_since_best)],
            ["train/val gap (last)", "n/a" if val.gap is None else
             f"{num(val.gap)} ({relative_above(val.gap_rel) if val.gap_rel is not None else 'n/a'} train)"],
            ["overfitting onset", "none" if val.overfit_onset_step is None else
             f"step {fmt_step(val.overfit_onset_step)}"]]) + [""]
    lr = result.lr
    if lr is not None:
        lines += _table(["learning rate", "value"], [
            ["peak", f"{num(lr.peak)} at step {fmt_step(lr.peak_step)}"],
            ["warmup", f"{fmt_step(lr.warmup_steps)} steps"],
            ["last / peak", pct(lr.last_share)],
            ["loss decrease made at >= half the peak LR",
             "n/a" if lr.decrease_share_at_high_lr is None else pct(lr.decrease_share_at_high_lr)],
            ["LR vs loss-decrease rate (Spearman)",
             "n/a" if lr.lr_progress_correlation is None else f"{lr.lr_progress_correlation:.2f}"],
        ]) + [""]
    speed = result.throughput
    if speed is not None:
        lines += _table(["throughput", "value"], [
            ["metric", speed.metric], ["median", num(speed.median)],
            ["coefficient of variation", pct(speed.cv)],
            ["drops below half the median", str(speed.drops)]]) + [""]
    comparison = result.baseline
    if comparison is not None:
        aligned = "step" if comparison.aligned_by == "step" else "steps from each start"
        lines += [f"Baseline **{clean(comparison.baseline)}**, {comparison.metric}, aligned by "
                  f"{aligned}:", ""]
        lines += _table(["step", "this run", "baseline", "delta", "relative"], [
            [fmt_step(d.step), num(d.value), num(d.baseline), num(d.delta), pct(d.relative)]
            for d in comparison.deltas]) + [""]
        if comparison.target_loss is not None:
            lines += [f"Steps to reach {num(comparison.target_loss)}: this run "
                      f"{'never' if comparison.steps_to_target is None else fmt_step(comparison.steps_to_target)}, "
                      f"baseline {'never' if comparison.baseline_steps_to_target is None else fmt_step(comparison.baseline_steps_to_target)}.", ""]
    return lines


def _conclusions(result: Interpretation) -> list[str]:
    lines = ["## Conclusions (most important first)", ""]
    if not result.conclusions:
        lines.append("No conclusion: too few points to judge.")
    for rank, item in enumerate(result.conclusions, 1):
        lines.append(f"{rank}. **{item.title}** ({item.severity}): {clean(item.detail)}. "
                     f"See `{item.knowledge}`.")
    return lines + [""]


def _plots(charts: list[Chart], path: str | Path | None, use_png: bool,
           prefix: str = "") -> list[str]:
    lines = ["## Plots", ""]
    if not charts:
        lines.append("No metric with at least one value to plot.")
    for chart in charts:
        if use_png:
            target = Path(path)
            image = target.with_name(f"{target.stem}-{prefix}{_slug(chart.title)}.png")
            png_plot(chart, image)
            lines += [f"![{chart.title}]({image.name})", ""]
        else:
            lines += ["```text", text_plot(chart), "```", ""]
    return lines


def _use_png(images: str, path: str | Path | None) -> bool:
    use_png = images == "png" or (images == "auto" and path is not None and
                                  matplotlib_available())
    if use_png and path is None:
        raise ValueError("PNG plots need a report path to be written beside")
    return use_png


def comparison_report(results: list[Interpretation], charts: list[Chart],
                      path: str | Path | None = None, images: str = "auto",
                      aligned_by: str = "step") -> str:
    """Several runs overlaid on the same charts, then one line of numbers per run."""
    use_png = _use_png(images, path)
    lines = [f"# Comparison of {len(results)} runs (aligned by "
             f"{'step' if aligned_by == 'step' else 'steps from each start'})", ""]
    lines += _plots(charts, path, use_png, prefix="overlay-")
    rows = []
    for result in results:
        train = result.curves.get("train_loss")
        val = result.validation
        rows.append([clean(result.run), result.format, fmt_step(result.steps),
                     num(train.level) if train else "n/a",
                     pct(train.trend.relative_change) if train and train.trend else "n/a",
                     f"{num(val.best)} @ {fmt_step(val.best_step)}" if val else "n/a",
                     clean(result.conclusions[0].title) if result.conclusions else "none"])
    lines += ["## Numbers", ""] + _table(
        ["run", "format", "steps", "train level", "last-window change", "best val @ step",
         "first conclusion"], rows) + [""]
    text = "\n".join(lines)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def _slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-") or "run"


def markdown_report(result: Interpretation, charts: list[Chart], path: str | Path | None = None,
                    images: str = "auto") -> str:
    """The report as Markdown text; written to `path` when given, with PNG plots beside it
    (`images`: "auto" = PNG when matplotlib is installed and a path is given, "png", or
    "text" for text plots in the document)."""
    use_png = _use_png(images, path)
    lines = [f"# Curve report: {clean(result.run)}", "",
             f"- source: `{clean(result.source)}` ({result.format})",
             f"- {fmt_step(result.steps)} logged steps; metrics: "
             f"{', '.join(clean(m) for m in result.metrics[:12])}"]
    lines += [f"- read note: {clean(note)}" for note in result.notes]
    lines += [""] + _plots(charts, path, use_png)
    text = "\n".join(lines + _numbers(result) + _conclusions(result))
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text
