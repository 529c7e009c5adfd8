"""The sweep file `nt-tui sweep` runs (written by hand or by `nt-tui plan`): schema, loading
with file:line errors, where its outputs go, and how its search space maps onto Optuna.

Format and every default: docs/sweeps.md. No optuna import here: `suggest_values` takes the
Optuna trial it is given, so this module loads on CLI start-up and in the app.
"""

from __future__ import annotations

import difflib
import itertools
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, \
    model_validator

from nt_tui.config.schema import TrainingConfig
from nt_tui.errors import NtTuiError

Method = Literal["grid", "random", "tpe"]
Metric = Literal["val_loss", "train_loss"]
#: The record key whose values are a trial's intermediate values (pruning and curves).
INTERMEDIATE_KEY = {"val_loss": "val_loss", "train_loss": "train_loss_avg"}
#: Default parent of sweep directories (relative to the current directory, like logging.run_dir).
SWEEPS_DIR = "sweeps"
#: The SQLite database of a sweep directory, when the sweep file names no storage.
STUDY_DB = "study.db"
#: Trials of a random or TPE sweep that names no `trials` (grid: the grid's size).
DEFAULT_TRIALS = 20
#: Median pruner defaults: Optuna's own are 5 startup trials, too many for short sweeps; two
#: finished trials already give a median to compare against.
DEFAULT_STARTUP_TRIALS = 2
#: Config keys a sweep sets itself (from `max_steps` and `seeds`), not parameters.
RESERVED_KEYS = ("seed", "schedule.total_steps", "schedule.epochs")
#: Values Optuna stores for a categorical choice (and GridSampler accepts).
CHOICE_TYPES = (str, int, float, bool, type(None))
_EXPONENT_NUMBER = re.compile(r"[+-]?[0-9]*\.?[0-9]+e[+-]?[0-9]+", re.IGNORECASE)


def yaml_number(value: Any) -> Any:
    """`1e-3` as YAML means it to a person: a number (YAML 1.1 reads it as text)."""
    if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value.strip()):
        return float(value)
    return value


# ------------------------------------------------------------------ training-config keys

