"""`nt-tui knowledge`: search, show and list in the terminal."""

from __future__ import annotations

import argparse
import json

import pytest

from nt_tui.commands import knowledge as knowledge_command
from nt_tui.errors import NtTuiError
from nt_tui.knowledge import stem


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    knowledge_command.add_arguments(parser)
    return knowledge_command.run(parser.parse_args(list(argv)))


def test_search_prints_matching_sections(cli):
    result = cli("knowledge", "search", "warmup")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.splitlines()[0].endswith('match "warmup", best first:')
    links = [line.split()[0] for line in out.splitlines() if ".md#" in line.split(" ")[0]]
    assert links[0] == "optimizer-guide.md#warmup"
    assert len({link.split("#")[0] for link in links}) >= 2
    assert "[warmup]" in out  # hits marked on a plain (non-terminal) stdout


def test_search_json_and_limit(capsys: pytest.CaptureFixture):
    assert _run("search", '"loss spikes"', "--limit", "3", "--json") == 0
    payload = json.loads(capsys.readouterr().out)
    assert 1 <= len(payload["hits"]) <= 3
    first = payload["hits"][0]
    assert first["link"] == "common-failures.md#loss-spikes"
    marked = {stem(first["snippet"][start:end]) for start, end in first["spans"]}
    assert marked and marked <= {"loss", "spike", "loss spike"}


def test_search_without_hits_exits_1(capsys: pytest.CaptureFixture):
    assert _run("search", "zzyzx", "quuxly") == 1
    assert "No section matches" in capsys.readouterr().out


def test_show_prints_a_section(capsys: pytest.CaptureFixture):
    assert _run("show", "common-failures.md#loss-plateau") == 0
    out = capsys.readouterr().out
    assert out.startswith("## Loss plateau\n") and "**How to confirm**" in out
    assert "## Slow decrease" not in out


def test_show_bad_link_suggests_the_right_one():
    with pytest.raises(NtTuiError) as error:
        _run("show", "optimizer-guide.md#warmupp")
    assert "optimizer-guide.md#warmup" in error.value.hint


def test_list_shows_every_document_and_deep_link(capsys: pytest.CaptureFixture):
    assert _run("list") == 0
    out = capsys.readouterr().out
    for name in ("common-failures.md", "fine-tuning-techniques.md", "optimizer-guide.md",
                 "scaling-laws.md", "transformer-training.md"):
        assert out.count(f"{name}#") >= 5
    assert "optimizer-guide.md#linear-scaling-rule" in out


def test_search_limit_must_be_positive():
    with pytest.raises(NtTuiError):
        _run("search", "x", "--limit", "0")
