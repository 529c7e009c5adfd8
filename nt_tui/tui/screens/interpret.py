"""Interpret curves: plots first, then the numbers, then ranked conclusions, for any log.

The work is `nt_tui.analysis.curves.interpret` (no UI), the same as `nt-tui analyze`; reading
and interpreting run in a thread worker that reports with a message. A path that cannot be
read becomes a notification and the screen stays open for another one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from nt_tui.errors import NtTuiError
from nt_tui.safetext import clean
from nt_tui.tui.widgets.chart import ChartView, Trace
from nt_tui.tui.widgets.metric_plot import MetricPlot

#: Charts drawn (in order) when the run has the metric: title, metrics, colours.
CHARTS = (("loss", ("train_loss", "val_loss"), ("primary", "accent")),
          ("learning rate", ("lr",), ("secondary",)),
          ("grad norm", ("grad_norm",), ("success",)),
          ("throughput", ("throughput", "tokens_per_s"), ("warning", "warning")))
CHART_METRICS = tuple(metric for _, metrics, _ in CHARTS for metric in metrics)
BASELINE_COLOUR = "foreground"
SEVERITY_STYLE = {"critical": "bold red", "warning": "bold yellow", "info": "cyan",
                  "good": "green"}


@dataclass
class Interpreted(Message):
    history: Any
    baseline: Any
    result: Any


@dataclass
class InterpretFailed(Message):
    message: str


def numbers_text(result: Any) -> str:
    """The numbers of an interpretation as console markup lines."""
    from nt_tui.analysis.diagnosis.numbers import num, pct, step

    lines = [f"[b]{escape(clean(result.run))}[/b]  {result.format}, {step(result.steps)} steps"]
    for curve in result.curves.values():
        fit = curve.trend
        lines.append(
            f"{curve.metric}: {num(curve.first)} -> {num(curve.last)} (level "
            f"{num(curve.level)}, min {num(curve.minimum)} @ {step(curve.min_step)})"
            + (f"; last {fit.points} pts {pct(fit.relative_change)}, slope "
               f"{num(fit.slope_per_1k)}/1k, CV {pct(fit.cv)}" if fit else "")
            + (f"; plateau since {step(curve.plateau_since)}" if curve.plateau_since is not None
               else "") + f"; spikes {len(curve.spikes)}")
    val = result.validation
    if val is not None:
        lines.append(f"val best {num(val.best)} @ {step(val.best_step)}, last {num(val.last)} "
                     f"({pct(val.rise_since_best)} above best)"
                     + (f", overfitting from {step(val.overfit_onset_step)}"
                        if val.overfit_onset_step is not None else ""))
    if result.lr is not None:
        lines.append(f"lr peak {num(result.lr.peak)} @ {step(result.lr.peak_step)}, now "
                     f"{pct(result.lr.last_share)} of peak")
    if result.throughput is not None:
        lines.append(f"{result.throughput.metric} median {num(result.throughput.median)}, "
                     f"CV {pct(result.throughput.cv)}")
    lines += [f"read note: {escape(clean(note))}" for note in result.notes]
    return "\n".join(lines)


class InterpretScreen(Screen):
    """Curves of one run (and a baseline), their numbers and ranked conclusions. `path` and
    `baseline` are logs in any format nt-tui reads."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="interpret.back"),
        Binding("ctrl+r", "reload", "Reload", id="interpret.reload"),
        Binding("ctrl+s", "export", "Save report", id="interpret.export"),
        Binding("ctrl+l", "toggle_log", "Log y", id="interpret.log_y"),
    ]
    DEFAULT_CSS = """
    InterpretScreen #paths { height: auto; padding: 0 1; }
    InterpretScreen #paths Input { width: 1fr; }
    InterpretScreen #charts { height: 2fr; }
    InterpretScreen .chart { height: 1fr; min-height: 5; }
    InterpretScreen #below { height: 1fr; }
    InterpretScreen #numbers { width: 1fr; padding: 0 1; }
    InterpretScreen #conclusions { width: 1fr; }
    """

    def __init__(self, *, path: Path | str | None = None, baseline: Path | str | None = None,
                 run_dir: Path | str | None = None, **_context: Any) -> None:
        super().__init__()
        chosen = path or run_dir
        self.start_path = str(chosen) if chosen else ""
        self.start_baseline = str(baseline) if baseline else ""
        self.result: Any = None
        self.history: Any = None
        self.baseline: Any = None
        self.view = ChartView()
        #: conclusion option id -> its knowledge link
        self.links: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="paths"):
            yield Input(self.start_path, placeholder="log or run directory (Enter to read)",
                        id="path")
            yield Input(self.start_baseline, placeholder="baseline (optional)", id="baseline")
        yield Vertical(id="charts")
        with Horizontal(id="below"):
            yield VerticalScroll(Static("", id="numbers-text"), id="numbers")
            yield OptionList(id="conclusions")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Interpret curves"
        if self.start_path:
            self.action_reload()
        else:
            self.query_one("#path", Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        path = self.query_one("#path", Input).value.strip()
        if not path:
            self.notify("give a log file or run directory to interpret", severity="warning")
            return
        self.interpret_worker(path, self.query_one("#baseline", Input).value.strip())

    @work(thread=True, exclusive=True, exit_on_error=False, group="interpret")
    def interpret_worker(self, path: str, baseline_path: str) -> None:
        from nt_tui.analysis.curves import interpret
        from nt_tui.runlogs import load_run

        try:
            history = load_run(path)
            baseline = load_run(baseline_path) if baseline_path else None
            result = interpret(history, baseline)
        except NtTuiError as exc:
            self.post_message(InterpretFailed(exc.one_line()))
            return
        self.post_message(Interpreted(history, baseline, result))

    def on_interpret_failed(self, message: InterpretFailed) -> None:
        self.notify(message.message, title="Interpret", severity="error", timeout=8)

    def on_interpreted(self, message: Interpreted) -> None:
        self.history, self.baseline, self.result = message.history, message.baseline, \
            message.result
        self._show_charts()
        self.query_one("#numbers-text", Static).update(numbers_text(self.result))
        conclusions = self.query_one("#conclusions", OptionList)
        conclusions.clear_options()
        self.links = {f"conclusion-{rank}": item.knowledge
                      for rank, item in enumerate(self.result.conclusions, 1)}
        for rank, item in enumerate(self.result.conclusions, 1):
            style = SEVERITY_STYLE.get(item.severity, "")
            conclusions.add_option(Option(
                f"{rank}. [{style}]{escape(item.title)}[/]\n   {escape(clean(item.detail))}",
                id=f"conclusion-{rank}"))
        if not self.result.conclusions:
            conclusions.add_option(Option("too few points to conclude anything", disabled=True))
        conclusions.focus()

    def _show_charts(self) -> None:
        from nt_tui.analysis.metric_buffer import history_buffer

        charts = self.query_one("#charts", Vertical)
        charts.remove_children()
        history, baseline = self.history, self.baseline
        if baseline is not None and self.result.baseline is not None:
            from nt_tui.runlogs import align

            # a fine-tune that starts at another step is drawn from its start, like it is compared
            history, baseline = align([history, baseline], self.result.baseline.aligned_by)
        runs = [(history_buffer(history, history.name, CHART_METRICS), "")]
        if baseline is not None:
            runs.append((history_buffer(baseline, baseline.name, CHART_METRICS), " (baseline)"))
        plots = []
        for title, metrics, colours in CHARTS:
            traces = [Trace(buffer, metric, f"{metric}{tag}",
                            colour if not tag else BASELINE_COLOUR)
                      for buffer, tag in runs for metric, colour in zip(metrics, colours)
                      if buffer.has(metric)]
            if traces:
                plots.append(MetricPlot(title, traces, self.view, classes="chart"))
        charts.mount(*plots)

    @on(OptionList.OptionSelected, "#conclusions")
    def _open_knowledge(self, event: OptionList.OptionSelected) -> None:
        link = self.links.get(event.option.id or "")
        if link:
            self.app.open_knowledge(link)

    def action_toggle_log(self) -> None:
        self.view = ChartView(self.view.x_mode, self.view.x_range, not self.view.log_y)
        for plot in self.query(MetricPlot):
            plot.set_view(self.view)

    def action_export(self) -> None:
        if self.result is None:
            self.notify("nothing to export yet", severity="warning")
            return
        from nt_tui.analysis.curves import charts
        from nt_tui.analysis.report import markdown_report

        target = Path.cwd() / f"{Path(clean(self.result.run, 60)).name or 'run'}-report.md"
        try:
            aligned_by = self.result.baseline.aligned_by if self.result.baseline else "step"
            markdown_report(self.result, charts(self.history, self.baseline, aligned_by), target)
        except OSError as exc:
            self.notify(f"cannot write {target}: {exc}", severity="error")
            return
        self.notify(f"wrote {target}", title="Report")
