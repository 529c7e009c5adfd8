"""Read and write the big numbers of scaling work: 124M parameters, 1.4T tokens, 1e21 FLOPs, 2h.

`parse_count("2.5M") == 2.5e6`, `format_count(2.89e9) == "2.89B"`, `parse_duration("90m")`
== 5400 seconds. Bad text raises `NtTuiError` naming the text and the accepted forms.
"""

from __future__ import annotations

import math
import re

from nt_tui.errors import NtTuiError

#: Suffixes for counts (parameters, tokens), as in "124M", "7B", "1.4T".
COUNT_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12, "p": 1e15}
#: Suffixes for durations; a bare number is seconds.
DURATION_SUFFIXES = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_NUMBER = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def _parse_suffixed(text: str | float | int, what: str, suffixes: dict[str, float],
                    example: str, must_be: str) -> float:
    """A positive number from a number or text with an optional unit suffix from `suffixes`;
    bad text is an `NtTuiError` whose hint is "write <example>"."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        match = _NUMBER.match(str(text))
        suffix = match.group(2).lower() if match else ""
        if not match or (suffix and suffix not in suffixes):
            raise NtTuiError(f"cannot read {what} {text!r}", hint=f"write {example}")
        value = float(match.group(1)) * suffixes.get(suffix, 1.0)
    if not (math.isfinite(value) and value > 0):
        raise NtTuiError(f"{what} must be {must_be}, got {text!r}", hint=f"write {example}")
    return value


def parse_count(text: str | float | int, what: str = "count") -> float:
    """A positive count from a number or text such as `1e21`, `124M`, `7B`, `1.4T`."""
    return _parse_suffixed(text, what, COUNT_SUFFIXES,
                           "a number such as 1e21, 124M, 7B or 1.4T", "a positive number")


def parse_duration(text: str | float | int, what: str = "duration") -> float:
    """Seconds from a number of seconds or text such as `90s`, `10m`, `2.5h`, `3d`."""
    return _parse_suffixed(text, what, DURATION_SUFFIXES,
                           "a duration such as 90s, 10m, 2.5h or 3d", "positive")


def format_count(value: float) -> str:
    """Three significant digits with a suffix: 2.89B, 57.7B, 124M, 950."""
    if not math.isfinite(value):
        return str(value)
    for suffix, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            if abs(value) >= 1000 * 1e12:
                return f"{value:.3g}"
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def format_duration(seconds: float) -> str:
    """Short human duration: 0.25 s, 45 s, 12.5 min, 3.2 h, 4.1 days."""
    if not math.isfinite(seconds):
        return "unknown"
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
