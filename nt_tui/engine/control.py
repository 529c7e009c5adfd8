"""How a front end talks to a running engine, in both directions (no torch, no Textual).

- `EngineListener`: the engine calls `on_metrics(record)` at every log step and
  `on_event(event)` for every event, from the training thread. The app posts Textual messages
  from these; headless mode prints. Both must return quickly and must not call back into the
  engine except through `TrainingControl`.
- `TrainingControl`: thread-safe requests from any thread; the engine honours them between
  optimizer steps (with several processes: at the next log step, all processes together).

Record and event keys are documented in docs/run-format.md.
"""

from __future__ import annotations

import threading
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
