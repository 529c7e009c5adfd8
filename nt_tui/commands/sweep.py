"""`nt-tui sweep SWEEP.yaml`: run or resume an Optuna sweep of short training runs.

Prints a line per trial as it starts and ends (and each validation loss it reports), then the
table of trials sorted by the objective and the best trial. Running the same file again
resumes the study. The first SIGINT/SIGTERM/SIGHUP stops after the current step (the trial is
queued again), a second aborts. `--show` prints the table from the storage and runs nothing.
Format: docs/sweeps.md.

Exit codes: 0 done, 2 bad input, 3 interrupted (run it again to resume).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = "Hyperparameter sweep with Optuna (grid, random, TPE; median pruning; resumable)."
EXIT_INTERRUPTED = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sweep", type=Path, help="sweep file (YAML, see docs/sweeps.md)")
    parser.add_argument("--trials", type=int, metavar="N",
                        help="the number of trials the study should hold (overrides trials:)")
    parser.add_argument("--storage", metavar="URL",
                        help="Optuna storage URL or SQLite file (overrides storage:)")
    parser.add_argument("--show", action="store_true",
                        help="print the trials from the storage and run nothing")


class ProgressPrinter:
    """A SweepListener printing one line per trial start, reported value and end."""

    def __init__(self, metric: str, key: str) -> None:
        self.metric, self.key = metric, key

    def on_trial_start(self, number: int, values: dict[str, Any], run_dir: Path) -> None:
        from nt_tui.tuning.sweep import format_params

        print(f"trial {number} started: {format_params(values)}  ({run_dir})", flush=True)

    def on_trial_metrics(self, number: int, record: dict[str, Any]) -> None:
        value = record.get(self.key)
        if isinstance(value, (int, float)):
            print(f"  trial {number} step {record.get('step')}: {self.metric} {value:.4f}",
                  flush=True)

    def on_trial_end(self, row: Any) -> None:
        if row.state == "complete":
            text = f"complete: {self.metric} {row.value:.4f}"
        elif row.state == "pruned":
            text = f"pruned at step {row.steps} ({self.metric} {row.last:.4f})"
        else:
            text = f"{row.state}: {row.reason}"
        print(f"trial {row.number} {text}", flush=True)

    def on_note(self, text: str) -> None:
        print(text, flush=True)


def _print_result(loaded: Any, rows: list[Any]) -> None:
    from nt_tui.tuning.sweep import format_params, render_table

    print(render_table(rows, loaded.spec.metric))
    complete = [row for row in rows if row.state == "complete"]
    if complete:
        best = complete[0]
        print(f"\nBest: trial {best.number}, {loaded.spec.metric} {best.value:.4f}: "
              f"{format_params(best.params)}\n  run directory: {best.run_dir}")


def run(args: argparse.Namespace) -> int:
    from nt_tui.commands.train import stop_handlers
    from nt_tui.errors import NtTuiError
    from nt_tui.tuning.sweep import SweepControl, SweepRunner, read_trials
    from nt_tui.tuning.sweep_config import INTERMEDIATE_KEY, load_sweep

    if args.trials is not None and args.trials <= 0:
        raise NtTuiError(f"--trials must be positive, got {args.trials}", hint="e.g. --trials 10")
    loaded = load_sweep(args.sweep, storage=args.storage)
    if args.show:
        _print_result(loaded, read_trials(loaded))
        return 0
    spec = loaded.spec
    target = spec.target_trials(args.trials)
    pruning = (f"median pruning after {spec.pruning.startup_trials} trials"
               if spec.uses_pruning else "no pruning")
    steps = f"{spec.max_steps} steps" if spec.max_steps else "the config's run length"
    print(f"Sweep {loaded.study_name}: {spec.method}, {target} trials of {steps}, {pruning}\n"
          f"  storage {loaded.storage_url}\n  trial runs in {loaded.sweep_dir}", flush=True)
    control = SweepControl()
    runner = SweepRunner(loaded, listener=ProgressPrinter(spec.metric,
                                                          INTERMEDIATE_KEY[spec.metric]),
                         control=control, trials=args.trials)
    with stop_handlers(control):
        outcome = runner.run()
    print()
    _print_result(loaded, outcome.rows)
    if outcome.status == "interrupted":
        print(f"\nInterrupted: run `nt-tui sweep {args.sweep}` again to resume.")
        return EXIT_INTERRUPTED
    return 0
