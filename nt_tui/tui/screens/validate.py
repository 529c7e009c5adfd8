"""The Validate screen: evaluate a checkpoint and check its weights and its run's log.

The evaluation is `nt_tui.engine.validate.validate_checkpoint` (torch, imported in the worker
thread); the screen shows the report's numbers, its findings (Enter on one with a guide opens
the knowledge browser there) and the per-layer weight norms.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from nt_tui.errors import NtTuiError
from nt_tui.tui.widgets.form_field import FormField

INTRO = ("[b]Validate a checkpoint[/b]: loss, perplexity, token accuracy and throughput, the "
         "weights' health, and agreement with the run's log. Enter runs it.")
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("path", "Run dir or checkpoint", "runs/demo-tiny-gpt-20250101-120000"),
    ("data", "Test set (optional)", "a text file; default: the run's validation set"),
    ("batches", "Batches (optional)", "default: the batches the run validated on"),
)
#: Finding level -> how it is shown.
LEVEL_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim", "ok": "green"}


@dataclass
class CheckpointValidated(Message):
    report: Any


@dataclass
class ValidationFailed(Message):
    message: str


class ValidateScreen(Screen):
    """Pick a run or checkpoint, validate it, read the findings."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="validate.back"),
        Binding("ctrl+r", "validate", "Validate", id="validate.run"),
    ]
    DEFAULT_CSS = """
    ValidateScreen #validate-body { padding: 0 1; }
    ValidateScreen #validate-intro { margin: 0 0 1 0; }
    ValidateScreen #validate-summary { margin: 1 0; }
    ValidateScreen #validate-findings { height: auto; max-height: 10; }
    ValidateScreen #validate-layers { height: auto; max-height: 16; margin: 1 0 0 0; }
    """

    def __init__(self, *, path: Path | str | None = None, data: Path | str | None = None,
                 run_dir: Path | str | None = None) -> None:
        super().__init__()
        chosen = path or run_dir
        self.start_path = str(chosen) if chosen else ""
        self.start_data = str(data) if data else ""
        self.report: Any = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="validate-body"):
            yield Static(INTRO, id="validate-intro")
            starts = {"path": self.start_path, "data": self.start_data}
            for field_id, label, placeholder in FIELDS:
                yield FormField(label, field_id, placeholder=placeholder,
                                value=starts.get(field_id, ""))
            with Horizontal(id="validate-buttons"):
                yield Button("Validate", id="validate-go", compact=True, variant="primary")
            yield Static("", id="validate-summary", markup=False)
            yield OptionList(id="validate-findings")
            yield DataTable(id="validate-layers", show_cursor=False, zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#validate-findings").display = False
        self.query_one("#validate-layers").display = False
        self.query_one("#path", Input).focus()
        if self.start_path:
            self.action_validate()

    @on(Input.Submitted)
    @on(Button.Pressed, "#validate-go")
    def action_validate(self) -> None:
        values = {field_id: self.query_one(f"#{field_id}", Input).value.strip()
                  for field_id, _, _ in FIELDS}
        if not values["path"]:
            self.notify("give a run directory or a checkpoint file", title="Validate",
                        severity="warning")
            return
        self.query_one("#validate-summary", Static).update(
            f"Validating {values['path']} ...")
        self.validate_worker(values)

    @work(thread=True, exclusive=True, exit_on_error=False, group="validate")
    def validate_worker(self, values: dict[str, str]) -> None:
        """Load, evaluate and check the checkpoint (torch is imported here, off the UI)."""
        try:
            batches = int(values["batches"]) if values["batches"] else None
        except ValueError:
            self.post_message(ValidationFailed(f"cannot read batches {values['batches']!r}: "
                                               "write a whole number"))
            return
        try:
            from nt_tui.engine.validate import validate_checkpoint

            report = validate_checkpoint(Path(values["path"]).expanduser(),
                                         data=Path(values["data"]) if values["data"] else None,
                                         max_batches=batches)
        except NtTuiError as exc:
            self.post_message(ValidationFailed(exc.one_line()))
            return
        self.post_message(CheckpointValidated(report))

    def on_checkpoint_validated(self, message: CheckpointValidated) -> None:
        from nt_tui.checkpoint_validation import LEVELS, render_text

        report = self.report = message.report
        summary_lines = render_text(report, layers=False).split("\n\n")[0]
        self.query_one("#validate-summary", Static).update(summary_lines)
        findings = self.query_one("#validate-findings", OptionList)
        findings.clear_options()
        ordered = sorted(report.findings, key=lambda finding: LEVELS.index(finding.level))
        for index, finding in enumerate(ordered):
            see = "  [dim](Enter: read more)[/dim]" if finding.knowledge else ""
            style = LEVEL_STYLE[finding.level]
            findings.add_option(Option(
                f"[{style}]{finding.level.upper():<8}[/{style}]{_escape(finding.message)}{see}",
                id=f"finding-{index}"))
        self._ordered_findings = ordered
        findings.display = True
        layers = self.query_one("#validate-layers", DataTable)
        layers.clear(columns=True)
        layers.add_columns("layer", "params", "L2 norm", "rms", "max |w|", "NaN/Inf")
        for layer in report.layers:
            layers.add_row(layer.layer, f"{layer.params:,}", f"{layer.norm:.3f}",
                           f"{layer.rms:.4f}", f"{layer.max_abs:.3f}", str(layer.nonfinite))
        layers.display = True
        severity = "information" if report.ok else "error"
        self.notify("checkpoint healthy" if report.ok else "the checkpoint has problems",
                    title="Validate", severity=severity)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        index = int(str(event.option.id).rpartition("-")[2])
        finding = self._ordered_findings[index]
        if finding.knowledge:
            self.app.open_knowledge(finding.knowledge)

    def on_validation_failed(self, message: ValidationFailed) -> None:
        self.query_one("#validate-summary", Static).update(f"Cannot validate: {message.message}")
        self.notify(message.message, title="Validate", severity="error", timeout=8)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "validate" and event.state == WorkerState.ERROR:
            error = event.worker.error
            self.query_one("#validate-summary", Static).update(f"Failed: {error}")
            self.notify(f"{type(error).__name__}: {error}", title="Validate", severity="error")


def _escape(text: str) -> str:
    """Text shown inside markup: square brackets are literal."""
    from textual.markup import escape

    return escape(text)
