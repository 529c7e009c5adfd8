"""The bad-input matrix: broken configs, logs, checkpoints and command lines through the real
CLI (subprocesses). Every row must end with a non-zero exit code, exactly one line on stderr
that names the problem, no traceback, and the user's files unchanged. docs/errors.md lists
every row with its message and fix (a test keeps the two in step).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from conftest import REPO_ROOT, run_cli

ERRORS_DOC = REPO_ROOT / "docs" / "errors.md"
#: Processes run at once (they mostly wait on imports; CI has 2 cores).
PARALLEL_RUNS = 4
SHAKESPEARE = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 40

GOOD_CONFIG = """\
name: matrix
seed: 1
model: {size: nano}
data: {train: corpus.txt, val_split: 0.1, batch_size: 4, seq_len: 32}
schedule: {total_steps: 20}
logging: {backends: [jsonl], every: 5, run_dir: runs}
"""


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def with_corpus(folder: Path, config: str, corpus: str | bytes = SHAKESPEARE) -> list[str]:
    """A config next to its training text; the args train it headless."""
    write(folder, "corpus.txt", corpus)
    return ["train", str(write(folder, "config.yaml", config)), "--headless", "--yes"]


def config_edit(old: str, new: str) -> Callable[[Path], list[str]]:
    """The good config with one line changed."""
    assert old in GOOD_CONFIG
    return lambda folder: with_corpus(folder, GOOD_CONFIG.replace(old, new))


def log_file(name: str, content: str | bytes, command: str = "analyze"
             ) -> Callable[[Path], list[str]]:
    return lambda folder: [command, str(write(folder, name, content))]


def trained_run(folder: Path) -> Path:
    """A real finished nano run (shared by the checkpoint rows; built once)."""
    run_dir = folder / "runs" / "good"
    if not run_dir.exists():
        write(folder, "corpus.txt", SHAKESPEARE)
        config = write(folder, "good.yaml", GOOD_CONFIG.replace(
            "run_dir: runs}", "run_dir: runs, run_name: good}"))
        done = run_cli("train", str(config), "--headless", "--yes", cwd=folder)
        assert done.returncode == 0, done.stderr
    return run_dir


def checkpoint_of(run_dir: Path) -> Path:
    return sorted((run_dir / "checkpoints").glob("step_*.pt"))[-1]


def run_with_checkpoint(folder: Path, content: bytes | None = None) -> Path:
    """`folder/run`: the good run's config.yaml and a checkpoint file (`content`, or the good
    run's last checkpoint) at checkpoints/step_00000020.pt; returns the checkpoint's path."""
    good = trained_run(folder.parent / "shared")
    write(folder, "run/config.yaml", (good / "config.yaml").read_text(encoding="utf-8"))
    return write(folder, "run/checkpoints/step_00000020.pt",
                 checkpoint_of(good).read_bytes() if content is None else content)


# ------------------------------------------------------------------------------ the rows

@dataclass(frozen=True)
class Case:
    id: str
    #: what the input is (the first column of docs/errors.md)
    input: str
    #: builds the input under a fresh folder; returns the CLI arguments
    build: Callable[[Path], list[str]]
    #: a regular expression the error line must match (it names the problem)
    names: str


def truncated_checkpoint(folder: Path) -> list[str]:
    whole = checkpoint_of(trained_run(folder.parent / "shared")).read_bytes()
    return ["validate", str(run_with_checkpoint(folder, whole[:len(whole) // 2]))]


def checkpoint_of_another_model(folder: Path) -> list[str]:
    import torch

    target = run_with_checkpoint(folder)
    state = torch.load(target, weights_only=True)
    state["model"] = {name: torch.zeros(3, 3) for name in state["model"]}
    torch.save(state, target)
    return ["validate", str(target)]


class Exploit:
    """Unpickling this runs a shell command: what a malicious checkpoint would hold."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


def pickled_code_checkpoint(folder: Path) -> list[str]:
    import torch

    target = run_with_checkpoint(folder)
    torch.save({"format": 1, "step": 20, "model": Exploit()}, target)
    return ["validate", str(target)]


