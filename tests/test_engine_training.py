"""The engine end to end, in process: tiny runs of the nano GPT (a few seconds each)."""

from __future__ import annotations

import copy
import json
import math
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from nt_tui.config import load_config
from nt_tui.config.preflight import run_preflight
from nt_tui.engine import checkpoint as ckpt
from nt_tui.engine.control import METRIC_KEYS
from nt_tui.engine.trainer import Trainer, TrainingControl
from nt_tui.runfmt import iter_jsonl

BASE: dict[str, Any] = {
    "name": "t",
    "seed": 0,
    "model": {"size": "nano"},
    "data": {"train": "demo:tinyshakespeare", "val_split": 0.1, "batch_size": 8, "seq_len": 32},
    "schedule": {"total_steps": 40},
    "logging": {"backends": ["jsonl"], "every": 5, "validate_every": 20, "val_batches": 2},
    "checkpointing": {"every": 10, "keep_last": 2},
}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models train faster on one thread, and a busy 2-core CI box does not thrash."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _merge(base: dict, extra: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def resolved_config(tmp_path: Path, **sections: Any):
    data = _merge(BASE, sections)
    data["logging"].setdefault("run_dir", str(tmp_path / "runs"))
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    preflight = run_preflight(load_config(path), path)
    assert preflight.ok, [f.message for f in preflight.blocking]
    return preflight.resolved


class Recorder:
    """An EngineListener that keeps everything and can act at a given step."""

    def __init__(self, at_step: int | None = None, action=None) -> None:
        self.metrics: list[dict] = []
        self.events: list[dict] = []
        self.at_step, self.action = at_step, action
        self.threads: set[str] = set()

    def on_metrics(self, record: dict) -> None:
        self.threads.add(threading.current_thread().name)
        self.metrics.append(record)
        if self.action and record["step"] == self.at_step:
            self.action()

    def on_event(self, event: dict) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [event["kind"] for event in self.events]

    def codes(self) -> set[str]:
        return {event.get("code") for event in self.events if event["kind"] == "warning"}


def metrics_by_step(run_dir: Path) -> dict[int, dict]:
    """metrics.jsonl with the later row winning for a repeated step (after a resume)."""
    return {record["step"]: record for _, record in iter_jsonl(run_dir / "metrics.jsonl")}


def test_tiny_run_writes_the_run_directory(tmp_path):
    resolved = resolved_config(tmp_path, schedule={"total_steps": 60},
                               logging={"backends": ["jsonl", "csv"]})
    recorder = Recorder()
    trainer = Trainer(resolved, listener=recorder)
    run_dir = trainer.run_dir
    assert run_dir.parent == tmp_path / "runs" and run_dir.name.startswith("t-")
    summary = trainer.run()

    assert summary["status"] == "finished" and summary["total_steps"] == 60
    assert recorder.kinds()[0] == "start" and recorder.kinds()[-1] == "finish"
    records = [record for _, record in iter_jsonl(run_dir / "metrics.jsonl")]
    assert [r["step"] for r in records] == list(range(5, 61, 5))
    for record in records:
        assert set(METRIC_KEYS) - {"val_loss", "val_ppl"} <= set(record)
    validations = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in validations] == [20, 40, 60]
    assert validations[-1]["val_loss"] < validations[0]["val_loss"] - 0.2
    assert validations[-1]["val_ppl"] == pytest.approx(math.exp(validations[-1]["val_loss"]))
    assert records == recorder.metrics or len(records) == len(recorder.metrics)

    saved = json.loads((run_dir / "summary.json").read_text())
    assert saved["best_val_loss"] == pytest.approx(validations[-1]["val_loss"])
    assert saved["best_val_step"] == 60 and saved["recommendation"]["verdict"]
    assert load_config(run_dir / "config.yaml").optimizer.lr == resolved.config.optimizer.lr
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert names == ["best.pt", "step_00000050.pt", "step_00000060.pt"]
    state = ckpt.load_checkpoint(run_dir / "checkpoints" / "step_00000060.pt")
    assert state["step"] == 60 and state["data"]["position"] == 60
    csv_lines = (run_dir / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].split(",") == list(METRIC_KEYS) and len(csv_lines) == 13


