"""Checkpoint files: atomic writes, keep-last-K pruning, safe loading, RNG state.

A checkpoint is one `torch.save`d dict (see docs/run-format.md): model, optimizer, scheduler
position, grad scaler, RNG states of every process, step, data position, metric accumulators,
best validation loss, tokenizer. It holds only tensors and plain Python values, so it loads
with `torch.load(weights_only=True)`: loading a checkpoint never runs code from the file.
"""

from __future__ import annotations

import random
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nt_tui.errors import NtTuiError
from nt_tui.runfmt import atomic_file

CHECKPOINT_FORMAT = 1
BEST_NAME = "best.pt"
STEP_PATTERN = re.compile(r"^step_(\d{8})\.pt$")
#: Characters of a loader's error message kept in ours (torch's run to several lines).
MAX_DETAIL = 240


def step_name(step: int) -> str:
    """`step_00000200.pt`."""
    return f"step_{step:08d}.pt"


def save_atomic(state: dict[str, Any], path: Path) -> None:
    """`torch.save` to a temp file in the same folder, fsync, then rename over `path`.

    On any error (disk full, permission denied) the temp file is removed and the previous file
    at `path` is untouched; the error propagates.
    """
    with atomic_file(path) as handle:
        writer = _ErrorKeepingWriter(handle, str(path))
        try:
            torch.save(state, writer)
        except RuntimeError:
            if writer.error is None:
                raise
        # torch's zip writer swallows the OSError of a failed write (disk full, file too
        # large): it reports "unexpected pos", or nothing at all. Raise the real error.
        if writer.error is not None:
            raise writer.error


class _ErrorKeepingWriter:
    """A file-like `write` for torch.save that keeps the first OSError it meets."""

    def __init__(self, handle: Any, name: str) -> None:
        self.handle = handle
        self.name = name
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        if self.error is not None:
            return 0
        try:
            return self.handle.write(data)
        except OSError as exc:
            if exc.filename is None:
                exc.filename = self.name
            self.error = exc
            return 0

    def flush(self) -> None:
        self.handle.flush()


def step_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of every `step_*.pt` in `folder`, oldest first."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = STEP_PATTERN.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest step checkpoint in `folder`, or None."""
    found = step_checkpoints(folder)
    return found[-1][1] if found else None


def prune(folder: Path, keep_last: int) -> list[Path]:
    """Delete all but the newest `keep_last` step checkpoints (best.pt is never touched)."""
    old = [path for _, path in step_checkpoints(folder)[:-keep_last]]
    for path in old:
        path.unlink(missing_ok=True)
    return old


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with `weights_only=True`; `NtTuiError` if unreadable."""
    older = "move this file aside to use the run's previous checkpoint"
    if not path.is_file():
        raise NtTuiError(f"checkpoint not found: {path}", hint="check the run directory")
    size = path.stat().st_size
    if size == 0:
        raise NtTuiError(f"checkpoint {path} is empty (0 bytes)", hint=older)
    if not zipfile.is_zipfile(path):
        raise NtTuiError(f"checkpoint {path} is truncated or not a PyTorch file ({size:,} "
                         "bytes with no complete archive)", hint=older)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
        detail = " ".join(str(exc).split())
        code = re.search(r"Unsupported global: GLOBAL (\S+)", detail)
        if code:
            raise NtTuiError(f"checkpoint {path} holds pickled code ({code.group(1)}), which "
                             "nt-tui never runs (it loads with weights_only=True)",
                             hint="use a checkpoint written by nt-tui train") from None
        unpickler = re.search(r"WeightsUnpickler error: (.*?\.)(?: |$)", detail)
        if unpickler:
            detail = unpickler.group(1)
        if len(detail) > MAX_DETAIL:
            detail = detail[:MAX_DETAIL] + "..."
        raise NtTuiError(f"cannot read checkpoint {path}: {detail}", hint=older) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise NtTuiError(f"{path} is not an nt-tui checkpoint (format {CHECKPOINT_FORMAT})",
                         hint="resume from a run directory written by nt-tui train")
    return state


def rng_state() -> dict[str, Any]:
    """This process's RNG states as tensors and plain lists (loadable with weights_only)."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": [kind, keys.tolist(), int(position), int(has_gauss), float(cached)],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of `rng_state`."""
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
