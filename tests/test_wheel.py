"""The built wheel carries the knowledge documents, themes, examples and the demo corpus."""

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT

CHECK = """
import sys
sys.path.insert(0, sys.argv[1])
import nt_tui.resources as r
assert r.__file__.startswith(sys.argv[1]), r.__file__
for folder in (r.knowledge_dir(), r.themes_dir(), r.examples_dir()):
    assert str(folder).startswith(sys.argv[1]) and folder.is_dir(), folder
assert {p.name for p in r.themes_dir().glob('*.yaml')} >= {'nt-dark.yaml', 'nt-light.yaml', 'nt-high-contrast.yaml'}
assert r.demo_config_path().is_file()
assert r.read_demo_corpus().startswith('First Citizen')
from nt_tui.cli import main
sys.exit(main(['check', str(r.demo_config_path())]))
"""


def test_wheel_contains_shipped_files_and_runs(tmp_path: Path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-w", str(dist), str(REPO_ROOT)], check=True, capture_output=True)
    wheel = next(dist.glob("nt_tui-*.whl"))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", CHECK, str(target)], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Result: ready to train" in result.stdout
