"""Live following: only new data is read, rewrites and resumes reset, new runs appear."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nt_tui.runlogs import follow
from nt_tui.runlogs.formats import base
from nt_tui.runlogs.follow import Follower


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def test_jsonl_rows_arrive_once_and_a_partial_line_waits(tmp_path: Path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"step": 0, "loss": 3.0}\n')
    follower = Follower(path)
    first = follower.poll()
    assert first.rows["train_loss"].tolist() == [3.0] and first.rows["run"].tolist() == ["log"]
    assert follower.poll().rows.empty
    append(path, '{"step": 1, "loss": 2.5}\n{"step": 2, "lo')
    assert follower.poll().rows["step"].tolist() == [1]
    append(path, 'ss": 2.0}\n')
    update = follower.poll()
    assert update.rows["step"].tolist() == [2] and not update.reset


def test_reads_only_the_new_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "log.csv"
    path.write_text("step,loss\n" + "".join(f"{s},{1 / (s + 1)}\n" for s in range(5000)))
    follower = Follower(path)
    assert len(follower.poll().rows) == 5000
    seen: list[int] = []

    real = base.read_complete_lines

    def spy(file_path, start=0):
        chunk = real(file_path, start)
        seen.append(len(chunk.data))
        return chunk

    monkeypatch.setattr(base, "read_complete_lines", spy)
    append(path, "".join(f"{s},0.1\n" for s in range(5000, 5100)))
    update = follower.poll()
    assert update.rows["step"].tolist() == list(range(5000, 5100))
    assert seen == [len("".join(f"{s},0.1\n" for s in range(5000, 5100)))]


def test_truncated_file_is_reread(tmp_path: Path):
    path = tmp_path / "log.csv"
    path.write_text("step,loss\n1,3.0\n2,2.0\n3,1.0\n")
    follower = Follower(path)
    follower.poll()
    path.write_text("step,loss\n1,9.0\n")
    update = follower.poll()
    assert update.reset and update.reset_runs == ["log"]
    assert update.rows["train_loss"].tolist() == [9.0]


def test_rotated_file_is_reread(tmp_path: Path):
    path = tmp_path / "train.log"
    path.write_text("iter 0: loss 4.0, time 10.0ms, mfu 1.0%\niter 10: loss 3.0, time 10.0ms\n")
    follower = Follower(path)
    assert len(follower.poll().rows) == 2
    path.rename(tmp_path / "train.log.1")
    path.write_text("iter 20: loss 2.5, time 10.0ms\niter 30: loss 2.4, time 10.0ms\n"
                    "iter 40: loss 2.3, time 10.0ms\n")
    update = follower.poll()
    assert update.reset and update.rows["step"].tolist() == [20, 30, 40]


def test_lightning_rewrite_with_a_wider_header_resets(tmp_path: Path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train_loss_step\n0,9,3.0\n0,19,2.9\n")
    follower = Follower(path)
    follower.poll()
    path.write_text("epoch,step,train_loss_step,val_loss\n0,9,3.0,\n0,19,2.9,\n0,19,,3.1\n")
    update = follower.poll()
    assert update.reset
    assert update.rows.set_index("step").loc[19, "val_loss"] == 3.1


def test_resumed_run_going_back_in_steps_resets(tmp_path: Path):
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps({"step": s, "loss": 3.0}) + "\n" for s in range(5)))
    follower = Follower(path)
    follower.poll()
    append(path, "".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in range(3, 7)))
    update = follower.poll()
    assert update.reset
    assert update.rows["train_loss"].tolist() == [3.0, 3.0, 3.0, 1.0, 1.0, 1.0, 1.0]


def test_directory_picks_up_new_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(follow, "RESCAN_SECONDS", 0.0)
    (tmp_path / "a.csv").write_text("step,loss\n1,2.0\n")
    follower = Follower(tmp_path)
    first = follower.poll()
    assert first.new_runs == [tmp_path / "a.csv"]
    (tmp_path / "b.jsonl").write_text('{"step": 5, "val_loss": 1.5}\n')
    append(tmp_path / "a.csv", "2,1.9\n")
    update = follower.poll()
    assert update.new_runs == [tmp_path / "b.jsonl"]
    assert sorted(zip(update.rows["run"], update.rows["step"])) == [("a", 2), ("b", 5)]


def test_empty_directory_waits_for_its_first_run(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(follow, "RESCAN_SECONDS", 0.0)
    follower = Follower(tmp_path)
    assert follower.poll().empty
    (tmp_path / "run.csv").write_text("step,loss\n1,2.0\n")
    assert follower.poll().rows["train_loss"].tolist() == [2.0]


def test_tensorboard_new_events_and_new_files(tmp_path: Path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(tmp_path))
    writer.add_scalar("loss", 3.0, 0)
    writer.flush()
    follower = Follower(tmp_path)
    assert follower.poll().rows["train_loss"].tolist() == [3.0]
    writer.add_scalar("loss", 2.0, 1)
    writer.flush()
    assert follower.poll().rows["step"].tolist() == [1]
    writer.close()
    second = SummaryWriter(log_dir=str(tmp_path), filename_suffix=".second")
    second.add_scalar("loss", 1.0, 2)
    second.close()
    update = follower.poll()
    assert update.rows["step"].tolist() == [2] and not update.reset


def test_hf_state_rewrite_passes_on_new_entries(tmp_path: Path):
    path = tmp_path / "trainer_state.json"
    history = [{"step": 10, "loss": 2.0, "epoch": 0.1}]
    path.write_text(json.dumps({"global_step": 10, "log_history": history}))
    follower = Follower(path)
    assert follower.poll().rows["step"].tolist() == [10]
    history.append({"step": 20, "loss": 1.5, "epoch": 0.2})
    history.append({"step": 20, "eval_loss": 1.7, "epoch": 0.2})
    time.sleep(0.01)
    path.write_text(json.dumps({"global_step": 20, "log_history": history}) + " ")
    update = follower.poll()
    assert update.rows[["step", "train_loss", "val_loss"]].values.tolist() == [[20, 1.5, 1.7]]


WRITER = """
import sys, time
path = sys.argv[1]
for step in range(1, 6):
    with open(path, "a") as handle:
        handle.write(f"{step},{3.0 - step / 10},{time.time()!r}\\n")
    time.sleep(0.2)
