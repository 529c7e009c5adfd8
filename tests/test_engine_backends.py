"""Every logging backend writes its files in one run: CSV, TensorBoard (read back with
TensorBoard's own EventAccumulator), Weights & Biases offline, and the user callback."""

from __future__ import annotations

import csv
import json

import pytest
import torch
import yaml

from nt_tui.config import load_config
from nt_tui.config.preflight import run_preflight
from nt_tui.engine.control import METRIC_KEYS
from nt_tui.engine.trainer import Trainer

CALLBACK = '''
import json, pathlib
OUT = pathlib.Path(__file__).with_name("callback_log.jsonl")

def on_train(kind, data):
    with OUT.open("a") as handle:
        handle.write(json.dumps({"kind": kind, "step": data.get("step"),
                                 "what": data.get("kind")}) + "\\n")
'''


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_all_backends_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-home"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    (tmp_path / "wandb-home").mkdir()
    (tmp_path / "my_callback.py").write_text(CALLBACK)
    config = {
        "name": "backends", "seed": 0, "model": {"size": "nano"},
        "data": {"val_split": 0.1, "batch_size": 4, "seq_len": 16},
        "schedule": {"total_steps": 12},
        "logging": {"backends": ["jsonl", "csv", "tensorboard", "wandb", "callback"],
                    "callback": "my_callback:on_train", "every": 4, "validate_every": 12,
                    "val_batches": 1, "run_dir": str(tmp_path / "runs"),
                    "layer_grad_norms": True},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    preflight = run_preflight(load_config(path), path)
    assert preflight.ok
    summary = Trainer(preflight.resolved).run()
    assert summary["status"] == "finished", summary["reason"]
    run_dir = tmp_path / "runs"
    run_dir = next(run_dir.iterdir())

    with open(run_dir / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["step"]) for row in rows] == [4, 8, 12]
    assert list(rows[0]) == list(METRIC_KEYS) and rows[-1]["val_loss"] and not rows[0]["val_loss"]

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(summary["logs"]["tensorboard"])
    accumulator.Reload()
    tags = accumulator.Tags()["scalars"]
    assert {"train_loss", "lr", "grad_norm", "val_loss", "tokens_per_s"} <= set(tags)
    assert any(tag.startswith("layer_grad_norm/blocks.0") for tag in tags)
    losses = accumulator.Scalars("train_loss")
    assert [event.step for event in losses] == [4, 8, 12]
    assert losses[0].value == pytest.approx(float(rows[0]["train_loss"]), rel=1e-5)

    wandb_dir = summary["logs"]["wandb"]
    assert wandb_dir.startswith(str(tmp_path / "wandb-home"))
    offline = list((tmp_path / "wandb-home" / "wandb").glob("offline-run-*"))
    assert len(offline) == 1 and list(offline[0].glob("*.wandb"))

    calls = [json.loads(line) for line in (tmp_path / "callback_log.jsonl").read_text()
             .splitlines()]
    assert [c["step"] for c in calls if c["kind"] == "metrics"] == [4, 8, 12]
    assert {"start", "finish", "checkpoint"} <= {c["what"] for c in calls if c["kind"] == "event"}
