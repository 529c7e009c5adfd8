"""Security: nothing nt-tui reads can run code or drive the terminal.

- checkpoints load with `torch.load(weights_only=True)`: a pickled callable is refused;
- YAML is read with `safe_load`: a `!!python` tag is an error, never an object;
- the source has no eval/exec, no pickle/marshal loads, no unsafe YAML, no torch.load without
  weights_only=True (checked on the syntax tree, so comments and strings do not count);
- the only code a config runs is an explicit `module:function` (model.entrypoint,
  logging.callback), and pre-flight shows it;
- run names, metric names and log text are shown without their control and escape sequences
  (in the app's monitor and on the command line).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch

from conftest import REPO_ROOT, run_cli
from nt_tui.config import load_config_text
from nt_tui.config.preflight import Level, run_preflight
from nt_tui.engine.checkpoint import load_checkpoint
from nt_tui.errors import NtTuiError

PACKAGE = REPO_ROOT / "nt_tui"
#: A metric name that would clear the screen, retitle the terminal and turn text red.
EVIL_METRIC = "\x1b[2J\x1b]0;owned\x07\x1b[31mevil_metric\x1b[0m"
EVIL_MESSAGE = "loss looks \x1b[5mfine\x1b[0m\x07 \x9b31m"
#: What is left of them once cleaned (the visible words).
SHOWN_METRIC = "evil_metric"


class OpensAFile:
    """Unpickling this calls `open(path, "w")`: any callable a malicious checkpoint names
    would run the same way."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


# --------------------------------------------------------------------------- checkpoints

def test_checkpoint_holding_a_pickled_callable_is_refused(tmp_path):
    marker = tmp_path / "ran"
    checkpoint = tmp_path / "step_00000010.pt"
    torch.save({"format": 1, "step": 10, "model": OpensAFile(marker)}, checkpoint)

    with pytest.raises(NtTuiError) as refused:
        load_checkpoint(checkpoint)
    assert not marker.exists()
    assert "open" in str(refused.value)  # names what it refused to call

    torch.load(checkpoint, weights_only=False)  # proof the file is a real exploit
    assert marker.exists()


def test_cli_refuses_the_pickled_checkpoint_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.yaml").write_text("model: {size: nano}\nlogging: {backends: [jsonl]}\n")
    torch.save({"format": 1, "step": 10, "model": OpensAFile(marker)},
               run_dir / "checkpoints" / "step_00000010.pt")
    for args in (["validate", str(run_dir)], ["train", "--resume", str(run_dir)]):
        done = run_cli(*args, cwd=tmp_path)
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
        assert not marker.exists(), args


# ------------------------------------------------------------------------------- configs

def test_yaml_python_tags_are_errors_not_objects(tmp_path):
    marker = tmp_path / "ran"
    text = f"name: !!python/object/apply:builtins.open ['{marker}', 'w']\n"
    with pytest.raises(NtTuiError, match="tag"):
        load_config_text(text, source="evil.yaml")
    assert not marker.exists()


def test_preflight_shows_the_code_a_config_will_run(tmp_path):
    config = load_config_text(
        "model: {entrypoint: 'mypkg.models:build', num_params: 1000}\n"
        "data: {train: corpus.txt, allow_no_validation: true}\n"
        "schedule: {total_steps: 10}\n"
        "logging: {backends: [jsonl, callback], callback: 'mypkg.hooks:on_metrics'}\n")
    (tmp_path / "corpus.txt").write_text("some text " * 100)
    findings = run_preflight(config, tmp_path / "config.yaml").findings
    shown = " ".join(f.message for f in findings if f.level is Level.INFO)
    assert "mypkg.models:build" in shown and "mypkg.hooks:on_metrics" in shown


def test_code_references_must_be_module_colon_function():
    for bad in ("os.system", "__import__('os').system('x')", "mypkg.models:build; rm -rf /"):
        with pytest.raises(NtTuiError):
            load_config_text(f"model: {{entrypoint: \"{bad}\"}}\n", source="bad.yaml")


# ----------------------------------------------------------------------- the source code

