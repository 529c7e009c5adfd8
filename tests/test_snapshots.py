"""Snapshot tests of the main screens (pytest-textual-snapshot 1.1.0, Textual 8.2).

Fixed data only: the monitor is fed by a recorded feed, never a live training worker.
Update after an intended change with `pytest tests/test_snapshots.py --snapshot-update`.
"""

from pathlib import Path

import pytest

from monitor_fakes import RecordedFeed
from nt_tui.tui.app import NtTuiApp
from nt_tui.tui.screens.summary import SummaryScreen

REPO = Path(__file__).resolve().parents[1]
SIZES = {"80x24": (80, 24), "160x48": (160, 48)}


@pytest.fixture(autouse=True)
def _from_the_repository(monkeypatch):
    """Paths on screen are shown relative to the working directory."""
    monkeypatch.chdir(REPO)


async def _settle(pilot):
    app = pilot.app
    await app.workers.wait_for_complete()
    await pilot.pause()
    if hasattr(app.screen, "refresh_view"):
        app.screen.refresh_view()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_review_demo_config(snap_compare, size):
    app = NtTuiApp(config_path=Path("examples/demo-tiny-gpt.yaml"))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=_settle)


def test_review_refused_config(snap_compare):
    app = NtTuiApp(config_path=Path("examples/no-logging.yaml"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=_settle)


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_monitor_recorded_run(snap_compare, size):
    app = NtTuiApp(area="monitor", area_args={"feed": RecordedFeed()})
    assert snap_compare(app, terminal_size=SIZES[size], run_before=_settle)


def test_summary_after_a_run(snap_compare):
    from test_tui_summary import FINISHED

    async def show_summary(pilot):
        await _settle(pilot)
        app = pilot.app
        run = next(iter(app.screen.runs.values()))
        app.push_screen(SummaryScreen(summary=FINISHED, run=run))
        await pilot.pause()

    app = NtTuiApp(area="monitor", area_args={"feed": RecordedFeed()})
    assert snap_compare(app, terminal_size=(100, 40), run_before=show_summary)