def test_resume_continues_the_same_curve(tmp_path):
    sections = {"regularization": {"dropout": 0.1}, "data": {"grad_accum": 2}}
    whole = Trainer(resolved_config(tmp_path / "a", **sections)).run()

    control = TrainingControl()
    first = Trainer(resolved_config(tmp_path / "b", **sections), control=control,
                    listener=Recorder(at_step=15, action=control.stop))
    stopped = first.run()
    assert stopped["status"] == "stopped" and stopped["total_steps"] == 15
    assert stopped["last_checkpoint"].endswith("step_00000015.pt")

    recorder = Recorder()
    resumed = Trainer(resolved_config(tmp_path / "b", **sections), resume=first.run_dir,
                      listener=recorder).run()
    assert resumed["status"] == "finished" and resumed["resumed_at_step"] == 15
    assert recorder.kinds()[0] == "resume"
    expected = metrics_by_step(Path(whole["run_dir"]))
    got = metrics_by_step(first.run_dir)
    assert sorted(got) == sorted(expected)
    for step, record in expected.items():
        for key in ("train_loss", "train_loss_avg", "grad_norm", "lr", "val_loss"):
            if key in record:
                assert got[step][key] == pytest.approx(record[key], rel=1e-5, abs=1e-6), \
                    (step, key)
    assert resumed["best_val_loss"] == pytest.approx(whole["best_val_loss"], rel=1e-5)


def test_learning_rate_10_fails_with_nan_events(tmp_path):
    resolved = resolved_config(
        tmp_path, optimizer={"lr": 10.0}, schedule={"total_steps": 400, "warmup_steps": 0},
        logging={"every": 2}, checkpointing={"every": 4})
    recorder = Recorder()
    trainer = Trainer(resolved, listener=recorder)
    summary = trainer.run()
    assert summary["status"] == "failed"
    assert "NaN/Inf" in summary["reason"] and summary["total_steps"] < 400
    assert "nan_inf" in recorder.codes()
    nan_event = next(e for e in recorder.events if e.get("code") == "nan_inf")
    assert nan_event["severity"] == "critical"
    assert nan_event["knowledge"] == "common-failures.md#nan-or-inf-loss"
    assert recorder.kinds()[-1] == "failure"
    assert summary["recommendation"]["verdict"] == "unstable"
    # NaN updates were never applied: the weights are still finite.
    assert all(torch.isfinite(p).all() for p in trainer.task.model.parameters())


CLASSIFIER = (
    "import torch\n"
    "def data(seed):\n"
    "    g = torch.Generator().manual_seed(seed)\n"
    "    x = torch.randn(256, 8, generator=g)\n"
    "    y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()\n"
    "    return list(zip(x, y))\n"
)


def test_skip_policy_skips_bad_steps_and_continues(tmp_path):
    (tmp_path / "nan_once.py").write_text(CLASSIFIER + (
        "import math\n"
        "calls = {'n': 0}\n"
        "def loss_fn(outputs, targets):\n"
        "    calls['n'] += 1\n"
        "    loss = torch.nn.functional.cross_entropy(outputs, targets)\n"
        "    return loss * math.nan if calls['n'] == 7 else loss\n"
        "def build():\n"
        "    items = data(0)\n"
        "    return torch.nn.Linear(8, 4), items[:200], items[200:], loss_fn\n"))
    resolved = resolved_config(
        tmp_path, model={"size": None, "entrypoint": "nan_once:build"},
        warnings={"on_nan": "skip"}, schedule={"total_steps": 20})
    recorder = Recorder()
    summary = Trainer(resolved, listener=recorder).run()
    assert summary["status"] == "finished"
    nan_events = [e for e in recorder.events if e.get("code") == "nan_inf"]
    assert len(nan_events) == 1 and nan_events[0]["values"]["nonfinite_steps"] == 1
    assert nan_events[0]["step"] == 10
    assert recorder.metrics[-1]["train_loss"] < recorder.metrics[0]["train_loss"]


def test_control_from_another_thread(tmp_path):
    resolved = resolved_config(tmp_path, schedule={"total_steps": 100000},
                               checkpointing={"every": 100000})
    control = TrainingControl()
    recorder = Recorder()
    trainer = Trainer(resolved, listener=recorder, control=control)
    worker = threading.Thread(target=trainer.run, name="engine")
    worker.start()

    def wait_for(predicate, timeout=60.0):
        import time

        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, recorder.kinds()
            time.sleep(0.01)

    wait_for(lambda: len(recorder.metrics) >= 2)
    control.pause()
    wait_for(lambda: "pause" in recorder.kinds())
    paused_at = len(recorder.metrics)
    import time

    time.sleep(0.3)
    assert len(recorder.metrics) == paused_at  # no progress while paused
    control.checkpoint_now()
    control.resume()
    wait_for(lambda: "unpause" in recorder.kinds())
    wait_for(lambda: any(e["kind"] == "checkpoint" for e in recorder.events))
    control.stop()
    worker.join(60)
    assert not worker.is_alive()
    assert trainer.summary["status"] == "stopped"
    assert recorder.threads == {"engine"}
    checkpoints = [e for e in recorder.events if e["kind"] == "checkpoint"]
    assert len(checkpoints) == 2  # checkpoint-now and the final one at stop
    assert checkpoints[-1]["step"] == trainer.summary["total_steps"]
    assert recorder.kinds()[-1] == "stop"