def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def unsafe_calls(source: str) -> list[str]:
    """The calls in `source` that could run code from data."""
    found = []
    for call in _calls(ast.parse(source)):
        name = _dotted(call.func)
        keywords = {k.arg: k.value for k in call.keywords}
        if name in ("eval", "exec", "builtins.eval", "builtins.exec", "compile"):
            found.append(name)
        elif name.split(".")[0] in ("pickle", "cPickle", "dill", "cloudpickle", "marshal",
                                    "shelve", "joblib") and name.rsplit(".", 1)[-1] in (
                "load", "loads", "open", "Unpickler"):
            found.append(name)
        elif name in ("yaml.load", "yaml.load_all", "yaml.unsafe_load", "yaml.full_load",
                      "yaml.unsafe_load_all", "yaml.full_load_all"):
            found.append(name)
        elif name == "torch.load":
            flag = keywords.get("weights_only")
            if not (isinstance(flag, ast.Constant) and flag.value is True):
                found.append("torch.load without weights_only=True")
    return found


def test_the_checker_finds_what_it_looks_for():
    assert unsafe_calls("eval(x)\nexec(y)\npickle.loads(b)\nyaml.load(t)\ntorch.load(p)\n"
                        "torch.load(p, weights_only=False)\n") == [
        "eval", "exec", "pickle.loads", "yaml.load", "torch.load without weights_only=True",
        "torch.load without weights_only=True"]
    assert unsafe_calls("model.eval()\nyaml.safe_load(t)\ntorch.load(p, weights_only=True)\n"
                        "'eval(x)'\n# exec(y)\n") == []


def test_no_code_runs_from_data_anywhere_in_the_package():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for call in unsafe_calls(path.read_text(encoding="utf-8")):
            problems.append(f"{path.relative_to(REPO_ROOT)}: {call}")
    assert not problems, problems


# --------------------------------------------------------------------- what is displayed

def write_run_with_escapes(folder: Path) -> Path:
    """An nt-tui run directory whose metric name, warning text and name carry escapes."""
    run_dir = folder / "evil\x1b[31mrun"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("name: evil\n", encoding="utf-8")
    with open(run_dir / "metrics.jsonl", "w", encoding="utf-8") as handle:
        for step in range(1, 61):
            handle.write(json.dumps({"step": step, "train_loss": 3.0 - step / 60,
                                     EVIL_METRIC: step * 0.5}) + "\n")
    (run_dir / "events.jsonl").write_text(
        json.dumps({"time": 0, "kind": "warning", "step": 30, "code": "loss_spike",
                    "severity": "warning", "message": EVIL_MESSAGE}) + "\n", encoding="utf-8")
    return run_dir


def screen_text(app) -> list[str]:
    """The app's screen as rendered: one string per terminal row."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def assert_clean(text: str) -> None:
    controls = [hex(ord(ch)) for ch in text if ord(ch) < 32 and ch != "\n"
                or 0x7F <= ord(ch) <= 0x9F]
    assert not controls, f"control characters on screen: {controls}"


async def test_monitor_shows_escape_laden_names_and_messages_as_plain_text(tmp_path):
    from nt_tui.tui.app import NtTuiApp

    run_dir = write_run_with_escapes(tmp_path)
    app = NtTuiApp(area="monitor", area_args={"path": str(run_dir)})
    async with app.run_test(size=(120, 50)) as pilot:
        for _ in range(50):  # the follower reads the log in its worker
            await pilot.pause(0.1)
            if "step 60" in "".join(screen_text(app)):
                break
        await pilot.press("slash", *"evil", "enter")  # the metric filter: only its chart
        await pilot.pause(0.5)
        screen = "\n".join(screen_text(app))
    assert SHOWN_METRIC in screen and "evilrun" in screen, screen  # name and metric shown
    assert "loss looks fine" in screen, screen  # the warning's text
    assert_clean(screen)
    assert "owned" not in screen  # the window-title sequence's payload is dropped too


def test_cli_output_has_no_escape_sequences_from_logs(tmp_path):
    run_dir = write_run_with_escapes(tmp_path)
    for command in ("analyze", "diagnose"):
        done = run_cli(command, str(run_dir), cwd=tmp_path)
        assert done.returncode in (0, 1), done.stderr
        assert_clean(done.stdout + done.stderr)
