"""The Sweep & LR finder screen: two tabs over `nt_tui.tuning`.

ctrl+t switches between them; the open tab's path field has the focus.

- LR finder: a config path; Enter or ctrl+r runs the range test in a thread worker, the plot
  grows as the steps come in (raw and smoothed loss against a log LR axis), the suggestion
  and its rule are shown, `w` (or ctrl+o) writes it into a new config.
- Sweep: a sweep file; ctrl+r runs or resumes it in a thread worker (the same `SweepRunner` as
  `nt-tui sweep`), ctrl+s stops after the current step. The trial table (sorted by the
  objective) and the curves are read from the study's storage every two seconds, so the tab
  also follows a sweep that `nt-tui sweep` runs elsewhere.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import (DataTable, Footer, Header, Input, Label, Static, TabbedContent,
                             TabPane)
from textual.worker import Worker, WorkerState
from textual_plotext import PlotextPlot

from nt_tui.errors import NtTuiError
from nt_tui.tui.widgets.metric_plot import MetricPlot

#: Seconds between reads of the study's storage (table and curves).
POLL_S = 2.0
#: Seconds between redraws of the growing LR plot (plots redraw whole: about 4 Hz).
LR_REDRAW_S = 0.25
#: Trials drawn besides the highlighted one (the best first).
MAX_CURVES = 6
LR_HELP = ("[b]LR range test[/b]: ctrl+r runs it on the config's model and data; "
           "[b]w[/b] writes the suggested LR into a new config.")
SWEEP_HELP = ("[b]Sweep[/b]: ctrl+r runs or resumes the sweep file, ctrl+s stops it "
              "(resumable). The table follows the study's storage.")


@dataclass
class LRPoint(Message):
    step: int
    lr: float
    loss: float


@dataclass
class LRFinished(Message):
    curve: Any
    config_path: Path


@dataclass
class WorkFailed(Message):
    """A worker met bad input: `tab` is "lr" or "sweep"."""

    tab: str
    message: str


@dataclass
class SweepNote(Message):
    text: str


@dataclass
class SweepFinished(Message):
    outcome: Any


@dataclass
class TrialsRead(Message):
    rows: list[Any]


class _ScreenSweepListener:
    """Posts a sweep's progress to the screen (from the sweep's thread)."""

    def __init__(self, screen: "SweepScreen") -> None:
        self.screen = screen

    def on_trial_start(self, number: int, values: dict[str, Any], run_dir: Path) -> None:
        from nt_tui.tuning.sweep import format_params

        self.screen.post_message(SweepNote(f"trial {number} running: {format_params(values)}"))

    def on_trial_metrics(self, number: int, record: dict[str, Any]) -> None:
        del number, record  # the table and curves come from the storage

    def on_trial_end(self, row: Any) -> None:
        self.screen.post_message(SweepNote(f"trial {row.number} {row.state}"))

    def on_note(self, text: str) -> None:
        self.screen.post_message(SweepNote(text))


class SweepScreen(Screen):
    """LR finder and sweep tabs."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="sweep.back"),
        Binding("ctrl+r", "run", "Run", id="sweep.run"),
        Binding("ctrl+s", "stop", "Stop", id="sweep.stop"),
        Binding("w,ctrl+o", "write_config", "Write LR config", id="sweep.write"),
        Binding("ctrl+t", "switch_tab", "Other tab", id="sweep.tab"),
    ]
    DEFAULT_CSS = """
    SweepScreen .form { height: 1; margin: 0 0 1 0; }
    SweepScreen .form Label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    SweepScreen .form Input { width: 1fr; }
    SweepScreen #lr-steps { width: 8; }
    SweepScreen .help { margin: 0 0 1 0; }
    SweepScreen #lr-plot { height: 1fr; min-height: 8; }
    SweepScreen #lr-result, SweepScreen #sweep-status { height: auto; max-height: 6; }
    SweepScreen #sweep-body { height: 1fr; }
    SweepScreen #sweep-table { width: 3fr; height: 1fr; }
    SweepScreen #sweep-plot { width: 2fr; height: 1fr; }
    """

    def __init__(self, *, config_path: Path | str | None = None,
                 sweep_path: Path | str | None = None) -> None:
        super().__init__()
        self.start_config = str(config_path) if config_path else ""
        self.start_sweep = str(sweep_path) if sweep_path else ""
        self.curve: Any = None
        self.curve_config: Path | None = None
        self.written: Path | None = None
        self.loaded: Any = None
        self.rows: list[Any] = []
        self.sweep_outcome: Any = None
        self._points: tuple[list[float], list[float]] = ([], [])
        self._lr_dirty = False
        self._lr_stop = threading.Event()
        self._sweep_control: Any = None
        self._reader_storage: Any = None
        self._buffers: dict[int, tuple[int, Any]] = {}
        self._highlighted: int | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        initial = "sweep-tab" if self.start_sweep and not self.start_config else "lr-tab"
        with TabbedContent(initial=initial, id="tabs"):
            with TabPane("LR finder", id="lr-tab"):
                yield Static(LR_HELP, classes="help")
                with Horizontal(classes="form"):
                    yield Label("Config")
                    yield Input(self.start_config, placeholder="examples/demo-tiny-gpt.yaml",
                                id="lr-config", compact=True)
                    yield Label(" Steps")
                    yield Input("100", id="lr-steps", compact=True, type="integer")
                plot = PlotextPlot(id="lr-plot")
                plot.can_focus = True  # it takes the focus from the fields, so `w` is a key
                yield plot
                yield Static("No range test yet.", id="lr-result", markup=False)
            with TabPane("Sweep", id="sweep-tab"):
                yield Static(SWEEP_HELP, classes="help")
                with Horizontal(classes="form"):
                    yield Label("Sweep file")
                    yield Input(self.start_sweep, placeholder="examples/sweep-demo.yaml",
                                id="sweep-file", compact=True)
                with Horizontal(id="sweep-body"):
                    yield DataTable(id="sweep-table", cursor_type="row", zebra_stripes=True)
                    yield MetricPlot("intermediate values by step", id="sweep-plot")
                yield Static("No sweep loaded.", id="sweep-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(LR_REDRAW_S, self._redraw_lr)
        self.set_interval(POLL_S, self._poll)
        self._focus_tab_input()
        if self.start_sweep:
            self._load_sweep()

    def _focus_tab_input(self) -> None:
        """The open tab's path field takes the keys (type a path, Enter)."""
        self.query_one("#lr-config" if self.active_tab == "lr" else "#sweep-file", Input).focus()

    @on(TabbedContent.TabActivated, "#tabs")
    def _tab_activated(self) -> None:
        self._focus_tab_input()

    def on_unmount(self) -> None:
        self._lr_stop.set()
        if self._sweep_control is not None:
            self._sweep_control.stop("the sweep screen was closed")

    @property
    def active_tab(self) -> str:
        return "sweep" if self.query_one("#tabs", TabbedContent).active == "sweep-tab" else "lr"

    # -------------------------------------------------------------------- actions

    def action_switch_tab(self) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        tabs.active = "lr-tab" if tabs.active == "sweep-tab" else "sweep-tab"

    def action_run(self) -> None:
        if self.active_tab == "lr":
            self._start_lr()
        else:
            self._start_sweep()

    def action_stop(self) -> None:
        if self.active_tab == "lr":
            self._lr_stop.set()
        elif self._sweep_control is not None:
            self._sweep_control.stop()
            self._status("stopping after the current step; the trial will be queued again")

    def action_write_config(self) -> None:
        from nt_tui.tuning.lr_finder import write_lr_config

        if self.curve is None or self.curve.suggestion is None or self.curve_config is None:
            self.notify("run the LR range test first (ctrl+r on the LR finder tab)",
                        severity="warning")
            return
        try:
            self.written = write_lr_config(self.curve_config, self.curve.suggestion)
        except NtTuiError as exc:
            self.notify(exc.one_line(), title="Cannot write", severity="error", timeout=8)
            return
        self.notify(f"optimizer.lr = {self.curve.suggestion.lr:g} written to {self.written}",
                    title="LR finder")
        self._show_suggestion()

    @on(Input.Submitted, "#lr-config, #lr-steps")
    def _lr_submitted(self) -> None:
        self._start_lr()

    @on(Input.Submitted, "#sweep-file")
    def _sweep_submitted(self) -> None:
        self._load_sweep()

    # ------------------------------------------------------------------ LR finder

    def _start_lr(self) -> None:
        text = self.query_one("#lr-config", Input).value.strip()
        steps_text = self.query_one("#lr-steps", Input).value.strip()
        if not text:
            self.notify("give the config to test", severity="warning")
            return
        if any(worker.group == "lr" and worker.is_running for worker in self.workers):
            self.notify("the range test is already running", severity="warning")
            return
        self._points = ([], [])
        self.curve, self.written = None, None
        self._lr_stop.clear()
        self.query_one("#lr-result", Static).update(f"Running the range test on {text} ...")
        self.query_one("#lr-plot", PlotextPlot).focus()
        self.lr_worker(Path(text), int(steps_text) if steps_text.isdigit() else 0)

    @work(thread=True, exclusive=True, exit_on_error=False, group="lr")
    def lr_worker(self, config_path: Path, steps: int) -> None:
        """The range test (torch, in this thread); progress and result as messages."""
        from nt_tui.commands.lr_find import prepare
        from nt_tui.tuning.lr_finder import DEFAULT_STEPS, run_range_test

        try:
            resolved = prepare(config_path)
            curve = run_range_test(
                resolved, steps=steps or DEFAULT_STEPS, should_stop=self._lr_stop.is_set,
                on_step=lambda step, lr, loss: self.post_message(LRPoint(step, lr, loss)))
        except NtTuiError as exc:
            self.post_message(WorkFailed("lr", exc.one_line()))
            return
        self.post_message(LRFinished(curve, config_path))

    def on_lrpoint(self, message: LRPoint) -> None:
        lrs, losses = self._points
        lrs.append(message.lr)
        losses.append(message.loss)
        self._lr_dirty = True

    def _redraw_lr(self) -> None:
        if not self._lr_dirty:
            return
        self._lr_dirty = False
        from nt_tui.tuning.lr_finder import smooth
        from nt_tui.tuning.lr_plot import draw_lr_curve

        lrs, losses = self._points
        smoothed = self.curve.smoothed if self.curve is not None else smooth(losses).tolist()
        suggested = self.curve.suggestion.lr if self.curve is not None else None
        plot = self.query_one("#lr-plot", PlotextPlot)
        draw_lr_curve(plot.plt, lrs, losses, smoothed, suggested)
        plot.refresh()

    def on_lrfinished(self, message: LRFinished) -> None:
        self.curve, self.curve_config = message.curve, message.config_path
        self._points = (list(message.curve.lrs), list(message.curve.losses))
        self._lr_dirty = True
        self._redraw_lr()
        self._show_suggestion()

    def _show_suggestion(self) -> None:
        from nt_tui.commands.lr_find import describe

        lines = [f"Stopped: {self.curve.stopped}", *describe(self.curve.suggestion)]
        lines.append(f"Wrote {self.written}" if self.written else
                     "Press w to write it into a new config.")
        self.query_one("#lr-result", Static).update("\n".join(lines))

    # ---------------------------------------------------------------------- sweep

    def _status(self, text: str) -> None:
        self.query_one("#sweep-status", Static).update(text)

    def _load_sweep(self) -> bool:
        """Read the sweep file in the input; the table then follows its storage."""
        from nt_tui.tuning.sweep_config import load_sweep

        text = self.query_one("#sweep-file", Input).value.strip()
        if not text:
            self.notify("give the sweep file", severity="warning")
            return False
        try:
            loaded = load_sweep(Path(text))
        except NtTuiError as exc:
            self.notify(exc.one_line(), title="Cannot load the sweep", severity="error",
                        timeout=8)
            self._status(f"Cannot load {text}: {exc.one_line()}")
            return False
        if self.loaded is None or loaded.storage_url != self.loaded.storage_url:
            self._reader_storage = None
            self._buffers.clear()
        self.loaded = loaded
        spec = loaded.spec
        self._status(f"{loaded.study_name}: {spec.method}, {spec.target_trials()} trials, "
                     f"storage {loaded.storage_url}. ctrl+r runs or resumes it.")
        self._poll()
        return True

    def _start_sweep(self) -> None:
        from nt_tui.tuning.sweep import SweepControl

        if any(worker.group == "sweep" and worker.is_running for worker in self.workers):
            self.notify("the sweep is already running", severity="warning")
            return
        if not self._load_sweep():
            return
        self._sweep_control = SweepControl()
        self.sweep_outcome = None
        self.query_one("#sweep-table", DataTable).focus()
        self.sweep_worker(self.loaded, self._sweep_control)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sweep")
    def sweep_worker(self, loaded: Any, control: Any) -> None:
        """Run or resume the sweep (optuna and torch, in this thread)."""
        from nt_tui.tuning.sweep import SweepRunner

        try:
            outcome = SweepRunner(loaded, listener=_ScreenSweepListener(self),
                                  control=control).run()
        except NtTuiError as exc:
            self.post_message(WorkFailed("sweep", exc.one_line()))
            return
        self.post_message(SweepFinished(outcome))

    def on_sweep_note(self, message: SweepNote) -> None:
        self._status(message.text)
        self._poll()

    def on_sweep_finished(self, message: SweepFinished) -> None:
        outcome = self.sweep_outcome = message.outcome
        best = outcome.best
        text = (f"Sweep {outcome.status}: {len(outcome.rows)} trials."
                + (f" Best: trial {best.number}, {best.value:.4f} ({best.run_dir})"
                   if best else ""))
        if outcome.status == "interrupted":
            text += " ctrl+r resumes it."
        self._status(text)
        self.on_trials_read(TrialsRead(outcome.rows))

    def _poll(self) -> None:
        if self.loaded is not None and self.is_mounted:
            self.poll_worker(self.loaded)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sweep-poll")
    def poll_worker(self, loaded: Any) -> None:
        """Read the trials from the storage (the storage object is kept between polls)."""
        from nt_tui.tuning.sweep import open_storage, read_trials

        try:
            url = loaded.storage_url
            if self._reader_storage is None and not (url.startswith("sqlite:///") and not Path(
                    url.removeprefix("sqlite:///")).exists()):
                self._reader_storage = open_storage(url)
            rows = read_trials(loaded, self._reader_storage) if self._reader_storage else []
        except NtTuiError as exc:
            self.post_message(WorkFailed("sweep", exc.one_line()))
            return
        self.post_message(TrialsRead(rows))

    def on_trials_read(self, message: TrialsRead) -> None:
        self.rows = message.rows
        self._fill_table()
        self._draw_curves()

    def _fill_table(self) -> None:
        from nt_tui.tuning.sweep import format_value

        table = self.query_one("#sweep-table", DataTable)
        keys = list(self.loaded.spec.parameters) if self.loaded is not None else []
        if not table.columns:
            metric = self.loaded.spec.metric if self.loaded is not None else "value"
            table.add_columns("trial", "state", metric, "steps",
                              *(key.rsplit(".", 1)[-1] for key in keys), "seed")
        table.clear()
        for row in self.rows:
            shown = row.value if row.value is not None else row.last
            value = "-" if shown is None else f"{shown:.4f}" + ("" if row.value is not None
                                                                   else "*")
            table.add_row(str(row.number), row.state, value,
                          "-" if row.steps is None else str(row.steps),
                          *(format_value(row.params.get(key, "")) for key in keys),
                          "" if row.seed is None else str(row.seed), key=str(row.number))
        if self._highlighted is not None:
            numbers = [row.number for row in self.rows]
            if self._highlighted in numbers:
                table.move_cursor(row=numbers.index(self._highlighted), animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            self._highlighted = int(event.row_key.value)
            self._draw_curves()

    def _buffer(self, row: Any) -> Any:
        """The trial's intermediate values as a RunBuffer (rebuilt when it grew)."""
        import numpy as np

        from nt_tui.analysis.metric_buffer import RunBuffer

        cached = self._buffers.get(row.number)
        if cached is not None and cached[0] == len(row.curve):
            return cached[1]
        buffer = RunBuffer(f"trial {row.number}")
        if row.curve:
            steps, values = zip(*row.curve)
            buffer.extend(np.array(steps, dtype=float), {"value": np.array(values)})
        self._buffers[row.number] = (len(row.curve), buffer)
        return buffer

    def _draw_curves(self) -> None:
        from nt_tui.tui.widgets.chart import Trace

        drawn = [row for row in self.rows if row.curve][:MAX_CURVES]
        highlighted = next((row for row in self.rows if row.number == self._highlighted
                            and row.curve), None)
        if highlighted is not None and highlighted not in drawn:
            drawn.append(highlighted)
        traces = []
        for rank, row in enumerate(drawn):
            color = "accent" if row is highlighted else ("success" if rank == 0 and
                                                         row.state == "complete" else "primary")
            traces.append(Trace(self._buffer(row), "value", f"trial {row.number}", color,
                                smooth=False))
        # the highlighted curve last, drawn over the others
        traces.sort(key=lambda trace: trace.color == "accent")
        self.query_one("#sweep-plot", MetricPlot).set_traces(traces)

    # --------------------------------------------------------------------- errors

    def on_work_failed(self, message: WorkFailed) -> None:
        if message.tab == "lr":
            self.query_one("#lr-result", Static).update(f"Cannot run: {message.message}")
        else:
            self._status(f"Cannot run: {message.message}")
        self.notify(message.message, severity="error", timeout=8)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.group in ("lr", "sweep",
                                                                       "sweep-poll"):
            error = event.worker.error
            self.post_message(WorkFailed("lr" if event.worker.group == "lr" else "sweep",
                                         f"{type(error).__name__}: {error}"))
