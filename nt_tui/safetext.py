"""Make text from logs safe to show in a terminal.

Run names, metric names and log text come from files nt-tui did not write. An ANSI escape or
other control character in them could move the cursor, change colours or retitle the terminal,
so everything shown goes through `clean` first (and the app renders it as plain `Text`, never
as markup).
"""

from __future__ import annotations

import re

#: CSI / OSC / other escape sequences, then any remaining C0/C1 control character except tab.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def clean(text: object, max_length: int | None = None) -> str:
    """`text` as a string with escape sequences and control characters removed."""
    result = _CONTROLS.sub("", _ESCAPES.sub("", str(text)))
    if max_length is not None and len(result) > max_length:
        result = result[: max_length - 1] + "…"
    return result
