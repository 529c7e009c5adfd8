"""Which reader a path needs, from its name and its first bytes (docs/log-formats.md).

`open_source(path)` returns the reader for one run, or raises `NtTuiError` with one line that
says what was found and which formats nt-tui reads. `discover_runs(path)` lists the runs under
a directory that holds several (a `runs/` folder, `lightning_logs/`, a TensorBoard root).
"""

from __future__ import annotations

import os
from pathlib import Path

from nt_tui.errors import NtTuiError
from nt_tui.runfmt import METRICS_FILE, is_run_dir
from nt_tui.runlogs.formats import hf_trainer, tensorboard, text_log, wandb_offline
from nt_tui.runlogs.formats.base import LogSource
from nt_tui.runlogs.formats.delimited import (
    FORMAT_CSV, FORMAT_LIGHTNING, DelimitedSource, delimiter_of, header_names,
    looks_like_lightning,
)
from nt_tui.runlogs.formats.hf_trainer import HfStateSource
from nt_tui.runlogs.formats.jsonl_log import JsonlSource
from nt_tui.runlogs.formats.nt_run import NtRunSource
from nt_tui.runlogs.formats.tensorboard import TensorBoardSource
from nt_tui.runlogs.formats.text_log import TextLogSource
from nt_tui.runlogs.jsonl import first_object
from nt_tui.runlogs.names import canonical_of

SUPPORTED = ("nt-tui reads: nt-tui run directories, Hugging Face trainer_state.json (or its "
             "output/checkpoint directory), Lightning metrics.csv, TensorBoard event files "
             "or directories, CSV/TSV and JSONL with step or loss columns, nanoGPT/fairseq "
             "text logs, W&B offline runs; see docs/log-formats.md")
FORMAT_NAMES = {
    "nt_tui_run": "nt-tui run directory", "hf_trainer_state": "Hugging Face trainer_state.json",
    "lightning_csv": "Lightning metrics.csv", "tensorboard": "TensorBoard event files",
    "csv": "CSV/TSV log", "jsonl": "JSONL log", "text_log": "text log",
    "wandb_offline": "W&B offline run",
}
#: Bytes read to sniff a file's content.
SNIFF_BYTES = 65536
#: Share of undecodable or control bytes above which a file is binary, not text.
BINARY_SHARE = 0.10
#: File names a directory scan treats as candidate logs.
LOG_SUFFIXES = (".jsonl", ".ndjson", ".csv", ".tsv", ".log", ".txt", ".json")
#: Folders never scanned for runs.
SKIPPED_DIRS = frozenset({"checkpoints", "__pycache__", "node_modules", ".git", "files",
                          "tmp", "logs-tmp"})
#: A generic table or JSONL log must have one of these (a step alone or a time column alone
#: does not make a training log: service logs have "time" too).
METRIC_NAMES = frozenset({"train_loss", "val_loss", "lr", "grad_norm", "throughput",
                          "tokens_per_s"})
#: Folder depth searched below the path given.
MAX_DEPTH = 5


def unreadable(path: Path, found: str) -> NtTuiError:
    """The one-line error for a path nt-tui cannot read as a training log."""
    return NtTuiError(f"{path}: {found}", hint=SUPPORTED)


def check_access(path: Path) -> None:
    if not path.exists():
        raise NtTuiError(f"{path}: no such file or directory",
                         hint="check the path (a run directory or a log file)")
    if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
        raise NtTuiError(f"{path}: permission denied",
                         hint="make it readable (chmod) or copy it somewhere you can read")


#: Bytes that are not text: C0 controls other than tab, newline, form feed, carriage return.
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\f\r") + b"\x7f"
_TEXT_BYTES = bytes(b for b in range(256) if b not in _CONTROL_BYTES)


def _is_binary(head: bytes) -> bool:
    if not head:
        return False
    if b"\x00" in head:
        return True
    controls = len(head.translate(None, _TEXT_BYTES))
    undecodable = head.decode("utf-8", "replace").count("\ufffd")
    return (controls + undecodable) / len(head) > BINARY_SHARE


def has_metric_names(names: list[str]) -> bool:
    """True when a column or key name maps to a canonical training metric."""
    return any((found := canonical_of(str(name))) and found[0] in METRIC_NAMES
               for name in names)


def _delimited(path: Path, first_line: str) -> LogSource | None:
    sep = delimiter_of(path, first_line)
    if sep not in first_line:
        return None
    names = header_names(first_line, sep)
    if len(names) < 2 or not has_metric_names(names):
        return None
    kind = FORMAT_LIGHTNING if looks_like_lightning(names, path) else FORMAT_CSV
    return DelimitedSource(path, kind)


