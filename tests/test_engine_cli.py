"""`nt-tui train --headless` as a user runs it: real subprocesses, signals, kill -9 and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from nt_tui.runfmt import iter_jsonl

REPO = Path(__file__).resolve().parents[1]
STEPS = 300


def write_config(folder: Path, **logging) -> Path:
    config = {
        "name": "cli", "seed": 0, "model": {"size": "nano"},
        "data": {"batch_size": 8, "seq_len": 32},
        "schedule": {"total_steps": STEPS},
        "checkpointing": {"every": 20, "keep_last": 2},
        "logging": {"backends": ["jsonl"], "every": 10, "validate_every": 100, "val_batches": 2,
                    "run_dir": str(folder / "runs"), **logging},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def nt_tui(*args: str, cwd: Path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "nt_tui", "train", *args], cwd=cwd, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def only_run_dir(folder: Path) -> Path:
    (run_dir,) = (folder / "runs").iterdir()
    return run_dir


def wait_for_checkpoints(runs: Path, count: int, timeout: float = 60) -> Path:
    """The run directory under `runs` once its events.jsonl lists `count` step checkpoints."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for events in runs.glob("*/events.jsonl"):
            saved = [e for _, e in iter_jsonl(events)
                     if e["kind"] == "checkpoint" and not e.get("best")]
            if len(saved) >= count:
                return events.parent
        time.sleep(0.05)
    raise AssertionError("no checkpoints appeared")


