"""Small patterns the screens share."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import App
from textual.screen import Screen

from nt_tui.errors import NtTuiError


def open_screen(app: App, make: Callable[[], Screen], *, title: str, switch: bool = False,
                timeout: float | None = 8) -> bool:
    """Build a screen with `make` and show it: pushed, or in place of the current one with
    `switch`. Bad input (an `NtTuiError` while building) becomes an error notification
    titled `title` instead, and the current screen stays. True when the screen opened."""
    try:
        screen = make()
    except NtTuiError as exc:
        app.notify(exc.one_line(), title=title, severity="error", timeout=timeout)
        return False
    if switch:
        app.switch_screen(screen)
    else:
        app.push_screen(screen)
    return True
