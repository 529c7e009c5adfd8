"""Follow runs live: `Follower(path).poll()` returns what was appended since the last poll.

    follower = Follower("runs/")              # one run, or a directory of runs
    while watching:
        update = follower.poll()              # cheap: reads only new bytes / new events
        if update.reset: ...                  # drop the rows of update.reset_runs first
        plot(update.rows)                     # canonical columns plus `run`
        time.sleep(0.25)

Torch-free and Textual-free, so the monitor calls `poll()` from a worker thread. The first
poll returns everything there is. Each later one costs time proportional to the new data: text
logs are read from a byte offset, TensorBoard files through loaders that remember where they
stopped, trainer_state.json only when it changed. A truncated, rotated or rewritten file (or
a run resumed from an earlier step) is re-read whole and flagged `reset`. A directory is
rescanned for new runs at most every `RESCAN_SECONDS`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from nt_tui.errors import NtTuiError
from nt_tui.runlogs.detect import check_access, discover_runs, open_source
from nt_tui.runlogs.formats.base import LogSource
from nt_tui.runlogs.formats.nt_run import FORMAT as NT_TUI_FORMAT
from nt_tui.runlogs.tidy import canonicalize, resolve_steps

#: A directory of runs is scanned for new runs at most this often (a scan walks the tree).
RESCAN_SECONDS = 1.0
RUN_COLUMN = "run"


@dataclass
class RunUpdate:
    """What one run added since the last poll."""

    name: str
    path: Path
    format: str
    #: new rows: `step` and canonical/original metric columns, one row per step, ascending;
    #: the first row may repeat the previous poll's last step with both polls' values merged
    #: (a train row, then the eval row at its step): it replaces that row
    rows: pd.DataFrame
    #: True when the run was re-read from its start: `rows` hold all of it
    reset: bool = False
    notes: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FollowUpdate:
    """What a poll found: per-run updates, runs that appeared, runs that failed to read."""

    runs: dict[str, RunUpdate] = field(default_factory=dict)
    new_runs: list[Path] = field(default_factory=list)
    #: one line per run that could not be read this time (it is tried again next poll)
    errors: list[str] = field(default_factory=list)

    @property
    def rows(self) -> pd.DataFrame:
        """New rows of every run, with a `run` column naming the run."""
        frames = [update.rows.assign(**{RUN_COLUMN: name})
                  for name, update in self.runs.items() if len(update.rows)]
        if not frames:
            return pd.DataFrame(columns=[RUN_COLUMN, "step"])
        rows = pd.concat(frames, ignore_index=True)
        return rows[[RUN_COLUMN] + [c for c in rows.columns if c != RUN_COLUMN]]

    @property
    def reset(self) -> bool:
        return any(update.reset for update in self.runs.values())

    @property
    def reset_runs(self) -> list[str]:
        return [name for name, update in self.runs.items() if update.reset]

    @property
    def notes(self) -> list[str]:
        return [f"{name}: {note}" for name, update in self.runs.items() for note in update.notes]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [{**event, RUN_COLUMN: name} for name, update in self.runs.items()
                for event in update.events]

    def items(self) -> list[tuple[str, pd.DataFrame, bool, dict[str, Any]]]:
        """(run name, new rows, reset, info) per run. `info` holds the run's path, format,
        notes and events, and `has_events`: True when the log records its own warnings
        (nt-tui run directories), so a monitor need not raise them again."""
        return [(name, update.rows, update.reset,
                 {"path": str(update.path), "format": update.format, "notes": update.notes,
                  "events": update.events, "has_events": update.format == NT_TUI_FORMAT})
                for name, update in self.runs.items()]

    @property
    def empty(self) -> bool:
        return not (any(len(u.rows) or u.reset or u.events for u in self.runs.values())
                    or self.new_runs or self.errors)


class _FollowedRun:
    """One run's source and what the follower remembers about it."""

    def __init__(self, source: LogSource, name: str) -> None:
        self.source = source
        self.name = name
        self.time_origin: float | None = None
        self.last_step: int | None = None
        #: the last row passed on (merged into a later row at the same step)
        self.last_row: pd.DataFrame | None = None

    def poll(self, rereading: bool = False) -> RunUpdate:
        batch = self.source.read()
        update = RunUpdate(self.name, self.source.path, self.source.format, pd.DataFrame(),
                           reset=batch.reset, notes=list(batch.notes), events=batch.events)
        if batch.reset:
            self.time_origin, self.last_step, self.last_row = None, None, None
        if batch.raw.empty:
            return update
        found = canonicalize(batch.raw, self.time_origin, batch.explicit_nan, batch.nan_mask)
        rows = found.frame
        if self.last_step is not None and len(rows) and int(rows["step"].min()) < self.last_step:
            return self._reread(update)
        self.time_origin = found.time_origin
        update.notes += found.notes
        if self.last_row is not None and len(rows) and int(rows["step"].iloc[0]) == self.last_step:
            rows = pd.concat([self.last_row, rows], ignore_index=True)
        update.rows = resolve_steps(rows, update.notes if rereading else [])
        if len(update.rows):
            self.last_step = int(update.rows["step"].iloc[-1])
            self.last_row = update.rows.iloc[-1:]
        return update

    def _reread(self, update: RunUpdate) -> RunUpdate:
        """Steps went back (a resume): read the whole run again, later rows winning."""
        self.source = open_source(self.source.path)
        self.time_origin, self.last_step, self.last_row = None, None, None
        fresh = self.poll(rereading=True)
        fresh.reset = True
        fresh.notes = ["steps went back (a resumed run): re-read from the start"] + fresh.notes
        return fresh


