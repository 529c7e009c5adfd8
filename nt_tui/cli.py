"""The `nt-tui` command line: the app by default, and headless subcommands over the same core.

Each subcommand lives in `nt_tui/commands/<name>.py` with `HELP`, `add_arguments(parser)` and
`run(args) -> int`. Those modules are light: torch and friends are imported inside `run`.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import re
import sys
from typing import NoReturn

from nt_tui import __version__
from nt_tui.errors import EXIT_USER_ERROR, NtTuiError
from nt_tui.safetext import clean

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


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


def _plain_choices(listed: str) -> list[str]:
    """`'a', 'b'` (argparse's list of choices) -> ['a', 'b']."""
    return [choice.strip().strip("'") for choice in listed.split(",")]


class CliParser(argparse.ArgumentParser):
    """argparse with nt-tui's error contract: one line on stderr that names the problem and
    how to fix it (`nt-tui train: error: unknown option '--fast' (see nt-tui train --help)`),
    exit code 2, no usage block. Subcommand parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {self.explain(message)}\n")

    def explain(self, message: str) -> str:
        text = " ".join(message.split())
        hint = f"see {self.prog} --help"
        choice = re.fullmatch(r"argument (\S+): invalid choice: '([^']*)' \(choose from (.*)\)",
                              text)
        if choice:
            name, value, listed = choice.groups()
            options = _plain_choices(listed)
            what = "command" if name == "COMMAND" else f"{name} value"
            return (f"unknown {what} '{value}' ({_did_you_mean(value, options)}"
                    f"choose from {', '.join(options)})")
        bad_type = re.fullmatch(r"argument (\S+): invalid (\w+) value: '([^']*)'", text)
        if bad_type:
            name, kind, value = bad_type.groups()
            kinds = {"int": "a whole number", "float": "a number"}
            return f"{name}: '{value}' is not {kinds.get(kind, kind)} ({hint})"
        text = re.sub(r"^argument (\S+): ", r"\1: ", text)
        return f"{text} ({hint})"

    def unknown_options(self, extras: list[str]) -> NoReturn:
        """Arguments this (sub)command does not take, with the nearest option it does take."""
        known = sorted(option for option in self._option_string_actions if option.startswith("--"))
        first = extras[0]
        if first.startswith("-"):
            what = f"unknown option '{first}'"
            suggestion = _did_you_mean(first.split("=")[0], known)
        else:
            what = f"unexpected argument '{first}'"
            suggestion = ""
        if len(extras) > 1:
            what += f" (and {' '.join(extras[1:])})"
        self.exit(EXIT_USER_ERROR,
                  f"{self.prog}: error: {what} ({suggestion}see {self.prog} --help)\n")


def positive_int(setting: str):
    """An argparse type: a whole number above 0; the error names the config `setting`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value <= 0 or str(value) != text.strip().lstrip("+"):
            raise argparse.ArgumentTypeError(
                f"'{text}' is not a whole number above 0 (it sets {setting})")
        return value

    parse.__name__ = "positive whole number"
    return parse


def fraction(setting: str):
    """An argparse type: a number strictly between 0 and 1; the error names `setting`."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not 0.0 < value < 1.0:
            raise argparse.ArgumentTypeError(
                f"'{text}' is not a fraction between 0 and 1 (it sets {setting})")
        return value

    parse.__name__ = "fraction"
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
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
    args, extras = parser.parse_known_args(argv)
    if extras:
        _parser_of(parser, args.command).unknown_options(extras)
    try:
        if args.command is None:
            from nt_tui.tui.app import run_app

            return run_app()
        return int(args.handler(args) or 0)
    except NtTuiError as exc:
        print(f"nt-tui: error: {clean(exc.one_line())}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("nt-tui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _parser_of(parser: argparse.ArgumentParser, command: str | None) -> CliParser:
    """The subcommand's parser (for its options and prog), or the top-level one."""
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        if command in getattr(action, "choices", {}):
            return action.choices[command]
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
