"""Plain-text training logs (nanoGPT, fairseq, hand-written `print` loops), by regular
expressions. Every pattern is listed in docs/log-formats.md with an example line.

Each line is tried against the patterns in order; the first that matches gives the record:

1. nanoGPT's train line  `iter 100: loss 2.3456, time 12.34ms, mfu 5.67%`
2. nanoGPT's eval line   `step 2000: train loss 1.2345, val loss 1.4567`
3. key/value pairs       `... | epoch 001 | loss 9.21 | lr 0.0005 | num_updates 100`,
   `loss=9.21, gnorm=1.23, num_updates=100`, `Step 100 | train loss: 2.345 | lr: 3e-4`,
   kept when they hold a step (or an epoch) and at least one other number. On a line that
   says `valid`/`validation`/`eval`, metrics without a train/val prefix get `val_`.

Lines that match nothing (banners, warnings, tracebacks) are skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from nt_tui.runlogs.formats.base import Batch, FileTail, LogSource, records_nan_mask
from nt_tui.runlogs.names import canonical_of

FORMAT = "text_log"

NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf(?:inity)?)"
NANOGPT_ITER = re.compile(
    rf"^\s*iter (?P<step>\d+): loss (?P<loss>{NUMBER}), time (?P<iter_time_ms>{NUMBER})ms"
    rf"(?:, mfu (?P<mfu_percent>{NUMBER})%)?", re.IGNORECASE)
NANOGPT_EVAL = re.compile(
    rf"^\s*step (?P<step>\d+): train loss (?P<train_loss_eval>{NUMBER}), "
    rf"val loss (?P<val_loss>{NUMBER})", re.IGNORECASE)
#: `key value`, `key=value`, `key: value`; an optional train/val qualifier word before the key
#: ("train loss 2.3"); the number must not run on into a unit ("12ms" is skipped).
KEY_VALUE = re.compile(
    rf"(?<![\w/.-])(?:(?P<qualifier>train|training|val|valid|validation|eval|test)[ _])?"
    rf"(?P<key>[A-Za-z][\w/.-]*)\s*(?:=\s*|:\s*|\s+)(?P<value>{NUMBER})(?![\w.%])",
    re.IGNORECASE)
VALIDATION_LINE = re.compile(r"\b(?:valid|validation|eval|evaluation)\b", re.IGNORECASE)
_PREFIXED = re.compile(r"^(?:train|training|val|valid|validation|eval|test)[_/]",
                       re.IGNORECASE)
#: Keys that describe where the run is, never prefixed with val_ on a validation line.
_POSITION_KEYS = frozenset({"step", "epoch", "lr", "learning_rate"})
PATTERNS = (("nanogpt_iter", NANOGPT_ITER), ("nanogpt_eval", NANOGPT_EVAL))
#: Lines read when deciding whether a file is a text log, and the records needed: one line in
#: a known format (nanoGPT's "iter N: loss X, time Yms") is enough; generic "key value" lines
#: must repeat, as a training log's do, since prose or a table that happens to mention "step 1,
#: loss 2" once or twice (a README, a manifest) is not a log.
DETECT_LINES = 2000
DETECT_MIN_GENERIC_MATCHES = 3


def _key_values(line: str) -> dict[str, float] | None:
    validation = bool(VALIDATION_LINE.search(line))
    record: dict[str, float] = {}
    for match in KEY_VALUE.finditer(line):
        key = match["key"].strip("/.-")
        if match["qualifier"]:
            key = f"{match['qualifier']}_{key}"
        found = canonical_of(key)
        position = found is not None and found[0] in _POSITION_KEYS
        if validation and not position and not _PREFIXED.match(key):
            key = f"val_{key}"
        record.setdefault(key, float(match["value"]))
    positions = {found[0] for key in record if (found := canonical_of(key))}
    if not positions & {"step", "epoch"} or len(record) < 2:
        return None
    return record


def parse_line(line: str) -> dict[str, float] | None:
    """The metrics on one log line, or None when it holds none."""
    for _, pattern in PATTERNS:
        match = pattern.match(line)
        if match:
            return {key: float(value) for key, value in match.groupdict().items()
                    if value is not None}
    return _key_values(line)


def parse_text(data: bytes) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Records of complete text lines, and the mask of the values written as NaN."""
    records = [record for line in data.decode("utf-8", "replace").splitlines()
               if (record := parse_line(line))]
    frame = pd.DataFrame.from_records(records)
    return frame, records_nan_mask(records, frame.index)


def looks_like_text_log(path: Path) -> bool:
    """True when the first lines of `path` hold at least one record."""
    with open(path, "rb") as handle:
        head = handle.read(256 * DETECT_LINES)
    lines = head.decode("utf-8", "replace").splitlines()[:DETECT_LINES]
    if any(pattern.match(line) for line in lines for _, pattern in PATTERNS):
        return True
    steps = [record.get("step", record.get("epoch")) for line in lines
             if (record := _key_values(line))]
    # records of a log go forward (a resumed run may step back once; allow one)
    backwards = sum(1 for a, b in zip(steps, steps[1:])
                    if a is not None and b is not None and b < a)
    return len(steps) >= DETECT_MIN_GENERIC_MATCHES and backwards <= 1


class TextLogSource(LogSource):
    format = FORMAT

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._tail = FileTail(self.path)

    def read(self) -> Batch:
        chunk, reset = self._tail.read()
        if not chunk.data:
            return Batch(reset=reset, pending=chunk.pending)
        frame, said_nan = parse_text(chunk.data)
        return Batch(frame, reset, pending=chunk.pending, nan_mask=said_nan)
