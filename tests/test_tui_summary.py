"""The end-of-run summary: the report's numbers and recommendation, and its keys."""

import json
from pathlib import Path

import pytest
from textual.app import App

from nt_tui.analysis.metric_buffer import RunBuffer
from nt_tui.errors import NtTuiError
from nt_tui.tui.screens.summary import SummaryScreen, failure_summary, report

FINISHED = {
    "status": "finished", "reason": None, "name": "demo-tiny-gpt",
    "run_dir": "/tmp/runs/demo-tiny-gpt-1", "total_steps": 2000, "planned_steps": 2000,
    "final_train_loss": 1.4321, "final_val_loss": 1.5012, "best_val_loss": 1.4987,
    "best_val_step": 1800, "total_time_s": 312.4, "samples_per_s": 1234.5,
    "tokens_per_s": 79008.0, "num_params": 809856,
    "last_checkpoint": "/tmp/runs/demo-tiny-gpt-1/checkpoints/step_00002000.pt",
    "best_checkpoint": "/tmp/runs/demo-tiny-gpt-1/checkpoints/best.pt",
    "warnings": {"loss_spike": 2},
    "recommendation": {"verdict": "overfitting", "stop_at_step": 1800,
                       "message": "overfitting: validation loss was best at step 1800 "
                                  "(1.4987) and ended at 1.5012; stop at step 1800",
                       "knowledge": "common-failures.md#overfitting"},
}


def plain(renderable, width=200):
    from rich.console import Console

    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_report_holds_the_numbers_and_the_recommendation():
    text = plain(report(FINISHED))
    for expected in ("Training complete", "2,000 of 2,000", "train 1.4321 · val 1.5012",
                     "1.4987 at step 1,800 (perplexity 4.48)", "5m12s", "1,234.5 samples/s",
                     "79,008 tokens/s", "809,856", "best.pt", "loss spike x2",
                     "stop at step 1800", "common-failures.md#overfitting"):
        assert expected in text, expected


def test_failure_summary_from_what_was_logged():
    run = RunBuffer("r")
    run.append({"step": 10, "train_loss": 3.0, "val_loss": 3.2})
    run.append({"step": 20, "train_loss": 2.5, "val_loss": 2.9})
    summary = failure_summary(NtTuiError("out of disk", hint="free some space"), run,
                              {"run_dir": "/tmp/x", "total_steps": 100}, None)
    assert summary["reason"] == "out of disk (free some space)"
    assert summary["total_steps"] == 20 and summary["best_val_loss"] == pytest.approx(2.9)
    text = plain(report(summary))
    assert "Training failed" in text and "20 of 100" in text and "out of disk" in text


class Host(App):
    def __init__(self, screen):
        super().__init__()
        self.start = screen
        self.opened = []

    def on_mount(self):
        self.push_screen(self.start)

    def open_area(self, area, **context):
        self.opened.append((area, context))

    def open_knowledge(self, link):
        self.opened.append(("knowledge", {"link": link}))


async def test_keys_open_diagnosis_interpretation_validation_and_knowledge():
    run = RunBuffer("demo")
    for step in range(10, 2010, 10):
        run.append({"step": step, "train_loss": 3 - step / 1000})
    app = Host(SummaryScreen(summary=FINISHED, run=run))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        assert app.screen.query("MetricPlot")  # the loss curve at this height
        await pilot.press("d", "i", "v", "k")
    run_dir = FINISHED["run_dir"]
    assert app.opened == [
        ("diagnose", {"path": run_dir, "symptoms": ["loss_unstable"]}),
        ("interpret", {"path": run_dir}), ("validate", {"path": run_dir}),
        ("knowledge", {"link": "common-failures.md#overfitting"}),
    ]


async def test_a_asks_the_diagnostician_about_the_runs_warning():
    run = RunBuffer("demo")
    for step in range(10, 110, 10):
        run.append({"step": step, "train_loss": 3 - step / 100})
    run.add_event({"kind": "warning", "step": 40, "code": "grad_spike", "severity": "warning",
                   "message": "grad norm 90 is 30x its moving average"})
    app = Host(SummaryScreen(summary=FINISHED, run=run))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        await pilot.press("a")
    area, context = app.opened[0]
    assert area == "ask" and context["advisor"] == "diagnostician"
    assert context["run"] == FINISHED["run_dir"]
    assert "step 40" in context["text"] and "grad norm 90" in context["text"]


async def test_validate_needs_a_checkpoint():
    summary = {**FINISHED, "last_checkpoint": None, "best_checkpoint": None}
    app = Host(SummaryScreen(summary=summary))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("v")
        await pilot.pause()
        assert app.opened == []
        assert any("no checkpoint" in n.message for n in app._notifications)


def test_summary_loads_from_a_run_directory(tmp_path: Path):
    (tmp_path / "summary.json").write_text(json.dumps({**FINISHED, "best_val_loss": "NaN"}))
    screen = SummaryScreen(path=tmp_path)
    assert screen.summary["name"] == "demo-tiny-gpt"
    assert screen.summary["best_val_loss"] != screen.summary["best_val_loss"]  # NaN decoded
    with pytest.raises(NtTuiError, match="no run summary"):
        SummaryScreen(path=tmp_path / "nothing-here")
