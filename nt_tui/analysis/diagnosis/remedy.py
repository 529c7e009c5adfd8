"""Apply a fix to a copy of an nt-tui run's config, run a short verification, and say with
numbers whether it helped. torch is imported only when a verification run starts."""

from __future__ import annotations

import difflib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from nt_tui.analysis.diagnosis.numbers import num, step
from nt_tui.analysis.diagnosis.signals import find_spikes, odd_window, rolling_median
from nt_tui.errors import NtTuiError
from nt_tui.runfmt import CONFIG_FILE, free_path, write_atomic

if TYPE_CHECKING:
    from nt_tui.config.schema import TrainingConfig
    from nt_tui.runlogs.history import RunHistory

#: Verification length bounds (the wizard's choices; long enough to show a trend on CPU).
VERIFY_MIN_STEPS, VERIFY_MAX_STEPS = 100, 1000
#: A smoothed final loss this much lower (relative) counts as "helped".
HELPED_REL = 0.01


@dataclass
class FixPlan:
    """A fix as a new config file beside the run: never overwrites the user's file."""

    run_dir: Path
    cause: str
    changes: dict[str, Any]
    original: "TrainingConfig"
    fixed: "TrainingConfig"
    diff: str
    path: Path


def _config_path(run_dir: Path) -> Path:
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise NtTuiError(f"{run_dir} has no {CONFIG_FILE}: apply-fix needs an nt-tui run "
                         "directory", hint="for other tools' runs, change the setting by hand")
    return path


def plan_fix(run_dir: str | Path, cause: str, changes: dict[str, Any],
             folder: Path | None = None) -> FixPlan:
    """The run's config with `changes` (dotted keys) applied, the diff, and a new file name
    (`<name>.fix-<cause>.yaml` beside the run directory unless `folder` is given)."""
    from nt_tui.config.loader import dump_config, load_config
    from nt_tui.config.preflight import apply_changes

    if not changes:
        raise NtTuiError(f"the fix for {cause} is not a config change",
                         hint="apply it in your code or data, as the fix text says")
    run_dir = Path(run_dir)
    original = load_config(_config_path(run_dir))
    fixed = apply_changes(original, changes)
    fixed.name = f"{original.name or 'run'}-fix-{cause}"
    before, after = dump_config(original), dump_config(fixed)
    diff = "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                        fromfile=f"{run_dir.name}/{CONFIG_FILE}",
                                        tofile=f"{fixed.name}.yaml"))
    target = free_path(folder or run_dir.parent, f"{original.name or run_dir.name}.fix-{cause}",
                       ".yaml")
    return FixPlan(run_dir, cause, dict(changes), original, fixed, diff, target)


def save_fix(plan: FixPlan) -> Path:
    """Write the fixed config to `plan.path` (a new file; an existing one is never touched)."""
    from nt_tui.config.loader import dump_config

    if plan.path.exists():
        plan.path = free_path(plan.path.parent, plan.path.stem, ".yaml")
    header = (f"# {plan.run_dir.name} with the fix for {plan.cause}: "
              + ", ".join(f"{k} = {v}" for k, v in plan.changes.items()) + "\n")
    write_atomic(plan.path, header + dump_config(plan.fixed))
    return plan.path


class _StopAt:
    """Engine listener that asks the run to stop once it logged `last_step` (public API)."""

    def __init__(self, control: Any, last_step: int,
                 on_metrics: Callable[[dict], None] | None) -> None:
        self.control, self.last_step, self.forward = control, last_step, on_metrics

    def on_metrics(self, record: dict) -> None:
        if self.forward:
            self.forward(record)
        if int(record.get("step", 0)) >= self.last_step:
            self.control.stop()

    def on_event(self, event: dict) -> None:
        pass


def pick_checkpoint(run_dir: Path, steps: int, original_last_step: int | None
                    ) -> tuple[Path, int]:
    """The latest step checkpoint from which `steps` more steps stay inside the original run
    (so the two curves overlap), else the earliest one; (path, its step)."""
    from nt_tui.engine import checkpoint as ckpt

    found = ckpt.step_checkpoints(Path(run_dir) / "checkpoints")
    if not found:
        raise NtTuiError(f"no checkpoint in {Path(run_dir) / 'checkpoints'}",
                         hint="verify from scratch instead")
    inside = [(at, path) for at, path in found
              if original_last_step is None or at + steps <= original_last_step]
    at, path = max(inside) if inside else min(found)
    return path, int(at)


