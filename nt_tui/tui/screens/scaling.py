"""The Scaling screen: compute-optimal sizes, Kaplan vs Chinchilla, data-constrained epochs,
and a power law fitted to your own runs (with a log-log plot).

Every answer is a `nt_tui.scaling.report.Table`, the same the `nt-tui scale` command prints;
this screen shows each as a DataTable with its notes. Enter in any field answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Static
from textual.worker import Worker, WorkerState
from textual_plotext import PlotextPlot

from nt_tui.errors import NtTuiError
from nt_tui.scaling.quantities import format_count
from nt_tui.tui.widgets.form_field import FormField

INTRO = ("[b]Scaling[/b]: fill any of the questions and press Enter. Counts take suffixes "
         "(124M, 7B, 1.4T). [b]ctrl+f[/b] shows the formulas.")
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("compute", "Compute budget (FLOPs)", "1e21"),
    ("params", "Model size (parameters)", "124M"),
    ("tokens", "Dataset (unique tokens)", "5B"),
    ("gpus", "GPUs", "8"),
    ("hours", "Hours (GPU budget)", "24"),
    ("gpu", "GPU or peak TFLOP/s", "H100, A100 or 989"),
    ("mfu", "Utilisation (MFU)", "0.4"),
    ("fit", "Runs to fit", "runs/a runs/b=2.5M runs/c"),
    ("points", "... or points N:LOSS", "1M:3.2 3M:2.9 10M:2.65"),
    ("predict", "Predict loss at", "100M"),
)
#: Points on the fitted curve drawn between and beyond the runs (log-spaced).
CURVE_POINTS = 60


@dataclass
class ScalingAnswered(Message):
    tables: list


@dataclass
class ScalingFailed(Message):
    message: str


def questions_from_form(values: dict[str, str], formulas: bool = False):
    """The form's text as `Questions` (blank fields are not asked)."""
    from nt_tui.scaling.report import Questions

    def number(key: str) -> float | None:
        text = values.get(key, "").strip()
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            raise NtTuiError(f"cannot read {key} {text!r}", hint="write a number") from None

    gpu_text = values.get("gpu", "").strip()
    try:
        peak, gpu = float(gpu_text), None
    except ValueError:
        peak, gpu = None, gpu_text or None
    return Questions(
        compute=values.get("compute", "").strip() or None,
        params=values.get("params", "").strip() or None,
        tokens=values.get("tokens", "").strip() or None,
        gpus=number("gpus"), hours=number("hours"), gpu=gpu, peak_tflops=peak,
        mfu=number("mfu"), fit=values.get("fit", "").split(),
        points=values.get("points", "").split(), predict=values.get("predict", "").split(),
        formulas=formulas)


