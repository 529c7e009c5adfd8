"""`nt-tui demo`: open the app on the built-in demo config (a tiny GPT on Shakespeare)."""

from __future__ import annotations

import argparse

HELP = "Open the app on the built-in demo: a tiny GPT learning Shakespeare, ready to train."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def run(args: argparse.Namespace) -> int:
    from nt_tui.resources import demo_config_path
    from nt_tui.tui.app import run_app

    return run_app(config_path=demo_config_path())
