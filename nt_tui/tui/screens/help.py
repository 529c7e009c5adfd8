"""The help screen: every key binding active where it was opened, and the CLI commands."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from nt_tui.tui.areas import AREAS


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help.close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; max-width: 100; height: 90%;
        border: round $primary; background: $surface; padding: 0 1; }
    """

    def __init__(self, bindings: list[tuple[str, str]]) -> None:
        super().__init__()
        self.bindings_shown = bindings

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("[b]Keys[/b] (Escape closes)")
            keys = DataTable(id="help-keys", show_cursor=False, zebra_stripes=True)
            keys.add_columns("key", "action")
            for key, description in self.bindings_shown:
                keys.add_row(key, description)
            yield keys
            yield Static("\n[b]Areas and their commands[/b]")
            areas = DataTable(id="help-areas", show_cursor=False)
            areas.add_columns("key", "area", "command line")
            for area in AREAS:
                areas.add_row(area.key, area.title, area.cli)
            yield areas


def active_bindings(screen) -> list[tuple[str, str]]:
    """(key, description) for every binding active on `screen`, app bindings included."""
    rows = []
    seen = set()
    for key, active in screen.active_bindings.items():
        binding = active.binding
        label = binding.description or binding.action
        if (key, label) not in seen:
            seen.add((key, label))
            rows.append((active.binding.key_display or key, label))
    return rows
