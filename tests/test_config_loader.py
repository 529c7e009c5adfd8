"""Config loading: valid configs parse, bad ones name file, line, key and the expected value."""

from pathlib import Path

import pytest

from nt_tui.config import load_config, load_config_text
from nt_tui.config.loader import ConfigError, dump_config
from nt_tui.errors import NtTuiError

from conftest import EXAMPLES


def test_demo_config_loads():
    config = load_config(EXAMPLES / "demo-tiny-gpt.yaml")
    assert config.model.size is not None
    assert config.logging.backends


def test_typo_gets_a_suggestion_with_file_and_line():
    text = "model:\n  size: nano\noptimizer:\n  learning_rate: 3e-4\n"
    with pytest.raises(ConfigError) as info:
        load_config_text(text, source="cfg.yaml")
    message = info.value.problems[0]
    assert message.startswith("cfg.yaml:4:")
    assert "unknown key 'optimizer.learning_rate'" in message
    assert "did you mean 'lr'" in message


def test_close_misspelling_is_suggested_by_similarity():
    with pytest.raises(ConfigError) as info:
        load_config_text("schedule:\n  warmup_stpes: 10\n", source="c.yaml")
    assert "did you mean 'warmup_steps'" in info.value.problems[0]


def test_wrong_type_names_key_expected_and_got():
    with pytest.raises(ConfigError) as info:
        load_config_text("data:\n  batch_size: many\n", source="c.yaml")
    problem = info.value.problems[0]
    assert problem.startswith("c.yaml:2: data.batch_size:")
    assert "integer" in problem and "'many'" in problem


@pytest.mark.parametrize("text, key", [
    ("optimizer:\n  lr: -1\n", "optimizer.lr"),
    ("optimizer:\n  lr: 0\n", "optimizer.lr"),
    ("data:\n  batch_size: 0\n", "data.batch_size"),
    ("optimizer:\n  name: adagrad\n", "optimizer.name"),
    ("precision: fp8\n", "precision"),
    ("model:\n  entrypoint: not a function\n", "model.entrypoint"),
])
def test_bad_values_are_rejected_with_their_key(text, key):
    with pytest.raises(ConfigError) as info:
        load_config_text(text, source="c.yaml")
    assert f" {key}:" in info.value.problems[0]


def test_every_problem_is_reported_in_line_order():
    text = "model:\n  size: nano\n  sise: tiny\noptimizer:\n  lr: -3\n"
    with pytest.raises(ConfigError) as info:
        load_config_text(text, source="c.yaml")
    assert [p.split(":")[1] for p in info.value.problems] == ["3", "5"]


def test_invalid_yaml_names_the_line():
    with pytest.raises(ConfigError) as info:
        load_config_text("model:\n  size: [nano\n", source="c.yaml")
    assert "invalid YAML" in info.value.problems[0]
    assert info.value.problems[0].startswith("c.yaml:")


def test_yaml_is_loaded_safely():
    with pytest.raises(ConfigError):
        load_config_text("name: !!python/object/apply:os.system ['echo hi']\n")


def test_top_level_must_be_a_mapping():
    with pytest.raises(ConfigError) as info:
        load_config_text("- a\n- b\n", source="c.yaml")
    assert "expected a mapping" in info.value.problems[0]


def test_missing_and_directory_paths(tmp_path: Path):
    with pytest.raises(NtTuiError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(NtTuiError, match="is a directory"):
        load_config(tmp_path)


def test_dump_round_trips():
    config = load_config(EXAMPLES / "demo-tiny-gpt.yaml")
    assert load_config_text(dump_config(config)) == config
