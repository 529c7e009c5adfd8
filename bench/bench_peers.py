"""Peer benchmark: the same Transformer, data and steps trained four ways, in one run.

    python bench/bench_peers.py [--size micro] [--steps 300] [--rounds 3] [--write-docs]

Trainers: a minimal PyTorch loop (the baseline), nt-tui's engine, Hugging Face `Trainer` and
Lightning. Every one trains nt-tui's built-in GPT on the demo corpus (the same token windows,
batch size, sequence length and seed), with the same AdamW (`build_optimizer`: same parameter
groups, same fused kernel), the same warmup + cosine learning rate, gradient clipping at 1.0
and the loss logged every `LOG_EVERY` steps. No validation, no checkpoints inside the timed
steps.

One instrument times all four: a global optimizer step post-hook
(`torch.optim.optimizer.register_optimizer_step_post_hook`) stamps the clock after every
optimizer step, so each framework's step includes its own data loading, bookkeeping, logging
and callbacks. Step time is measured over windows of `LOG_EVERY` steps (each window holds one
log step; on a GPU the hook synchronises at window edges), the first `WARMUP_STEPS` are
dropped, and the median over all windows of all rounds is reported with its ratio to the plain
loop. Each trainer runs in its own process, and rounds alternate the trainers so drift in the
machine's speed is shared.

`--write-docs` replaces the "Peer benchmark" section of docs/performance.md with the result.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO_ROOT = Path(__file__).resolve().parents[1]
PERFORMANCE_DOC = REPO_ROOT / "docs" / "performance.md"
SECTION_TITLE = "## Peer benchmark"

TRAINERS = ("plain", "nt-tui", "hf", "lightning")
LABELS = {"plain": "plain PyTorch loop", "nt-tui": "nt-tui engine",
          "hf": "Hugging Face Trainer", "lightning": "Lightning"}
#: Steps between loss logs in every trainer; also the timing window.
LOG_EVERY = 10
#: Steps dropped from the start of every run (allocator and kernel warm-up, first-use imports).
WARMUP_STEPS = 20
#: nt-tui's goal (GitHub issue 9): at most 2% slower than the plain loop.
GOAL_RATIO = 1.02
SEED = 1234


# --------------------------------------------------------------------------- the shared setup

def config_text(size: str, steps: int, batch_size: int, seq_len: int, run_root: Path) -> str:
    """The nt-tui config every trainer is built from (model, data, optimizer, schedule)."""
    return f"""
name: peer-bench
seed: {SEED}
model: {{size: {size}}}
data: {{train: "demo:tinyshakespeare", allow_no_validation: true,
        batch_size: {batch_size}, seq_len: {seq_len}}}
