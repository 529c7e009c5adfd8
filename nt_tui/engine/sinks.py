"""Where metrics and events go besides the run directory's JSONL files.

`metrics.jsonl` and `events.jsonl` are always written (they are the run directory, written by
`nt_tui.runfmt.RunWriter`; the `jsonl` backend names them). The other backends:

    csv          <run_dir>/metrics.csv, one row per metric record, columns METRIC_KEYS
    tensorboard  <run_dir>/tensorboard/ through torch.utils.tensorboard.SummaryWriter; one
                 scalar per metric key (tag = key), layer norms as layer_grad_norm/<layer>,
                 events as text under "events"
    wandb        Weights & Biases, always offline: <run_dir>/wandb/offline-run-* (or under
                 $WANDB_DIR); sync later with `wandb sync`
    callback     logging.callback = package.module:function, called as function(kind, data)
                 with kind "metrics" or "event"; or an object with on_metrics/on_event

Only the main process creates sinks.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from nt_tui.config.schema import TrainingConfig
from nt_tui.engine.control import METRIC_KEYS
from nt_tui.engine.entrypoints import call_user, load_entrypoint

CSV_FILE = "metrics.csv"
TENSORBOARD_DIR = "tensorboard"


class Sink(Protocol):
    #: name -> path of what this sink writes (for the summary)
    paths: dict[str, str]

    def log_metrics(self, record: dict[str, Any]) -> None: ...

    def log_event(self, event: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def json_safe(value: Any) -> Any:
    """NaN/Inf anywhere in nested dicts/lists -> "NaN"/"Infinity"/"-Infinity" (strict JSON,
    the convention of nt_tui.runfmt)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


class CsvSink:
    """Appends rows to metrics.csv; the header is written once (a resumed run appends)."""

    def __init__(self, run_dir: Path) -> None:
        path = run_dir / CSV_FILE
        is_new = not path.exists() or path.stat().st_size == 0
        # Kept open for the whole run (closed in close()).
        self._handle = open(path, "a", encoding="utf-8", newline="")  # noqa: SIM115
        self._writer = csv.DictWriter(self._handle, fieldnames=METRIC_KEYS, extrasaction="ignore")
        if is_new:
            self._writer.writeheader()
        self.paths = {"csv": str(path)}

    def log_metrics(self, record: dict[str, Any]) -> None:
        self._writer.writerow({key: record.get(key, "") for key in METRIC_KEYS})
        self._handle.flush()

    def log_event(self, event: dict[str, Any]) -> None:
        del event  # events live in events.jsonl

    def close(self) -> None:
        self._handle.close()


class TensorBoardSink:
    """Scalars and event text through PyTorch's TensorBoard writer (needs `tensorboard`)."""

    def __init__(self, run_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        log_dir = run_dir / TENSORBOARD_DIR
        self._writer = SummaryWriter(log_dir=str(log_dir))
        self.paths = {"tensorboard": str(log_dir)}

    def log_metrics(self, record: dict[str, Any]) -> None:
        """All scalars of a record in one TensorBoard event (one `Summary` with a value per
        tag, as TensorBoard's own writers batch them): a twentieth of the cost of an
        `add_scalar` call per tag."""
        from tensorboard.compat.proto.summary_pb2 import Summary

        values = [(key, value) for key, value in record.items()
                  if key not in ("step", "time") and isinstance(value, (int, float))]
        values += [(f"layer_grad_norm/{layer}", value)
                   for layer, value in (record.get("layer_grad_norms") or {}).items()]
        summary = Summary(value=[Summary.Value(tag=tag, simple_value=float(value))
                                 for tag, value in values])
        self._writer.file_writer.add_summary(summary, record["step"], record.get("time"))

    def log_event(self, event: dict[str, Any]) -> None:
        text = f"[{event['kind']}] {event.get('message', '')}"
        self._writer.add_text("events", text, event.get("step") or 0)

    def close(self) -> None:
        self._writer.flush()
        self._writer.close()


class WandbSink:
    """Weights & Biases in offline mode: nothing leaves the machine."""

    def __init__(self, run_dir: Path, config: TrainingConfig) -> None:
        import wandb

        self._wandb = wandb
        self._run = wandb.init(
            project=config.logging.wandb_project, name=run_dir.name, mode="offline",
            dir=os.environ.get("WANDB_DIR") or str(run_dir),
            config=config.model_dump(mode="json"), reinit="finish_previous",
            settings=wandb.Settings(console="off", silent=True))
        self.paths = {"wandb": str(Path(self._run.dir).parent)}

    def log_metrics(self, record: dict[str, Any]) -> None:
        values = {key: value for key, value in record.items()
                  if key not in ("step", "time", "layer_grad_norms")
                  and isinstance(value, (int, float))}
        for layer, value in (record.get("layer_grad_norms") or {}).items():
            values[f"layer_grad_norm/{layer}"] = value
        self._run.log(values, step=record["step"])

    def log_event(self, event: dict[str, Any]) -> None:
        if event["kind"] == "warning":
            count_key = f"warnings/{event.get('code')}"
            self._run.summary[count_key] = self._run.summary.get(count_key, 0) + 1

    def close(self) -> None:
        self._run.finish()


class CallbackSink:
    """Calls the user's `logging.callback` for every metric record and event."""

    KEY = "logging.callback"

    def __init__(self, spec: str, search_dirs: list[Path]) -> None:
        target = load_entrypoint(spec, search_dirs, self.KEY)
        on_metrics = getattr(target, "on_metrics", None)
        on_event = getattr(target, "on_event", None)
        if callable(on_metrics) and callable(on_event):
            self._on_metrics, self._on_event = on_metrics, on_event
        else:
            self._on_metrics = _bind(target, "metrics")
            self._on_event = _bind(target, "event")
        self.paths: dict[str, str] = {}

    def log_metrics(self, record: dict[str, Any]) -> None:
        call_user(self._on_metrics, self.KEY, dict(record))

    def log_event(self, event: dict[str, Any]) -> None:
        call_user(self._on_event, self.KEY, dict(event))

    def close(self) -> None:
        pass


def _bind(function: Callable[[str, dict], Any], kind: str) -> Callable[[dict], Any]:
    return lambda data: function(kind, data)


def build_sinks(config: TrainingConfig, run_dir: Path, search_dirs: list[Path]) -> list[Sink]:
    """The sinks `logging.backends` asks for (jsonl is the run directory itself)."""
    sinks: list[Sink] = []
    backends = config.logging.backends
    try:
        if "csv" in backends:
            sinks.append(CsvSink(run_dir))
        if "tensorboard" in backends:
            sinks.append(TensorBoardSink(run_dir))
        if "wandb" in backends:
            sinks.append(WandbSink(run_dir, config))
        if "callback" in backends and config.logging.callback:
            sinks.append(CallbackSink(config.logging.callback, search_dirs))
    except BaseException:
        close_all(sinks)
        raise
    return sinks


def close_all(sinks: list[Sink]) -> list[str]:
    """Close every sink; return the errors (closing one must not stop the others)."""
    errors = []
    for sink in sinks:
        try:
            sink.close()
        except Exception as exc:  # noqa: BLE001 - closing one sink must not hide the rest
            errors.append(f"{type(sink).__name__}: {exc}")
    return errors
