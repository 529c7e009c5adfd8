"""Benchmark the log readers (docs/performance.md, "Interpret curves").

    python bench/bench_readers.py                 # 1,000,000 rows, 60,000 TensorBoard events
    python bench/bench_readers.py --rows 200000 --tb-steps 5000 --json

Measures, each the best of `--repeat` runs:
1. load_run of a 1M-row JSONL and a 1M-row CSV log (target: <= 1.5 s each), for a lean record
   (step, time, train_loss, lr, grad_norm, val_loss every 1,000 steps) and for nt-tui's full
   engine record (12 keys);
2. following: after the first poll of the 1M-row files, appending 100 rows and polling
   (target: < 10 ms; the cost is proportional to the new bytes, so it is also shown for 1,000
   and 10,000 appended rows);
3. TensorBoard: nt-tui's reader against TensorBoard's EventAccumulator (and tbparse when it is
   installed) on the same event file written by torch's SummaryWriter; reports the ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nt_tui.runlogs import load_run  # noqa: E402
from nt_tui.runlogs.follow import Follower  # noqa: E402

LEAN_KEYS = ("step", "time", "train_loss", "lr", "grad_norm")
FULL_KEYS = ("step", "time", "elapsed", "train_loss", "train_loss_avg", "lr", "grad_norm",
             "clip_fraction", "samples_per_s", "tokens_per_s", "eta_s", "epoch")
VAL_EVERY = 1000
TB_TAGS = ("train/loss", "train/learning_rate", "train/grad_norm")


def columns_for(keys: tuple[str, ...], start: int, rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(start)
    steps = np.arange(start, start + rows)
    data = {"step": steps, "time": 1.7e9 + steps * 0.05, "elapsed": steps * 0.05,
            "train_loss": 2.0 + 2.0 * np.exp(-steps / 2e5) + 0.05 * rng.standard_normal(rows),
            "lr": 3e-4 * np.minimum(1.0, (steps + 1) / 2000),
            "grad_norm": 0.5 + 0.1 * rng.random(rows), "clip_fraction": np.zeros(rows),
            "samples_per_s": 900 + 20 * rng.random(rows), "eta_s": (1e6 - steps) * 0.05,
            "epoch": steps / 5e4}
    data["train_loss_avg"] = data["train_loss"]
    data["tokens_per_s"] = data["samples_per_s"] * 256
    return {key: data[key] for key in keys}


def jsonl_text(keys: tuple[str, ...], start: int, rows: int) -> str:
    """Compact lines as nt-tui's writer and most loggers write them."""
    columns = columns_for(keys, start, rows)
    parts = []
    for index in range(rows):
        fields = [f'"step":{int(columns["step"][index])}']
        fields += [f'"{key}":{float(columns[key][index])!r}' for key in keys if key != "step"]
        step = int(columns["step"][index])
        if step % VAL_EVERY == 0:
            fields.append(f'"val_loss":{2.5 - step / 1e7!r}')
        parts.append("{" + ",".join(fields) + "}\n")
    return "".join(parts)


def csv_text(keys: tuple[str, ...], start: int, rows: int, header: bool) -> str:
    columns = columns_for(keys, start, rows)
    lines = [",".join(keys) + ",val_loss\n"] if header else []
    matrix = np.column_stack([columns[key] for key in keys])
    for row in matrix:
        step = int(row[0])
        val = repr(2.5 - step / 1e7) if step % VAL_EVERY == 0 else ""
        lines.append(f"{step}," + ",".join(repr(float(v)) for v in row[1:]) + f",{val}\n")
    return "".join(lines)