"""


def test_second_process_appending_to_a_csv_is_seen_within_a_second(tmp_path: Path):
    path = tmp_path / "live.csv"
    path.write_text("step,loss,written_at\n0,3.0,0\n")
    follower = Follower(path)
    follower.poll()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
    delays: dict[int, float] = {}
    try:
        deadline = time.monotonic() + 20
        while len(delays) < 5 and time.monotonic() < deadline:
            rows = follower.poll().rows
            now = time.time()
            for step, written in zip(rows["step"], rows.get("written_at", [])):
                delays[int(step)] = now - written
            time.sleep(0.1)  # the monitor polls a few times per second
    finally:
        writer.wait(timeout=30)
    assert sorted(delays) == [1, 2, 3, 4, 5]
    assert max(delays.values()) < 1.0


def test_items_for_the_monitor_feed(tmp_path: Path):
    import nt_tui

    with nt_tui.run("live", root=tmp_path) as run:
        run.log(1, train_loss=2.0)
    (run_dir,) = tmp_path.iterdir()
    ((name, rows, reset, info),) = Follower(run_dir).poll().items()
    assert name == run_dir.name and rows["train_loss"].tolist() == [2.0] and not reset
    assert info["has_events"] and info["format"] == "nt_tui_run"
    assert [event["kind"] for event in info["events"]] == ["start", "finish"]


def test_eval_row_arriving_later_is_merged_into_its_step(tmp_path: Path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train_loss,val_loss\n0,10,2.0,\n")
    follower = Follower(path)
    follower.poll()
    append(path, "0,10,,2.4\n0,20,1.8,\n")
    rows = follower.poll().rows
    assert rows[["step", "train_loss", "val_loss"]].values.tolist()[0] == [10, 2.0, 2.4]
    assert rows["step"].tolist() == [10, 20]


def test_follow_and_analysis_are_torch_and_textual_free():
    code = ("import sys, nt_tui.runlogs.follow, nt_tui.analysis.curves, nt_tui.analysis.report;"
            "print(' '.join(sorted(m for m in ('torch', 'textual', 'tensorboard', 'wandb') "
            "if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == ""


def test_wall_time_keeps_its_origin_across_polls_and_resumes(tmp_path: Path):
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps({"step": s, "loss": 3.0, "time": 1.7e9 + s}) + "\n"
                            for s in range(5)))
    follower = Follower(path)
    follower.poll()
    append(path, json.dumps({"step": 5, "loss": 2.0, "time": 1.7e9 + 5}) + "\n")
    assert follower.poll().rows["wall_time"].tolist() == [5.0]
    append(path, json.dumps({"step": 2, "loss": 1.0, "time": 1.7e9 + 9}) + "\n")
    rows = follower.poll().rows
    assert rows["step"].tolist() == [0, 1, 2]  # steps 2-5 of the abandoned run are dropped
    assert rows["wall_time"].tolist() == [0.0, 1.0, 9.0]
    append(path, json.dumps({"step": 3, "loss": 1.0, "time": 1.7e9 + 10}) + "\n")
    assert follower.poll().rows["wall_time"].tolist() == [10.0]


# ------------------------------------------------- the app's monitor, with a real writer

async def test_app_monitor_shows_a_second_processs_csv_rows_within_a_second(tmp_path: Path,
                                                                             monkeypatch):
    """`nt-tui monitor DIR`'s screen on a folder of runs: rows a second process appends to a
    CSV reach the screen's run buffer within a second, and a run created later joins it."""
    from nt_tui.tui.app import NtTuiApp

    monkeypatch.setattr(follow, "RESCAN_SECONDS", 0.2)
    runs = tmp_path / "runs"
    runs.mkdir()
    live = runs / "live.csv"
    live.write_text("step,loss,written_at\n0,3.0,0\n")
    app = NtTuiApp(area="monitor", area_args={"path": runs})
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        deadline = time.monotonic() + 30
        while "live" not in screen.runs or screen.runs["live"].last_step != 0:
            assert time.monotonic() < deadline, "the monitor never read the log"
            await pilot.pause(0.05)
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(live)])
        seen: dict[int, float] = {}
        try:
            deadline = time.monotonic() + 30
            while len(seen) < 5 and time.monotonic() < deadline:
                last = screen.runs["live"].last_step or 0
                for step in range(1, last + 1):
                    seen.setdefault(step, time.time())
                await pilot.pause(0.05)
        finally:
            writer.wait(timeout=30)
        written = {int(line.split(",")[0]): float(line.split(",")[2])
                   for line in live.read_text().splitlines()[2:]}
        assert sorted(seen) == [1, 2, 3, 4, 5]
        delays = {step: seen[step] - written[step] for step in seen}
        assert max(delays.values()) < 1.0, delays
        assert screen.runs["live"].latest["train_loss"] == (5, pytest.approx(2.5))

        (runs / "later.jsonl").write_text('{"step": 3, "loss": 1.5}\n')
        deadline = time.monotonic() + 10
        while "later" not in screen.runs:
            assert time.monotonic() < deadline, f"the new run never appeared: {screen.runs}"
            await pilot.pause(0.05)
        assert screen.runs["later"].latest["train_loss"] == (3, 1.5)


