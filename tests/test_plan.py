"""Experiment plans: estimates from the config, budget warnings, plan files, CLI and screen."""

import json
from pathlib import Path

import pytest
import yaml
from textual.widgets import Input, Static

from conftest import EXAMPLES, run_cli
from nt_tui.cli import main
from nt_tui.config import load_config
from nt_tui.config.defaults import resolve
from nt_tui.config.preflight import apply_changes
from nt_tui.errors import NtTuiError
from nt_tui.planning import (default_plan_path, estimate_plan, load_plan, parse_plan,
                             plan_fields, write_plan)
from nt_tui.runfmt import RunWriter
from nt_tui.tui.app import NtTuiApp
from nt_tui.tui.screens.plan import PlanScreen

DEMO = EXAMPLES / "demo-tiny-gpt.yaml"


def _plan(**overrides):
    fields = {"name": "lr vs size", "question": "Does the best LR shrink with size?",
              "hypothesis": "yes", "base_config": str(DEMO),
              "variables": {"optimizer.lr": [1e-3, 3e-4], "model.size": ["nano", "micro"]},
              "seeds": [1, 2], "steps": 300}
    fields.update(overrides)
    return parse_plan(fields)


def _resolved(**changes):
    return resolve(apply_changes(load_config(DEMO), changes), DEMO)


def test_estimate_uses_the_configs_size_and_tokens():
    plan = _plan(throughput={"tokens_per_s": 20000})
    estimate = estimate_plan(plan)
    assert len(estimate.runs) == 4 and estimate.total_runs == 8
    by_size = {run.values["model.size"]: run for run in estimate.runs}
    nano = _resolved(**{"model.size": "nano"})
    assert by_size["nano"].params == nano.num_params
    assert by_size["nano"].tokens == 300 * nano.tokens_per_step
    assert by_size["nano"].flops == 6 * nano.num_params * by_size["nano"].tokens
    # Stated throughput is at the baseline (micro) size; a smaller model runs faster by N.
    micro = by_size["micro"]
    assert micro.seconds == pytest.approx(micro.tokens / 20000)
    assert by_size["nano"].seconds == pytest.approx(micro.seconds * nano.num_params /
                                                    micro.params)
    assert estimate.total_flops == pytest.approx(2 * sum(run.flops for run in estimate.runs))


def test_budget_warnings_per_run_and_total():
    fine = estimate_plan(_plan(throughput={"tokens_per_s": 1e6},
                               budget={"per_run": "10m", "total": "1h"}))
    assert not fine.over_budget and not fine.warnings
    slow = estimate_plan(_plan(throughput={"tokens_per_s": 2000},
                               budget={"per_run": "2m", "total": "10m"}))
    assert slow.over_budget
    assert any(run.over_budget for run in slow.runs if run.values["model.size"] == "micro")
    assert any("per-run budget" in warning for warning in slow.warnings)
    assert any("total budget" in warning for warning in slow.warnings)
    unknown = estimate_plan(_plan(budget={"per_run": "2m"}))
    assert unknown.total_seconds is None
    assert any("without a throughput" in warning for warning in unknown.warnings)


def test_measured_and_hardware_throughput(tmp_path: Path):
    run_dir = tmp_path / "measured"
    with RunWriter(run_dir) as writer:
        writer.log_metrics({"step": 10, "tokens_per_s": 5000.0})
        writer.write_summary({"num_params": 809856, "tokens_per_s": 8000.0})
    estimate = estimate_plan(_plan(throughput={"measured_from": str(run_dir)}))
    assert "measured 8,000 tokens/s" in estimate.throughput_note
    micro = next(run for run in estimate.runs if run.values["model.size"] == "micro")
    assert micro.seconds == pytest.approx(micro.tokens / 8000 * micro.params / 809856)
    gpu = estimate_plan(_plan(throughput={"gpus": 2, "peak_tflops": 100, "mfu": 0.5}))
    assert micro.flops == gpu.runs[1].flops
    assert gpu.runs[1].seconds == pytest.approx(gpu.runs[1].flops / (2 * 100e12 * 0.5))


def test_bad_variables_are_named():
    with pytest.raises(NtTuiError, match="did you mean 'optimizer.lr'"):
        estimate_plan(_plan(variables={"optimizer.lrr": [1]}))
    with pytest.raises(NtTuiError, match="optimizer.lr: Input should be greater than 0"):
        estimate_plan(_plan(variables={"optimizer.lr": [-1]}))
    with pytest.raises(NtTuiError, match="'seed' is set by the sweep itself: use seeds"):
        estimate_plan(_plan(variables={"seed": [1, 2]}))
    with pytest.raises(NtTuiError, match="repeats a value"):
        estimate_plan(_plan(variables={"optimizer.lr": [1e-3, 1e-3]}))
    with pytest.raises(NtTuiError, match="question"):
        _plan(question=" ")


