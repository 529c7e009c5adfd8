"""The Interpret curves screen driven through Pilot on real corpus logs."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, OptionList, Static

from conftest import CORPUS
from nt_tui.tui.app import NtTuiApp
from nt_tui.tui.screens.interpret import InterpretScreen
from nt_tui.tui.widgets.metric_plot import MetricPlot

WHISPER = CORPUS / "hf_trainer_state" / "P4P4N1CK__whisper-large-v2-japanese__trainer_state.json"
SLM_V0 = CORPUS / "lightning_csv" / "0Xero7__slm_training__v0_metrics.csv"
SLM_V5 = CORPUS / "lightning_csv" / "0Xero7__slm_training__v5_metrics.csv"


async def wait_for_result(app: NtTuiApp, pilot) -> InterpretScreen:
    screen = app.screen
    assert isinstance(screen, InterpretScreen)
    await app.workers.wait_for_complete()
    await pilot.pause()
    return screen


async def test_plots_numbers_and_ranked_conclusions(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = NtTuiApp(area="interpret", area_args={"path": WHISPER})
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await wait_for_result(app, pilot)
        assert [plot.title for plot in screen.query(MetricPlot)] == ["loss", "learning rate"]
        numbers = str(screen.query_one("#numbers-text", Static).render())
        assert "val best 0.321 @ 1,000" in numbers and "overfitting from 2,000" in numbers
        conclusions = screen.query_one("#conclusions", OptionList)
        first = conclusions.get_option_at_index(0)
        assert "overfitting" in str(first.prompt)
        assert screen.links[first.id] == "common-failures.md#overfitting"
        await pilot.press("ctrl+s")
        await pilot.pause()
        report = tmp_path / "P4P4N1CK__whisper-large-v2-japanese__trainer_state-report.md"
        assert "## Conclusions" in report.read_text()


async def test_baseline_overlays_and_bad_path_is_a_notification(tmp_path: Path):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 8)
    app = NtTuiApp(area="interpret", area_args={"path": SLM_V5, "baseline": SLM_V0})
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await wait_for_result(app, pilot)
        loss = screen.query(MetricPlot).first()
        assert [trace.label for trace in loss.traces] == [
            "train_loss", "val_loss", "train_loss (baseline)", "val_loss (baseline)"]
        assert screen.result.baseline.aligned_by == "relative"
        # v5 resumes at step 140,749 and v0 starts at 49: both are drawn from their start
        assert [trace.run.first_step for trace in loss.traces] == [0, 0, 0, 0]
        path_input = screen.query_one("#path", Input)
        path_input.value = str(garbage)
        path_input.focus()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is screen  # still open
        messages = [n.message for n in app._notifications]
        assert any("binary data" in m and "nt-tui reads:" in m for m in messages)
        assert screen.result.run == "0Xero7__slm_training__v5_metrics"  # the last good result
