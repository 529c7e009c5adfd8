"""Crash safety of headless training, as a user meets it: real `nt-tui train` processes killed
with SIGKILL at random steps and resumed, stopped by SIGINT/SIGTERM/SIGHUP, and denied their
checkpoint folder or disk space mid-run.

Guarantees checked (README "Reliability"):
- after `kill -9`, metrics.jsonl and events.jsonl stay readable (a torn last line is skipped
  by readers and cut off by the resume), at most `checkpointing.every` steps are lost, and the
  resumed run reproduces the uninterrupted run's curve step for step;
- a checkpoint that cannot be written (no space, no permission) ends the run with a
  `failure` event and exit code 1; the previous checkpoint is byte-for-byte intact;
- SIGINT, SIGTERM and SIGHUP stop after the current step with a final checkpoint and exit 3;
- in the app, an SSH drop (the terminal hangs up: SIGHUP) stops training the same way.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pty
import random
import resource
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
import yaml

from nt_tui.engine.checkpoint import load_checkpoint, step_checkpoints
from nt_tui.runfmt import EVENTS_FILE, METRICS_FILE, iter_jsonl

REPO_ROOT = Path(__file__).resolve().parents[1]
TOTAL_STEPS = 100
CHECKPOINT_EVERY = 10
#: Seeds of the kill steps; each run is killed KILLS_PER_RUN times (small: the suite stays fast).
KILL_SEEDS = (11, 23)
KILLS_PER_RUN = 2
#: Losses of the resumed and the uninterrupted run agree to this (same data, weights and RNG).
CURVE_TOLERANCE = 1e-5
#: A file-size limit below one nano checkpoint (~2.8 MB) and above the run's JSONL logs.
FILE_SIZE_LIMIT = 1_000_000
PROCESS_TIMEOUT = 120


def write_config(folder: Path, run_name: str, total_steps: int = TOTAL_STEPS) -> Path:
    config = {
        "name": "crash", "seed": 5, "model": {"size": "nano"},
        "data": {"train": "demo:tinyshakespeare", "allow_no_validation": True,
                 "batch_size": 8, "seq_len": 32},
        "schedule": {"name": "cosine", "total_steps": total_steps},
        "checkpointing": {"every": CHECKPOINT_EVERY, "keep_last": 2},
        "logging": {"backends": ["jsonl"], "every": 1, "run_dir": str(folder / "runs"),
                    "run_name": run_name},
    }
    path = folder / f"{run_name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def train(*args: str, argv_prefix: tuple[str, ...] = (), **popen) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([*argv_prefix, sys.executable, "-m", "nt_tui", "train", *args],
                            cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=PROCESS_TIMEOUT)
    return process.returncode, out, err


def run_to_end(*args: str, **popen) -> tuple[int, str, str]:
    return finish(train(*args, **popen))


def wait_for_step(process: subprocess.Popen, step: int) -> str:
    """Read progress lines until training reached `step`; return what was read."""
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("step ") and int(line.split()[1].split("/")[0]) >= step:
            return "".join(seen)
    raise AssertionError(f"the run ended before step {step}:\n{''.join(seen)[-2000:]}\n"
                         f"{process.stderr.read()[-2000:]}")


def losses(run_dir: Path) -> dict[int, float]:
    """Train loss by step; for a step logged twice (killed, then resumed) the later row."""
    return {r["step"]: r["train_loss"] for _, r in iter_jsonl(run_dir / METRICS_FILE)}


def events(run_dir: Path) -> list[dict]:
    return [event for _, event in iter_jsonl(run_dir / EVENTS_FILE)]


def strict_lines(path: Path) -> list[dict]:
    """Every line of a JSONL file parsed strictly: fails on any torn or corrupt line."""
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def strict_lines_allowing_torn_tail(path: Path) -> list[dict]:
    """The complete lines of a JSONL file, parsed strictly (a torn last line is left out)."""
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_no_traceback(err: str) -> None:
    assert "Traceback" not in err, err


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[int, float]:
    """The uninterrupted run's train loss at every step."""
    folder = tmp_path_factory.mktemp("reference")
    code, _, err = run_to_end(str(write_config(folder, "reference")), "--headless", "--yes")
    assert code == 0, err
    curve = losses(folder / "runs" / "reference")
    assert sorted(curve) == list(range(1, TOTAL_STEPS + 1))
    return curve


