"""LR finder: the curve analysis on synthetic curves (no torch), and the new config."""

from __future__ import annotations

import math

import json

import numpy as np
import pytest
import yaml

from conftest import EXAMPLES, run_cli
from nt_tui.config import load_config
from nt_tui.errors import NtTuiError
from nt_tui.tuning.lr_finder import (DIVERGENCE_FACTOR, DIVERGENCE_FRACTION, LRSuggestion,
                                     analyse_curve, divergence_index, free_config_path,
                                     lr_schedule, round_lr, smooth, write_lr_config)


def synthetic_curve(steps: int = 120, steep_at: float = 1e-3, diverge_at: float = 3e-2,
                    noise: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A range test as it usually looks: flat, a sigmoid fall centred at `steep_at` (per
    decade of LR), a minimum, then a blow-up past `diverge_at`."""
    lrs = lr_schedule(1e-6, 1.0, steps)
    x = np.log10(lrs)
    fall = 2.0 / (1 + np.exp(-(x - math.log10(steep_at)) * 3))
    blow_up = np.where(x > math.log10(diverge_at), 40 * (x - math.log10(diverge_at)) ** 2, 0)
    losses = 4.0 - fall + blow_up
    if noise:
        losses = losses + np.random.default_rng(seed).normal(0, noise, steps)
    return lrs, losses


def test_schedule_is_geometric_and_checks_its_range():
    lrs = lr_schedule(1e-6, 1.0, 61)
    assert lrs[0] == pytest.approx(1e-6) and lrs[-1] == pytest.approx(1.0)
    ratios = lrs[1:] / lrs[:-1]
    assert np.allclose(ratios, ratios[0])  # the same factor every step: 10 steps per decade
    assert ratios[0] == pytest.approx(10 ** 0.1)
    with pytest.raises(NtTuiError, match="rise from a positive start"):
        lr_schedule(1e-2, 1e-3, 50)
    with pytest.raises(NtTuiError, match="too few"):
        lr_schedule(1e-6, 1.0, 3)


def test_smoothing_is_bias_corrected_and_follows_a_step():
    assert np.allclose(smooth([2.5] * 30), 2.5)  # no pull towards 0 at the start
    step = smooth([1.0] * 20 + [3.0] * 60, beta=0.9)
    assert step[19] == pytest.approx(1.0)
    assert 1.0 < step[25] < 3.0  # lags behind the jump ...
    assert step[-1] == pytest.approx(3.0, abs=0.01)  # ... and catches up
    assert math.isnan(smooth([1.0, float("nan"), 1.0])[-1])


def test_divergence_is_a_multiple_of_the_minimum_or_a_nan():
    values = [4.0, 3.0, 2.0, 1.0, 1.5, 3.9, DIVERGENCE_FACTOR * 1.0 + 0.1, 9.0]
    assert divergence_index(values) == 6
    assert divergence_index([4.0, 3.0, 2.0, 2.5]) is None
    assert divergence_index([4.0, 3.0, float("inf")]) == 2


def test_steepest_descent_is_found_on_a_clean_curve():
    lrs, losses = synthetic_curve(steep_at=1e-3)
    smoothed, suggestion = analyse_curve(lrs, losses)
    assert suggestion.rule == "steepest"
    # the smoothing lags a little: the fastest fall is read within half a decade
    assert 1e-3 / 3 < suggestion.lr < 1e-3 * 3
    assert suggestion.steepest_lr < suggestion.min_loss_lr
    assert suggestion.divergence_rule_lr == pytest.approx(
        DIVERGENCE_FRACTION * suggestion.min_loss_lr)
    assert suggestion.diverged_lr is not None and suggestion.diverged_lr > 3e-2
    assert len(smoothed) == len(lrs)


@pytest.mark.parametrize("steep_at", [1e-4, 3e-3])
def test_suggestion_moves_with_the_curve_under_noise(steep_at: float):
    lrs, losses = synthetic_curve(steep_at=steep_at, diverge_at=steep_at * 30, noise=0.05)
    _, suggestion = analyse_curve(lrs, losses)
    assert steep_at / 4 < suggestion.lr < steep_at * 4


def test_divergence_rule_is_a_tenth_of_the_minimum():
    lrs, losses = synthetic_curve(steep_at=1e-3, diverge_at=3e-2)
    smoothed, suggestion = analyse_curve(lrs, losses, rule="divergence")
    minimum = int(np.argmin(smoothed[:divergence_index(smoothed)]))
    assert suggestion.rule == "divergence"
    assert suggestion.min_loss_lr == pytest.approx(lrs[minimum])
    assert suggestion.lr == round_lr(lrs[minimum] / 10)
    assert "a tenth of LR" in suggestion.explanation


def test_auto_falls_back_to_divergence_without_a_clear_descent():
    lrs = lr_schedule(1e-6, 1.0, 80)
    x = np.log10(lrs)
    # flat, then rising: the loss never falls, so there is no steepest descent
    losses = 3.0 + np.where(x > -2, 30 * (x + 2) ** 2, 0)
    _, suggestion = analyse_curve(lrs, losses)
    assert suggestion.rule == "divergence"
    assert suggestion.steepest_lr is None
    with pytest.raises(NtTuiError, match="no clear descent"):
        analyse_curve(lrs, losses, rule="steepest")


def test_bad_curves_are_refused():
    with pytest.raises(NtTuiError, match="diverged at once"):
        analyse_curve([1e-6, 1e-5, 1e-4], [float("nan")] * 3)
    with pytest.raises(NtTuiError, match="unknown LR rule"):
        analyse_curve([1e-6, 1e-5], [1.0, 1.0], rule="fastest")  # type: ignore[arg-type]


def test_round_lr_keeps_two_significant_digits():
    assert round_lr(0.0012345) == 0.0012
    assert round_lr(3.96e-4) == 0.0004


def _suggestion(lr: float) -> LRSuggestion:
    return LRSuggestion(lr=lr, rule="steepest", explanation="steepest descent: test",
                        steepest_lr=lr, min_loss_lr=lr * 10, divergence_rule_lr=lr,
                        diverged_lr=None, min_loss=2.0)


def test_new_config_keeps_the_original_and_never_overwrites(tmp_path):
    (tmp_path / "text.txt").write_text("hello world " * 50)
    original = tmp_path / "cfg.yaml"
    original_text = ("# my notes\nmodel: {size: nano}\ndata: {train: text.txt}\n"
                     "optimizer: {lr: 0.1}\nlogging: {backends: [jsonl]}\n")
    original.write_text(original_text)
    first = write_lr_config(original, _suggestion(1.2e-3))
    assert first == tmp_path / "cfg-lr-find.yaml"
    assert original.read_text() == original_text
    assert load_config(first).optimizer.lr == 1.2e-3
    assert load_config(first).data.train == "text.txt"  # same folder: paths unchanged
    assert "steepest descent" in first.read_text().splitlines()[1]
    second = write_lr_config(original, _suggestion(2e-3))
    assert second == tmp_path / "cfg-lr-find-2.yaml" == free_config_path(original).with_name(
        "cfg-lr-find-2.yaml")
    assert load_config(first).optimizer.lr == 1.2e-3
    with pytest.raises(NtTuiError, match="already exists"):
        write_lr_config(original, _suggestion(2e-3), out=first)


def test_new_config_elsewhere_gets_absolute_data_paths(tmp_path):
    (tmp_path / "text.txt").write_text("hello world " * 50)
    original = tmp_path / "cfg.yaml"
    original.write_text("model: {size: nano}\ndata: {train: text.txt}\n")
    out = tmp_path / "elsewhere" / "tuned.yaml"
    write_lr_config(original, _suggestion(5e-4), out=out)
    data = yaml.safe_load(out.read_text())
    assert data["data"]["train"] == str((tmp_path / "text.txt").resolve())
    assert data["optimizer"]["lr"] == 5e-4


#: The LR a small AdamW-trained Transformer can take lies within these bounds (the size table
#: uses 6e-4 to 1e-3 for small GPTs; character models train well up to about 1e-2): a
#: suggestion outside them means the test or its analysis is broken.
SANE_LR = (1e-4, 5e-2)


def test_cli_on_the_demo_config_suggests_a_sane_lr_and_writes_a_new_config(tmp_path):
    """Issue 8's check, through the real CLI: the range test on the demo config (its data and
    optimizer; nano model and short sequences so it runs in seconds) suggests an LR inside a
    sane range, writes it into a new config, and never touches the original."""
    demo = yaml.safe_load((EXAMPLES / "demo-tiny-gpt.yaml").read_text(encoding="utf-8"))
    demo["model"]["size"] = "nano"
    demo["data"].update(batch_size=8, seq_len=32)
    config = tmp_path / "demo.yaml"
    config.write_text(yaml.safe_dump(demo, sort_keys=False), encoding="utf-8")
    original = config.read_bytes()
    env = {"OMP_NUM_THREADS": "1"}

    done = run_cli("lr-find", str(config), "--steps", "60", "--json", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    suggestion = result["suggestion"]
    assert SANE_LR[0] <= suggestion["lr"] <= SANE_LR[1], suggestion
    assert len(result["lrs"]) == len(result["losses"]) >= 30
    assert result["losses"][0] > min(result["losses"])  # the loss fell on the way
    written = tmp_path / "demo-lr-find.yaml"
    assert result["written"] == str(written)
    assert load_config(written).optimizer.lr == suggestion["lr"]
    assert load_config(written).data.train == "demo:tinyshakespeare"
    assert config.read_bytes() == original

    again = run_cli("lr-find", str(config), "--steps", "60", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert "Suggested learning rate" in again.stdout and "\x1b[" not in again.stdout
    assert (tmp_path / "demo-lr-find-2.yaml").exists()  # a new name, nothing overwritten
    assert load_config(written).optimizer.lr == suggestion["lr"]
    assert config.read_bytes() == original
