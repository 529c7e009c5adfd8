"""Engine overhead: nt-tui's Trainer with all monitoring on vs a minimal hand-written loop.

Both train the same built-in GPT from the same initial weights on the same batches (the
demo's micro model and corpus by default) with the same fused AdamW, LR schedule and gradient
clipping, for the same number of steps. The engine runs with every monitor on: metrics every
10 steps to JSONL, CSV and TensorBoard, per-layer gradient norms, early warnings and the
silent-error checks every 50 steps. Validation and checkpoints are left out of both (they are
work, not monitoring: no validation set, one final checkpoint outside the timed loop).

Runs alternate (plain, engine, plain, ...) so drift in machine load hits both; the report is
the median seconds per step of each and their ratio.

    python bench/bench_engine_overhead.py --steps 200 --repeats 5 --threads 1
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from nt_tui.config.preflight import run_preflight
from nt_tui.config.schema import TrainingConfig
from nt_tui.engine.data import TrainBatches
from nt_tui.engine.optimizers import param_groups
from nt_tui.engine.schedules import Schedule
from nt_tui.engine.task import build_task
from nt_tui.engine.trainer import Trainer


def bench_config(args: argparse.Namespace, run_root: Path) -> TrainingConfig:
    return TrainingConfig.model_validate({
        "name": "bench", "seed": 1337,
        "model": {"size": args.size},
        "data": {"train": "demo:tinyshakespeare", "allow_no_validation": True,
                 "batch_size": args.batch_size, "seq_len": args.seq_len},
        "schedule": {"total_steps": args.steps},
        "checkpointing": {"every": args.steps * 10},
        "logging": {"backends": ["jsonl", "csv", "tensorboard"], "every": 10,
                    "layer_grad_norms": True, "run_dir": str(run_root)},
        "warnings": {"check_every": 50},
    })


def plain_loop(resolved) -> float:
    """Seconds per step of the smallest honest loop: batch, forward, loss, backward, clip, step."""
    config = resolved.config
    torch.manual_seed(config.seed)
    task = build_task(resolved)
    model = task.model
    optimizer = torch.optim.AdamW(param_groups(model, config.optimizer.weight_decay),
                                  lr=config.optimizer.lr, betas=config.optimizer.betas,
                                  fused=True)
    schedule = Schedule.from_config(config)
    batches = TrainBatches(task.train, config.data.batch_size, config.seed)
    clip = config.regularization.grad_clip
    started = time.perf_counter()
    for step in range(schedule.total_steps):
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr_at(step)
        inputs, targets = batches.batch(step)
        logits = model(inputs)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)),
                                                 targets.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 10 == 9:
            loss.item()  # even a minimal loop looks at its loss now and then
    return (time.perf_counter() - started) / schedule.total_steps


def engine_loop(resolved) -> float:
    """Seconds per step of the engine's training loop (summary train_time_s: every step,
    log step and silent check; not setup, validation or checkpoint writes)."""
    summary = Trainer(resolved).run()
    if summary["status"] != "finished":
        raise SystemExit(f"engine run {summary['status']}: {summary['reason']}")
    return summary["train_time_s"] / summary["total_steps"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--size", default="micro")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        resolved = run_preflight(bench_config(args, Path(tmp))).resolved
        plain, engine = [], []
        for repeat in range(args.repeats):
            plain.append(plain_loop(resolved))
            engine.append(engine_loop(resolved))
            print(f"repeat {repeat + 1}/{args.repeats}: plain {plain[-1] * 1e3:.2f} ms/step, "
                  f"engine {engine[-1] * 1e3:.2f} ms/step", file=sys.stderr, flush=True)
    result = {
        "model": args.size, "batch_size": args.batch_size, "seq_len": args.seq_len,
        "steps": args.steps, "repeats": args.repeats, "threads": args.threads,
        "torch": torch.__version__,
        "plain_ms_per_step": [round(t * 1e3, 3) for t in plain],
        "engine_ms_per_step": [round(t * 1e3, 3) for t in engine],
        "plain_median_ms": round(statistics.median(plain) * 1e3, 3),
        "engine_median_ms": round(statistics.median(engine) * 1e3, 3),
    }
    result["ratio"] = round(statistics.median(engine) / statistics.median(plain), 4)
    result["overhead_percent"] = round((result["ratio"] - 1) * 100, 2)
    assert math.isfinite(result["ratio"])
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
