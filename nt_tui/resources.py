"""Where the files nt-tui ships live: knowledge documents, themes, examples, demo corpus.

In an installed wheel they sit under `nt_tui/_data/` (see pyproject's force-include); in a
source checkout or an editable install they are the top-level folders of the repository.
"""

from __future__ import annotations

import gzip
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_WHEEL_DATA = PACKAGE_DIR / "_data"
_SOURCE_ROOT = PACKAGE_DIR.parent

DEMO_CORPUS_GZ = PACKAGE_DIR / "demo_data" / "tinyshakespeare.txt.gz"
DEMO_CORPUS_ATTRIBUTION = (
    "tinyshakespeare: about 40,000 lines of Shakespeare's plays (public domain), as collected "
    "by Andrej Karpathy for char-rnn (2015)."
)
#: The name a config uses for the bundled demo text in `data.train`.
DEMO_DATASET_NAME = "demo:tinyshakespeare"


def _shipped_dir(name: str) -> Path:
    wheel = _WHEEL_DATA / name
    if wheel.is_dir():
        return wheel
    return _SOURCE_ROOT / name


def knowledge_dir() -> Path:
    """The folder holding the five knowledge documents."""
    return _shipped_dir("knowledge")


def themes_dir() -> Path:
    """The folder holding the built-in themes."""
    return _shipped_dir("themes")


def examples_dir() -> Path:
    """The folder holding the example configs."""
    return _shipped_dir("examples")


def demo_config_path() -> Path:
    """The built-in demo config: a tiny GPT on the bundled Shakespeare text."""
    return examples_dir() / "demo-tiny-gpt.yaml"


def read_demo_corpus() -> str:
    """The bundled demo text, decompressed."""
    with gzip.open(DEMO_CORPUS_GZ, "rt", encoding="utf-8") as handle:
        return handle.read()