def test_plan_file_round_trip_and_never_overwritten(tmp_path: Path):
    plan = _plan(budget={"per_run": "10m"}, throughput={"tokens_per_s": 1000})
    path = default_plan_path(plan, tmp_path)
    assert path.name == "lr-vs-size.yaml"
    write_plan(plan, path, estimate_plan(plan))
    document = yaml.safe_load(path.read_text())
    # What `nt-tui sweep` reads: the base config, a grid over values, seeds, the run length.
    assert document["method"] == "grid" and document["seeds"] == [1, 2]
    assert document["parameters"]["model.size"] == {"values": ["nano", "micro"]}
    assert document["max_steps"] == 300 and document["metric"] == "val_loss"
    assert not Path(document["base_config"]).is_absolute()
    assert (path.parent / document["base_config"]).resolve() == DEMO.resolve()
    assert document["plan"]["question"] == plan.question
    assert load_plan(path).variables == plan.variables
    assert default_plan_path(plan, tmp_path).name == "lr-vs-size-2.yaml"
    with pytest.raises(NtTuiError, match="already exists"):
        write_plan(plan, path)


def test_sweep_loads_the_plan_file(tmp_path: Path):
    """`nt-tui sweep`'s own loader accepts the file and sees the plan's grid and seeds."""
    from nt_tui.tuning.sweep_config import load_sweep

    plan = _plan(throughput={"tokens_per_s": 1000})
    path = write_plan(plan, tmp_path / "plans" / "p.yaml", estimate_plan(plan))
    loaded = load_sweep(path)
    assert loaded.base_config_path.resolve() == DEMO.resolve()
    assert loaded.spec.method == "grid" and loaded.spec.max_steps == 300
    assert loaded.spec.grid_size() == estimate_plan(plan).total_runs == 8
    assert loaded.study_name == "lr-vs-size"
    assert loaded.spec.plan["question"] == plan.question


def test_default_seed_is_the_configs(tmp_path: Path):
    plan = _plan(seeds=None)
    estimate = estimate_plan(plan)
    assert estimate.seeds == 1 and estimate.total_runs == 4
    document = yaml.safe_load(write_plan(plan, tmp_path / "s.yaml").read_text())
    assert "seeds" not in document  # the sweep then trains with the config's seed


def test_plan_fields_from_text():
    fields = plan_fields(name="x", question="q", base_config=str(DEMO),
                         vary=["optimizer.lr=1e-3,3e-4", " model.size = nano "],
                         seeds="1, 2", steps="50", tokens_per_s="1e4", budget_per_run="5m")
    plan = parse_plan(fields)
    assert plan.variables == {"optimizer.lr": [0.001, 0.0003], "model.size": ["nano"]}
    assert plan.seeds == [1, 2] and plan.steps == 50
    assert plan.throughput.tokens_per_s == 1e4 and plan.budget.seconds("per_run") == 300
    with pytest.raises(NtTuiError, match="cannot read variable"):
        plan_fields(vary=["optimizer.lr"])


def test_cli_writes_a_plan_and_reestimates_it(tmp_path: Path, capsys):
    out = tmp_path / "p.yaml"
    assert main(["plan", "--question", "Does LR matter?", "--base", str(DEMO),
                 "--vary", "optimizer.lr=1e-3,3e-4", "--seeds", "1,2", "--steps", "100",
                 "--tokens-per-s", "50000", "--budget-per-run", "1m", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"run it with: nt-tui sweep {out}" in printed
    assert "total: 4 runs (2 settings x 2 seed(s))" in printed
    assert main(["plan", str(out), "--tokens-per-s", "10", "--strict"]) == 1
    printed = capsys.readouterr().out
    assert "OVER BUDGET" in printed and "exceed the per-run budget" in printed
    assert main(["plan", str(out), "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["estimate"]["total_runs"] == 4


def test_cli_bad_input_is_one_line():
    missing = run_cli("plan", "--base", str(DEMO))
    assert missing.returncode == 2 and "needs --question" in missing.stderr
    assert "Traceback" not in missing.stderr


async def test_plan_screen_estimates_and_writes(tmp_path: Path):
    out = tmp_path / "screen-plan.yaml"
    app = NtTuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("p")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PlanScreen)
        values = {"question": "Does LR matter?", "base_config": str(DEMO),
                  "variables": "optimizer.lr=1e-3,3e-4", "steps": "100",
                  "tokens_per_s": "100", "budget_per_run": "1m", "out": str(out)}
        for field_id, value in values.items():
            screen.query_one(f"#{field_id}", Input).value = value
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        result = screen.query_one("#plan-result", Static)
        assert "OVER BUDGET" in str(result.content) and result.has_class("over-budget")
        assert not out.exists()
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert out.exists() and load_plan(out).question == "Does LR matter?"
        screen.query_one("#variables", Input).value = "optimizer.lrr=1"
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "did you mean 'optimizer.lr'" in str(result.content)
        assert any("lrr" in n.message for n in app._notifications)


async def test_plan_screen_opens_an_existing_plan(tmp_path: Path):
    plan = _plan(throughput={"tokens_per_s": 1000})
    path = write_plan(plan, tmp_path / "existing.yaml")
    app = NtTuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_area("plan", plan_path=path)
        await pilot.pause()
        form = app.screen.form_values()
        assert form["question"] == plan.question
        assert form["variables"] == "optimizer.lr=0.001,0.0003; model.size=nano,micro"
        assert form["seeds"] == "1,2" and form["tokens_per_s"] == "1000"
