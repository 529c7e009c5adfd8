"""The diagnosis wizard: symptoms, missing facts, diagnostics, ranked causes, apply and verify.

Step 1 picks the symptoms (multi-select), step 2 reads the log and asks only for the facts it
could not find, step 3 shows the evidence with charts, step 4 the ranked hypotheses in the
seed's format (cause, confidence, evidence, fix, alternatives), step 5 applies the fix to a
copy of an nt-tui run's config and runs a short verification beside the original curve.
The work is `nt_tui.analysis.diagnosis` (no UI); reading, diagnosing and training run in
thread workers that report with messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import (Button, ContentSwitcher, DataTable, Footer, Header, Input,
                             OptionList, RadioButton, RadioSet, SelectionList, Static)
from textual.widgets.option_list import Option
from textual.widgets.selection_list import Selection

from nt_tui.analysis.diagnosis.vocabulary import SYMPTOMS
from nt_tui.errors import NtTuiError
from nt_tui.tui.widgets.form_field import FormField

STEPS = ("symptoms", "info", "diagnostics", "hypotheses", "apply")
STEP_TITLES = {
    "symptoms": "What did you see?", "info": "What the log does not say",
    "diagnostics": "Diagnostics", "hypotheses": "Ranked causes", "apply": "Apply the fix",
}
#: Facts the wizard can ask for: context field -> label and example.
FACT_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("vocab_size", "Vocabulary / classes", "e.g. 50257"),
    ("num_params", "Model parameters", "e.g. 124000000"),
    ("dataset_tokens", "Dataset size (tokens)", "e.g. 9000000000"),
    ("lr", "Peak learning rate", "e.g. 3e-4"),
    ("warmup_steps", "Warmup steps", "e.g. 2000"),
    ("total_steps", "Schedule length (steps)", "e.g. 100000"),
    ("batch_size", "Batch size", "e.g. 32"),
    ("grad_clip", "Gradient clip (0 = off)", "e.g. 1.0"),
)
FACT_NAMES = tuple(name for name, _, _ in FACT_FIELDS)
DEFAULT_VERIFY_STEPS = 200
#: Curves the diagnostics and verification charts draw from.
CHART_METRICS = ("train_loss", "val_loss", "lr", "grad_norm")


@dataclass
class LogLoaded(Message):
    history: Any
    context: Any


@dataclass
class Diagnosed(Message):
    diagnosis: Any


@dataclass
class VerifyProgress(Message):
    step: int


@dataclass
class Verified(Message):
    comparison: Any
    history: Any
    start: int


@dataclass
class GradientsReady(Message):
    report: Any


@dataclass
class WizardFailed(Message):
    message: str


class DiagnosisScreen(Screen):
    """The five-step diagnosis wizard. `path` is a log in any format (or an nt-tui run
    directory, `run_dir`); `symptoms` are pre-selected (the monitor passes what it saw)."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="diagnose.back"),
        Binding("ctrl+n", "next_step", "Next step", id="diagnose.next"),
        Binding("ctrl+b", "previous_step", "Previous step", id="diagnose.previous"),
    ]
    DEFAULT_CSS = """
    DiagnosisScreen #wizard-title { padding: 0 1; text-style: bold; }
    DiagnosisScreen ContentSwitcher { height: 1fr; padding: 0 1; }
    DiagnosisScreen #symptom-list { height: auto; max-height: 12; }
    DiagnosisScreen #known-facts { margin: 1 0; }
    DiagnosisScreen .chart { height: 9; min-height: 6; }
    DiagnosisScreen #hypothesis-list { width: 36; height: 1fr; }
    DiagnosisScreen #hypothesis-detail { width: 1fr; padding: 0 1; }
    DiagnosisScreen #fix-diff { margin: 1 0; }
    DiagnosisScreen #verify-controls { height: auto; }
    DiagnosisScreen #verify-from { height: auto; width: auto; }
    DiagnosisScreen #wizard-buttons { height: 1; padding: 0 1; }
    DiagnosisScreen #layer-table { height: auto; max-height: 10; }
    """

    def __init__(self, *, path: Path | str | None = None, symptoms: Iterable[str] = (),
                 run_dir: Path | str | None = None, evidence: str | None = None,
                 **_context: Any) -> None:
        super().__init__()
        chosen = path or run_dir
        self.start_path = str(chosen) if chosen else ""
        self.start_symptoms = tuple(symptoms)
        #: a line from whoever opened the wizard (e.g. the monitor's warning)
        self.opened_with = evidence
        self.history: Any = None
        self.context: Any = None
        self.diagnosis: Any = None
        self.selected_cause: str | None = None
        self.fix_plan: Any = None
        self.comparison: Any = None
        self.step_index = 0
        self._diagnose_after_load = False

    # ------------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="wizard-title")
        with ContentSwitcher(initial="symptoms"):
            with VerticalScroll(id="symptoms"):
                yield Static("Select what you saw (space toggles, ctrl+n goes on). With none "
                             "selected the symptoms are read from the data.")
                if self.opened_with:
                    yield Static(f"[b]Opened because:[/b] {escape(self.opened_with)}",
                                 id="opened-with")
                yield SelectionList[str](
                    *(Selection(symptom.label, symptom.id, symptom.id in self.start_symptoms)
                      for symptom in SYMPTOMS), id="symptom-list")
            with VerticalScroll(id="info"):
                yield FormField("Log or run directory", "log-path", value=self.start_path,
                                placeholder="runs/my-run, trainer_state.json, metrics.csv ...")
                yield Static("", id="known-facts")
                yield Vertical(id="missing-facts")
            with VerticalScroll(id="diagnostics"):
                yield Static("", id="evidence-summary")
                yield Vertical(id="charts")
                yield Static("", id="gradient-note")
                yield DataTable(id="layer-table", show_cursor=False, zebra_stripes=True)
            with Horizontal(id="hypotheses"):
                yield OptionList(id="hypothesis-list")
                with VerticalScroll(id="hypothesis-detail"):
                    yield Static("", id="hypothesis-text")
                    with Horizontal(id="hypothesis-buttons"):
                        yield Button("Read more", id="read-more", compact=True)
                        yield Button("Apply this fix", id="to-apply", compact=True,
                                     variant="primary")
            with VerticalScroll(id="apply"):
                yield Static("", id="fix-text")
                yield Static("", id="fix-diff", markup=False)
                yield FormField("Save fixed config as", "fix-path")
                yield Button("Save config", id="save-fix", compact=True)
                with Horizontal(id="verify-controls"):
                    yield FormField("Verification steps", "verify-steps",
                                    value=str(DEFAULT_VERIFY_STEPS), placeholder="100-1000")
                    with RadioSet(id="verify-from"):
                        yield RadioButton("from scratch", value=True, id="from-scratch")
                        yield RadioButton("from the run's checkpoint", id="from-checkpoint")
                yield Button("Run verification", id="verify", compact=True, variant="primary")
                yield Static("", id="verify-status")
                yield Vertical(id="compare-chart")
        with Horizontal(id="wizard-buttons"):
            yield Button("< Back", id="previous", compact=True)
            yield Button("Next >", id="next", compact=True, variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#layer-table").display = False
        self._show_step()
        self.query_one("#symptom-list").focus()
        if self.start_path:
            self.load_worker(self.start_path)

    # ------------------------------------------------------------------------ navigation

    @property
    def step(self) -> str:
        return STEPS[self.step_index]

    def _show_step(self) -> None:
        self.query_one(ContentSwitcher).current = self.step
        self.query_one("#wizard-title", Static).update(
            f"Step {self.step_index + 1} of {len(STEPS)}: {STEP_TITLES[self.step]}")
        self.query_one("#previous", Button).disabled = self.step_index == 0
        self.query_one("#next", Button).disabled = self.step_index == len(STEPS) - 1

    def go_to(self, step: str) -> None:
        self.step_index = STEPS.index(step)
        self._show_step()

    @on(Button.Pressed, "#next")
    def action_next_step(self) -> None:
        if self.step == "info":
            self.run_diagnosis()
            return
        if self.step in ("diagnostics", "hypotheses") and self.diagnosis is None:
            return
        if self.step_index < len(STEPS) - 1:
            self.step_index += 1
            self._show_step()
            if self.step == "info" and self.history is None:
                self.query_one("#log-path", Input).focus()
            if self.step == "apply":
                self._prepare_apply()

    @on(Button.Pressed, "#previous")
    def action_previous_step(self) -> None:
        if self.step_index > 0:
            self.step_index -= 1
            self._show_step()

    @property
    def symptoms(self) -> list[str]:
        return list(self.query_one("#symptom-list", SelectionList).selected)

    # ------------------------------------------------------------------------ step 2

    @on(Input.Submitted, "#log-path")
    def _path_submitted(self) -> None:
        path = self.query_one("#log-path", Input).value.strip()
        if path:
            self.load_worker(path)

    @work(thread=True, exclusive=True, exit_on_error=False, group="diagnose-load")
    def load_worker(self, path: str) -> None:
        """Read the log and what its config and neighbours say (pandas, off the UI)."""
        from nt_tui.analysis.diagnosis import context_for
        from nt_tui.runlogs import load_run

        try:
            history = load_run(Path(path).expanduser())
            context = context_for(history, Path(path).expanduser())
        except NtTuiError as exc:
            self.post_message(WizardFailed(exc.one_line()))
            return
        self.post_message(LogLoaded(history, context))

    def on_log_loaded(self, message: LogLoaded) -> None:
        self.history, self.context = message.history, message.context
        history, context = self.history, self.context
        known = context.known()
        lines = [f"[b]{escape(history.name)}[/b]: {history.format}, {history.steps:,} logged "
                 f"steps; metrics {escape(', '.join(history.metrics[:8]))}"]
        if known:
            lines.append("Known: " + ", ".join(
                f"{name} = {value} [dim]({context.sources.get(name, '?')})[/dim]"
                for name, value in known.items() if name in FACT_NAMES))
        missing = [item for item in FACT_FIELDS if item[0] not in known]
        lines.append("Fill in what you know below (all optional), then ctrl+n." if missing
                     else "Nothing is missing: ctrl+n diagnoses.")
        self.query_one("#known-facts", Static).update("\n".join(lines))
        box = self.query_one("#missing-facts", Vertical)
        box.remove_children()
        box.mount_all(FormField(label, f"fact-{name}", placeholder=example)
                      for name, label, example in missing)
        if self._diagnose_after_load:
            self._diagnose_after_load = False
            self.run_diagnosis()

    def _user_context(self) -> Any:
        from nt_tui.analysis.diagnosis import RunContext

        given = RunContext()
        for name, _, _ in FACT_FIELDS:
            matches = self.query(f"#fact-{name}")
            if not matches:
                continue
            text = matches.first(Input).value.strip()
            if text:
                given.set(name, text, "you")
                if getattr(given, name) is None:
                    self.notify(f"cannot read {name} = {text!r}: write a number",
                                severity="warning")
        return given

    # ------------------------------------------------------------------------ diagnose

    def run_diagnosis(self) -> None:
        path = self.query_one("#log-path", Input).value.strip()
        if self.history is None or (path and path != self.history.source and
                                    Path(path).expanduser() != Path(self.history.source)):
            if not path:
                self.notify("give the log or run directory to diagnose", severity="warning")
                return
            self._diagnose_after_load = True
            self.load_worker(path)
            return
        context = self.context.merge(self._user_context())
        self.query_one("#evidence-summary", Static).update("Diagnosing ...")
        self.diagnose_worker(self.history, self.symptoms, context)

    @work(thread=True, exclusive=True, exit_on_error=False, group="diagnose-run")
    def diagnose_worker(self, history: Any, symptoms: list[str], context: Any) -> None:
        from nt_tui.analysis.diagnosis import diagnose

        try:
            diagnosis = diagnose(history, symptoms, context)
        except NtTuiError as exc:
            self.post_message(WizardFailed(exc.one_line()))
            return
        self.post_message(Diagnosed(diagnosis))

    def on_diagnosed(self, message: Diagnosed) -> None:
        self.diagnosis = diagnosis = message.diagnosis
        self.selected_cause = diagnosis.top.cause
        self._fill_diagnostics(diagnosis)
        self._fill_hypotheses(diagnosis)
        self.go_to("diagnostics")
        self.gradient_worker()

    def _fill_diagnostics(self, diagnosis: Any) -> None:
        from nt_tui.analysis.metric_buffer import history_buffer
        from nt_tui.tui.widgets.chart import Trace
        from nt_tui.tui.widgets.metric_plot import MetricPlot

        ev = diagnosis.evidence
        lines = [f"Symptoms ({'read from the data' if diagnosis.symptoms_inferred else 'yours'}"
                 f"): {', '.join(diagnosis.symptoms) or 'none'}"]
        if ev.loss is not None:
            loss = ev.loss
            lines.append(f"{loss.metric}: {loss.initial:.3g} -> {loss.final:.3g} over "
                         f"{loss.span:,} steps, {len(loss.spikes)} spike(s), noise "
                         f"{100 * loss.noise_rel:.1f}% of the level")
        if ev.grad is not None:
            lines.append(f"grad norm: median {ev.grad.median:.3g}, max {ev.grad.maximum:.3g} "
                         f"at step {ev.grad.maximum_step:,}")
        if ev.lr is not None:
            lines.append(f"learning rate: {ev.lr.shape}, peak {ev.lr.peak:.2g}, at the end "
                         f"{ev.lr.final:.2g}")
        if ev.val is not None:
            lines.append(f"validation: best {ev.val.best:.3g} at step {ev.val.best_step:,}, "
                         f"last {ev.val.final:.3g}")
        lines += [f"[dim]missing: {escape(item)}[/dim]" for item in diagnosis.missing]
        self.query_one("#evidence-summary", Static).update("\n".join(lines))
        buffer = history_buffer(self.history, self.history.name, CHART_METRICS)
        charts = self.query_one("#charts", Vertical)
        charts.remove_children()
        plots = [MetricPlot("loss (smoothed over raw)", [
            Trace(buffer, "train_loss", "train", "primary"),
            Trace(buffer, "val_loss", "val", "accent")], classes="chart")]
        if buffer.has("lr"):
            plots.append(MetricPlot("learning rate (same steps as the loss)", [
                Trace(buffer, "lr", "lr", "secondary", smooth=False)], classes="chart"))
        if buffer.has("grad_norm"):
            plots.append(MetricPlot("grad norm", [Trace(buffer, "grad_norm", "norm", "success")],
                                    classes="chart"))
        charts.mount_all(plots)

    def _fill_hypotheses(self, diagnosis: Any) -> None:
        options = self.query_one("#hypothesis-list", OptionList)
        options.clear_options()
        for rank, hypothesis in enumerate(diagnosis.hypotheses, 1):
            options.add_option(Option(f"{rank}. {hypothesis.title} "
                                      f"[b]{hypothesis.confidence:.0%}[/b]", id=hypothesis.cause))
        options.highlighted = 0
        self._show_hypothesis(diagnosis.top.cause)

    def _hypothesis(self, cause: str | None) -> Any:
        return next((h for h in self.diagnosis.hypotheses if h.cause == cause),
                    self.diagnosis.top)

    def _show_hypothesis(self, cause: str) -> None:
        hypothesis = self._hypothesis(cause)
        self.selected_cause = hypothesis.cause
        others = [f"{h.title} ({h.confidence:.0%})" for h in self.diagnosis.hypotheses
                  if h.cause != hypothesis.cause]
        text = [f"[b]Cause:[/b] {hypothesis.title} [dim]({hypothesis.cause})[/dim]",
                f"[b]Confidence:[/b] {hypothesis.confidence:.0%}", "[b]Evidence:[/b]"]
        text += [f"  - {escape(sentence)}" for sentence in hypothesis.evidence]
        text += [f"[b]Fix:[/b] {escape(hypothesis.fix)}",
                 f"[b]Alternatives:[/b] {escape(', '.join(others) or 'none')}",
                 f"[dim]Read more: {hypothesis.knowledge}[/dim]"]
        self.query_one("#hypothesis-text", Static).update("\n".join(text))

    @on(OptionList.OptionHighlighted, "#hypothesis-list")
    def _hypothesis_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if self.diagnosis is not None and event.option.id:
            self._show_hypothesis(event.option.id)

    @on(Button.Pressed, "#read-more")
    def _read_more(self) -> None:
        if self.diagnosis is not None:
            self.app.open_knowledge(self._hypothesis(self.selected_cause).knowledge)

    @on(Button.Pressed, "#to-apply")
    @on(OptionList.OptionSelected, "#hypothesis-list")
    def _to_apply(self) -> None:
        if self.diagnosis is not None:
            self.go_to("apply")
            self._prepare_apply()

    # ------------------------------------------------------------------------ gradients

    @work(thread=True, exclusive=True, exit_on_error=False, group="diagnose-gradients")
    def gradient_worker(self) -> None:
        """Per-layer gradient statistics for nt-tui runs: logged ones, else a checkpoint's."""
        from nt_tui.analysis.gradients import from_checkpoint, from_history

        run_dir = self._run_dir()
        if run_dir is None:
            return
        try:
            report = from_history(self.history)
            if report is None and (run_dir / "checkpoints").is_dir():
                report = from_checkpoint(run_dir)
        except NtTuiError:
            return
        if report is not None:
            self.post_message(GradientsReady(report))

    def on_gradients_ready(self, message: GradientsReady) -> None:
        report = message.report
        table = self.query_one("#layer-table", DataTable)
        table.clear(columns=True)
        table.add_columns("layer", "norm", "mean", "std", "max", "min", "issues")

        def cell(value: float | None) -> str:
            return "-" if value is None else f"{value:.3g}"

        for layer in report.layers:
            table.add_row(layer.name, cell(layer.norm), cell(layer.mean), cell(layer.std),
                          cell(layer.maximum), cell(layer.minimum), ", ".join(layer.flags) or "")
        flagged = len(report.flagged)
        self.query_one("#gradient-note", Static).update(
            f"Per-layer gradients ({report.source}), worst first: {flagged} layer(s) flagged")
        table.display = True

    # ------------------------------------------------------------------------ step 5

    def _run_dir(self) -> Path | None:
        if self.history is None or self.history.format != "nt_tui_run":
            return None
        source = Path(self.history.source)
        return source if source.is_dir() else source.parent

    def _prepare_apply(self) -> None:
        if self.diagnosis is None:
            return
        from nt_tui.analysis.diagnosis.remedy import plan_fix

        hypothesis = self._hypothesis(self.selected_cause)
        fix_text = self.query_one("#fix-text", Static)
        run_dir = self._run_dir()
        self.fix_plan = None
        lines = [f"[b]Fix for {hypothesis.title}:[/b] {escape(hypothesis.fix)}"]
        if run_dir is None:
            lines.append("Apply-fix and verification work on nt-tui runs; change the setting "
                         "in your tool by hand.")
        else:
            try:
                self.fix_plan = plan_fix(run_dir, hypothesis.cause, hypothesis.changes)
            except NtTuiError as exc:
                lines.append(escape(exc.one_line()))
        fix_text.update("\n".join(lines))
        ready = self.fix_plan is not None
        self.query_one("#fix-diff", Static).update(self.fix_plan.diff if ready else "")
        self.query_one("#fix-path", Input).value = str(self.fix_plan.path) if ready else ""
        for widget_id in ("#save-fix", "#verify"):
            self.query_one(widget_id, Button).disabled = not ready

    @on(Button.Pressed, "#save-fix")
    def save_fix(self) -> Path | None:
        from nt_tui.analysis.diagnosis.remedy import save_fix

        if self.fix_plan is None:
            return None
        chosen = self.query_one("#fix-path", Input).value.strip()
        if chosen:
            self.fix_plan.path = Path(chosen).expanduser()
        try:
            path = save_fix(self.fix_plan)
        except OSError as exc:
            self.notify(f"cannot save the config: {exc}", severity="error")
            return None
        self.query_one("#fix-path", Input).value = str(path)
        self.notify(f"saved {path}", title="Fix")
        return path

    @on(Button.Pressed, "#verify")
    def start_verification(self) -> None:
        if self.fix_plan is None:
            return
        text = self.query_one("#verify-steps", Input).value.strip()
        try:
            steps = int(text)
        except ValueError:
            self.notify(f"verification steps {text!r}: write a whole number", severity="warning")
            return
        if not self.fix_plan.path.exists() and self.save_fix() is None:
            return
        from_checkpoint = self.query_one("#from-checkpoint", RadioButton).value
        self.query_one("#verify-status", Static).update(
            f"Training the fixed config for {steps} steps "
            f"{'from the checkpoint' if from_checkpoint else 'from scratch'} ...")
        self.verify_worker(steps, from_checkpoint)

    @work(thread=True, exclusive=True, exit_on_error=False, group="diagnose-verify")
    def verify_worker(self, steps: int, from_checkpoint: bool) -> None:
        """Train the fixed config briefly and compare it with the original (torch here)."""
        from nt_tui.analysis.diagnosis.remedy import compare, run_verification
        from nt_tui.runlogs import load_run

        try:
            run_dir, start = run_verification(
                self.fix_plan, steps, from_checkpoint=from_checkpoint,
                original_last_step=int(self.history.frame["step"].max()),
                on_metrics=lambda record: self.post_message(VerifyProgress(int(record["step"]))))
            verification = load_run(run_dir)
            comparison = compare(self.history, verification, start)
        except NtTuiError as exc:
            self.post_message(WizardFailed(exc.one_line()))
            return
        self.post_message(Verified(comparison, verification, start))

    def on_verify_progress(self, message: VerifyProgress) -> None:
        self.query_one("#verify-status", Static).update(f"Verification at step {message.step:,}")

    def on_verified(self, message: Verified) -> None:
        from nt_tui.analysis.metric_buffer import history_buffer
        from nt_tui.tui.widgets.chart import ChartView, Trace
        from nt_tui.tui.widgets.metric_plot import MetricPlot

        self.comparison = message.comparison
        self.query_one("#verify-status", Static).update(
            "\n".join(message.comparison.sentences())
            + f"\n[dim]verification run: {escape(message.history.source)}[/dim]")
        before = history_buffer(self.history, "original", CHART_METRICS)
        after = history_buffer(message.history, "fixed", CHART_METRICS)
        view = ChartView(x_range=(float(message.start), float(message.comparison.last_step)))
        box = self.query_one("#compare-chart", Vertical)
        box.remove_children()
        box.mount(MetricPlot("train loss: original vs fixed", [
            Trace(before, "train_loss", "original", "warning"),
            Trace(after, "train_loss", "fixed", "success")], view, classes="chart"))

    def on_wizard_failed(self, message: WizardFailed) -> None:
        self.notify(message.message, title="Diagnose", severity="error", timeout=8)
        if self.step == "info":
            self.query_one("#known-facts", Static).update(escape(message.message))
