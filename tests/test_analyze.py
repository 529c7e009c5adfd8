"""Curve interpretation on curves with known shapes, the Markdown report and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import CORPUS, run_cli
from nt_tui.analysis.curves import charts, interpret
from nt_tui.analysis.report import downsample, markdown_report
from nt_tui.runlogs.history import RunHistory
from nt_tui.runlogs.tidy import build_history

SLM_V0 = CORPUS / "lightning_csv" / "0Xero7__slm_training__v0_metrics.csv"
SLM_V5 = CORPUS / "lightning_csv" / "0Xero7__slm_training__v5_metrics.csv"


def history_of(name: str = "run", **columns) -> RunHistory:
    return build_history(pd.DataFrame(columns), name=name, source=f"{name}.csv", format="csv")


def decaying(steps: np.ndarray, start: float = 4.0, floor: float = 1.5,
             scale: float = 300.0) -> np.ndarray:
    return floor + (start - floor) * np.exp(-steps / scale)


def test_improving_run_gives_trend_numbers():
    steps = np.arange(0, 1000, 10)
    result = interpret(history_of(step=steps, loss=decaying(steps, scale=2000.0)))
    fit = result.curves["train_loss"].trend
    assert fit.points == 20 and fit.start_step == 800 and fit.end_step == 990
    assert fit.relative_change == pytest.approx(decaying(np.array([990]), scale=2000.0)[0]
                                                / decaying(np.array([800]), scale=2000.0)[0] - 1,
                                                abs=0.002)
    assert fit.slope_per_1k < 0 and fit.cv < 0.01
    assert [c.title for c in result.conclusions] == ["no validation loss",
                                                    "train_loss is still improving"]


def test_plateau_is_found_with_its_start_and_the_exhausted_schedule():
    steps = np.arange(0, 2000, 10)
    loss = decaying(steps, scale=100.0)
    lr = np.where(steps < 1000, 1e-3 * (1 - steps / 1000), 1e-6)
    result = interpret(history_of(step=steps, loss=loss, lr=lr))
    curve = result.curves["train_loss"]
    assert curve.plateau_since is not None and 400 <= curve.plateau_since <= 600
    plateau = next(c for c in result.conclusions if c.title == "train_loss has plateaued")
    assert plateau.knowledge == "common-failures.md#schedule-exhausted"
    assert result.lr.near_zero_share > 0.5


def test_spikes_are_counted_with_their_steps_and_size():
    steps = np.arange(0, 1000, 5)
    rng = np.random.default_rng(1)
    loss = decaying(steps) * (1 + 0.01 * rng.standard_normal(len(steps)))
    loss[steps == 400] *= 3.0
    loss[steps == 700] *= 2.5
    result = interpret(history_of(step=steps, loss=loss))
    spikes = result.curves["train_loss"].spikes
    assert [s.step for s in spikes] == [400, 700]
    assert spikes[0].ratio == pytest.approx(3.0, rel=0.05)
    detail = next(c for c in result.conclusions if c.title == "train_loss spikes").detail
    assert "2 spike(s) at steps 400, 700" in detail and "3.0x" in detail


def test_overfitting_onset_and_best_checkpoint():
    steps = np.arange(0, 3000, 10)
    val_steps = np.arange(250, 3000, 250)
    val = 2.0 + 0.0000004 * (val_steps - 1000) ** 2
    frame = pd.DataFrame({"step": steps, "loss": decaying(steps, floor=0.5, scale=800.0)})
    frame = frame.merge(pd.DataFrame({"step": val_steps, "eval_loss": val}), how="outer")
    result = interpret(build_history(frame, name="ft", source="ft", format="csv"))
    assert result.validation.best_step == 1000 and result.validation.best == pytest.approx(2.0)
    assert result.validation.overfit_onset_step == 1250
    assert result.conclusions[0].title == "overfitting"
    assert "keep the checkpoint from step 1,000" in result.conclusions[0].detail


def test_divergence_and_nan_are_critical_and_ranked_first():
    steps = np.arange(0, 500, 5)
    loss = np.concatenate([decaying(steps[:60]), np.linspace(2.5, 6.0, 40)])
    loss[-1] = np.inf
    result = interpret(history_of(step=steps, loss=loss))
    assert [c.severity for c in result.conclusions[:2]] == ["critical", "critical"]
    assert result.conclusions[0].title == "train_loss has NaN/Inf values"
    assert result.conclusions[1].title == "train_loss is rising (diverging)"


def test_lr_relation_and_throughput_stability():
    steps = np.arange(0, 2000, 10)
    lr = np.interp(steps, [0, 200, 2000], [0, 1e-3, 1e-5])
    speed = np.full(len(steps), 1000.0)
    speed[::7] = 300.0
    result = interpret(history_of(step=steps, loss=decaying(steps, scale=400.0), lr=lr,
                                  samples_per_s=speed))
    assert result.lr.peak == pytest.approx(1e-3) and result.lr.peak_step == 200
    assert result.lr.warmup_steps == 200
    assert 0.5 < result.lr.decrease_share_at_high_lr <= 1.0
    assert result.throughput.metric == "throughput" and result.throughput.drops >= 25
    assert result.throughput.cv > 0.15
    assert "throughput is unsteady" in [c.title for c in result.conclusions]


def test_baseline_same_step_deltas_and_steps_to_reach():
    steps = np.arange(0, 2000, 10)
    fast = history_of("fast", step=steps, loss=decaying(steps, scale=200.0))
    slow = history_of("slow", step=steps, loss=decaying(steps, scale=400.0))
    comparison = interpret(fast, slow).baseline
    assert comparison.aligned_by == "step" and comparison.overlap == (0, 1990)
    assert comparison.deltas[1].step == 990 and comparison.deltas[1].delta < 0
    assert comparison.mean_relative_delta < 0
    assert comparison.speedup == pytest.approx(2.0, rel=0.1)


def test_baseline_aligned_by_relative_step_for_resumed_runs():
    steps = np.arange(5000, 7000, 10)
    late = history_of("late", step=steps, loss=decaying(steps - 5000, scale=200.0))
    early = history_of("early", step=steps - 5000, loss=decaying(steps - 5000, scale=200.0))
    comparison = interpret(late, early).baseline
    assert comparison.aligned_by == "relative"
    assert comparison.mean_relative_delta == pytest.approx(0.0, abs=1e-9)


def test_charts_come_first_and_downsampling_keeps_spikes():
    steps = list(range(10_000))
    values = [1.0] * 10_000
    values[5_123] = 50.0
    kept_steps, kept = downsample(steps, values, 200)
    assert len(kept) <= 200 and 50.0 in kept and 5_123 in kept_steps
    history = history_of(step=np.arange(10), loss=np.linspace(3, 2, 10), lr=np.full(10, 1e-3))
    assert [c.title for c in charts(history)] == ["Loss", "Learning rate"]


def test_markdown_report_with_png_and_text_plots(tmp_path: Path):
    from nt_tui.runlogs import load_run

    history = load_run(SLM_V5)
    baseline = load_run(SLM_V0)
    result = interpret(history, baseline)
    report = tmp_path / "report.md"
    text = markdown_report(result, charts(history, baseline), report)
    assert text.index("## Plots") < text.index("## Numbers") < text.index("## Conclusions")
    png = tmp_path / "report-loss.png"
    assert f"![Loss]({png.name})" in text and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| train_loss | 1126 |" in text
    text_only = markdown_report(result, charts(history), images="text")
    assert "```text" in text_only and "┤" in text_only and "\x1b" not in text_only


def test_cli_analyze_with_baseline_and_report(tmp_path: Path):
    report = tmp_path / "out.md"
    done = run_cli("analyze", str(SLM_V5), "--baseline", str(SLM_V0), "--report", str(report),
                   "--text-plots")
    assert done.returncode == 0, done.stderr
    text = report.read_text()
    assert "Baseline **0Xero7__slm_training__v0_metrics**" in text
    assert "aligned by steps from each start" in text
    done = run_cli("analyze", str(SLM_V5), "--json", "--align", "step")
    payload = json.loads(done.stdout)
    assert payload["validation"]["best_step"] == 154813
    assert payload["format"] == "lightning_csv"


def test_cli_analyze_overlays_a_folder_of_runs(tmp_path: Path):
    """A directory of runs: one comparison with every run on the same charts, lined up by
    steps since each start (v5 resumes at 140,749), then each run's own report."""
    report = tmp_path / "runs.md"
    done = run_cli("analyze", str(SLM_V5.parent), "--report", str(report), "--text-plots")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "runs-comparison.md").read_text()
    assert text.startswith("# Comparison of 4 runs (aligned by steps from each start)")
    plots, numbers = text.index("## Plots"), text.index("## Numbers")
    assert plots < numbers
    for name in ("0Xero7__slm_training__v0_metrics", "0Xero7__slm_training__v5_metrics",
                 "0Xero7__slm_training__v8_metrics", "BvoJa__GPTTT__v0_metrics"):
        assert f"train_loss {name}\n" in text[plots:numbers]  # in the overlaid legend
        assert f"| {name} | lightning_csv |" in text[numbers:]
    assert "steps since start" in text[plots:numbers]
    assert "| 0Xero7__slm_training__v5_metrics | lightning_csv | 1,130 |" in text
    assert len(list(tmp_path.glob("runs-[1-4]-*.md"))) == 4

    done = run_cli("analyze", str(SLM_V5.parent), "--align", "step")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# Comparison of 4 runs (aligned by step)")
