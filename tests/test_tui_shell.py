"""The app shell driven through Pilot: home, areas, help, palette, themes, NO_COLOR, 80x24."""

import json
from pathlib import Path

import pytest
from textual.widgets import OptionList

from nt_tui.settings import UserSettings
from nt_tui.tui.app import NtTuiApp
from nt_tui.tui.areas import AREAS
from nt_tui.tui.screens.help import HelpScreen
from nt_tui.tui.screens.home import HomeScreen


async def test_home_lists_every_area_at_80x24():
    app = NtTuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        options = app.screen.query_one("#areas", OptionList)
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == [
            a.id for a in AREAS]


@pytest.mark.parametrize("area", AREAS, ids=[a.id for a in AREAS])
async def test_each_area_opens_with_its_key_and_escape_returns(area):
    app = NtTuiApp()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await pilot.press(area.key)
        await pilot.pause()
        assert not isinstance(app.screen, HomeScreen), area.id
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen), area.id


async def test_help_screen_lists_bindings():
    app = NtTuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        shown = dict(app.screen.bindings_shown)
        assert "Quit" in shown.values() and "Train" in shown.values()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_palette_opens_an_area():
    app = NtTuiApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Open Knowledge")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert app.screen.__class__.__name__ != "HomeScreen"
        assert "Knowledge" in str(app.screen.__class__.__name__) or app.screen.query("*")


async def test_theme_is_remembered(_isolated_user_config: Path):
    app = NtTuiApp()
    async with app.run_test() as pilot:
        assert {"nt-dark", "nt-light", "nt-high-contrast"} <= set(app.available_themes)
        app.theme = "nt-high-contrast"
        await pilot.pause()
    saved = json.loads(UserSettings.path().read_text())
    assert saved["theme"] == "nt-high-contrast"
    again = NtTuiApp()
    async with again.run_test() as pilot:
        assert again.theme == "nt-high-contrast"


async def test_bad_user_theme_is_reported_and_skipped(_isolated_user_config: Path):
    folder = _isolated_user_config / "nt-tui" / "themes"
    folder.mkdir(parents=True)
    (folder / "broken.yaml").write_text("name: broken\n")  # no primary colour
    (folder / "mine.yaml").write_text("name: mine\nprimary: '#ff0000'\n")
    app = NtTuiApp()
    async with app.run_test() as pilot:
        await pilot.pause()
        assert "mine" in app.available_themes and "broken" not in app.available_themes
        assert any("broken.yaml" in n.message for n in app._notifications)


async def test_no_color_still_renders(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = NtTuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert app.no_color


async def test_quit_key_exits():
    app = NtTuiApp()
    async with app.run_test() as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
