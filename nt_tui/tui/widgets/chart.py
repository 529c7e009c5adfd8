"""Draw a metric chart into terminal lines: a faint min/max band and raw line behind a
smoothed line, y labels, an x axis with warning and NaN markers, and a legend.

Every trace is downsampled to one bucket per dot column through the run's block summaries,
so a chart costs the same at a thousand or a million logged steps. The drawing is pure
(runs and a size in, `Strip`s out): the `MetricPlot` widget caches it, the benchmark times it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.color import Color, ColorParseError
from textual.strip import Strip

from nt_tui.analysis.downsample import Buckets, bucket_edges, downsample
from nt_tui.analysis.metric_buffer import RunBuffer
from nt_tui.safetext import clean
from nt_tui.tui.widgets.braille import DOTS_HIGH, DOTS_WIDE, BrailleCanvas, line_spans

#: How far the faint layers are blended towards the background (0 = full colour).
BAND_FADE = 0.72
RAW_FADE = 0.5
#: Charts smaller than this show a one-line note instead.
MIN_WIDTH, MIN_HEIGHT = 24, 4
#: Headroom above and below the data, as a share of the y range.
Y_MARGIN = 0.04
WARNING_MARK, NAN_MARK = "▲", "✖"
#: Buckets of the coarse pass that sizes the y labels.
PROBE_BUCKETS = 64


@dataclass(frozen=True)
class Trace:
    """One curve: a metric of a run in a colour (a theme colour name such as "primary", or
    any colour Textual parses); `smooth` adds the smoothed line."""

    run: RunBuffer
    metric: str
    label: str
    color: str = "primary"
    smooth: bool = True


@dataclass(frozen=True)
class ChartView:
    """What every chart of a screen shows (one view for all: zoom stays synchronised)."""

    x_mode: str = "step"
    #: displayed x range (None: the data's own)
    x_range: tuple[float, float] | None = None
    log_y: bool = False


@dataclass(frozen=True)
class ChartColors:
    background: Color
    foreground: Color
    muted: Color
    warning: Color
    error: Color
    #: theme colours by name, for `Trace.color`
    named: dict[str, Color] = field(default_factory=dict)

    def of(self, name: str) -> Color:
        """A trace's colour: a theme name, else parsed (the foreground if unparseable)."""
        if name in self.named:
            return self.named[name]
        try:
            return Color.parse(name)
        except ColorParseError:
            return self.foreground


@dataclass
class _Layer:
    color: Color
    order: int


@dataclass
class _Curves:
    """A trace's buckets and the values it draws, in data units (log10 when log_y)."""

    trace: Trace
    buckets: Buckets
    mean: np.ndarray
    smoothed: np.ndarray | None


# ------------------------------------------------------------------------------- labels

def format_value(value: float) -> str:
    """A y label or legend number in at most 8 characters."""
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude and (magnitude >= 1e5 or magnitude < 1e-3):
        return f"{value:.2e}"
    return f"{value:.4g}"


def format_x(value: float, mode: str) -> str:
    """An x label: steps with k/M suffixes, wall time as h:mm or m:ss."""
    if mode == "wall":
        seconds = int(max(value, 0))
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.4g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.4g}k"
    return f"{value:,.0f}"


X_UNITS = {"step": "step", "relative": "steps since start", "wall": "time"}


# ------------------------------------------------------------------------------- ranges

def data_x_range(runs: list[RunBuffer], mode: str) -> tuple[float, float] | None:
    """The displayed x range that holds every run's rows."""
    bounds = [b for b in (run.x_bounds(mode) for run in runs) if b is not None]
    if not bounds:
        return None
    return min(b[0] for b in bounds), max(b[1] for b in bounds)


def zoomed_range(full: tuple[float, float] | None,
                 last_n: float | None) -> tuple[float, float] | None:
    """The last `last_n` units of `full` (all of it when None)."""
    if full is None or last_n is None:
        return full
    start, end = full
    return max(start, end - last_n), end


def x_of_step(run: RunBuffer, step: float, mode: str) -> float | None:
    """Where a step falls on the x axis of `mode` (events carry steps)."""
    if not len(run):
        return None
    if mode == "step":
        return float(step)
    if mode == "relative":
        return float(step) - float(run.steps[0])
    row = min(int(np.searchsorted(run.steps, step, side="left")), len(run) - 1)
    value = float(run.x("wall")[0][row])
    return value if math.isfinite(value) else None


# ------------------------------------------------------------------------------ drawing

def _to_axis(values: np.ndarray, log_y: bool) -> np.ndarray:
    if not log_y:
        return values.astype(np.float64, copy=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log10(values), np.nan)


