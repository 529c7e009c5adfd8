"""Callbacks and the plain-Python logger write run directories nt-tui reads back.

Real tiny HF Trainer (random GPT-2 built from a config, nothing downloaded) and a real
Lightning run, each for a few CPU steps.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import nt_tui
from nt_tui.runfmt import CONFIG_FILE, EVENTS_FILE, METRICS_FILE, iter_jsonl


def records(run_dir: Path, name: str = METRICS_FILE) -> list[dict]:
    return [record for _, record in iter_jsonl(run_dir / name)]


def only_run_dir(root: Path) -> Path:
    (run_dir,) = [p for p in root.iterdir() if p.is_dir()]
    return run_dir


def test_plain_logger_context_manager(tmp_path: Path):
    with nt_tui.run("hand-loop", root=tmp_path, config={"lr": 0.1, "layers": [1, 2]}) as run:
        for step in range(5):
            run.log(step, train_loss=torch.tensor(2.0 - step * 0.1), lr=0.1, note="text")
    run_dir = only_run_dir(tmp_path)
    rows = records(run_dir)
    assert [r["step"] for r in rows] == [0, 1, 2, 3, 4]
    assert rows[-1]["train_loss"] == pytest.approx(1.6)
    assert "note" not in rows[0]
    assert "lr: 0.1" in (run_dir / CONFIG_FILE).read_text()
    assert [e["kind"] for e in records(run_dir, EVENTS_FILE)] == ["start", "finish"]


def test_plain_logger_records_a_crash_and_keeps_nan(tmp_path: Path):
    with pytest.raises(RuntimeError):
        with nt_tui.run("crash", root=tmp_path) as run:
            run.log(1, train_loss=float("nan"))
            raise RuntimeError("boom")
    run_dir = only_run_dir(tmp_path)
    assert math.isnan(records(run_dir)[0]["train_loss"])
    last = records(run_dir, EVENTS_FILE)[-1]
    assert last["kind"] == "failure" and "boom" in last["message"]


def test_module_level_log_opens_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    nt_tui.log(0, train_loss=3.0)
    nt_tui.log(10, train_loss=2.5)
    nt_tui.finish()
    run_dir = only_run_dir(tmp_path / "runs")
    assert [r["step"] for r in records(run_dir)] == [0, 10]


def test_hf_trainer_callback_writes_a_run(tmp_path: Path):
    transformers = pytest.importorskip("transformers")
    from nt_tui.integrations.hf import NtTuiCallback

    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=32, n_positions=16, n_embd=16, n_layer=1,
                                     n_head=2, bos_token_id=0,
                                     eos_token_id=0)
    model = transformers.GPT2LMHeadModel(config)
    data = [{"input_ids": torch.randint(0, 32, (16,)), "labels": None} for _ in range(32)]
    for item in data:
        item["labels"] = item["input_ids"].clone()
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=8, per_device_train_batch_size=4,
        logging_steps=2, eval_strategy="steps", eval_steps=4, report_to=[],
        use_cpu=True, save_strategy="no", disable_tqdm=True)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data,
                                   eval_dataset=data[:8],
                                   callbacks=[NtTuiCallback(root=tmp_path / "runs")])
    trainer.train()
    run_dir = only_run_dir(tmp_path / "runs")
    rows = records(run_dir)
    train = [r for r in rows if "train_loss" in r]
    assert [r["step"] for r in train] == [2, 4, 6, 8]
    assert all("lr" in r and "grad_norm" in r for r in train)
    assert [r["step"] for r in rows if "val_loss" in r] == [4, 8]
    assert "max_steps: 8" in (run_dir / CONFIG_FILE).read_text()
    assert records(run_dir, EVENTS_FILE)[-1]["kind"] == "finish"


def test_lightning_callback_writes_a_run(tmp_path: Path):
    pl = pytest.importorskip("lightning.pytorch")
    from nt_tui.integrations.lightning import NtTuiCallback

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.save_hyperparameters({"lr": 0.05})
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch, _):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, _):
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    torch.manual_seed(0)
    x = torch.randn(64, 4)
    data = torch.utils.data.TensorDataset(x, x.sum(dim=1, keepdim=True))
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    trainer = pl.Trainer(max_steps=16, log_every_n_steps=2, val_check_interval=8,
                         accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[NtTuiCallback(root=tmp_path / "runs")],
                         default_root_dir=tmp_path)
    trainer.fit(Tiny(), loader, loader)
    run_dir = only_run_dir(tmp_path / "runs")
    rows = records(run_dir)
    train = [r for r in rows if "train_loss" in r]
    assert len(train) >= 6 and all(r["lr"] == pytest.approx(0.05) for r in train)
    assert all(r["grad_norm"] > 0 for r in train)
    assert [r["step"] for r in rows if "val_loss" in r] == [8, 16]
    assert train[-1]["train_loss"] < train[0]["train_loss"]
