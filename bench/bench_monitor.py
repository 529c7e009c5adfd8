"""Monitor redraw time and history memory at 1,000,000 logged steps.

    python bench/bench_monitor.py [--steps 1000000] [--repeats 50]

Budgets (issue 4): redrawing every plot <= 30 ms at 1,000,000 logged steps, and the history
of those steps <= 200 MB. Three measurements:

1. memory: the run buffer holding 1,000,000 records with the engine's 13 metric keys, plus
   the block summaries and smoothed copies the four default charts use (counted by the
   buffer, and checked against the process's RSS growth);
2. redraw: `render_chart` for the four default charts at the sizes the monitor gives them in
   an 80x24 and a 160x48 terminal, after one new record (so the incremental update of the
   summaries is included), median and worst of `--repeats`; and the same at 1,000 steps, to
   show the cost does not grow with the history;
3. in the app: the real MonitorScreen (headless, 160x48) holding the same history; one tick
   of its 4 Hz timer after a new record, drawing every chart.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nt_tui.analysis.metric_buffer import RunBuffer  # noqa: E402
from nt_tui.tui.widgets.chart import (ChartColors, ChartView, data_x_range,  # noqa: E402
                                      render_chart)
from nt_tui.tui.widgets.chart_specs import DEFAULT_CHARTS, traces_for  # noqa: E402

#: Chart sizes (cells) the monitor's 2 x 2 grid gives each chart in these terminals.
LAYOUTS = {"80x24": (38, 7), "160x48": (78, 18)}
BUDGET_MS = 30.0
BUDGET_MB = 200.0


def engine_columns(steps: int, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray],
                                                        np.ndarray]:
    """`steps` records with the keys the engine logs (validation every 20th record)."""
    rng = np.random.default_rng(seed)
    step = np.arange(1, steps + 1, dtype=np.float64)
    loss = 2.0 + 2.5 * np.exp(-step / (steps / 5)) + rng.normal(0, 0.05, steps)
    loss[steps // 3] = 40.0  # one spike that must stay visible
    val = np.full(steps, np.nan)
    val[::20] = loss[::20] + 0.1
    columns = {
        "train_loss": loss, "train_loss_avg": loss, "lr": 1e-3 * np.minimum(1, step / 2000),
        "grad_norm": 1 + rng.random(steps), "clip_fraction": rng.random(steps),
        "samples_per_s": 1200 + rng.normal(0, 20, steps), "tokens_per_s": 76800 + rng.normal(0, 900, steps),
        "eta_s": steps - step, "epoch": step / 50_000, "val_loss": val, "val_ppl": np.exp(val),
    }
    return step, columns, step * 0.05


def rss_mb() -> float:
    """Resident memory of this process now (MB; Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 1e6


def build_run(steps: int) -> RunBuffer:
    run = RunBuffer("bench")
    step, columns, elapsed = engine_columns(steps)
    run.extend(step, columns, elapsed)
    return run


def colors() -> ChartColors:
    from textual.color import Color

    named = {name: Color.parse(value) for name, value in (
        ("primary", "#4EA8DE"), ("secondary", "#7B8CDE"), ("accent", "#F4A261"),
        ("success", "#6BCB77"))}
    return ChartColors(Color.parse("#0F1419"), Color.parse("#E0E6ED"), Color.parse("#7d8590"),
                       Color.parse("#F4C95D"), Color.parse("#E5534B"), named)


def time_redraws(run: RunBuffer, size: tuple[int, int], repeats: int) -> list[float]:
    """Milliseconds per redraw of the four default charts, each after one new record."""
    width, height = size
    palette = colors()
    charts = [(spec.title, traces_for(spec, [run])) for spec in DEFAULT_CHARTS]
    times = []
    for index in range(repeats + 1):
        step = run.last_step + 1
        run.append({"step": step, "elapsed": step * 0.05, "train_loss": 2.0, "lr": 1e-3,
                    "grad_norm": 1.2, "samples_per_s": 1200.0})
        start = time.perf_counter()
        view = ChartView(x_range=data_x_range([run], "step"))
        for title, traces in charts:
            lines = render_chart(title, traces, view, width, height, palette)
            assert len(lines) == height
        if index:  # the first draw builds the summaries once; it is reported apart
            times.append((time.perf_counter() - start) * 1000)
    return times


def first_draw_ms(run: RunBuffer, size: tuple[int, int]) -> float:
    width, height = size
    start = time.perf_counter()
    view = ChartView(x_range=data_x_range([run], "step"))
    for spec in DEFAULT_CHARTS:
        render_chart(spec.title, traces_for(spec, [run]), view, width, height, colors())
    return (time.perf_counter() - start) * 1000


async def in_app_ticks(steps: int, repeats: int) -> list[float]:
    """One monitor tick (new record -> every chart drawn) in the real app at 160x48."""
    from nt_tui.tui.app import NtTuiApp
    from nt_tui.tui.feeds import RunUpdate
    from nt_tui.tui.screens.monitor import MonitorScreen
    from nt_tui.tui.widgets.metric_plot import MetricPlot

    step, columns, elapsed = engine_columns(steps)

    class BulkFeed:
        control = None
        title = "bench"
        total_steps = steps

        def run(self, inbox, cancelled):
            inbox.put(RunUpdate("bench", steps=step, columns=columns, elapsed=elapsed))

    app = NtTuiApp(area="monitor", area_args={"feed": BulkFeed()})
    times = []
    async with app.run_test(size=(160, 48)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        run = screen.runs["bench"]
        plots = list(screen.query(MetricPlot))
        for plot in plots:
            plot.draw()
        for index in range(repeats):
            last = run.last_step + 1
            run.append({"step": last, "elapsed": last * 0.05, "train_loss": 2.0, "lr": 1e-3,
                        "grad_norm": 1.2, "samples_per_s": 1200.0})
            start = time.perf_counter()
            screen.refresh_view()
            for plot in plots:
                plot.draw()
            times.append((time.perf_counter() - start) * 1000)
            await pilot.pause(0.01)
    return times


def summary(times: list[float]) -> str:
    return (f"median {statistics.median(times):6.2f} ms   p95 "
            f"{sorted(times)[int(0.95 * (len(times) - 1))]:6.2f} ms   worst {max(times):6.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()

    gc.collect()
    before = rss_mb()
    start = time.perf_counter()
    run = build_run(args.steps)
    for spec in DEFAULT_CHARTS:  # the summaries and smoothed copies the charts read
        for metric in spec.metrics:
            run.pyramid(metric)
            run.smoothed(metric)
    built = time.perf_counter() - start
    held_mb = run.nbytes / 1e6
    gc.collect()
    grown_mb = rss_mb() - before
    print(f"history: {args.steps:,} steps x {len(run.metrics)} metrics, loaded + summarised "
          f"in {built:.2f} s")
    print(f"memory: {held_mb:.1f} MB held by the buffer (budget {BUDGET_MB:.0f} MB); "
          f"the process's RSS grew {grown_mb:.1f} MB")

    worst_median = 0.0
    small = build_run(1_000)
    for name, size in LAYOUTS.items():
        print(f"\nredraw, 4 charts of {size[0]}x{size[1]} cells ({name} terminal):")
        print(f"  first draw (builds nothing new): {first_draw_ms(run, size):.2f} ms")
        big = time_redraws(run, size, args.repeats)
        little = time_redraws(small, size, args.repeats)
        print(f"  {args.steps:>9,} steps: {summary(big)}")
        print(f"  {1_000:>9,} steps: {summary(little)}")
        worst_median = max(worst_median, statistics.median(big))

    app_times = asyncio.run(in_app_ticks(args.steps, min(args.repeats, 30)))
    print(f"\nin the app (160x48, MonitorScreen tick, every chart drawn): {summary(app_times)}")
    ok = worst_median <= BUDGET_MS and statistics.median(app_times) <= BUDGET_MS \
        and held_mb <= BUDGET_MB
    print(f"\n{'PASS' if ok else 'FAIL'}: redraw budget {BUDGET_MS:.0f} ms, "
          f"memory budget {BUDGET_MB:.0f} MB")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
