"""Run every fuzz target with many generated inputs (default 10,000 each).

    python bench/fuzz.py [--examples N]

Only `NtTuiError` may escape a target; anything else is printed with the failing input.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hypothesis import HealthCheck, given, settings  # noqa: E402

import fuzz_targets  # noqa: E402

TARGETS = {name.removesuffix("_target"): getattr(fuzz_targets, name)
           for name in dir(fuzz_targets) if name.endswith("_target")}
STRATEGIES = {"config_loader": fuzz_targets.config_documents}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=10_000)
    args = parser.parse_args()
    failed = 0
    for name, target in TARGETS.items():
        strategy = getattr(fuzz_targets, f"{name}_inputs", None) or STRATEGIES[name]
        run = settings(max_examples=args.examples, deadline=None, database=None,
                       suppress_health_check=list(HealthCheck))(given(strategy)(target))
        start = time.perf_counter()
        try:
            run()
            status = "ok"
        except Exception as exc:  # report and go on with the other targets
            failed += 1
            status = f"FAILED: {type(exc).__name__}: {exc}"
        print(f"{name:<24} {args.examples:>7} inputs  {time.perf_counter() - start:6.1f} s  "
              f"{status}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
