"""Shared test fixtures: isolate user settings, locate the shared corpus, run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "examples"
#: Real logs written by other projects (a copy of `../shared/corpus`, sources in its
#: MANIFEST.md), kept in the repository so a clean clone tests the readers on them.
CORPUS = REPO_ROOT / "tests" / "data" / "corpus"


@pytest.fixture(autouse=True)
def _isolated_user_config(tmp_path_factory: pytest.TempPathFactory,
                          monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own XDG config dir, so no test touches ~/.config/nt-tui."""
    config_home = tmp_path_factory.mktemp("xdg-config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    return config_home


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
    """Run `python -m nt_tui ARGS` in a subprocess and capture its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "nt_tui", *args], cwd=cwd or REPO_ROOT, env=full_env,
        capture_output=True, text=True, timeout=timeout, input=input,
    )


@pytest.fixture
def cli():
    return run_cli


async def wait_until(pilot, condition: Callable[[], object], what: str | Callable[[], str],
                     seconds: float = 240.0) -> None:
    """Let the app run until `condition()` holds (workers, timers and messages all take turns
    on a busy 2-core CI machine, and importing torch + accelerate takes seconds there); fail
    with `what` after `seconds` (generous: it only costs time when something is broken)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        await pilot.pause(0.1)
