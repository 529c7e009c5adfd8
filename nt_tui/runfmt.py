"""The nt-tui run directory: file names, the append-only writer, and tolerant line reading.

Layout (documented in docs/run-format.md):

    <run_dir>/config.yaml     resolved config (written once, atomically)
    <run_dir>/metrics.jsonl   one JSON object per logged step, append-only
    <run_dir>/events.jsonl    start, warnings, checkpoints, pause/resume, stop/finish/failure
    <run_dir>/checkpoints/    step_XXXXXXXX.pt, best.pt
    <run_dir>/summary.json    written on finish (atomically)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO, Iterator

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
EVENTS_FILE = "events.jsonl"
SUMMARY_FILE = "summary.json"
CHECKPOINT_DIR = "checkpoints"
FORMAT_VERSION = 1

#: Event kinds written to events.jsonl.
EVENT_KINDS = ("start", "resume", "warning", "checkpoint", "pause", "unpause", "stop", "finish",
               "failure", "summary")


def is_run_dir(path: Path) -> bool:
    """True when `path` looks like an nt-tui run directory."""
    return path.is_dir() and (path / METRICS_FILE).exists() and (
        (path / EVENTS_FILE).exists() or (path / CONFIG_FILE).exists())


def _json_safe(value: Any) -> Any:
    """NaN/Inf become the strings "NaN"/"Infinity"/"-Infinity" so every line is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def encode_record(record: dict[str, Any]) -> str:
    """One JSONL line (with its newline)."""
    return json.dumps({k: _json_safe(v) for k, v in record.items()}, separators=(",", ":")) + "\n"


def decode_number(value: Any) -> Any:
    """Inverse of `_json_safe` for numbers."""
    if value == "NaN":
        return math.nan
    if value == "Infinity":
        return math.inf
    if value == "-Infinity":
        return -math.inf
    return value


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A binary handle on a temp file beside `path`, fsynced and renamed over `path` when the
    block ends. On any error the temp file is removed and the previous `path` is untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temp file and a rename, so readers never see half."""
    with atomic_file(path) as handle:
        handle.write(text.encode("utf-8"))


def free_path(folder: Path, stem: str, suffix: str = "") -> Path:
    """`folder/<stem><suffix>`, or `<stem>-2<suffix>`, `-3` ... when that name is taken: the
    first name nothing has, so a new file or run directory never replaces an existing one."""
    path, number = folder / f"{stem}{suffix}", 2
    while path.exists():
        path, number = folder / f"{stem}-{number}{suffix}", number + 1
    return path


def repair_torn_tail(path: Path) -> bool:
    """Cut a torn last line (no trailing newline) left by a killed writer. True if cut."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    with open(path, "rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return False
        handle.seek(0)
        content = handle.read()
        keep = content.rfind(b"\n") + 1
        handle.truncate(keep)
        return True


def iter_jsonl(path: Path, start: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (end offset, record) for each complete, valid line from byte `start`.

    A torn last line (no newline yet) is not yielded, so a follower can come back for it; a
    corrupt line in the middle is skipped.
    """
    with open(path, "rb") as handle:
        handle.seek(start)
        offset = start
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            offset += len(raw)
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield offset, {k: decode_number(v) for k, v in record.items()}


class RunWriter:
    """Writes a run directory: append-only JSONL, atomic JSON. Used by the engine and callbacks."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for name in (METRICS_FILE, EVENTS_FILE):
            repair_torn_tail(self.run_dir / name)
        self._metrics = open(self.run_dir / METRICS_FILE, "a", encoding="utf-8")
        self._events = open(self.run_dir / EVENTS_FILE, "a", encoding="utf-8")

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / CHECKPOINT_DIR

    def write_config(self, yaml_text: str) -> None:
        write_atomic(self.run_dir / CONFIG_FILE, yaml_text)

    def log_metrics(self, record: dict[str, Any]) -> None:
        """Append one metrics record; it must hold `step`. `time` is added when missing."""
        record = {"step": record["step"], "time": record.get("time", time.time()), **record}
        self._metrics.write(encode_record(record))
        self._metrics.flush()

    def log_event(self, kind: str, step: int | None, message: str = "", **fields: Any) -> dict:
        """Append one event (start, warning, checkpoint, ...) and return it."""
        event = {"time": time.time(), "kind": kind, "step": step, "message": message, **fields}
        self._events.write(encode_record(event))
        self._events.flush()
        return event

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_atomic(self.run_dir / SUMMARY_FILE,
                     json.dumps({k: _json_safe(v) for k, v in summary.items()}, indent=2))

    @property
    def closed(self) -> bool:
        return self._metrics.closed

    def close(self) -> None:
        for handle in (self._metrics, self._events):
            if not handle.closed:
                handle.close()

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
