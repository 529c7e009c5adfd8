"""What every log reader provides: an incremental `LogSource`.

A source reads a run's log from where it left off: the first `read()` returns everything
there is, each later one only what was appended since (a byte offset for text files, new
events for TensorBoard, new `log_history` entries for Hugging Face). When the log was
truncated, rotated or rewritten, `read()` starts over and says so (`Batch.reset`). A one-shot
load is one `read()`; the live follower calls it again and again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from nt_tui.runlogs.tail import Chunk, read_complete_lines

#: Bytes at the start of a file compared between reads to notice a rewritten file.
HEAD_FINGERPRINT_BYTES = 64


@dataclass
class Batch:
    """New raw rows (original column names) from one `read()`."""

    raw: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: True when the log was re-read from its start: drop what earlier batches gave
    reset: bool = False
    #: NaN values written as such in these rows (the count of `nan_mask` when there is one)
    explicit_nan: int = 0
    #: repairs made while reading these rows (skipped lines, summary rows ...)
    notes: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    #: bytes of a last line still without its newline
    pending: int = 0
    #: the cells of `raw` written as NaN (a NaN value logged, not a metric left out): same
    #: index as `raw`, a subset of its columns; None when the reader cannot tell them apart
    nan_mask: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        if self.nan_mask is not None:
            self.explicit_nan = int(self.nan_mask.to_numpy(dtype=bool).sum())


def nan_mask(index: pd.Index, cells: dict[Any, list[int]]) -> pd.DataFrame:
    """A `Batch.nan_mask` from the row positions (in `index`) written NaN, per column."""
    columns = {}
    for column, rows in cells.items():
        marked = np.zeros(len(index), dtype=bool)
        marked[rows] = True
        columns[column] = marked
    return pd.DataFrame(columns, index=index, dtype=bool)


def records_nan_mask(records: Iterable[dict[str, Any]], index: pd.Index) -> pd.DataFrame:
    """The `Batch.nan_mask` of a table made by `pd.DataFrame.from_records(records)`: a key
    present with a float NaN value is marked, a missing key is not."""
    cells: dict[str, list[int]] = {}
    for row, record in enumerate(records):
        for key, value in record.items():
            if isinstance(value, float) and value != value:
                cells.setdefault(key, []).append(row)
    return nan_mask(index, cells)


def read_yaml_mapping(path: Path) -> dict[str, Any] | None:
    """The mapping a YAML file holds (a run's config, hparams); None when the file cannot be
    read or parsed, or holds something else."""
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    return loaded if isinstance(loaded, dict) else None


class LogSource:
    """Base of the readers: `format`, `path`, `name`, `read()`, `config()`."""

    format = ""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def name(self) -> str:
        return self.path.stem if self.path.is_file() else self.path.name

    def read(self) -> Batch:  # pragma: no cover - every reader overrides it
        raise NotImplementedError

    def config(self) -> dict[str, Any] | None:
        """The run's configuration when the log records one."""
        return None


class FileTail:
    """The complete new lines of one growing file; notices truncation and rotation."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self._identity: tuple[int, int] | None = None
        self._head = b""

    def _fingerprint(self) -> tuple[tuple[int, int], bytes, int] | None:
        try:
            with open(self.path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                head = handle.read(HEAD_FINGERPRINT_BYTES)
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_dev), head, stat.st_size

    def read(self) -> tuple[Chunk, bool]:
        """(new complete lines, reset). Reset: the file shrank, was replaced or rewritten,
        and the chunk holds it from its first byte."""
        found = self._fingerprint()
        if found is None:
            return Chunk(b"", self.offset, self.offset, 0), False
        identity, head, size = found
        common = min(len(head), len(self._head))
        reset = self.offset > 0 and (identity != self._identity or size < self.offset
                                     or head[:common] != self._head[:common])
        if reset:
            self.offset = 0
        if size == self.offset:
            self._identity, self._head = identity, head
            return Chunk(b"", self.offset, self.offset, 0), reset
        chunk = read_complete_lines(self.path, self.offset)
        self.offset = chunk.end
        self._identity, self._head = identity, head
        return chunk, reset
