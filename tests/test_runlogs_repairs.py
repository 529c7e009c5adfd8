"""Broken logs are repaired and reported, never fatal; unreadable input is one clear line."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from conftest import run_cli
from nt_tui.errors import NtTuiError
from nt_tui.runlogs import detect, load_run
from nt_tui.runlogs.jsonl import flat_numeric_frame


def test_torn_last_line_is_ignored_and_reported(tmp_path: Path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5}\n{"step": 3, "lo')
    history = load_run(path)
    assert history.frame["step"].tolist() == [1, 2]
    assert any("torn last line (15 bytes" in note for note in history.notes)


def test_nan_inf_values_are_kept_and_counted(tmp_path: Path):
    path = tmp_path / "log.csv"
    path.write_text("step,loss,grad_norm\n1,2.0,1.0\n2,nan,inf\n3,1.5,\n")
    history = load_run(path)
    assert math.isnan(history.frame.loc[1, "train_loss"])
    assert math.isinf(history.series("grad_norm").loc[2])
    assert "2 NaN/Inf value(s) kept as logged" in history.notes
    jsonl = tmp_path / "log.jsonl"
    jsonl.write_text('{"step": 1, "loss": NaN}\n{"step": 2, "loss": "Infinity"}\n'
                     '{"step": 3, "loss": 1.0}\n')
    assert "2 NaN/Inf value(s) kept as logged" in load_run(jsonl).notes


def test_nan_written_as_such_is_told_from_a_value_not_logged(tmp_path: Path):
    """`RunHistory.nan_steps`: the steps where a metric was written NaN, per reader; an empty
    cell, a missing key or a null is a metric not logged at that step, not a NaN."""
    csv_path = tmp_path / "log.csv"
    csv_path.write_text("step,loss,val_loss\n1,2.0,\n2,,3.0\n3,nan,\n4,NaN,\n5,,nan\n")
    history = load_run(csv_path)
    assert history.nan_steps == {"train_loss": [3, 4], "val_loss": [5]}
    assert "3 NaN/Inf value(s) kept as logged" in history.notes
    jsonl = tmp_path / "log.jsonl"
    jsonl.write_text('{"step": 1, "loss": 2.0, "grad_norm": 1.0}\n{"step": 2, "eval_loss": 3.0}\n'
                     '{"step": 3, "loss": NaN, "grad_norm": "NaN"}\n'
                     '{"step": 4, "loss": null, "grad_norm": 1.0}\n')
    assert load_run(jsonl).nan_steps == {"train_loss": [3], "grad_norm": [3]}
    # the fast path (a buffer of at least FAST_PATH_MIN_BYTES) marks the same cells
    lines = [json.dumps({"step": s, "loss": 2.0, "lr": 1e-3}) for s in range(3000)]
    lines[100] = json.dumps({"step": 100, "eval_loss": 3.0})
    lines[2000] = json.dumps({"step": 2000, "loss": math.nan, "lr": 1e-3})
    lines[2001] = json.dumps({"step": 2001, "loss": None, "lr": 1e-3})
    lines[2002] = json.dumps({"step": 2002, "loss": math.nan, "lr": None})
    data = ("\n".join(lines) + "\n").encode()
    assert flat_numeric_frame(data) is not None
    jsonl.write_bytes(data)
    assert load_run(jsonl).nan_steps == {"train_loss": [2000, 2002]}
    hf_dir = tmp_path / "hf"
    hf_dir.mkdir()
    log_history = [{"step": 10, "epoch": 0.1, "loss": 2.0, "grad_norm": 1.0},
                   {"step": 10, "epoch": 0.1, "eval_loss": 2.5},
                   {"step": 20, "epoch": 0.2, "loss": math.nan, "grad_norm": math.nan},
                   {"step": 30, "epoch": 0.3, "loss": math.nan, "grad_norm": 1.0}]
    (hf_dir / "trainer_state.json").write_text(json.dumps({"global_step": 30,
                                                           "log_history": log_history}))
    history = load_run(hf_dir)
    assert history.format == "hf_trainer_state"
    assert history.nan_steps == {"train_loss": [20, 30], "grad_norm": [20]}
    text = tmp_path / "train.log"
    text.write_text("iter 0: loss 4.2, time 10.0ms\niter 10: loss nan, time 10.0ms\n"
                    "iter 20: loss 3.9, time 10.0ms\n")
    assert load_run(text).nan_steps == {"train_loss": [10]}


def test_nan_steps_of_rows_dropped_after_a_resume_are_dropped(tmp_path: Path):
    path = tmp_path / "log.csv"
    rows = [f"{s},{3 - s / 100}" for s in range(0, 40, 10)] + ["40,nan", "50,nan"]  # blew up
    rows += [f"{s},{1.0}" for s in range(30, 50, 10)] + ["60,nan"]  # resumed from 30
    path.write_text("step,loss\n" + "\n".join(rows) + "\n")
    history = load_run(path)
    assert history.frame["step"].tolist() == [0, 10, 20, 30, 40, 60]
    assert history.series("train_loss").loc[40] == 1.0
    assert history.nan_steps == {"train_loss": [60]}


def test_duplicate_steps_after_a_resume_keep_the_later_rows(tmp_path: Path):
    path = tmp_path / "log.csv"
    rows = [f"{s},{3 - s / 100}" for s in range(0, 60, 10)]        # crashed after step 50
    rows += [f"{s},{1.0}" for s in range(30, 80, 10)]               # resumed from step 30
    path.write_text("step,loss\n" + "\n".join(rows) + "\n")
    history = load_run(path)
    assert history.frame["step"].tolist() == [0, 10, 20, 30, 40, 50, 60, 70]
    assert history.series("train_loss").loc[[20, 30, 50]].tolist() == [2.8, 1.0, 1.0]
    assert "3 row(s) logged before 1 resume(s) dropped: the run went back to step 30 and the " \
        "later rows are kept" in history.notes


def test_corrupt_middle_line_is_skipped(tmp_path: Path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"step": 1, "loss": 2.0}\nnot json at all\n{"step": 2, "loss": 1.5}\n')
    history = load_run(path)
    assert history.steps == 2
    assert "skipped 1 line(s) that are not JSON objects" in history.notes


def test_mixed_train_and_eval_rows_merge(tmp_path: Path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"step": 10, "loss": 2.0}\n{"step": 10, "eval_loss": 2.4}\n'
                    '{"step": 20, "loss": 1.8}\n')
    history = load_run(path)
    assert history.frame.set_index("step").loc[10, ["train_loss", "val_loss"]].tolist() == [
        2.0, 2.4]


@pytest.mark.parametrize("content,found", [
    (b"", "empty file"),
    (bytes(range(256)) * 40, "binary data"),
    (b"hello world\nthis is not a log\n", "unknown format"),
    (b'{"level": "info", "msg": "started"}\n', "JSON lines without a loss"),
    (b"name,colour\napple,red\n", "unknown format"),
])
def test_bad_files_are_one_line_errors(tmp_path: Path, content: bytes, found: str):
    path = tmp_path / "input.dat"
    path.write_bytes(content)
    with pytest.raises(NtTuiError) as caught:
        load_run(path)
    line = caught.value.one_line()
    assert found in line and "nt-tui reads:" in line and "\n" not in line


def test_table_without_known_columns_names_them(tmp_path: Path):
    path = tmp_path / "table.csv"
    path.write_text("name,colour\napple,red\n")
    with pytest.raises(NtTuiError, match=r"columns \(name, colour\) include no step, loss"):
        load_run(path)


def test_directory_without_logs_and_missing_path(tmp_path: Path):
    (tmp_path / "notes.md").write_text("# notes\n")
    with pytest.raises(NtTuiError, match="directory with no training logs"):
        load_run(tmp_path)
    with pytest.raises(NtTuiError, match="no such file or directory"):
        load_run(tmp_path / "missing")


def test_directory_with_several_runs_asks_for_one(tmp_path: Path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.csv").write_text("step,loss\n1,2.0\n")
    with pytest.raises(NtTuiError, match=r"directory with 2 runs \(a.csv, b.csv\)"):
        load_run(tmp_path)


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "log.csv"
    path.write_text("step,loss\n1,2.0\n")
    path.chmod(0)
    if os.geteuid() == 0:  # root reads anything: ask the OS question as a normal user would
        monkeypatch.setattr(detect.os, "access", lambda *args: False)
    with pytest.raises(NtTuiError, match="permission denied"):
        load_run(path)


def test_cli_reports_bad_input_on_one_line_with_exit_code_2(tmp_path: Path):
    path = tmp_path / "garbage.bin"
    path.write_bytes(bytes(range(256)) * 10)
    done = run_cli("analyze", str(path))
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("nt-tui: error:") and "binary data" in line
    assert "Traceback" not in done.stderr


def test_nothing_to_interpret_is_a_one_line_error(tmp_path: Path):
    from nt_tui.analysis.curves import interpret

    all_nan = tmp_path / "nan.csv"
    all_nan.write_text("step,train_loss\n" + "".join(f"{s},nan\n" for s in range(1, 6)))
    with pytest.raises(NtTuiError, match="every loss value is NaN or Inf"):
        interpret(load_run(all_nan))
    one_row = tmp_path / "one.csv"
    one_row.write_text("step,train_loss\n7,2.5\n")
    with pytest.raises(NtTuiError, match=r"only one logged loss value \(step 7\)"):
        interpret(load_run(one_row))
    no_loss = tmp_path / "lr.csv"
    no_loss.write_text("step,lr\n1,0.1\n2,0.1\n")
    with pytest.raises(NtTuiError, match="no loss values to interpret"):
        interpret(load_run(no_loss))


def test_corrupt_tensorboard_file(tmp_path: Path):
    path = tmp_path / "events.out.tfevents.123.host"
    path.write_bytes(b"\x00garbage" * 40)
    with pytest.raises(NtTuiError, match="corrupt TensorBoard event file"):
        load_run(path)
