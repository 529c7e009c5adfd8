"""Run a sweep: an Optuna study whose trials are short nt-tui training runs.

    loaded = load_sweep("examples/sweep-demo.yaml")
    outcome = SweepRunner(loaded, listener=..., control=...).run()   # blocks
    rows = read_trials(loaded)                                       # the table, any time

One core for `nt-tui sweep` and the app's Sweep tab. Each trial is a `Trainer` run in
`<sweep_dir>/trial-NNNN`; every validation loss is reported to Optuna as an intermediate
value, and the median pruner stops bad trials through the trial's `TrainingControl`. The study
lives in an Optuna RDB storage, so running the sweep again resumes it (see docs/sweeps.md for
the rules on interrupted and dead trials). optuna is imported inside functions only.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nt_tui.errors import NtTuiError
from nt_tui.tuning.sweep_config import (INTERMEDIATE_KEY, LoadedSweep, apply_trial_changes,
                                        suggest_values, trial_changes)

#: Optuna heartbeat of a running trial, and how long a silent one is left before another
#: worker marks it FAIL and queues it again (Optuna's RDBStorage docs use 60 s / 120 s).
HEARTBEAT_S = 60
GRACE_S = 120
#: An interrupted trial is queued again at most this many times (then it stays FAIL).
MAX_RETRIES = 3
TRIAL_DIR_FORMAT = "trial-{:04d}"
#: Opening a new database creates Optuna's tables; two openers at once (the sweep and the
#: screen that polls it, or two worker processes) can race on that. Openers in one process
#: take turns; across processes the loser retries.
_OPEN_LOCK = threading.Lock()
STORAGE_OPEN_TRIES = 5
STORAGE_RETRY_S = 0.2
#: SQLAlchemy's errors when another process creates the same tables ("table ... already
#: exists", "UNIQUE constraint failed: alembic_version", "database is locked").
_CREATION_RACES = ("OperationalError", "IntegrityError")
#: Table order of trial states: finished results first, best first.
STATE_ORDER = ("complete", "pruned", "running", "waiting", "fail")


class TrialFailed(Exception):
    """The trial's run failed (NaN, out of memory, a bad value): the trial is FAIL, the sweep
    goes on."""


class SweepInterrupted(Exception):
    """The user stopped the sweep during a trial."""


def require_optuna() -> Any:
    """The optuna module, or an NtTuiError saying how to install it. Optuna's notices that
    heartbeats and trial retries are experimental are silenced: they would print on every run."""
    try:
        import optuna
    except ImportError:
        raise NtTuiError("sweeps need the `optuna` package, which is not installed",
                         hint="pip install 'nt-tui[sweep]'") from None
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


# ------------------------------------------------------------------------ the study

def open_storage(url: str) -> Any:
    """An Optuna RDB storage for `url` with heartbeats (dead trials are retried)."""
    require_optuna()
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, STORAGE_OPEN_TRIES + 1):
        try:
            with _OPEN_LOCK:
                return RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                                  heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                                      max_retry=MAX_RETRIES))
        except (ImportError, ModuleNotFoundError) as exc:
            raise NtTuiError(f"the storage {url} needs a database driver: {exc}",
                             hint="install the driver for that database (e.g. psycopg2, "
                                  "pymysql)") from None
        except Exception as exc:  # SQLAlchemy's errors for bad URLs and unreachable servers
            if type(exc).__name__ in _CREATION_RACES and attempt < STORAGE_OPEN_TRIES:
                time.sleep(STORAGE_RETRY_S)  # another process was creating the tables
                continue
            raise NtTuiError(f"cannot open the Optuna storage {url}: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}",
                             hint="check the storage URL in the sweep file (or --storage) and "
                                  "that the database is reachable") from None
    raise AssertionError("unreachable")


def make_sampler(loaded: LoadedSweep, offset: int) -> Any:
    """grid -> GridSampler, random -> RandomSampler, tpe -> TPESampler.

    The grid sampler shuffles the grid with its seed, so every process of a study must use the
    same one: `sampler_seed`. The others are seeded with `sampler_seed + offset` (offset =
    trials already in the study), so a resumed sweep does not repeat its first suggestions.
    """
    optuna = require_optuna()
    spec = loaded.spec
    if spec.method == "grid":
        return optuna.samplers.GridSampler(spec.grid_space(), seed=spec.sampler_seed)
    seed = spec.sampler_seed + offset
    if spec.method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(loaded: LoadedSweep) -> Any:
    optuna = require_optuna()
    spec = loaded.spec
    if not spec.uses_pruning:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=spec.pruning.startup_trials,
                                       n_warmup_steps=spec.pruning.warmup_steps)


def open_study(loaded: LoadedSweep, sampler: Any = None, storage: Any = None) -> Any:
    """Create the study, or load it when it exists (same name, same storage)."""
    optuna = require_optuna()
    return optuna.create_study(
        study_name=loaded.study_name, storage=storage or open_storage(loaded.storage_url),
        sampler=sampler, pruner=make_pruner(loaded), direction=loaded.spec.direction,
        load_if_exists=True)


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return True  # unknown: leave it to the heartbeat
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def requeue(study: Any, trial: Any) -> None:
    """Queue a FAIL trial's parameters again as a new WAITING trial (Optuna's retry callback,
    which keeps the grid point of a grid trial)."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)(study, trial)


