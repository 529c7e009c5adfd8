"""Apply-fix and verification, and per-layer gradient analysis, on real (tiny) nt-tui runs."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch

from nt_tui.analysis.diagnosis import diagnose_path
from nt_tui.analysis.diagnosis.remedy import (
    compare, pick_checkpoint, plan_fix, run_verification, save_fix)
from nt_tui.analysis.gradients import (
    EXPLOSION, IMBALANCE, VANISHING, LayerGradStats, flag_layers, from_checkpoint, from_history,
    layer_stats)
from nt_tui.errors import NtTuiError
from nt_tui.runlogs import load_run

from conftest import REPO_ROOT

WIZARD_RUN = REPO_ROOT / "tests" / "data" / "diagnosis" / "wizard--lr_too_high"
TINY_CONFIG = """\
name: tiny
seed: 3
model: {n_layer: 1, n_head: 2, n_embd: 32}
data: {train: demo:tinyshakespeare, val_split: 0.1, batch_size: 8, seq_len: 32}
optimizer: {lr: 0.2}
schedule: {total_steps: 60, warmup_steps: 5}
checkpointing: {every: 30, keep_last: 3}
logging: {backends: [jsonl], every: 2, validate_every: 30, val_batches: 2,
          layer_grad_norms: true}
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60-step run of a 16k-parameter GPT with checkpoints at 30 and 60 (~2 s on CPU)."""
    from nt_tui.config.defaults import resolve
    from nt_tui.config.loader import load_config
    from nt_tui.engine.trainer import Trainer

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("tiny")
    config = folder / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    summary = Trainer(resolve(load_config(config), config), run_dir=folder / "run").run()
    assert summary["status"] == "finished", summary["reason"]
    return folder / "run"


def test_fix_is_a_new_file_with_a_diff(tmp_path: Path):
    run = shutil.copytree(WIZARD_RUN, tmp_path / "run")
    before = (run / "config.yaml").read_text()
    diagnosis = diagnose_path(run)
    assert diagnosis.top.cause == "lr_too_high"
    plan = plan_fix(run, diagnosis.top.cause, diagnosis.top.changes)
    assert "-  lr: 0.2" in plan.diff and "+  lr: 0.001" in plan.diff
    path = save_fix(plan)
    assert path.parent == tmp_path and path.name.endswith(".fix-lr_too_high.yaml")
    assert (run / "config.yaml").read_text() == before
    again = save_fix(plan_fix(run, diagnosis.top.cause, diagnosis.top.changes))
    assert again != path and path.exists()  # never overwrites
    with pytest.raises(NtTuiError, match="not a config change"):
        plan_fix(run, "label_leakage", {})


def test_verification_from_scratch_compares_with_numbers(tmp_path: Path):
    run = shutil.copytree(WIZARD_RUN, tmp_path / "run")
    diagnosis = diagnose_path(run)
    plan = plan_fix(run, "lr_too_high", diagnosis.top.changes)
    save_fix(plan)
    seen: list[int] = []
    verify_dir, start = run_verification(plan, 100, from_checkpoint=False,
                                         on_metrics=lambda r: seen.append(r["step"]))
    assert start == 0 and seen and seen[-1] >= 100
    comparison = compare(load_run(run), load_run(verify_dir), start)
    assert comparison.last_step == 100
    assert comparison.loss_before is not None and comparison.loss_after is not None
    text = comparison.sentences()[0]
    assert "loss at step 100:" in text and "->" in text and "spikes:" in text
    with pytest.raises(NtTuiError, match="outside"):
        run_verification(plan, 5, from_checkpoint=False)


def test_verification_from_checkpoint_resumes_inside_the_original(tiny_run: Path, tmp_path: Path):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    path, step = pick_checkpoint(run, 100, original_last_step=60)
    assert step == 30 and path.name == "step_00000030.pt"  # the earliest: nothing fits inside
    plan = plan_fix(run, "lr_too_high", {"optimizer.lr": 1e-3})
    save_fix(plan)
    verify_dir, start = run_verification(plan, 100, from_checkpoint=True, original_last_step=60)
    assert start == 30
    verification = load_run(verify_dir)
    assert verification.frame["step"].min() > 30 and verification.frame["step"].max() >= 130
    comparison = compare(load_run(run), verification, start)
    assert comparison.first_step == 30 and comparison.last_step == 60


def test_gradient_stats_from_a_checkpoint_and_from_the_log(tiny_run: Path):
    report = from_checkpoint(tiny_run)
    names = {layer.name for layer in report.layers}
    assert {"blocks.0.attn.c_attn", "lm_head"} & names or "ln_f" in names
    for layer in report.layers:
        assert layer.norm >= 0 and layer.std is not None and layer.maximum >= layer.minimum
    severities = [layer.severity for layer in report.layers]
    assert severities == sorted(severities, reverse=True)
    logged = from_history(load_run(tiny_run))
    assert logged is not None and "step 60" in logged.source and logged.layers


def test_issue_flags_follow_the_seed_thresholds():
    layers = [LayerGradStats("a", 0.5), LayerGradStats("b", 500.0), LayerGradStats("c", 1e-9),
              LayerGradStats("d", math.inf)]
    report = flag_layers(layers, "test")
    flags = {layer.name: layer.flags for layer in report.layers}
    assert flags["b"] == [EXPLOSION, IMBALANCE] and flags["d"] == [EXPLOSION]
    assert flags["c"] == [VANISHING, IMBALANCE]
    assert flags["a"] == []
    assert [layer.name for layer in report.layers][-1] == "a"
    assert report.imbalance_ratio == pytest.approx(5e11)


def test_layer_stats_group_parameters_by_module():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    model(torch.ones(5, 4)).sum().backward()
    stats = {layer.name: layer for layer in layer_stats(model)}
    assert set(stats) == {"0", "1"}
    weight, bias = model[1].weight.grad, model[1].bias.grad
    expected = torch.cat([weight.reshape(-1), bias]).norm().item()
    assert stats["1"].norm == pytest.approx(expected)