def timed(function: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call. On a busy machine wall time
    includes waiting for a core; CPU time is what the work costs on an idle one."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def best_of(repeat: int, function: Callable[[], object]) -> tuple[float, float]:
    """Best wall and best CPU time over `repeat` calls."""
    runs = [timed(function) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def bench_load(folder: Path, rows: int, repeat: int) -> list[dict]:
    results = []
    for label, keys in (("lean", LEAN_KEYS), ("nt-tui full", FULL_KEYS)):
        jsonl = folder / f"{label.replace(' ', '_')}.jsonl"
        jsonl.write_text(jsonl_text(keys, 0, rows))
        csv = folder / f"{label.replace(' ', '_')}.csv"
        csv.write_text(csv_text(keys, 0, rows, header=True))
        for path in (jsonl, csv):
            history = load_run(path)
            assert history.steps == rows, (path, history.steps)
            wall, cpu = best_of(repeat, lambda: load_run(path))
            results.append({"file": path.suffix[1:], "record": label, "rows": rows,
                            "megabytes": round(path.stat().st_size / 1e6, 1),
                            "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)})
    return results


def bench_follow(folder: Path, rows: int, repeat: int) -> list[dict]:
    results = []
    for suffix in ("jsonl", "csv"):
        path = folder / f"lean.{suffix}"
        follower = Follower(path)
        first = follower.poll()
        assert sum(len(u.rows) for u in first.runs.values()) == rows
        next_step = rows
        for appended in (100, 1000, 10000):
            walls, cpus = [], []
            for _ in range(repeat):
                text = jsonl_text(LEAN_KEYS, next_step, appended) if suffix == "jsonl" else \
                    csv_text(LEAN_KEYS, next_step, appended, header=False)
                with open(path, "a", encoding="utf-8") as handle:
                    handle.write(text)
                found = []
                wall, cpu = timed(lambda: found.append(follower.poll()))
                walls.append(wall)
                cpus.append(cpu)
                assert len(found[0].rows) == appended and not found[0].reset
                next_step += appended
            results.append({"file": suffix, "existing_rows": rows, "appended_rows": appended,
                            "wall_median_ms": round(1000 * statistics.median(walls), 2),
                            "cpu_median_ms": round(1000 * statistics.median(cpus), 2),
                            "cpu_max_ms": round(1000 * max(cpus), 2)})
    return results


def write_event_file(folder: Path, steps: int) -> Path:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(folder))
    rng = np.random.default_rng(0)
    for step in range(steps):
        writer.add_scalar(TB_TAGS[0], float(3 - step / steps + 0.05 * rng.random()), step)
        writer.add_scalar(TB_TAGS[1], 3e-4, step)
        writer.add_scalar(TB_TAGS[2], float(0.5 + rng.random()), step)
    writer.close()
    (event_file,) = folder.glob("events.out.tfevents.*")
    return event_file


def read_with_event_accumulator(folder: Path) -> int:
    from tensorboard.backend.event_processing.event_accumulator import (
        SCALARS, EventAccumulator,
    )

    accumulator = EventAccumulator(str(folder), size_guidance={SCALARS: 0})
    accumulator.Reload()
    return sum(len(accumulator.Scalars(tag)) for tag in accumulator.Tags()["scalars"])


def read_with_tbparse(folder: Path) -> int | None:
    try:
        from tbparse import SummaryReader
    except ImportError:
        return None
    return len(SummaryReader(str(folder)).scalars)


def bench_tensorboard(folder: Path, steps: int, repeat: int) -> dict:
    event_file = write_event_file(folder, steps)
    history = load_run(folder)
    assert history.steps == steps and len(history.series("train_loss")) == steps
    assert read_with_event_accumulator(folder) == steps * len(TB_TAGS)
    ours = best_of(repeat, lambda: load_run(folder))
    theirs = best_of(repeat, lambda: read_with_event_accumulator(folder))
    result = {"events": steps * len(TB_TAGS),
              "megabytes": round(event_file.stat().st_size / 1e6, 2),
              "nt_tui_wall_s": round(ours[0], 3), "nt_tui_cpu_s": round(ours[1], 3),
              "event_accumulator_wall_s": round(theirs[0], 3),
              "event_accumulator_cpu_s": round(theirs[1], 3),
              "event_accumulator_over_nt_tui_cpu": round(theirs[1] / ours[1], 2)}
    if read_with_tbparse(folder) is not None:
        tbparse = best_of(repeat, lambda: read_with_tbparse(folder))
        result.update(tbparse_cpu_s=round(tbparse[1], 3),
                      tbparse_over_nt_tui_cpu=round(tbparse[1] / ours[1], 2))
    else:
        result["tbparse"] = "not installed"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tb-steps", type=int, default=20_000,
                        help="steps written to the event file (3 scalars each)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nt-bench-") as tmp:
        folder = Path(tmp)
        load = bench_load(folder, args.rows, args.repeat)
        follow = bench_follow(folder, args.rows, max(args.repeat, 5))
        (folder / "tb").mkdir()
        tensorboard = bench_tensorboard(folder / "tb", args.tb_steps, args.repeat)
    machine = {"python": platform.python_version(), "machine": platform.machine(),
               "cpus": __import__("os").cpu_count(),
               "load_average": [round(x, 1) for x in __import__("os").getloadavg()]}
    results = {"machine": machine, "load": load, "follow": follow, "tensorboard": tensorboard}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"machine: {machine}")
    print("\nload_run (best of {}):".format(args.repeat))
    for row in load:
        print(f"  {row['file']:5} {row['record']:12} {row['rows']:>9,} rows "
              f"{row['megabytes']:>7} MB  wall {row['wall_s']:.3f} s  cpu {row['cpu_s']:.3f} s")
    print("\nfollow (poll after appending):")
    for row in follow:
        print(f"  {row['file']:5} +{row['appended_rows']:>6,} rows to {row['existing_rows']:,}: "
              f"wall median {row['wall_median_ms']} ms, cpu median {row['cpu_median_ms']} ms, "
              f"cpu max {row['cpu_max_ms']} ms")
    print("\nTensorBoard:", json.dumps(tensorboard))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
