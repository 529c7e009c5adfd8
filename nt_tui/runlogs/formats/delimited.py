"""CSV and TSV logs: a header row of metric names, one row per record, empty cells allowed.

Lightning's CSVLogger (`metrics.csv`) is this format with its own habits: train and
validation metrics on separate rows at the same step, `train_loss_step`/`_epoch` suffixes,
`lr-AdamW` columns, and a file rewritten with a wider header when a new metric first appears
(the follower notices the new header and re-reads). Its `hparams.yaml` is the run's config.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pandas as pd

from nt_tui.errors import NtTuiError
from nt_tui.runlogs.formats.base import Batch, FileTail, LogSource, read_yaml_mapping

FORMAT_CSV = "csv"
FORMAT_LIGHTNING = "lightning_csv"
LIGHTNING_HPARAMS = "hparams.yaml"
#: Cell texts that mean "NaN was logged here" (an empty cell means "not logged").
NAN_TEXTS = frozenset({"nan", "-nan", "+nan"})


def delimiter_of(path: Path, header: str) -> str:
    """Tab for .tsv files or a tab-separated header, else comma."""
    if path.suffix.lower() == ".tsv" or ("\t" in header and "," not in header):
        return "\t"
    return ","


def header_names(header: str, sep: str) -> list[str]:
    """Column names of a header line; a repeated name gets `.1`, `.2` (as pandas names them)."""
    try:
        cells = next(csv.reader([header], delimiter=sep), [])
    except csv.Error:  # a stray carriage return or NUL: split on the delimiter alone
        cells = header.split(sep)
    names: list[str] = []
    for name in (name.strip() for name in cells):
        unique, count = name, 0
        while unique in names:
            count += 1
            unique = f"{name}.{count}"
        names.append(unique)
    return names


def parse_rows(data: bytes, names: list[str], sep: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows (no header) as a table; returns it and the mask of the cells that said NaN
    (`Batch.nan_mask`)."""
    if not data.strip():
        frame = pd.DataFrame(columns=names)
        return frame, pd.DataFrame(index=frame.index, dtype=bool)
    options = dict(sep=sep, header=None, names=names, keep_default_na=False, na_values=[""],
                   engine="c", on_bad_lines="skip", skip_blank_lines=True,
                   encoding_errors="replace")
    try:
        frame = pd.read_csv(io.BytesIO(data), **options)
    except pd.errors.ParserError:  # an unclosed quote: read quotes as plain characters
        try:
            frame = pd.read_csv(io.BytesIO(data), quoting=csv.QUOTE_NONE, **options)
        except pd.errors.ParserError as exc:
            raise NtTuiError(f"cannot parse the rows as {'TSV' if sep == chr(9) else 'CSV'}: "
                             f"{' '.join(str(exc).split())}",
                             hint="check the file for broken quoting") from None
    marked = {}
    for column in frame.columns:
        if frame[column].dtype.kind in "fiub":
            continue
        text = frame[column].astype(str).str.strip().str.lower()
        said_nan = text.isin(NAN_TEXTS).to_numpy()
        if said_nan.any():
            marked[column] = said_nan
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame, pd.DataFrame(marked, index=frame.index, dtype=bool)


class DelimitedSource(LogSource):
    """A CSV/TSV file followed by byte offset; a changed header means a rewritten file."""

    def __init__(self, path: Path, format: str = FORMAT_CSV) -> None:
        super().__init__(path)
        self.format = format
        self._tail = FileTail(self.path)
        self._names: list[str] | None = None
        self._sep = ","

    @property
    def name(self) -> str:
        if self.format == FORMAT_LIGHTNING and self.path.name == "metrics.csv":
            return self.path.parent.name
        return self.path.stem

    def _header_changed(self) -> bool:
        if self._names is None:
            return False
        with open(self.path, "rb") as handle:
            first = handle.readline().decode("utf-8-sig", "replace").rstrip("\r\n")
        return header_names(first, self._sep) != self._names

    def read(self) -> Batch:
        reset = False
        if self._header_changed():
            self._tail.offset, self._names, reset = 0, None, True
        chunk, tail_reset = self._tail.read()
        reset = reset or tail_reset
        if reset:
            self._names = None
        data = chunk.data
        if self._names is None and data:
            cut = data.find(b"\n") + 1
            header = data[:cut].decode("utf-8-sig", "replace").rstrip("\r\n")
            self._sep = delimiter_of(self.path, header)
            self._names = header_names(header, self._sep)
            data = data[cut:]
        if self._names is None:
            return Batch(reset=reset, pending=chunk.pending)
        frame, said_nan = parse_rows(data, self._names, self._sep)
        return Batch(frame, reset, pending=chunk.pending, nan_mask=said_nan)

    def config(self) -> dict[str, Any] | None:
        hparams = self.path.parent / LIGHTNING_HPARAMS
        if self.format != FORMAT_LIGHTNING or not hparams.is_file():
            return None
        return read_yaml_mapping(hparams)


def looks_like_lightning(names: list[str], path: Path) -> bool:
    """Lightning CSVLogger: `epoch` and `step` columns, and a file named `*metrics.csv` or
    `lr-*` names or `_step`/`_epoch` suffixed metrics."""
    lower = {name.lower() for name in names}
    suffixed = any(name.endswith(("_step", "_epoch")) for name in lower)
    lr_monitor = any(name.startswith("lr-") for name in lower)
    return {"epoch", "step"} <= lower and (path.name.endswith("metrics.csv") or suffixed or lr_monitor)

