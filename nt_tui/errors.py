"""The one error type nt-tui lets reach the user.

Every bad input (a broken config, an unreadable log, a missing checkpoint) raises
`NtTuiError` with a message that names the problem and a hint that names the fix. The CLI
prints it as one line and exits with `EXIT_USER_ERROR`; the app shows it as a notification.
"""

from __future__ import annotations

EXIT_USER_ERROR = 2


class NtTuiError(Exception):
    """A problem with the user's input that the user can fix."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and hint on a single line, as the CLI prints it."""
        text = " ".join(self.message.split())
        if self.hint:
            text += f" ({' '.join(self.hint.split())})"
        return text

    def __str__(self) -> str:
        return self.one_line()
