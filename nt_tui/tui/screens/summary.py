"""The end-of-run report: "Training Complete" (or stopped, or failed) with the numbers, the
recommendation, the loss curve, and one key each to diagnose, interpret or validate."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from nt_tui.analysis.metric_buffer import RunBuffer
from nt_tui.errors import NtTuiError
from nt_tui.safetext import clean
from nt_tui.tui.widgets.chart_specs import DEFAULT_CHARTS, traces_for
from nt_tui.tui.widgets.metric_plot import MetricPlot
from nt_tui.tui.widgets.warnings_panel import CODE_LABELS

HEADLINES = {"finished": ("✔", "green", "Training complete"),
             "stopped": ("■", "yellow", "Training stopped"),
             "failed": ("✖", "red", "Training failed")}
VERDICT_MARKS = {"converged_well": ("✔", "green"), "overfitting": ("▲", "yellow"),
                 "underfitting": ("▲", "yellow"), "unstable": ("✖", "red"),
                 "too_short": ("•", "yellow"), "stopped_early": ("•", "yellow")}
#: The summary draws the loss chart when the screen has this many rows.
CHART_MIN_ROWS = 30


def _number(value: Any, spec: str = ".4f") -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    return format(value, spec) if math.isfinite(value) else str(value)


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return "-"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def failure_summary(error: BaseException | None, run: RunBuffer | None,
                    info: dict[str, Any], feed: Any) -> dict[str, Any]:
    """A summary for a run whose worker raised before the engine could write one."""
    if isinstance(error, NtTuiError):
        reason = error.one_line()
    else:
        reason = f"{type(error).__name__}: {error}" if error else "the training thread ended"
    latest = run.latest if run is not None else {}
    final = latest.get("train_loss_avg") or latest.get("train_loss")
    best = latest.get("val_loss") and float(np.nanmin(run.values("val_loss")))
    return {
        "status": "failed", "reason": reason,
        "name": getattr(feed, "title", None),
        "run_dir": info.get("run_dir"),
        "total_steps": run.last_step if run is not None else 0,
        "planned_steps": info.get("total_steps") or getattr(feed, "total_steps", None),
        "final_train_loss": final[1] if final else None,
        "best_val_loss": best,
    }


#: Cells of the label column of the report.
LABEL_WIDTH = 17


def report(summary: dict[str, Any]) -> Group:
    """The report: a headline, the numbers as label/value rows, then the recommendation."""
    status = str(summary.get("status") or "finished")
    mark, colour, headline = HEADLINES.get(status, HEADLINES["finished"])
    title = Text.assemble((f"{mark} {headline}", f"bold {colour}"), "  ",
                          (clean(summary.get("name") or ""), "bold"))
    rows = Table.grid(padding=(0, 1))
    rows.add_column(width=LABEL_WIDTH, no_wrap=True, style="dim")
    rows.add_column(overflow="fold")

    def row(label: str, value: str, style: str = "") -> None:
        rows.add_row(label, Text(value, style=style))

    planned = summary.get("planned_steps")
    steps = summary.get("total_steps") or 0
    row("steps", f"{steps:,}" + (f" of {planned:,}" if isinstance(planned, int) else ""))
    row("final loss", f"train {_number(summary.get('final_train_loss'))}"
        + (f" · val {_number(summary.get('final_val_loss'))}"
           if summary.get("final_val_loss") is not None else ""))
    best = summary.get("best_val_loss")
    if best is not None:
        ppl = math.exp(best) if isinstance(best, (int, float)) and best < 700 else None
        at = summary.get("best_val_step")
        row("best val loss", _number(best) + (f" at step {at:,}" if isinstance(at, int) else "")
            + (f" (perplexity {ppl:.2f})" if ppl else ""))
    speed = [f"{_number(summary.get('samples_per_s'), ',.1f')} samples/s"]
    if summary.get("tokens_per_s"):
        speed.append(f"{_number(summary.get('tokens_per_s'), ',.0f')} tokens/s")
    row("time", f"{_duration(summary.get('total_time_s'))} · " + " · ".join(speed))
    if summary.get("num_params"):
        row("parameters", f"{summary['num_params']:,}")
    for label, key in (("last checkpoint", "last_checkpoint"),
                       ("best checkpoint", "best_checkpoint"), ("run directory", "run_dir")):
        if summary.get(key):
            row(label, clean(summary[key]))
    warnings = summary.get("warnings") or {}
    if warnings:
        counts = ", ".join(f"{CODE_LABELS.get(code, code)} x{count}"
                           for code, count in warnings.items())
        row("warnings", f"{sum(warnings.values())}: {counts}")
    if summary.get("reason"):
        row("reason", clean(summary["reason"]), colour)
    advice = summary.get("recommendation") or {}
    verdict = Table.grid(padding=(0, 1))
    verdict.add_column(width=3, justify="right", no_wrap=True)
    verdict.add_column(overflow="fold")
    if advice:
        verdict_mark, verdict_colour = VERDICT_MARKS.get(advice.get("verdict"), ("•", "bold"))
        verdict.add_row(Text(verdict_mark, style=verdict_colour),
                        clean(advice.get("message", "")))
        if advice.get("knowledge"):
            verdict.add_row("", Text(f"read more (k): {advice['knowledge']}", style="dim"))
    elif status == "failed":
        verdict.add_row("•", "fix the reason above and start again; d opens the diagnosis "
                             "wizard on what was logged")
    lines = [Text(""), Text("Recommendation", style="bold"), verdict]
    return Group(title, Text(""), rows, *lines)


class SummaryScreen(Screen):
    """The report of a run that ended (`summary` as `Trainer.run()` returns it)."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back to the curves", id="summary.back"),
        Binding("a", "ask", "Ask diagnostician", id="summary.ask"),
        Binding("d", "open('diagnose')", "Diagnose", id="summary.diagnose"),
        Binding("i", "open('interpret')", "Interpret curves", id="summary.interpret"),
        Binding("v", "open('validate')", "Validate best", id="summary.validate"),
        Binding("k", "knowledge", "Read more", id="summary.knowledge"),
    ]
    DEFAULT_CSS = """
    SummaryScreen #report { height: auto; padding: 1 2 0 2; }
    SummaryScreen #keys { padding: 1 2; color: $text-muted; }
    SummaryScreen MetricPlot { height: 12; margin: 0 2; }
    """

    def __init__(self, *, summary: dict[str, Any] | None = None, run: RunBuffer | None = None,
                 path: Path | str | None = None) -> None:
        super().__init__()
        if summary is None and path is not None:
            summary = _load_summary(Path(path))
        if summary is None:
            raise NtTuiError("no run summary to show",
                             hint="give a run directory that holds summary.json")
        self.summary = summary
        self.run = run

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(report(self.summary), id="report")
            if self.run is not None and self.run.has("train_loss"):
                yield MetricPlot("loss", traces_for(DEFAULT_CHARTS[0], [self.run]),
                                 id="summary-loss")
            yield Static("[b]a[/b] ask the diagnostician   [b]d[/b] diagnose   [b]i[/b] interpret "
                         "the curves   [b]v[/b] validate the best checkpoint   [b]k[/b] read "
                         "more   [b]Escape[/b] back to the curves", id="keys")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()
        self._fit_chart()

    def on_resize(self) -> None:
        self._fit_chart()

    def _fit_chart(self) -> None:
        """The loss chart only where it fits beside the report (else the report alone)."""
        plots = self.query(MetricPlot)
        if plots:
            plots.first().display = self.app.size.height >= CHART_MIN_ROWS

    def action_open(self, area: str) -> None:
        run_dir = self.summary.get("run_dir")
        if not run_dir:
            self.notify("this run has no run directory to open", severity="warning")
            return
        if area == "validate" and not (self.summary.get("best_checkpoint")
                                       or self.summary.get("last_checkpoint")):
            self.notify("this run wrote no checkpoint to validate", severity="warning")
            return
        if area == "diagnose":
            from nt_tui.analysis.diagnosis.vocabulary import WARNING_SYMPTOMS

            codes = (self.summary.get("warnings") or {}).keys()
            symptoms = list(dict.fromkeys(WARNING_SYMPTOMS[c] for c in codes
                                          if c in WARNING_SYMPTOMS))
            self.app.open_area("diagnose", path=run_dir, symptoms=symptoms)
        else:
            self.app.open_area(area, path=run_dir)

    def action_ask(self) -> None:
        """The diagnostician on this run, about its first warning that calls for it."""
        from nt_tui.advisors.activation import offers_for_events

        run_dir = self.summary.get("run_dir")
        events = self.run.events if self.run is not None else []
        offers = offers_for_events(events)
        if offers:
            question = offers[0].question
        elif self.summary.get("status") == "failed":
            question = f"the run failed: {self.summary.get('reason', '')}"
        else:
            question = "is this run training well?"
        if not run_dir and not offers:
            self.notify("this run has no run directory to ask about", severity="warning")
            return
        self.app.open_area("ask", text=clean(question), advisor="diagnostician",
                           run=run_dir or None)

    def action_knowledge(self) -> None:
        link = (self.summary.get("recommendation") or {}).get("knowledge")
        if link:
            self.app.open_knowledge(str(link))
        else:
            self.notify("no knowledge link for this run", severity="warning")


def _load_summary(run_dir: Path) -> dict[str, Any] | None:
    import json

    from nt_tui.runfmt import SUMMARY_FILE, decode_number

    path = run_dir / SUMMARY_FILE if run_dir.is_dir() else run_dir
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {key: decode_number(value) for key, value in data.items()} \
        if isinstance(data, dict) else None
