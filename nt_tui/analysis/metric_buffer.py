"""`RunBuffer`: the full-resolution metric history of one run, as numpy columns.

The monitor appends every record it receives (a live engine run, a followed log) and draws
from here: nothing is sampled away however long the run. Steps and elapsed seconds are float64
(exact for integers below 2**53, and what `np.searchsorted` wants); metric values are float32,
enough for a chart and half the memory. Logged NaN/Inf values are kept apart as evidence
(`nonfinite`), so NaN in a column only ever means "not logged at this step".

One thread owns a buffer (the app's UI thread); producers hand it records or column chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from nt_tui.analysis.downsample import (DEFAULT_SMOOTHING, EmaState, MinMaxPyramid,
                                        ema_debiased, forward_fill)
from nt_tui.analysis.growable import GrowableArray

#: x-axis modes: the logged step, the step since the run's first record, seconds of training.
X_MODES = ("step", "relative", "wall")
#: Record keys that locate a row rather than measure something.
ROW_KEYS = ("step", "time", "elapsed")
#: Rows scanned back from the end for the latest values of a sparse metric.
TAIL_SCAN_ROWS = 8192


@dataclass
class _Smoothed:
    weight: float
    values: GrowableArray = field(default_factory=lambda: GrowableArray(np.float32, np.nan))
    state: EmaState = field(default_factory=EmaState)
    last_fed: int = -1  # the last row whose value fed `state`


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    return float(value)


def flatten_record(record: dict[str, Any]) -> dict[str, float]:
    """The numeric metrics of a record; one level of nested numbers becomes "key/name"
    (e.g. layer_grad_norms/block.0)."""
    flat: dict[str, float] = {}
    for key, value in record.items():
        if key in ROW_KEYS:
            continue
        if isinstance(value, dict):
            for name, inner in value.items():
                number = _number(inner)
                if number is not None:
                    flat[f"{key}/{name}"] = number
            continue
        number = _number(value)
        if number is not None:
            flat[key] = number
    return flat


class RunBuffer:
    """Every metric of one run by row; rows are sorted by step, one row per step."""

    def __init__(self, name: str, smoothing: float = DEFAULT_SMOOTHING) -> None:
        self.name = name
        self.smoothing = smoothing
        self._steps = GrowableArray(np.float64)
        self._elapsed = GrowableArray(np.float64)
        self._columns: dict[str, GrowableArray] = {}
        self._changed: dict[str, int] = {}
        self._pyramids: dict[str, MinMaxPyramid] = {}
        self._smoothed: dict[str, _Smoothed] = {}
        self._first_time: float | None = None
        #: metric -> (step, value) of its last finite value
        self.latest: dict[str, tuple[int, float]] = {}
        #: metric -> [(step, value)] of every logged NaN/Inf
        self.nonfinite: dict[str, list[tuple[int, float]]] = {}
        #: the run's events (warnings, checkpoints, pause ...), in arrival order
        self.events: list[dict[str, Any]] = []
        #: grows with every change, so a chart knows when to redraw
        self.version = 0

    # ---------------------------------------------------------------------- reading

    def __len__(self) -> int:
        return len(self._steps)

    @property
    def steps(self) -> np.ndarray:
        return self._steps.data

    @property
    def metrics(self) -> list[str]:
        """Metrics with at least one logged value (finite or not), in first-seen order."""
        return [name for name in self._columns
                if name in self.latest or name in self.nonfinite]

    @property
    def last_step(self) -> int | None:
        return int(self._steps.data[-1]) if len(self) else None

    @property
    def first_step(self) -> int | None:
        return int(self._steps.data[0]) if len(self) else None

    @property
    def elapsed(self) -> float | None:
        """Seconds of training at the last row (None when the log has no times)."""
        if not len(self):
            return None
        value = float(self._elapsed.data[-1])
        return value if math.isfinite(value) else None

    def current(self, metric: str) -> float | None:
        """The metric's last logged value, NaN/Inf included (None when never logged)."""
        latest = self.latest.get(metric)
        bad = self.nonfinite.get(metric)
        if bad and (latest is None or bad[-1][0] >= latest[0]):
            return bad[-1][1]
        return latest[1] if latest else None

    def has(self, metric: str) -> bool:
        return metric in self.latest or metric in self.nonfinite

    def x(self, mode: str) -> tuple[np.ndarray, float]:
        """(x values, offset) for an x-axis mode; displayed x = value - offset."""
        if mode == "wall":
            return self._elapsed.data, 0.0
        offset = float(self._steps.data[0]) if mode == "relative" and len(self) else 0.0
        return self._steps.data, offset

    def x_bounds(self, mode: str) -> tuple[float, float] | None:
        """(first, last) displayed x of the rows, None when there are none (or, for wall
        time, when the log has no times)."""
        x, offset = self.x(mode)
        if not len(x) or not math.isfinite(x[-1]):
            return None
        first = x[0] if math.isfinite(x[0]) else x[np.argmax(np.isfinite(x))]
        return float(first) - offset, float(x[-1]) - offset

    def has_wall_time(self) -> bool:
        return len(self) > 0 and bool(np.isfinite(self._elapsed.data[-1]))

    def values(self, metric: str) -> np.ndarray:
        """The metric by row (NaN where not logged); empty when unknown."""
        column = self._columns.get(metric)
        return column.data if column is not None else np.empty(0, dtype=np.float32)

    def tail(self, metric: str, count: int) -> np.ndarray:
        """The last `count` finite values of a metric."""
        column = self.values(metric)
        recent = column[-max(count, TAIL_SCAN_ROWS):]
        return recent[np.isfinite(recent)][-count:]

    def pyramid(self, metric: str) -> MinMaxPyramid:
        """Block summaries of the metric, brought up to date."""
        self._refresh(metric)
        return self._pyramids[metric]

    def smoothed(self, metric: str) -> np.ndarray:
        """The metric smoothed with `self.smoothing` by row, carried over unlogged rows."""
        self._refresh(metric)
        return self._smoothed[metric].values.data

    def set_smoothing(self, weight: float) -> None:
        if weight != self.smoothing:
            self.smoothing = weight
            self.version += 1

    @property
    def nbytes(self) -> int:
        """Memory held by the history, summaries and smoothed copies."""
        total = self._steps.nbytes + self._elapsed.nbytes
        total += sum(column.nbytes for column in self._columns.values())
        total += sum(p.nbytes for p in self._pyramids.values())
        total += sum(s.values.nbytes for s in self._smoothed.values())
        return total

    # ---------------------------------------------------------------------- writing

    def _cut(self, row: int) -> None:
        """Drop rows from `row` on (a resumed run, or a log rewritten from a step)."""
        for array in (self._steps, self._elapsed, *self._columns.values()):
            array.truncate(row)
        for name in self._columns:
            self._changed[name] = min(self._changed.get(name, row), row)
        step = int(self._steps.data[-1]) if row else None
        for name, points in list(self.nonfinite.items()):
            kept = [p for p in points if step is not None and p[0] <= step]
            if kept:
                self.nonfinite[name] = kept
            else:
                del self.nonfinite[name]
        self.latest = {}
        for name, column in self._columns.items():
            finite = np.flatnonzero(np.isfinite(column.data))
            if len(finite):
                last = int(finite[-1])
                self.latest[name] = (int(self._steps.data[last]), float(column.data[last]))

    def _row_for(self, step: int) -> int:
        """The row a record at `step` goes to, cutting later rows when the step went back."""
        size = len(self)
        if size and step <= self._steps.data[-1]:
            if step == self._steps.data[-1]:
                return size - 1
            self._cut(int(np.searchsorted(self._steps.data, step, side="left")))
            size = len(self)
        return size

    def _elapsed_for(self, record: dict[str, Any], row: int) -> float:
        elapsed = _number(record.get("elapsed"))
        moment = _number(record.get("time"))
        if elapsed is None and moment is not None:
            if self._first_time is None:
                self._first_time = moment
            elapsed = moment - self._first_time
        previous = float(self._elapsed.data[row - 1]) if row else -math.inf
        if elapsed is None or not math.isfinite(elapsed):
            return previous if row else math.nan
        return max(elapsed, previous)

    def _column(self, name: str) -> GrowableArray:
        column = self._columns.get(name)
        if column is None:
            column = self._columns[name] = GrowableArray(np.float32, np.nan)
            column.pad_to(len(self))
        return column

    def append(self, record: dict[str, Any]) -> None:
        """Add one metric record (keys as in docs/run-format.md); a record at the last step
        merges into that row, one at an earlier step replaces the rows from there on."""
        step_value = _number(record.get("step"))
        if step_value is None or not math.isfinite(step_value):
            return
        step = int(step_value)
        row = self._row_for(step)
        if row == len(self):
            elapsed = self._elapsed_for(record, row)
            self._steps.append(step)
            self._elapsed.append(elapsed)
            for column in self._columns.values():
                column.pad_to(row + 1)
        for name, value in flatten_record(record).items():
            column = self._column(name)
            column.pad_to(row + 1)
            if math.isfinite(value):
                column.data[row] = value
                self.latest[name] = (step, value)
            else:
                column.data[row] = np.nan
                self.nonfinite.setdefault(name, []).append((step, value))
            self._changed[name] = min(self._changed.get(name, row), row)
        self.version += 1

    def extend(self, steps: np.ndarray, columns: dict[str, np.ndarray],
               elapsed: np.ndarray | None = None) -> None:
        """Add many rows at once (a chunk of a followed log): `steps` ascending and unique,
        each column the same length (NaN = not logged). A chunk starting at or before the
        last step replaces the rows from there on."""
        steps = np.asarray(steps, dtype=np.float64)
        if not len(steps):
            return
        if len(self) and steps[0] <= self._steps.data[-1]:
            self._cut(int(np.searchsorted(self._steps.data, steps[0], side="left")))
        start, added = len(self), len(steps)
        for name, values in columns.items():
            values = np.asarray(values, dtype=np.float64)
            column = self._column(name)
            column.pad_to(start)
            infinite = np.flatnonzero(np.isinf(values))
            if len(infinite):
                self.nonfinite.setdefault(name, []).extend(
                    (int(steps[i]), float(values[i])) for i in infinite)
            column.extend(np.where(np.isfinite(values), values, np.nan))
            finite = np.flatnonzero(np.isfinite(values))
            if len(finite):
                self.latest[name] = (int(steps[finite[-1]]), float(values[finite[-1]]))
            self._changed[name] = min(self._changed.get(name, start), start)
        times = np.full(added, np.nan) if elapsed is None else np.asarray(elapsed, np.float64)
        previous = float(self._elapsed.data[start - 1]) if start else -np.inf
        times = forward_fill(times, previous if start else np.nan)
        self._elapsed.extend(np.fmax.accumulate(np.fmax(times, previous)))
        self._steps.extend(steps)
        for column in self._columns.values():
            column.pad_to(start + added)
        self.version += 1

    def add_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.version += 1

    def extend_events(self, events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            self.add_event(event)

    # ---------------------------------------------------------------- summaries

    def _refresh(self, metric: str) -> None:
        """Update the pyramid and the smoothed copy of `metric` from its first changed row."""
        values = self.values(metric)
        changed = self._changed.pop(metric, None)
        pyramid = self._pyramids.get(metric)
        if pyramid is None:
            pyramid = self._pyramids[metric] = MinMaxPyramid()
            changed = 0
        if changed is not None:
            pyramid.update(values, changed)
        smooth = self._smoothed.get(metric)
        if smooth is None or smooth.weight != self.smoothing:
            smooth = self._smoothed[metric] = _Smoothed(self.smoothing)
            changed = 0
        if changed is None and len(smooth.values) == len(values):
            return
        start = min(len(smooth.values), changed if changed is not None else len(values))
        if start <= smooth.last_fed:  # rows that fed the average changed: start over
            smooth.state, smooth.last_fed, start = EmaState(), -1, 0
        part, smooth.state = ema_debiased(values[start:], smooth.weight, smooth.state)
        carry = float(smooth.values.data[start - 1]) if start else np.nan
        fed = np.flatnonzero(np.isfinite(part))
        if len(fed):
            smooth.last_fed = start + int(fed[-1])
        smooth.values.truncate(start)
        smooth.values.extend(forward_fill(part, carry))


def history_buffer(history: Any, name: str, metrics: Iterable[str]) -> RunBuffer:
    """A buffer named `name` holding the curves of a loaded run history (a `RunHistory`):
    those of `metrics` its frame has, by logged step."""
    frame = history.frame
    present = [m for m in metrics if m in frame.columns]
    buffer = RunBuffer(name)
    buffer.extend(frame["step"].to_numpy(), {m: frame[m].to_numpy(dtype=float) for m in present})
    return buffer
