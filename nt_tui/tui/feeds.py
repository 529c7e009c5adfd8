"""Where the monitor's data comes from: a training run in this process, or a followed log.

A feed runs in a worker thread and puts what it reads into an `Inbox`; the monitor screen
drains the inbox on the UI thread into its run buffers, which hold the only copy of the
history, so the message between them only says "there is new data" (and a backlog of those
collapses into one). Feeds never import Textual; torch, accelerate and pandas are imported
inside `run`, in the worker thread.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np

if TYPE_CHECKING:
    from nt_tui.config.defaults import ResolvedConfig
    from nt_tui.engine.control import TrainingControl

#: Seconds between polls of a followed log (the issue's "updates a few times per second").
FOLLOW_INTERVAL_S = 0.5
#: RunHistory's canonical names -> the engine's record keys, so every source plots alike.
CANONICAL_TO_RECORD = {"throughput": "samples_per_s", "wall_time": "elapsed"}


@dataclass
class RunUpdate:
    """New data of one run: live records, or a chunk of rows from a log, and/or events."""

    run: str
    records: list[dict[str, Any]] = field(default_factory=list)
    steps: np.ndarray | None = None
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    elapsed: np.ndarray | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    #: the log was rewritten: drop what was shown of this run first
    reset: bool = False
    #: facts about the run: run_dir, total_steps, path, format, has_events
    info: dict[str, Any] = field(default_factory=dict)
    #: logs that could not be read this time (shown once each; tried again later)
    problems: list[str] = field(default_factory=list)


class Inbox:
    """A thread-safe hand-over from a feed's thread to the UI thread."""

    def __init__(self, notify: Callable[[], None] | None = None) -> None:
        self._items: deque[RunUpdate] = deque()
        self._notify = notify or (lambda: None)

    def put(self, update: RunUpdate) -> None:
        self._items.append(update)
        self._notify()

    def drain(self) -> list[RunUpdate]:
        """Everything put since the last drain, in order."""
        items = []
        while True:
            try:
                items.append(self._items.popleft())
            except IndexError:
                return items


class Feed(Protocol):
    """A data source of the monitor."""

    #: what the header calls it
    title: str
    #: pause / stop / checkpoint apply (a training run in this process)
    control: "TrainingControl | None"
    #: planned steps when known
    total_steps: int | None

    def run(self, inbox: Inbox, cancelled: Callable[[], bool]) -> dict[str, Any] | None:
        """Produce updates until done (or `cancelled()`); return the run's summary if any."""
        ...


class _InboxListener:
    """The engine's listener: hands each record and event to the inbox (no Textual here)."""

    def __init__(self, inbox: Inbox, run: str) -> None:
        self.inbox = inbox
        self.run = run

    def on_metrics(self, record: dict[str, Any]) -> None:
        self.inbox.put(RunUpdate(self.run, records=[dict(record)]))

    def on_event(self, event: dict[str, Any]) -> None:
        self.inbox.put(RunUpdate(self.run, events=[dict(event)]))


class EngineFeed:
    """Trains a resolved config with nt-tui's engine, in the worker thread that calls `run`."""

    def __init__(self, resolved: "ResolvedConfig", *, run_dir: Path | None = None,
                 resume: Path | None = None) -> None:
        from nt_tui.engine.control import TrainingControl

        self.resolved = resolved
        self.run_dir = run_dir
        self.resume = resume
        self.control: TrainingControl | None = TrainingControl()
        self.title = resolved.config.name or "run"
        self.total_steps = resolved.config.schedule.total_steps

    def run(self, inbox: Inbox, cancelled: Callable[[], bool]) -> dict[str, Any]:
        from nt_tui.engine.trainer import Trainer

        del cancelled  # the screen stops the run through `control`, between steps
        trainer = Trainer(self.resolved, run_dir=self.run_dir, resume=self.resume,
                          listener=_InboxListener(inbox, self.title), control=self.control)
        self.total_steps = trainer.total_steps
        inbox.put(RunUpdate(self.title, info={"run_dir": str(trainer.run_dir),
                                              "total_steps": trainer.total_steps}))
        return trainer.run()


def frame_update(run: str, frame: Any, *, reset: bool = False,
                 info: dict[str, Any] | None = None) -> RunUpdate:
    """A RunUpdate from a RunHistory-style frame (step + canonical metric columns)."""
    if frame is None or not len(frame) or "step" not in frame.columns:
        return RunUpdate(run, reset=reset, info=info or {})
    frame = frame.dropna(subset=["step"]).groupby("step", sort=True).last().reset_index()
    steps = frame["step"].to_numpy(dtype=np.float64)
    columns, elapsed = {}, None
    for name in frame.columns:
        if name == "step":
            continue
        values = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
        key = CANONICAL_TO_RECORD.get(name, name)
        if key == "elapsed":
            elapsed = values
        else:
            columns[key] = values
    return RunUpdate(run, steps=steps, columns=columns, elapsed=elapsed, reset=reset,
                     info=info or {})


def detect_warnings(detector: Any, update: RunUpdate) -> list[dict[str, Any]]:
    """Run an EarlyWarningDetector over the rows of a chunk; the warnings it raises."""
    if update.steps is None:
        return []
    names = list(update.columns)
    table = np.column_stack([update.columns[name] for name in names]) if names else None
    found = []
    for row, step in enumerate(update.steps):
        record: dict[str, Any] = {"step": int(step)}
        if table is not None:
            for name, value in zip(names, table[row]):
                if not math.isnan(value):
                    record[name] = float(value)
        found.extend(detector.update(record))
    return found


class FollowFeed:
    """Follows a log (any format nt-tui reads; a directory of runs overlays them) with
    `nt_tui.runlogs.follow.Follower`, raising early warnings on the rows of logs that carry
    none of their own."""

    control = None

    def __init__(self, path: Path | str, interval: float = FOLLOW_INTERVAL_S) -> None:
        self.path = Path(path)
        self.interval = interval
        self.title = self.path.name or str(self.path)
        self.total_steps: int | None = None

    def run(self, inbox: Inbox, cancelled: Callable[[], bool]) -> None:
        from nt_tui.analysis.early_warnings import EarlyWarningDetector
        from nt_tui.runlogs.follow import Follower

        follower = Follower(self.path)
        detectors: dict[str, EarlyWarningDetector] = {}
        while not cancelled():
            for update in updates_of(follower.poll()):
                if update.reset or update.run not in detectors:
                    detectors[update.run] = EarlyWarningDetector()
                if not update.info.get("has_events"):
                    update.events.extend(detect_warnings(detectors[update.run], update))
                inbox.put(update)
            deadline = time.monotonic() + self.interval
            while time.monotonic() < deadline and not cancelled():
                time.sleep(min(0.05, self.interval))
        return None


def updates_of(poll: Any) -> list[RunUpdate]:
    """RunUpdates from a `Follower.poll()` result (its events, and any read errors)."""
    updates = []
    for name, frame, reset, info in poll.items():
        update = frame_update(name, frame, reset=reset, info={
            key: value for key, value in info.items() if key != "events"})
        update.events.extend(info.get("events") or [])
        updates.append(update)
    if poll.errors:
        updates.append(RunUpdate("", problems=list(poll.errors)))
    return updates
