"""The real thing: the app trains a nano GPT on the demo text in its worker thread while Pilot
watches the monitor, pauses, resumes and stops it, and sees a spike raise a warning."""

from pathlib import Path

import pytest
import yaml

from conftest import wait_until
from nt_tui.tui.app import NtTuiApp
from nt_tui.tui.screens.monitor import MonitorScreen
from nt_tui.tui.screens.summary import SummaryScreen
from nt_tui.tui.widgets.confirm import ConfirmDialog
from nt_tui.tui.widgets.metric_plot import MetricPlot
from nt_tui.tui.widgets.warnings_panel import WarningsPanel



@pytest.fixture(autouse=True)
def _one_torch_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def demo_config(tmp_path: Path, name: str, **sections) -> Path:
    """The demo config made tiny: nano model, short sequences, frequent logs."""
    config = {
        "name": name,
        "model": {"size": "nano"},
        "data": {"train": "demo:tinyshakespeare", "val_split": 0.1, "batch_size": 4,
                 "seq_len": 32},
        "schedule": {"total_steps": 400},
        "logging": {"backends": ["jsonl"], "every": 2, "validate_every": 10,
                    "val_batches": 1, "run_dir": str(tmp_path / "runs")},
        "checkpointing": {"every": 1000},
    }
    for section, values in sections.items():
        config[section] = {**config.get(section, {}), **values}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def last_step(screen: MonitorScreen) -> int:
    run = screen.runs.get(screen.focus_run or "")
    return (run.last_step or 0) if run is not None else 0


async def test_train_watch_pause_resume_stop_and_summary(tmp_path):
    # Planned far beyond what the test waits for (a nano step takes milliseconds): the stop
    # key, not the end of the schedule, ends this run.
    app = NtTuiApp(config_path=demo_config(tmp_path, "pilot-run",
                                           schedule={"total_steps": 20_000}))
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("enter")
        monitor = app.screen
        assert isinstance(monitor, MonitorScreen)
        await wait_until(pilot, lambda: last_step(monitor) >= 6, "the first logged steps")
        monitor.refresh_view()
        loss_plot = monitor.query(MetricPlot).first()
        seen = last_step(monitor)  # a busy machine may deliver many steps in one drain
        first_draw = [line.text for line in loss_plot.draw()]
        first_status = monitor.status_text().plain
        await wait_until(pilot, lambda: last_step(monitor) >= seen + 4, "more steps")
        monitor.refresh_view()
        now = last_step(monitor)
        assert [line.text for line in loss_plot.draw()] != first_draw
        assert monitor.status_text().plain != first_status
        assert f"step {now:,}/20,000" in monitor.status_text().plain

        await pilot.press("space")
        await wait_until(pilot, lambda: monitor.state == "paused", "the pause event")
        paused_at = last_step(monitor)
        await pilot.pause(1.0)
        assert last_step(monitor) == paused_at
        await pilot.press("space")
        await wait_until(pilot, lambda: last_step(monitor) > paused_at, "training to resume")
        assert monitor.state == "running"

        await pilot.press("c")  # checkpoint now
        await wait_until(pilot, lambda: any(
            e.get("kind") == "checkpoint" and e.get("best") is False
            for e in monitor.runs[monitor.focus_run].events), "the requested checkpoint")

        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, SummaryScreen), "the summary")
        summary = app.screen.summary
        assert summary["status"] == "stopped"
        assert Path(summary["last_checkpoint"]).is_file()
        text = "\n".join(s.text for s in app.screen._compositor.render_strips())
        assert "Training stopped" in text and "Recommendation" in text
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is monitor and monitor.state == "stopped"


async def test_a_run_configured_to_spike_raises_a_warning_with_a_way_to_diagnose(tmp_path):
    config = demo_config(tmp_path, "spiky",
                         optimizer={"lr": 0.75},
                         schedule={"total_steps": 30, "warmup_steps": 25, "name": "constant"},
                         regularization={"grad_clip": 0.0},
                         logging={"every": 1, "validate_every": 1000})
    opened = []
    app = NtTuiApp(config_path=config)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await pilot.press("s", "enter")
        # A 30-step run may end before Pilot looks: the summary then sits on the monitor.
        monitor = next(s for s in app.screen_stack if isinstance(s, MonitorScreen))
        panel = monitor.query_one(WarningsPanel)
        await wait_until(pilot, lambda: panel.alerts, "an early warning")
        await wait_until(pilot, lambda: isinstance(app.screen, SummaryScreen), "the summary")
        assert app.screen.summary["status"] == "finished"
        assert app.screen.summary["warnings"].get("loss_spike", 0) >= 1
        await pilot.press("escape")  # back to the curves: the warnings are still there
        await pilot.pause()
        assert app.screen is monitor and monitor.state == "finished"
        alert = panel.alerts[0]  # the first one raised (listed last)
        assert alert.code == "loss_spike" and isinstance(alert.event["step"], int)
        assert alert.knowledge == "common-failures.md#loss-spikes"
        assert any("ask the diagnostician" in n.message for n in app._notifications)
        app.open_area = lambda area, **context: opened.append((area, context))
        panel.highlighted = len(panel.alerts) - 1
        await pilot.press("d", "a")
    area, context = opened[0]
    assert area == "diagnose" and context["symptoms"] == ["loss_unstable"]
    assert Path(context["path"]).parent == tmp_path / "runs"
    area, context = opened[1]
    assert area == "ask" and context["advisor"] == "diagnostician"
    assert context["run"] == opened[0][1]["path"]
    assert f"step {alert.event['step']}" in context["text"]