def run_verification(plan: FixPlan, steps: int, *, from_checkpoint: bool,
                     original_last_step: int | None = None,
                     run_dir: Path | None = None, control: Any = None,
                     on_metrics: Callable[[dict], None] | None = None) -> tuple[Path, int]:
    """Train the fixed config for `steps` steps, from scratch or from the original run's
    latest checkpoint; returns (verification run dir, first step). Blocks: call it from a
    worker thread."""
    from nt_tui.config.defaults import resolve
    from nt_tui.config.preflight import apply_changes
    from nt_tui.engine.trainer import Trainer, TrainingControl, portable_config_text

    if not VERIFY_MIN_STEPS <= steps <= VERIFY_MAX_STEPS:
        raise NtTuiError(f"verification length {steps} is outside "
                         f"{VERIFY_MIN_STEPS}-{VERIFY_MAX_STEPS} steps",
                         hint="pick a length in that range")
    start, source = 0, None
    if from_checkpoint:
        source, start = pick_checkpoint(plan.run_dir, steps, original_last_step)
    config = plan.fixed
    total = config.schedule.total_steps or 0
    if total < start + steps:
        config = apply_changes(config, {"schedule.total_steps": start + steps,
                                        "schedule.epochs": None})
    config.logging.run_name = None
    target = run_dir or free_path(plan.path.parent, f"{plan.path.stem}-verify")
    resolved = resolve(config, plan.path if plan.path.exists() else None)
    if source is not None:  # a resumed run does not write its config: write it here
        (target / "checkpoints").mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target / "checkpoints" / source.name)
        write_atomic(target / CONFIG_FILE, portable_config_text(resolved))
    control = control or TrainingControl()
    trainer = Trainer(resolved, run_dir=None if source else target,
                      resume=target if source else None, control=control,
                      listener=_StopAt(control, start + steps, on_metrics))
    trainer.run()
    return trainer.run_dir, start


@dataclass
class Comparison:
    """Original vs verification over the steps both logged."""

    first_step: int
    last_step: int
    loss_before: float | None
    loss_after: float | None
    spikes_before: int
    spikes_after: int
    nan_before: bool
    nan_after: bool
    val_before: float | None
    val_after: float | None

    @property
    def helped(self) -> bool:
        if self.nan_before != self.nan_after:
            return self.nan_before
        if self.loss_before is None or self.loss_after is None:
            return False
        better_loss = self.loss_after < self.loss_before * (1 - HELPED_REL)
        return better_loss or self.spikes_after < self.spikes_before

    def sentences(self) -> list[str]:
        out = [f"loss at step {step(self.last_step)}: {num(self.loss_before)} -> "
               f"{num(self.loss_after)}"]
        out.append(f"spikes: {self.spikes_before} -> {self.spikes_after}")
        if self.val_before is not None and self.val_after is not None:
            out.append(f"validation loss: {num(self.val_before)} -> {num(self.val_after)}")
        if self.nan_before or self.nan_after:
            out.append(f"NaN/Inf: {'yes' if self.nan_before else 'no'} -> "
                       f"{'yes' if self.nan_after else 'no'}")
        verdict = "the fix helped" if self.helped else "the fix did not help"
        return [verdict + ": " + "; ".join(out)]


def _window(history: "RunHistory", metric: str, first: int, last: int) -> tuple[np.ndarray,
                                                                                 np.ndarray]:
    series = history.series(metric)
    series = series[(series.index > first) & (series.index <= last)]
    return series.index.to_numpy(), series.to_numpy(dtype=float)


def _smoothed_end(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    trend = rolling_median(finite, odd_window(finite.size, 0.1))
    return float(trend[-1])


def compare(original: "RunHistory", verification: "RunHistory", first_step: int) -> Comparison:
    """Compare the two runs between `first_step` and the last step both reached."""
    from nt_tui.analysis.diagnosis.evidence import nonfinite_steps

    last = int(min(original.frame["step"].max(), verification.frame["step"].max()))
    summary = {}
    for name, history in (("before", original), ("after", verification)):
        steps, values = _window(history, "train_loss", first_step, last)
        finite = np.isfinite(values)
        vals = history.series("val_loss")
        vals = vals[(vals.index > first_step) & (vals.index <= last)]
        summary[name] = (
            _smoothed_end(values),
            len(find_spikes(steps[finite], values[finite])),
            any(first_step < s <= last for s in nonfinite_steps(history, "train_loss")),
            float(vals.iloc[-1]) if len(vals) else None)
    return Comparison(first_step, last, summary["before"][0], summary["after"][0],
                      summary["before"][1], summary["after"][1], summary["before"][2],
                      summary["after"][2], summary["before"][3], summary["after"][3])