def test_crashing_user_model_is_a_failure_event(tmp_path):
    (tmp_path / "crashy_model.py").write_text(
        "import torch\n"
        "class Boom(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.linear = torch.nn.Linear(4, 3)\n"
        "    def forward(self, x):\n"
        "        raise RuntimeError('user model exploded')\n"
        "def build():\n"
        "    data = [(torch.randn(4), 1) for _ in range(64)]\n"
        "    return Boom(), data, data[:16]\n")
    resolved = resolved_config(tmp_path, model={"size": None, "entrypoint": "crashy_model:build"})
    recorder = Recorder()
    summary = Trainer(resolved, listener=recorder).run()
    assert summary["status"] == "failed"
    assert "user model exploded" in summary["reason"]
    failure = recorder.events[-1]
    assert failure["kind"] == "failure" and "Traceback" in failure["traceback"]
    events = [e for _, e in iter_jsonl(Path(summary["run_dir"]) / "events.jsonl")]
    assert events[-1]["kind"] == "failure"

    # Code that cannot even be imported fails the same way, recorded in the run directory.
    (tmp_path / "broken_import.py").write_text("import definitely_not_installed_xyz\n")
    resolved = resolved_config(tmp_path, model={"size": None,
                                                 "entrypoint": "broken_import:build"})
    summary = Trainer(resolved).run()
    assert summary["status"] == "failed" and "importing broken_import failed" in summary["reason"]
    saved = json.loads((Path(summary["run_dir"]) / "summary.json").read_text())
    assert saved["status"] == "failed" and saved["reason"] == summary["reason"]


def test_user_entrypoint_trains_and_frozen_params_are_reported(tmp_path):
    (tmp_path / "frozen_model.py").write_text(CLASSIFIER + (
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.first = torch.nn.Linear(8, 16)\n"
        "        self.second = torch.nn.Linear(16, 4)\n"
        "    def forward(self, x):\n"
        "        return self.second(torch.relu(self.first(x)).detach())  # bug: detach\n"
        "def build(config):\n"
        "    items = data(config.seed)\n"
        "    return {'model': Net(), 'train': items[:200], 'val': items[200:]}\n"))
    resolved = resolved_config(
        tmp_path, model={"size": None, "entrypoint": "frozen_model:build"},
        data={"batch_size": 16}, schedule={"total_steps": 20},
        warnings={"check_every": 5}, logging={"layer_grad_norms": True})
    recorder = Recorder()
    summary = Trainer(resolved, listener=recorder).run()
    assert summary["status"] == "finished"
    frozen = [e for e in recorder.events if e.get("code") == "params_frozen"]
    assert frozen and "first.weight" in frozen[0]["message"]
    assert frozen[0]["knowledge"] == "common-failures.md#silent-errors"
    assert set(recorder.metrics[-1]["layer_grad_norms"]) == {"second"}
    assert "val_ppl" not in recorder.metrics[-1] and "val_loss" in recorder.metrics[-1]


def test_checkpoint_write_failure_keeps_the_previous_one(tmp_path):
    resolved = resolved_config(tmp_path, logging={"run_name": "fixed"})
    run_dir = tmp_path / "runs" / "fixed"
    # A directory where the step-20 checkpoint should go makes its rename fail.
    (run_dir / "checkpoints" / "step_00000020.pt").mkdir(parents=True)
    (run_dir / "checkpoints" / "step_00000020.pt" / "blocker").write_text("x")
    recorder = Recorder()
    summary = Trainer(resolved, listener=recorder).run()
    assert summary["status"] == "failed"
    assert "checkpoint failed" in summary["reason"] and "step_00000010.pt" in summary["reason"]
    assert ckpt.load_checkpoint(run_dir / "checkpoints" / "step_00000010.pt")["step"] == 10
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))


def test_local_hugging_face_model_and_bf16(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model_dir = tmp_path / "tiny-gpt2"
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=256, n_positions=64)
                    ).save_pretrained(model_dir)
    resolved = resolved_config(
        tmp_path, model={"size": None, "path": "tiny-gpt2"}, precision="bf16",
        data={"tokenizer": "byte"}, schedule={"total_steps": 10},
        logging={"every": 5, "validate_every": 10})
    recorder = Recorder()
    summary = Trainer(resolved, listener=recorder).run()
    assert summary["status"] == "finished", summary["reason"]
    assert "GPT2LMHeadModel" in recorder.events[0]["message"]
    assert "bytes" in recorder.events[0]["message"] and recorder.events[0]["precision"] == "bf16"
    assert math.isfinite(recorder.metrics[-1]["val_loss"])
    assert recorder.metrics[-1]["train_loss"] < math.log(256)
