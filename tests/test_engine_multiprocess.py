"""The same config under `accelerate launch` with two CPU processes (gloo backend).

accelerate's `--cpu` flag alone starts a single process (it needs MPI for more), so the
launcher is asked for its torchrun-based multi-process mode; on a machine without a GPU the
engine's `Accelerator(cpu=True)` then runs both processes on the CPU with gloo.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nt_tui.engine import checkpoint as ckpt
from nt_tui.runfmt import iter_jsonl

REPO = Path(__file__).resolve().parents[1]
BATCH, STEPS = 4, 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_accelerate_run(tmp_path):
    config = {
        "name": "ddp", "seed": 0, "model": {"size": "nano"},
        "data": {"val_split": 0.1, "batch_size": BATCH, "seq_len": 32},
        "schedule": {"total_steps": STEPS},
        "checkpointing": {"every": 10, "keep_last": 3},
        "logging": {"backends": ["jsonl", "csv"], "every": 5, "validate_every": 10,
                    "val_batches": 2, "run_dir": str(tmp_path / "runs")},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
               "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
               "--dynamo_backend", "no", "--main_process_port", str(free_port()),
               "-m", "nt_tui", "train", str(path), "--headless", "--yes"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=180, check=False)
    assert result.returncode == 0, result.stderr[-3000:]

    (run_dir,) = (tmp_path / "runs").iterdir()  # one run directory: only rank 0 writes
    assert result.stdout.count("Run finished") == 1  # only rank 0 prints
    events = [e for _, e in iter_jsonl(run_dir / "events.jsonl")]
    assert events[0]["kind"] == "start" and events[0]["world_size"] == 2
    assert sum(e["kind"] == "finish" for e in events) == 1
    records = [r for _, r in iter_jsonl(run_dir / "metrics.jsonl")]
    assert [r["step"] for r in records] == [5, 10, 15, 20]
    assert len((run_dir / "metrics.csv").read_text().splitlines()) == 5

    state = ckpt.load_checkpoint(run_dir / "checkpoints" / ckpt.step_name(STEPS))
    assert state["data"] == {"position": STEPS, "world_size": 2, "batch_size": BATCH}
    assert len(state["rng"]) == 2  # each process's generators, for an exact resume
    assert state["samples_done"] == STEPS * BATCH * 2  # throughput counts both processes
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["world_size"] == 2
    assert summary["samples_per_s"] * summary["train_time_s"] == \
        pytest.approx(STEPS * BATCH * 2, rel=1e-6)