def _curves(trace: Trace, view: ChartView, edges: np.ndarray) -> _Curves | None:
    run = trace.run
    if not run.has(trace.metric) or not len(run):
        return None
    x, offset = run.x(view.x_mode)
    values = run.values(trace.metric)
    buckets = downsample(x, values, edges + offset, run.pyramid(trace.metric))
    buckets.lo = _to_axis(buckets.lo, view.log_y)
    buckets.hi = _to_axis(buckets.hi, view.log_y)
    mean = _to_axis(buckets.mean, view.log_y)
    smoothed = None
    if trace.smooth:
        series = run.smoothed(trace.metric)
        picked = np.where(buckets.count > 0, series[np.maximum(buckets.last, 0)], np.nan)
        smoothed = _to_axis(picked, view.log_y)
    return _Curves(trace, buckets, mean, smoothed)


def _y_range(curves: list[_Curves]) -> tuple[float, float] | None:
    lows = [np.nanmin(c.buckets.lo) for c in curves if np.isfinite(c.buckets.lo).any()]
    highs = [np.nanmax(c.buckets.hi) for c in curves if np.isfinite(c.buckets.hi).any()]
    if not lows:
        return None
    low, high = float(min(lows)), float(max(highs))
    if high - low <= 1e-12 * max(abs(high), 1.0):
        pad = abs(high) * 0.05 or 1.0
        return low - pad, high + pad
    pad = (high - low) * Y_MARGIN
    return low - pad, high + pad


def _y_labels(y_range: tuple[float, float], plot_rows: int, log_y: bool) -> list[str]:
    """Labels for the top, middle (when there is room) and bottom rows."""
    low, high = y_range
    values = [high, (low + high) / 2, low] if plot_rows >= 5 else [high, low]
    return [format_value(10 ** v if log_y else v) for v in values]


def _rows(values: np.ndarray, low: float, high: float, dot_rows: int) -> np.ndarray:
    """Dot rows (0 = top) for values in [low, high]; NaN stays NaN."""
    return (high - values) / (high - low) * (dot_rows - 1)


def _markers(curves: list[_Curves], view: ChartView, x0: float, x1: float, cols: int,
             colors: ChartColors) -> dict[int, tuple[str, Color]]:
    """Column -> marker for warnings (the run's warning events) and logged NaN/Inf."""
    marks: dict[int, tuple[str, Color]] = {}

    def place(run: RunBuffer, step: float, mark: str, color: Color) -> None:
        x = x_of_step(run, step, view.x_mode)
        if x is None or not x0 <= x <= x1:
            return
        column = min(cols - 1, int((x - x0) / (x1 - x0) * cols))
        if marks.get(column, ("", None))[0] != NAN_MARK:
            marks[column] = (mark, color)

    runs = {id(c.trace.run): c.trace.run for c in curves}
    for run in runs.values():
        for event in run.events:
            if event.get("kind") == "warning" and isinstance(event.get("step"), (int, float)):
                critical = event.get("severity") == "critical"
                place(run, event["step"], NAN_MARK if critical else WARNING_MARK,
                      colors.error if critical else colors.warning)
    for c in curves:
        for step, _ in c.trace.run.nonfinite.get(c.trace.metric, []):
            place(c.trace.run, step, NAN_MARK, colors.error)
    return marks


def _style(color: Color, background: Color) -> Style:
    return Style(color=color.rich_color, bgcolor=background.rich_color)


def _strip(text: str, style: Style, width: int) -> Strip:
    return Strip([Segment(text[:width].ljust(width), style)], width)


def _legend(title: str, traces: list[Trace], view: ChartView, width: int,
            colors: ChartColors) -> Strip:
    base = _style(colors.foreground, colors.background)
    # Titles and labels are metric and run names from logs: never let an escape through.
    segments = [Segment(f" {clean(title)}", base + Style(bold=True))]
    for trace in traces:
        current = trace.run.current(trace.metric)
        value = "-" if current is None else format_value(current)
        segments.append(Segment("  ━ ", _style(colors.of(trace.color), colors.background)))
        segments.append(Segment(f"{clean(trace.label)} {value}", base))
    if view.log_y:
        segments.append(Segment("  (log)", _style(colors.muted, colors.background)))
    return Strip(segments).crop(0, width).extend_cell_length(width, base)


