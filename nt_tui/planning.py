"""Experiment plans: a question, a hypothesis, a baseline, the variables and their values.

`estimate_plan` turns a plan into per-run compute (C = 6ND, N from the resolved config, D =
steps x tokens per step) and wall time (from a stated or measured throughput, or from the
GPUs' peak and utilisation), and warns when a run or the whole plan exceeds its budget.
`write_plan` saves the plan as a sweep file that `nt-tui sweep` runs (format in docs/plans.md
and docs/sweeps.md). No torch here: the parameter count comes from the config's defaults.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nt_tui.errors import NtTuiError
from nt_tui.runfmt import free_path
from nt_tui.scaling.laws import DEFAULT_MFU, gpu_hours_for, training_flops
from nt_tui.scaling.quantities import format_count, format_duration, parse_duration
from nt_tui.tuning.sweep_config import SweepFile, apply_trial_changes, yaml_number

#: Warn when a plan has more runs than this: a grid this large usually wants random search.
MANY_RUNS = 100
#: Keys every plan file carries for `nt-tui sweep`; the plan's own fields sit under `plan:`.
PLAN_KEY = "plan"
PLAN_DIR = "plans"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class Budget(BaseModel):
    """How much wall time each run, and the whole plan, may take (None: no limit)."""

    model_config = ConfigDict(extra="forbid")

    per_run: str | None = Field(None, description="Wall time per run, e.g. 10m, 2h.")
    total: str | None = Field(None, description="Wall time for every run together.")

    @field_validator("per_run", "total", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if value is None:
            return None
        try:
            parse_duration(value)
        except NtTuiError as exc:
            raise ValueError(f"{exc.message} ({exc.hint})") from None
        return str(value)

    def seconds(self, which: str) -> float | None:
        value = getattr(self, which)
        return None if value is None else parse_duration(value, f"budget.{which}")


class Throughput(BaseModel):
    """Where the speed estimate comes from: stated tokens/s, a measured run, or hardware."""

    model_config = ConfigDict(extra="forbid")

    tokens_per_s: float | None = Field(None, gt=0, description="Stated, at the baseline size.")
    measured_from: str | None = Field(None, description="A run directory to read tokens/s from.")
    gpus: int = Field(1, gt=0, description="GPUs per run (hardware estimate).")
    peak_tflops: float | None = Field(None, gt=0, description="Dense peak TFLOP/s per GPU.")
    mfu: float = Field(DEFAULT_MFU, gt=0, le=1, description="Model FLOPs utilisation.")


class ExperimentPlan(BaseModel):
    """Everything the plan form asks for."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Short name; the plan file and runs are named after it.")
    question: str = Field(description="What the experiment should answer.")
    hypothesis: str = Field("", description="The expected answer, stated before running.")
    base_config: str = Field(description="Baseline training config (YAML).")
    variables: dict[str, list[Any]] = Field(
        default_factory=dict, description="Dotted config key -> the values to try.")
    seeds: list[int] | None = Field(None, min_length=1,
                                    description="Training seeds (default: the config's seed).")
    steps: int | None = Field(None, gt=0, description="Steps per run (default: the config's).")
    metric: Literal["val_loss", "train_loss"] = Field(
        "val_loss", description="What decides between runs (the sweep's metric; lower wins).")
    budget: Budget = Field(default_factory=Budget)
    throughput: Throughput = Field(default_factory=Throughput)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the plan needs a name")
        return value.strip()

    @field_validator("question", "base_config")
    @classmethod
    def _required_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()


@dataclass(frozen=True)
class RunEstimate:
    """One combination of variable values (each is run once per seed)."""

    values: dict[str, Any]
    params: int
    steps: int
    tokens: int
    flops: float
    seconds: float | None
    over_budget: bool = False

    def label(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in self.values.items()) or "baseline"


