"""`nt-tui diagnose` keeps its contract (../shared/spec/diagnose.md) on labelled logs in every
format the readers support, on other projects' real logs, and on bad input."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from nt_tui.analysis.diagnosis import diagnose_path
from nt_tui.analysis.diagnosis.vocabulary import CAUSE_IDS, SYMPTOM_IDS
from nt_tui.runlogs import load_run

from conftest import CORPUS, REPO_ROOT, run_cli

FIXTURES = REPO_ROOT / "tests" / "data" / "diagnosis"
LABELS: dict[str, dict[str, str]] = json.loads((FIXTURES / "labels.json").read_text())
HEALTHY_RUN = next(relative for relative, info in sorted(LABELS.items())
                   if info["cause"] == "healthy" and info["format"] == "nt_tui")


@functools.cache
def diagnosed(relative: str):
    """Each committed fixture is diagnosed once per test session (the tests share them)."""
    return diagnose_path(FIXTURES / relative)


def check_contract(data: dict, source: str) -> None:
    assert set(data) == {"source", "format", "steps", "metrics", "symptoms", "hypotheses"}
    assert data["source"] == source
    assert isinstance(data["steps"], int) and data["steps"] > 0
    assert all(symptom in SYMPTOM_IDS for symptom in data["symptoms"])
    hypotheses = data["hypotheses"]
    assert hypotheses, "at least one hypothesis"
    confidences = [h["confidence"] for h in hypotheses]
    assert confidences == sorted(confidences, reverse=True)
    for hypothesis in hypotheses:
        assert set(hypothesis) == {"cause", "confidence", "evidence", "fix", "knowledge"}
        assert hypothesis["cause"] in CAUSE_IDS
        assert 0 <= hypothesis["confidence"] <= 1
        assert hypothesis["evidence"] and all(isinstance(e, str) for e in hypothesis["evidence"])
        assert hypothesis["fix"] and hypothesis["knowledge"].startswith("common-failures.md#")


@pytest.mark.parametrize("name", [HEALTHY_RUN, "wizard--lr_too_high"])
def test_json_output_is_one_object_with_the_contract(name: str):
    source = str(FIXTURES / name)
    result = run_cli("diagnose", source, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # the whole of stdout is one JSON object
    check_contract(data, source)
    assert data["hypotheses"][0]["cause"] == LABELS[name]["cause"]


#: Fixtures whose cause is not yet in the top three: open gaps, recorded in docs/diagnosis.md
#: (strict: a fix that makes one pass fails here until it is taken off this list).
KNOWN_TOP3_MISSES: set[str] = set()  # (the last one, ordered data in a CSV, found by folding)
#: Top-1 accuracy the committed set must keep (measured 88%: 29 of 33; the target is 90%, see
#: docs/diagnosis.md): a regression below it fails.
TOP1_FLOOR = 0.85


@pytest.mark.parametrize("relative", [
    pytest.param(relative, marks=pytest.mark.xfail(strict=True, reason="known gap"))
    if relative in KNOWN_TOP3_MISSES else relative for relative in sorted(LABELS)])
def test_labelled_fixture_has_its_cause_in_the_top_three(relative: str):
    diagnosis = diagnosed(relative)
    check_contract(diagnosis.to_dict(), diagnosis.source)
    ranked = [h.cause for h in diagnosis.hypotheses]
    assert LABELS[relative]["cause"] in ranked[:3], (relative, ranked)


def test_labelled_fixtures_top1_accuracy():
    """The committed set is scored as in docs/diagnosis.md (its formats include logs with only
    a loss column, where some causes cannot be told apart); healthy runs are never flagged."""
    hits = sum(diagnosed(relative).top.cause == info["cause"] for relative, info in LABELS.items())
    assert hits / len(LABELS) >= TOP1_FLOOR


def test_healthy_fixtures_have_no_false_alarm():
    healthy = [relative for relative, info in LABELS.items() if info["cause"] == "healthy"]
    assert len(healthy) >= 6  # every format
    assert [r for r in healthy if diagnosed(r).top.cause != "healthy"] == []


def test_every_contract_format_is_read():
    formats = {diagnosed(relative).format for relative in LABELS}
    assert {"nt_tui_run", "hf_trainer_state", "lightning_csv", "tensorboard", "csv",
            "jsonl"} <= formats


def test_real_logs_of_other_projects():
    whisper = CORPUS / "hf_trainer_state" / "P4P4N1CK__whisper-large-v2-japanese__trainer_state.json"
    llama = CORPUS / "hf_trainer_state" / "Dheena731__tinyLlama-finetune__trainer_state.json"
    overfit = diagnose_path(whisper)
    assert overfit.top.cause == "overfitting"
    assert "0.321" in " ".join(overfit.top.evidence) and "step 1,000" in overfit.top.fix
    assert diagnose_path(llama).top.cause == "healthy"


def test_lightning_csv_whose_loss_turned_nan_is_numerical_instability(tmp_path: Path):
    """Lightning 2.6's CSVLogger with grad norms, no LR monitor: `epoch` on every row (the
    validation rows too) and NaN written in the loss and the grad norm from step 304 on."""
    rng = np.random.default_rng(0)
    rows = ["epoch,grad_2.0_norm_total,step,train_loss,val_loss"]
    for step in range(4, 300, 5):  # 60 train rows, 12 per epoch of 60 steps
        loss = 1.25 + 1.05 * math.exp(-step / 90) + rng.normal(0, 0.02)
        rows.append(f"{step // 60},{1.0 + rng.normal(0, 0.1)},{step},{loss},")
        if step % 60 == 59:
            rows.append(f"{step // 60},,{step},,{loss + 0.15}")
    rows += [f"{step // 60},nan,{step},nan," for step in range(304, 350, 5)]
    rows.append("5,,349,,nan")
    version = tmp_path / "lightning_logs" / "version_0"
    version.mkdir(parents=True)
    (version / "metrics.csv").write_text("\n".join(rows) + "\n")
    history = load_run(version)
    assert history.format == "lightning_csv"
    assert history.nan_steps["train_loss"][:2] == [304, 309]
    assert history.nan_steps["val_loss"] == [349]
    result = diagnose_path(version)
    assert result.top.cause == "numerical_instability"
    assert "step 304" in " ".join(result.top.evidence)


def test_symptoms_given_on_the_command_line_are_reported():
    source = str(FIXTURES / HEALTHY_RUN)
    result = run_cli("diagnose", source, "--symptom", "overfitting", "--symptom", "loss_plateau",
                     "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["symptoms"] == ["loss_plateau", "overfitting"]


def test_human_report_names_fix_link_and_missing_evidence():
    source = next(FIXTURES / r for r, info in LABELS.items() if info["format"] == "csv")
    result = run_cli("diagnose", str(source))
    assert result.returncode == 0, result.stderr
    assert "Most likely:" in result.stdout and "Fix:" in result.stdout
    assert "common-failures.md#" in result.stdout
    assert "no gradient norm" in result.stdout  # the CSV has only loss columns


@pytest.mark.parametrize("content", ["", "not,a\nlog,at all\n", "{\"a\": 1}\n"])
def test_unreadable_input_is_one_line_on_stderr(tmp_path: Path, content: str):
    bad = tmp_path / "log.csv"
    bad.write_text(content)
    result = run_cli("diagnose", str(bad), "--json")
    assert result.returncode != 0
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_missing_path_and_unknown_symptom_are_errors(tmp_path: Path):
    result = run_cli("diagnose", str(tmp_path / "nope"), "--json")
    assert result.returncode != 0 and "no such file" in result.stderr
    result = run_cli("diagnose", str(FIXTURES / "wizard--lr_too_high"), "--symptom", "sad")
    assert result.returncode != 0 and "'sad'" in result.stderr
    assert "loss_plateau" in result.stderr  # the valid names are listed
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