def recover_dead_trials(study: Any) -> list[int]:
    """Mark FAIL, and queue again, the RUNNING trials of this machine whose process is gone
    (a killed sweep); trials of other machines are left to the heartbeat."""
    optuna = require_optuna()
    host, recovered = socket.gethostname(), []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        if trial.user_attrs.get("host") != host or pid == os.getpid() or _pid_alive(pid):
            continue
        try:
            optuna.trial.Trial(study, trial._trial_id).set_user_attr(
                "reason", f"its process (pid {pid} on {host}) died")
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        except (ValueError, RuntimeError):  # another process got there first
            continue
        requeue(study, study.get_trials(deepcopy=False)[trial.number])
        recovered.append(trial.number)
    return recovered


# ----------------------------------------------------------------------- the table

@dataclass
class TrialRow:
    """One trial as the table shows it."""

    number: int
    state: str
    #: the objective (complete trials), else None
    value: float | None
    params: dict[str, Any]
    seed: int | None
    run_dir: str | None
    #: (step, intermediate value) in step order: the curve
    curve: list[tuple[int, float]] = field(default_factory=list)
    reason: str = ""
    retry_of: int | None = None

    @property
    def last(self) -> float | None:
        """The latest intermediate value (what a pruned or running trial reached)."""
        return self.curve[-1][1] if self.curve else None

    @property
    def steps(self) -> int | None:
        return self.curve[-1][0] if self.curve else None

    @property
    def sort_key(self) -> tuple:
        score = self.value if self.value is not None else self.last
        state = STATE_ORDER.index(self.state) if self.state in STATE_ORDER else len(STATE_ORDER)
        return (min(state, 2), score if score is not None and math.isfinite(score) else math.inf,
                state, self.number)


def _row(trial: Any, retried_as: dict[int, int]) -> TrialRow:
    state = trial.state.name.lower()
    params = {key: value for key, value in trial.params.items() if key != "seed"}
    reason = str(trial.user_attrs.get("reason", ""))
    if state == "pruned" and not reason:
        reason = "pruned by the median pruner"
    if trial.number in retried_as:
        reason = f"{reason or 'interrupted'}; queued again as trial {retried_as[trial.number]}"
    elif state == "fail" and not reason:
        reason = "the process running it stopped"
    seed = trial.params.get("seed", trial.user_attrs.get("seed"))
    return TrialRow(number=trial.number, state=state, value=trial.value if state == "complete"
                    else None, params=params, seed=seed, run_dir=trial.user_attrs.get("run_dir"),
                    curve=sorted(trial.intermediate_values.items()), reason=reason,
                    retry_of=trial.system_attrs.get("failed_trial"))


