"""`nt-tui ask "TEXT"`: route a question to an advisor and print its answer.

The question's own numbers are read ("a 7B model", "one 24GB GPU", "1e21 FLOPs"); options
override them and `--run PATH` completes them from a run (and gives the diagnostician the
measured curves). With no advisor matching, the best knowledge sections are printed instead.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

HELP = "Ask the advisors (diagnostician, scaling, optimization, fine-tuning) a question."

#: option -> (AdvisorInputs field, kind): "count" reads 7B/124M/1e21, "int", "float", "text".
OPTIONS = {
    "--model-size": ("params", "count", "model parameters, e.g. 124M or 7B"),
    "--gpu-memory": ("gpu_memory_gb", "float", "memory per GPU in GB, e.g. 24"),
    "--gpus": ("gpus", "int", "number of GPUs"),
    "--gpu": ("gpu_type", "text", "GPU model for FLOP/s estimates: A100 or H100"),
    "--dataset-tokens": ("dataset_tokens", "count", "training tokens available, e.g. 2B"),
    "--examples": ("examples", "count", "fine-tuning examples, e.g. 50k"),
    "--compute": ("compute", "count", "compute budget in FLOPs, e.g. 1e21"),
    "--gpu-hours": ("gpu_hours", "float", "GPU-hour budget"),
    "--hours": ("hours", "float", "wall-clock hours available (with --gpus)"),
    "--batch-size": ("batch_size", "int", "sequences per optimizer step"),
    "--new-batch-size": ("new_batch_size", "int", "the batch size you are moving to"),
    "--batch-tokens": ("batch_tokens", "count", "tokens per optimizer step, e.g. 1M"),
    "--micro-batch": ("micro_batch", "int", "sequences per GPU per forward pass"),
    "--seq-len": ("seq_len", "int", "tokens per sequence"),
    "--steps": ("steps", "count", "total optimizer steps"),
    "--lr": ("lr", "float", "your current peak learning rate"),
    "--optimizer": ("optimizer", "text", "adamw, sgd or lion"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="*", help="the question, e.g. \"my loss went to nan\"")
    parser.add_argument("--advisor", help="skip routing: diagnostician, scaling, optimization "
                                          "or finetuning")
    parser.add_argument("--run", type=Path, help="a run directory or log: the diagnostician "
                                                 "measures it, the others read its config")
    for flag, (_, _, help_text) in OPTIONS.items():
        parser.add_argument(flag, dest=flag[2:].replace("-", "_"), help=help_text)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")


def options_from_args(args: argparse.Namespace):
    """AdvisorInputs holding the options given on the command line."""
    from nt_tui.advisors.inputs import AdvisorInputs
    from nt_tui.errors import NtTuiError
    from nt_tui.scaling.quantities import parse_count

    options = AdvisorInputs()
    for flag, (name, kind, _) in OPTIONS.items():
        raw = getattr(args, flag[2:].replace("-", "_"))
        if raw is None:
            continue
        try:
            value = (parse_count(raw, flag) if kind == "count" else int(raw) if kind == "int"
                     else float(raw) if kind == "float" else str(raw))
        except ValueError as exc:
            raise NtTuiError(f"{flag}: cannot read {raw!r}", hint=f"{flag} takes "
                             f"{'an integer' if kind == 'int' else 'a number'}") from exc
        if kind in ("int", "float") and not value > 0:
            raise NtTuiError(f"{flag} must be positive, got {raw}", hint=f"e.g. {flag} 8")
        setattr(options, name, value)
    return options


def run(args: argparse.Namespace) -> int:
    from nt_tui.advisors import ask

    text = " ".join(args.text).strip()
    result = ask(text, advisor=args.advisor, options=options_from_args(args), run=args.run)
    if args.json:
        payload = {"question": text, "advisor": result.answer.advisor if result.answer else None,
                   "routing": {"advisor": result.routing.advisor,
                               "matched": list(result.routing.matched),
                               "scores": result.routing.scores},
                   "answer": result.answer.to_dict() if result.answer else None,
                   "knowledge": [h.to_dict() for h in result.hits]}
        print(json.dumps(payload, indent=2, default=str))
        return 0
    if result.answer is not None:
        print(result.answer.render_text())
        return 0
    print(f'No advisor matched "{text}". Closest knowledge sections:\n')
    for hit in result.hits:
        print(f"  {hit.link}  ({hit.section.title})")
        print(textwrap.fill(hit.marked_snippet(), 92, initial_indent="      ",
                            subsequent_indent="      "))
    if not result.hits:
        print("  none. Try other words, or pick an advisor with --advisor.")
    print("\nAdvisors: diagnostician, scaling, optimization, finetuning (--advisor NAME).")
    return 0
