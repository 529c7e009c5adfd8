"""`nt-tui lr-find CONFIG`: the LR range test, a loss-vs-LR plot and a suggested LR written into
a new config (`<name>-lr-find.yaml` beside CONFIG). Method and rules: docs/sweeps.md.

Exit codes: 0 suggested (and written), 2 bad input (including a config that cannot train).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HELP = "LR range test: plot loss against a rising LR, suggest an LR, write it into a new config."
#: Pre-flight findings that concern a full run, not a range test (logging, run length).
IRRELEVANT_FINDINGS = frozenset({"no_logging", "missing_tensorboard", "missing_wandb",
                                 "callback_missing", "no_length", "warmup_too_long",
                                 "no_validation"})
#: Progress lines printed during the test.
PROGRESS_LINES = 10
PLOT_WIDTH, PLOT_HEIGHT = 72, 18


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nt_tui.tuning.lr_finder import DEFAULT_END_LR, DEFAULT_START_LR, DEFAULT_STEPS, RULES

    parser.add_argument("config", type=Path, help="YAML training config")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                        help=f"optimizer steps of the test (default {DEFAULT_STEPS})")
    parser.add_argument("--start-lr", type=float, default=DEFAULT_START_LR,
                        help=f"first LR (default {DEFAULT_START_LR:g})")
    parser.add_argument("--end-lr", type=float, default=DEFAULT_END_LR,
                        help=f"last LR (default {DEFAULT_END_LR:g})")
    parser.add_argument("--rule", choices=RULES, default="auto",
                        help="steepest (fastest fall), divergence (a tenth of the LR at the "
                             "loss minimum) or auto (steepest when clear; default)")
    parser.add_argument("--out", type=Path, metavar="PATH",
                        help="write the new config here (default <config>-lr-find.yaml)")
    parser.add_argument("--no-write", action="store_true", help="suggest only, write nothing")
    parser.add_argument("--json", action="store_true",
                        help="print the curve and the suggestion as JSON")


def prepare(config_path: Path) -> Any:
    """The resolved config to test, or NtTuiError when it cannot train at all."""
    from nt_tui.config import load_config
    from nt_tui.config.preflight import Level, run_preflight
    from nt_tui.errors import NtTuiError

    preflight = run_preflight(load_config(config_path), config_path)
    for finding in preflight.findings:
        if finding.level is Level.ERROR and finding.code not in IRRELEVANT_FINDINGS:
            raise NtTuiError(f"{config_path}: {finding.message}", hint=finding.fix or None)
    return preflight.resolved


def describe(suggestion: Any) -> list[str]:
    """The suggestion and both rules' numbers, as lines."""
    lines = [f"Suggested learning rate: {suggestion.lr:.2g}",
             f"  rule: {suggestion.explanation}"]
    steepest = f"{suggestion.steepest_lr:.2g}" if suggestion.steepest_lr else "no clear descent"
    lines.append(f"  steepest descent: {steepest}; divergence rule (a tenth of the minimum's "
                 f"LR {suggestion.min_loss_lr:.2g}): {suggestion.divergence_rule_lr:.2g}")
    if suggestion.diverged_lr is not None:
        lines.append(f"  the loss diverged at LR {suggestion.diverged_lr:.2g}")
    return lines


def run(args: argparse.Namespace) -> int:
    from nt_tui.tuning.lr_finder import run_range_test, write_lr_config
    from nt_tui.tuning.lr_plot import render_text_plot

    resolved = prepare(args.config)
    every = max(1, args.steps // PROGRESS_LINES)

    def progress(step: int, lr: float, loss: float) -> None:
        if not args.json and (step % every == 0):
            print(f"step {step:>4}/{args.steps}  lr {lr:.2e}  loss {loss:.4f}", flush=True)

    curve = run_range_test(resolved, steps=args.steps, start_lr=args.start_lr,
                           end_lr=args.end_lr, rule=args.rule, on_step=progress)
    written = None
    if not args.no_write:
        written = write_lr_config(args.config, curve.suggestion, args.out)
    if args.json:
        print(json.dumps({**curve.to_dict(), "written": str(written) if written else None},
                         indent=2))
        return 0
    print(f"Stopped: {curve.stopped}\n")
    print(render_text_plot(curve, PLOT_WIDTH, PLOT_HEIGHT, color=sys.stdout.isatty()))
    print("\n".join(describe(curve.suggestion)))
    if written is not None:
        print(f"\nWrote {written} (optimizer.lr = {curve.suggestion.lr:g}); train it with "
              f"`nt-tui train {written}`")
    return 0