def _file_source(path: Path) -> LogSource:
    name = path.name
    if tensorboard.is_event_file(path):
        return TensorBoardSource(path)
    if path.suffix == wandb_offline.SUFFIX:
        return wandb_offline.WandbSource(path)
    if name == METRICS_FILE and is_run_dir(path.parent):
        return NtRunSource(path.parent)
    if path.stat().st_size == 0:
        raise unreadable(path, "empty file")
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if _is_binary(head):
        raise unreadable(path, f"binary data ({len(head)}+ bytes that are not text), "
                               "not a training log")
    if name == hf_trainer.STATE_FILE or path.suffix == ".json":
        hf_trainer.read_state(path)
        return HfStateSource(path)
    first_line = next((line for line in head.decode("utf-8-sig", "replace").splitlines()
                       if line.strip()), "")
    if first_line.lstrip().startswith("{"):
        record = first_object(path)
        if record is None:
            raise unreadable(path, "starts like JSON but its first line is not a JSON object")
        if not has_metric_names(list(record)):
            raise unreadable(path, "JSON lines without a loss, lr or other known metric (keys: "
                                   f"{', '.join(list(record)[:6])})")
        return JsonlSource(path)
    source = _delimited(path, first_line)
    if source is not None:
        return source
    if text_log.looks_like_text_log(path):
        return TextLogSource(path)
    if path.suffix.lower() in (".csv", ".tsv"):
        found = ", ".join(header_names(first_line, delimiter_of(path, first_line))[:6])
        raise unreadable(path, f"table whose columns ({found}) include no step, loss, lr "
                               "or other known metric")
    raise unreadable(path, f"unknown format (first line: {first_line[:60]!r})")


def _directory_source(path: Path) -> LogSource | None:
    """The reader when `path` itself is one run, else None."""
    if is_run_dir(path):
        return NtRunSource(path)
    if hf_trainer.state_files(path):
        return HfStateSource(path)
    if tensorboard.event_files(path):
        return TensorBoardSource(path)
    if wandb_offline.is_offline_run(path):
        return wandb_offline.WandbSource(path)
    metrics_csv = path / "metrics.csv"
    if metrics_csv.is_file() and metrics_csv.stat().st_size:
        return _file_source(metrics_csv)
    return None


def is_run(path: Path) -> bool:
    """True when `path` is one run nt-tui can read (file or directory), without reading it."""
    if path.is_dir():
        return _directory_source(path) is not None
    return path.suffix.lower() in LOG_SUFFIXES or tensorboard.is_event_file(path) or \
        path.suffix == wandb_offline.SUFFIX


def discover_runs(path: str | Path, known: frozenset[Path] | set[Path] = frozenset()
                  ) -> list[Path]:
    """The runs at or under `path`: itself when it is one run, else every run found below
    it (depth-first, sorted by path). Loose log files count only where no run directory
    holds them; files in `known` are taken as runs without sniffing them again."""
    root = Path(path)
    check_access(root)
    if root.is_file():
        return [root]
    if _directory_source(root) is not None:
        return [root]
    found: list[Path] = []

    def walk(directory: Path, depth: int) -> None:
        try:
            children = sorted(directory.iterdir())
        except OSError:
            return
        for child in children:
            if child.name.startswith(".") or child.name in SKIPPED_DIRS or child.is_symlink():
                continue
            if child.is_dir():
                if _directory_source(child) is not None:
                    found.append(child)
                elif depth < MAX_DEPTH:
                    walk(child, depth + 1)
            elif child in known:
                found.append(child)
            elif child.suffix.lower() in LOG_SUFFIXES and child.stat().st_size:
                try:
                    _file_source(child)
                except NtTuiError:
                    continue
                found.append(child)

    walk(root, 1)
    return found


def open_source(path: str | Path) -> LogSource:
    """The reader for the one run at `path`; NtTuiError when it is not one readable run."""
    path = Path(path)
    check_access(path)
    if path.is_file():
        return _file_source(path)
    source = _directory_source(path)
    if source is not None:
        return source
    runs = discover_runs(path)
    if len(runs) == 1:
        return open_source(runs[0])
    if not runs:
        raise unreadable(path, "directory with no training logs")
    listed = ", ".join(str(run.relative_to(path)) for run in runs[:3])
    raise NtTuiError(f"{path}: directory with {len(runs)} runs ({listed}"
                     f"{', ...' if len(runs) > 3 else ''})",
                     hint="pass one run, or use `nt-tui analyze` / `nt-tui monitor`, which "
                          "take a directory of runs")