def test_headless_run_trains_and_prints_a_summary(tmp_path):
    config = write_config(tmp_path)
    code, out, err = finish(nt_tui(str(config), "--headless", "--yes", "--val-split", "0.2",
                                   "--max-steps", "100", cwd=tmp_path))
    assert code == 0, err
    assert "[run]" in out and "Pre-flight:" in out  # the reviewed config is printed first
    assert "step 100/100" in out and "Run finished" in out and "verdict" in out
    run_dir = only_run_dir(tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["total_steps"] == 100
    validations = [r["val_loss"] for _, r in iter_jsonl(run_dir / "metrics.jsonl")
                   if "val_loss" in r]
    assert len(validations) == 1 and validations[0] < 3.5  # ln(65) = 4.17 at the start


def test_the_demo_example_trains_headless_and_its_validation_loss_falls(tmp_path):
    """The shipped example as a user runs it (`nt-tui train examples/demo-tiny-gpt.yaml
    --headless`), shortened to 40 steps and validated every 20 so the test takes seconds."""
    demo = yaml.safe_load((REPO / "examples" / "demo-tiny-gpt.yaml").read_text())
    demo["logging"]["validate_every"] = 20
    config = tmp_path / "demo-tiny-gpt.yaml"
    config.write_text(yaml.safe_dump(demo))
    code, out, err = finish(nt_tui(str(config), "--headless", "--yes", "--max-steps", "40",
                                   cwd=tmp_path))
    assert code == 0, err
    assert "Traceback" not in err and "Run finished" in out
    run_dir = only_run_dir(tmp_path)  # logging.run_dir `runs` is relative to the cwd
    assert {"config.yaml", "metrics.jsonl", "metrics.csv", "events.jsonl", "summary.json",
            "checkpoints"} <= {path.name for path in run_dir.iterdir()}
    validations = [r["val_loss"] for _, r in iter_jsonl(run_dir / "metrics.jsonl")
                   if "val_loss" in r]
    assert len(validations) == 2 and validations[1] < validations[0] < 4.0  # ln(65) = 4.17
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["best_val_step"] == 40


def test_learning_rate_10_fails_clearly_headless(tmp_path):
    config = write_config(tmp_path, every=2)
    data = yaml.safe_load(config.read_text())
    data["optimizer"] = {"lr": 10.0}
    data["schedule"] = {"total_steps": 400, "warmup_steps": 0}
    data["checkpointing"] = {"every": 4, "keep_last": 2}
    config.write_text(yaml.safe_dump(data))
    code, out, err = finish(nt_tui(str(config), "--headless", "--yes", "--no-validation",
                                   cwd=tmp_path), timeout=120)  # a failure, never a hang
    assert code == 1, err
    assert "Traceback" not in err + out
    assert "[critical] nan_inf:" in out and "Run failed" in out and "NaN/Inf" in out
    events = [e for _, e in iter_jsonl(only_run_dir(tmp_path) / "events.jsonl")]
    codes = [e.get("code") for e in events if e["kind"] == "warning"]
    assert "nan_inf" in codes and events[-1]["kind"] == "failure"
    assert "NaN/Inf" in events[-1]["message"] and "learning rate" in events[-1]["message"]
    summary = json.loads((only_run_dir(tmp_path) / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["total_steps"] < 400
    assert summary["recommendation"]["verdict"] == "unstable"


def test_headless_refusals_name_the_way_out(tmp_path):
    config = write_config(tmp_path)
    code, _, err = finish(nt_tui(str(config), "--headless", "--yes", cwd=tmp_path))
    assert code == 1 and "--val-split" in err and "--no-validation" in err
    code, _, err = finish(nt_tui(str(config), "--headless", "--no-validation", cwd=tmp_path))
    assert code == 1 and "--yes" in err
    broken = write_config(tmp_path, backends=[])
    code, out, err = finish(nt_tui(str(broken), "--headless", "--yes", "--no-validation",
                                   cwd=tmp_path))
    # A config pre-flight refuses is bad input: one line names the problem and the fix.
    assert code == 2 and out == ""
    assert err.splitlines() == [err.strip()] and err.startswith("nt-tui: error: no logging "
                                                                "backend")
    assert "backends: [jsonl]" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_headless_refusal_of_several_errors_names_the_first_and_counts_the_rest(tmp_path):
    config = write_config(tmp_path, backends=[])
    broken = yaml.safe_load(config.read_text())
    broken["data"]["train"] = str(tmp_path / "missing.txt")
    config.write_text(yaml.safe_dump(broken))
    code, out, err = finish(nt_tui(str(config), "--headless", "--yes", "--no-validation",
                                   cwd=tmp_path))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "more problem(s)" in err and f"nt-tui check {config}" in err


def test_sigterm_stops_cleanly_with_a_checkpoint(tmp_path):
    config = write_config(tmp_path)
    process = nt_tui(str(config), "--headless", "--yes", "--no-validation",
                     "--max-steps", "100000", cwd=tmp_path)
    wait_for_checkpoints(tmp_path / "runs", 1)
    process.send_signal(signal.SIGTERM)
    code, out, err = finish(process)
    assert code == 3, err
    assert "[SIGTERM] stopping" in err and "Run stopped" in out
    run_dir = only_run_dir(tmp_path)
    events = [e for _, e in iter_jsonl(run_dir / "events.jsonl")]
    assert events[-1]["kind"] == "stop" and "SIGTERM" in events[-1]["message"]
    assert events[-2]["kind"] == "checkpoint" and events[-2]["step"] == events[-1]["step"]


def test_kill_9_then_resume_continues_the_curve(tmp_path):
    config = write_config(tmp_path)
    process = nt_tui(str(config), "--headless", "--yes", "--val-split", "0.1", cwd=tmp_path)
    run_dir = wait_for_checkpoints(tmp_path / "runs", 3)
    process.kill()  # SIGKILL: no handler, no final checkpoint
    process.communicate(timeout=30)
    before = {r["step"]: r for _, r in iter_jsonl(run_dir / "metrics.jsonl")}
    saved = sorted(int(p.stem.split("_")[1]) for p in (run_dir / "checkpoints").glob("step_*"))
    assert max(saved) < STEPS

    code, out, err = finish(nt_tui("--resume", str(run_dir), cwd=tmp_path))
    assert code == 0, err
    assert "resumed from" in out and "Run finished" in out
    events = [e for _, e in iter_jsonl(run_dir / "events.jsonl")]
    resume = next(e for e in events if e["kind"] == "resume")
    assert resume["step"] == max(saved)
    after = [r for _, r in iter_jsonl(run_dir / "metrics.jsonl")][len(before):]
    assert after[0]["step"] == max(saved) + 10 and after[-1]["step"] == STEPS
    # Steps logged before the kill and again after the resume match: the same curve.
    repeated = [r for r in after if r["step"] in before]
    for record in repeated:
        assert abs(record["train_loss"] - before[record["step"]]["train_loss"]) < 1e-5
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["resumed_at_step"] == max(saved)
