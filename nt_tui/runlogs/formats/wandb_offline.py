"""W&B offline runs (`wandb/offline-run-*/run-*.wandb`), with the `wandb` package's own
protobuf `Record` messages.

The `.wandb` file is wandb's transaction log: a 7-byte header (`:W&B`, magic, version), then
the LevelDB log framing (32 KiB blocks; each fragment has a 7-byte header: checksum, length,
type FULL/FIRST/MIDDLE/LAST) around serialized `wandb_internal_pb2.Record` messages. wandb
0.31 no longer ships a Python reader for the framing, so the few lines below undo it and every
record is decoded by wandb's generated protobuf class. History records become rows (items
keyed by `nested_key` joined with "/", values from `value_json` or the typed fields; `_step`,
`_runtime`, `_timestamp` kept); config records become the run's config. A fragment cut short
at the end of the file waits for the next read.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import pandas as pd

from nt_tui.errors import NtTuiError
from nt_tui.runlogs.formats.base import Batch, LogSource, records_nan_mask

FORMAT = "wandb_offline"
SUFFIX = ".wandb"
FILE_HEADER = 7
FILE_MAGIC = b":W&B"
BLOCK_SIZE = 32768
FRAGMENT_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
_LENGTH = struct.Struct("<H")


def is_offline_run(path: Path) -> bool:
    return path.is_dir() and path.name.startswith(("offline-run-", "run-")) and \
        any(path.glob(f"run-*{SUFFIX}"))


def _record_class():
    try:
        from wandb.proto import wandb_internal_pb2
    except ImportError as exc:
        raise NtTuiError("reading W&B offline runs needs the `wandb` package",
                         hint="pip install 'nt-tui[wandb]'") from exc
    return wandb_internal_pb2.Record


def iter_payloads(data: bytes, base: int) -> tuple[list[bytes], int]:
    """Whole record payloads in `data`, which holds the file from absolute offset `base`;
    returns them and the absolute offset after the last whole record."""
    pos = max(base, FILE_HEADER)
    committed = pos
    payloads: list[bytes] = []
    pieces: list[bytes] = []
    while True:
        left = BLOCK_SIZE - pos % BLOCK_SIZE
        if left < FRAGMENT_HEADER:
            pos += left
            continue
        index = pos - base
        if index + FRAGMENT_HEADER > len(data):
            break
        (length,) = _LENGTH.unpack_from(data, index + 4)
        kind = data[index + 6]
        end = index + FRAGMENT_HEADER + length
        if kind not in (FULL, FIRST, MIDDLE, LAST) or end > len(data):
            break
        fragment = data[index + FRAGMENT_HEADER:end]
        pos = base + end
        if kind in (FULL, FIRST):
            pieces = [fragment]
        else:
            pieces.append(fragment)
        if kind in (FULL, LAST):
            payloads.append(b"".join(pieces))
            pieces = []
            committed = pos
    return payloads, committed


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _item_value(item: Any) -> Any:
    kind = item.WhichOneof("value")
    if kind in ("integer", "number", "boolean"):
        return getattr(item, kind)
    return _json_or_none(item.value_json or (item.json if kind == "json" else ""))


def _item_key(item: Any) -> str:
    return item.key or "/".join(item.nested_key)


class WandbSource(LogSource):
    format = FORMAT

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._offset = 0
        self._size = 0
        self._config: dict[str, Any] = {}

    @property
    def name(self) -> str:
        directory = self.path.parent if self.path.is_file() else self.path
        return directory.name

    def _file(self) -> Path | None:
        if self.path.is_file():
            return self.path
        found = sorted(self.path.glob(f"run-*{SUFFIX}"))
        return found[-1] if found else None

    def read(self) -> Batch:
        record_class = _record_class()
        path = self._file()
        if path is None:
            return Batch()
        size = os.stat(path).st_size
        reset = size < self._size
        if reset:
            self._offset = 0
        self._size = size
        with open(path, "rb") as handle:
            if not handle.read(len(FILE_MAGIC)) == FILE_MAGIC:
                raise NtTuiError(f"{path}: not a W&B transaction log (no :W&B header)")
            handle.seek(self._offset)
            data = handle.read()
        from google.protobuf.message import DecodeError

        payloads, self._offset = iter_payloads(data, self._offset)
        rows, skipped = [], 0
        for payload in payloads:
            try:
                record = record_class.FromString(payload)
            except DecodeError:
                skipped += 1
                continue
            kind = record.WhichOneof("record_type")
            if kind == "history":
                row = {_item_key(item): _item_value(item) for item in record.history.item}
                if "_step" not in row and record.history.HasField("step"):
                    row["_step"] = record.history.step.num
                rows.append(row)
            elif kind == "config":
                for item in record.config.update:
                    self._config[_item_key(item)] = _json_or_none(item.value_json)
        notes = [f"skipped {skipped} record(s) that are not W&B records"] if skipped else []
        raw = pd.DataFrame.from_records(rows)
        return Batch(raw, reset, notes=notes, nan_mask=records_nan_mask(rows, raw.index))

    def config(self) -> dict[str, Any] | None:
        return dict(self._config) or None
