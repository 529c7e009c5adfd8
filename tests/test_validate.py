"""`nt-tui validate`: a real tiny run's checkpoints evaluated, compared with the log, and
checked for NaN, zero and exploding weights; clear errors for missing, truncated and
incompatible checkpoints."""

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from textual.widgets import DataTable, Input, OptionList, Static

from conftest import EXAMPLES, run_cli
from nt_tui.checkpoint_validation import LOSS_AGREEMENT, render_text
from nt_tui.config import load_config
from nt_tui.config.defaults import resolve
from nt_tui.cli import main
from nt_tui.config.preflight import apply_changes
from nt_tui.engine.checkpoint import save_atomic
from nt_tui.engine.trainer import Trainer
from nt_tui.engine.validate import validate_checkpoint
from nt_tui.errors import NtTuiError
from nt_tui.runfmt import iter_jsonl
from nt_tui.tui.app import NtTuiApp
from nt_tui.tui.screens.validate import ValidateScreen

#: The demo config, shrunk to a nano model and a few steps so the test trains in seconds.
TINY = {"model.size": "nano", "data.batch_size": 4, "data.seq_len": 16,
        "schedule.total_steps": 8, "logging.every": 2, "logging.validate_every": 4,
        "logging.val_batches": 3, "checkpointing.every": 4}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished run of the demo config (nano, 8 steps): best.pt and step checkpoints."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("validate-runs")
    demo = EXAMPLES / "demo-tiny-gpt.yaml"
    config = apply_changes(load_config(demo), {**TINY, "logging.run_dir": str(root)})
    trainer = Trainer(resolve(config, demo))
    summary = trainer.run()
    assert summary["status"] == "finished", summary.get("reason")
    return trainer.run_dir


def _logged_val(run_dir: Path) -> dict[int, float]:
    return {record["step"]: record["val_loss"] for _, record in
            iter_jsonl(run_dir / "metrics.jsonl") if "val_loss" in record}


def test_best_checkpoint_reproduces_logged_validation_loss(run_dir: Path):
    report = validate_checkpoint(run_dir)
    logged = _logged_val(run_dir)
    assert Path(report.checkpoint.path).name == "best.pt"
    step = report.checkpoint.step
    assert abs(report.result.loss - logged[step]) / logged[step] < LOSS_AGREEMENT
    assert report.result.loss == pytest.approx(min(logged.values()), rel=1e-5)
    assert report.result.perplexity == pytest.approx(torch.tensor(report.result.loss).exp().item())
    assert 0 < report.result.accuracy < 1 and report.result.tokens_per_s > 0
    assert report.result.tokens == 3 * 4 * 16  # the run's val_batches x batch x seq_len
    assert report.ok and any("matches the logged" in f.message for f in report.findings)
    assert [layer.layer for layer in report.layers] == ["wte", "wpe", "blocks.0", "blocks.1",
                                                        "ln_f"]
    assert report.params == sum(layer.params for layer in report.layers)


def test_step_checkpoint_is_compared_with_best(run_dir: Path):
    report = validate_checkpoint(run_dir / "checkpoints" / "step_00000004.pt")
    assert report.checkpoint.step == 4
    assert report.logged_val_loss == pytest.approx(_logged_val(run_dir)[4], rel=1e-5)
    assert report.best is not None and report.best_path.endswith("best.pt")
    assert "best.pt" in render_text(report)


def test_test_set_and_batches(run_dir: Path, tmp_path: Path):
    text = tmp_path / "test.txt"
    text.write_text("To be, or not to be, that is the question.\n" * 20, encoding="utf-8")
    report = validate_checkpoint(run_dir, data=text, max_batches=2)
    assert report.result.data == str(text) and report.result.batches == 2
    assert not any("matches the logged" in f.message for f in report.findings)
    unknown = tmp_path / "unknown.txt"
    unknown.write_text("\u4e2d\u6587" * 100, encoding="utf-8")
    with pytest.raises(NtTuiError, match="not in the run's vocabulary"):
        validate_checkpoint(run_dir, data=unknown)