@dataclass
class PlanEstimate:
    """Per-run and total compute and time, and what exceeds the budget."""

    runs: list[RunEstimate]
    seeds: int
    throughput_note: str
    warnings: list[str] = field(default_factory=list)
    total_over_budget: bool = False

    @property
    def total_runs(self) -> int:
        return len(self.runs) * self.seeds

    @property
    def total_flops(self) -> float:
        return sum(run.flops for run in self.runs) * self.seeds

    @property
    def total_seconds(self) -> float | None:
        if any(run.seconds is None for run in self.runs):
            return None
        return sum(run.seconds for run in self.runs) * self.seeds

    @property
    def over_budget(self) -> bool:
        """True when a run or the whole plan exceeds its budget."""
        return self.total_over_budget or any(run.over_budget for run in self.runs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [{"values": run.values, "params": run.params, "steps": run.steps,
                      "tokens": run.tokens, "flops": run.flops, "seconds": run.seconds,
                      "over_budget": run.over_budget} for run in self.runs],
            "seeds": self.seeds, "total_runs": self.total_runs,
            "total_flops": self.total_flops, "total_seconds": self.total_seconds,
            "throughput": self.throughput_note, "warnings": self.warnings,
            "over_budget": self.over_budget,
        }


# ---------------------------------------------------------------------------- the plan


def parse_plan(data: dict[str, Any], source: str = "the plan") -> ExperimentPlan:
    """Validate plan fields; `NtTuiError` naming every problem."""
    try:
        return ExperimentPlan.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "(top level)"
            problems.append(f"{key}: {str(error['msg']).removeprefix('Value error, ')}")
        raise NtTuiError(f"{source}: {'; '.join(problems)}",
                         hint="fix the plan (see docs/plans.md for every field)") from None


def parse_values(text: str) -> list[Any]:
    """`1e-3,3e-4` -> [0.001, 0.0003]; `nano,micro` -> ["nano", "micro"] (YAML scalars)."""
    return [yaml_number(yaml.safe_load(item)) for item in (part.strip() for part in text.split(","))
            if item]


def parse_variable(text: str) -> tuple[str, list[Any]]:
    """`optimizer.lr=1e-3,3e-4` -> ("optimizer.lr", [0.001, 0.0003])."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise NtTuiError(f"cannot read variable {text!r}",
                         hint="write KEY=V1,V2,... e.g. optimizer.lr=1e-3,3e-4")
    return key.strip(), parse_values(values)


def _number(text: Any, what: str, kind: type = float) -> Any:
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        return kind(text)
    except (TypeError, ValueError):
        raise NtTuiError(f"cannot read {what} {text!r}",
                         hint=f"write a {'whole ' if kind is int else ''}number") from None


def plan_fields(*, name: str | None = None, question: str | None = None,
                hypothesis: str | None = None, base_config: str | None = None,
                vary: list[str] | tuple[str, ...] = (), seeds: str | None = None,
                steps: Any = None, metric: str | None = None, budget_per_run: str | None = None,
                total_budget: str | None = None, tokens_per_s: Any = None,
                measured_from: str | None = None, gpus: Any = None, peak_tflops: Any = None,
                mfu: Any = None) -> dict[str, Any]:
    """Plan fields from what the form or the command line holds (text; blank = not given)."""
    def given(value: Any) -> bool:
        return value is not None and not (isinstance(value, str) and not value.strip())

    fields: dict[str, Any] = {key: value.strip() if isinstance(value, str) else value
                              for key, value in (("name", name), ("question", question),
                                                 ("hypothesis", hypothesis),
                                                 ("base_config", base_config),
                                                 ("metric", metric)) if given(value)}
    if given(steps):
        fields["steps"] = _number(steps, "steps per run", int)
    variables = dict(parse_variable(text) for text in vary if given(text))
    if variables:
        fields["variables"] = variables
    if given(seeds):
        fields["seeds"] = [_number(seed, "seed", int) for seed in str(seeds).split(",")
                           if seed.strip()]
    budget = {key: value.strip() for key, value in (("per_run", budget_per_run),
                                                    ("total", total_budget)) if given(value)}
    if budget:
        fields["budget"] = budget
    throughput = {key: _number(value, key.replace("_", " "), kind) for key, value, kind in (
        ("tokens_per_s", tokens_per_s, float), ("gpus", gpus, int),
        ("peak_tflops", peak_tflops, float), ("mfu", mfu, float)) if given(value)}
    if given(measured_from):
        throughput["measured_from"] = measured_from.strip()
    if throughput:
        fields["throughput"] = throughput
    return fields


def merge_fields(plan: ExperimentPlan, fields: dict[str, Any], source: str) -> ExperimentPlan:
    """`plan` with `fields` set (budget and throughput merged key by key)."""
    merged = plan.model_dump()
    for key, value in fields.items():
        nested = key in ("budget", "throughput") and isinstance(value, dict)
        merged[key] = {**merged[key], **value} if nested else value
    return parse_plan(merged, source)


def base_config_path(plan: ExperimentPlan, plan_dir: Path | None) -> Path:
    """The baseline config's path (relative paths are relative to the plan file's folder)."""
    path = Path(plan.base_config).expanduser()
    if not path.is_absolute() and plan_dir is not None:
        path = plan_dir / path
    return path


def combinations(plan: ExperimentPlan) -> list[dict[str, Any]]:
    """Every combination of the variables' values (a grid), the baseline alone if none."""
    keys = list(plan.variables)
    return [dict(zip(keys, values))
            for values in itertools.product(*(plan.variables[key] for key in keys))]


