"""The real `nt-tui` CLI in a subprocess: help, check, errors without tracebacks."""

import shutil
from pathlib import Path

from conftest import EXAMPLES, run_cli


def test_help_lists_subcommands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("demo", "check"):
        assert command in result.stdout


def test_check_demo_passes():
    result = run_cli("check", str(EXAMPLES / "demo-tiny-gpt.yaml"))
    assert result.returncode == 0, result.stderr
    assert "optimizer.lr" in result.stdout and "model size table" in result.stdout
    assert "Result: ready to train" in result.stdout


def test_check_refuses_config_without_logging():
    result = run_cli("check", str(EXAMPLES / "no-logging.yaml"))
    assert result.returncode == 1
    assert "REFUSED: no logging backend" in result.stdout


def test_check_typo_suggests_the_key_without_traceback():
    result = run_cli("check", str(EXAMPLES / "typo.yaml"))
    assert result.returncode == 2
    assert "did you mean 'lr'" in result.stderr
    assert "did you mean 'name'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_check_missing_file_is_one_line(tmp_path: Path):
    result = run_cli("check", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "config file not found" in result.stderr


def test_check_never_modifies_the_config(tmp_path: Path):
    config = tmp_path / "typo.yaml"
    shutil.copy(EXAMPLES / "typo.yaml", config)
    before = config.read_bytes()
    run_cli("check", str(config))
    assert config.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["typo.yaml"]


def test_unknown_subcommand_is_an_error():
    result = run_cli("frobnicate")
    assert result.returncode == 2 and "unknown command 'frobnicate'" in result.stderr
    assert result.stderr.strip().count("\n") == 0  # one line, no usage block (docs/errors.md)
    assert "did you mean 'train'" in run_cli("trian").stderr
