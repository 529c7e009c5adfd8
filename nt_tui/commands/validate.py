"""`nt-tui validate RUN_DIR|CHECKPOINT`: evaluate a checkpoint and check its health.

Loss, perplexity, token accuracy and throughput on the run's validation set (or `--data`),
compared with the logged validation loss and best.pt; NaN/Inf, all-zero and exploding
weights; whether the checkpoint's step and metrics agree with the run's log.

Exit codes: 0 healthy, 1 a check failed (NaN weights, a mismatch with the log), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "Validate a checkpoint: loss, perplexity, accuracy, weight health, agreement with the log."
EXIT_UNHEALTHY = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, metavar="RUN_DIR|CHECKPOINT",
                        help="a run directory (uses best.pt, else the newest checkpoint) or a "
                             ".pt file")
    parser.add_argument("--data", type=Path, metavar="PATH",
                        help="a text file to evaluate on instead of the run's validation set")
    parser.add_argument("--config", type=Path, metavar="CONFIG",
                        help="the run's config, when the checkpoint is not in its run directory")
    parser.add_argument("--batches", type=int, metavar="N",
                        help="evaluate N batches (default: the batches the run validated on; "
                             "all of --data)")
    parser.add_argument("--no-best", action="store_true",
                        help="do not also evaluate best.pt for comparison")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from nt_tui.errors import NtTuiError

    if args.batches is not None and args.batches < 1:
        raise NtTuiError(f"--batches must be at least 1, got {args.batches}",
                         hint="leave it out to use the run's validation batches")
    from nt_tui.checkpoint_validation import render_text
    from nt_tui.engine.validate import validate_checkpoint

    report = validate_checkpoint(args.path, data=args.data, config=args.config,
                                 max_batches=args.batches, compare_best=not args.no_best,
                                 device=args.device)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(render_text(report))
    return 0 if report.ok else EXIT_UNHEALTHY