def trial_rows(trials: list[Any]) -> list[TrialRow]:
    """Table rows, sorted: complete trials by objective, then pruned (by the value they
    reached), running, waiting and failed ones."""
    retried_as: dict[int, int] = {}
    for trial in trials:
        history = trial.system_attrs.get("retry_history") or []
        if history:
            retried_as[history[-1]] = trial.number
    return sorted((_row(trial, retried_as) for trial in trials), key=lambda row: row.sort_key)


def read_trials(loaded: LoadedSweep, storage: Any = None) -> list[TrialRow]:
    """The sweep's trials from its storage (none when the study does not exist yet)."""
    optuna = require_optuna()
    url = loaded.storage_url
    if storage is None:
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            return []
        storage = open_storage(url)
    try:
        study = optuna.load_study(study_name=loaded.study_name, storage=storage)
    except KeyError:
        return []
    return trial_rows(study.get_trials(deepcopy=False))


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def format_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{key}={format_value(value)}" for key, value in params.items())


def render_table(rows: list[TrialRow], metric: str) -> str:
    """The trials as text: one line each, best first."""
    if not rows:
        return "no trials yet"
    lines = [f"{'trial':>5}  {'state':<8}  {metric:>9}  {'steps':>5}  parameters"]
    for row in rows:
        shown = row.value if row.value is not None else row.last
        value = f"{shown:.4f}" if shown is not None and math.isfinite(shown) else "-"
        if row.value is None and shown is not None:
            value += "*"
        steps = str(row.steps) if row.steps is not None else "-"
        seed = f", seed={row.seed}" if row.seed is not None else ""
        lines.append(f"{row.number:>5}  {row.state:<8}  {value:>9}  {steps:>5}  "
                     f"{format_params(row.params)}{seed}")
        if row.reason and row.state not in ("complete", "pruned"):
            lines.append(f"{'':>5}  {'':<8}  {'':>9}  {'':>5}  ({row.reason})")
    if any(row.value is None and row.last is not None for row in rows):
        lines.append(f"* the last {metric} the trial reported (pruned or unfinished)")
    return "\n".join(lines)


# ---------------------------------------------------------------------- running it

class SweepListener(Protocol):
    """Progress of a running sweep (called from the sweep's thread; return quickly)."""

    def on_trial_start(self, number: int, values: dict[str, Any], run_dir: Path) -> None: ...

    def on_trial_metrics(self, number: int, record: dict[str, Any]) -> None: ...

    def on_trial_end(self, row: TrialRow) -> None: ...

    def on_note(self, text: str) -> None: ...