class ScalingScreen(Screen):
    """Scaling-law calculators and fits."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="scaling.back"),
        Binding("ctrl+f", "formulas", "Formulas", id="scaling.formulas"),
    ]
    DEFAULT_CSS = """
    ScalingScreen #scaling-body { padding: 0 1; }
    ScalingScreen #scaling-intro { margin: 0 0 1 0; }
    ScalingScreen #scaling-answer { height: auto; }
    ScalingScreen .table-title { text-style: bold; margin: 1 0 0 0; }
    ScalingScreen DataTable { height: auto; max-height: 12; }
    ScalingScreen .table-notes { color: $text-muted; }
    ScalingScreen #fit-plot { height: 16; }
    """

    def __init__(self, *, compute: str | float | None = None, params: str | float | None = None,
                 tokens: str | float | None = None, runs: list[str] | None = None) -> None:
        super().__init__()
        self.start_values = {key: str(value) for key, value in (
            ("compute", compute), ("params", params), ("tokens", tokens)) if value is not None}
        if runs:
            self.start_values["fit"] = " ".join(map(str, runs))
        self.tables: list = []

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="scaling-body"):
            yield Static(INTRO, id="scaling-intro")
            for field_id, label, placeholder in FIELDS:
                yield FormField(label, field_id, placeholder=placeholder,
                                value=self.start_values.get(field_id, ""))
            with Horizontal(id="scaling-buttons"):
                yield Button("Answer", id="scaling-go", compact=True, variant="primary")
            yield Vertical(id="scaling-answer")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#compute", Input).focus()
        if self.start_values:
            self.answer()

    def form_values(self) -> dict[str, str]:
        return {field_id: self.query_one(f"#{field_id}", Input).value
                for field_id, _, _ in FIELDS}

    @on(Input.Submitted)
    @on(Button.Pressed, "#scaling-go")
    def answer(self) -> None:
        self.answer_worker(self.form_values(), formulas=False)

    def action_formulas(self) -> None:
        self.answer_worker(self.form_values(), formulas=True)

    @work(thread=True, exclusive=True, exit_on_error=False, group="scaling")
    def answer_worker(self, values: dict[str, str], formulas: bool) -> None:
        """Compute every table (a fit reads run logs, so this runs off the UI thread)."""
        from nt_tui.scaling.report import answer

        try:
            tables = answer(questions_from_form(values, formulas))
        except NtTuiError as exc:
            self.post_message(ScalingFailed(exc.one_line()))
            return
        self.post_message(ScalingAnswered(tables))

    async def on_scaling_answered(self, message: ScalingAnswered) -> None:
        self.tables = message.tables
        container = self.query_one("#scaling-answer", Vertical)
        await container.remove_children()
        widgets = []
        for index, table in enumerate(message.tables):
            widgets.append(Static(table.title, classes="table-title", markup=False))
            grid = DataTable(id=f"answer-{index}", show_cursor=False, zebra_stripes=True)
            grid.add_columns(*table.columns)
            grid.add_rows(table.rows)
            widgets.append(grid)
            if table.notes:
                widgets.append(Static("\n".join(f"- {note}" for note in table.notes),
                                      classes="table-notes", markup=False))
            if table.fit is not None:
                plot = PlotextPlot(id="fit-plot")
                widgets.append(plot)
        await container.mount_all(widgets)
        for table in message.tables:
            if table.fit is not None:
                draw_fit(self.query_one("#fit-plot", PlotextPlot), table)

    def on_scaling_failed(self, message: ScalingFailed) -> None:
        self.notify(message.message, title="Scaling", severity="error", timeout=8)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "scaling" and event.state == WorkerState.ERROR:
            error = event.worker.error
            self.notify(f"{type(error).__name__}: {error}", title="Scaling", severity="error")


def draw_fit(plot: PlotextPlot, table: Any) -> None:
    """The runs as points and the fitted law as a line, on log-log axes (predictions too)."""
    fit = table.fit
    plt = plot.plt
    plt.clear_data()
    plt.clear_figure()
    sizes = [point.params for point in fit.points]
    predictions = [row["params"] for row in table.values.get("predictions", [])]
    low, high = math.log10(min(sizes)), math.log10(max(sizes + predictions))
    grid = [10 ** (low + (high - low) * i / (CURVE_POINTS - 1)) for i in range(CURVE_POINTS)]
    plt.xscale("log")
    plt.yscale("log")
    # No legend: plotext draws it over the top-left corner, where the smallest run sits.
    plt.title(f"o your runs   - {fit.formula()}" + ("   x predicted" if predictions else ""))
    plt.plot(grid, [fit.predict(size).loss for size in grid])
    plt.scatter(sizes, [point.loss for point in fit.points], marker="o")
    if predictions:
        plt.scatter(predictions, [row["loss"] for row in table.values["predictions"]],
                    marker="x")
    decades = range(math.floor(low), math.ceil(high) + 1)
    plt.xticks([10.0 ** power for power in decades],
               [format_count(10.0 ** power) for power in decades])
    plt.xlabel("parameters")
    plot.refresh()
