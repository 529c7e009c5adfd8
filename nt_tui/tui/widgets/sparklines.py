"""Live numbers with sparklines: the current and moving-average value of each metric, and
its latest window as a row of block characters."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from nt_tui.analysis.metric_buffer import RunBuffer
from nt_tui.tui.widgets.chart import format_value

SPARK_CHARS = "▁▂▃▄▅▆▇█"
#: Values in a sparkline (the latest window).
SPARK_WINDOW = 48


def sparkline(values: np.ndarray, width: int) -> str:
    """The last values as `width` block characters, scaled between their min and max; more
    values than characters are averaged in buckets, non-finite values are left blank."""
    values = np.asarray(values, dtype=np.float64)
    if width <= 0 or not len(values):
        return ""
    if len(values) > width:
        edges = np.linspace(0, len(values), width + 1).astype(int)
        with np.errstate(invalid="ignore"):
            sums = np.add.reduceat(np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0),
                                   edges[:-1])
            counts = np.add.reduceat(np.isfinite(values).astype(int), edges[:-1])
            values = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    finite = np.isfinite(values)
    if not finite.any():
        return " " * len(values)
    low, high = np.min(values[finite]), np.max(values[finite])
    span = high - low
    levels = np.zeros(len(values), dtype=int) if span <= 0 else np.clip(
        ((values - low) / span * (len(SPARK_CHARS) - 1)).round(), 0, len(SPARK_CHARS) - 1)
    return "".join(SPARK_CHARS[int(level)] if ok else " "
                   for level, ok in zip(np.nan_to_num(levels), finite))


@dataclass(frozen=True)
class Reading:
    """One number of the panel: a metric, its label and how to show its value."""

    metric: str
    label: str
    #: metric holding the moving average when the log has one (else the smoothed copy)
    average_metric: str | None = None
    percent: bool = False
    thousands: bool = False
    #: shows the moving average as its value (the narrow layout has no average column)
    average_only: bool = False


#: The monitor's numbers, in panel order.
READINGS = (
    Reading("train_loss", "loss", average_metric="train_loss_avg"),
    Reading("train_loss", "loss avg", average_metric="train_loss_avg", average_only=True),
    Reading("val_loss", "val loss"),
    Reading("lr", "lr"),
    Reading("grad_norm", "grad norm"),
    Reading("samples_per_s", "samples/s", thousands=True),
    Reading("tokens_per_s", "tokens/s", thousands=True),
    Reading("clip_fraction", "clipped", percent=True),
)
#: Cells per reading: label, value, average; the sparkline takes what is left, within bounds.
LABEL_WIDTH, VALUE_WIDTH, AVERAGE_WIDTH = 10, 8, 15
SPARK_MIN, SPARK_MAX = 5, 16
#: Cells between columns of readings.
COLUMN_GAP = 2
#: Below this width the average column is dropped ("loss avg" has its own reading).
WIDE_LAYOUT = 120


def _show(value: float | None, reading: Reading) -> str:
    if value is None or not math.isfinite(value):
        return "-" if value is None else str(value)
    if reading.percent:
        return f"{value:.0%}"
    if reading.thousands:
        return f"{value:,.0f}" if abs(value) < 1e6 else f"{value / 1e6:.2f}M"
    return format_value(value)


def reading_values(run: RunBuffer, reading: Reading) -> tuple[float | None, float | None]:
    """(current, moving average) of a reading; None when not logged."""
    current = run.current(reading.metric)
    average = None
    if reading.average_metric and reading.average_metric in run.latest:
        average = run.latest[reading.average_metric][1]
    elif reading.metric in run.latest:
        smoothed = run.smoothed(reading.metric)
        average = float(smoothed[-1]) if len(smoothed) else None
    return current, average


class LiveNumbers(Static):
    """The latest numbers of one run, laid out in as many columns as the width allows."""

    DEFAULT_CSS = """
    LiveNumbers { height: auto; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.run: RunBuffer | None = None
        self._shown_key: tuple | None = None

    def show_run(self, run: RunBuffer | None) -> None:
        """Show `run`'s numbers (redrawn when its data changed)."""
        self.run = run
        key = (id(run), run.version if run else None, run.smoothing if run else None,
               self.size.width)
        if key != self._shown_key:
            self._shown_key = key
            self.update(self.table(max(self.size.width - 2, 20)))

    def table(self, width: int) -> Table:
        run = self.run
        compact = width < WIDE_LAYOUT
        readings = [r for r in READINGS if run is not None and run.has(r.metric)
                    and (compact or not r.average_only)]
        if run is None or not readings:
            grid = Table.grid()
            grid.add_row(Text("No numbers yet: waiting for the first logged step.",
                              style="dim"))
            return grid
        fixed = LABEL_WIDTH + VALUE_WIDTH + 1 + (0 if compact else AVERAGE_WIDTH)
        columns = max(1, min(len(readings), (width + COLUMN_GAP)
                             // (fixed + SPARK_MIN + COLUMN_GAP)))
        spark = (width + COLUMN_GAP) // columns - COLUMN_GAP - fixed
        spark = max(0, min(SPARK_MAX, spark))
        grid = Table.grid(padding=(0, COLUMN_GAP))
        for _ in range(columns):
            grid.add_column(no_wrap=True)
        cells = [self._cell(run, reading, compact, spark) for reading in readings]
        for start in range(0, len(cells), columns):
            grid.add_row(*cells[start:start + columns])
        return grid

    def _cell(self, run: RunBuffer, reading: Reading, compact: bool, spark: int) -> Text:
        current, average = reading_values(run, reading)
        if reading.average_only:
            current = average
        text = Text(f"{reading.label:<{LABEL_WIDTH - 1}} ", style="dim")
        bad = current is not None and not math.isfinite(current)
        text.append(f"{_show(current, reading):>{VALUE_WIDTH}}",
                    style="bold red" if bad else "bold")
        if not compact:
            text.append(f"  avg {_show(average, reading):<{AVERAGE_WIDTH - 6}}", style="dim")
        window = run.tail(reading.metric, SPARK_WINDOW)
        if reading.average_only:
            window = run.smoothed(reading.metric)[-SPARK_WINDOW:]
        text.append(" " + sparkline(window, spark))
        return text
