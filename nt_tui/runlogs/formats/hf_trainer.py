"""Hugging Face Trainer's `trainer_state.json`: its `log_history`, one dict per log call.

Train rows hold `loss`, `learning_rate`, `grad_norm`, `epoch`; eval rows `eval_loss` and other
`eval_*` metrics at their own steps; the last row of a finished run is a summary over the
whole run (`train_loss` averaged over all steps, `train_runtime`, ...): it is kept out of the
curves and recorded as a `summary` event. The file sits in the output directory and in every
`checkpoint-*` directory; a directory is read from its newest state (highest global step).
The file is rewritten at each save, so the follower re-reads it when it changes and passes on
the entries it has not seen.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from nt_tui.errors import NtTuiError
from nt_tui.runlogs.formats.base import Batch, LogSource, records_nan_mask

FORMAT = "hf_trainer_state"
STATE_FILE = "trainer_state.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
#: Keys only the end-of-training summary row has.
SUMMARY_KEYS = frozenset({"train_runtime", "train_samples_per_second", "total_flos"})


def state_files(directory: Path) -> list[Path]:
    """trainer_state.json files of an output directory: its own and its checkpoints'."""
    found = [directory / STATE_FILE] if (directory / STATE_FILE).is_file() else []
    for child in directory.iterdir() if directory.is_dir() else ():
        if _CHECKPOINT.match(child.name) and (child / STATE_FILE).is_file():
            found.append(child / STATE_FILE)
    return found


def read_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise NtTuiError(f"{path}: not a readable trainer_state.json ({exc})",
                         hint="point nt-tui at the output or checkpoint directory") from exc
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise NtTuiError(f"{path}: JSON without a `log_history` list (not a Hugging Face "
                         "trainer_state.json)")
    return state


def _global_step(path: Path) -> int:
    """The state's step: from `checkpoint-N` in the path, else read from the file."""
    found = _CHECKPOINT.match(path.parent.name)
    if found:
        return int(found.group(1))
    try:
        return int(json.loads(path.read_text(encoding="utf-8")).get("global_step", -1))
    except (OSError, ValueError, TypeError, AttributeError):
        return -1


def split_summary(entries: list[dict[str, Any]]) -> tuple[list[dict], list[dict[str, Any]]]:
    """(metric rows, summary events)."""
    rows, events = [], []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        if SUMMARY_KEYS & entry.keys():
            values = {k: v for k, v in entry.items() if isinstance(v, (int, float))}
            events.append({"kind": "summary", "step": entry.get("step"),
                           "message": "end-of-training summary row of trainer_state.json",
                           "values": values})
            continue
        rows.append(entry)
    return rows, events


class HfStateSource(LogSource):
    format = FORMAT

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._stamp: tuple[str, float, int] | None = None
        #: (path, mtime, size) -> global step, so a poll reads no unchanged file
        self._steps: dict[tuple[str, float, int], int] = {}
        self._delivered: list[dict[str, Any]] = []
        self._state: dict[str, Any] = {}

    @property
    def name(self) -> str:
        if self.path.is_file() and self.path.name != STATE_FILE:
            return self.path.stem
        directory = self.path.parent if self.path.is_file() else self.path
        if _CHECKPOINT.match(directory.name):
            directory = directory.parent
        return directory.name

    def current_file(self) -> Path | None:
        """The state file to read: the given one, or the newest (highest global step) of an
        output directory."""
        if self.path.is_file():
            return self.path
        best: tuple[int, float, Path] | None = None
        for path in state_files(self.path):
            stat = os.stat(path)
            stamp = (str(path), stat.st_mtime, stat.st_size)
            if stamp not in self._steps:
                self._steps[stamp] = _global_step(path)
            key = (self._steps[stamp], stat.st_mtime, path)
            best = key if best is None or key[:2] > best[:2] else best
        return best[2] if best else None

    def read(self) -> Batch:
        path = self.current_file()
        if path is None:
            return Batch()
        stat = os.stat(path)
        stamp = (str(path), stat.st_mtime, stat.st_size)
        if stamp == self._stamp:
            return Batch()
        self._stamp = stamp
        self._state = read_state(path)
        entries = self._state["log_history"]
        seen = len(self._delivered)
        continues = len(entries) >= seen and entries[:seen] == self._delivered
        new = entries[seen:] if continues else entries
        self._delivered = list(entries)
        rows, events = split_summary(new)
        notes = [f"kept {len(events)} end-of-training summary row(s) out of the curves"] \
            if events else []
        raw = pd.DataFrame.from_records(rows)
        return Batch(raw, not continues and seen > 0, notes=notes, events=events,
                     nan_mask=records_nan_mask(rows, raw.index))

    def config(self) -> dict[str, Any] | None:
        if not self._state:
            path = self.current_file()
            if path is None:
                return None
            self._state = read_state(path)
        return {k: v for k, v in self._state.items() if k != "log_history"}