def config_keys(model: type[BaseModel] = TrainingConfig, prefix: str = "") -> list[str]:
    """Every dotted key of a setting (not a section) of the training config."""
    keys = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += config_keys(annotation, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def key_kind(key: str) -> str:
    """"float", "int" or "other": how a range over the config key `key` is sampled.

    Raises ValueError naming the closest valid key when `key` is not a training-config setting.
    """
    model: type[BaseModel] = TrainingConfig
    *sections, leaf = key.split(".")
    for part in sections:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            model = None  # type: ignore[assignment]
            break
        model = annotation
    if model is None or leaf not in model.model_fields or \
            isinstance(model.model_fields[leaf].annotation, type) and \
            issubclass(model.model_fields[leaf].annotation, BaseModel):
        close = difflib.get_close_matches(key, config_keys(), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else \
            " (dotted keys such as optimizer.lr, see docs/config.md)"
        raise ValueError(f"'{key}' is not a setting of the training config{hint}")
    annotation = model.model_fields[leaf].annotation
    options = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) \
        else (annotation,)
    if float in options:
        return "float"
    if int in options:
        return "int"
    return "other"


# ------------------------------------------------------------------------- the schema

class SweepSection(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParameterSpace(SweepSection):
    """One searched config key: a list of `values`, or a `low`..`high` range."""

    values: list[Any] | None = Field(None, description="The choices.")
    low: float | None = Field(None, description="Smallest value of a range (inclusive).")
    high: float | None = Field(None, description="Largest value of a range (inclusive).")
    log: bool = Field(False, description="Sample the range log-uniformly.")
    step: float | None = Field(None, gt=0, description="Spacing of the points of a range.")

    @field_validator("values", mode="before")
    @classmethod
    def _numbers_in_values(cls, value: Any) -> Any:
        return [yaml_number(item) for item in value] if isinstance(value, list) else value

    @field_validator("low", "high", "step", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        return yaml_number(value)

    @field_validator("values")
    @classmethod
    def _choices(cls, value: list[Any] | None) -> list[Any] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("needs at least one value")
        bad = [item for item in value if not isinstance(item, CHOICE_TYPES)]
        if bad:
            raise ValueError(f"values must be numbers, names or true/false, got {bad[0]!r}")
        if len(set(map(repr, value))) != len(value):
            raise ValueError("repeats a value")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> "ParameterSpace":
        has_range = self.low is not None or self.high is not None
        if self.values is not None and has_range:
            raise ValueError("give values or low/high, not both")
        if self.values is None:
            if self.low is None or self.high is None:
                raise ValueError("give values: [...] or both low and high")
            if self.low >= self.high:
                raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
            if self.log and self.low <= 0:
                raise ValueError("a log range needs low > 0")
            if self.log and self.step is not None:
                raise ValueError("give log or step, not both")
        elif self.log or self.step is not None:
            raise ValueError("log and step apply to a low/high range, not to values")
        return self

    @property
    def is_range(self) -> bool:
        return self.values is None


class PruningSettings(SweepSection):
    """The median pruner's patience (Optuna MedianPruner n_startup_trials, n_warmup_steps)."""

    startup_trials: int = Field(DEFAULT_STARTUP_TRIALS, ge=0,
                                description="Trials that finish before any is pruned.")
    warmup_steps: int = Field(0, ge=0, description="Steps a trial runs before it can be pruned.")


class SweepFile(SweepSection):
    """A whole sweep file."""

    name: str | None = Field(None, description="Optuna study name (default: the file's name).")
    base_config: str = Field(description="Training config every trial starts from.")
    method: Method = Field("tpe", description="grid, random or tpe.")
    trials: int | None = Field(None, gt=0, description="Trials the study should hold.")
    metric: Metric = Field("val_loss", description="What the sweep minimises.")
    direction: Literal["minimize"] = Field("minimize", description="Both metrics are losses.")
    max_steps: int | None = Field(None, gt=0, description="Optimizer steps per trial.")
    seeds: list[int] | None = Field(None, min_length=1, description="Training seeds.")
    sampler_seed: int = Field(0, description="Seed of the sampler.")
    pruner: Literal["median", "none"] | None = Field(
        None, description="median or none (default median; none for grid).")
    pruning: PruningSettings = Field(default_factory=PruningSettings)
    storage: str | None = Field(None, description="Optuna storage URL or SQLite file path.")
    sweep_dir: str | None = Field(None, description="Where trial run directories go.")
    overrides: dict[str, Any] = Field(default_factory=dict,
                                      description="Config keys set for every trial.")
    parameters: dict[str, ParameterSpace] = Field(description="The search space.")
    plan: dict[str, Any] | None = Field(None, description="Written by `nt-tui plan`; kept.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value.strip() if value else value

    @field_validator("overrides", mode="before")
    @classmethod
    def _override_numbers(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: yaml_number(item) for key, item in value.items()}
        return value

    @field_validator("overrides")
    @classmethod
    def _override_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            key_kind(key)
        return value

    @field_validator("parameters")
    @classmethod
    def _parameter_keys(cls, value: dict[str, ParameterSpace]) -> dict[str, ParameterSpace]:
        if not value:
            raise ValueError("name at least one config key to search over")
        for key, space in value.items():
            if key in RESERVED_KEYS:
                raise ValueError(f"'{key}' is set by the sweep itself: use "
                                 f"{'seeds' if key == 'seed' else 'max_steps'}")
            kind = key_kind(key)
            if space.is_range and kind == "other":
                raise ValueError(f"{key} is not a number: give it values: [...]")
            if space.is_range and kind == "int" and not (
                    float(space.low).is_integer() and float(space.high).is_integer()):
                raise ValueError(f"{key} holds whole numbers: give a whole low and high")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "SweepFile":
        both = sorted(set(self.overrides) & set(self.parameters))
        if both:
            raise ValueError(f"{', '.join(both)} is both an override and a parameter")
        if self.method == "grid":
            ranges = [key for key, space in self.parameters.items() if space.is_range]
            if ranges:
                raise ValueError(f"method grid needs values: [...] for every parameter "
                                 f"({', '.join(ranges)} is a range); or use random or tpe")
        return self

    # --------------------------------------------------------------- derived settings

    @property
    def uses_pruning(self) -> bool:
        """The median pruner is on (default: on, except for grid sweeps)."""
        if self.pruner is None:
            return self.method != "grid"
        return self.pruner == "median"

    @property
    def seed_axis(self) -> bool:
        """Grid sweeps with several seeds search the seed as one more grid axis."""
        return self.method == "grid" and len(self.seeds or ()) > 1

    def grid_space(self) -> dict[str, list[Any]]:
        """The grid (GridSampler's search space): every parameter's values, and the seeds."""
        space = {key: list(spec.values or []) for key, spec in self.parameters.items()}
        if self.seed_axis:
            space["seed"] = list(self.seeds or [])
        return space

    def grid_size(self) -> int:
        return len(list(itertools.product(*self.grid_space().values())))

    def target_trials(self, override: int | None = None) -> int:
        """How many trials the study should hold when the sweep is done."""
        wanted = override or self.trials
        if self.method == "grid":
            return min(wanted or self.grid_size(), self.grid_size())
        return wanted or DEFAULT_TRIALS


# -------------------------------------------------------------- search space -> Optuna

def suggest_values(trial: Any, sweep: SweepFile) -> dict[str, Any]:
    """Ask an Optuna trial for a value of every parameter (and the seed, on a seed axis):
    `values` -> suggest_categorical, ranges -> suggest_float / suggest_int (log, step)."""
    chosen: dict[str, Any] = {}
    for key, space in sweep.parameters.items():
        if not space.is_range:
            chosen[key] = trial.suggest_categorical(key, space.values)
        elif key_kind(key) == "int":
            chosen[key] = trial.suggest_int(key, int(space.low), int(space.high),
                                            step=int(space.step or 1), log=space.log)
        else:
            chosen[key] = trial.suggest_float(key, space.low, space.high, step=space.step,
                                              log=space.log)
    if sweep.seed_axis:
        chosen["seed"] = trial.suggest_categorical("seed", list(sweep.seeds or []))
    return chosen


# ---------------------------------------------------------------------------- loading

@dataclass
class LoadedSweep:
    """A sweep file with its paths settled and its base config loaded."""

    spec: SweepFile
    path: Path
    base_config_path: Path
    base_config: TrainingConfig
    study_name: str
    sweep_dir: Path
    storage_url: str

    @property
    def seeds(self) -> list[int]:
        return list(self.spec.seeds or [self.base_config.seed])

    def seed_for(self, trial_number: int) -> int:
        """The training seed of a random/TPE trial (grid trials sample it on the seed axis)."""
        seeds = self.seeds
        return seeds[trial_number % len(seeds)]


def storage_url(spec: SweepFile, sweep_dir: Path, override: str | None = None) -> str:
    """The Optuna storage: a URL as given, a plain path as a SQLite file there, or the sweep
    directory's study.db."""
    given = override or spec.storage
    if given and "://" in given:
        return given
    path = Path(given).expanduser() if given else sweep_dir / STUDY_DB
    return f"sqlite:///{path.resolve()}"


def parse_sweep_text(text: str, source: str = "<sweep>") -> SweepFile:
    """Validate sweep-file text; `ConfigError` with file:line for every problem."""
    from nt_tui.config.loader import load_model_text

    return load_model_text(text, source, SweepFile,
                           hint=f"fix {source} (every key is in docs/sweeps.md)",
                           expected="a mapping (base_config:, parameters:, ...)")


def load_sweep(path: str | Path, storage: str | None = None) -> LoadedSweep:
    """Read a sweep file, its base config, and settle the study name, directory and storage.

    `storage` (a URL or a path) overrides the file's `storage`.
    """
    from nt_tui.config import load_config
    from nt_tui.config.loader import read_yaml_file

    path = Path(path)
    spec = parse_sweep_text(read_yaml_file(path, "sweep"), str(path))
    base = Path(spec.base_config).expanduser()
    if not base.is_absolute():
        base = path.parent / base
    if not base.is_file():
        raise NtTuiError(f"{path}: base_config {spec.base_config} not found (looked at {base})",
                         hint="base_config is relative to the sweep file's folder")
    name = spec.name or path.stem
    sweep_dir = Path(spec.sweep_dir).expanduser() if spec.sweep_dir else \
        Path(SWEEPS_DIR) / re.sub(r"[^A-Za-z0-9._-]+", "-", name)
    return LoadedSweep(spec=spec, path=path, base_config_path=base,
                       base_config=load_config(base), study_name=name, sweep_dir=sweep_dir,
                       storage_url=storage_url(spec, sweep_dir, storage))


def trial_changes(loaded: LoadedSweep, values: dict[str, Any], seed: int) -> dict[str, Any]:
    """The config changes of one trial: overrides, run length, checkpoint thrift, its values."""
    spec = loaded.spec
    changes: dict[str, Any] = dict(spec.overrides)
    if spec.max_steps is not None:
        changes.update({"schedule.total_steps": spec.max_steps, "schedule.epochs": None})
        changes.setdefault("checkpointing.every", spec.max_steps)
    changes.setdefault("checkpointing.keep_last", 1)
    changes.update(values)
    changes["seed"] = seed
    return changes


def apply_trial_changes(config: TrainingConfig, changes: dict[str, Any]) -> TrainingConfig:
    """`config` with the trial's dotted keys set; NtTuiError naming a value the config refuses."""
    from nt_tui.config.preflight import apply_changes

    try:
        return apply_changes(config, changes)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        raise NtTuiError(f"{key}: {str(error['msg']).removeprefix('Value error, ')} "
                         f"(got {error.get('input')!r})",
                         hint="fix the value in the sweep file (see docs/config.md)") from None
