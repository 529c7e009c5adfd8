"""`nt-tui scale`: compute-optimal answers, Kaplan beside Chinchilla, datasets, GPU budgets,
and fits to points and to real run directories."""

import json
from pathlib import Path

import pytest

from conftest import run_cli
from nt_tui.cli import main
from nt_tui.runfmt import RunWriter
from nt_tui.scaling import laws


def _scale_json(capsys, *args):
    assert main(["scale", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_compute_1e21_agrees_with_6nd_and_20_tokens_per_param():
    result = run_cli("scale", "--compute", "1e21")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "2.89e+09 (2.89B)" in out and "5.77e+10 (57.7B)" in out
    assert "check 6 N D = 1e+21 FLOPs" in out
    assert "Kaplan" in out and "Hoffmann" in out


def test_compute_answer_numbers(capsys):
    (table,) = _scale_json(capsys, "--compute", "1e21")
    chinchilla = table["values"]["chinchilla"]
    n, d = chinchilla["params"], chinchilla["tokens"]
    assert 6 * n * d == pytest.approx(1e21, rel=1e-12)
    assert d == pytest.approx(20 * n, rel=1e-12)
    assert n == pytest.approx(2.887e9, rel=1e-3)
    # Kaplan puts more of the budget into parameters; Hoffmann's loss fit at each allocation.
    kaplan = table["values"]["kaplan"]
    assert kaplan["params"] > n and 6 * kaplan["params"] * kaplan["tokens"] == \
        pytest.approx(1e21)
    assert chinchilla["loss"] == pytest.approx(laws.parametric_loss(n, d))
    assert table["values"]["hoffmann_parametric"]["tokens_per_param"] == pytest.approx(50.1,
                                                                                       abs=0.1)


def test_model_size_gives_tokens_and_compute(capsys):
    (table,) = _scale_json(capsys, "--params", "124M")
    chinchilla = table["values"]["chinchilla"]
    assert chinchilla["tokens"] == pytest.approx(2.48e9)
    assert chinchilla["compute"] == pytest.approx(120 * 124e6 ** 2)
    # The other laws are inverted numerically: their optimum at that budget is 124M again.
    kaplan = table["values"]["kaplan"]
    assert laws.kaplan_optimal(kaplan["compute"]).params == pytest.approx(124e6, rel=1e-6)


def test_dataset_gives_model_and_value_of_epochs(capsys):
    (table,) = _scale_json(capsys, "--tokens", "5B")
    assert table["values"]["one_epoch"]["params"] == pytest.approx(5e9 / 20)
    epochs = {row["epochs"]: row for row in table["values"]["epochs"]}
    assert epochs[4]["effective_tokens"] / 5e9 == pytest.approx(3.73, abs=0.01)
    assert epochs[4]["verdict"] == "fine" and epochs[40]["verdict"] == "wasteful"
    losses = [row["loss"] for row in table["values"]["epochs"]]
    assert losses == sorted(losses, reverse=True)  # more epochs still help, less each time


def test_gpu_budget_and_wall_time(capsys):
    assert main(["scale", "--gpus", "8", "--hours", "24", "--gpu", "H100"]) == 0
    out = capsys.readouterr().out
    budget = 8 * 24 * 3600 * 989e12 * 0.4
    assert f"{budget:.3g} FLOPs" in out and "wall time" in out
    (table,) = _scale_json(capsys, "--gpus", "8", "--hours", "24", "--gpu", "H100")
    assert table["values"]["chinchilla"]["compute"] == pytest.approx(budget)


def test_gpu_options_without_speed_are_refused(capsys):
    assert main(["scale", "--hours", "3"]) == 2
    assert "GPU options need the GPU's speed" in capsys.readouterr().err


def test_no_question_prints_formulas_with_sources(capsys):
    assert main(["scale"]) == 0
    out = capsys.readouterr().out
    assert "L(N, D) = 1.69 + 406.4 / N^0.34 + 410.7 / D^0.28" in out
    assert "Hoffmann et al. (2022)" in out and "Kaplan et al. (2020)" in out


def test_fit_points_and_predict(capsys):
    points = [f"{n:g}:{3.5 * n ** -0.05:.6f}" for n in (1e6, 3e6, 1e7, 3e7)]
    args = [part for point in points for part in ("--point", point)]
    (table,) = _scale_json(capsys, *args, "--predict", "1e8")
    fit = table["values"]["fit"]
    assert fit["values"]["alpha"] == pytest.approx(0.05, abs=1e-4)
    (prediction,) = table["values"]["predictions"]
    assert prediction["loss"] == pytest.approx(3.5 * 1e8 ** -0.05, rel=1e-4)
    assert prediction["low"] <= prediction["loss"] <= prediction["high"]


def test_fit_refuses_two_points_clearly():
    result = run_cli("scale", "--point", "1M:3.2", "--point", "3M:2.9")
    assert result.returncode == 2
    assert "at least 3 different model sizes" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def _write_run(folder: Path, params: int, losses: list[float]) -> Path:
    """A real nt-tui run directory (what the engine writes), without training."""
    with RunWriter(folder) as writer:
        writer.log_event("start", 0, "training", num_params=params)
        for index, loss in enumerate(losses):
            step = 100 * (index + 1)
            writer.log_metrics({"step": step, "train_loss": loss + 0.05, "val_loss": loss})
        writer.write_summary({"status": "finished", "num_params": params})
    return folder


def test_fit_reads_run_directories_and_predicts(tmp_path: Path, capsys):
    runs = []
    for params in (2e5, 8e5, 3e6):
        best = 6.0 * params ** -0.09
        runs.append(str(_write_run(tmp_path / f"run-{params:g}", int(params),
                                   [best + 0.4, best, best + 0.02])))
    (table,) = _scale_json(capsys, "--fit", *runs, "--predict", "10M")
    fit = table["values"]["fit"]
    assert [point["params"] for point in fit["points"]] == [2e5, 8e5, 3e6]
    assert fit["values"]["alpha"] == pytest.approx(0.09, abs=1e-3)  # best losses used
    assert "best val_loss at step 200" in fit["points"][0]["label"]
    (table,) = _scale_json(capsys, "--fit", *runs, "--use", "final", "--form", "power")
    finals = [point["loss"] for point in table["values"]["fit"]["points"]]
    assert finals[0] == pytest.approx(6.0 * 2e5 ** -0.09 + 0.14, rel=1e-6)  # last 3 averaged


def test_fit_run_without_parameter_count_asks_for_it(tmp_path: Path, capsys):
    folder = tmp_path / "external"
    folder.mkdir()
    log = folder / "metrics.csv"
    log.write_text("step,val_loss\n100,3.0\n200,2.8\n", encoding="utf-8")
    assert main(["scale", "--fit", str(log), str(log), str(log)]) == 2
    assert f"{log}=2.5M" in capsys.readouterr().err
    # Given on the command line, the same log fits (best loss 2.8).
    (table,) = _scale_json(capsys, "--fit", f"{log}=1M", "--point", "3M:2.6",
                           "--point", "10M:2.4")
    points = table["values"]["fit"]["points"]
    assert points[0]["params"] == 1e6 and points[0]["loss"] == 2.8