def test_an_unreadable_log_is_reported_until_it_can_be_read(tmp_path: Path):
    path = tmp_path / "train.csv"
    path.write_text("")
    follower = Follower(path)
    (error,) = follower.poll().errors
    assert "empty file" in error and "nt-tui reads:" in error
    path.write_text("step,loss\n1,2.0\n")
    update = follower.poll()
    assert not update.errors and update.rows["train_loss"].tolist() == [2.0]


async def test_app_monitor_on_binary_garbage_notifies_and_stays_open(tmp_path: Path):
    from nt_tui.tui.app import NtTuiApp
    from nt_tui.tui.screens.monitor import MonitorScreen

    garbage = tmp_path / "garbage.log"
    garbage.write_bytes(bytes(range(256)) * 8)
    app = NtTuiApp(area="monitor", area_args={"path": garbage})
    async with app.run_test(size=(100, 30)) as pilot:
        deadline = time.monotonic() + 20
        while not app._notifications:
            assert time.monotonic() < deadline, "no notification"
            await pilot.pause(0.1)
        await pilot.pause(1.2)  # later polls find the same problem: said once
        messages = [n.message for n in app._notifications]
        assert len(messages) == 1 and "binary data" in messages[0], messages
        assert isinstance(app.screen, MonitorScreen) and app.is_running


@pytest.mark.parametrize("content,found", [(b"", "empty file"),
                                           (bytes(range(256)) * 4, "binary data"),
                                           (b"hello there\nnothing to see\n", "unknown format")])
def test_cli_monitor_refuses_an_unreadable_log_on_one_line(tmp_path: Path, content, found):
    from conftest import run_cli

    path = tmp_path / "train.log"
    path.write_bytes(content)
    done = run_cli("monitor", str(path), timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("nt-tui: error:") and found in line and "nt-tui reads:" in line
