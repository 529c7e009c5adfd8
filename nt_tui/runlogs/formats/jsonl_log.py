"""Generic JSONL logs: one JSON object of metrics per line (any logger, any key names)."""

from __future__ import annotations

from pathlib import Path

from nt_tui.runlogs.formats.base import Batch, FileTail, LogSource
from nt_tui.runlogs.jsonl import parse_jsonl

FORMAT = "jsonl"


def read_jsonl_batch(tail: FileTail) -> Batch:
    """The new records of a JSONL file as a batch."""
    chunk, reset = tail.read()
    if not chunk.data:
        return Batch(reset=reset, pending=chunk.pending)
    table = parse_jsonl(chunk.data)
    notes = [f"skipped {table.skipped} line(s) that are not JSON objects"] if table.skipped \
        else []
    return Batch(table.frame, reset, notes=notes, pending=chunk.pending,
                 nan_mask=table.nan_mask)


class JsonlSource(LogSource):
    format = FORMAT

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._tail = FileTail(self.path)

    def read(self) -> Batch:
        return read_jsonl_batch(self._tail)
