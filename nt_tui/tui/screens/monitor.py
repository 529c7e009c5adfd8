"""The live monitor: charts, numbers and warnings of a training run or of followed logs.

Data comes from a feed (`nt_tui.tui.feeds`): nt-tui's engine training in a worker thread, a
followed log (any format nt-tui reads, several runs overlaid), or any object with the same
shape (tests use a recorded one). The feed's thread puts updates into an inbox and posts a
`DataArrived` message; this screen drains the inbox into its run buffers, which keep the full
history, and redraws on a 4 Hz timer only what changed (and nothing while hidden).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.validation import Function
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState, get_current_worker

from nt_tui.analysis.downsample import DEFAULT_SMOOTHING
from nt_tui.analysis.metric_buffer import RunBuffer
from nt_tui.errors import NtTuiError
from nt_tui.safetext import clean
from nt_tui.tui.feeds import EngineFeed, Feed, FollowFeed, Inbox, RunUpdate
from nt_tui.tui.screens._common import open_screen
from nt_tui.tui.widgets.chart import ChartView, data_x_range, format_x, zoomed_range
from nt_tui.tui.widgets.chart_specs import chart_specs, compile_filter, traces_for
from nt_tui.tui.widgets.confirm import ConfirmDialog
from nt_tui.tui.widgets.metric_plot import MetricPlot
from nt_tui.tui.widgets.sparklines import LiveNumbers
from nt_tui.tui.widgets.warnings_panel import LISTED_KINDS, Alert, WarningsPanel

#: Seconds between redraws (the issue: "a few times per second").
REFRESH_S = 0.25
#: Smoothing weights `[` and `]` step through (TensorBoard's slider range).
SMOOTHING_STEPS = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99, 0.999)
#: Zoom presets `z` cycles through: the last N steps, or N seconds of wall time.
ZOOM_STEPS = (100, 1_000, 10_000, 100_000, 1_000_000)
ZOOM_SECONDS = (60, 600, 3_600, 36_000)
X_MODE_ORDER = ("step", "relative", "wall")
#: Events that end a run, and how the header of a followed run says so.
ENDED = {"finish": "finished", "stop": "stopped", "failure": "failed"}
ENDINGS = tuple(ENDED)
X_MODE_NAMES = {"step": "step", "relative": "relative step", "wall": "wall time"}
#: Rows of a chart below which the grid stops shrinking charts and scrolls instead.
MIN_CHART_ROWS = 7
#: Folder `open_area("monitor")` lists recent runs from.
RUNS_DIR = "runs"
RECENT_RUNS = 20
#: State shown in the header -> (symbol, style).
STATES = {
    "starting": ("◌", "bold"), "running": ("●", "bold green"), "pausing": ("◌", "bold yellow"),
    "paused": ("❚❚", "bold yellow"), "stopping": ("◌", "bold yellow"),
    "finished": ("✔", "bold green"), "stopped": ("■", "bold yellow"),
    "failed": ("✖", "bold red"), "following": ("◉", "bold cyan"),
}


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    return format_x(seconds, "wall")


def recent_runs(root: Path, limit: int = RECENT_RUNS) -> list[Path]:
    """nt-tui run directories under `root`, newest first."""
    from nt_tui.runfmt import is_run_dir

    if not root.is_dir():
        return []
    runs = [path for path in root.iterdir() if is_run_dir(path)]
    runs.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    return runs[:limit]


@dataclass
class Prompt:
    """What the bottom input line is asking for."""

    kind: str  # "filter" or "zoom"
    label: str


class MonitorScreen(Screen):
    """Charts, numbers and warnings of one live run or of followed logs.

    Give one of: `resolved` (train this config here; `resume=RUN_DIR` continues a run),
    `path` (follow a log file or folder), or `feed` (any object shaped like
    `nt_tui.tui.feeds.Feed`). With none, the screen lists recent runs to follow.
    """

    #: Most used first: a narrow footer shows what fits (`?` lists every key).
    BINDINGS = [
        Binding("space,p", "toggle_pause", "Pause", id="monitor.pause"),
        Binding("x", "stop", "Stop", id="monitor.stop"),
        Binding("c", "checkpoint", "Checkpoint", id="monitor.checkpoint"),
        Binding("a", "ask", "Ask", tooltip="Ask the diagnostician about the warning",
                id="monitor.ask"),
        Binding("d", "diagnose", "Diagnose", id="monitor.diagnose"),
        Binding("k", "knowledge", "Read more", show=False, id="monitor.knowledge"),
        Binding("l", "toggle_log", "Log y", id="monitor.log"),
        Binding("left_square_bracket", "smoothing(-1)", "Smooth-", key_display="[",
                id="monitor.smooth_less"),
        Binding("right_square_bracket", "smoothing(1)", "Smooth+", key_display="]",
                id="monitor.smooth_more"),
        Binding("z", "zoom", "Zoom", id="monitor.zoom"),
        Binding("Z", "zoom_to", "Zoom to N", show=False, id="monitor.zoom_to"),
        Binding("t", "x_axis", "X axis", id="monitor.x_axis"),
        Binding("slash,f", "filter", "Filter", id="monitor.filter"),
        Binding("r", "next_run", "Next run", show=False, id="monitor.next_run"),
        Binding("s", "summary", "Summary", show=False, id="monitor.summary"),
        Binding("escape", "back", "Back", id="monitor.back"),
        Binding("q", "quit", "Quit", id="monitor.quit"),
    ]
    DEFAULT_CSS = """
    MonitorScreen #status { height: 1; padding: 0 1; background: $panel; }
    MonitorScreen #chart-scroll { height: 1fr; }
    MonitorScreen #charts { grid-size: 2; grid-gutter: 0 2; height: auto; padding: 0 1; }
    MonitorScreen #numbers { border-top: hkey $panel; }
    MonitorScreen #warnings { border-top: hkey $panel; }
    MonitorScreen #prompt { dock: bottom; display: none; }
    MonitorScreen #prompt.-shown { display: block; }
    MonitorScreen #picker-help { padding: 1 1 0 1; }
    MonitorScreen #recent { height: 1fr; margin: 1 1 0 1; }
    MonitorScreen #path { margin: 0 1; }
    """

    class DataArrived(Message):
        """The feed put new data into the inbox (a backlog of these collapses into one)."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, MonitorScreen.DataArrived)

    def __init__(self, *, path: Path | str | None = None, resolved: Any = None,
                 resume: Path | str | None = None, feed: Feed | None = None) -> None:
        super().__init__()
        if feed is None and resolved is not None:
            feed = EngineFeed(resolved, resume=Path(resume) if resume else None)
        elif feed is None and path is not None:
            path = Path(path).expanduser()
            if not path.exists():
                raise NtTuiError(f"nothing to monitor at {path}: no such file or folder",
                                 hint="give a run directory or a log file")
            feed = FollowFeed(path)
        self.feed = feed
        self.inbox = Inbox(self._notify_data)
        self.runs: dict[str, RunBuffer] = {}
        self.run_info: dict[str, dict[str, Any]] = {}
        self.focus_run: str | None = None
        self.state = "starting" if feed is not None and feed.control else "following"
        self.summary: dict[str, Any] | None = None
        self.smoothing = DEFAULT_SMOOTHING
        self.log_y = False
        self.x_mode = "step"
        self.last_n: float | None = None
        self.filter_text = ""
        self.prompt: Prompt | None = None
        self._chart_ids: tuple[str, ...] = ()
        self._metrics_seen: tuple = ()
        self._problems_shown: set[str] = set()
        #: (run, symptom) pairs already offered to the diagnostician (one toast each)
        self._offered: set[tuple[str, str]] = set()
        #: the stop / leave question this screen has open, if any
        self._dialog: ConfirmDialog | None = None
        self._timer = None

    # --------------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        if self.feed is None:
            yield from self._compose_picker()
            return
        yield Static("", id="status")
        with VerticalScroll(id="chart-scroll"):
            yield Grid(id="charts")
        yield LiveNumbers(id="numbers")
        yield WarningsPanel(id="warnings")
        yield Input(id="prompt")
        yield Footer()

    def _compose_picker(self) -> ComposeResult:
        runs = recent_runs(Path.cwd() / RUNS_DIR)
        yield Static(" [b]Monitor[/b]: pick a run to follow live", id="status")
        yield Static(
            "Recent nt-tui runs under ./runs are listed below. Or type the path of any log "
            "nt-tui reads (an nt-tui run directory, a Hugging Face trainer_state.json, a "
            "Lightning metrics.csv, TensorBoard events, a CSV/JSONL log, or a folder of many "
            "runs) and press Enter.", id="picker-help")
        recent = OptionList(*(Option(str(path), id=str(path)) for path in runs), id="recent")
        if not runs:
            recent.add_option(Option("(no runs under ./runs yet)", disabled=True))
        yield recent
        yield Input(placeholder="path of a run directory or log file", id="path")
        yield Footer()

    def on_mount(self) -> None:
        if self.feed is None:
            return
        self._timer = self.set_interval(REFRESH_S, self.refresh_view)
        self._sync_charts()
        self.refresh_view()
        self._run_feed()

    def on_screen_suspend(self) -> None:
        if self._timer is not None:
            self._timer.pause()

    def on_screen_resume(self) -> None:
        if self._timer is not None:
            self._timer.resume()
            self.refresh_view()

    def on_unmount(self) -> None:
        control = self.feed.control if self.feed is not None else None
        if control is not None and self.live:
            control.stop("the monitor was closed")

    def on_resize(self) -> None:
        self._size_charts()

    # ---------------------------------------------------------------- feed thread

    def _notify_data(self) -> None:
        self.post_message(self.DataArrived())

    @work(thread=True, exclusive=True, exit_on_error=False, group="training")
    def _run_feed(self) -> dict[str, Any] | None:
        worker = get_current_worker()
        assert self.feed is not None
        return self.feed.run(self.inbox, lambda: worker.is_cancelled)

    @property
    def live(self) -> bool:
        """A training run of this process is still going."""
        return self.state in ("starting", "running", "pausing", "paused", "stopping")

    def on_monitor_screen_data_arrived(self, message: DataArrived) -> None:
        message.stop()
        self.drain()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "training":
            return
        if event.state == WorkerState.SUCCESS:
            self.drain()
            if isinstance(event.worker.result, dict):
                self._finished(event.worker.result)
        elif event.state == WorkerState.ERROR:
            self.drain()
            self._failed(event.worker.error)

    def drain(self) -> None:
        """Move everything the feed delivered into the run buffers."""
        alerts: list[Alert] = []
        for update in self.inbox.drain():
            alerts.extend(self._apply(update))
        metrics = tuple((name, tuple(run.metrics)) for name, run in self.runs.items())
        if metrics != self._metrics_seen:
            self._metrics_seen = metrics
            self._sync_charts()
        if alerts:
            self.query_one(WarningsPanel).add_alerts(alerts)

    def _apply(self, update: RunUpdate) -> list[Alert]:
        for problem in update.problems:
            if problem not in self._problems_shown:
                self._problems_shown.add(problem)
                self.notify(clean(problem), title="Cannot read", severity="warning",
                            timeout=8, markup=False)
        if not update.run:
            return []
        run = self.runs.get(update.run)
        fresh = run is not None or self.live
        if run is None or update.reset:
            run = self.runs[update.run] = RunBuffer(update.run, self.smoothing)
            self.focus_run = self.focus_run or update.run
        self.run_info.setdefault(update.run, {}).update(update.info)
        for record in update.records:
            run.append(record)
        if update.steps is not None:
            run.extend(update.steps, update.columns, update.elapsed)
        alerts = []
        for event in update.events:
            run.add_event(event)
            if event.get("kind") in ENDINGS:
                self.run_info[update.run]["ended"] = event["kind"]
            self._on_event(update.run, event, fresh)
            if event.get("kind") in LISTED_KINDS:
                alerts.append(Alert(update.run, event))
        return alerts

    def _on_event(self, run: str, event: dict[str, Any], fresh: bool) -> None:
        """Follow the run's state from its events; toast what needs the user now (`fresh`:
        not part of a followed log's history read on opening)."""
        from nt_tui.advisors.activation import offer_for_event

        kind = event.get("kind")
        offer = offer_for_event(event) if fresh else None
        if offer is not None and (run, offer.symptom) not in self._offered:
            # Auto-activation: NaN, explosion, instability, plateau, overfitting offer the
            # diagnostician (once per symptom and run; the panel keeps every warning).
            self._offered.add((run, offer.symptom))
            critical = kind == "failure" or event.get("severity") == "critical"
            self.notify(f"{clean(event.get('message') or offer.question)}\n"
                        "a: ask the diagnostician · d: diagnosis wizard · k: read more",
                        title="Critical warning" if critical else "Warning",
                        severity="error" if critical else "warning", timeout=10,
                        markup=False)
        if self.feed is None or self.feed.control is None:
            return
        if kind in ("start", "resume", "unpause"):
            self.state = "running"
        elif kind == "pause":
            self.state = "paused"
        elif kind == "checkpoint":
            self.notify(clean(event.get("message") or "checkpoint saved"), title="Checkpoint",
                        timeout=3, markup=False)

    def _finished(self, summary: dict[str, Any]) -> None:
        self.summary = summary
        self.state = str(summary.get("status") or "finished")
        if self.state not in STATES:
            self.state = "finished"
        self.refresh_view()
        if self._dialog is not None and self.app.screen is self._dialog:
            # "Stop training?" / "stop and leave?" is moot now: close it, show the summary.
            self._dialog = None
            self.app.pop_screen()
        if self.app.screen is self:
            self.action_summary()
        else:  # the user is elsewhere (a wizard, a dialog): do not pull them away
            self.notify(f"the run {self.state}: s in the monitor shows the summary",
                        title="Training ended",
                        severity="error" if self.state == "failed" else "information",
                        timeout=10)

    def _failed(self, error: BaseException | None) -> None:
        from nt_tui.tui.screens.summary import failure_summary

        run = self.runs.get(self.focus_run or "") if self.focus_run else None
        info = self.run_info.get(self.focus_run or "", {})
        self._finished(failure_summary(error, run, info, self.feed))

    # ------------------------------------------------------------------- drawing

    def _ordered_runs(self) -> list[RunBuffer]:
        return list(self.runs.values())

    def _sync_charts(self) -> None:
        """Mount the charts the runs and the filter call for (when that set changed)."""
        if self.feed is None:
            return
        runs = self._ordered_runs()
        metrics = list(dict.fromkeys(m for run in runs for m in run.metrics))
        try:
            pattern = compile_filter(self.filter_text)
        except Exception:  # noqa: BLE001 - the prompt refuses bad patterns; stay safe
            pattern = None
        specs = chart_specs(metrics, pattern, keep_empty=self.feed.control is not None)
        grid = self.query_one("#charts", Grid)
        ids = tuple(spec.id for spec in specs)
        view = self._view()
        if ids != self._chart_ids:
            self._chart_ids = ids
            grid.remove_children()
            grid.mount_all(MetricPlot(spec.title, traces_for(spec, runs), view)
                           for spec in specs)
            self._size_charts()
        else:
            for spec, plot in zip(specs, grid.query(MetricPlot)):
                plot.set_traces(traces_for(spec, runs))

    def _size_charts(self) -> None:
        """Two columns; up to two rows share the height, more rows scroll."""
        if self.feed is None:
            return
        grid = self.query_one("#charts", Grid)
        rows = max(1, -(-len(self._chart_ids) // 2))
        available = self.query_one("#chart-scroll").size.height
        if rows <= 2 or not available:
            grid.styles.grid_rows = "1fr"
            grid.styles.height = "100%"
            return
        row_height = max(MIN_CHART_ROWS, available // 2)
        grid.styles.grid_rows = str(row_height)
        grid.styles.height = row_height * rows

    def _view(self) -> ChartView:
        runs = self._ordered_runs()
        full = data_x_range(runs, self.x_mode)
        return ChartView(self.x_mode, zoomed_range(full, self.last_n), self.log_y)

    def refresh_view(self) -> None:
        """The timer's tick: redraw what changed (charts, numbers, header)."""
        if self.feed is None or not self.is_mounted:
            return
        view = self._view()
        for plot in self.query(MetricPlot):
            plot.view = view
            plot.refresh_if_stale()
        run = self.runs.get(self.focus_run) if self.focus_run else None
        self.query_one(LiveNumbers).show_run(run)
        self.query_one("#status", Static).update(self.status_text())

    def status_text(self) -> Text:
        """Header: state, run, step / total, elapsed, ETA, then the view settings."""
        symbol, style = STATES.get(self.state, ("?", "bold"))
        run = self.runs.get(self.focus_run) if self.focus_run else None
        info = self.run_info.get(self.focus_run or "", {})
        title = self.focus_run or (self.feed.title if self.feed else "")
        parts: list[tuple[str, str]] = [(f"{symbol} {self.state}  ", style),
                                        (clean(title), "bold")]
        if self.state == "following" and info.get("ended"):
            parts.append((f" ({ENDED[info['ended']]})", "dim"))
        if len(self.runs) > 1:
            parts.append((f" (+{len(self.runs) - 1} runs, r: next)", "dim"))
        total = info.get("total_steps") or (self.feed.total_steps if self.feed else None)
        if run is not None and run.last_step is not None:
            step = run.last_step
            if total:
                parts.append((f"  step {step:,}/{total:,} ({step / total:.0%})", ""))
            else:
                parts.append((f"  step {step:,}", ""))
            parts.append((f"  elapsed {_duration(run.elapsed)}", ""))
            eta = run.latest.get("eta_s")
            if eta is not None and self.live:
                parts.append((f"  ETA {_duration(eta[1])}", ""))
        elif self.live and total:
            parts.append((f"  step 0/{total:,}  starting: building the model and data", ""))
        zoom = "all" if self.last_n is None else (
            _duration(self.last_n) if self.x_mode == "wall" else f"last {self.last_n:,.0f}")
        settings = (f"   smoothing {self.smoothing:g} · x {X_MODE_NAMES[self.x_mode]} · "
                    f"zoom {zoom}" + (" · log y" if self.log_y else "")
                    + (f" · filter /{self.filter_text}/" if self.filter_text else ""))
        parts.append((settings, "dim"))
        width = max(self.size.width - 2, 20)
        text = Text(no_wrap=True, overflow="ellipsis")
        for part, part_style in parts:
            if text.cell_len + len(part) > width and part_style == "dim":
                break
            text.append(part, style=part_style)
        text.truncate(width)
        return text

    # ------------------------------------------------------------------- actions

    def action_back(self) -> None:
        if self.prompt is not None:
            self._close_prompt()
            return
        self._leave(self.app.pop_screen, "leave the monitor")

    def action_quit(self) -> None:
        self._leave(self.app.exit, "quit nt-tui")

    def _leave(self, then: Any, what: str) -> None:
        """Leave now, or, while this screen trains, after confirming that the run stops."""
        control = self.feed.control if self.feed is not None else None
        if not (self.live and control is not None):
            then()
            return

        def leave(confirmed: bool | None) -> None:
            if confirmed:
                control.stop("the monitor was closed")
                then()
        self._ask_first(ConfirmDialog(
            f"Training is running. Stop it and {what}?",
            "The run stops after the current step and writes a final checkpoint; "
            "`nt-tui train --resume RUN_DIR` continues it.",
            yes=f"stop and {what.split()[0]}", no="keep watching"), leave)

    def _ask_first(self, dialog: ConfirmDialog, then: Any) -> None:
        """Push a question about the run (closed by `_finished` if the run ends first)."""
        def answered(confirmed: bool | None) -> None:
            self._dialog = None
            then(confirmed)
        self._dialog = dialog
        self.app.push_screen(dialog, answered)

    def _control(self) -> Any:
        control = self.feed.control if self.feed is not None else None
        if control is None:
            self.notify("this monitor follows a log: pause, stop and checkpoint apply only "
                        "to a run started here", severity="warning")
            return None
        if not self.live:
            self.notify(f"the run has {self.state}", severity="warning")
            return None
        return control

    #: actions that steer a run trained here; a followed log has nothing to steer
    ENGINE_ACTIONS = frozenset({"toggle_pause", "stop", "checkpoint"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide pause/stop/checkpoint (footer and keys) while following another tool's log."""
        if action in self.ENGINE_ACTIONS and self.feed is not None and self.feed.control is None:
            return False
        return True

    def action_toggle_pause(self) -> None:
        control = self._control()
        if control is None:
            return
        if control.paused:
            control.resume()
            self.state = "running"
        else:
            control.pause()
            self.state = "pausing"
        self.refresh_view()

    def action_stop(self) -> None:
        control = self._control()
        if control is None:
            return

        def stop(confirmed: bool | None) -> None:
            if confirmed and self.live:  # the run may have ended while the dialog was open
                control.stop()
                self.state = "stopping"
                self.refresh_view()
        self._ask_first(ConfirmDialog(
            "Stop training now?",
            "The run stops after the current step, writes a final checkpoint and can be "
            "resumed with `nt-tui train --resume RUN_DIR`.", yes="stop", no="keep training"),
            stop)

    def action_checkpoint(self) -> None:
        control = self._control()
        if control is not None:
            control.checkpoint_now()
            self.notify("checkpoint requested: written after the current step", timeout=3)

    def action_toggle_log(self) -> None:
        self.log_y = not self.log_y
        self.refresh_view()

    def action_smoothing(self, direction: int) -> None:
        steps = SMOOTHING_STEPS
        index = min(range(len(steps)), key=lambda i: abs(steps[i] - self.smoothing))
        self.set_smoothing(steps[min(max(index + direction, 0), len(steps) - 1)])

    def set_smoothing(self, weight: float) -> None:
        self.smoothing = weight
        for run in self.runs.values():
            run.set_smoothing(weight)
        self.refresh_view()

    def action_zoom(self) -> None:
        """Cycle: everything, then the last N steps (or seconds) for N that fit the data."""
        full = data_x_range(self._ordered_runs(), self.x_mode)
        span = (full[1] - full[0]) if full else 0.0
        presets = [n for n in (ZOOM_SECONDS if self.x_mode == "wall" else ZOOM_STEPS)
                   if n < span]
        cycle: list[float | None] = [None, *sorted(presets, reverse=True)]
        position = cycle.index(self.last_n) if self.last_n in cycle else 0
        self.last_n = cycle[(position + 1) % len(cycle)]
        self.refresh_view()

    def action_zoom_to(self) -> None:
        unit = "seconds" if self.x_mode == "wall" else "steps"
        self._open_prompt(Prompt("zoom", f"show the last N {unit} (empty: everything)"))

    def action_x_axis(self) -> None:
        order = X_MODE_ORDER
        mode = order[(order.index(self.x_mode) + 1) % len(order)]
        if mode == "wall" and not any(run.has_wall_time() for run in self.runs.values()):
            mode = order[(order.index(mode) + 1) % len(order)]
            self.notify("these logs have no times: wall-time axis unavailable",
                        severity="warning")
        self.x_mode = mode
        self.last_n = None
        self.refresh_view()

    def action_filter(self) -> None:
        self._open_prompt(Prompt("filter", "metric filter, a regular expression "
                                           "(empty: the default charts)"))

    def action_next_run(self) -> None:
        names = list(self.runs)
        if len(names) > 1 and self.focus_run in names:
            self.focus_run = names[(names.index(self.focus_run) + 1) % len(names)]
            self.refresh_view()

    def action_summary(self) -> None:
        if self.summary is None:
            self.notify("the summary appears when the run ends", severity="warning")
            return
        from nt_tui.tui.screens.summary import SummaryScreen

        run = self.runs.get(self.focus_run) if self.focus_run else None
        self.app.push_screen(SummaryScreen(summary=self.summary, run=run))

    def _selected_alert(self) -> Alert | None:
        return self.query_one(WarningsPanel).selected if self.feed is not None else None

    def run_path(self, run: str | None) -> str | None:
        """Where a run's log lives (what the diagnosis wizard reads)."""
        info = self.run_info.get(run or "", {})
        if info.get("run_dir"):
            return str(info["run_dir"])
        if info.get("path"):
            return str(info["path"])
        if isinstance(self.feed, FollowFeed):
            return str(self.feed.path)
        return None

    def action_diagnose(self) -> None:
        from nt_tui.analysis.diagnosis.vocabulary import WARNING_SYMPTOMS

        alert = self._selected_alert()
        run = alert.run if alert else self.focus_run
        path = self.run_path(run)
        if path is None:
            self.notify("no run directory yet: wait for the run to start", severity="warning")
            return
        codes = [alert.code] if alert else [
            str(e.get("code")) for e in self.runs[run].events if e.get("kind") == "warning"
        ] if run in self.runs else []
        symptoms = list(dict.fromkeys(WARNING_SYMPTOMS[c] for c in codes
                                      if c in WARNING_SYMPTOMS))
        self.app.open_area("diagnose", path=path, symptoms=symptoms)

    def action_ask(self) -> None:
        """Ask the diagnostician about the highlighted warning (else the run's latest warning
        that calls for it), with the run's log as evidence."""
        from nt_tui.advisors.activation import offer_for_event

        alert = self._selected_alert()
        run = alert.run if alert else self.focus_run
        events = [alert.event] if alert else list(reversed(
            self.runs[run].events)) if run in self.runs else []
        offer = next((o for o in map(offer_for_event, events) if o is not None), None)
        path = self.run_path(run)
        if offer is None and path is None:
            self.notify("nothing to ask about yet: wait for the run to start",
                        severity="warning")
            return
        question = offer.question if offer is not None else (
            f"{alert.label}: {alert.event.get('message', '')}" if alert else
            "is this run training well?")
        self.app.open_area("ask", text=clean(question), advisor="diagnostician", run=path)

    def action_knowledge(self) -> None:
        alert = self._selected_alert()
        if alert is None or not alert.knowledge:
            self.notify("no warning selected: the knowledge links come with warnings",
                        severity="warning")
            return
        self.app.open_knowledge(alert.knowledge)

    def on_warnings_panel_open(self, message: WarningsPanel.Open) -> None:
        if message.target == "knowledge":
            self.action_knowledge()
        elif message.target == "ask":
            self.action_ask()
        else:
            self.action_diagnose()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id == "warnings":
            event.stop()
            self.action_diagnose()
        elif event.option_list.id == "recent" and event.option.id:
            event.stop()
            self._follow(event.option.id)

    # -------------------------------------------------------------------- prompt

    def _open_prompt(self, prompt: Prompt) -> None:
        if self.feed is None:
            return
        self.prompt = prompt
        field = self.query_one("#prompt", Input)
        field.placeholder = prompt.label
        field.validators = [Function(self._prompt_valid, "not valid here")]
        field.value = self.filter_text if prompt.kind == "filter" else ""
        field.add_class("-shown")
        field.focus()

    def _close_prompt(self) -> None:
        self.prompt = None
        field = self.query_one("#prompt", Input)
        field.remove_class("-shown")
        self.query_one("#warnings").focus()

    def _prompt_valid(self, text: str) -> bool:
        if self.prompt is None:
            return True
        if self.prompt.kind == "filter":
            try:
                compile_filter(text)
            except Exception:  # noqa: BLE001 - re.error: an invalid pattern
                return False
            return True
        text = text.strip().replace(",", "").replace("_", "")
        if not text:
            return True
        try:
            return float(text) > 0
        except ValueError:
            return False

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "path":
            if event.value.strip():
                self._follow(event.value.strip())
            return
        if self.prompt is None:
            return
        if event.validation_result is not None and not event.validation_result.is_valid:
            self.notify(f"not a valid {self.prompt.kind}: {event.value!r}", severity="error")
            return
        if self.prompt.kind == "filter":
            self.filter_text = event.value.strip()
            self._sync_charts()
        else:
            text = event.value.strip().replace(",", "").replace("_", "")
            self.last_n = float(text) if text else None
        self._close_prompt()
        self.refresh_view()

    def _follow(self, path: str) -> None:
        open_screen(self.app, lambda: MonitorScreen(path=path), title="Cannot follow",
                    switch=True)

