"""The home screen: every area one key away."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from nt_tui.tui.areas import AREAS, AREAS_BY_ID

INTRO = (
    "[b]nt-tui[/b], a training coach for Transformers. Press a key, or pick with the arrows "
    "and Enter. [b]ctrl+p[/b] searches everything, [b]?[/b] lists the keys, [b]q[/b] quits."
)


class HomeScreen(Screen):
    """Lists the areas; each area's key opens it."""

    BINDINGS = [
        Binding(area.key, f"open_area('{area.id}')", area.title, show=False,
                id=f"home.{area.id}")
        for area in AREAS
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="home"):
            yield Static(INTRO, id="intro")
            yield OptionList(
                *(Option(f"[b]{area.key}[/b]  {area.title:<20} [dim]{area.summary}[/dim]",
                         id=area.id) for area in AREAS),
                id="areas",
            )
        yield Footer()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.app.open_area(event.option.id)

    def action_open_area(self, area_id: str) -> None:
        self.app.open_area(area_id)

    def area_titles(self) -> list[str]:
        return [AREAS_BY_ID[a.id].title for a in AREAS]
