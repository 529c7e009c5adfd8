"""Run every fuzz target with many generated inputs (default 10,000 each).

    python bench/fuzz.py [--examples N] [--only NAME ...]

The targets (tests/fuzz_targets.py) are the ones CI runs with a small budget: the config loader
and every log reader, each read whole (as `nt-tui analyze` does) and followed half-written (as
the monitor does). Only `NtTuiError` may escape a target; anything else is printed with the
smallest failing input Hypothesis finds. The count printed is the number of inputs the target
really ran (Hypothesis stops early only when a strategy has fewer distinct inputs).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hypothesis import HealthCheck, given, settings  # noqa: E402

import fuzz_targets  # noqa: E402

TARGETS = {name.removesuffix("_target"): getattr(fuzz_targets, name)
           for name in dir(fuzz_targets)
           if name.endswith("_target") and not name.startswith("_")}
STRATEGIES = {"config_loader": fuzz_targets.config_documents}


def run_target(name: str, examples: int) -> tuple[int, float, str]:
    """(inputs run, seconds, "ok" or the failure) for one target."""
    target = TARGETS[name]
    strategy = getattr(fuzz_targets, f"{name}_inputs", None)
    if strategy is None:
        strategy = STRATEGIES[name]
    calls = 0

    def counted(value) -> None:
        nonlocal calls
        calls += 1
        target(value)

    run = settings(max_examples=examples, deadline=None, database=None,
                   suppress_health_check=list(HealthCheck))(given(strategy)(counted))
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy/pandas warnings on junk values are expected
            run()
        status = "ok"
    except Exception as exc:  # report and go on with the other targets
        status = "FAILED\n" + "\n".join(_describe(exc))
    return calls, time.perf_counter() - start, status


def _describe(exc: BaseException) -> list[str]:
    """One short block per distinct failure: the error and Hypothesis' smallest input."""
    if hasattr(exc, "exceptions"):  # an exception group (Hypothesis reports several)
        return [line for inner in exc.exceptions for line in _describe(inner)]
    lines = [f"  {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"]
    lines += [f"    {' '.join(note.split())[:600]}" for note in getattr(exc, "__notes__", [])
              if "Falsifying" in note or "layout=" in note or "text=" in note]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=10_000, help="inputs per target")
    parser.add_argument("--only", nargs="+", choices=sorted(TARGETS), metavar="NAME",
                        help=f"targets to run (default all: {', '.join(sorted(TARGETS))})")
    args = parser.parse_args()
    failed = 0
    total_calls, total_start = 0, time.perf_counter()
    print(f"{'target':<26} {'inputs':>8} {'seconds':>8}  status")
    for name in args.only or sorted(TARGETS):
        calls, seconds, status = run_target(name, args.examples)
        failed += status != "ok"
        total_calls += calls
        print(f"{name:<26} {calls:>8,} {seconds:>8.1f}  {status}", flush=True)
    print(f"{'all':<26} {total_calls:>8,} {time.perf_counter() - total_start:>8.1f}  "
          f"{'ok' if not failed else f'{failed} failed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
