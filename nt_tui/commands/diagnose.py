"""`nt-tui diagnose PATH [--symptom NAME ...] [--json]`: name the cause of a run's trouble.

The contract (../shared/spec/diagnose.md): with --json, stdout is exactly one JSON object;
an unreadable log exits non-zero with one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nt_tui.analysis.diagnosis.vocabulary import SYMPTOM_IDS
from nt_tui.errors import NtTuiError

HELP = "Diagnose a training run from its logs: ranked causes with evidence, fixes and links."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="run directory or log file (format detected)")
    parser.add_argument("--symptom", action="append", default=[], choices=SYMPTOM_IDS,
                        metavar="NAME", help="what you saw (repeatable): "
                                             + ", ".join(SYMPTOM_IDS))
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    import warnings

    from nt_tui.analysis.diagnosis import diagnose_path
    from nt_tui.analysis.diagnosis.report import render_text

    if not args.path.exists():
        raise NtTuiError(f"no such file or directory: {args.path}",
                         hint="give a run directory or a log file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # library warnings must not reach stdout or clutter
        try:
            result = diagnose_path(args.path, args.symptom)
        except NtTuiError:
            raise
        except Exception as exc:  # a reader choking on a malformed file: one line, no trace
            raise NtTuiError(f"cannot read {args.path}: {type(exc).__name__}: {exc}",
                             hint="check that it is a training log in a supported format") \
                from None
    payload = result.to_dict()
    payload["source"] = str(args.path)
    if args.json:
        sys.stdout.write(json.dumps(payload, allow_nan=False) + "\n")
    else:
        from nt_tui.safetext import clean

        # run names, metric names and warning text come from the log: no escapes reach the terminal
        sys.stdout.write("".join(clean(line) + "\n" for line in render_text(result).splitlines()))
    return 0
