"""`nt-tui train CONFIG`: review and train a config, in the app or headless.

Without --headless the app opens on the config review screen. With --headless (for tmux,
nohup, CI): print the resolved config and pre-flight findings, refuse on errors, settle the
validation choice from flags or a prompt, ask for confirmation unless --yes, train with
compact progress lines, stop cleanly with a final checkpoint on SIGINT/SIGTERM/SIGHUP, and
print the summary. `--resume RUN_DIR` continues a run from its latest checkpoint (headless;
the config was confirmed when the run started).

A config that pre-flight refuses (a missing, empty or too short data file, no logging
backend, ...) is bad input: one line on stderr names the first problem and its fix, exit code
2, nothing trained, nothing printed on stdout (`nt-tui check CONFIG` shows the full review).

Exit codes: 0 finished, 1 declined or failed, 2 bad input, 3 stopped early (resumable).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HELP = "Train a config: review it in the app, or train headless (--headless) with a summary."
EXIT_FAILED = 1
EXIT_STOPPED = 3
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nt_tui.cli import fraction, positive_int

    parser.add_argument("config", type=Path, nargs="?", help="YAML training config")
    parser.add_argument("--headless", action="store_true",
                        help="train in this terminal without the app (tmux, nohup, CI)")
    parser.add_argument("--yes", "-y", action="store_true",
                        help="start without asking for confirmation")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR",
                        help="continue a run from its latest checkpoint (headless)")
    validation = parser.add_mutually_exclusive_group()
    validation.add_argument("--val-split", type=fraction("data.val_split"), metavar="F",
                            help="hold out this fraction of the training text for validation")
    validation.add_argument("--no-validation", action="store_true",
                            help="train without validation data (explicit opt-in)")
    parser.add_argument("--max-steps", type=positive_int("schedule.total_steps"), metavar="N",
                        help="set the run length (schedule.total_steps); with --resume, "
                             "extends the run")


def run(args: argparse.Namespace) -> int:
    from nt_tui.errors import NtTuiError

    if args.resume is not None:
        if args.config is not None:
            raise NtTuiError("give a CONFIG or --resume RUN_DIR, not both",
                             hint="--resume reads RUN_DIR/config.yaml")
        return _resume(args)
    if args.config is None:
        raise NtTuiError("no config given", hint="nt-tui train CONFIG [--headless], or "
                                                "nt-tui train --resume RUN_DIR")
    if not args.headless:
        headless_only = [flag for flag, given in (
            ("--val-split", args.val_split is not None), ("--no-validation", args.no_validation),
            ("--max-steps", args.max_steps is not None)) if given]
        if headless_only:
            raise NtTuiError(f"{', '.join(headless_only)} only apply with --headless",
                             hint="add --headless, or set the value in the app's review screen")
        from nt_tui.tui.app import run_app

        return run_app(config_path=args.config)
    return _headless(args)


# ------------------------------------------------------------------------------ output

def _is_main_process() -> bool:
    """False on the non-main processes of `accelerate launch` / torchrun (they stay quiet)."""
    return int(os.environ.get("RANK", "0")) == 0


def _launched_processes() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def _say(text: str = "", err: bool = False) -> None:
    if _is_main_process():
        print(text, file=sys.stderr if err else sys.stdout, flush=True)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class ProgressPrinter:
    """An EngineListener that prints one compact line per metric record and per event."""

    def __init__(self, total_steps: int, write: Callable[[str], None] = _say) -> None:
        self.total_steps = total_steps
        self.write = write
        self.width = len(str(total_steps))

    def on_metrics(self, record: dict[str, Any]) -> None:
        parts = [f"step {record['step']:>{self.width}}/{self.total_steps}",
                 f"loss {record['train_loss']:.4f} (avg {record['train_loss_avg']:.4f})"]
        if "val_loss" in record:
            parts.append(f"val {record['val_loss']:.4f}")
        parts += [f"lr {record['lr']:.2e}", f"|g| {record['grad_norm']:.3g}",
                  f"{record['tokens_per_s']:,.0f} tok/s", f"eta {_duration(record['eta_s'])}"]
        self.write("  ".join(parts))

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event["kind"]
        if kind == "warning":
            line = f"[{event.get('severity', 'warning')}] {event.get('code')}: {event['message']}"
            if event.get("knowledge"):
                line += f"  (see knowledge/{event['knowledge']})"
        else:
            line = f"[{kind}] {event['message']}"
        self.write(line)


# ----------------------------------------------------------------------------- prompts

def _interactive() -> bool:
    return sys.stdin.isatty() and _launched_processes() == 1


def _ask(question: str) -> str:
    try:
        return input(question).strip()
    except EOFError:
        return ""


def _settle_choice(finding: Any, config: Any, config_path: Path) -> Any:
    """Apply the user's pick for a CHOICE finding (interactive only); None when declined."""
    from nt_tui.config.preflight import apply_changes

    _say(f"\n{finding.message}")
    for number, choice in enumerate(finding.choices, 1):
        _say(f"  {number}. {choice.label}")
    answer = _ask(f"Choose 1-{len(finding.choices)} (anything else cancels): ")
    if not answer.isdigit() or not 1 <= int(answer) <= len(finding.choices):
        return None
    changes = dict(finding.choices[int(answer) - 1].changes)
    if "data.validation" in changes and changes["data.validation"] is None:
        path = _ask("Validation file (relative to the config's folder): ")
        if not path:
            return None
        changes["data.validation"] = path
        changes["data.val_split"] = None
    return apply_changes(config, changes)