# ---------------------------------------------------------------------------- estimates


def _resolved_run(config, config_path: Path, values: dict[str, Any], steps: int | None):
    """The resolved config of one run: the baseline with `values` (and the step count) set."""
    from nt_tui.config.defaults import resolve

    changes = dict(values)
    if steps is not None:
        changes.update({"schedule.total_steps": steps, "schedule.epochs": None})
    try:
        changed = apply_trial_changes(config, changes)
    except NtTuiError as exc:
        raise NtTuiError(exc.message, hint="fix the variable's values (see docs/config.md)") \
            from None
    return resolve(changed, config_path)


def check_runnable(plan: ExperimentPlan) -> None:
    """`NtTuiError` unless `nt-tui sweep` accepts the plan's sweep (keys, values, reserved
    keys): the sweep file's own schema judges it."""
    try:
        SweepFile.model_validate(sweep_document(plan))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"][:2])
            problems.append(f"{where}: {str(error['msg']).removeprefix('Value error, ')}")
        raise NtTuiError(f"the plan cannot run as a sweep: {'; '.join(problems)}",
                         hint="vary dotted training-config keys such as optimizer.lr, "
                              "model.size (see docs/sweeps.md)") from None


@dataclass(frozen=True)
class Speed:
    """Tokens per second at `params` parameters, or GPUs; and where the number came from."""

    note: str
    tokens_per_s: float | None = None
    params: float | None = None
    throughput: Throughput | None = None

    def seconds(self, params: float, tokens: float) -> float | None:
        """Wall time for `tokens` at `params` parameters. Tokens/s measured at another size
        scale with 1/N (each token costs 6N FLOPs); GPUs take 6ND / (peak x MFU) each."""
        if self.throughput is not None:
            hardware = self.throughput
            return gpu_hours_for(training_flops(params, tokens), hardware.peak_tflops,
                                 hardware.mfu) * 3600 / hardware.gpus
        if self.tokens_per_s:
            rate = self.tokens_per_s * (self.params / params if self.params else 1.0)
            return tokens / rate
        return None


