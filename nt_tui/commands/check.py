"""`nt-tui check CONFIG`: print the resolved config and every pre-flight finding."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "Validate a training config: resolved values, defaults and pre-flight findings."
EXIT_REFUSED = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="YAML training config")


def run(args: argparse.Namespace) -> int:
    from nt_tui.config import load_config
    from nt_tui.config.loader import ConfigError
    from nt_tui.config.preflight import run_preflight
    from nt_tui.config.review import render_text
    from nt_tui.errors import EXIT_USER_ERROR

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"nt-tui: error: {problem}", file=sys.stderr)
        print(f"nt-tui: {exc.hint}", file=sys.stderr)
        return EXIT_USER_ERROR
    preflight = run_preflight(config, args.config)
    print(render_text(preflight))
    return 0 if preflight.ok else EXIT_REFUSED
