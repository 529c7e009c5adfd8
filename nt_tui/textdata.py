"""Find and read the plain-text datasets a config names (no torch here).

`data.train` is either the bundled demo corpus (`demo:tinyshakespeare`) or a path to a
UTF-8 text file, relative to the config file's folder or absolute.
"""

from __future__ import annotations

import json
from pathlib import Path

from nt_tui.errors import NtTuiError
from nt_tui.resources import DEMO_DATASET_NAME, read_demo_corpus


def dataset_path(spec: str, base: Path) -> Path | None:
    """The file a dataset spec names, or None for the demo corpus."""
    if spec == DEMO_DATASET_NAME:
        return None
    path = Path(spec).expanduser()
    return path if path.is_absolute() else base / path


def read_training_text(spec: str, base: Path) -> str:
    """The text of a dataset; `NtTuiError` if it is missing, empty or not UTF-8."""
    path = dataset_path(spec, base)
    if path is None:
        return read_demo_corpus()
    if not path.exists():
        raise NtTuiError(f"data file not found: {path}",
                         hint=f"check data paths, or use `{DEMO_DATASET_NAME}` for the demo text")
    if path.is_dir():
        raise NtTuiError(f"data path {path} is a directory", hint="point to a plain-text file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise NtTuiError(f"data file {path} is not UTF-8 text (bad byte at offset {exc.start})",
                         hint="convert it to UTF-8, or set data.tokenizer: byte") from None
    except PermissionError:
        raise NtTuiError(f"cannot read data file {path}: permission denied",
                         hint="check the file's permissions") from None
    if not text.strip():
        raise NtTuiError(f"data file {path} is empty", hint="point data.train at a text file")
    return text


def hf_param_estimate(model_dir: Path | None) -> int | None:
    """Rough parameter count of a local Hugging Face model from its config.json."""
    if model_dir is None:
        return None
    try:
        cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    d = cfg.get("hidden_size") or cfg.get("n_embd") or cfg.get("d_model")
    layers = cfg.get("num_hidden_layers") or cfg.get("n_layer") or cfg.get("num_layers")
    vocab = cfg.get("vocab_size")
    if not (isinstance(d, int) and isinstance(layers, int) and isinstance(vocab, int)):
        return None
    return 12 * layers * d * d + vocab * d
