"""Sweep files: schema, file:line errors, the search space's mapping onto Optuna, storage and
trial settings. No training here."""

from __future__ import annotations

import optuna
import pytest
import yaml

from nt_tui.config.loader import ConfigError
from nt_tui.errors import NtTuiError
from nt_tui.tuning.sweep import check_base
from nt_tui.tuning.sweep_config import (DEFAULT_STARTUP_TRIALS, DEFAULT_TRIALS, key_kind,
                                        load_sweep, parse_sweep_text, storage_url,
                                        suggest_values, trial_changes)

FULL = """\
name: full
base_config: base.yaml
method: tpe
trials: 8
max_steps: 40
seeds: [1, 2]
overrides:
  logging.validate_every: 5
parameters:
  optimizer.lr: {low: 1e-5, high: 1e-2, log: true}
  optimizer.weight_decay: {values: [0.0, 0.1]}
  schedule.warmup_steps: {low: 0, high: 20, step: 10}
  data.batch_size: {values: [4, 8]}
  model.size: {values: [nano, micro]}
  schedule.name: {values: [cosine, constant_with_final_decay]}
  regularization.dropout: {low: 0, high: 0.2}
"""


def write_base(folder, extra: str = "data: {train: text.txt, val_split: 0.2, "
                                     "batch_size: 4, seq_len: 16}\n"):
    (folder / "text.txt").write_text("the quick brown fox jumps over the lazy dog. " * 40)
    (folder / "base.yaml").write_text(
        "model: {size: nano}\n" + extra +
        "schedule: {total_steps: 100}\nlogging: {backends: [jsonl]}\n")


def test_full_file_parses_with_defaults():
    spec = parse_sweep_text(FULL, "full.yaml")
    assert spec.parameters["optimizer.lr"].low == 1e-5  # `1e-5` is a number, not text
    assert spec.parameters["optimizer.lr"].log
    assert spec.uses_pruning and spec.pruning.startup_trials == DEFAULT_STARTUP_TRIALS
    assert spec.target_trials() == 8 and spec.target_trials(3) == 3
    assert not spec.seed_axis  # tpe trials rotate the seeds instead
    minimal = parse_sweep_text("base_config: b.yaml\nparameters:\n"
                               "  optimizer.lr: {values: [1e-3]}\n")
    assert minimal.method == "tpe" and minimal.target_trials() == DEFAULT_TRIALS
    assert minimal.metric == "val_loss" and minimal.direction == "minimize"


def test_plan_files_are_sweep_files():
    """`nt-tui plan` writes the file `nt-tui sweep` runs: the plan's document must parse."""
    from nt_tui.planning import parse_plan, sweep_document

    plan = parse_plan({"name": "lr-vs-size", "question": "Does the best LR shrink?",
                       "base_config": "base.yaml", "seeds": [1, 2, 3], "steps": 50,
                       "variables": {"optimizer.lr": [1e-3, 3e-4],
                                     "model.size": ["nano", "micro"]}})
    text = yaml.safe_dump(sweep_document(plan), sort_keys=False)
    spec = parse_sweep_text(text, "plans/lr-vs-size.yaml")
    assert spec.method == "grid" and spec.max_steps == 50
    assert spec.grid_space() == {"optimizer.lr": [1e-3, 3e-4], "model.size": ["nano", "micro"],
                                 "seed": [1, 2, 3]}
    assert spec.grid_size() == spec.target_trials() == 12  # every combination x every seed
    assert not spec.uses_pruning  # a plan's runs all finish unless it asks for pruning
    assert spec.plan["question"] == "Does the best LR shrink?"


@pytest.mark.parametrize(("text", "expected"), [
    ("base_config: b.yaml\nparameters:\n  optimizer.lrr: {values: [1]}\n",
     "s.yaml:2: parameters: 'optimizer.lrr' is not a setting of the training config; "
     "did you mean 'optimizer.lr'?"),
    ("base_config: b.yaml\nmethd: grid\nparameters:\n  optimizer.lr: {values: [1]}\n",
     "s.yaml:2: unknown key 'methd'; did you mean 'method'?"),
    ("base_config: b.yaml\nparameters:\n  optimizer.lr: {low: 1e-2, high: 1e-3}\n",
     "s.yaml:3: parameters.optimizer.lr: low (0.01) must be below high (0.001)"),
    ("base_config: b.yaml\nparameters:\n  model.size: {low: 1, high: 2}\n",
     "model.size is not a number: give it values: [...]"),
    ("base_config: b.yaml\nmethod: grid\nparameters:\n  optimizer.lr: {low: 1e-4, high: 1e-3}\n",
     "method grid needs values: [...] for every parameter (optimizer.lr is a range)"),
    ("base_config: b.yaml\nparameters:\n  seed: {values: [1, 2]}\n",
     "'seed' is set by the sweep itself: use seeds"),
    ("base_config: b.yaml\nparameters:\n  optimizer.lr: {values: [1e-3, 1e-3]}\n",
     "repeats a value"),
    ("base_config: b.yaml\nparameters:\n  optimizer.lr: {low: 0, high: 1, log: true}\n",
     "a log range needs low > 0"),
    ("base_config: b.yaml\noverrides: {logging.validate_every: 5}\nparameters:\n"
     "  logging.validate_every: {values: [5, 10]}\n", "is both an override and a parameter"),
    ("base_config: b.yaml\nparameters: {}\n", "name at least one config key"),
    ("- just\n- a list\n", "expected a mapping (base_config:, parameters:, ...)"),
])
def test_bad_files_name_the_line_and_the_fix(text: str, expected: str):
    with pytest.raises(ConfigError) as caught:
        parse_sweep_text(text, "s.yaml")
    assert expected in "\n".join(caught.value.problems)
    assert "docs/sweeps.md" in caught.value.hint


