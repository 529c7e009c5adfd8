"""`nt-tui analyze PATH [--baseline PATH] [--json] [--report FILE.md]`: interpret curves.

Plots first (text plots on the terminal, PNGs beside a Markdown report), then the numbers,
then ranked conclusions. PATH may be any log nt-tui reads or a directory of runs: several runs are
first overlaid on the same charts (aligned by step, or by steps since each start when they
start apart) and then analysed one by one; with --baseline each is compared with it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

def _safe(text: str) -> str:
    """`text` with escape sequences and control characters removed line by line: run names,
    metric names and notes come from the log, and the terminal must not act on them."""
    from nt_tui.safetext import clean

    return "\n".join(clean(line) for line in text.splitlines())


HELP = "Interpret training curves of any log: trends, plateaus, spikes, overfitting, baseline."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, nargs="+",
                        help="run directory or log file (nt-tui, HF, Lightning, TensorBoard, "
                             "CSV/JSONL, text), or a directory of runs")
    parser.add_argument("--baseline", type=Path, help="a run to compare with")
    parser.add_argument("--align", choices=("auto", "step", "relative"), default="auto",
                        help="line up runs by logged step or by steps since each run's start "
                             "(default: relative when they start far apart)")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--report", type=Path, metavar="FILE.md",
                        help="write a Markdown report (PNG plots beside it with matplotlib)")
    parser.add_argument("--text-plots", action="store_true",
                        help="text plots in the report even when matplotlib is installed")


def _report_path(report: Path, index: int, count: int, name: str) -> Path:
    if count == 1:
        return report
    return report.with_name(f"{report.stem}-{index + 1}-{name}{report.suffix or '.md'}")


def _comparison(histories: list, results: list, args: argparse.Namespace) -> str:
    """Every run overlaid on the same charts (several runs and no baseline)."""
    from nt_tui.analysis.curves import RELATIVE_X_LABEL, overlay_charts
    from nt_tui.analysis.report import comparison_report
    from nt_tui.runlogs import ALIGN_RELATIVE, ALIGN_STEP, align

    by = args.align if args.align != "auto" else (
        ALIGN_RELATIVE if len({int(h.frame["step"].iloc[0]) for h in histories}) > 1
        else ALIGN_STEP)
    aligned = align(histories, by)
    drawn = overlay_charts([(history, f" {history.name}") for history in aligned],
                           RELATIVE_X_LABEL if by == ALIGN_RELATIVE else "step")
    target = args.report.with_name(f"{args.report.stem}-comparison{args.report.suffix or '.md'}") \
        if args.report else None
    text = comparison_report(results, drawn, target,
                             "text" if args.text_plots or target is None else "auto", by)
    if target is not None:
        print(_safe(f"nt-tui: wrote {target}"), file=sys.stderr)
    return text


def run(args: argparse.Namespace) -> int:
    from nt_tui.analysis.curves import charts, interpret
    from nt_tui.analysis.report import markdown_report
    from nt_tui.runlogs import load_run, load_runs

    histories = load_runs(args.path)
    baseline = load_run(args.baseline) if args.baseline else None
    results = []
    for index, history in enumerate(histories):
        result = interpret(history, baseline, args.align)
        drawn = charts(history, baseline,
                       result.baseline.aligned_by if result.baseline else "step")
        if args.report:
            target = _report_path(args.report, index, len(histories), history.name)
            markdown_report(result, drawn, target, "text" if args.text_plots else "auto")
            print(_safe(f"nt-tui: wrote {target}"), file=sys.stderr)
        results.append((result, drawn))
    comparison = _comparison(histories, [r for r, _ in results], args) \
        if len(histories) > 1 and baseline is None and not args.json else None
    if args.json:
        payload = [result.to_dict() for result, _ in results]
        print(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2))
    elif not args.report:
        texts = [comparison] if comparison else []
        texts += [markdown_report(result, drawn, images="text") for result, drawn in results]
        print(_safe("\n\n".join(texts)))
    return 0
