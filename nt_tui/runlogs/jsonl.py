"""JSONL metric records (one JSON object per line) into a raw table.

Two paths give the same table:

- the fast path, for flat objects of numbers (what every metrics logger writes, nt-tui's
  own metrics.jsonl included): the bytes are turned into comma-separated "key,value" pairs
  and parsed by pandas' C CSV tokenizer, keys as categories. It is used only when checks on
  the whole buffer hold: one object per line, no nesting, every colon a key separator, every
  value a number (or null / NaN / Infinity). On valid JSON it gives the line-by-line table,
  except that a null value makes an empty column; it is more lenient with near-JSON lines
  that `json.loads` rejects (a quoted number, a leading "+" or ".", a stray brace, two
  objects on one line): their numbers are read instead of the line being skipped;
- line by line (the same rules as `nt_tui.runfmt.iter_jsonl`, on bytes already read) for
  anything else: nested objects are flattened to "outer/inner" columns, strings and lists are
  ignored, corrupt lines are skipped and counted.

Both also give the mask of the values written as NaN (`Batch.nan_mask`): a key present with a
NaN value is marked, a key missing from a line or holding null is not.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nt_tui.runfmt import decode_number
from nt_tui.runlogs.formats.base import records_nan_mask

#: ':' becomes the field separator; braces and quotes are dropped (the checks make it safe).
_TO_PAIRS = bytes.maketrans(b":", b",")
_DROPPED = b'{}"'
#: Lines sampled (start, middle, end) to size the widest record before parsing.
WIDTH_SAMPLE_LINES = 200
#: Spare key/value pairs allowed beyond the widest sampled record; a wider one re-parses.
WIDTH_MARGIN_PAIRS = 4
_SAW_FIELDS = re.compile(r"saw (\d+)")
#: Below this many bytes the line-by-line path is quicker than starting the CSV tokenizer
#: (measured: ~1 ms fixed cost of read_csv vs ~6 us per line for json.loads).
FAST_PATH_MIN_BYTES = 32768
#: Above this many bytes the fast path parses chunks of lines in threads: pandas' tokenizer
#: and number conversion release the GIL, so the chunks overlap (1.43 s -> ~1.0 s for a
#: 292 MB, 1,000,000-line log on 2 cores; docs/performance.md).
PARALLEL_MIN_BYTES = 16 * 1024 * 1024
#: At most this many chunks; more than the cores still helps, since the GIL-bound steps
#: (translate, counts) of one chunk run while another chunk is in the tokenizer.
MAX_CHUNKS = 3


@dataclass
class JsonlTable:
    frame: pd.DataFrame
    #: the cells written as NaN ("NaN" or NaN): same index as `frame`, a subset of its columns
    nan_mask: pd.DataFrame
    #: lines that were not a JSON object
    skipped: int

    @property
    def explicit_nan(self) -> int:
        """NaN values written as such."""
        return int(self.nan_mask.to_numpy(dtype=bool).sum())


def _widest_sampled_record(data: bytes) -> int:
    """Most key/value pairs on a sampled line."""
    size = len(data)
    widest = 0
    for anchor in (0, size // 2, max(0, size - 64 * WIDTH_SAMPLE_LINES)):
        start = data.rfind(b"\n", 0, anchor) + 1 if anchor else 0
        block = data[start:start + 256 * WIDTH_SAMPLE_LINES].split(b"\n")[:WIDTH_SAMPLE_LINES]
        widest = max([widest] + [line.count(b":") for line in block])
    return widest


def _parse_pairs(flat: bytes, pairs: int, spaced: bool) -> pd.DataFrame | None:
    """Key/value slots of the flattened bytes; None when they are not all numbers. Compact
    JSON is parsed without `skipinitialspace` (~12% quicker); spaced JSON, or a spaced line
    in a compact file, with it."""
    for _ in range(4):
        width = 2 * pairs
        dtypes = {i: ("category" if i % 2 == 0 else "float64") for i in range(width)}
        try:
            return pd.read_csv(io.BytesIO(flat), header=None, names=list(range(width)),
                               dtype=dtypes, quoting=csv.QUOTE_NONE, skipinitialspace=spaced,
                               engine="c")
        except pd.errors.ParserError as exc:
            saw = _SAW_FIELDS.search(str(exc))
            if not saw:
                return None
            pairs = int(saw.group(1)) // 2 + WIDTH_MARGIN_PAIRS
        except (ValueError, TypeError):
            if spaced:
                return None
            spaced = True
    return None


def _assemble(pairs: pd.DataFrame
              ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None:
    """Columns by key name, and per key the rows whose value was NaN or null."""
    rows = len(pairs)
    columns: dict[str, np.ndarray] = {}
    nan: dict[str, np.ndarray] = {}
    for slot in range(0, pairs.shape[1], 2):
        keys, values = pairs[slot], pairs[slot + 1].to_numpy()
        codes = keys.cat.codes.to_numpy()
        names = [str(name).strip() for name in keys.cat.categories]
        if any(not name or name[0].isdigit() for name in names):
            return None
        said_nan = np.isnan(values)
        for code, name in enumerate(names):
            mask = codes == code
            if said_nan[mask].any() or name in nan:
                nan.setdefault(name, np.zeros(rows, dtype=bool))[mask] = said_nan[mask]
            if len(names) == 1 and name not in columns and (codes == 0).all():
                columns[name] = values
                continue
            target = columns.setdefault(name, np.full(rows, np.nan))
            target[mask] = values[mask]
    return columns, nan


def _unmark_nulls(data: bytes, nan: dict[str, np.ndarray]) -> bool:
    """Clear the marks of null values (the tokenizer reads null as NaN; null is no value);
    False when a line with a null is not valid JSON (then only the exact path can tell)."""
    for row, line in enumerate(data.split(b"\n")):
        if b"null" not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            return False
        for key, value in record.items() if isinstance(record, dict) else ():
            if value is None and str(key).strip() in nan:
                nan[str(key).strip()][row] = False
    return True


def _chunk_table(data: bytes
                 ) -> tuple[dict[str, np.ndarray], int, dict[str, np.ndarray]] | None:
    """(columns, rows, rows written NaN per key) of complete lines by the fast path, or
    None."""
    lines = data.count(b"\n")
    if not lines:
        return None
    head = data[:4096]
    pairs = _parse_pairs(data.translate(_TO_PAIRS, _DROPPED),
                         _widest_sampled_record(data) + WIDTH_MARGIN_PAIRS,
                         spaced=b": " in head or b", " in head)
    if pairs is None or len(pairs) != lines:
        return None
    key_cells = int(sum(pairs[slot].notna().sum() for slot in range(0, pairs.shape[1], 2)))
    if key_cells != data.count(b":"):
        return None
    assembled = _assemble(pairs)
    if assembled is None:
        return None
    columns, nan = assembled
    if nan and b"null" in data and not _unmark_nulls(data, nan):
        return None
    return columns, lines, nan


def _line_chunks(data: bytes, count: int) -> list[bytes]:
    """`data` cut into about `count` pieces of whole lines."""
    chunks, start = [], 0
    for part in range(1, count):
        cut = data.find(b"\n", max(start, len(data) * part // count)) + 1
        if cut <= start:
            break
        chunks.append(data[start:cut])
        start = cut
    if start < len(data):
        chunks.append(data[start:])
    return chunks


def _joined(parts: list[tuple[dict[str, np.ndarray], int, dict[str, np.ndarray]]]
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One table from consecutive chunks' columns, and its NaN mask; a key missing from a
    chunk is NaN there, and not marked."""
    names = list(dict.fromkeys(name for columns, _, _ in parts for name in columns))
    joined = {name: np.concatenate([columns[name] if name in columns else np.full(rows, np.nan)
                                    for columns, rows, _ in parts])
              for name in names}
    marked = list(dict.fromkeys(name for _, _, nan in parts for name in nan))
    mask = {name: np.concatenate([nan[name] if name in nan else np.zeros(rows, dtype=bool)
                                  for _, rows, nan in parts])
            for name in marked}
    frame = pd.DataFrame(joined)
    return frame, pd.DataFrame(mask, index=frame.index, dtype=bool)


