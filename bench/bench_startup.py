"""Time from running `nt-tui` to its first paint, in a real terminal (tmux).

    python bench/bench_startup.py [--runs 10]

Budget (issue 4): first paint <= 1 s. Each run starts `nt-tui` in a fresh detached 80x24 tmux
session and polls the pane every 5 ms until the home screen's text appears; the median and
worst of `--runs` are printed. Also checks that starting the app imports none of torch,
accelerate or pandas (they load only when a screen needs them).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
import uuid

BUDGET_S = 1.0
#: Text of the home screen that is on the first frame.
FIRST_PAINT_MARK = "training coach for Transformers"
POLL_S = 0.005
HEAVY_MODULES = ("torch", "accelerate", "pandas")


def first_paint_seconds(command: str) -> float:
    # A private tmux server (-L), so no one else's sessions are touched.
    tmux = ["tmux", "-L", f"nt-bench-{uuid.uuid4().hex[:8]}"]
    start = time.perf_counter()
    subprocess.run([*tmux, "new-session", "-d", "-x", "80", "-y", "24", command], check=True)
    try:
        deadline = start + 30
        while time.perf_counter() < deadline:
            pane = subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True,
                                  text=True).stdout
            if FIRST_PAINT_MARK in pane:
                return time.perf_counter() - start
            time.sleep(POLL_S)
        raise SystemExit(f"no first paint within 30 s; the pane shows:\n{pane}")
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def heavy_imports_at_start() -> list[str]:
    """Heavy modules loaded by importing and building the app (without running it)."""
    code = ("import sys; from nt_tui.tui.app import NtTuiApp; NtTuiApp(); "
            f"print(' '.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    return result.stdout.split()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--command", default=shutil.which("nt-tui") or "nt-tui")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is needed: apt-get install tmux")
    heavy = heavy_imports_at_start()
    print(f"heavy modules imported at start-up: {', '.join(heavy) or 'none'}")
    first_paint_seconds(args.command)  # warm the file cache; not counted
    times = [first_paint_seconds(args.command) for _ in range(args.runs)]
    print(f"first paint of `nt-tui` over {args.runs} runs: median "
          f"{statistics.median(times) * 1000:.0f} ms, worst {max(times) * 1000:.0f} ms")
    ok = max(times) <= BUDGET_S and not heavy
    print(f"{'PASS' if ok else 'FAIL'}: budget {BUDGET_S * 1000:.0f} ms, no heavy imports")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