def kill_at_random_step(run_dir: Path, process: subprocess.Popen, rng: random.Random,
                        first: int, reference: dict[int, float]) -> int:
    """SIGKILL `process` at a random step after `first`; check what survives. Returns the step
    of the checkpoint a resume starts from."""
    wait_for_step(process, rng.randint(first, first + TOTAL_STEPS // (KILLS_PER_RUN + 1)))
    process.kill()  # SIGKILL: no handler runs, no final checkpoint
    process.communicate(timeout=PROCESS_TIMEOUT)
    logged = losses(run_dir)  # readable right after the kill
    last_logged = max(logged)
    assert last_logged < TOTAL_STEPS, "the run finished before the kill"
    last_saved, last_path = step_checkpoints(run_dir / "checkpoints")[-1]
    assert load_checkpoint(last_path)["step"] == last_saved
    assert last_logged - last_saved <= CHECKPOINT_EVERY  # at most one interval lost
    for step, loss in logged.items():  # everything logged so far is on the reference curve
        assert loss == pytest.approx(reference[step], abs=CURVE_TOLERANCE), step
    # A writer killed mid-line leaves a torn tail: readers skip it, the resume cuts it off.
    with open(run_dir / METRICS_FILE, "a", encoding="utf-8") as handle:
        handle.write('{"step": %d, "train_lo' % (last_logged + 1))
    assert losses(run_dir) == logged
    return last_saved


@pytest.mark.parametrize("seed", KILL_SEEDS)
def test_kill_9_at_random_steps_then_resume_continues_the_curve(tmp_path, reference, seed):
    rng = random.Random(seed)
    run_dir = tmp_path / "runs" / "killed"
    process = train(str(write_config(tmp_path, "killed")), "--headless", "--yes")
    resumed_from = kill_at_random_step(run_dir, process, rng, CHECKPOINT_EVERY + 1, reference)
    for kill in range(KILLS_PER_RUN):
        rows_before = len(strict_lines_allowing_torn_tail(run_dir / METRICS_FILE))
        process = train("--resume", str(run_dir))
        if kill < KILLS_PER_RUN - 1:  # the resumed run is killed again
            resumed_from = kill_at_random_step(run_dir, process, rng,
                                               resumed_from + CHECKPOINT_EVERY + 1, reference)
            continue
        code, out, err = finish(process)
        assert code == 0, err
        assert_no_traceback(err)
        assert f"at step {resumed_from}" in out and "Run finished" in out
        rows = strict_lines(run_dir / METRICS_FILE)  # torn lines repaired: every line parses
        assert [row["step"] for row in rows[rows_before:]] == \
            list(range(resumed_from + 1, TOTAL_STEPS + 1))
    after = losses(run_dir)
    assert sorted(after) == list(range(1, TOTAL_STEPS + 1))
    for step, loss in after.items():  # the resumed runs continue the same curve
        assert loss == pytest.approx(reference[step], abs=CURVE_TOLERANCE), step
    kinds = [event["kind"] for event in strict_lines(run_dir / EVENTS_FILE)]
    assert kinds[0] == "start" and kinds.count("resume") == KILLS_PER_RUN
    assert kinds[-1] == "finish"


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_stop_signal_writes_a_final_checkpoint_and_exits_cleanly(tmp_path, signame):
    run_dir = tmp_path / "runs" / "stopped"
    process = train(str(write_config(tmp_path, "stopped", total_steps=100_000)), "--headless",
                    "--yes")
    wait_for_step(process, CHECKPOINT_EVERY + 3)
    process.send_signal(getattr(signal, signame))
    code, out, err = finish(process)
    assert code == 3, err  # stopped early, resumable
    assert_no_traceback(err)
    assert f"[{signame}] stopping" in err and "Run stopped" in out
    stop = events(run_dir)[-1]
    assert stop["kind"] == "stop" and signame in stop["message"]
    last_step, last_path = step_checkpoints(run_dir / "checkpoints")[-1]
    assert last_step == stop["step"] == max(losses(run_dir))  # nothing lost
    assert load_checkpoint(last_path)["step"] == last_step
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "stopped"


# ------------------------------------------------------------------- checkpoint write failures

@pytest.fixture(scope="module")
def twenty_step_run(tmp_path_factory) -> Path:
    """A finished 20-step run with checkpoints at steps 10 and 20, to be resumed to 40."""
    folder = tmp_path_factory.mktemp("twenty")
    code, _, err = run_to_end(str(write_config(folder, "base", total_steps=20)), "--headless",
                              "--yes")
    assert code == 0, err
    return folder / "runs" / "base"


def _permissions_bind(folder: Path) -> bool:
    """True when a read-only mode stops this user writing in `folder` (not for root)."""
    probe = folder / ".probe"
    try:
        probe.write_text("x")
    except PermissionError:
        return True
    probe.unlink()
    return False


def _read_only_folder(folder: Path) -> tuple[str, ...]:
    """Make `folder` unwritable for the next process; returns a command prefix (if needed).

    chmod for ordinary users; for root (whom modes do not stop) a read-only bind mount of the
    folder in a private mount namespace around the process (`unshare`).
    """
    folder.chmod(0o555)
    if _permissions_bind(folder):
        return ()
    folder.chmod(0o755)
    unshare = shutil.which("unshare")
    quoted = str(folder).replace("'", "'\\''")
    prefix = (unshare, "--user", "--map-root-user", "--mount", "sh", "-c",
              f"mount --bind '{quoted}' '{quoted}' && "
              f"mount -o remount,bind,ro '{quoted}' && exec \"$@\"", "sh")
    probe = subprocess.run([*prefix, "touch", str(folder / ".probe")], capture_output=True) \
        if unshare else None
    if probe is None or probe.returncode == 0 or "Read-only" not in probe.stderr.decode():
        pytest.fail("cannot make a folder unwritable here: running as root without "
                    "unprivileged mount namespaces (unshare)")
    return prefix


def _limit_file_size() -> None:
    """In the child: files may not grow past FILE_SIZE_LIMIT (writes beyond fail, EFBIG),
    as on a full disk. Python ignores SIGXFSZ, so the write returns an error."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, resource.RLIM_INFINITY))


@pytest.mark.parametrize("cause", ["unwritable checkpoint folder", "disk full"])
def test_checkpoint_that_cannot_be_written_is_a_failure_event(tmp_path, twenty_step_run, cause):
    run_dir = tmp_path / "run"
    shutil.copytree(twenty_step_run, run_dir)
    checkpoint_dir = run_dir / "checkpoints"
    (_, previous), = [c for c in step_checkpoints(checkpoint_dir) if c[0] == 20]
    previous_hash = sha256(previous)
    popen: dict = {}
    if cause == "disk full":
        popen["preexec_fn"] = _limit_file_size
    else:
        popen["argv_prefix"] = _read_only_folder(checkpoint_dir)
    try:
        code, out, err = run_to_end("--resume", str(run_dir), "--max-steps", "40", **popen)
    finally:
        checkpoint_dir.chmod(0o755)
    assert code == 1, err
    assert_no_traceback(err)
    failure = events(run_dir)[-1]
    assert failure["kind"] == "failure" and failure["step"] == 30
    assert "checkpoint failed" in failure["message"] and "intact" in failure["message"]
    assert "Run failed" in out or "failed" in out
    assert sha256(previous) == previous_hash  # the previous checkpoint is untouched
    assert load_checkpoint(previous)["step"] == 20
    assert [step for step, _ in step_checkpoints(checkpoint_dir)] == [10, 20]
    assert not [p for p in checkpoint_dir.iterdir() if p.name.endswith(".tmp")]
    steps = [row["step"] for row in strict_lines(run_dir / METRICS_FILE)]
    assert steps == list(range(1, 31))  # the logs are whole up to the failed step
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "failed"


# ---------------------------------------------------------------------- the app over SSH

#: Terminal size of the app under test (the app's minimum: 80x24).
TERMINAL_ROWS, TERMINAL_COLUMNS = 30, 100


class Terminal:
    """A pseudo-terminal the app runs in, as under sshd: closing it is the connection
    dropping, and the kernel then sends SIGHUP to the app."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ,
                    struct.pack("HHHH", TERMINAL_ROWS, TERMINAL_COLUMNS, 0, 0))
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1",
               "TERM": "xterm-256color"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nt_tui", *args], cwd=cwd, env=env, stdin=slave,
            stdout=slave, stderr=slave, preexec_fn=_take_terminal, close_fds=True)
        os.close(slave)
        self.screen = b""

    def read_until(self, condition, timeout: float = 60) -> None:
        """Keep reading the app's output (so it never blocks) until `condition()`."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, self.screen[-3000:].decode(errors="replace")
            assert self.process.poll() is None, "the app exited"
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                self.screen = (self.screen + os.read(self.master, 65536))[-200_000:]

    def press(self, key: str) -> None:
        os.write(self.master, key.encode())

    def hang_up(self) -> None:
        os.close(self.master)


def _take_terminal() -> None:
    """In the child: a new session whose controlling terminal is the pty on stdin."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_ssh_drop_while_the_app_trains_stops_with_a_final_checkpoint(tmp_path):
    config = write_config(tmp_path, "app", total_steps=100_000)
    run_dir = tmp_path / "runs" / "app"
    terminal = Terminal("train", str(config), cwd=tmp_path)
    try:
        terminal.read_until(lambda: b"Start" in terminal.screen)  # the review screen
        terminal.press("s")
        terminal.read_until(lambda: b"start" in terminal.screen.rpartition(b"Start")[2])
        terminal.press("y")  # confirm: the monitor opens and trains
        terminal.read_until(lambda: (run_dir / EVENTS_FILE).exists() and any(
            event["kind"] == "checkpoint" for event in events(run_dir)))
        terminal.hang_up()
        code = terminal.process.wait(timeout=PROCESS_TIMEOUT)
    finally:
        if terminal.process.poll() is None:
            terminal.process.kill()
    assert code >= 0, f"the app was killed by signal {-code}: no final checkpoint"
    stop = events(run_dir)[-1]
    assert stop["kind"] == "stop" and "SIGHUP" in stop["message"]
    last_step, last_path = step_checkpoints(run_dir / "checkpoints")[-1]
    assert last_step == stop["step"] == max(losses(run_dir))
    assert load_checkpoint(last_path)["step"] == last_step
