"""The `nt-tui` command line: the app by default, and headless subcommands over the same core.

Each subcommand lives in `nt_tui/commands/<name>.py` with `HELP`, `add_arguments(parser)` and
`run(args) -> int`. Those modules are light: torch and friends are imported inside `run`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from nt_tui import __version__
from nt_tui.errors import EXIT_USER_ERROR, NtTuiError

#: Subcommand name -> module under nt_tui.commands, in the order `--help` lists them.
COMMANDS: dict[str, str] = {
    "demo": "demo",
    "check": "check",
    "diagnose": "diagnose",
    "train": "train",
    "monitor": "monitor",
    "analyze": "analyze",
    "scale": "scale",
    "plan": "plan",
    "lr-find": "lr_find",
    "sweep": "sweep",
    "validate": "validate",
    "knowledge": "knowledge",
    "ask": "ask",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nt-tui",
        description="A neural-network training coach in the terminal. With no subcommand, "
                    "opens the full-screen app.",
    )
    parser.add_argument("--version", action="version", version=f"nt-tui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"nt_tui.commands.{module_name}")
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `nt-tui` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            from nt_tui.tui.app import run_app

            return run_app()
        return int(args.handler(args) or 0)
    except NtTuiError as exc:
        print(f"nt-tui: error: {exc.one_line()}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("nt-tui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