def flat_numeric_table(data: bytes) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(table, NaN mask) of `data` (complete lines) by the fast path, or None when it does
    not apply. Exactness: every value must parse as a number, no key may look like a number
    (a shifted pair), every colon must be a key separator, and every line must give a row.
    A large buffer is parsed as chunks of lines in threads, each held to the same checks."""
    count = min(MAX_CHUNKS, max(1, len(data) // PARALLEL_MIN_BYTES))
    chunks = _line_chunks(data, count) if count > 1 else [data]
    if len(chunks) == 1:
        parts = [_chunk_table(data)]
    else:
        with ThreadPoolExecutor(max_workers=min(len(chunks), 2 * (os.cpu_count() or 1))) as pool:
            parts = list(pool.map(_chunk_table, chunks))
    if not parts or any(part is None for part in parts):
        return None
    return _joined(parts)  # type: ignore[arg-type]


def flat_numeric_frame(data: bytes) -> pd.DataFrame | None:
    """The table of `data` by the fast path, or None when it does not apply."""
    found = flat_numeric_table(data)
    return None if found is None else found[0]


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}/"))
            continue
        value = decode_number(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def line_by_line_table(data: bytes) -> tuple[pd.DataFrame, int, pd.DataFrame]:
    """(table, skipped lines, NaN mask) of JSONL bytes read one line at a time."""
    records: list[dict[str, float]] = []
    skipped = 0
    for raw in data.splitlines():
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            skipped += 1
            continue
        if not isinstance(record, dict):
            skipped += 1
            continue
        records.append(_flatten(record))
    frame = pd.DataFrame.from_records(records)
    return frame, skipped, records_nan_mask(records, frame.index)


def parse_jsonl(data: bytes) -> JsonlTable:
    """The raw table of JSONL bytes made of complete lines."""
    found = flat_numeric_table(data) if len(data) >= FAST_PATH_MIN_BYTES else None
    if found is not None:
        return JsonlTable(found[0], found[1], 0)
    frame, skipped, nan = line_by_line_table(data)
    return JsonlTable(frame, nan, skipped)


def first_object(path: Path, limit: int = 65536) -> dict[str, Any] | None:
    """The first JSON object line of a file (format detection), or None."""
    with open(path, "rb") as handle:
        head = handle.read(limit)
    for raw in head.split(b"\n")[:20]:
        raw = raw.strip()
        if not raw:
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            return None
        return record if isinstance(record, dict) else None
    return None

