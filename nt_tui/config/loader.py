"""Load a YAML training config, with errors that name the file, line and key.

Values come from `yaml.safe_load`; line numbers come from composing the same text into
nodes (also safe: no object construction), so an error can point at the line to fix.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from nt_tui.config.schema import TrainingConfig
from nt_tui.errors import NtTuiError

ModelT = TypeVar("ModelT", bound=BaseModel)

#: Names other tools use for nt-tui's keys, for suggestions that difflib cannot find.
KEY_SYNONYMS = {
    "learning_rate": "lr", "max_lr": "lr", "peak_lr": "lr", "wd": "weight_decay",
    "scheduler": "name", "sheduler": "name", "type": "name", "optimizer": "name",
    "max_steps": "total_steps", "steps": "total_steps", "num_steps": "total_steps",
    "iters": "total_steps", "max_iters": "total_steps", "num_epochs": "epochs",
    "warmup": "warmup_steps", "warmup_iters": "warmup_steps",
    "max_grad_norm": "grad_clip", "clip_grad_norm": "grad_clip", "gradient_clipping": "grad_clip",
    "block_size": "seq_len", "context_length": "seq_len", "max_seq_len": "seq_len",
    "gradient_accumulation_steps": "grad_accum", "accumulate_grad_batches": "grad_accum",
    "val": "validation", "valid": "validation", "eval": "validation", "val_path": "validation",
    "train_path": "train", "backend": "backends", "log_every": "every", "eval_every": "validate_every",
    "save_every": "every", "checkpoint_every": "every", "keep": "keep_last",
}


class ConfigError(NtTuiError):
    """A config that cannot be used, with every problem found (one per line in `problems`)."""

    def __init__(self, source: str, problems: list[str], hint: str | None = None) -> None:
        self.source = source
        self.problems = problems
        first = problems[0]
        more = f" (+{len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        super().__init__(f"{first}{more}",
                         hint=hint or f"fix {source} and run `nt-tui check {source}`")


def _line_map(text: str) -> dict[tuple[str, ...], int]:
    """Map each key path to its 1-based line in the YAML text."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = (*path, str(key_node.value))
                lines[key] = key_node.start_mark.line + 1
                walk(value_node, key)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[(*path, str(index))] = item.start_mark.line + 1
                walk(item, (*path, str(index)))

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, ())
    return lines


def _fields_at(path: tuple[str, ...], root: type[BaseModel] = TrainingConfig) -> list[str]:
    """The valid keys of the section at `path` of `root` (for typo suggestions)."""
    model: type[BaseModel] = root
    for part in path:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _describe(error: dict[str, Any], lines: dict[tuple[str, ...], int], source: str,
              root: type[BaseModel] = TrainingConfig) -> str:
    loc = tuple(str(part) for part in error["loc"])
    # Errors from a whole-section validator carry the section path only.
    where = loc
    while where and where not in lines:
        where = where[:-1]
    line = lines.get(where)
    position = f"{source}:{line}" if line else source
    key = ".".join(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        valid = _fields_at(loc[:-1], root)
        synonym = KEY_SYNONYMS.get(loc[-1].lower())
        close = [synonym] if synonym in valid else difflib.get_close_matches(
            loc[-1], valid, n=1, cutoff=0.6)
        suggestion = f"; did you mean '{close[0]}'?" if close else ""
        section = ".".join(loc[:-1]) or "the top level"
        return (
            f"{position}: unknown key '{key}'{suggestion} "
            f"(valid keys in {section}: {', '.join(valid)})"
        )
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    shown = "" if isinstance(value, dict) else f", got {value!r}"
    return f"{position}: {key}: {message}{shown}"


def _line_of(problem: str) -> int:
    head = problem.split(": ", 1)[0]
    number = head.rsplit(":", 1)[-1]
    return int(number) if number.isdigit() else 0


def load_config_text(text: str, source: str = "<config>") -> TrainingConfig:
    """Parse and validate config text; raise `ConfigError` naming every problem."""
    return load_model_text(text, source, TrainingConfig)


def load_model_text(text: str, source: str, model: type[ModelT], hint: str | None = None,
                    expected: str = "a mapping of sections (model:, data:, ...)") -> ModelT:
    """Parse YAML text into `model` (a pydantic model); raise `ConfigError` naming every
    problem with its file:line and, for unknown keys, the closest valid key of `model`."""
    try:
        data = yaml.safe_load(text)
        lines = _line_map(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(source, [f"{where}: invalid YAML: {problem}"], hint) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            source, [f"{source}:1: expected {expected}, got {type(data).__name__}"], hint
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = sorted(
            (_describe(error, lines, source, model) for error in exc.errors()), key=_line_of
        )
        raise ConfigError(source, problems, hint) from None


def read_yaml_file(path: Path, what: str = "config") -> str:
    """The text of a YAML file the user gave; `NtTuiError` naming `what` when unreadable."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NtTuiError(f"{what} file not found: {path}", hint="check the path") from None
    except IsADirectoryError:
        raise NtTuiError(f"{path} is a directory, not a {what} file",
                         hint="give the path of a .yaml file") from None
    except PermissionError:
        raise NtTuiError(f"cannot read {path}: permission denied",
                         hint="check the file's permissions") from None
    except UnicodeDecodeError:
        raise NtTuiError(f"{path} is not UTF-8 text", hint=f"save the {what} as UTF-8") from None


def load_config(path: str | Path) -> TrainingConfig:
    """Read and validate a YAML config file."""
    path = Path(path)
    return load_config_text(read_yaml_file(path), source=str(path))


def dump_config(config: TrainingConfig) -> str:
    """The config as YAML, sections in schema order, None values left out."""
    data = config.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False)
