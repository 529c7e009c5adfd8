"""TensorBoard event files (`events.out.tfevents.*`), read with TensorBoard's own loader.

Scalars come as `simple_value` (PyTorch's SummaryWriter, TF1) or as scalar tensors tagged by
the `scalars` plugin (TF2, newer writers); both are read. A directory is the run: every event
file directly in it, in name order (a resumed run writes a new file, so a step logged again
in a later file wins). Each file keeps its own `RawEventFileLoader`, which yields only the
records appended since its last call and waits at a half-written record; each record is
decoded with TensorBoard's `Event` protobuf class (a record that does not decode, or a tensor
that is not a number, is skipped and counted); new files are picked up on the next read. Needs the `tensorboard` package (`pip install nt-tui[tensorboard]`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from nt_tui.errors import NtTuiError
from nt_tui.runlogs.formats.base import Batch, LogSource

FORMAT = "tensorboard"
EVENT_FILE_MARK = "tfevents"
SCALARS_PLUGIN = "scalars"
#: An event file this large without one readable event is corrupt, not half-written (a
#: writer's first record, the file version, is about 40 bytes).
CORRUPT_AFTER_BYTES = 128
#: Columns the table makes itself.
RESERVED_COLUMNS = frozenset({"step", "wall_time"})


def is_event_file(path: Path) -> bool:
    return path.is_file() and path.name.startswith("events.out.") and \
        EVENT_FILE_MARK in path.name


def event_files(directory: Path) -> list[Path]:
    """Event files directly in `directory`, in name (creation time) order."""
    return sorted(p for p in directory.iterdir() if is_event_file(p))


def _loader_class():
    try:
        from tensorboard.backend.event_processing.event_file_loader import (
            RawEventFileLoader,
        )
    except ImportError as exc:
        raise NtTuiError("reading TensorBoard event files needs the `tensorboard` package",
                         hint="pip install 'nt-tui[tensorboard]'") from exc
    return RawEventFileLoader


class _EventFile:
    """One event file's loader and the scalar tags it has declared."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.loader = _loader_class()(str(path))
        self.size = 0
        self.events = 0
        self.scalar_tags: set[str] = set()
        #: records that are not Event protos, and scalar tensors that hold no number
        self.skipped = 0

    def _events(self):
        from google.protobuf.message import DecodeError
        from tensorboard.compat.proto.event_pb2 import Event

        for record in self.loader.Load():
            try:
                event = Event.FromString(record)
            except DecodeError:
                self.skipped += 1
                continue
            self.events += 1
            yield event

    def _number(self, tensor: Any) -> float | None:
        from tensorboard.util import tensor_util

        try:
            array = tensor_util.make_ndarray(tensor)
            return float(array.reshape(-1)[0]) if array.size == 1 else None
        except (ValueError, TypeError, KeyError):  # a dtype or shape it cannot hold
            self.skipped += 1
            return None

    def new_scalars(self) -> tuple[list[int], list[str], list[float], list[float]]:

        steps: list[int] = []
        tags: list[str] = []
        values: list[float] = []
        times: list[float] = []
        for event in self._events():
            if not event.HasField("summary"):
                continue
            for value in event.summary.value:
                kind = value.WhichOneof("value")
                if kind == "simple_value":
                    number = value.simple_value
                elif kind == "tensor":
                    if value.metadata.plugin_data.plugin_name == SCALARS_PLUGIN:
                        self.scalar_tags.add(value.tag)
                    if value.tag not in self.scalar_tags:
                        continue
                    number = self._number(value.tensor)
                    if number is None:
                        continue
                else:
                    continue
                steps.append(event.step)
                tags.append(value.tag)
                values.append(number)
                times.append(event.wall_time)
        return steps, tags, values, times


def scalars_table(steps: list[int], tags: list[str], values: list[float],
                  times: list[float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per step, one column per tag, plus the event wall time; and its NaN mask (a
    NaN scalar is an event that was written: a tag with events at a step but no number)."""
    if not steps:
        return pd.DataFrame(), pd.DataFrame(dtype=bool)
    long = pd.DataFrame({"step": steps, "tag": tags, "value": values})
    grouped = long.groupby(["step", "tag"], sort=False)["value"]
    wide = grouped.last().unstack("tag")
    said_nan = (grouped.size().unstack("tag").reindex_like(wide).notna() & wide.isna())
    # a tag named like the step or time column keeps its value under another name
    wide.columns = [f"{c} (tag)" if str(c) in RESERVED_COLUMNS else str(c)
                    for c in wide.columns]
    said_nan.columns = wide.columns
    said_nan = said_nan.loc[:, said_nan.any()].reset_index(drop=True)
    wall = pd.Series(times).groupby(pd.Series(steps)).max()
    wide["wall_time"] = wall.reindex(wide.index).to_numpy()
    wide.index.name = "step"
    return wide.reset_index(), said_nan


class TensorBoardSource(LogSource):
    format = FORMAT

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._files: dict[Path, _EventFile] = {}

    @property
    def name(self) -> str:
        return self.path.parent.name if self.path.is_file() else self.path.name

    def _paths(self) -> list[Path]:
        return [self.path] if self.path.is_file() else event_files(self.path)

    def read(self) -> Batch:
        paths = self._paths()
        reset = bool(set(self._files) - set(paths))
        for path in paths:
            size = os.stat(path).st_size
            known = self._files.get(path)
            if known is not None and size < known.size:
                reset = True
            if known is None:
                self._files[path] = _EventFile(path)
        if reset:
            self._files = {path: _EventFile(path) for path in paths}
        tables, masks, notes = [], [], []
        for path in sorted(self._files):
            event_file = self._files[path]
            event_file.size = os.stat(path).st_size
            skipped = event_file.skipped
            table, said_nan = scalars_table(*event_file.new_scalars())
            if event_file.skipped > skipped:
                notes.append(f"{path.name}: skipped {event_file.skipped - skipped} record(s) "
                             "that are not readable events or scalars")
            if not event_file.events and (event_file.size > CORRUPT_AFTER_BYTES
                                          or event_file.skipped):
                raise NtTuiError(f"{path}: corrupt TensorBoard event file ({event_file.size} "
                                 "bytes, not one readable event record)",
                                 hint="check the file was copied whole; other event files "
                                      "of the run can be read on their own")
            if len(table):
                tables.append(table)
                masks.append(said_nan)
        raw = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
        mask = pd.concat(masks, ignore_index=True).eq(True) if masks \
            else pd.DataFrame(index=raw.index, dtype=bool)
        return Batch(raw, reset, notes=notes, nan_mask=mask)

    def config(self) -> dict[str, Any] | None:
        return None