def _copy_run(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    return copy


def test_weight_health_nan_zero_exploding(run_dir: Path, tmp_path: Path, capsys):
    copy = _copy_run(run_dir, tmp_path)
    path = copy / "checkpoints" / "best.pt"
    state = torch.load(path, weights_only=True)
    state["model"]["blocks.0.attn.c_attn.weight"][0, 0] = float("nan")
    state["model"]["blocks.1.mlp.c_fc.weight"].zero_()
    state["model"]["blocks.1.mlp.c_proj.weight"].mul_(5000)
    save_atomic(state, path)
    report = validate_checkpoint(copy)
    assert not report.ok
    errors = " ".join(f.message for f in report.findings if f.level == "error")
    messages = " ".join(f.message for f in report.findings)
    assert "hold NaN/Inf: blocks.0.attn.c_attn.weight (1 values)" in errors
    assert "recomputed validation loss is nan" in errors
    assert "all zeros: blocks.1.mlp.c_fc.weight" in messages
    assert "exploded: blocks.1.mlp.c_proj.weight" in messages
    assert next(layer for layer in report.layers if layer.layer == "blocks.0").nonfinite == 1
    assert main(["validate", str(copy), "--no-best"]) == 1
    assert "NaN/Inf" in capsys.readouterr().out


def test_checkpoint_that_disagrees_with_the_log(run_dir: Path, tmp_path: Path):
    copy = _copy_run(run_dir, tmp_path)
    folder = copy / "checkpoints"
    # A step-4 checkpoint saved under step 8's name: step and metrics no longer agree.
    (folder / "step_00000008.pt").unlink()
    shutil.copy(folder / "step_00000004.pt", folder / "step_00000008.pt")
    state = torch.load(folder / "step_00000004.pt", weights_only=True)
    state["step"] = 8
    save_atomic(state, folder / "step_00000008.pt")
    report = validate_checkpoint(folder / "step_00000008.pt", compare_best=False)
    assert any(f.level == "error" and "differs from the logged" in f.message
               for f in report.findings)
    shutil.copy(folder / "step_00000004.pt", folder / "step_00000006.pt")
    renamed = validate_checkpoint(folder / "step_00000006.pt", compare_best=False)
    assert any("holds step 4, not 6" in f.message for f in renamed.findings)


def test_missing_truncated_and_incompatible(run_dir: Path, tmp_path: Path):
    with pytest.raises(NtTuiError, match="not found"):
        validate_checkpoint(tmp_path / "nowhere")
    copy = _copy_run(run_dir, tmp_path)
    best = copy / "checkpoints" / "best.pt"
    data = best.read_bytes()
    best.write_bytes(data[: len(data) // 2])
    with pytest.raises(NtTuiError, match="truncated"):
        validate_checkpoint(best)
    best.write_bytes(b"")
    with pytest.raises(NtTuiError, match="empty"):
        validate_checkpoint(best)
    # another checkpoint of the run still validates; the damaged best.pt is a finding
    report = validate_checkpoint(copy / "checkpoints" / "step_00000008.pt")
    assert report.best is None and math.isfinite(report.result.loss)
    assert any(f.level == "warning" and "not compared with best.pt" in f.message
               and "empty" in f.message for f in report.findings)
    other = tmp_path / "other.yaml"
    wider = yaml.safe_load((copy / "config.yaml").read_text())
    wider["model"].update(size="micro", n_layer=None, n_head=None, n_embd=None)
    other.write_text(yaml.safe_dump(wider))
    with pytest.raises(NtTuiError, match="does not fit the model") as error:
        validate_checkpoint(copy / "checkpoints" / "step_00000008.pt", config=other)
    assert "--config" in error.value.hint
    empty_run = tmp_path / "empty-run"
    (empty_run / "checkpoints").mkdir(parents=True)
    with pytest.raises(NtTuiError, match="no checkpoint in"):
        validate_checkpoint(empty_run)


def test_cli_report_and_errors(run_dir: Path, tmp_path: Path, capsys):
    assert main(["validate", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "matches the logged" in out and "perplexity" in out
    assert main(["validate", str(run_dir), "--json", "--batches", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["result"]["batches"] == 1 and report["ok"]
    assert main(["validate", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "checkpoint or run directory not found" in err and err.count("\n") == 1


def test_cli_on_the_best_checkpoint_reproduces_the_logged_val_loss_within_1_percent(
        run_dir: Path):
    """Issue 8's check through the real command line (a subprocess): `nt-tui validate RUN_DIR`
    picks best.pt and recomputes the validation loss logged at its step within 1%."""
    done = run_cli("validate", str(run_dir), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    logged = _logged_val(run_dir)
    step = report["checkpoint"]["step"]
    assert Path(report["checkpoint"]["path"]).name == "best.pt"
    assert logged[step] == min(logged.values())  # best.pt is the best logged validation
    assert abs(report["result"]["loss"] - logged[step]) / logged[step] < LOSS_AGREEMENT
    assert report["logged_val_loss"] == pytest.approx(logged[step], rel=1e-6)


async def test_validate_screen_shows_report_and_opens_guides(run_dir: Path, tmp_path: Path):
    copy = _copy_run(run_dir, tmp_path)
    state = torch.load(copy / "checkpoints" / "best.pt", weights_only=True)
    state["model"]["ln_f.weight"][0] = float("inf")
    save_atomic(state, copy / "checkpoints" / "best.pt")
    app = NtTuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_area("validate", path=run_dir)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ValidateScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "loss" in str(screen.query_one("#validate-summary", Static).content)
        assert screen.query_one("#validate-layers", DataTable).row_count == 5
        assert screen.report.ok
        screen.query_one("#path", Input).value = str(copy)
        screen.action_validate()
        await app.workers.wait_for_complete()
        await pilot.pause()
        findings = screen.query_one("#validate-findings", OptionList)
        assert "NaN/Inf" in str(findings.get_option_at_index(0).prompt)
        findings.focus()
        findings.highlighted = 0
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, ValidateScreen)  # the guide opened
