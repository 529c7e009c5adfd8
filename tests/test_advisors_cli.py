"""`nt-tui ask`: routed answers in the terminal, options, JSON, runs and user errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from nt_tui.commands import ask as ask_command
from nt_tui.errors import NtTuiError
from test_advisors import _nan_run


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    ask_command.add_arguments(parser)
    return ask_command.run(parser.parse_args(list(argv)))


def test_nt_tui_ask_answers_nan_as_the_diagnostician(cli):
    result = cli("ask", "my loss went to nan after 3k steps")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Diagnostician  (matched: nan")
    assert "Likely cause (confidence:" in result.stdout
    assert "Numerical instability" in result.stdout
    assert "common-failures.md#nan-or-inf-loss" in result.stdout
    assert "step of the problem" in result.stdout


def test_options_and_json(capsys: pytest.CaptureFixture):
    assert _run("LoRA", "please", "--model-size", "7B", "--gpu-memory", "24",
                "--examples", "50k", "--json") == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["advisor"] == "finetuning"
    assert payload["routing"]["matched"] == ["lora"]
    numbers = {n["label"]: n["value"] for n in payload["answer"]["numbers"]}
    assert numbers["adapter parameters"] == "39,976,960"


def test_advisor_flag_skips_routing(capsys: pytest.CaptureFixture):
    assert _run("--advisor", "scaling", "--compute", "1e21") == 0
    out = capsys.readouterr().out
    assert out.startswith("Scaling advisor") and "2.89B" in out


def test_unmatched_question_prints_knowledge_sections(capsys: pytest.CaptureFixture):
    assert _run("what", "is", "RoPE") == 0
    out = capsys.readouterr().out
    assert "No advisor matched" in out and "transformer-training.md#rope" in out


def test_run_option_diagnoses_the_run(tmp_path: Path, capsys: pytest.CaptureFixture):
    run = _nan_run(tmp_path)
    assert _run("--run", str(run)) == 0
    out = capsys.readouterr().out
    assert out.startswith("Diagnostician") and "first NaN/Inf" in out
    assert "Run warning: Loss became NaN" in out


@pytest.mark.parametrize("argv, message", [
    (("x", "--gpu-memory", "lots"), "--gpu-memory"),
    (("x", "--gpus", "0"), "--gpus must be positive"),
    (("x", "--model-size", "big"), "cannot read --model-size"),
    (("--advisor", "oracle", "x"), "unknown advisor"),
])
def test_bad_options_are_user_errors(argv, message):
    with pytest.raises(NtTuiError) as error:
        _run(*argv)
    assert message in error.value.one_line()


def test_bad_run_is_one_line_on_stderr(cli, tmp_path: Path):
    result = cli("ask", "--run", str(tmp_path / "missing"), "why")
    assert result.returncode == 2
    assert result.stderr.startswith("nt-tui: error:") and "Traceback" not in result.stderr
