"""Complete lines of a (possibly growing) text log from a byte offset.

Readers and the live follower share this: a line without its newline yet is either still
being written (the follower comes back for it) or was torn by a killed writer (a one-shot load
reports it). Either way it is never parsed half.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Chunk:
    """The bytes of complete lines from `start` to `end` (exclusive), and what was left."""

    data: bytes
    start: int
    end: int
    #: bytes after the last newline (a line still being written, or torn)
    pending: int


def read_complete_lines(path: Path, start: int = 0) -> Chunk:
    """Read from byte `start` to the end of the file, cut after the last newline."""
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read()
    cut = data.rfind(b"\n") + 1
    return Chunk(data[:cut], start, start + cut, len(data) - cut)

