"""`nt-tui monitor PATH`: open the live monitor on a run directory or log, following it."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = ("Watch a run live in the app: an nt-tui run directory, a Hugging Face, Lightning, "
        "TensorBoard or CSV/JSONL log, or a folder of runs (overlaid).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, nargs="?",
                        help="run directory, log file or folder of runs (default: pick one "
                             "of the recent runs under ./runs)")


def run(args: argparse.Namespace) -> int:
    from nt_tui.errors import NtTuiError
    from nt_tui.tui.app import run_app

    if args.path is None:
        return run_app(area="monitor")
    path = args.path.expanduser()
    if not path.exists():
        raise NtTuiError(f"nothing to monitor at {path}: no such file or folder",
                         hint="give a run directory or a log file, e.g. runs/<name>-<time>")
    if path.is_file():  # a log nt-tui cannot read is one line here, not an empty screen
        from nt_tui.runlogs import open_source

        open_source(path)
    else:  # a folder may be empty for now: the monitor waits for its first run
        from nt_tui.runlogs.detect import check_access

        check_access(path)
    return run_app(area="monitor", path=path)
