"""Load runs: one path to one `RunHistory`, several for comparison, aligned by step."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Iterable

from nt_tui.errors import NtTuiError
from nt_tui.runlogs.detect import (
    FORMAT_NAMES, SUPPORTED, discover_runs, open_source, unreadable,
)
from nt_tui.runlogs.formats.base import LogSource
from nt_tui.runlogs.history import RunHistory
from nt_tui.runlogs.tidy import build_history

#: How runs are lined up for comparison: by their logged step, or by steps since their first
#: record (fine-tunes that start from different steps).
ALIGN_STEP = "step"
ALIGN_RELATIVE = "relative"


def history_from_source(source: LogSource) -> RunHistory:
    """Read a source once into a `RunHistory`; NtTuiError when it holds no metric rows."""
    batch = source.read()
    notes = list(batch.notes)
    if batch.pending:
        notes.append(f"ignored a torn last line ({batch.pending} bytes without a newline)")
    if batch.raw.empty:
        raise NtTuiError(
            f"{source.path}: {FORMAT_NAMES.get(source.format, source.format)} with no metric "
            "records" + (" (only a torn line)" if batch.pending else ""), hint=SUPPORTED)
    history = build_history(batch.raw, name=source.name, source=str(source.path),
                            format=source.format, notes=notes, events=batch.events,
                            config=source.config(), explicit_nan=batch.explicit_nan,
                            nan_mask=batch.nan_mask)
    if history.frame.empty:
        raise NtTuiError(f"{source.path}: no rows with a step could be read", hint=SUPPORTED)
    return history


def load_run(path: str | Path) -> RunHistory:
    """The run at `path` (file or directory, any supported format), read once."""
    return history_from_source(open_source(Path(path)))


def load_runs(paths: Iterable[str | Path]) -> list[RunHistory]:
    """Every run at or under each path (a directory of runs gives all of them)."""
    histories = []
    for path in paths:
        runs = discover_runs(path)
        if not runs:
            raise unreadable(Path(path), "directory with no training logs")
        histories += [load_run(run) for run in runs]
    return _unique_names(histories)


def _unique_names(histories: list[RunHistory]) -> list[RunHistory]:
    seen: dict[str, int] = {}
    named = []
    for history in histories:
        count = seen.get(history.name, 0)
        seen[history.name] = count + 1
        named.append(history if not count else replace(history, name=f"{history.name}#{count + 1}"))
    return named


def relative_steps(history: RunHistory) -> RunHistory:
    """The same run with steps counted from its first record (step 0)."""
    frame = history.frame.copy()
    if not len(frame):
        return replace(history, frame=frame)
    first = int(frame["step"].iloc[0])
    frame["step"] = frame["step"] - first
    nan_steps = {metric: [step - first for step in steps]
                 for metric, steps in history.nan_steps.items()}
    return replace(history, frame=frame, nan_steps=nan_steps)


def align(histories: list[RunHistory], by: str = ALIGN_STEP) -> list[RunHistory]:
    """Runs lined up for overlaid charts: unchanged (`step`) or from step 0 (`relative`)."""
    if by == ALIGN_STEP:
        return list(histories)
    if by == ALIGN_RELATIVE:
        return [relative_steps(history) for history in histories]
    raise NtTuiError(f"unknown alignment {by!r}", hint=f"use {ALIGN_STEP} or {ALIGN_RELATIVE}")