class Follower:
    """Follows one run (file or run directory) or every run under a directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        check_access(self.path)
        self._runs: dict[Path, _FollowedRun] = {}
        #: paths found but not readable yet (empty, half-written, not a log): why, in one line
        self._waiting: dict[Path, str] = {}
        self._last_scan = float("-inf")
        self.watch_directory = self.path.is_dir() and not self._is_single_run()

    def _is_single_run(self) -> bool:
        runs = discover_runs(self.path)
        return runs == [self.path]

    @property
    def run_paths(self) -> list[Path]:
        return list(self._runs)

    def _name_for(self, source: LogSource) -> str:
        taken = {run.name for run in self._runs.values()}
        name, count = source.name, 1
        while name in taken:
            count += 1
            name = f"{source.name}#{count}"
        return name

    def _add(self, path: Path) -> bool:
        """Start following `path`; False while it cannot be read yet (empty, half-written)."""
        try:
            source = open_source(path)
        except NtTuiError as exc:
            self._waiting[path] = exc.one_line()
            return False
        self._waiting.pop(path, None)
        self._runs[path] = _FollowedRun(source, self._name_for(source))
        return True

    def _discover(self, now: float) -> list[Path]:
        if self._runs and not self.watch_directory and not self._waiting:
            return []
        if self.watch_directory and now - self._last_scan < RESCAN_SECONDS:
            return []
        self._last_scan = now
        candidates = discover_runs(self.path, known=set(self._runs)) \
            if self.watch_directory else [self.path]
        return [path for path in candidates if path not in self._runs and self._add(path)]

    def poll(self) -> FollowUpdate:
        """What was appended since the last poll (everything, the first time)."""
        update = FollowUpdate(new_runs=self._discover(time.monotonic()))
        # what was found but cannot be read (yet): said on every poll until it can be read
        update.errors += [message for path, message in self._waiting.items()
                          if path not in self._runs]
        for path, run in list(self._runs.items()):
            try:
                update.runs[run.name] = run.poll()
            except (NtTuiError, OSError, ValueError) as exc:
                message = exc.one_line() if isinstance(exc, NtTuiError) else str(exc)
                update.errors.append(f"{run.name}: {message}")
        return update