def render_chart(title: str, traces: list[Trace], view: ChartView, width: int, height: int,
                 colors: ChartColors) -> list[Strip]:
    """The chart as `height` lines of `width` cells."""
    base = _style(colors.foreground, colors.background)
    muted = _style(colors.muted, colors.background)
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        lines = [_strip(f" {clean(title)}: enlarge the window to see this chart", muted,
                        width)]
        return (lines + [_strip("", base, width)] * height)[:height]
    legend = _legend(title, traces, view, width, colors)
    x_range = view.x_range
    if x_range is None:
        x_range = data_x_range(list({id(t.run): t.run for t in traces}.values()), view.x_mode)
    plot_rows = height - 3
    blank = _strip("", base, width)
    if x_range is None:
        note = _strip("   waiting for the first values...", muted, width)
        return [legend, note] + [blank] * (height - 2)
    x0, x1 = x_range
    if not x1 > x0:
        x1 = x0 + 1.0
    # A coarse pass sizes the y labels, whose width decides the plot width.
    probe = [c for c in (_curves(t, view, bucket_edges(x0, x1, PROBE_BUCKETS))
                         for t in traces) if c is not None]
    probe_range = _y_range(probe)
    if probe_range is None:
        note = _strip("   no finite values in this range", muted, width)
        return [legend, note] + [blank] * (height - 2)
    gutter = max(len(label) for label in _y_labels(probe_range, plot_rows, view.log_y)) + 1
    cols = width - gutter
    curves = [c for c in (_curves(t, view, bucket_edges(x0, x1, cols * DOTS_WIDE))
                          for t in traces) if c is not None]
    low, high = _y_range(curves) or probe_range
    labels = [label[:gutter - 1] for label in _y_labels((low, high), plot_rows, view.log_y)]
    layers: list[_Layer] = []
    canvas = BrailleCanvas(cols, plot_rows, 3 * len(curves))
    dot_rows = plot_rows * DOTS_HIGH
    background = colors.background
    for index, c in enumerate(curves):
        color = colors.of(c.trace.color)
        band_layer, raw_layer, smooth_layer = index, len(curves) + index, 2 * len(curves) + index
        top = _rows(c.buckets.hi, low, high, dot_rows)
        bottom = _rows(c.buckets.lo, low, high, dot_rows)
        drawn = np.isfinite(top) & np.isfinite(bottom)
        canvas.spans(band_layer, np.where(drawn, np.rint(top), -1).astype(int),
                     np.where(drawn, np.rint(bottom), -1).astype(int))
        canvas.spans(raw_layer, *line_spans(_rows(c.mean, low, high, dot_rows)))
        if c.smoothed is not None:
            canvas.spans(smooth_layer, *line_spans(_rows(c.smoothed, low, high, dot_rows)))
            raw_color = color.blend(background, RAW_FADE)
        else:
            raw_color = color  # no smoothed line (e.g. the LR): the raw line is the curve
        layers.append(_Layer(color.blend(background, BAND_FADE), band_layer))
        layers.append(_Layer(raw_color, raw_layer))
        layers.append(_Layer(color, smooth_layer))
    layer_styles = {layer.order: _style(layer.color, background) for layer in layers}
    chars, shown_layers = canvas.cells()
    label_rows = {0: labels[0], plot_rows - 1: labels[-1]}
    if len(labels) == 3:
        label_rows[(plot_rows - 1) // 2] = labels[1]
    # Whole rows become text at once; runs of one layer become one segment.
    texts = chars.astype("<u4").tobytes().decode("utf-32-le")
    cut_rows, cut_columns = np.nonzero(np.diff(shown_layers, axis=1))
    cuts: list[list[int]] = [[] for _ in range(plot_rows)]
    for row, column in zip(cut_rows.tolist(), (cut_columns + 1).tolist()):
        cuts[row].append(column)
    layer_rows = shown_layers.tolist()
    lines = [legend]
    for row in range(plot_rows):
        label = label_rows.get(row, "")
        segments = [Segment(label.rjust(gutter - 1) + ("┤" if label else "│"), muted)]
        text = texts[row * cols:(row + 1) * cols]
        starts = [0, *cuts[row]]
        for start, end in zip(starts, [*cuts[row], cols]):
            layer = layer_rows[row][start]
            segments.append(Segment(text[start:end], layer_styles[layer] if layer >= 0
                                    else base))
        lines.append(Strip(segments, width))
    lines.append(_axis_line(curves, view, x0, x1, gutter, cols, colors))
    lines.append(_x_labels(x0, x1, view.x_mode, gutter, cols, width, muted))
    return lines


def _axis_line(curves: list[_Curves], view: ChartView, x0: float, x1: float, gutter: int,
               cols: int, colors: ChartColors) -> Strip:
    muted = _style(colors.muted, colors.background)
    marks = _markers(curves, view, x0, x1, cols, colors)
    segments = [Segment(" " * (gutter - 1) + "└", muted)]
    start = 0
    for column, (mark, color) in sorted(marks.items()):
        segments.append(Segment("─" * (column - start), muted))
        segments.append(Segment(mark, _style(color, colors.background)))
        start = column + 1
    segments.append(Segment("─" * (cols - start), muted))
    return Strip(segments, gutter + cols)


def _x_labels(x0: float, x1: float, mode: str, gutter: int, cols: int, width: int,
              style: Style) -> Strip:
    left, right = format_x(x0, mode), format_x(x1, mode)
    middle = format_x((x0 + x1) / 2, mode)
    unit = X_UNITS[mode]
    line = [" "] * cols
    line[:len(left)] = left
    line[cols - len(right):] = right
    centre = cols // 2 - len(middle) // 2
    if middle not in (left, right) and centre > len(left) + 2 and \
            centre + len(middle) < cols - len(right) - 2:
        line[centre:centre + len(middle)] = middle
    unit_at = len(left) + 2
    if cols >= len(left) + len(unit) + 6 and unit_at + len(unit) < centre:
        line[unit_at:unit_at + len(unit)] = f"{unit}"
    return _strip(" " * gutter + "".join(line), style, width)
