"""Start-up stays light: the CLI and the app never import torch or accelerate, and the core
never imports textual. Checked in fresh subprocesses so other tests cannot mask it."""

import subprocess
import sys

import pytest

HEAVY = ("torch", "accelerate", "optuna", "tensorboard", "transformers", "lightning", "wandb")


def modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


@pytest.mark.parametrize("code", [
    "import nt_tui.cli; nt_tui.cli.build_parser()",
    "import nt_tui.tui.app",
])
def test_start_up_imports_no_heavy_library(code):
    loaded = modules_after(code)
    assert not [m for m in HEAVY if m in loaded]


def test_app_start_up_does_not_import_pandas():
    assert "pandas" not in modules_after("import nt_tui.tui.app")


@pytest.mark.parametrize("module", [
    "nt_tui.config", "nt_tui.config.preflight", "nt_tui.config.review", "nt_tui.runfmt",
    "nt_tui.settings", "nt_tui.textdata", "nt_tui.runlogs.history",
])
def test_core_never_imports_textual(module):
    loaded = modules_after(f"import {module}")
    assert "textual" not in loaded
