"""The diagnosis wizard driven end to end with Pilot on a fault-injected nt-tui run: symptoms,
facts, diagnostics, ranked causes, apply the fix, and the verification comparison."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from nt_tui.tui.app import NtTuiApp
from nt_tui.tui.screens.diagnose import DiagnosisScreen

from conftest import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "data" / "diagnosis"
WIZARD_RUN = FIXTURES / "wizard--lr_too_high"


async def settle(pilot, app) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause(0.2)


async def test_wizard_end_to_end_with_apply_fix_and_verification(tmp_path: Path):
    torch.set_num_threads(1)
    run = shutil.copytree(WIZARD_RUN, tmp_path / "run")
    app = NtTuiApp(area="diagnose", area_args={"path": str(run)})
    async with app.run_test(size=(120, 44)) as pilot:
        await settle(pilot, app)
        screen = app.screen
        assert isinstance(screen, DiagnosisScreen) and screen.step == "symptoms"
        assert screen.history is not None  # the path was read in the background
        await pilot.press("space")  # first symptom: loss plateau
        await pilot.press("down", "down", "space")  # third: loss unstable
        assert screen.symptoms == ["loss_plateau", "loss_unstable"]

        await pilot.press("ctrl+n")
        assert screen.step == "info"
        assert not screen.query("#missing-facts FormField")  # the run's files say it all
        assert "lr = 0.2" in str(screen.query_one("#known-facts").render())

        await pilot.press("ctrl+n")
        await settle(pilot, app)
        assert screen.step == "diagnostics"
        assert screen.diagnosis.top.cause == "lr_too_high"
        assert screen.diagnosis.symptoms == ["loss_plateau", "loss_unstable"]
        assert len(screen.query("#charts MetricPlot")) == 3  # loss, LR, grad norm

        await pilot.press("ctrl+n")
        assert screen.step == "hypotheses"
        text = str(screen.query_one("#hypothesis-text").render())
        for part in ("Cause:", "Confidence:", "Evidence:", "Fix:", "Alternatives:"):
            assert part in text
        assert "lr 2e-01 -> 1e-03" in text

        await pilot.press("ctrl+n")
        assert screen.step == "apply"
        assert "+  lr: 0.001" in str(screen.query_one("#fix-diff").render())
        await pilot.click("#save-fix")
        await pilot.pause(0.2)
        saved = Path(screen.fix_plan.path)
        assert saved.exists() and "lr: 0.001" in saved.read_text()
        assert "lr: 0.2" in (run / "config.yaml").read_text()

        screen.query_one("#verify-steps").value = "100"
        await pilot.click("#verify")
        await settle(pilot, app)
        status = str(screen.query_one("#verify-status").render())
        assert "loss at step 100:" in status and "->" in status and "spikes:" in status
        assert screen.comparison is not None and screen.comparison.last_step == 100
        assert len(screen.query("#compare-chart MetricPlot")) == 1

        await pilot.press("escape")
        assert not isinstance(app.screen, DiagnosisScreen)


async def test_wizard_asks_only_for_missing_facts_and_uses_them():
    log = next(path for path in (FIXTURES / "csv").iterdir() if "healthy" in path.name)
    app = NtTuiApp(area="diagnose", area_args={"path": str(log), "symptoms": ("loss_plateau",),
                                               "evidence": "monitor: loss plateau warning"})
    async with app.run_test(size=(120, 44)) as pilot:
        await settle(pilot, app)
        screen = app.screen
        assert "monitor: loss plateau warning" in str(screen.query_one("#opened-with").render())
        assert screen.symptoms == ["loss_plateau"]
        await pilot.press("ctrl+n")
        asked = {field.field_id for field in screen.query("#missing-facts FormField")}
        assert {"fact-vocab_size", "fact-lr", "fact-num_params"} <= asked
        screen.query_one("#fact-vocab_size").value = "65"
        await pilot.press("ctrl+n")
        await settle(pilot, app)
        assert screen.diagnosis.evidence.context.vocab_size == 65
        assert screen.diagnosis.evidence.context.sources["vocab_size"] == "you"
        await pilot.press("ctrl+n", "ctrl+n")
        assert screen.step == "apply"
        assert "nt-tui runs" in str(screen.query_one("#fix-text").render())
        assert screen.query_one("#verify").disabled


async def test_wizard_without_a_path_reads_the_one_typed():
    app = NtTuiApp(area="diagnose")
    async with app.run_test(size=(120, 44)) as pilot:
        await pilot.pause()
        screen = app.screen
        await pilot.press("ctrl+n")
        healthy = next(path for path in (FIXTURES / "nt_tui").iterdir()
                       if path.name.startswith("healthy--"))
        screen.query_one("#log-path").value = str(healthy)
        await pilot.press("ctrl+n")
        await settle(pilot, app)
        await settle(pilot, app)
        assert screen.step == "diagnostics" and screen.diagnosis.top.cause == "healthy"


TINY_CONFIG = """\
name: tiny
seed: 3
model: {n_layer: 1, n_head: 2, n_embd: 32}
data: {train: demo:tinyshakespeare, val_split: 0.1, batch_size: 8, seq_len: 32}
optimizer: {lr: 0.2}
schedule: {total_steps: 40, warmup_steps: 5}
checkpointing: {every: 40, keep_last: 1}
logging: {backends: [jsonl], every: 2, validate_every: 20, val_batches: 2,
          layer_grad_norms: true}
"""


async def test_wizard_shows_per_layer_gradients_worst_first(tmp_path: Path):
    """Step 3 of an nt-tui run that logs per-layer grad norms: the table of layers with
    the seed's flags, sorted by severity."""
    from nt_tui.config.defaults import resolve
    from nt_tui.config.loader import load_config
    from nt_tui.engine.trainer import Trainer

    torch.set_num_threads(1)
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    summary = Trainer(resolve(load_config(config), config), run_dir=tmp_path / "run").run()
    assert summary["status"] == "finished", summary["reason"]
    app = NtTuiApp(area="diagnose", area_args={"path": str(tmp_path / "run")})
    async with app.run_test(size=(120, 44)) as pilot:
        await settle(pilot, app)
        screen = app.screen
        await pilot.press("ctrl+n", "ctrl+n")
        await settle(pilot, app)
        await settle(pilot, app)
        assert screen.step == "diagnostics"
        table = screen.query_one("#layer-table")
        assert table.display and table.row_count >= 3
        assert [str(column.label) for column in table.columns.values()] == [
            "layer", "norm", "mean", "std", "max", "min", "issues"]
        assert "worst first" in str(screen.query_one("#gradient-note").render())