class SweepControl:
    """Stop requests from any thread: the current trial stops after its step, the sweep ends."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._trial_control: Any = None

    def stop(self, reason: str = "sweep stopped by the user") -> None:
        self._stop.set()
        with self._lock:
            if self._trial_control is not None:
                self._trial_control.stop(reason)

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def attach(self, trial_control: Any) -> None:
        """The control of the trial now training (None between trials)."""
        with self._lock:
            self._trial_control = trial_control
            if trial_control is not None and self._stop.is_set():
                trial_control.stop("sweep stopped by the user")


class _TrialReporter:
    """EngineListener of one trial: reports the metric to Optuna and prunes."""

    def __init__(self, trial: Any, key: str, control: Any, listener: SweepListener | None) -> None:
        self.trial, self.key, self.control, self.listener = trial, key, control, listener
        self.pruned_at: int | None = None

    def on_metrics(self, record: dict[str, Any]) -> None:
        if self.listener is not None:
            self.listener.on_trial_metrics(self.trial.number, record)
        value, step = record.get(self.key), record.get("step")
        if self.pruned_at is not None or not isinstance(value, (int, float)) or \
                not math.isfinite(value) or not isinstance(step, int):
            return
        self.trial.report(float(value), step)
        if self.trial.should_prune():
            self.pruned_at = step
            self.control.stop(f"pruned by the median pruner at step {step}")

    def on_event(self, event: dict[str, Any]) -> None:
        del event


@dataclass
class SweepOutcome:
    status: str  # "done" or "interrupted"
    rows: list[TrialRow]
    target: int
    recovered: list[int] = field(default_factory=list)

    @property
    def best(self) -> TrialRow | None:
        complete = [row for row in self.rows if row.state == "complete"]
        return complete[0] if complete else None


def check_base(loaded: LoadedSweep) -> Any:
    """Pre-flight of the base config with the sweep's overrides and run length, and every
    parameter value or range end applied once: problems every trial would hit stop the sweep
    before it starts. Returns the base `Preflight`."""
    from nt_tui.config.preflight import Level, run_preflight

    spec = loaded.spec
    base = apply_trial_changes(loaded.base_config, trial_changes(loaded, {}, loaded.seeds[0]))
    preflight = run_preflight(base, loaded.base_config_path)
    for finding in preflight.findings:
        if finding.level in (Level.ERROR, Level.CHOICE):
            settings = [f"{key}: {'PATH' if value is None else value}"
                        for choice in finding.choices for key, value in choice.changes.items()]
            fix = f"set one of {', '.join(settings)}" if settings else finding.fix
            raise NtTuiError(f"the sweep's base config {loaded.base_config_path}: "
                             f"{finding.message}",
                             hint=f"{fix} (in the base config or the sweep's overrides)")
    if spec.metric == "val_loss" and not (base.data.validation or base.data.val_split or
                                          base.model.source == "entrypoint"):
        raise NtTuiError("metric val_loss needs validation data, and the base config has none",
                         hint="set data.val_split (or data.validation) in the base config or "
                              "overrides, or use metric: train_loss")
    for key, space in spec.parameters.items():
        for value in (space.values if not space.is_range else [space.low, space.high]):
            try:
                apply_trial_changes(base, {key: value})
            except NtTuiError as exc:
                raise NtTuiError(f"{loaded.path}: parameter {exc.message}", hint=exc.hint) \
                    from None
    return preflight


class SweepRunner:
    """Runs (or resumes) one sweep until it holds its target number of trials or is stopped."""

    def __init__(self, loaded: LoadedSweep, *, listener: SweepListener | None = None,
                 control: SweepControl | None = None, trials: int | None = None) -> None:
        self.loaded = loaded
        self.listener = listener
        self.control = control or SweepControl()
        self.target = loaded.spec.target_trials(trials)
        self._current: int | None = None

    def _note(self, text: str) -> None:
        if self.listener is not None:
            self.listener.on_note(text)

    def run(self) -> SweepOutcome:
        """Run trials until the target is reached, the grid is exhausted or a stop request."""
        optuna = require_optuna()
        optuna.logging.set_verbosity(optuna.logging.ERROR)  # trials are reported by us
        check_base(self.loaded)
        storage = open_storage(self.loaded.storage_url)
        study = open_study(self.loaded, storage=storage)
        recovered = recover_dead_trials(study)
        for number in recovered:
            self._note(f"trial {number} was left running by a process that is gone: marked "
                       "FAIL and queued again")
        study.sampler = make_sampler(self.loaded, len(study.get_trials(deepcopy=False)))
        self.loaded.sweep_dir.mkdir(parents=True, exist_ok=True)
        status = "done"
        while not self.control.stop_requested and not self._finished(study):
            try:
                study.optimize(self._objective(study), n_trials=1, catch=(TrialFailed,))
            except SweepInterrupted:
                self._requeue_current(study)
                status = "interrupted"
            except KeyboardInterrupt:
                self._requeue_current(study)
                raise
            self._report_end(study)
        if self.control.stop_requested:
            status = "interrupted"
        return SweepOutcome(status, trial_rows(study.get_trials(deepcopy=False)), self.target,
                            recovered)

    def _finished(self, study: Any) -> bool:
        """The study holds `target` trials (complete, pruned or failed, a re-queued one counted
        once, running ones included), or a grid has no point left to run."""
        optuna = require_optuna()
        states = optuna.trial.TrialState
        trials = study.get_trials(deepcopy=False)
        superseded = {number for trial in trials
                      for number in trial.system_attrs.get("retry_history") or []}
        counted = sum(1 for trial in trials if trial.number not in superseded and
                      trial.state != states.WAITING)
        waiting = any(trial.state == states.WAITING for trial in trials)
        if counted >= self.target and not waiting:
            return True
        if self.loaded.spec.method == "grid" and not waiting:
            return study.sampler.is_exhausted(study)
        return False

    def _requeue_current(self, study: Any) -> None:
        if self._current is None:
            return
        trial = study.get_trials(deepcopy=False)[self._current]
        if trial.state.name == "FAIL":
            requeue(study, trial)

    def _report_end(self, study: Any) -> None:
        if self._current is None or self.listener is None:
            return
        trial = study.get_trials(deepcopy=False)[self._current]
        row = trial_rows([trial])[0]
        self.listener.on_trial_end(row)

    def _objective(self, study: Any) -> Any:
        del study

        def objective(trial: Any) -> float:
            self._current = trial.number
            return self._run_trial(trial)

        return objective

    def _run_trial(self, trial: Any) -> float:
        optuna = require_optuna()
        from nt_tui.config.preflight import Level, run_preflight
        from nt_tui.engine.control import TrainingControl
        from nt_tui.engine.trainer import Trainer

        loaded, spec = self.loaded, self.loaded.spec
        values = suggest_values(trial, spec)
        seed = values.pop("seed", None)
        if seed is None:
            seed = loaded.seed_for(trial.number)
        run_dir = (loaded.sweep_dir / TRIAL_DIR_FORMAT.format(trial.number)).resolve()
        for key, value in (("host", socket.gethostname()), ("pid", os.getpid()),
                           ("seed", seed), ("run_dir", str(run_dir))):
            trial.set_user_attr(key, value)
        try:
            changes = trial_changes(loaded, values, seed)
            changes["name"] = f"{loaded.study_name}-{run_dir.name}"
            config = apply_trial_changes(loaded.base_config, changes)
            preflight = run_preflight(config, loaded.base_config_path)
            blocking = [f for f in preflight.findings if f.level in (Level.ERROR, Level.CHOICE)]
            if blocking:
                raise NtTuiError(f"{blocking[0].message}", hint=blocking[0].fix)
        except NtTuiError as exc:
            trial.set_user_attr("reason", exc.one_line())
            raise TrialFailed(exc.one_line()) from None
        if self.listener is not None:
            self.listener.on_trial_start(trial.number, {**values, "seed": seed}, run_dir)
        trial_control = TrainingControl()
        reporter = _TrialReporter(trial, INTERMEDIATE_KEY[spec.metric], trial_control,
                                  self.listener)
        self.control.attach(trial_control)
        try:
            summary = Trainer(preflight.resolved, run_dir=run_dir, listener=reporter,
                              control=trial_control).run()
        finally:
            self.control.attach(None)
        trial.set_user_attr("status", summary.get("status"))
        trial.set_user_attr("steps", summary.get("total_steps"))
        if summary.get("reason"):
            trial.set_user_attr("reason", str(summary["reason"]))
        if summary.get("status") == "stopped" and self.control.stop_requested:
            trial.set_user_attr("reason", f"interrupted ({trial_control.stop_reason})")
            raise SweepInterrupted()
        if reporter.pruned_at is not None:
            raise optuna.TrialPruned(f"pruned at step {reporter.pruned_at}")
        if summary.get("status") == "failed":
            raise TrialFailed(str(summary.get("reason")))
        value = summary.get("best_val_loss" if spec.metric == "val_loss" else
                            "final_train_loss")
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            trial.set_user_attr("reason", f"the run reported no finite {spec.metric}")
            raise TrialFailed(f"no finite {spec.metric}")
        return float(value)