def measured_speed(run_dir: Path) -> tuple[float, float | None]:
    """(tokens/s, parameters) of a finished or running nt-tui run directory."""
    from nt_tui.runfmt import METRICS_FILE, SUMMARY_FILE, iter_jsonl

    run_dir = Path(run_dir)
    summary_path = run_dir / SUMMARY_FILE
    params = None
    if summary_path.exists():
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except ValueError:
            summary = {}
        params = summary.get("num_params")
        if isinstance(summary.get("tokens_per_s"), (int, float)) and summary["tokens_per_s"] > 0:
            return float(summary["tokens_per_s"]), params
    metrics = run_dir / METRICS_FILE
    if not metrics.exists():
        raise NtTuiError(f"no throughput to measure in {run_dir}: no {METRICS_FILE} or "
                         f"{SUMMARY_FILE}", hint="point at an nt-tui run directory, or state "
                                                 "tokens_per_s")
    rates = sorted(float(record["tokens_per_s"]) for _, record in iter_jsonl(metrics)
                   if isinstance(record.get("tokens_per_s"), (int, float))
                   and math.isfinite(record["tokens_per_s"]) and record["tokens_per_s"] > 0)
    if not rates:
        raise NtTuiError(f"{run_dir / METRICS_FILE} logs no tokens_per_s",
                         hint="state the throughput instead (tokens_per_s)")
    return rates[len(rates) // 2], params


def plan_speed(plan: ExperimentPlan, plan_dir: Path | None, baseline_params: int) -> Speed:
    """The throughput the estimates use, in order: hardware, measured run, stated."""
    source = plan.throughput
    if source.peak_tflops:
        return Speed(f"{source.gpus} GPU(s) per run x {source.peak_tflops:g} TFLOP/s peak x "
                     f"{source.mfu:.0%} MFU", throughput=source)
    if source.measured_from:
        path = Path(source.measured_from).expanduser()
        if not path.is_absolute() and plan_dir is not None:
            path = plan_dir / path
        rate, params = measured_speed(path)
        at = f" at {format_count(params)} parameters" if params else ""
        return Speed(f"measured {rate:,.0f} tokens/s{at} in {path}", rate,
                     float(params) if params else float(baseline_params))
    if source.tokens_per_s:
        return Speed(f"stated {source.tokens_per_s:,.0f} tokens/s at the baseline size "
                     f"({format_count(baseline_params)} parameters)", source.tokens_per_s,
                     float(baseline_params))
    return Speed("no throughput given: wall time not estimated")


def estimate_plan(plan: ExperimentPlan, plan_dir: Path | None = None) -> PlanEstimate:
    """Compute and wall time per run and in total, and budget warnings."""
    from nt_tui.config import load_config

    check_runnable(plan)
    config_path = base_config_path(plan, plan_dir)
    config = load_config(config_path)
    baseline = _resolved_run(config, config_path, {}, plan.steps)
    if not baseline.num_params:
        raise NtTuiError(f"cannot count the parameters of {config_path}",
                         hint="set model.num_params in the baseline config")
    speed = plan_speed(plan, plan_dir, baseline.num_params)
    per_run_limit = plan.budget.seconds("per_run")
    runs = []
    for values in combinations(plan):
        resolved = _resolved_run(config, config_path, values, plan.steps)
        steps = resolved.config.schedule.total_steps
        if not steps:
            raise NtTuiError(f"{config_path} gives no run length",
                             hint="set schedule.total_steps in the config, or steps in the plan")
        params = resolved.num_params or baseline.num_params
        tokens = steps * resolved.tokens_per_step
        seconds = speed.seconds(params, tokens)
        runs.append(RunEstimate(values, params, steps, tokens, training_flops(params, tokens),
                                seconds,
                                bool(per_run_limit and seconds and seconds > per_run_limit)))
    estimate = PlanEstimate(runs, len(plan.seeds or [config.seed]), speed.note)
    _budget_warnings(plan, estimate, per_run_limit)
    return estimate


def _budget_warnings(plan: ExperimentPlan, estimate: PlanEstimate,
                     per_run_limit: float | None) -> None:
    warnings = estimate.warnings
    over = [run for run in estimate.runs if run.over_budget]
    if over:
        worst = max(over, key=lambda run: run.seconds or 0)
        warnings.append(
            f"{len(over)} of {len(estimate.runs)} run(s) exceed the per-run budget of "
            f"{format_duration(per_run_limit)}; the longest ({worst.label()}) needs "
            f"{format_duration(worst.seconds)}: cut steps, the largest values, or raise "
            f"the budget")
    total_limit = plan.budget.seconds("total")
    total = estimate.total_seconds
    if total_limit and total and total > total_limit:
        estimate.total_over_budget = True
        warnings.append(
            f"the plan needs {format_duration(total)} for {estimate.total_runs} runs, over the "
            f"total budget of {format_duration(total_limit)}: drop values or seeds, or "
            f"shorten the runs")
    if (per_run_limit or total_limit) and total is None:
        warnings.append("the budget cannot be checked without a throughput: state tokens/s, "
                        "a run to measure, or the GPUs' peak TFLOP/s")
    if estimate.total_runs > MANY_RUNS:
        warnings.append(f"{estimate.total_runs} runs: consider fewer values per variable or "
                        "a random search")


# ---------------------------------------------------------------------------- plan files


def sweep_document(plan: ExperimentPlan, estimate: PlanEstimate | None = None,
                   base_config: str | None = None) -> dict[str, Any]:
    """The plan file's content: the sweep `nt-tui sweep` runs, plus the plan under `plan:`."""
    document: dict[str, Any] = {
        "name": plan_slug(plan),
        "base_config": base_config or plan.base_config,
        "method": "grid",
        "metric": plan.metric,
        "direction": "minimize",
        "parameters": {key: {"values": list(values)} for key, values in plan.variables.items()},
    }
    if plan.seeds:
        document["seeds"] = list(plan.seeds)
    if plan.steps is not None:
        document["max_steps"] = plan.steps
    details: dict[str, Any] = {"name": plan.name, "question": plan.question,
                               "hypothesis": plan.hypothesis,
                               "budget": plan.budget.model_dump(exclude_none=True),
                               "throughput": plan.throughput.model_dump(
                                   exclude_defaults=True)}
    if estimate is not None:
        details["estimate"] = {
            "runs": estimate.total_runs,
            "flops_per_run": [run.flops for run in estimate.runs],
            "total_flops": estimate.total_flops,
            "total_seconds": estimate.total_seconds,
            "warnings": list(estimate.warnings),
        }
    document[PLAN_KEY] = details
    return document


def plan_from_document(document: dict[str, Any], source: str) -> ExperimentPlan:
    """Inverse of `sweep_document` (the estimate is recomputed, not read)."""
    if not isinstance(document, dict) or PLAN_KEY not in document:
        raise NtTuiError(f"{source} is not an nt-tui plan (no `{PLAN_KEY}:` section)",
                         hint="write one with `nt-tui plan` or the Experiment plan screen")
    details = document.get(PLAN_KEY) or {}
    parameters = document.get("parameters") or {}
    variables = {}
    for key, spec in parameters.items():
        if not isinstance(spec, dict) or "values" not in spec:
            raise NtTuiError(f"{source}: parameter {key} has no list of values",
                             hint="a plan varies each key over `values: [...]`")
        variables[key] = [yaml_number(value) for value in spec["values"]]
    fields = {
        "name": details.get("name") or document.get("name", ""),
        "base_config": document.get("base_config", ""),
        "question": details.get("question", ""), "hypothesis": details.get("hypothesis", ""),
        "variables": variables, "seeds": document.get("seeds"),
        "steps": document.get("max_steps"), "metric": document.get("metric", "val_loss"),
        "budget": details.get("budget") or {}, "throughput": details.get("throughput") or {},
    }
    return parse_plan(fields, source)


def load_plan(path: Path) -> ExperimentPlan:
    """Read a plan file written by `write_plan` (or by hand)."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NtTuiError(f"plan file not found: {path}", hint="check the path") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise NtTuiError(f"cannot read plan {path}: {exc}",
                         hint="fix the YAML, or write the plan again with `nt-tui plan`") \
            from None
    return plan_from_document(document, str(path))


def plan_slug(plan: ExperimentPlan) -> str:
    """The plan's name as a file and study name: `lr vs size` -> `lr-vs-size`."""
    return _SAFE_NAME.sub("-", plan.name).strip("-") or "plan"


def default_plan_path(plan: ExperimentPlan, folder: Path | None = None) -> Path:
    """`plans/<name>.yaml`, with -2, -3 ... when taken (plan files are never overwritten)."""
    folder = Path(folder) if folder is not None else Path(PLAN_DIR)
    return free_path(folder, plan_slug(plan), ".yaml")


def write_plan(plan: ExperimentPlan, path: Path, estimate: PlanEstimate | None = None,
               plan_dir: Path | None = None) -> Path:
    """Write the plan file at `path` (refusing to overwrite); `base_config` is stored
    relative to the plan file, as `nt-tui sweep` reads it."""
    import os

    from nt_tui.runfmt import write_atomic

    path = Path(path)
    if path.exists():
        raise NtTuiError(f"{path} already exists", hint="choose another file name; plan "
                                                        "files are never overwritten")
    check_runnable(plan)
    config_path = base_config_path(plan, plan_dir).resolve()
    stored = os.path.relpath(config_path, path.parent.resolve())
    header = (f"# nt-tui experiment plan: {plan.name}\n"
              f"# Run it with: nt-tui sweep {path}\n")
    body = yaml.safe_dump(sweep_document(plan, estimate, stored), sort_keys=False,
                          allow_unicode=True)
    write_atomic(path, header + body)
    return path


def render_estimate(plan: ExperimentPlan, estimate: PlanEstimate) -> str:
    """The estimate as text: one line per run, totals, throughput source and warnings."""
    lines = [f"Plan {plan.name}: {plan.question}"]
    if plan.hypothesis:
        lines.append(f"  hypothesis: {plan.hypothesis}")
    lines.append(f"  baseline:   {plan.base_config}")
    seeds = ", ".join(map(str, plan.seeds)) if plan.seeds else "the config's seed"
    lines.append(f"  seeds:      {seeds}")
    lines.append(f"  throughput: {estimate.throughput_note}")
    lines.append("")
    width = max([len(run.label()) for run in estimate.runs] + [8])
    lines.append(f"  {'run':<{width}}  {'params':>7}  {'steps':>7}  {'tokens':>7}  "
                 f"{'FLOPs':>9}  {'time/run':>10}")
    for run in estimate.runs:
        time_text = format_duration(run.seconds) if run.seconds is not None else "-"
        flag = "  OVER BUDGET" if run.over_budget else ""
        lines.append(f"  {run.label():<{width}}  {format_count(run.params):>7}  {run.steps:>7}  "
                     f"{format_count(run.tokens):>7}  {run.flops:>9.3g}  {time_text:>10}{flag}")
    total = estimate.total_seconds
    lines.append("")
    lines.append(f"  total: {estimate.total_runs} runs ({len(estimate.runs)} settings x "
                 f"{estimate.seeds} seed(s)), {estimate.total_flops:.3g} FLOPs, "
                 f"{format_duration(total) if total is not None else 'time unknown'}")
    for name, label in (("per_run", "per run"), ("total", "total")):
        value = getattr(plan.budget, name)
        if value:
            lines.append(f"  budget {label}: {format_duration(plan.budget.seconds(name))}")
    for warning in estimate.warnings:
        lines.append(f"  WARNING: {warning}")
    return "\n".join(lines)
