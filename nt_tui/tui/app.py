"""The nt-tui Textual app: home screen, areas, themes, help, command palette.

Start-up imports only Textual and nt-tui's light modules; torch, accelerate and pandas are
imported by the screens that need them, when they open.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from nt_tui.settings import UserSettings
from nt_tui.tui.areas import AREAS_BY_ID
from nt_tui.tui.palette import AreasProvider, KnowledgeProvider
from nt_tui.tui.screens._common import open_screen
from nt_tui.tui.screens.help import HelpScreen, active_bindings
from nt_tui.tui.screens.home import HomeScreen
from nt_tui.tui.screens.planned import PlannedScreen
from nt_tui.tui.themes import load_themes


class NtTuiApp(App):
    """The full-screen app. `config_path` opens the config review; `area` opens an area."""

    TITLE = "nt-tui"
    SUB_TITLE = "training coach"
    COMMANDS = App.COMMANDS | {AreasProvider, KnowledgeProvider}
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        Binding("ctrl+p", "command_palette", "Palette", show=False, id="app.palette"),
        Binding("h", "home", "Home", show=False, id="app.home"),
    ]

    def __init__(self, *, config_path: Path | None = None, area: str | None = None,
                 area_args: dict[str, Any] | None = None, settings: UserSettings | None = None,
                 ) -> None:
        super().__init__()
        self.settings = settings or UserSettings.load()
        self.start_config = config_path
        self.start_area = area
        self.start_area_args = area_args or {}
        loaded = load_themes()
        for theme in loaded.themes:
            self.register_theme(theme)
        self.theme_problems = loaded.problems
        self.theme = (self.settings.theme if self.settings.theme in self.available_themes
                      else "nt-dark")

    def on_mount(self) -> None:
        self.push_screen(HomeScreen())
        for problem in self.theme_problems:
            self.notify(f"theme skipped: {problem}", severity="warning")
        if self.start_config is not None:
            self.open_area("train", config_path=self.start_config)
        elif self.start_area is not None:
            self.open_area(self.start_area, **self.start_area_args)

    def watch_theme(self, theme: str) -> None:
        if theme != self.settings.theme:
            self.settings.theme = theme
            try:
                self.settings.save()
            except OSError as exc:
                self.notify(f"could not save the theme: {exc}", severity="warning")

    def make_area_screen(self, area_id: str, **context: Any) -> Screen:
        """The screen of an area, built with `context` (or PlannedScreen if not built yet)."""
        area = AREAS_BY_ID[area_id]
        module_name, class_name = area.screen.split(":")
        try:
            module = importlib.import_module(f"nt_tui.tui.screens.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"nt_tui.tui.screens.{module_name}":
                raise
            return PlannedScreen(area, **context)
        return getattr(module, class_name)(**context)

    def open_area(self, area_id: str, **context: Any) -> None:
        """Open an area's screen; bad input becomes a notification, the app stays open."""
        open_screen(self, lambda: self.make_area_screen(area_id, **context), title="Cannot open")

    def open_knowledge(self, link: str) -> None:
        """Open the knowledge browser at a deep link such as `common-failures.md#nan-or-inf-loss`."""
        self.open_area("knowledge", link=link)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(active_bindings(self.screen)))

    def action_home(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()

    def get_system_commands(self, screen: Screen):
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "Show every key binding", self.action_help)


def run_app(config_path: Path | None = None, area: str | None = None, **area_args: Any) -> int:
    """Run the app full-screen; returns the exit code.

    A hang-up (the SSH connection dropped) or SIGTERM stops any training after its current
    step with a final checkpoint, and the app exits once the run has written it.
    """
    import asyncio

    from nt_tui.engine.control import leave_after_runs, stop_runs_on_signals

    app = NtTuiApp(config_path=config_path, area=area, area_args=area_args)

    def exit_app(name: str) -> None:
        del name
        try:  # the handler runs on the main thread, between steps of the app's event loop
            asyncio.get_running_loop().call_soon_threadsafe(app.exit)
        except RuntimeError:
            app.exit()
        # the terminal may be gone: should closing the app stall on it, the process still
        # leaves once the runs have written their final checkpoints
        leave_after_runs()

    with stop_runs_on_signals(exit_app):
        app.run()
    return 0
