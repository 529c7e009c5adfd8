"""nt-tui: a neural-network training coach in the terminal.

For hand-written training loops: `nt_tui.log(step, train_loss=...)`, or
`with nt_tui.run(name=...) as run: run.log(...)`. See nt_tui/integrations/runlogger.py.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def log(step: int, **metrics: Any) -> None:
    """Log metrics for `step` to the current nt-tui run directory (opened on first use)."""
    from nt_tui.integrations import runlogger

    runlogger.log(step, **metrics)


def run(name: str = "run", **options: Any):
    """Open an nt-tui run directory for a hand-written loop (a context manager)."""
    from nt_tui.integrations import runlogger

    return runlogger.run(name, **options)


def finish() -> None:
    """Close the current run opened by `log` or `run`."""
    from nt_tui.integrations import runlogger

    runlogger.finish()
