"""A yes/no question over the current screen (Enter or y confirms, Escape or n cancels)."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class ConfirmDialog(ModalScreen[bool]):
    """Dismisses with True (confirmed) or False."""

    BINDINGS = [
        Binding("enter,y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("escape,n", "answer(False)", "No", id="confirm.no"),
    ]
    DEFAULT_CSS = """
    ConfirmDialog { align: center middle; }
    ConfirmDialog > Vertical { width: 90%; max-width: 72; height: auto;
        border: round $primary; background: $surface; padding: 0 1; }
    ConfirmDialog #confirm-keys { color: $text-muted; margin-top: 1; }
    """

    def __init__(self, question: str, details: str = "", yes: str = "confirm",
                 no: str = "cancel") -> None:
        super().__init__()
        self.question = question
        self.details = details
        self.yes, self.no = yes, no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"[b]{escape(self.question)}[/b]", id="confirm-question")
            if self.details:
                yield Static(escape(self.details), id="confirm-details")
            yield Static(f"[b]Enter[/b]/[b]y[/b] {self.yes}    [b]Escape[/b]/[b]n[/b] {self.no}",
                         id="confirm-keys")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
