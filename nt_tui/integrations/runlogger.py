"""`RunLogger`: write an nt-tui run directory from any training loop.

    import nt_tui
    with nt_tui.run(name="my-exp", config={"lr": 3e-4}) as run:
        for step in range(1000):
            ...
            run.log(step, train_loss=loss, lr=lr)

or, module-level like other trackers: `nt_tui.log(step, train_loss=...)` (opens a run on first
use) and `nt_tui.finish()`. `nt-tui monitor RUN_DIR` then follows it with nt-tui's plots and
warnings. Metric values may be Python numbers, numpy scalars or 0-d tensors.
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

import yaml

from nt_tui.runfmt import RunWriter, free_path

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _number(value: Any) -> float | None:
    """A float from a Python/numpy/torch scalar; None for anything else."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return None


def new_run_dir(root: str | Path, name: str) -> Path:
    """`root/<name>-<YYYYmmdd-HHMMSS>`, with a counter if that exists already."""
    stem = _SAFE_NAME.sub("-", name).strip("-") or "run"
    return free_path(Path(root), f"{stem}-{datetime.now():%Y%m%d-%H%M%S}")


class RunLogger:
    """Appends metrics and events to a run directory; safe to use from one training process."""

    def __init__(self, run_dir: str | Path | None = None, *, name: str = "run",
                 config: Mapping[str, Any] | None = None, root: str | Path = "runs",
                 source: str = "nt_tui.log") -> None:
        self.run_dir = Path(run_dir) if run_dir else new_run_dir(root, name)
        self.writer = RunWriter(self.run_dir)
        self._start = time.time()
        self._last_step: int | None = None
        if config is not None:
            self.writer.write_config(yaml.safe_dump(_plain(dict(config)), sort_keys=False))
        self.writer.log_event("start", 0, f"run started by {source}", source=source)

    def log(self, step: int, **metrics: Any) -> None:
        """Record metrics at `step`. Non-numeric values are dropped; NaN/Inf are kept."""
        record: dict[str, Any] = {"step": int(step), "elapsed": time.time() - self._start}
        for key, value in metrics.items():
            number = _number(value)
            if number is not None:
                record[str(key)] = number
        self.writer.log_metrics(record)
        self._last_step = int(step)

    def event(self, kind: str, message: str = "", **fields: Any) -> None:
        self.writer.log_event(kind, self._last_step, message, **fields)

    @property
    def closed(self) -> bool:
        return self.writer.closed

    def finish(self, error: BaseException | None = None) -> None:
        """Write the closing event (finish, or failure with the reason) and close the files."""
        if self.closed:
            return
        if error is None:
            self.event("finish", "training finished")
        else:
            self.event("failure", f"{type(error).__name__}: {error}", reason=type(error).__name__)
        self.writer.close()

    def __enter__(self) -> "RunLogger":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.finish(exc if isinstance(exc, Exception) else None)


def _plain(value: Any) -> Any:
    """Config values as YAML-safe plain types."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    number = _number(value)
    return number if number is not None else str(value)


_current: RunLogger | None = None


def log(step: int, **metrics: Any) -> None:
    """Log metrics to the current run, opening one under ./runs on first use."""
    global _current
    if _current is None or _current.closed:
        _current = RunLogger()
    _current.log(step, **metrics)


def run(name: str = "run", *, config: Mapping[str, Any] | None = None,
        root: str | Path = "runs", run_dir: str | Path | None = None) -> RunLogger:
    """Open a run (also the current one for `log`); use as a context manager."""
    global _current
    _current = RunLogger(run_dir, name=name, config=config, root=root)
    return _current


def finish() -> None:
    """Close the current run."""
    global _current
    if _current is not None:
        _current.finish()
        _current = None
