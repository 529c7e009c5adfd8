"""Each reader on real files written by the real tools (SummaryWriter, wandb offline, nt-tui's
own RunLogger) or in the tools' exact formats (nanoGPT and fairseq lines, CSV, JSONL)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nt_tui
from conftest import CORPUS
from nt_tui.runlogs import discover_runs, load_run, load_runs, relative_steps
from nt_tui.runlogs.jsonl import line_by_line_table, flat_numeric_frame, parse_jsonl
from nt_tui.runlogs.names import canonical_columns

WHISPER = CORPUS / "hf_trainer_state" / "P4P4N1CK__whisper-large-v2-japanese__trainer_state.json"


def write_tensorboard(log_dir: Path, steps: range, new_style_eval: bool = True) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(log_dir))
    for step in steps:
        writer.add_scalar("train/loss", 4.0 - step / 100, step)
        writer.add_scalar("train/learning_rate", 3e-4, step)
        writer.add_scalar("train/grad_norm", 0.5, step)
    writer.add_scalar("eval/loss", 3.5, steps[-1], new_style=new_style_eval)
    writer.close()


def test_canonical_table_maps_every_tool_name():
    mapping = canonical_columns(["loss", "eval_loss", "learning_rate", "grad_norm", "epoch",
                                 "lr-AdamW", "train_loss_epoch", "samples_per_s", "time",
                                 "global_step"])
    assert mapping == {"loss": "train_loss", "eval_loss": "val_loss", "learning_rate": "lr",
                       "grad_norm": "grad_norm", "epoch": "epoch", "samples_per_s": "throughput",
                       "time": "wall_time", "global_step": "step"}
    assert canonical_columns(["lr-AdamW/pg2", "lr-AdamW/pg1", "lr-AdamW-momentum"]) == {
        "lr-AdamW/pg1": "lr"}
    assert canonical_columns(["train/loss", "Loss/Val", "gnorm", "wps"]) == {
        "train/loss": "train_loss", "Loss/Val": "val_loss", "gnorm": "grad_norm",
        "wps": "tokens_per_s"}
    # spaces match underscores; a test loss stands in for a missing validation loss only
    assert canonical_columns(["Train Loss", "Validation Loss", "LearningRate", "grad/norm"]) == {
        "Train Loss": "train_loss", "Validation Loss": "val_loss", "LearningRate": "lr",
        "grad/norm": "grad_norm"}
    assert canonical_columns(["train_loss_epoch", "test_loss"]) == {
        "train_loss_epoch": "train_loss", "test_loss": "val_loss"}
    assert canonical_columns(["train_loss_step", "train_loss_epoch", "val_loss", "test_loss"]) == {
        "train_loss_step": "train_loss", "val_loss": "val_loss"}


def test_nt_tui_run_directory_from_the_plain_logger(tmp_path: Path):
    with nt_tui.run("exp", root=tmp_path, config={"optimizer": {"lr": 0.01}}) as run:
        for step in range(0, 50, 10):
            run.log(step, train_loss=3.0 - step / 100, lr=0.01, grad_norm=1.0, samples_per_s=90.0,
                    tokens_per_s=9000.0, time=1_700_000_000.0 + step)
        run.log(40, val_loss=2.9, val_ppl=18.2, time=1_700_000_040.0)
    (run_dir,) = tmp_path.iterdir()
    history = load_run(run_dir)
    assert history.format == "nt_tui_run" and history.name == run_dir.name
    assert history.steps == 5
    assert history.series("throughput").iloc[0] == 90.0
    assert history.series("tokens_per_s").iloc[0] == 9000.0
    assert history.series("wall_time").tolist() == [0.0, 10.0, 20.0, 30.0, 40.0]
    assert history.series("val_loss").to_dict() == {40: 2.9}
    assert history.original_names["throughput"] == "samples_per_s"
    assert "val_ppl" in history.metrics and "elapsed" in history.metrics
    assert [e["kind"] for e in history.events] == ["start", "finish"]
    assert history.config == {"optimizer": {"lr": 0.01}}
    assert load_run(run_dir / "metrics.jsonl").format == "nt_tui_run"


def test_tensorboard_directory_and_file_from_summary_writer(tmp_path: Path):
    write_tensorboard(tmp_path / "tb", range(0, 100, 10))
    history = load_run(tmp_path / "tb")
    assert history.format == "tensorboard"
    assert history.series("train_loss").tolist() == pytest.approx(
        [4.0 - s / 100 for s in range(0, 100, 10)])
    assert history.series("val_loss").to_dict() == {90: 3.5}  # a TF2-style tensor scalar
    assert history.original_names == {"train_loss": "train/loss", "val_loss": "eval/loss",
                                      "lr": "train/learning_rate", "grad_norm": "train/grad_norm",
                                      "wall_time": "wall_time"}
    assert history.series("wall_time").iloc[0] == 0.0
    (event_file,) = (tmp_path / "tb").iterdir()
    assert load_run(event_file).steps == 10


def test_tensorboard_resume_writes_a_second_file_whose_steps_win(tmp_path: Path):
    write_tensorboard(tmp_path / "tb", range(0, 100, 10))
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(tmp_path / "tb"), filename_suffix=".resumed")
    for step in range(50, 150, 10):
        writer.add_scalar("train/loss", 1.0, step)
    writer.close()
    history = load_run(tmp_path / "tb")
    assert history.series("train_loss").loc[[40, 50, 140]].tolist() == pytest.approx(
        [3.6, 1.0, 1.0])
    assert any("resume" in note for note in history.notes)


def test_wandb_offline_run_read_with_wandbs_protobuf(tmp_path: Path, monkeypatch):
    import wandb

    monkeypatch.setenv("WANDB_SILENT", "true")
    run = wandb.init(project="nt", mode="offline", dir=str(tmp_path),
                     settings=wandb.Settings(console="off", silent=True))
    for step in range(0, 30, 10):
        run.log({"train/loss": 2.0 - step / 100, "train/learning_rate": 1e-3}, step=step)
    run.log({"eval/loss": 1.9}, step=30)
    run.finish()
    wandb.teardown()  # finish() can return before wandb-core has flushed the .wandb file
    (run_dir,) = discover_runs(tmp_path)
    assert run_dir.name.startswith("offline-run-")
    history = load_run(tmp_path)
    assert history.format == "wandb_offline"
    assert history.series("train_loss").to_dict() == pytest.approx({0: 2.0, 10: 1.9, 20: 1.8})
    assert history.series("val_loss").to_dict() == {30: 1.9}
    assert history.original_names["lr"] == "train/learning_rate"


def test_hf_output_directory_reads_the_newest_checkpoint(tmp_path: Path):
    state = json.loads(WHISPER.read_text())
    for step, entries in ((1000, 40), (2000, 81)):
        checkpoint = tmp_path / "out" / f"checkpoint-{step}"
        checkpoint.mkdir(parents=True)
        partial = dict(state, global_step=step, log_history=state["log_history"][:entries])
        (checkpoint / "trainer_state.json").write_text(json.dumps(partial))
    history = load_run(tmp_path / "out")
    assert history.format == "hf_trainer_state" and history.name == "out"
    assert int(history.frame["step"].iloc[-1]) == 2000
    assert discover_runs(tmp_path) == [tmp_path / "out"]


def test_lightning_version_directory_with_hparams(tmp_path: Path):
    version = tmp_path / "lightning_logs" / "version_0"
    version.mkdir(parents=True)
    shutil.copy(CORPUS / "lightning_csv" / "BvoJa__GPTTT__v0_metrics.csv", version / "metrics.csv")
    (version / "hparams.yaml").write_text("lr: 0.001\nn_layer: 4\n")
    (tmp_path / "lightning_logs" / "version_1").mkdir()
    shutil.copy(version / "metrics.csv", tmp_path / "lightning_logs" / "version_1" / "metrics.csv")
    history = load_run(version)
    assert history.format == "lightning_csv" and history.name == "version_0"
    assert history.config == {"lr": 0.001, "n_layer": 4}
    runs = load_runs([tmp_path / "lightning_logs"])
    assert [run.name for run in runs] == ["version_0", "version_1"]


def test_generic_csv_tsv_and_lightning_names(tmp_path: Path):
    csv_path = tmp_path / "log.csv"
    csv_path.write_text("global_step,train/loss,lr-AdamW,gradient_norm\n0,3.0,0.001,1.5\n"
                        "10,2.5,0.001,1.2\n")
    history = load_run(csv_path)
    assert history.format == "csv"
    assert history.metrics == ["train_loss", "lr", "grad_norm"]
    tsv_path = tmp_path / "log.tsv"
    tsv_path.write_text("iteration\tloss\tval_loss\n1\t3.0\t\n2\t2.0\t2.5\n")
    history = load_run(tsv_path)
    assert history.series("val_loss").to_dict() == {2: 2.5}


def test_generic_jsonl_with_nested_values_and_no_step(tmp_path: Path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"loss": 3.0, "lr": 0.1, "grads": {"fc": 1.0}, "tag": "a"}\n'
                    '{"loss": 2.0, "lr": 0.1, "grads": {"fc": 0.5}, "tag": "b"}\n')
    history = load_run(path)
    assert history.format == "jsonl"
    assert history.frame["step"].tolist() == [0, 1]
    assert history.series("grads/fc").tolist() == [1.0, 0.5]
    assert "no step column: row numbers used as steps" in history.notes


def test_jsonl_fast_path_equalsline_by_line_table():
    rng = np.random.default_rng(0)
    lines = []
    for step in range(3000):
        record = {"step": step, "train_loss": float(rng.random()), "lr": 3e-4}
        if step % 100 == 0:
            record["val_loss"] = 2.5
        if step == 7:
            record["grad_norm"] = "NaN"
        if step == 8:
            record["grad_norm"] = "Infinity"
        lines.append(json.dumps(record))
    data = ("\n".join(lines) + "\n").encode()
    fast = flat_numeric_frame(data)
    assert fast is not None
    slow, skipped, nan_mask = line_by_line_table(data)
    assert skipped == 0 and nan_mask.to_numpy().sum() == 1
    pd.testing.assert_frame_equal(fast[sorted(fast.columns)], slow[sorted(slow.columns)],
                                  check_dtype=False)
    assert parse_jsonl(data).explicit_nan == 1
    # a spaced line late in a compact file is still read by the fast path
    compact = [json.dumps({"step": i, "loss": 1.0}, separators=(",", ":")) for i in range(3000)]
    compact[2500] = json.dumps({"step": 2500, "loss": 0.5})
    assert flat_numeric_frame(("\n".join(compact) + "\n").encode()).loc[2500].tolist() == [
        2500.0, 0.5]
    # nesting, strings and colons inside strings fall back to the line-by-line path
    assert flat_numeric_frame(b'{"step":1,"a":{"b":2}}\n' * 10) is None
    assert flat_numeric_frame(b'{"step":1,"msg":"x:y"}\n' * 10) is None


def test_jsonl_fast_path_in_threaded_chunks_equals_line_by_line(monkeypatch):
    """A large buffer is parsed as chunks of lines in threads: keys that appear only in a
    later chunk, rows split between chunks and a bad line in one chunk give the same table
    (or the same fallback) as one pass."""
    import nt_tui.runlogs.jsonl as jsonl

    lines = [json.dumps({"step": step, "train_loss": 4.0 - step / 1e4, "lr": 1e-3})
             for step in range(6000)]
    for step in range(4500, 6000, 250):  # only in the last chunk
        lines[step] = json.dumps({"step": step, "train_loss": 1.0, "val_loss": 2.0})
    data = ("\n".join(lines) + "\n").encode()
    monkeypatch.setattr(jsonl, "PARALLEL_MIN_BYTES", len(data) // 3)
    assert len(jsonl._line_chunks(data, 3)) == 3
    fast = flat_numeric_frame(data)
    slow, _, _ = line_by_line_table(data)
    assert len(fast) == 6000 and fast["val_loss"].notna().sum() == 6
    pd.testing.assert_frame_equal(fast[sorted(fast.columns)], slow[sorted(slow.columns)],
                                  check_dtype=False)
    # a text value in the middle chunk makes the whole buffer take the exact slow path
    lines[3000] = json.dumps({"step": 3000, "note": "resumed: from ckpt"})
    assert flat_numeric_frame(("\n".join(lines) + "\n").encode()) is None
    table = parse_jsonl(("\n".join(lines) + "\n").encode())
    assert len(table.frame) == 6000 and table.skipped == 0


def test_nanogpt_text_log(tmp_path: Path):
    path = tmp_path / "train.log"
    path.write_text("tokens per iteration will be: 16,384\n"
                    "step 0: train loss 4.2874, val loss 4.2823\n"
                    "iter 0: loss 4.2649, time 23087.76ms, mfu -100.00%\n"
                    "iter 10: loss 3.2438, time 108.60ms, mfu 3.44%\n"
                    "iter 20: loss 2.7871, time 108.51ms, mfu 3.44%\n"
                    "saving checkpoint to out-shakespeare-char\n")
    history = load_run(path)
    assert history.format == "text_log"
    assert history.series("train_loss").to_dict() == {0: 4.2649, 10: 3.2438, 20: 2.7871}
    assert history.series("val_loss").to_dict() == {0: 4.2823}
    assert history.series("train_loss_eval").to_dict() == {0: 4.2874}
    assert history.series("iter_time_ms").iloc[1] == pytest.approx(108.60)


def test_fairseq_text_log(tmp_path: Path):
    path = tmp_path / "fairseq.log"
    path.write_text(
        "2021-03-01 10:00:00 | INFO | fairseq_cli.train | model transformer_lm\n"
        "2021-03-01 10:01:00 | INFO | train_inner | epoch 001:    100 / 1000 loss=9.21, "
        "nll_loss=8.9, ppl=477.6, wps=12345, ups=3.2, num_updates=100, lr=0.0005, gnorm=1.23\n"
        "2021-03-01 10:02:00 | INFO | train_inner | epoch 001:    200 / 1000 loss=8.5, "
        "nll_loss=8.1, ppl=300, wps=12400, ups=3.2, num_updates=200, lr=0.0005, gnorm=1.1\n"
        "2021-03-01 10:03:00 | INFO | valid | epoch 001 | valid on 'valid' subset | loss 8.123 "
        "| nll_loss 7.9 | ppl 239 | wps 40000 | num_updates 200 | best_loss 8.123\n")
    history = load_run(path)
    assert history.series("train_loss").to_dict() == {100: 9.21, 200: 8.5}
    assert history.series("val_loss").to_dict() == {200: 8.123}
    assert history.series("grad_norm").to_dict() == {100: 1.23, 200: 1.1}
    assert history.series("tokens_per_s").iloc[0] == 12345
    assert history.series("epoch").tolist() == [1.0, 1.0]


def test_prose_that_mentions_a_step_and_a_loss_is_not_a_text_log(tmp_path: Path):
    notes = tmp_path / "NOTES.md"
    notes.write_text("# Run notes\n\nAt step 1200 the loss was 2.5; we lowered lr to 3e-4.\n"
                     "| run | step 500 | loss 3.1 |\n")
    with pytest.raises(nt_tui.errors.NtTuiError, match="unknown format"):
        load_run(notes)
    # the same kind of lines, repeated step after step as a log writes them, are read
    log = tmp_path / "train.txt"
    log.write_text("".join(f"step {step} loss {3 - step / 100:.2f} lr 0.001\n"
                           for step in range(0, 40, 10)))
    assert load_run(log).series("train_loss").to_dict() == {0: 3.0, 10: 2.9, 20: 2.8, 30: 2.7}


def test_several_runs_aligned_by_relative_step():
    runs = load_runs([CORPUS / "lightning_csv"])
    assert len(runs) == 4
    resumed = next(run for run in runs if run.name.endswith("v5_metrics"))
    shifted = relative_steps(resumed)
    assert int(shifted.frame["step"].iloc[0]) == 0
    assert int(shifted.frame["step"].iloc[-1]) == 197035 - 140749
