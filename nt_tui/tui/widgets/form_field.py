"""One line of a form: a label and a compact input, so a dozen fields fit on an 80x24 screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label


class FormField(Horizontal):
    """`label` beside an `Input` whose id is `field_id` (query it as `#field_id`)."""

    DEFAULT_CSS = """
    FormField { height: 1; margin: 0 0 1 0; }
    FormField > Label { width: 24; color: $text-muted; }
    FormField > Input { width: 1fr; }
    """

    def __init__(self, label: str, field_id: str, *, value: str = "", placeholder: str = "",
                 tooltip: str | None = None) -> None:
        super().__init__()
        self.label = label
        self.field_id = field_id
        self.initial_value = value
        self.placeholder = placeholder
        self.help_text = tooltip

    def compose(self) -> ComposeResult:
        yield Label(self.label)
        yield Input(self.initial_value, self.placeholder, id=self.field_id, compact=True,
                    tooltip=self.help_text)
