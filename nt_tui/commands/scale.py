"""`nt-tui scale`: compute-optimal sizes, Kaplan and Chinchilla side by side, and fits.

    nt-tui scale --compute 1e21                      # parameters and tokens for a budget
    nt-tui scale --gpus 8 --hours 24 --gpu H100      # the same from a GPU budget
    nt-tui scale --params 124M                       # tokens and compute for a model
    nt-tui scale --tokens 5B                         # model for a dataset, value of epochs
    nt-tui scale --fit runs/a runs/b runs/c --predict 50M   # your own power law

Exit codes: 0 answered, 2 bad input (including a fit that is refused).
"""

from __future__ import annotations

import argparse
import json

HELP = "Scaling laws: compute-optimal model and tokens, data-constrained epochs, fit your runs."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nt_tui.scaling.laws import DEFAULT_MFU

    questions = parser.add_argument_group("questions (any combination)")
    questions.add_argument("--compute", metavar="FLOPS", help="a compute budget, e.g. 1e21")
    questions.add_argument("--params", metavar="N", help="a model size, e.g. 124M or 7B")
    questions.add_argument("--tokens", metavar="U", help="a dataset's unique tokens, e.g. 5B")
    gpu = parser.add_argument_group("GPUs (a budget with --hours; wall times without)")
    gpu.add_argument("--gpus", type=float, help="number of GPUs (default 1)")
    gpu.add_argument("--hours", type=float, help="hours of the budget")
    gpu.add_argument("--gpu", metavar="NAME", help="A100 or H100 (dense bf16 peak)")
    gpu.add_argument("--peak-tflops", type=float, help="dense peak TFLOP/s per GPU")
    gpu.add_argument("--mfu", type=float, help=f"model FLOPs utilisation (default {DEFAULT_MFU:g})")
    fit = parser.add_argument_group("fit your own runs")
    fit.add_argument("--fit", nargs="+", default=[], metavar="RUN[=N]",
                     help="runs of different sizes (any readable log); add =N when the "
                          "parameter count is not in the log, e.g. runs/a=2.5M")
    fit.add_argument("--point", action="append", default=[], metavar="N:LOSS",
                     help="a point given by hand, e.g. 2.5M:3.21 (repeatable)")
    fit.add_argument("--predict", action="append", default=[], metavar="N",
                     help="predict the loss of a model of N parameters (repeatable)")
    fit.add_argument("--metric", default="val_loss", help="the loss to fit (default val_loss)")
    fit.add_argument("--use", choices=("best", "final"), default="best",
                     help="each run's best loss, or its final one (default best)")
    fit.add_argument("--form", choices=("auto", "power", "saturating"), default="auto",
                     help="L = A N^-alpha (power), L = E + A N^-alpha (saturating), or the "
                          "better by AICc when there are enough runs (auto)")
    parser.add_argument("--formulas", action="store_true", help="also print the formulas")
    parser.add_argument("--json", action="store_true", help="print the answers as JSON")


def run(args: argparse.Namespace) -> int:
    from nt_tui.scaling.report import Questions, answer, render_text

    questions = Questions(
        compute=args.compute, params=args.params, tokens=args.tokens, gpus=args.gpus,
        hours=args.hours, gpu=args.gpu, peak_tflops=args.peak_tflops, mfu=args.mfu,
        fit=args.fit, points=args.point, predict=args.predict, metric=args.metric,
        use=args.use, form=args.form, formulas=args.formulas)
    tables = answer(questions)
    if args.json:
        print(json.dumps([{"title": table.title, "values": table.values, "notes": table.notes}
                          for table in tables], indent=2))
        return 0
    print(render_text(tables))
    if [table.title for table in tables] == ["Formulas"] and not args.formulas:
        print("\nAsk a question: --compute FLOPS, --gpus G --hours H --gpu H100, --params N, "
              "--tokens U, or --fit RUN RUN RUN (see nt-tui scale --help).")
    return 0
