"""Engine overhead: nt-tui's Trainer with all monitoring on vs a minimal hand-written loop.

Both train the same built-in GPT from the same initial weights on the same batches (the
demo's micro model and corpus by default) with the same fused AdamW, LR schedule and gradient
clipping, for the same number of steps. The engine runs with every monitor on: metrics every
10 steps to JSONL, CSV and TensorBoard, per-layer gradient norms, early warnings and the
silent-error checks every 50 steps. Validation and checkpoints are left out of both (they are
work, not monitoring: no validation set, one final checkpoint outside the timed loop).

Both are timed the same way, from the end of the first log step (step 10: warm-up and
set-up left out) to the end of the last one, in wall time and in this process's CPU time.
With one torch thread the CPU time is the work itself: it does not count time spent waiting
for a core, so on a shared, loaded machine it is the steadier measure of overhead. Runs
alternate (plain, engine, plain, ...) so drift in machine load hits both; the report is the
median milliseconds per step of each and their ratios.

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


#: Steps between metric logs in both loops; timing starts at the first log step.
LOG_EVERY = 10


class Stopwatch:
    """Wall and CPU clocks read at log steps; per-step times between the first and last."""

    def __init__(self) -> None:
        self.marks: list[tuple[int, float, float]] = []

    def mark(self, step: int) -> None:
        self.marks.append((step, time.perf_counter(), time.process_time()))

    def on_metrics(self, record: dict) -> None:  # as the engine's listener
        self.mark(record["step"])

    def on_event(self, event: dict) -> None:
        del event

    def per_step(self) -> tuple[float, float]:
        """(wall, cpu) seconds per step."""
        (first, wall0, cpu0), (last, wall1, cpu1) = self.marks[0], self.marks[-1]
        return (wall1 - wall0) / (last - first), (cpu1 - cpu0) / (last - first)


def plain_loop(resolved) -> tuple[float, float]:
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
    watch = Stopwatch()
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
        if (step + 1) % LOG_EVERY == 0:
            loss.item()  # even a minimal loop looks at its loss now and then
            watch.mark(step + 1)
    return watch.per_step()


def engine_loop(resolved) -> tuple[float, float]:
    """Seconds per step of the engine's training loop: every step, log step (JSONL, CSV,
    TensorBoard, layer norms, early warnings) and silent check between two log steps."""
    watch = Stopwatch()
    summary = Trainer(resolved, listener=watch).run()
    if summary["status"] != "finished":
        raise SystemExit(f"engine run {summary['status']}: {summary['reason']}")
    return watch.per_step()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="a multiple of 10, >= 30")
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
            print(f"repeat {repeat + 1}/{args.repeats}: plain {plain[-1][0] * 1e3:.2f} ms/step "
                  f"(CPU {plain[-1][1] * 1e3:.2f}), engine {engine[-1][0] * 1e3:.2f} ms/step "
                  f"(CPU {engine[-1][1] * 1e3:.2f})", file=sys.stderr, flush=True)
    result: dict = {
        "model": args.size, "batch_size": args.batch_size, "seq_len": args.seq_len,
        "steps": args.steps, "repeats": args.repeats, "threads": args.threads,
        "torch": torch.__version__,
    }
    for clock, index in (("wall", 0), ("cpu", 1)):
        plain_times = [times[index] for times in plain]
        engine_times = [times[index] for times in engine]
        ratio = statistics.median(engine_times) / statistics.median(plain_times)
        result[clock] = {
            "plain_ms_per_step": [round(t * 1e3, 3) for t in plain_times],
            "engine_ms_per_step": [round(t * 1e3, 3) for t in engine_times],
            "plain_median_ms": round(statistics.median(plain_times) * 1e3, 3),
            "engine_median_ms": round(statistics.median(engine_times) * 1e3, 3),
            "ratio": round(ratio, 4), "overhead_percent": round((ratio - 1) * 100, 2)}
    result["ratio"] = result["cpu"]["ratio"]
    assert math.isfinite(result["ratio"])
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
