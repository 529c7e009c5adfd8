"""Pre-flight: the checks every run passes before it starts.

The seed's rules: refuse to start with no logging backend; when there is no validation data,
say so and offer a validation path, an automatic 80/20 split, or an explicit opt-out; show the
resolved config and ask for confirmation (the app's review screen and `nt-tui train` do that).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from nt_tui.config.defaults import ResolvedConfig, resolve
from nt_tui.config.schema import TrainingConfig
from nt_tui.errors import NtTuiError
from nt_tui.textdata import dataset_path, read_training_text

#: The automatic validation split pre-flight offers (80/20).
AUTO_VAL_SPLIT = 0.2
#: A configured LR this many times the size table's is worth a warning.
LR_WARN_FACTOR = 10.0


class Level(str, Enum):
    ERROR = "error"  # refuses the run
    CHOICE = "choice"  # the user must pick one of `choices` before the run starts
    WARNING = "warning"
    INFO = "info"


@dataclass
class Choice:
    """One way to settle a CHOICE finding: the config keys it sets."""

    label: str
    changes: dict[str, object]


@dataclass
class Finding:
    level: Level
    code: str
    message: str
    fix: str = ""
    knowledge: str = ""
    choices: list[Choice] = field(default_factory=list)


@dataclass
class Preflight:
    resolved: ResolvedConfig
    findings: list[Finding]

    @property
    def blocking(self) -> list[Finding]:
        """Findings that stop the run until fixed or chosen."""
        return [f for f in self.findings if f.level in (Level.ERROR, Level.CHOICE)]

    @property
    def ok(self) -> bool:
        return not self.blocking


def _package_missing(module: str) -> bool:
    return importlib.util.find_spec(module) is None


def _check_logging(config: TrainingConfig) -> list[Finding]:
    log = config.logging
    if not log.backends:
        return [Finding(
            Level.ERROR, "no_logging",
            "no logging backend is configured: the run would leave no record to monitor, "
            "compare or resume from",
            fix="add `logging: {backends: [jsonl]}` (or csv, tensorboard, wandb, callback)",
        )]
    findings = []
    extras = {"tensorboard": "tensorboard", "wandb": "wandb"}
    for backend, module in extras.items():
        if backend in log.backends and _package_missing(module):
            findings.append(Finding(
                Level.ERROR, f"missing_{backend}",
                f"logging backend '{backend}' needs the `{module}` package, which is not installed",
                fix=f"pip install 'nt-tui[{backend}]', or remove it from logging.backends"))
    if "callback" in log.backends and not log.callback:
        findings.append(Finding(
            Level.ERROR, "callback_missing", "logging backend 'callback' needs logging.callback",
            fix="set logging.callback: package.module:function"))
    if log.callback:
        findings.append(Finding(
            Level.INFO, "runs_user_code",
            f"the run will call your code: logging callback {log.callback}"))
    return findings


def _check_data(config: TrainingConfig, base: Path) -> list[Finding]:
    data = config.data
    findings = []
    for key in ("train", "validation"):
        spec = getattr(data, key)
        if spec is None or (key == "train" and config.model.source == "entrypoint"):
            continue
        try:
            text = read_training_text(spec, base)
        except NtTuiError as exc:
            findings.append(Finding(Level.ERROR, f"data_{key}", exc.message, fix=exc.hint or ""))
            continue
        if len(text) <= data.seq_len + 1:
            findings.append(Finding(
                Level.ERROR, f"data_{key}_short",
                f"data.{key} has {len(text)} characters, not more than seq_len={data.seq_len}",
                fix="use more text or a smaller data.seq_len"))
    has_validation = data.validation or data.val_split or config.model.source == "entrypoint"
    if not has_validation and not data.allow_no_validation:
        findings.append(Finding(
            Level.CHOICE, "no_validation",
            "no validation data: overfitting cannot be detected and no best checkpoint can be "
            "chosen",
            fix="pick one: a validation file, an automatic 80/20 split, or train without",
            knowledge="common-failures.md#overfitting",
            choices=[
                Choice("automatic 80/20 split of the training text",
                       {"data.val_split": AUTO_VAL_SPLIT}),
                Choice("a validation file (set data.validation: PATH)", {"data.validation": None}),
                Choice("train without validation (explicit opt-in)",
                       {"data.allow_no_validation": True}),
            ]))
    elif not has_validation:
        findings.append(Finding(Level.WARNING, "no_validation_opt_in",
                                "training without validation data (opted in)"))
    return findings


def _check_model(config: TrainingConfig, resolved: ResolvedConfig, base: Path) -> list[Finding]:
    model = config.model
    findings = []
    if model.source == "hf":
        path = dataset_path(model.path, base)
        if path is None or not (path / "config.json").is_file():
            findings.append(Finding(Level.ERROR, "hf_model_missing",
                                    f"no Hugging Face model directory with config.json at {path}",
                                    fix="point model.path at a local save_pretrained() folder"))
        if _package_missing("transformers"):
            findings.append(Finding(Level.ERROR, "missing_transformers",
                                    "model.path needs the `transformers` package",
                                    fix="pip install 'nt-tui[hf]'"))
    if model.source == "entrypoint":
        findings.append(Finding(
            Level.INFO, "runs_user_code",
            f"the run will import and call your code: model.entrypoint {model.entrypoint}"))
    if resolved.num_params is None:
        findings.append(Finding(Level.WARNING, "size_unknown",
                                f"model size {resolved.num_params_note}",
                                fix="set model.num_params so defaults fit the model"))
    return findings


def _check_schedule(config: TrainingConfig, resolved: ResolvedConfig) -> list[Finding]:
    findings = []
    sched, opt = config.schedule, config.optimizer
    if sched.total_steps is None:
        findings.append(Finding(Level.ERROR, "no_length",
                                "the run has no length: neither schedule.total_steps nor a "
                                "usable schedule.epochs",
                                fix="set schedule.total_steps: N (or epochs with readable data)"))
    elif sched.warmup_steps and sched.warmup_steps >= sched.total_steps:
        findings.append(Finding(Level.ERROR, "warmup_too_long",
                                f"warmup ({sched.warmup_steps} steps) is not shorter than the run "
                                f"({sched.total_steps} steps)",
                                fix="lower schedule.warmup_steps",
                                knowledge="optimizer-guide.md#warmup"))
    from nt_tui.config.defaults import size_defaults

    table_lr = size_defaults(resolved.num_params or 0).lr
    if opt.lr and opt.lr > LR_WARN_FACTOR * table_lr and "optimizer.lr" not in resolved.defaulted:
        findings.append(Finding(
            Level.WARNING, "lr_high",
            f"optimizer.lr {opt.lr:g} is over {LR_WARN_FACTOR:g}x the size table's "
            f"{table_lr:g} for this model",
            fix=f"expect instability; try lr {table_lr:g}",
            knowledge="optimizer-guide.md#learning-rate-and-weight-decay-by-model-size"))
    if config.precision != "fp32" and _cuda_unavailable_hint():
        findings.append(Finding(Level.INFO, "precision_cpu",
                                f"precision {config.precision} on a machine without a GPU runs "
                                "through accelerate's CPU autocast"))
    return findings


def _cuda_unavailable_hint() -> bool:
    """True when no NVIDIA driver is visible (cheap: no torch import)."""
    return not Path("/proc/driver/nvidia").exists()


def run_preflight(config: TrainingConfig, source_path: Path | None = None) -> Preflight:
    """Resolve defaults and run every pre-flight check."""
    base = source_path.parent if source_path else Path.cwd()
    resolved = resolve(config, source_path)
    cfg = resolved.config
    findings = (_check_logging(cfg) + _check_data(cfg, base) + _check_model(cfg, resolved, base)
                + _check_schedule(cfg, resolved))
    order = list(Level)
    findings.sort(key=lambda f: order.index(f.level))
    return Preflight(resolved=resolved, findings=findings)


def apply_changes(config: TrainingConfig, changes: dict[str, object]) -> TrainingConfig:
    """A copy of `config` with dotted keys set (validated)."""
    data = config.model_dump()
    for key, value in changes.items():
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    return TrainingConfig.model_validate(data)