def test_key_kinds_follow_the_config_schema():
    assert key_kind("optimizer.lr") == "float"
    assert key_kind("regularization.dropout") == "float"
    assert key_kind("schedule.warmup_steps") == "int"
    assert key_kind("data.batch_size") == "int"
    assert key_kind("model.size") == "other"
    with pytest.raises(ValueError, match="did you mean 'data.batch_size'"):
        key_kind("data.batchsize")
    with pytest.raises(ValueError, match="not a setting"):
        key_kind("optimizer")  # a section, not a setting


def test_search_space_maps_onto_optuna_distributions():
    spec = parse_sweep_text(FULL)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        values = suggest_values(trial, spec)
        assert 1e-5 <= values["optimizer.lr"] <= 1e-2
        assert values["schedule.warmup_steps"] in (0, 10, 20)
        assert isinstance(values["data.batch_size"], int) and values["data.batch_size"] in (4, 8)
        assert values["model.size"] in ("nano", "micro")
        assert 0 <= values["regularization.dropout"] <= 0.2
        study.tell(trial, 1.0)
    distributions = study.trials[0].distributions
    assert isinstance(distributions["optimizer.lr"], optuna.distributions.FloatDistribution)
    assert distributions["optimizer.lr"].log
    assert isinstance(distributions["schedule.warmup_steps"], optuna.distributions.IntDistribution)
    assert distributions["schedule.warmup_steps"].step == 10
    assert isinstance(distributions["model.size"],
                      optuna.distributions.CategoricalDistribution)


def test_grid_with_seeds_visits_every_point_once():
    spec = parse_sweep_text("base_config: b.yaml\nmethod: grid\nseeds: [1, 2]\nparameters:\n"
                            "  optimizer.lr: {values: [1e-3, 1e-4]}\n")
    study = optuna.create_study(sampler=optuna.samplers.GridSampler(spec.grid_space(), seed=0))
    seen = []

    def objective(trial: optuna.Trial) -> float:
        values = suggest_values(trial, spec)
        seen.append((values["optimizer.lr"], values["seed"]))
        return 1.0

    study.optimize(objective, n_trials=10)  # the grid sampler stops the study after 4
    assert sorted(seen) == [(1e-4, 1), (1e-4, 2), (1e-3, 1), (1e-3, 2)]


def test_paths_storage_and_trial_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_base(tmp_path)
    (tmp_path / "sweeps.yaml").write_text(FULL)
    loaded = load_sweep(tmp_path / "sweeps.yaml")
    assert loaded.study_name == "full"
    assert loaded.base_config_path == tmp_path / "base.yaml"
    assert str(loaded.sweep_dir) == "sweeps/full"
    assert loaded.storage_url == f"sqlite:///{(tmp_path / 'sweeps/full/study.db').resolve()}"
    assert [loaded.seed_for(n) for n in range(4)] == [1, 2, 1, 2]
    assert load_sweep(tmp_path / "sweeps.yaml", storage="postgresql://db/x").storage_url == \
        "postgresql://db/x"
    assert storage_url(loaded.spec, tmp_path, "my.db") == \
        f"sqlite:///{(tmp_path / 'my.db').resolve()}"
    changes = trial_changes(loaded, {"optimizer.lr": 1e-3}, seed=2)
    assert changes == {"logging.validate_every": 5, "schedule.total_steps": 40,
                       "schedule.epochs": None, "checkpointing.every": 40,
                       "checkpointing.keep_last": 1, "optimizer.lr": 1e-3, "seed": 2}


def test_missing_base_config_is_reported(tmp_path):
    (tmp_path / "s.yaml").write_text("base_config: nowhere.yaml\nparameters:\n"
                                     "  optimizer.lr: {values: [1e-3]}\n")
    with pytest.raises(NtTuiError, match="base_config nowhere.yaml not found"):
        load_sweep(tmp_path / "s.yaml")
    with pytest.raises(NtTuiError, match="sweep file not found"):
        load_sweep(tmp_path / "absent.yaml")


def test_base_problems_stop_the_sweep_before_it_starts(tmp_path):
    write_base(tmp_path, extra="data: {train: text.txt, batch_size: 4, seq_len: 16}\n")
    sweep = tmp_path / "s.yaml"
    sweep.write_text("base_config: base.yaml\nparameters:\n  optimizer.lr: {values: [1e-3]}\n")
    with pytest.raises(NtTuiError, match="no validation data") as caught:
        check_base(load_sweep(sweep))
    assert "val_split" in caught.value.hint
    write_base(tmp_path)
    sweep.write_text("base_config: base.yaml\nparameters:\n"
                     "  model.size: {values: [nano, huge]}\n")
    with pytest.raises(NtTuiError, match="parameter model.size"):
        check_base(load_sweep(sweep))
    sweep.write_text("base_config: base.yaml\nparameters:\n  optimizer.lr: {values: [1e-3]}\n")
    assert check_base(load_sweep(sweep)).resolved.config.optimizer.lr is not None
