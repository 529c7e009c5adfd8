"""Sweeps that train: real nt-tui runs as Optuna trials, pruning, interruption and resumption
(in-process, and a sweep process killed with SIGKILL then run again)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from nt_tui.cli import main
from nt_tui.runfmt import is_run_dir
from nt_tui.tuning.sweep import SweepControl, SweepRunner, read_trials
from nt_tui.tuning.sweep_config import load_sweep

REPO_ROOT = Path(__file__).resolve().parents[1]
#: A one-layer, 32-wide GPT on a little text: a 12-step trial takes about a second.
BASE = """\
seed: 1
model: {size: nano, n_layer: 1, n_head: 2, n_embd: 32}
data: {train: text.txt, val_split: 0.2, batch_size: 4, seq_len: 16}
schedule: {total_steps: 100}
logging: {backends: [jsonl], every: 3, validate_every: 3, val_batches: 2}
"""


@pytest.fixture
def sweep_folder(tmp_path, monkeypatch):
    from nt_tui.resources import read_demo_corpus

    monkeypatch.chdir(tmp_path)
    (tmp_path / "text.txt").write_text(read_demo_corpus()[:12000])
    (tmp_path / "base.yaml").write_text(BASE)
    return tmp_path


def write_sweep(folder: Path, body: str, name: str = "sweep.yaml") -> Path:
    path = folder / name
    path.write_text("base_config: base.yaml\nmax_steps: 12\n" + body)
    return path


class Recorder:
    """A SweepListener that keeps what it is told, and can stop the sweep at a trial."""

    def __init__(self, control: SweepControl | None = None, stop_in_trial: int | None = None):
        self.control, self.stop_in_trial = control, stop_in_trial
        self.started: list[int] = []
        self.ended: list[tuple[int, str]] = []
        self.notes: list[str] = []

    def on_trial_start(self, number, values, run_dir):
        self.started.append(number)

    def on_trial_metrics(self, number, record):
        if number == self.stop_in_trial and record.get("step") == 3:
            self.control.stop()

    def on_trial_end(self, row):
        self.ended.append((row.number, row.state))

    def on_note(self, text):
        self.notes.append(text)


def test_random_sweep_completes_and_prunes(sweep_folder):
    path = write_sweep(sweep_folder, """\
name: prune
method: random
trials: 6
sampler_seed: 3
pruning: {startup_trials: 2}
parameters:
  optimizer.lr: {low: 1e-6, high: 3e-2, log: true}
  data.batch_size: {values: [4, 8]}
""")
    loaded = load_sweep(path)
    recorder = Recorder()
    outcome = SweepRunner(loaded, listener=recorder).run()
    assert outcome.status == "done"
    states = [row.state for row in outcome.rows]
    assert len(states) == 6 and "pruned" in states and "fail" not in states
    assert states.count("complete") >= 2
    # sorted by the objective: complete trials best first, pruned ones after
    values = [row.value for row in outcome.rows if row.state == "complete"]
    assert values == sorted(values)
    assert states.index("pruned") > max(i for i, s in enumerate(states) if s == "complete")
    assert outcome.best is outcome.rows[0]
    for row in outcome.rows:
        run_dir = Path(row.run_dir)
        assert run_dir.parent == sweep_folder / "sweeps" / "prune" and is_run_dir(run_dir)
        assert row.curve and row.curve[0][0] == 3  # every validation was reported
    pruned = next(row for row in outcome.rows if row.state == "pruned")
    assert pruned.steps < 12  # stopped early ...
    assert (Path(pruned.run_dir) / "summary.json").exists()  # ... as a readable run
    assert sorted(recorder.started) == list(range(6))
    assert sorted(number for number, _ in recorder.ended) == list(range(6))
    # the table is read back from the SQLite storage, in the same order
    assert [row.number for row in read_trials(loaded)] == [row.number for row in outcome.rows]
    assert (sweep_folder / "sweeps" / "prune" / "study.db").exists()


def test_interrupted_grid_sweep_resumes_the_same_point(sweep_folder):
    path = write_sweep(sweep_folder, """\