schedule: {{name: cosine, total_steps: {steps}}}
regularization: {{grad_clip: 1.0, dropout: 0.0}}
checkpointing: {{every: {steps}, keep_last: 1, keep_best: false}}
logging: {{backends: [jsonl], every: {LOG_EVERY}, run_dir: "{run_root}"}}
"""


class StepClock:
    """Stamps the clock after every optimizer step of any optimizer in this process."""

    def __init__(self, cuda: bool) -> None:
        import torch
        from torch.optim.optimizer import register_optimizer_step_post_hook

        self.stamps: list[float] = []
        self.cpu_stamps: list[float] = []
        self._sync = torch.cuda.synchronize if cuda else None
        self._handle = register_optimizer_step_post_hook(self._hook)

    def _hook(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        del optimizer, args, kwargs
        if self._sync is not None and len(self.stamps) % LOG_EVERY == 0:
            self._sync()
        self.stamps.append(time.perf_counter())
        self.cpu_stamps.append(time.process_time())

    def window_step_times(self, cpu: bool = False) -> list[float]:
        """Seconds per step over each window of LOG_EVERY steps after the warm-up (wall
        time, or this process's CPU time)."""
        marks = (self.cpu_stamps if cpu else self.stamps)[WARMUP_STEPS - 1::LOG_EVERY]
        return [(end - start) / LOG_EVERY for start, end in zip(marks, marks[1:])]

    def close(self) -> None:
        self._handle.remove()


def build_shared(args: argparse.Namespace, run_root: Path) -> dict[str, Any]:
    """Resolved config, model, token windows, optimizer and LR function, as nt-tui builds them."""
    import torch

    from nt_tui.config import load_config_text
    from nt_tui.config.defaults import resolve
    from nt_tui.engine.optimizers import build_optimizer
    from nt_tui.engine.schedules import Schedule
    from nt_tui.engine.task import build_task

    resolved = resolve(load_config_text(config_text(args.size, args.steps, args.batch_size,
                                                    args.seq_len, run_root)))
    torch.manual_seed(SEED)
    task = build_task(resolved)
    optimizer, fused = build_optimizer(task.model, resolved.config)
    schedule = Schedule.from_config(resolved.config)
    return {"resolved": resolved, "task": task, "optimizer": optimizer, "fused": fused,
            "schedule": schedule, "lr_factor": lambda step: schedule.lr_at(step) / schedule.peak_lr}


class WindowDataset:
    """The task's token windows as a map-style dataset (for the frameworks' DataLoaders)."""

    def __init__(self, windows: Any, as_dict: bool) -> None:
        self.windows = windows
        self.as_dict = as_dict

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> Any:
        import torch

        inputs, targets = self.windows.fetch(torch.tensor([index]), 0)
        if self.as_dict:
            return {"input_ids": inputs[0], "labels": targets[0]}
        return inputs[0], targets[0]


# ------------------------------------------------------------------------------ the trainers

def train_plain(args: argparse.Namespace, run_root: Path) -> float:
    """The baseline: nanoGPT-style loop, loss read on log steps only."""
    import torch

    from nt_tui.engine.data import TrainBatches
    from nt_tui.engine.task import cross_entropy

    shared = build_shared(args, run_root)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, optimizer, schedule = shared["task"].model.to(device), shared["optimizer"], \
        shared["schedule"]
    batches = TrainBatches(shared["task"].train, args.batch_size, SEED)
    losses = []
    model.train()
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr_at(step)
        inputs, targets = (t.to(device, non_blocking=True) for t in batches.batch(step))
        loss = cross_entropy(model(inputs), targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if (step + 1) % LOG_EVERY == 0:
            losses.append(loss.item())
    return losses[-1]


def train_nt_tui(args: argparse.Namespace, run_root: Path) -> float:
    """nt-tui's engine, exactly as `nt-tui train --headless` runs it (minus the printing)."""
    from nt_tui.engine.trainer import Trainer

    from nt_tui.runfmt import METRICS_FILE, iter_jsonl

    resolved = build_shared(args, run_root)["resolved"]
    summary = Trainer(resolved, run_dir=run_root / "nt-tui").run()
    if summary["status"] != "finished":
        raise RuntimeError(f"nt-tui run ended {summary['status']}: {summary['reason']}")
    records = [record for _, record in iter_jsonl(Path(summary["run_dir"]) / METRICS_FILE)]
    return records[-1]["train_loss"]  # the last logged loss, as the others report it


def train_hf(args: argparse.Namespace, run_root: Path) -> float:
    """Hugging Face Trainer with the shared optimizer and schedule."""
    import torch
    from transformers import Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback
    from transformers.utils import logging as hf_logging

    from nt_tui.engine.task import cross_entropy

    hf_logging.set_verbosity_error()
    shared = build_shared(args, run_root)

    class LossModel(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, labels: torch.Tensor) -> dict:
            return {"loss": cross_entropy(self.model(input_ids), labels)}

    scheduler = torch.optim.lr_scheduler.LambdaLR(shared["optimizer"], shared["lr_factor"])
    training_args = TrainingArguments(
        output_dir=str(run_root / "hf"), max_steps=args.steps,
        per_device_train_batch_size=args.batch_size, max_grad_norm=1.0, logging_steps=LOG_EVERY,
        save_strategy="no", eval_strategy="no", report_to=[], disable_tqdm=True, seed=SEED,
        dataloader_num_workers=0, use_cpu=not torch.cuda.is_available())
    trainer = Trainer(model=LossModel(shared["task"].model), args=training_args,
                      train_dataset=WindowDataset(shared["task"].train, as_dict=True),
                      optimizers=(shared["optimizer"], scheduler))
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry][-1]


def train_lightning(args: argparse.Namespace, run_root: Path) -> float:
    """Lightning with the shared optimizer and schedule, logging to CSV."""
    import lightning as L
    import torch
    from lightning.pytorch.loggers import CSVLogger

    from nt_tui.engine.task import cross_entropy

    shared = build_shared(args, run_root)

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = shared["task"].model
            self.last_loss = float("nan")

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            inputs, targets = batch
            loss = cross_entropy(self.model(inputs), targets)
            self.log("train_loss", loss)
            return loss

        def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
            if (batch_idx + 1) % LOG_EVERY == 0:
                self.last_loss = float(outputs["loss"])

        def configure_optimizers(self) -> Any:
            scheduler = torch.optim.lr_scheduler.LambdaLR(shared["optimizer"],
                                                          shared["lr_factor"])
            return {"optimizer": shared["optimizer"],
                    "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    loader = torch.utils.data.DataLoader(WindowDataset(shared["task"].train, as_dict=False),
                                         batch_size=args.batch_size, shuffle=True,
                                         num_workers=0, drop_last=True)
    module = Module()
    trainer = L.Trainer(max_steps=args.steps, accelerator="auto", devices=1,
                        gradient_clip_val=1.0, log_every_n_steps=LOG_EVERY,
                        logger=CSVLogger(str(run_root / "lightning")),
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(module, loader)
    return module.last_loss


TRAIN: dict[str, Callable[[argparse.Namespace, Path], float]] = {
    "plain": train_plain, "nt-tui": train_nt_tui, "hf": train_hf, "lightning": train_lightning}


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    """Train with one trainer in this process; return its window step times."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    clock = StepClock(cuda=torch.cuda.is_available())
    with tempfile.TemporaryDirectory(prefix="nt-peer-") as folder:
        final_loss = TRAIN[args.one](args, Path(folder))
    clock.close()
    if len(clock.stamps) != args.steps:
        raise RuntimeError(f"{args.one}: {len(clock.stamps)} optimizer steps, not {args.steps}")
    return {"trainer": args.one, "step_times": clock.window_step_times(),
            "cpu_step_times": clock.window_step_times(cpu=True),
            "final_loss": final_loss, "threads": torch.get_num_threads(),
            "device": "cuda" if torch.cuda.is_available() else "cpu"}


# ------------------------------------------------------------------------ the parent process

def child_command(args: argparse.Namespace, trainer: str) -> list[str]:
    return [sys.executable, __file__, "--one", trainer, "--size", args.size,
            "--steps", str(args.steps), "--batch-size", str(args.batch_size),
            "--seq-len", str(args.seq_len), "--threads", str(args.threads)]


def run_all(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {name: {"step_times": [], "cpu_step_times": [],
                                                 "final_loss": []} for name in TRAINERS}
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "TOKENIZERS_PARALLELISM": "false"}
    for round_number in range(args.rounds):
        order = TRAINERS[round_number % len(TRAINERS):] + TRAINERS[:round_number % len(TRAINERS)]
        for name in order:
            done = subprocess.run(child_command(args, name), capture_output=True, text=True,
                                  env=env, cwd=REPO_ROOT)
            last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
            if done.returncode != 0 or not last.startswith("{"):
                raise SystemExit(f"{name} failed (exit {done.returncode}):\n"
                                 f"{done.stderr[-3000:]}")
            result = json.loads(last)
            results[name]["step_times"] += result["step_times"]
            results[name]["cpu_step_times"] += result["cpu_step_times"]
            results[name]["final_loss"].append(result["final_loss"])
            results[name].update(threads=result["threads"], device=result["device"])
            print(f"round {round_number + 1}/{args.rounds}  {LABELS[name]:<22} median "
                  f"{statistics.median(result['step_times']) * 1000:7.2f} ms/step (CPU "
                  f"{statistics.median(result['cpu_step_times']) * 1000:7.2f})", flush=True)
    for result in results.values():
        result["median"] = statistics.median(result["step_times"])
        result["cpu_median"] = statistics.median(result["cpu_step_times"])
    for result in results.values():
        result["wall_ratio"] = result["median"] / results["plain"]["median"]
        result["cpu_ratio"] = result["cpu_median"] / results["plain"]["cpu_median"]
        # CPU time is the work itself; on a CPU shared with other jobs wall time mostly
        # measures waiting for a core, so the verdict uses CPU time there.
        result["ratio"] = result["cpu_ratio"] if result["device"] == "cpu" else \
            result["wall_ratio"]
    return results


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = ["| trainer | median step (wall) | ratio (wall) | median step (CPU) | ratio (CPU) "
             "| final train loss |", "|---|---|---|---|---|---|"]
    for name in TRAINERS:
        result = results[name]
        loss = statistics.mean(result["final_loss"])
        lines.append(f"| {LABELS[name]} | {result['median'] * 1000:.2f} ms | "
                     f"{result['wall_ratio']:.3f} | {result['cpu_median'] * 1000:.2f} ms | "
                     f"{result['cpu_ratio']:.3f} | {loss:.3f} |")
    return "\n".join(lines)


def verdict(results: dict[str, dict[str, Any]]) -> str:
    frameworks = ("nt-tui", "hf", "lightning")
    lowest = min(frameworks, key=lambda name: results[name]["ratio"])
    ours = results["nt-tui"]["ratio"]
    within = "within" if ours <= GOAL_RATIO else "outside"
    basis = "CPU time" if results["plain"]["device"] == "cpu" else "wall time"
    return (f"By {basis}, nt-tui is {(ours - 1) * 100:+.1f}% against the plain loop ({within} the "
            f"{(GOAL_RATIO - 1) * 100:.0f}% goal); lowest overhead of the three frameworks: "
            f"{LABELS[lowest]}.")


def environment(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> str:
    import torch

    device = results["plain"]["device"]
    where = torch.cuda.get_device_name(0) if device == "cuda" else \
        f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, " \
        f"{results['plain']['threads']} torch threads)"
    import lightning
    import transformers

    windows = len(results["plain"]["step_times"])
    return (f"{where}; torch {torch.__version__}, transformers {transformers.__version__}, "
            f"lightning {lightning.__version__}, Python {platform.python_version()}. "
            f"Built-in GPT `{args.size}`, batch {args.batch_size} x {args.seq_len} tokens, "
            f"{args.steps} steps per run, {args.rounds} rounds ({windows} windows of "
            f"{LOG_EVERY} steps per trainer after a {WARMUP_STEPS}-step warm-up).")


def write_docs(text: str) -> None:
    """Replace (or append) the Peer benchmark section of docs/performance.md."""
    current = PERFORMANCE_DOC.read_text(encoding="utf-8") if PERFORMANCE_DOC.exists() \
        else "# Performance\n"
    start = current.find(SECTION_TITLE)
    if start < 0:
        updated = current.rstrip("\n") + "\n\n" + text
    else:
        end = current.find("\n## ", start + len(SECTION_TITLE))
        updated = current[:start] + text + (current[end:] if end >= 0 else "")
    PERFORMANCE_DOC.parent.mkdir(parents=True, exist_ok=True)
    PERFORMANCE_DOC.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")


def section(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> str:
    return f"""{SECTION_TITLE}

`python bench/bench_peers.py --write-docs` trains the same Transformer on the same data for
the same number of steps four ways: a minimal PyTorch loop, nt-tui's engine, Hugging Face
`Trainer` and Lightning. All four use nt-tui's built-in GPT, the demo corpus' token windows,
the same fused AdamW and parameter groups, warmup + cosine LR, clipping at 1.0 and a loss log
every {LOG_EVERY} steps. One optimizer post-step hook times every trainer, so a step includes
the framework's data loading, logging and callbacks. Medians over windows of {LOG_EVERY} steps,
in wall time and in the process's CPU time (on a CPU shared with other jobs, wall time mostly
measures waiting for a core, so the verdict there uses CPU time); the ratio is to the plain loop (lower is better; nt-tui's goal is at most {GOAL_RATIO:.2f}).

{environment(args, results)}

{table(results)}

{verdict(results)} The final losses agree, so the four trained the same thing (HF and
Lightning shuffle with their own samplers, hence small differences).

"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="micro", help="built-in GPT size (default micro)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads in every trainer (0: PyTorch's default)")
    parser.add_argument("--write-docs", action="store_true",
                        help="write the result into docs/performance.md")
    parser.add_argument("--one", choices=TRAINERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps < WARMUP_STEPS + 2 * LOG_EVERY:
        parser.error(f"--steps must be at least {WARMUP_STEPS + 2 * LOG_EVERY}")
    if args.one:
        print(json.dumps(run_one(args)))
        return 0
    results = run_all(args)
    print()
    print(environment(args, results))
    print(table(results))
    print(verdict(results))
    if args.write_docs:
        write_docs(section(args, results))
        print(f"written to {PERFORMANCE_DOC.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
