"""Every real log in tests/data/corpus (a copy of ../shared/corpus) loads with the right names and step counts, and
`nt-tui analyze` reports numbers for each (the MANIFEST's "what it shows" is the oracle)."""

from __future__ import annotations

import json

import pytest

from conftest import CORPUS, run_cli
from nt_tui.analysis.curves import interpret
from nt_tui.runlogs import discover_runs, load_run

HF = CORPUS / "hf_trainer_state"
LIGHTNING = CORPUS / "lightning_csv"
DHEENA = HF / "Dheena731__tinyLlama-finetune__trainer_state.json"
WHISPER = HF / "P4P4N1CK__whisper-large-v2-japanese__trainer_state.json"
SLM_V0 = LIGHTNING / "0Xero7__slm_training__v0_metrics.csv"
SLM_V5 = LIGHTNING / "0Xero7__slm_training__v5_metrics.csv"
SLM_V8 = LIGHTNING / "0Xero7__slm_training__v8_metrics.csv"
GPTTT = LIGHTNING / "BvoJa__GPTTT__v0_metrics.csv"

# file, format, distinct steps, first step, last step, {metric: points}, {canonical: original}
EXPECTED = [
    (DHEENA, "hf_trainer_state", 196, 15, 2800,
     {"train_loss": 186, "val_loss": 14, "lr": 186, "grad_norm": 186},
     {"train_loss": "loss", "val_loss": "eval_loss", "lr": "learning_rate",
      "grad_norm": "grad_norm"}),
    (WHISPER, "hf_trainer_state", 200, 25, 5000,
     {"train_loss": 200, "val_loss": 5, "lr": 200},
     {"train_loss": "loss", "val_loss": "eval_loss", "lr": "learning_rate"}),
    (SLM_V0, "lightning_csv", 2824, 49, 140739, {"train_loss": 2814, "val_loss": 10},
     {"train_loss": "train_loss_step", "val_loss": "val_loss"}),
    (SLM_V5, "lightning_csv", 1130, 140749, 197035, {"train_loss": 1126, "val_loss": 4},
     {"train_loss": "train_loss_step", "val_loss": "val_loss"}),
    (SLM_V8, "lightning_csv", 1511, 49, 75549, {"train_loss": 1511, "val_loss": 0},
     {"train_loss": "train_loss_step"}),
    (GPTTT, "lightning_csv", 10, 49, 499, {"train_loss": 10, "val_loss": 2},
     {"train_loss": "train_loss", "val_loss": "val_loss"}),
]


def test_every_corpus_file_is_covered():
    files = {p for p in CORPUS.rglob("*") if p.is_file() and p.name != "MANIFEST.md"}
    assert files == {row[0] for row in EXPECTED}
    assert sorted(discover_runs(CORPUS)) == sorted(files)


@pytest.mark.parametrize("path,fmt,steps,first,last,points,originals", EXPECTED,
                         ids=[row[0].stem for row in EXPECTED])
def test_corpus_file_loads_with_canonical_names(path, fmt, steps, first, last, points,
                                                originals):
    history = load_run(path)
    assert history.format == fmt
    assert history.steps == steps
    assert int(history.frame["step"].iloc[0]) == first
    assert int(history.frame["step"].iloc[-1]) == last
    assert history.frame["step"].is_monotonic_increasing
    for metric, count in points.items():
        assert len(history.series(metric)) == count, metric
    for canonical, original in originals.items():
        assert history.original_names[canonical] == original
    assert "epoch" in history.metrics


def test_hf_summary_row_is_kept_out_of_the_curves():
    history = load_run(WHISPER)
    # the summary's train_loss (0.0189, an average over the run) is not a point at step 5000
    assert history.series("train_loss").loc[5000] == pytest.approx(0.0002)
    assert [e["kind"] for e in history.events] == ["summary"]
    assert history.events[0]["values"]["train_runtime"] == pytest.approx(77350.9963)
    assert any("summary row" in note for note in history.notes)
    assert history.config["max_steps"] == 5000


def test_lightning_train_and_val_rows_at_one_step_are_merged():
    history = load_run(GPTTT)
    row = history.frame.set_index("step").loc[199]
    assert row["train_loss"] == pytest.approx(2.3989458084106445)
    assert row["val_loss"] == pytest.approx(2.3940553665161133)
    assert any("merged" in note for note in history.notes)


def test_interpretation_matches_what_the_manifest_says():
    whisper = interpret(load_run(WHISPER))
    assert whisper.validation.best == pytest.approx(0.321, abs=5e-4)
    assert whisper.validation.best_step == 1000
    assert whisper.validation.overfit_onset_step == 2000
    assert whisper.conclusions[0].title == "overfitting"

    dheena = interpret(load_run(DHEENA))
    assert dheena.validation.best_step == 2800 and dheena.validation.overfit_onset_step is None
    assert dheena.validation.best == pytest.approx(1.1219, abs=1e-4)

    v5 = interpret(load_run(SLM_V5))
    titles = [c.title for c in v5.conclusions]
    assert "validation loss drifting up" in titles
    assert v5.validation.rise_since_best == pytest.approx(3.604208 / 3.562900 - 1, rel=1e-3)

    v8 = interpret(load_run(SLM_V8))
    assert "no validation loss" in [c.title for c in v8.conclusions]
    assert v8.curves["train_loss"].first == pytest.approx(9.44075870513916)


def test_analyze_json_has_numbers_for_each_corpus_file():
    done = run_cli("analyze", str(CORPUS), "--json")
    assert done.returncode == 0, done.stderr
    reports = {report["source"]: report for report in json.loads(done.stdout)}
    assert set(reports) == {str(row[0]) for row in EXPECTED}
    for report in reports.values():
        train = report["curves"]["train_loss"]
        assert train["points"] > 0 and isinstance(train["last"], float)
        assert isinstance(train["trend"]["slope_per_1k"], float)
        assert report["conclusions"] and all(c["detail"] for c in report["conclusions"])