name: grid
method: grid
seeds: [1, 2]
parameters:
  optimizer.lr: {values: [1e-3, 3e-3]}
""")
    loaded = load_sweep(path)
    control = SweepControl()
    recorder = Recorder(control, stop_in_trial=1)
    first = SweepRunner(loaded, listener=recorder, control=control).run()
    assert first.status == "interrupted"
    by_number = {row.number: row for row in first.rows}
    assert by_number[0].state == "complete"
    assert by_number[1].state == "fail" and "queued again as trial 2" in by_number[1].reason
    assert by_number[2].state == "waiting" and by_number[2].retry_of == 1
    assert by_number[2].params == by_number[1].params

    second = SweepRunner(load_sweep(path), listener=Recorder()).run()
    assert second.status == "done"
    rows = {row.number: row for row in second.rows}
    assert rows[2].state == "complete" and rows[2].params == by_number[1].params
    assert rows[2].seed == by_number[1].seed
    complete = [row for row in second.rows if row.state == "complete"]
    # every grid point (2 LRs x 2 seeds) exactly once, the interrupted one re-run
    assert sorted((row.params["optimizer.lr"], row.seed) for row in complete) == \
        [(1e-3, 1), (1e-3, 2), (3e-3, 1), (3e-3, 2)]
    assert len(second.rows) == 5


def _study(path: Path) -> optuna.Study:
    loaded = load_sweep(path)
    return optuna.load_study(study_name=loaded.study_name, storage=loaded.storage_url)


def test_killed_sweep_process_resumes(sweep_folder, capsys):
    path = write_sweep(sweep_folder, """\
name: killed
method: tpe
trials: 3
sampler_seed: 1
pruner: none
overrides: {schedule.total_steps: 400}
parameters:
  optimizer.lr: {low: 1e-4, high: 1e-2, log: true}
