"""How a front end talks to a running engine, in both directions (no torch, no Textual).

- `EngineListener`: the engine calls `on_metrics(record)` at every log step and
  `on_event(event)` for every event, from the training thread. The app posts Textual messages
  from these; headless mode prints. Both must return quickly and must not call back into the
  engine except through `TrainingControl`.
- `TrainingControl`: thread-safe requests from any thread; the engine honours them between
  optimizer steps (with several processes: at the next log step, all processes together).

- `stop_runs_on_signals()`: for a front end whose runs train in threads (the app): SIGHUP
  (the terminal or SSH connection went away) and SIGTERM stop every active run after its
  current step with a final checkpoint, and leaving the block waits for them to finish.

Record and event keys are documented in docs/run-format.md.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

#: Keys of every metric record, in the order of the CSV columns. Validation steps add
#: val_loss (and val_ppl for language models); optional: layer_grad_norms (dict),
#: nonfinite_steps (count of NaN/Inf steps since the previous record, when not 0).
METRIC_KEYS = ("step", "time", "elapsed", "train_loss", "train_loss_avg", "lr", "grad_norm",
               "clip_fraction", "samples_per_s", "tokens_per_s", "eta_s", "epoch", "val_loss",
               "val_ppl")


class EngineListener(Protocol):
    """Receives progress from the training thread."""

    def on_metrics(self, record: dict[str, Any]) -> None: ...

    def on_event(self, event: dict[str, Any]) -> None: ...


class TrainingControl:
    """Pause / resume / stop / checkpoint-now requests, safe to call from any thread."""

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._checkpoint = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self.stop_reason = ""

    def pause(self) -> None:
        """Hold training after the current step until `resume()` (or `stop()`)."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self, reason: str = "stopped by the user") -> None:
        """Finish after the current step, with a final checkpoint."""
        if not self._stop.is_set():
            self.stop_reason = reason
        self._stop.set()
        self._running.set()  # a paused run wakes up to stop

    def checkpoint_now(self) -> None:
        """Write a checkpoint after the current step."""
        self._checkpoint.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def take_checkpoint_request(self) -> bool:
        """True once per `checkpoint_now()` call (the engine consumes the request)."""
        if self._checkpoint.is_set():
            self._checkpoint.clear()
            return True
        return False

    def wait_while_paused(self, timeout: float) -> bool:
        """Block up to `timeout` seconds while paused; True when running again."""
        return self._running.wait(timeout)

    # ------------------------------------------------ the engine marks its active runs

    def enter_run(self) -> None:
        """Called by the engine when a run starts using this control."""
        self._idle.clear()
        with _ACTIVE_LOCK:
            _ACTIVE.add(self)

    def leave_run(self) -> None:
        """Called by the engine when the run ended (summary written)."""
        with _ACTIVE_LOCK:
            _ACTIVE.discard(self)
        self._idle.set()

    def wait_until_idle(self, timeout: float | None = None) -> bool:
        """Block until no run uses this control; True when none does."""
        return self._idle.wait(timeout)


_ACTIVE: set[TrainingControl] = set()
_ACTIVE_LOCK = threading.Lock()
#: Signals after which a front end's threaded runs stop with a final checkpoint.
HANGUP_SIGNALS = ("SIGHUP", "SIGTERM")


def active_controls() -> list[TrainingControl]:
    """The controls of the runs training in this process now."""
    with _ACTIVE_LOCK:
        return list(_ACTIVE)


def stop_all(reason: str) -> int:
    """Ask every active run to stop after its current step; returns how many."""
    controls = active_controls()
    for control in controls:
        control.stop(reason)
    return len(controls)


def wait_all(timeout: float | None = None) -> bool:
    """Wait until every active run has ended; True when none is left."""
    for control in active_controls():
        if not control.wait_until_idle(timeout):
            return False
    return True


def install_signal_handlers(names: Iterable[str],
                            handler: Callable[[int, Any], None]) -> dict[int, Any]:
    """Set `handler` for each named signal this platform has (from the main thread); the
    previous handlers, for `restore_signal_handlers`."""
    previous: dict[int, Any] = {}
    for name in names:
        signum = getattr(signal, name, None)
        if signum is not None:
            previous[signum] = signal.signal(signum, handler)
    return previous


def restore_signal_handlers(previous: dict[int, Any]) -> None:
    for signum, old in previous.items():
        signal.signal(signum, old)


#: After a hang-up, the seconds a front end gets to close itself once every run has written its
#: final checkpoint; then the process leaves on its own (`leave_after_runs`).
HANGUP_EXIT_GRACE_S = 10.0


def leave_after_runs(grace: float = HANGUP_EXIT_GRACE_S,
                     leave: Callable[[int], None] = os._exit) -> threading.Thread:
    """Start a daemon thread that waits until every active run has ended (final checkpoint
    and summary written), then `grace` seconds more, then calls `leave(0)`: with the terminal
    gone, a front end whose teardown stalls on it (restoring a screen nobody sees) must not
    outlive its runs. A front end that closes in time ends the process first."""
    def watch() -> None:
        wait_all()
        time.sleep(grace)
        leave(0)

    thread = threading.Thread(target=watch, name="leave-after-runs", daemon=True)
    thread.start()
    return thread


@contextlib.contextmanager
def stop_runs_on_signals(on_signal: Callable[[str], None] | None = None) -> Iterator[None]:
    """Inside the block, SIGHUP and SIGTERM stop every active run (final checkpoint) and call
    `on_signal(name)` (the app exits with it); leaving the block stops runs still going and
    waits until they have written their final checkpoint.

    Install from the main thread (signal handlers can only be set there); elsewhere the block
    only waits for the runs on leaving.
    """
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        del frame
        name = signal.Signals(signum).name
        stop_all(f"stopped by {name}")
        if on_signal is not None:
            on_signal(name)

    if threading.current_thread() is threading.main_thread():
        previous = install_signal_handlers(HANGUP_SIGNALS, handler)
    try:
        yield
    finally:
        stop_all("the app closed")
        wait_all()
        restore_signal_handlers(previous)
