"""The screen of an area that is not built yet: says what it will hold, pretends nothing."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from nt_tui.tui.areas import Area


class PlannedScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="planned.back")]

    def __init__(self, area: Area, **_context: object) -> None:
        super().__init__()
        self.area = area

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(
            f"[b]{self.area.title}[/b]\n\n{self.area.summary}\n\n"
            "This area is not available in this version yet: nothing here runs. "
            "Press Escape to go back.",
            id="planned",
        )
        yield Footer()