""")
    # trial 1 runs 400 steps: long enough to be killed in the middle
    path.write_text(path.read_text().replace("max_steps: 12\n", ""))
    first_log = sweep_folder / "trial-0001" / "metrics.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "nt_tui", "sweep", str(path)],
                               cwd=sweep_folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    running = sweep_folder / "sweeps" / "killed" / "trial-0001" / "metrics.jsonl"
    deadline = time.monotonic() + 90
    while not running.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running.exists(), process.communicate()[0] if process.poll() is not None else ""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    del first_log
    trials = _study(path).trials
    assert [trial.state.name for trial in trials] == ["COMPLETE", "RUNNING"]
    killed_lr = trials[1].params["optimizer.lr"]

    # run it again: the dead trial is failed and queued again, the study completes
    assert main(["sweep", str(path)]) == 0
    out = capsys.readouterr().out
    assert "trial 1 was left running by a process that is gone" in out
    trials = _study(path).trials
    states = [trial.state.name for trial in trials]
    assert states[:2] == ["COMPLETE", "FAIL"] and states.count("COMPLETE") == 3
    retry = next(trial for trial in trials if trial.system_attrs.get("failed_trial") == 1)
    assert retry.params["optimizer.lr"] == killed_lr and retry.state.name == "COMPLETE"
    assert "died" in trials[1].user_attrs["reason"]
    assert len(trials) == 4  # target 3: the failed trial is replaced, not counted

    # --show reads the same study and prints the table, best first; nothing runs
    assert main(["sweep", str(path), "--show"]) == 0
    shown = capsys.readouterr().out
    assert "its process (pid" in shown and "queued again as trial" in shown
    assert shown.index("complete") < shown.index("fail")
    assert len(_study(path).trials) == 4


def test_sweep_cli_rejects_bad_input(sweep_folder, capsys):
    path = write_sweep(sweep_folder, "parameters:\n  optimizer.lrr: {values: [1e-3]}\n")
    assert main(["sweep", str(path)]) == 2
    assert "did you mean 'optimizer.lr'" in capsys.readouterr().err
    good = write_sweep(sweep_folder, "parameters:\n  optimizer.lr: {values: [1e-3]}\n",
                       name="good.yaml")
    assert main(["sweep", str(good), "--trials", "0"]) == 2
    assert main(["sweep", str(good), "--show"]) == 0
    assert "no trials yet" in capsys.readouterr().out
    assert not (sweep_folder / "sweeps").exists()  # --show creates no database


def _demo_sweep(folder: Path) -> Path:
    """examples/sweep-demo.yaml on examples/demo-tiny-gpt.yaml (the demo text), shrunk for a
    test: nano model, sequences of 16, 18 steps per trial, validation every 3 steps."""
    import yaml

    (folder / "demo-tiny-gpt.yaml").write_text(
        (REPO_ROOT / "examples" / "demo-tiny-gpt.yaml").read_text())
    sweep = yaml.safe_load((REPO_ROOT / "examples" / "sweep-demo.yaml").read_text())
    assert sweep["base_config"] == "demo-tiny-gpt.yaml" and sweep["trials"] == 6
    sweep["max_steps"] = 18
    sweep["pruning"]["warmup_steps"] = 3
    sweep["overrides"].update({"data.seq_len": 16, "logging.every": 3,
                               "logging.validate_every": 3, "logging.val_batches": 2})
    sweep["parameters"].update({"model.size": {"values": ["nano"]},
                                "data.batch_size": {"values": [4, 8]},
                                "schedule.warmup_steps": {"low": 0, "high": 10, "step": 5}})
    path = folder / "sweep-demo.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path


def test_demo_sweep_of_six_trials_prunes_and_resumes_after_kill_9(sweep_folder, capsys):
    """Issue 8's check: a 6-trial sweep of the demo config completes, prunes at least one
    trial, and picks the study up from its SQLite file after the process is killed."""
    path = _demo_sweep(sweep_folder)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "nt_tui", "sweep", str(path)],
                               cwd=sweep_folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    third = sweep_folder / "sweeps" / "sweep-demo" / "trial-0003" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not third.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert third.exists(), process.communicate()[0] if process.poll() is not None else ""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    before = {trial.number: (trial.state.name, trial.value, trial.params)
              for trial in _study(path).trials}
    finished_before = [n for n, (state, _, _) in before.items() if state in ("COMPLETE",
                                                                              "PRUNED")]
    assert 3 <= len(finished_before) < 6  # the sweep was cut short after trials 0-2

    assert main(["sweep", str(path)]) == 0  # the same command again continues the study
    out = capsys.readouterr().out
    trials = _study(path).trials
    for number in finished_before:  # nothing done before the kill was redone or lost
        assert (trials[number].state.name, trials[number].value, trials[number].params) == \
            before[number]
    states = [trial.state.name for trial in trials]
    assert states.count("COMPLETE") + states.count("PRUNED") == 6
    assert states.count("PRUNED") >= 1 and states.count("COMPLETE") >= 2
    if "RUNNING" in (state for state, _, _ in before.values()):
        assert "left running by a process that is gone" in out
    assert "Best: trial" in out
    assert (sweep_folder / "sweeps" / "sweep-demo" / "study.db").exists()


def test_openers_of_a_new_storage_at_once_all_get_it(tmp_path):
    """The sweep and the screen polling it (threads), or several worker processes, open a new
    SQLite study database at the same moment: creating Optuna's tables must not race
    ("table ... already exists")."""
    import threading

    from nt_tui.tuning.sweep import open_storage

    url = f"sqlite:///{tmp_path / 'threads' / 'study.db'}"
    start = threading.Barrier(6)
    opened, failed = [], []

    def opener() -> None:
        start.wait()
        try:
            opened.append(open_storage(url))
        except Exception as exc:  # the assertion below names it
            failed.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failed and len(opened) == 6

    url = f"sqlite:///{tmp_path / 'processes' / 'study.db'}"
    code = ("import sys, time; from nt_tui.tuning.sweep import open_storage; "
            "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); open_storage(sys.argv[1])")
    at = time.time() + 4  # after every process has imported optuna
    processes = [subprocess.Popen([sys.executable, "-c", code, url, str(at)],
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errors = [process.communicate(timeout=120)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], errors
