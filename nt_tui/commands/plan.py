"""`nt-tui plan`: write an experiment plan that `nt-tui sweep` runs, with compute and time.

    nt-tui plan --question "Does the best LR shrink with size?" --base CONFIG \
        --vary optimizer.lr=1e-3,3e-4 --vary model.size=nano,micro --seeds 1,2,3 \
        --steps 500 --budget-per-run 10m --tokens-per-s 40000
    nt-tui plan plans/lr-vs-size.yaml        # estimate an existing plan again

Exit codes: 0 written (or estimated), 1 over budget with --strict, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "Plan an experiment: question, variables, seeds, budget; estimates compute and time."
EXIT_OVER_BUDGET = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nt_tui.scaling.laws import DEFAULT_MFU

    parser.add_argument("plan", type=Path, nargs="?", help="an existing plan file to estimate")
    parser.add_argument("--name", help="plan name (default: the baseline config's name)")
    parser.add_argument("--question", help="what the experiment should answer")
    parser.add_argument("--hypothesis", help="the answer you expect, stated before running")
    parser.add_argument("--base", metavar="CONFIG", help="baseline training config (YAML)")
    parser.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2",
                        help="a config key and its values, e.g. optimizer.lr=1e-3,3e-4 "
                             "(repeatable: the plan is the grid of all combinations)")
    parser.add_argument("--seeds", metavar="S1,S2",
                        help="seeds, e.g. 1,2,3 (default: the config's seed)")
    parser.add_argument("--steps", type=int, metavar="N", help="steps per run")
    parser.add_argument("--metric", help="what decides between runs (default val_loss)")
    budget = parser.add_argument_group("budget")
    budget.add_argument("--budget-per-run", metavar="TIME", help="wall time per run: 90s, 10m, 2h")
    budget.add_argument("--total-budget", metavar="TIME", help="wall time for the whole plan")
    speed = parser.add_argument_group("throughput (pick one)")
    speed.add_argument("--tokens-per-s", type=float, help="stated tokens/s at the baseline size")
    speed.add_argument("--measure-from", metavar="RUN_DIR",
                       help="read tokens/s from a run of this config")
    speed.add_argument("--gpus", type=int, help="GPUs per run (with --peak-tflops)")
    speed.add_argument("--peak-tflops", type=float, help="dense peak TFLOP/s per GPU")
    speed.add_argument("--mfu", type=float,
                       help=f"model FLOPs utilisation (default {DEFAULT_MFU:g})")
    parser.add_argument("--out", type=Path, metavar="PATH",
                        help="plan file to write (default plans/<name>.yaml)")
    parser.add_argument("--dry-run", action="store_true", help="estimate only, write nothing")
    parser.add_argument("--strict", action="store_true", help="exit 1 when over budget")
    parser.add_argument("--json", action="store_true", help="print the estimate as JSON")


def run(args: argparse.Namespace) -> int:
    from nt_tui.errors import NtTuiError
    from nt_tui.planning import (default_plan_path, estimate_plan, load_plan, merge_fields,
                                 parse_plan, plan_fields, render_estimate, write_plan)

    fields = plan_fields(
        name=args.name, question=args.question, hypothesis=args.hypothesis,
        base_config=args.base, vary=args.vary, seeds=args.seeds, steps=args.steps,
        metric=args.metric, budget_per_run=args.budget_per_run, total_budget=args.total_budget,
        tokens_per_s=args.tokens_per_s, measured_from=args.measure_from, gpus=args.gpus,
        peak_tflops=args.peak_tflops, mfu=args.mfu)
    if args.plan is not None:
        plan = load_plan(args.plan)
        plan_dir = args.plan.parent
        if fields:
            plan = merge_fields(plan, fields, str(args.plan))
    else:
        if not args.question or not args.base:
            raise NtTuiError("a new plan needs --question and --base CONFIG",
                             hint='e.g. nt-tui plan --question "Does a higher LR help?" '
                                  "--base config.yaml --vary optimizer.lr=1e-3,3e-3")
        fields.setdefault("name", f"{Path(args.base).stem}-plan")
        plan = parse_plan(fields, "the plan")
        plan_dir = None
    estimate = estimate_plan(plan, plan_dir)
    written = None
    if not args.dry_run and (args.plan is None or args.out is not None):
        written = write_plan(plan, args.out or default_plan_path(plan), estimate, plan_dir)
    if args.json:
        print(json.dumps({"plan": plan.model_dump(), "estimate": estimate.to_dict(),
                          "written": str(written) if written else None}, indent=2))
    else:
        print(render_estimate(plan, estimate))
        if written:
            print(f"\nWrote {written}; run it with: nt-tui sweep {written}")
    return EXIT_OVER_BUDGET if args.strict and estimate.over_budget else 0
