"""Shared file helpers: `free_path`, the one rule every new file or run directory name follows
(never replace), and `read_yaml_mapping`, the lenient config reader of the log readers."""

from __future__ import annotations

from nt_tui.runfmt import free_path
from nt_tui.runlogs.formats.base import read_yaml_mapping


def test_free_path_numbers_past_taken_files(tmp_path):
    assert free_path(tmp_path, "plan", ".yaml") == tmp_path / "plan.yaml"
    (tmp_path / "plan.yaml").write_text("a")
    (tmp_path / "plan-2.yaml").write_text("b")
    assert free_path(tmp_path, "plan", ".yaml") == tmp_path / "plan-3.yaml"
    assert (tmp_path / "plan.yaml").read_text() == "a"


def test_free_path_without_suffix_counts_past_directories(tmp_path):
    (tmp_path / "run-20250101-120000").mkdir()
    assert free_path(tmp_path, "run-20250101-120000") == tmp_path / "run-20250101-120000-2"
    assert free_path(tmp_path, "other") == tmp_path / "other"


def test_read_yaml_mapping_is_none_for_anything_but_a_readable_mapping(tmp_path):
    good, listed, broken = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "c.yaml"
    good.write_text("name: demo\noptimizer: {lr: 0.001}\n")
    listed.write_text("- 1\n- 2\n")
    broken.write_text("name: [unclosed\n")
    assert read_yaml_mapping(good) == {"name": "demo", "optimizer": {"lr": 0.001}}
    assert read_yaml_mapping(listed) is None
    assert read_yaml_mapping(broken) is None
    assert read_yaml_mapping(tmp_path / "missing.yaml") is None
    assert read_yaml_mapping(tmp_path) is None
