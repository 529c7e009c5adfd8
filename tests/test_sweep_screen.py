"""The Sweep & LR finder screen driven from the keyboard through Pilot (a real range test and a
real two-trial sweep), and the analysis areas (knowledge, ask, scaling, sweep, validate, plan)
opening from their home keys as working screens, not placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static, TabbedContent

from conftest import wait_until
from nt_tui.config import load_config
from nt_tui.tui.app import NtTuiApp
from nt_tui.tui.screens.ask import AskScreen
from nt_tui.tui.screens.home import HomeScreen
from nt_tui.tui.screens.knowledge import KnowledgeScreen
from nt_tui.tui.screens.plan import PlanScreen
from nt_tui.tui.screens.planned import PlannedScreen
from nt_tui.tui.screens.scaling import ScalingScreen
from nt_tui.tui.screens.sweep import SweepScreen
from nt_tui.tui.screens.validate import ValidateScreen

#: A one-layer, 32-wide GPT on a little text: a range test of 30 steps takes a second or two.
BASE = """\
seed: 1
model: {size: nano, n_layer: 1, n_head: 2, n_embd: 32}
data: {train: text.txt, val_split: 0.2, batch_size: 4, seq_len: 16}
schedule: {total_steps: 100}
logging: {backends: [jsonl], every: 3, validate_every: 3, val_batches: 2}
"""
SWEEP = """\
name: screen
base_config: base.yaml
method: grid
max_steps: 6
parameters:
  optimizer.lr: {values: [1e-3, 3e-3]}
"""


@pytest.fixture
def folder(tmp_path, monkeypatch):
    from nt_tui.resources import read_demo_corpus

    monkeypatch.chdir(tmp_path)
    (tmp_path / "text.txt").write_text(read_demo_corpus()[:8000], encoding="utf-8")
    (tmp_path / "base.yaml").write_text(BASE, encoding="utf-8")
    (tmp_path / "sweep.yaml").write_text(SWEEP, encoding="utf-8")
    return tmp_path


async def _settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_lr_finder_and_sweep_from_the_keyboard(folder: Path):
    import torch

    torch.set_num_threads(1)
    original = (folder / "base.yaml").read_bytes()
    app = NtTuiApp()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await pilot.press("w")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SweepScreen)
        assert app.focused is screen.query_one("#lr-config", Input)  # ready to type

        # LR finder: type the config, Enter runs the test, w writes the new config
        screen.query_one("#lr-steps", Input).value = "30"
        await pilot.press(*"base.yaml", "enter")
        await _settle(app, pilot)
        result = str(screen.query_one("#lr-result", Static).content)
        assert "Suggested learning rate" in result and "Press w" in result, result
        assert screen.curve is not None and len(screen.curve.lrs) >= 10
        await pilot.press("w")
        await pilot.pause()
        written = folder / "base-lr-find.yaml"
        assert screen.written.resolve() == written and written.exists()
        assert load_config(written).optimizer.lr == screen.curve.suggestion.lr
        assert (folder / "base.yaml").read_bytes() == original  # never overwritten
        assert "Wrote" in str(screen.query_one("#lr-result", Static).content)

        # ctrl+t: the sweep tab, its file field focused; Enter loads, ctrl+r runs it
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert screen.query_one("#tabs", TabbedContent).active == "sweep-tab"
        assert app.focused is screen.query_one("#sweep-file", Input)
        await pilot.press(*"sweep.yaml", "enter")
        await _settle(app, pilot)
        assert "ctrl+r runs or resumes it" in str(screen.query_one("#sweep-status",
                                                                    Static).content)
        await pilot.press("ctrl+r")
        await _settle(app, pilot)
        await wait_until(pilot, lambda: screen.sweep_outcome is not None,
                         lambda: "the sweep's outcome (status: "
                                 f"{screen.query_one('#sweep-status', Static).content})")
        await _settle(app, pilot)  # the last poll of the storage
        assert screen.sweep_outcome.status == "done"
        table = screen.query_one("#sweep-table", DataTable)
        assert table.row_count == 2
        assert [row.state for row in screen.rows] == ["complete", "complete"]
        assert "Best: trial" in str(screen.query_one("#sweep-status", Static).content)
        assert (folder / "sweeps" / "screen" / "study.db").exists()

        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


@pytest.mark.parametrize("key, screen_class, focused_id", [
    ("k", KnowledgeScreen, None), ("a", AskScreen, "ask-text"), ("s", ScalingScreen, "compute"),
    ("w", SweepScreen, "lr-config"), ("v", ValidateScreen, "path"), ("p", PlanScreen, "question"),
])
async def test_analysis_areas_open_from_their_home_key_as_working_screens(
        key: str, screen_class: type, focused_id: str | None):
    app = NtTuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(key)
        await pilot.pause()
        assert isinstance(app.screen, screen_class) and not isinstance(app.screen, PlannedScreen)
        assert app.focused is not None  # the keyboard lands somewhere useful
        if focused_id is not None:
            assert isinstance(app.focused, Input) and app.focused.id == focused_id
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