def _flag_changes(args: argparse.Namespace) -> dict[str, object]:
    changes: dict[str, object] = {}
    if args.max_steps is not None:
        changes.update({"schedule.total_steps": args.max_steps, "schedule.epochs": None})
    if args.val_split is not None:
        changes.update({"data.val_split": args.val_split, "data.validation": None,
                        "data.allow_no_validation": False})
    if args.no_validation:
        changes.update({"data.allow_no_validation": True, "data.validation": None,
                        "data.val_split": None})
    return changes


# --------------------------------------------------------------------------- commands

def _load(path: Path) -> Any:
    from nt_tui.config import load_config
    from nt_tui.config.loader import ConfigError
    from nt_tui.errors import NtTuiError

    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems[1:]:
            _say(f"nt-tui: error: {problem}", err=True)
        raise NtTuiError(exc.problems[0], hint=exc.hint) from None


def _refuse_errors(preflight: Any, config_path: Path) -> None:
    """Raise the first ERROR finding as bad input (one line: the problem and its fix)."""
    from nt_tui.config.preflight import Level
    from nt_tui.errors import NtTuiError

    errors = [f for f in preflight.findings if f.level is Level.ERROR]
    if not errors:
        return
    more = f"; {len(errors) - 1} more problem(s): `nt-tui check {config_path}` lists them" \
        if len(errors) > 1 else ""
    raise NtTuiError(errors[0].message, hint=(errors[0].fix or "fix the config") + more)


def _headless(args: argparse.Namespace) -> int:
    from nt_tui.config.preflight import Level, apply_changes, run_preflight
    from nt_tui.config.review import render_text
    from nt_tui.errors import NtTuiError

    config = _load(args.config)
    changes = _flag_changes(args)
    if changes:
        try:
            config = apply_changes(config, changes)
        except ValueError as exc:
            raise NtTuiError(f"bad command-line value: {exc}".splitlines()[0],
                             hint="check --val-split (0 < F < 1) and --max-steps (N > 0)") \
                from None
    preflight = run_preflight(config, args.config)
    _refuse_errors(preflight, args.config)
    _say(render_text(preflight))
    for finding in [f for f in preflight.findings if f.level is Level.CHOICE]:
        if not _interactive():
            _say(f"nt-tui: refused: {finding.message}. Choose on the command line: "
                 "--val-split 0.2 (automatic 80/20 split), --no-validation (train without), "
                 "or set data.validation in the config", err=True)
            return EXIT_FAILED
        config = _settle_choice(finding, config, args.config)
        if config is None:
            _say("nt-tui: cancelled", err=True)
            return EXIT_FAILED
        preflight = run_preflight(config, args.config)
        if not preflight.ok:
            _say(render_text(preflight))
            _say("nt-tui: refused: the config still has blocking findings", err=True)
            return EXIT_FAILED
    if not args.yes:
        if not _interactive():
            _say("nt-tui: refused: no terminal to confirm on (stdin is not a TTY, or several "
                 "processes); pass --yes to start without confirmation", err=True)
            return EXIT_FAILED
        if _ask("\nStart training? [y/N] ").lower() not in ("y", "yes"):
            _say("nt-tui: cancelled", err=True)
            return EXIT_FAILED
    from nt_tui.engine.trainer import Trainer

    return _train(lambda control, listener: Trainer(
        preflight.resolved, listener=listener, control=control))


def _resume(args: argparse.Namespace) -> int:
    from nt_tui.config.preflight import apply_changes, run_preflight
    from nt_tui.errors import NtTuiError
    from nt_tui.runfmt import CONFIG_FILE

    run_dir = args.resume
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise NtTuiError(f"{run_dir} is not an nt-tui run directory (no {CONFIG_FILE})",
                         hint="give the folder nt-tui train printed as the run directory")
    config = _load(config_path)
    if args.max_steps is not None:
        config = apply_changes(config, {"schedule.total_steps": args.max_steps,
                                        "schedule.epochs": None})
    preflight = run_preflight(config, config_path)
    _refuse_errors(preflight, config_path)
    from nt_tui.engine.trainer import Trainer

    return _train(lambda control, listener: Trainer(
        preflight.resolved, resume=run_dir, listener=listener, control=control))


def _train(make_trainer: Callable[[Any, Any], Any]) -> int:
    """Run a trainer with printed progress and clean stops on signals; print the summary."""
    from nt_tui.engine.control import TrainingControl
    from nt_tui.engine.summary import format_summary

    control = TrainingControl()
    # Progress lines are printed as the engine reports them; the printer needs the length.
    printer = ProgressPrinter(total_steps=0)
    trainer = make_trainer(control, printer)
    printer.total_steps = trainer.total_steps
    printer.width = len(str(trainer.total_steps))
    _say(f"\nRun directory: {trainer.run_dir}")
    with stop_handlers(control):
        summary = trainer.run()
    _say()
    _say(format_summary(summary))
    return {"finished": 0, "stopped": EXIT_STOPPED}.get(summary["status"], EXIT_FAILED)


@contextmanager
def stop_handlers(control: Any) -> Iterator[None]:
    """Inside the block, the first SIGINT/SIGTERM/SIGHUP stops `control`'s run after the
    current step with a checkpoint; a second one aborts at once (the last checkpoint stays
    usable). The previous handlers come back on leaving."""
    from nt_tui.engine.control import install_signal_handlers, restore_signal_handlers

    def handler(signum: int, frame: Any) -> None:
        del frame
        name = signal.Signals(signum).name
        if control.stop_requested:
            raise KeyboardInterrupt
        _say(f"\n[{name}] stopping after the current step and writing a checkpoint "
             "(send it again to abort now)", err=True)
        control.stop(f"stopped by {name}")

    previous = install_signal_handlers(STOP_SIGNALS, handler)
    try:
        yield
    finally:
        restore_signal_handlers(previous)