def resume_truncated(folder: Path) -> list[str]:
    whole = checkpoint_of(trained_run(folder.parent / "shared")).read_bytes()
    run_with_checkpoint(folder, whole[:len(whole) // 2])
    return ["train", "--resume", str(folder / "run")]


HF_STATE = json.dumps({"global_step": 20, "log_history": [
    {"step": 10, "loss": 2.5, "learning_rate": 1e-3}, {"step": 20, "loss": 2.1,
                                                        "learning_rate": 9e-4}]})
ALL_NAN_CSV = "step,train_loss\n" + "".join(f"{step},nan\n" for step in range(1, 30))
ONE_ROW_CSV = "step,train_loss\n1,2.5\n"

CASES = [
    # --- configs
    Case("yaml-syntax", "config: invalid YAML (unclosed bracket)",
         lambda f: with_corpus(f, "model: {size: nano\ndata: [x\n"), r"YAML|line"),
    Case("yaml-list", "config: a YAML list instead of a mapping",
         lambda f: with_corpus(f, "- model\n- data\n"), r"mapping|list"),
    Case("yaml-python-tag", "config: a `!!python/object` tag (code in YAML)",
         lambda f: with_corpus(f, "model: !!python/object/apply:os.system ['touch pwned']\n"),
         r"python|tag|YAML"),
    Case("config-missing", "config: the file does not exist",
         lambda f: ["train", str(f / "nope.yaml"), "--headless", "--yes"], r"not found"),
    Case("config-directory", "config: a directory instead of a file",
         lambda f: ["train", str(f), "--headless", "--yes"], r"director|not a file"),
    Case("config-binary", "config: binary bytes (not UTF-8 text)",
         lambda f: ["train", str(write(f, "config.yaml", b"\xff\xfe\x00\x81" * 64)),
                    "--headless", "--yes"], r"UTF-8|binary|text"),
    Case("config-wrong-type", "config: wrong type (`batch_size: lots`)",
         config_edit("batch_size: 4", "batch_size: lots"), r"batch_size"),
    Case("config-negative-lr", "config: negative learning rate",
         lambda f: with_corpus(f, GOOD_CONFIG + "optimizer: {lr: -0.001}\n"), r"optimizer\.lr"),
    Case("config-zero-lr", "config: zero learning rate",
         lambda f: with_corpus(f, GOOD_CONFIG + "optimizer: {lr: 0}\n"), r"optimizer\.lr"),
    Case("config-batch-zero", "config: `batch_size: 0`",
         config_edit("batch_size: 4", "batch_size: 0"), r"batch_size"),
    Case("config-unknown-optimizer", "config: unknown optimizer (`adamax`)",
         lambda f: with_corpus(f, GOOD_CONFIG + "optimizer: {name: adamax}\n"),
         r"optimizer\.name|adamax"),
    Case("config-unknown-key", "config: misspelt key (`learning_rate`)",
         lambda f: with_corpus(f, GOOD_CONFIG + "optimizer: {learning_rate: 0.001}\n"),
         r"learning_rate"),
    Case("config-negative-steps", "config: negative `total_steps`",
         config_edit("total_steps: 20", "total_steps: -5"), r"total_steps"),
    Case("config-bad-precision", "config: unknown precision (`fp8`)",
         lambda f: with_corpus(f, GOOD_CONFIG + "precision: fp8\n"), r"precision"),
    Case("config-val-split", "config: `val_split: 1.5`",
         config_edit("val_split: 0.1", "val_split: 1.5"), r"val_split"),
    Case("data-missing", "config: training data file missing",
         lambda f: ["train", str(write(f, "config.yaml", GOOD_CONFIG)), "--headless", "--yes"],
         r"corpus\.txt"),
    Case("data-empty", "config: training data file empty",
         lambda f: with_corpus(f, GOOD_CONFIG, ""), r"corpus\.txt.*empty|empty.*corpus"),
    Case("data-not-utf8", "config: training data not UTF-8",
         lambda f: with_corpus(f, GOOD_CONFIG, "café naïve ".encode("latin-1") * 200),
         r"UTF-8"),
    Case("data-shorter-than-seq-len", "config: data shorter than `seq_len`",
         lambda f: with_corpus(f, GOOD_CONFIG, "too short"), r"seq_len"),
    # --- logs
    Case("log-missing", "log: the path does not exist",
         lambda f: ["analyze", str(f / "nothing.jsonl")], r"no such file"),
    Case("log-empty", "log: an empty file", log_file("metrics.jsonl", ""), r"empty"),
    Case("log-binary", "log: binary bytes", log_file("metrics.csv", bytes(range(256)) * 8),
         r"binary"),
    Case("log-truncated-json", "log: trainer_state.json cut off mid-file",
         log_file("trainer_state.json", HF_STATE[:70]), r"trainer_state\.json"),
    Case("log-torn-only", "log: JSONL holding one torn line",
         log_file("log.jsonl", '{"step": 1, "train_loss": 2.'), r"log\.jsonl"),
    Case("log-all-nan", "log: every loss NaN", log_file("log.csv", ALL_NAN_CSV), r"NaN"),
    Case("log-no-step", "log: table without a step or metric column",
         log_file("table.csv", "name,colour\nfoo,red\nbar,blue\n"), r"column"),
    Case("log-one-row", "log: one row", log_file("log.csv", ONE_ROW_CSV),
         r"one|1 row|single"),
    Case("log-empty-dir", "log: a folder with no logs",
         lambda f: ["analyze", str(f)], r"no training logs"),
    Case("log-bad-tensorboard", "log: corrupt TensorBoard event file",
         log_file("events.out.tfevents.123.host", b"\x00garbage" * 40), r"TensorBoard|event"),
    Case("diagnose-empty", "log: `diagnose` on an empty file",
         log_file("metrics.jsonl", "", command="diagnose"), r"empty"),
    Case("diagnose-all-nan", "log: `diagnose` on a log whose losses are all NaN",
         log_file("log.csv", ALL_NAN_CSV, command="diagnose"), r"NaN|no loss values"),
    Case("diagnose-one-row", "log: `diagnose` on a one-row log",
         log_file("log.csv", ONE_ROW_CSV, command="diagnose"), r"one|1 row|points"),
    # --- checkpoints
    Case("checkpoint-missing", "checkpoint: the path does not exist",
         lambda f: ["validate", str(f / "step_00000010.pt")], r"not found"),
    Case("checkpoint-truncated", "checkpoint: truncated file", truncated_checkpoint,
         r"checkpoint"),
    Case("checkpoint-not-torch", "checkpoint: a text file named .pt",
         lambda f: ["validate", str(run_with_checkpoint(f, b"hello"))], r"checkpoint"),
    Case("checkpoint-other-model", "checkpoint: weights of another model",
         checkpoint_of_another_model, r"model|shape|size"),
    Case("checkpoint-pickled-code", "checkpoint: pickled code (a callable)",
         pickled_code_checkpoint, r"checkpoint"),
    Case("resume-truncated", "checkpoint: `train --resume` from a truncated checkpoint",
         resume_truncated, r"checkpoint"),
    # --- command-line arguments
    Case("cli-unknown-command", "CLI: unknown subcommand", lambda f: ["frobnicate"],
         r"frobnicate"),
    Case("cli-unknown-option", "CLI: unknown option",
         lambda f: ["train", "--fast"], r"--fast"),
    Case("cli-train-nothing", "CLI: `train` without a config", lambda f: ["train"],
         r"config"),
    Case("cli-max-steps-text", "CLI: `--max-steps abc`",
         lambda f: [*with_corpus(f, GOOD_CONFIG), "--max-steps", "abc"], r"max-steps"),
    Case("cli-max-steps-zero", "CLI: `--max-steps 0`",
         lambda f: [*with_corpus(f, GOOD_CONFIG), "--max-steps", "0"], r"total_steps"),
    Case("cli-val-split", "CLI: `--val-split 2`",
         lambda f: [*with_corpus(f, GOOD_CONFIG), "--val-split", "2"], r"val_split"),
    Case("cli-config-and-resume", "CLI: a config and `--resume` together",
         lambda f: [*with_corpus(f, GOOD_CONFIG), "--resume", str(f)], r"--resume"),
    Case("cli-resume-not-run", "CLI: `--resume` of a folder that is not a run",
         lambda f: ["train", "--resume", str(f)], r"not an nt-tui run"),
    Case("cli-validate-batches", "CLI: `validate --batches 0`",
         lambda f: ["validate", str(f), "--batches", "0"], r"--batches"),
    Case("cli-analyze-nothing", "CLI: `analyze` without a path", lambda f: ["analyze"],
         r"path"),
    Case("cli-diagnose-symptom", "CLI: unknown `--symptom`",
         lambda f: ["diagnose", str(f), "--symptom", "bogus"], r"bogus|symptom"),
]


# ------------------------------------------------------------------------------ running

def files_of(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under `folder`."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    before: dict[str, str]
    after: dict[str, str]


def run_case(case: Case, root: Path) -> Outcome:
    folder = root / case.id
    folder.mkdir()
    args = case.build(folder)
    before = files_of(folder)
    done = run_cli(*args, cwd=folder)
    return Outcome(done.returncode, done.stdout, done.stderr, before, files_of(folder))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, Outcome]:
    """Every row run once, several at a time."""
    root = tmp_path_factory.mktemp("bad-inputs")
    trained_run(root / "shared")  # the checkpoint rows copy from it
    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        futures = {case.id: pool.submit(run_case, case, root) for case in CASES}
        return {name: future.result() for name, future in futures.items()}


def test_the_matrix_has_at_least_30_rows_in_every_group():
    groups = {case.input.split(":")[0] for case in CASES}
    assert len(CASES) >= 30 and groups == {"config", "log", "checkpoint", "CLI"}
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_gives_one_line_naming_the_problem(case, outcomes):
    outcome = outcomes[case.id]
    lines = outcome.stderr.strip().splitlines()
    report = f"exit {outcome.code}\nstderr:\n{outcome.stderr}\nstdout tail:\n" \
             f"{outcome.stdout[-1500:]}"
    assert outcome.code != 0, report
    assert "Traceback" not in outcome.stderr + outcome.stdout, report
    assert len(lines) == 1, report
    assert lines[0].startswith("nt-tui"), report
    assert re.search(case.names, lines[0], re.IGNORECASE), report
    assert outcome.after == outcome.before, "the user's files changed"


def test_no_input_ran_code_from_a_file(outcomes):
    """The YAML tag and the pickled checkpoint would `touch pwned` if nt-tui ran them."""
    for case in CASES:
        assert "pwned" not in outcomes[case.id].after, case.id
    assert not (REPO_ROOT / "pwned").exists()


def test_every_row_is_documented():
    text = ERRORS_DOC.read_text(encoding="utf-8")
    missing = [case.input for case in CASES if case.input not in text]
    assert not missing, f"rows missing from docs/errors.md: {missing}"
