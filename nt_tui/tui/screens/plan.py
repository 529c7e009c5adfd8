"""The Experiment plan screen: a form for the question, variables, seeds and budget.

Enter or Ctrl+R estimates compute and wall time per run (and warns when the plan exceeds its
budget); Ctrl+S writes the plan file that `nt-tui sweep` runs. The work is `nt_tui.planning`'s,
done in a thread worker (it reads the config, and perhaps a run to measure its throughput).
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
from textual.widgets import Button, Footer, Header, Input, Static
from textual.worker import Worker, WorkerState

from nt_tui.errors import NtTuiError
from nt_tui.scaling.laws import DEFAULT_MFU
from nt_tui.tui.widgets.form_field import FormField

INTRO = ("[b]Experiment plan[/b]: write down the question and what you expect before you run "
         "anything. [b]Enter[/b] or [b]ctrl+r[/b] estimates, [b]ctrl+s[/b] writes the plan for "
         "[b]nt-tui sweep[/b].")
#: (field id, label, placeholder) of every input, in form order.
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("name", "Name", "lr-vs-size"),
    ("question", "Question", "Does the best learning rate shrink as the model grows?"),
    ("hypothesis", "Hypothesis", "Yes: about 1/sqrt(width)"),
    ("base_config", "Baseline config", "examples/demo-tiny-gpt.yaml"),
    ("variables", "Variables", "optimizer.lr=1e-3,3e-4; model.size=nano,micro"),
    ("seeds", "Seeds", "1,2,3 (default: the config's seed)"),
    ("steps", "Steps per run", "the config's schedule.total_steps"),
    ("budget_per_run", "Budget per run", "10m"),
    ("total_budget", "Total budget", "2h"),
    ("tokens_per_s", "Throughput (tokens/s)", "stated, at the baseline size"),
    ("measured_from", "... or measure from run", "runs/demo-tiny-gpt-20250101-120000"),
    ("gpus", "... or GPUs per run", "1"),
    ("peak_tflops", "   peak TFLOP/s per GPU", "989 (H100), 312 (A100)"),
    ("mfu", "   utilisation (MFU)", f"{DEFAULT_MFU:g}"),
    ("out", "Plan file", "plans/<name>.yaml"),
)


@dataclass
class PlanEstimated(Message):
    """The worker estimated (and maybe wrote) the plan."""

    plan: Any
    estimate: Any
    written: Path | None


@dataclass
class PlanFailed(Message):
    """The form holds bad input; `message` says what and how to fix it."""

    message: str


class PlanScreen(Screen):
    """Fill the form, estimate, write."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="plan.back"),
        Binding("ctrl+r", "estimate", "Estimate", id="plan.estimate"),
        Binding("ctrl+s", "write", "Write plan", id="plan.write"),
    ]
    DEFAULT_CSS = """
    PlanScreen #plan-form { padding: 0 1; }
    PlanScreen #plan-intro { margin: 0 0 1 0; }
    PlanScreen #plan-buttons { height: auto; margin: 0 0 1 0; }
    PlanScreen #plan-buttons Button { margin: 0 2 0 0; }
    PlanScreen #plan-result { padding: 0 1; border: round $primary; height: auto; }
    PlanScreen #plan-result.over-budget { border: round $error; }
    """

    def __init__(self, *, config_path: Path | str | None = None,
                 plan_path: Path | str | None = None) -> None:
        super().__init__()
        self.config_path = config_path
        self.plan_path = Path(plan_path) if plan_path else None
        self.written: Path | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="plan-form"):
            yield Static(INTRO, id="plan-intro")
            for field_id, label, placeholder in FIELDS:
                yield FormField(label, field_id, placeholder=placeholder)
            with Horizontal(id="plan-buttons"):
                yield Button("Estimate", id="plan-estimate", compact=True, variant="primary")
                yield Button("Write plan", id="plan-write", compact=True, variant="success")
            yield Static("Fill the question, the baseline config and the variables, then "
                         "estimate.", id="plan-result", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        if self.config_path:
            self.query_one("#base_config", Input).value = str(self.config_path)
        if self.plan_path is not None:
            self._load(self.plan_path)
        self.query_one("#question", Input).focus()

    def _load(self, path: Path) -> None:
        """Fill the form from an existing plan file."""
        from nt_tui.planning import load_plan

        try:
            plan = load_plan(path)
        except NtTuiError as exc:
            self.notify(exc.one_line(), title="Cannot open the plan", severity="error")
            return
        base = Path(plan.base_config)
        values = {
            "name": plan.name, "question": plan.question, "hypothesis": plan.hypothesis,
            "base_config": str(base if base.is_absolute() else path.parent / base),
            "variables": "; ".join(f"{key}={','.join(map(str, values))}"
                                   for key, values in plan.variables.items()),
            "seeds": ",".join(map(str, plan.seeds or [])),
            "steps": str(plan.steps or ""), "budget_per_run": plan.budget.per_run or "",
            "total_budget": plan.budget.total or "",
            "tokens_per_s": f"{plan.throughput.tokens_per_s:g}"
            if plan.throughput.tokens_per_s else "",
            "measured_from": plan.throughput.measured_from or "",
            "peak_tflops": f"{plan.throughput.peak_tflops:g}"
            if plan.throughput.peak_tflops else "",
        }
        for field_id, value in values.items():
            self.query_one(f"#{field_id}", Input).value = value

    def form_values(self) -> dict[str, str]:
        """Every input's text by field id."""
        return {field_id: self.query_one(f"#{field_id}", Input).value
                for field_id, _, _ in FIELDS}

    # ------------------------------------------------------------------ actions

    def action_estimate(self) -> None:
        self._run(write=False)

    def action_write(self) -> None:
        self._run(write=True)

    @on(Button.Pressed, "#plan-estimate")
    def _estimate_pressed(self) -> None:
        self.action_estimate()

    @on(Button.Pressed, "#plan-write")
    def _write_pressed(self) -> None:
        self.action_write()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_estimate()

    def _run(self, write: bool) -> None:
        self.query_one("#plan-result", Static).update("Estimating ...")
        self.estimate_worker(self.form_values(), write)

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def estimate_worker(self, values: dict[str, str], write: bool) -> None:
        """Build the plan from the form, estimate it, and write it when asked."""
        from nt_tui.planning import (default_plan_path, estimate_plan, parse_plan,
                                     plan_fields, write_plan)

        try:
            fields = plan_fields(
                vary=[part for part in values["variables"].split(";") if part.strip()],
                **{key: values[key] for key in (
                    "name", "question", "hypothesis", "base_config", "seeds", "steps",
                    "budget_per_run", "total_budget", "tokens_per_s", "measured_from", "gpus",
                    "peak_tflops", "mfu")})
            if "base_config" in fields:
                fields.setdefault("name", f"{Path(fields['base_config']).stem}-plan")
            plan = parse_plan(fields, "the form")
            estimate = estimate_plan(plan)
            written = None
            if write:
                out = values["out"].strip()
                written = write_plan(plan, Path(out) if out else default_plan_path(plan),
                                     estimate)
        except NtTuiError as exc:
            self.post_message(PlanFailed(exc.one_line()))
            return
        self.post_message(PlanEstimated(plan, estimate, written))

    def on_plan_estimated(self, message: PlanEstimated) -> None:
        from nt_tui.planning import render_estimate

        text = render_estimate(message.plan, message.estimate)
        if message.written is not None:
            self.written = message.written
            text += f"\n\nWrote {message.written}; run it with: nt-tui sweep {message.written}"
            self.notify(f"plan written to {message.written}", title="Plan")
        result = self.query_one("#plan-result", Static)
        result.update(text)
        result.set_class(message.estimate.over_budget, "over-budget")
        if message.estimate.over_budget:
            self.notify("the plan exceeds its budget", title="Plan", severity="warning")

    def on_plan_failed(self, message: PlanFailed) -> None:
        self.query_one("#plan-result", Static).update(f"Cannot estimate: {message.message}")
        self.notify(message.message, title="Plan", severity="error", timeout=8)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "plan" and event.state == WorkerState.ERROR:
            error = event.worker.error
            self.query_one("#plan-result", Static).update(f"Failed: {error}")
            self.notify(f"{type(error).__name__}: {error}", title="Plan", severity="error")
