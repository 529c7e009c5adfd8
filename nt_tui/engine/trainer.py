"""The training loop: one engine for the app (a worker thread) and `nt-tui train --headless`.

    trainer = Trainer(resolved, listener=..., control=...)   # trainer.run_dir is known now
    summary = trainer.run()                                   # blocks until done

`run()` never raises for problems inside the run: out of memory, bad user code, a full disk
all end in a `failure` event and a summary with status "failed", and the last checkpoint stays
usable. The run directory is documented in docs/run-format.md.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from nt_tui.analysis.early_warnings import EarlyWarningDetector
from nt_tui.config.defaults import ResolvedConfig
from nt_tui.config.loader import dump_config
from nt_tui.engine import checkpoint as ckpt
from nt_tui.engine.control import EngineListener, TrainingControl
from nt_tui.engine.data import TrainBatches, validation_batches
from nt_tui.engine.entrypoints import UserCodeError
from nt_tui.engine.optimizers import build_optimizer
from nt_tui.engine.schedules import Schedule
from nt_tui.engine.silent_checks import SilentChecks
from nt_tui.engine.sinks import Sink, build_sinks, close_all, json_safe
from nt_tui.engine.stepstats import StepStats
from nt_tui.engine.summary import Curves, recommend
from nt_tui.engine.task import Task, base_dir, build_task, code_dirs
from nt_tui.errors import NtTuiError
from nt_tui.resources import DEMO_DATASET_NAME
from nt_tui.runfmt import (CONFIG_FILE, EVENTS_FILE, METRICS_FILE, RunWriter, free_path,
                           is_run_dir, iter_jsonl)
from nt_tui.textdata import dataset_path

__all__ = ["EngineListener", "Trainer", "TrainingControl", "default_run_dir"]

#: Seconds between checks of the stop request while paused.
PAUSE_POLL_S = 0.2
#: Smoothing of the seconds-per-step estimate behind the ETA (per log window).
ETA_DECAY = 0.7


class RunFailed(Exception):
    """Ends the loop with a failure event (the reason is the message)."""


def default_run_dir(resolved: ResolvedConfig, now: datetime | None = None) -> Path:
    """`<logging.run_dir>/<name>-<YYYYmmdd-HHMMSS>`, or `<logging.run_dir>/<run_name>`.

    A relative `logging.run_dir` is relative to the current working directory (where
    `nt-tui` runs), like every output path; a name already taken gets a -2, -3 ... suffix.
    """
    config = resolved.config
    parent = Path(config.logging.run_dir).expanduser()
    if config.logging.run_name:
        path = parent / config.logging.run_name
        if is_run_dir(path):
            raise NtTuiError(f"run directory {path} already holds a run",
                             hint=f"resume it with `nt-tui train --resume {path}`, or set "
                                  "another logging.run_name")
        return path
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return free_path(parent, f"{config.name or 'run'}-{stamp}")


def portable_config_text(resolved: ResolvedConfig) -> str:
    """The resolved config as YAML with file paths made absolute, so `--resume` finds the data
    wherever the run directory is read from."""
    config = resolved.config.model_copy(deep=True)
    base = base_dir(resolved)
    for section, key in (("data", "train"), ("data", "validation"), ("model", "path")):
        spec = getattr(getattr(config, section), key)
        if spec and spec != DEMO_DATASET_NAME:
            setattr(getattr(config, section), key, str(dataset_path(spec, base).resolve()))
    header = "# Resolved config of this run, written by nt-tui (paths made absolute).\n"
    return header + dump_config(config)


def describe_failure(exc: BaseException) -> str:
    """One line for the failure event: what broke and what to do."""
    if isinstance(exc, (RunFailed, NtTuiError)):
        return str(exc)
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return ("out of memory: lower data.batch_size or data.seq_len (raise data.grad_accum "
                "to keep the tokens per step), or use a smaller model")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full while writing {exc.filename or 'the run directory'}: free some space"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return (f"file too large while writing {exc.filename or 'the run directory'} (a file "
                "size limit, `ulimit -f`, or the file system's maximum)")
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        return f"cannot write {exc.filename or 'the run directory'}: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}"


class Trainer:
    """Trains one resolved config, writing the run directory."""

    def __init__(self, resolved: ResolvedConfig, *, run_dir: Path | None = None,
                 resume: Path | None = None, listener: EngineListener | None = None,
                 control: TrainingControl | None = None) -> None:
        self.resolved = resolved
        self.config = resolved.config
        self.listener = listener
        self.control = control or TrainingControl()
        self.resume_from: Path | None = None
        if resume is not None:
            resume = Path(resume)
            self.resume_from = resume if resume.is_file() else ckpt.latest_checkpoint(
                resume / "checkpoints")
            if self.resume_from is None:
                raise NtTuiError(f"no checkpoint to resume from in {resume / 'checkpoints'}",
                                 hint="the run stopped before its first checkpoint; start it "
                                      "again without --resume")
            self.run_dir = resume if resume.is_dir() else resume.parent.parent
            # Read now: an unreadable checkpoint is bad input, refused before the run starts
            # (and before anything is written to the run directory).
            self._resume_state: dict[str, Any] | None = ckpt.load_checkpoint(self.resume_from)
        elif run_dir is not None:
            self.run_dir = Path(run_dir)
            if is_run_dir(self.run_dir):
                raise NtTuiError(f"{self.run_dir} already holds a run",
                                 hint=f"resume it with --resume {self.run_dir}, or pick a new "
                                      "folder")
        else:
            self.run_dir = default_run_dir(resolved)
        if self.config.schedule.total_steps is None:
            raise NtTuiError("the run has no length (schedule.total_steps)",
                             hint="run `nt-tui check CONFIG` and fix its findings first")
        self.schedule = Schedule.from_config(self.config)
        self.total_steps = self.schedule.total_steps
        self.summary: dict[str, Any] = {}
        self.status = "created"
        # Progress bookkeeping (restored from the checkpoint when resuming).
        self.step = 0
        self.position = 0
        self.world = 1
        self.num_params: int | None = None
        self.curves = Curves()
        self.best_val, self.best_step = math.inf, None
        self._elapsed_before = 0.0
        self._train_time = 0.0
        self._samples_done = 0
        self._resumed_at: int | None = None
        self._last_ckpt_step: int | None = None
        self._last_ckpt: str | None = None
        self._best_ckpt: str | None = None
        self._checkpoints: list[str] = []

    # ----------------------------------------------------------------- public entry point

    def run(self) -> dict[str, Any]:
        """Train until done, stopped or failed; return the summary (also summary.json)."""
        self._started = time.time()
        self._writer: RunWriter | None = None
        self._sinks: list[Sink] = []
        self._is_main = True
        self.status, self._reason, self._traceback = "running", "", ""
        self.control.enter_run()
        try:
            self._setup()
            self._loop()
        except KeyboardInterrupt:  # a second Ctrl-C in headless mode: abort without saving
            self.status = "stopped"
            self._reason = (f"aborted at step {self.step} without a final checkpoint; the last "
                            f"checkpoint ({self._last_ckpt}) is intact")
            self._emit("stop", self.step, self._reason)
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes an event
            self.status = "failed"
            self._reason = describe_failure(exc)
            if not isinstance(exc, (RunFailed, NtTuiError)) or isinstance(exc, UserCodeError):
                self._traceback = "".join(traceback.format_exception(exc))
            self._emit("failure", self.step, self._reason,
                       **({"traceback": self._traceback} if self._traceback else {}))
        finally:
            try:
                self._finish()
            finally:
                self.control.leave_run()
        return self.summary

    # ------------------------------------------------------------------------ setup

    def _setup(self) -> None:
        from accelerate import Accelerator
        from accelerate.state import AcceleratorState
        from accelerate.utils import set_seed

        config = self.config
        precision = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[config.precision]
        if AcceleratorState._shared_state and AcceleratorState().mixed_precision != precision:
            AcceleratorState._reset_state()  # a previous run in this process used another one
        self.accelerator = acc = Accelerator(mixed_precision=precision,
                                             cpu=not torch.cuda.is_available())
        self._is_main = acc.is_main_process
        self.world = acc.num_processes
        self._share_cpu_threads()
        state, self._resume_state = getattr(self, "_resume_state", None), None
        if not state:
            self._share_run_dir()

        # User code is imported from the folder of the config the run started from.
        self._source_dir = state.get("source_dir") if state else str(base_dir(self.resolved))
        self._code_dirs = code_dirs(self.resolved, self._source_dir)
        self._open_outputs()  # first, so a failure below is recorded in the run directory
        set_seed(config.seed)  # the same initial weights on every process
        self.task: Task = build_task(self.resolved, state["tokenizer"] if state else None,
                                     self._code_dirs)
        model = self.task.model
        if state:
            model.load_state_dict(state["model"])
        optimizer, self._fused = build_optimizer(model, config)
        if state:
            optimizer.load_state_dict(state["optimizer"])
        self._raw_model = model
        self.model, self.optimizer = acc.prepare(model, optimizer)
        self._inner_optimizer = optimizer
        self._scaled = acc.scaler is not None
        self._device_skip = self._fused and not self._scaled
        # Without loss scaling, and with plain or DDP processes (gradients already averaged
        # by backward), accelerate's optimizer wrapper and clip_grad_norm_ only add per-step
        # Python work (its step looks for optional packages on disk twice per call): use the
        # torch calls directly there. Sharded back ends (FSDP, DeepSpeed, XLA) keep accelerate's.
        self._direct = not self._scaled and self._plain_or_ddp(acc)
        self._params = [p for p in self.model.parameters() if p.requires_grad]
        self._clip = config.regularization.grad_clip
        self.num_params = sum(p.numel() for p in self._raw_model.parameters())

        data = config.data
        self.batches = TrainBatches(self.task.train, data.batch_size, config.seed, self.world,
                                    acc.process_index)
        self._val = None
        if self.task.validation is not None:
            self._val = validation_batches(self.task.validation, data.batch_size,
                                           config.logging.val_batches, self.world,
                                           acc.process_index)
        self.stats = StepStats(acc.device, self._clip)
        self.detector = EarlyWarningDetector(total_steps=self.total_steps)
        self.silent = SilentChecks(self._raw_model, self.schedule, config.warnings.check_every)
        if state:
            self._restore(state)
        self._announce()
        if state:  # last, so nothing above draws from the restored generators
            rng = state["rng"]
            ckpt.restore_rng_state(rng[min(acc.process_index, len(rng) - 1)])
        else:
            set_seed(config.seed + acc.process_index)  # dropout differs across processes

    @staticmethod
    def _plain_or_ddp(acc: Any) -> bool:
        from accelerate.utils import DistributedType

        return acc.distributed_type in (DistributedType.NO, DistributedType.MULTI_CPU,
                                        DistributedType.MULTI_GPU)

    def _share_cpu_threads(self) -> None:
        """Split the cores between the processes of one machine, unless OMP_NUM_THREADS says
        otherwise (a single process keeps PyTorch's default: one thread per core)."""
        local = int(os.environ.get("LOCAL_WORLD_SIZE", self.world))
        if self.accelerator.device.type == "cpu" and local > 1 and \
                "OMP_NUM_THREADS" not in os.environ:
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))

    def _share_run_dir(self) -> None:
        """Every process uses the main process's run directory name."""
        if self.world > 1:
            from accelerate.utils import broadcast_object_list

            names = [str(self.run_dir)]
            broadcast_object_list(names)
            self.run_dir = Path(names[0])

    def _restore(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.position = int(state["data"]["position"])
        self.best_val = float(state["best_val_loss"])
        self.best_step = state["best_val_step"]
        self._elapsed_before = float(state["elapsed"])
        self._train_time = float(state.get("train_time", 0.0))
        self._samples_done = int(state.get("samples_done", 0))
        self.stats.load_state_dict(state["stats"])
        if self._scaled and state.get("scaler"):
            self.accelerator.scaler.load_state_dict(state["scaler"])
        self._last_ckpt_step, self._last_ckpt = self.step, str(self.resume_from)
        best = self.run_dir / "checkpoints" / ckpt.BEST_NAME
        self._best_ckpt = str(best) if best.exists() else None
        self._checkpoints = [str(path) for _, path in ckpt.step_checkpoints(
            self.run_dir / "checkpoints")]
        self._resumed_at = self.step
        self._replay_history()

    def _replay_history(self) -> None:
        """Rebuild curves and the warning detector from the logs up to the checkpoint's step."""
        metrics, events = self.run_dir / METRICS_FILE, self.run_dir / EVENTS_FILE
        latest: dict[int, dict[str, Any]] = {}
        if metrics.exists():
            for _, record in iter_jsonl(metrics):
                step = record.get("step")
                if isinstance(step, int) and step <= self.step:
                    latest[step] = record  # after an earlier resume the later row wins
        for step in sorted(latest):
            self._track(latest[step])
            self.detector.update(latest[step])
        self.curves.warnings.clear()
        if events.exists():
            for _, event in iter_jsonl(events):
                step = event.get("step")
                if event.get("kind") == "warning" and isinstance(step, int) and \
                        step <= self.step:
                    code = str(event.get("code"))
                    self.curves.warnings[code] = self.curves.warnings.get(code, 0) + 1

    def _open_outputs(self) -> None:
        if not self._is_main:
            return
        self._writer = RunWriter(self.run_dir)
        if self.resume_from is None:
            self._writer.write_config(portable_config_text(self.resolved))
        self._sinks = build_sinks(self.config, self.run_dir, self._code_dirs)

    def _announce(self) -> None:
        """The start (or resume) event, once the model and data are built."""
        acc = self.accelerator
        info = {"num_params": self.num_params, "total_steps": self.total_steps,
                "world_size": self.world, "device": str(acc.device),
                "precision": self.config.precision, "model": self.task.description}
        if self._resumed_at is not None:
            self._emit("resume", self.step, f"resumed from {self.resume_from} at step "
                       f"{self.step} of {self.total_steps}", checkpoint=str(self.resume_from),
                       **info)
        else:
            self._emit("start", 0, f"training {self.config.name}: {self.task.description}, "
                       f"{self.num_params:,} parameters, {self.total_steps} steps on "
                       f"{self.world} x {acc.device}", **info)

    # ------------------------------------------------------------------------ the loop

    def _loop(self) -> None:
        self._window_started = time.perf_counter()
        self._window_excluded = 0.0
        self._step_time: float | None = None
        self._val_time = 0.0
        while self.step < self.total_steps:
            if self.world == 1 and self._control_says_stop(local_only=True):
                break
            lr = self.schedule.lr_at(self.step)
            for group in self._inner_optimizer.param_groups:
                group["lr"] = lr
            check = self.silent.due(self.step + 1)
            is_log = self._is_log_step(self.step + 1)
            finite = self._train_step(check, want_layers=is_log and
                                      self.config.logging.layer_grad_norms)
            self.step += 1
            if check:
                self._run_silent_checks(lr, finite)
            if is_log:
                self._log_step(lr)
                if self.world > 1 and self._control_says_stop(local_only=False):
                    break
            elif self._due_checkpoint():
                self._save_checkpoint()
        else:
            # The last step was a log step: validated and logged; checkpoint and finish.
            self.status = "finished"
            if self._last_ckpt_step != self.step:
                self._save_checkpoint()
            self._emit("finish", self.step, f"finished {self.step} steps")
            return
        self.status = "stopped"
        if self.step > 0 and self._last_ckpt_step != self.step:
            self._save_checkpoint()
        self._emit("stop", self.step, f"{self.control.stop_reason} at step {self.step}; "
                   f"resume with `nt-tui train --resume {self.run_dir}`")

    def _is_log_step(self, step: int) -> bool:
        log = self.config.logging
        return step % log.every == 0 or step == self.total_steps or (
            self._val is not None and step % log.validate_every == 0)

    def _due_checkpoint(self) -> bool:
        every = self.config.checkpointing.every
        return bool(every) and self.step % every == 0

    def _train_step(self, check: bool, want_layers: bool) -> torch.Tensor:
        """One optimizer step (grad_accum micro-batches); returns the device-side finite flag."""
        acc, model, accum = self.accelerator, self.model, self.config.data.grad_accum
        loss_sum = None
        for micro in range(accum):
            inputs, targets = self._to_device(self.batches.batch(self.position))
            self.position += 1
            sync = acc.no_sync(model) if micro < accum - 1 else contextlib.nullcontext()
            with sync:
                with acc.autocast():
                    loss = self.task.loss_fn(model(inputs), targets)
                acc.backward(loss / accum if accum > 1 else loss)
            loss_sum = loss.detach() if loss_sum is None else loss_sum + loss.detach()
        step_loss = loss_sum / accum if accum > 1 else loss_sum
        max_norm = self._clip if self._clip > 0 else math.inf
        norm = torch.nn.utils.clip_grad_norm_(self._params, max_norm) if self._direct else \
            acc.clip_grad_norm_(self._params, max_norm)
        finite = self.stats.update(step_loss, norm, check_grads=not self._scaled)
        if want_layers:
            self._layer_norms = self._layer_grad_norms(norm)
        if check:
            self.silent.before_step()
        optimizer = self._inner_optimizer if self._direct else self.optimizer
        if self._device_skip:
            self._inner_optimizer.found_inf = (~finite).float()
            optimizer.step()
        elif bool(finite) or self._scaled:  # fallback: one host sync per step
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        self._samples_done += self.config.data.batch_size * accum * self.world
        return finite

    def _to_device(self, batch: Any) -> Any:
        device = self.accelerator.device
        if isinstance(batch, torch.Tensor):
            return batch.to(device, non_blocking=True)
        if isinstance(batch, (tuple, list)):
            return type(batch)(self._to_device(item) for item in batch)
        if isinstance(batch, dict):
            return {key: self._to_device(item) for key, item in batch.items()}
        return batch

    def _layer_grad_norms(self, clipped_norm: torch.Tensor) -> torch.Tensor:
        """Pre-clip gradient norm per module (stays on the device until the log step)."""
        names, grads = [], []
        for name, param in self._raw_model.named_parameters():
            if param.grad is not None:
                names.append(name.rpartition(".")[0] or name)
                grads.append(param.grad)
        self._layer_names = names
        if not grads:
            return torch.zeros(0)
        norms = torch.stack(torch._foreach_norm(grads)).float()
        if self._clip > 0:  # undo clipping: clip_grad_norm_ scaled by max/(norm + 1e-6)
            norms = norms / torch.clamp(self._clip / (clipped_norm.float() + 1e-6), max=1.0)
        return norms

    def _run_silent_checks(self, lr: float, finite: torch.Tensor) -> None:
        norm = float(self.stats.last_norm)
        for event in self.silent.after_step(self.step, norm, lr, bool(finite)):
            self._warn(event)

    # ------------------------------------------------------------------ log steps

    def _reduce_sum(self, values: torch.Tensor) -> tuple[torch.Tensor, int]:
        if self.world == 1:
            return values, 1
        return self.accelerator.reduce(values, reduction="sum"), self.world

    def _log_step(self, lr: float) -> None:
        now = time.perf_counter()
        window = self.stats.read(self._reduce_sum)
        steps = window.pop("window_steps")
        spent = max(now - self._window_started - self._window_excluded, 1e-9)
        self._train_time += spent
        per_step = spent / max(steps, 1)
        self._step_time = per_step if self._step_time is None else \
            ETA_DECAY * self._step_time + (1 - ETA_DECAY) * per_step
        samples_per_s = steps * self.config.data.batch_size * self.config.data.grad_accum \
            * self.world / spent
        record: dict[str, Any] = {
            "step": self.step, "time": time.time(), "elapsed": self._elapsed(),
            "train_loss": window["train_loss"], "train_loss_avg": window["train_loss_avg"],
            "lr": lr, "grad_norm": window["grad_norm"],
            "clip_fraction": window["clip_fraction"], "samples_per_s": samples_per_s,
            "tokens_per_s": samples_per_s * self.task.tokens_per_item,
            "eta_s": self._eta(), "epoch": self.batches.epoch_of(self.position),
        }
        if window["nonfinite_steps"]:
            record["nonfinite_steps"] = window["nonfinite_steps"]
        if self.config.logging.layer_grad_norms and getattr(self, "_layer_norms", None) \
                is not None:
            record["layer_grad_norms"] = self._group_layers()
        if self._val is not None and (self.step % self.config.logging.validate_every == 0
                                      or self.step == self.total_steps):
            record.update(self._validate())
        self._publish(record)
        if window["nonfinite_steps"]:
            self._handle_nonfinite(window["nonfinite_steps"], steps)
        if self._due_checkpoint():
            self._save_checkpoint()
        self._window_started = time.perf_counter()
        self._window_excluded = 0.0

    def _group_layers(self) -> dict[str, float]:
        squares: dict[str, float] = {}
        for name, value in zip(self._layer_names, self._layer_norms.tolist()):
            squares[name] = squares.get(name, 0.0) + value * value
        self._layer_norms = None
        return {name: math.sqrt(total) for name, total in squares.items()}

    def _elapsed(self) -> float:
        return self._elapsed_before + time.time() - self._started

    def _eta(self) -> float:
        remaining = self.total_steps - self.step
        validations = 0
        if self._val is not None:
            every = self.config.logging.validate_every
            validations = self.total_steps // every - self.step // every
        return remaining * (self._step_time or 0.0) + validations * self._val_time

    def _validate(self) -> dict[str, float]:
        started = time.perf_counter()
        model, acc = self.model, self.accelerator
        model.eval()
        device = acc.device
        total = torch.zeros(2, device=device)
        with torch.no_grad():
            for batch in self._val:
                inputs, targets = self._to_device(batch)
                with acc.autocast():
                    loss = self.task.loss_fn(model(inputs), targets)
                total += torch.stack([loss.float() * len(targets),
                                      torch.tensor(float(len(targets)), device=device)])
        model.train()
        summed, _ = self._reduce_sum(total)
        loss_sum, count = summed.tolist()
        val_loss = loss_sum / count if count else math.nan
        self._val_time = time.perf_counter() - started
        self._window_excluded += self._val_time
        result = {"val_loss": val_loss}
        if self.task.is_language_model:
            result["val_ppl"] = math.exp(val_loss) if val_loss < 700 else math.inf
        if math.isfinite(val_loss) and val_loss < self.best_val:
            self.best_val, self.best_step = val_loss, self.step
            if self.config.checkpointing.keep_best:
                self._save_checkpoint(best=True)
        return result

    def _publish(self, record: dict[str, Any]) -> None:
        """Write a metric record everywhere, then run the early-warning detector on it."""
        self._track(record)
        if not self._is_main:
            return
        assert self._writer is not None
        safe = json_safe(record)
        self._writer.log_metrics(safe)
        for sink in self._sinks:
            sink.log_metrics(record)
        self._notify("on_metrics", record)
        for event in self.detector.update(record):
            self._warn(event)

    def _track(self, record: dict[str, Any]) -> None:
        """Keep the curves the summary's recommendation reads."""
        step = record.get("step")
        average = record.get("train_loss_avg")
        if isinstance(step, int) and isinstance(average, (int, float)):
            self.curves.train.append((step, float(average)))
        val = record.get("val_loss")
        if isinstance(step, int) and isinstance(val, (int, float)):
            self.curves.val.append((step, float(val)))

    def _handle_nonfinite(self, count: int, steps: int) -> None:
        policy = self.config.warnings.on_nan
        where = f"step {self.step}" if count == 1 else f"{count} of the last {steps} steps"
        kept = f"; the last checkpoint ({self._last_ckpt}) is intact" if self._last_ckpt else ""
        if policy == "stop":
            raise RunFailed(f"NaN/Inf loss or gradients at {where} (warnings.on_nan: stop); "
                            f"those updates were not applied{kept}. Lower the learning rate "
                            "or check the data")
        if count >= steps:
            raise RunFailed(f"every step since the last log had NaN/Inf loss or gradients "
                            f"(warnings.on_nan: skip cannot recover){kept}")

    # --------------------------------------------------------------------- control

    def _control_says_stop(self, local_only: bool) -> bool:
        """Apply pause / checkpoint-now; True when the loop should stop. With several processes
        the flags are combined over all of them (called at log steps by every process)."""
        control = self.control
        stop, paused = control.stop_requested, control.paused
        if not local_only:
            stop, checkpoint, paused = self._combine_flags(stop, control.take_checkpoint_request(),
                                                           paused)
            if checkpoint:
                self._save_checkpoint()
        elif control.take_checkpoint_request():
            self._save_checkpoint()
        if paused and not stop:
            stop = self._pause(local_only)
        return stop

    def _combine_flags(self, *flags: bool) -> tuple[bool, ...]:
        values = torch.tensor([float(flag) for flag in flags], device=self.accelerator.device)
        summed, _ = self._reduce_sum(values)
        return tuple(value > 0 for value in summed.tolist())

    def _pause(self, local_only: bool) -> bool:
        started = time.perf_counter()
        self._emit("pause", self.step, f"paused at step {self.step}")
        while True:
            self.control.wait_while_paused(PAUSE_POLL_S)
            stop, paused = self.control.stop_requested, self.control.paused
            if not local_only:
                stop, paused = self._combine_flags(stop, paused)
            if stop or not paused:
                break
        self._window_excluded += time.perf_counter() - started
        if not stop:
            self._emit("unpause", self.step, f"resumed at step {self.step}")
        return stop

    # ----------------------------------------------------------------- checkpoints

    def _checkpoint_state(self) -> dict[str, Any]:
        from accelerate.utils import gather_object

        rng = gather_object([ckpt.rng_state()]) if self.world > 1 else [ckpt.rng_state()]
        return {
            "format": ckpt.CHECKPOINT_FORMAT,
            "step": self.step,
            "model": self.accelerator.unwrap_model(self.model).state_dict(),
            "optimizer": self._inner_optimizer.state_dict(),
            "scheduler": {"name": self.schedule.name, "next_step": self.step},
            "scaler": self.accelerator.scaler.state_dict() if self._scaled else None,
            "rng": rng,
            "data": {"position": self.position, "world_size": self.world,
                     "batch_size": self.config.data.batch_size},
            "stats": self.stats.state_dict(),
            "best_val_loss": self.best_val,
            "best_val_step": self.best_step,
            "elapsed": self._elapsed(),
            "train_time": self._train_time,
            "samples_done": self._samples_done,
            "tokenizer": self.task.tokenizer_state,
            "config_name": self.config.name,
            "source_dir": self._source_dir,
        }

    def _save_checkpoint(self, best: bool = False) -> None:
        """Write step_XXXXXXXX.pt (or best.pt) atomically and prune; every process calls it."""
        started = time.perf_counter()
        state = self._checkpoint_state()
        folder = self.run_dir / "checkpoints"
        path = folder / (ckpt.BEST_NAME if best else ckpt.step_name(self.step))
        error: BaseException | None = None
        if self._is_main:
            try:
                ckpt.save_atomic(state, path)
                if not best:
                    removed = {str(p) for p in ckpt.prune(folder,
                                                          self.config.checkpointing.keep_last)}
                    self._checkpoints = [p for p in self._checkpoints if p not in removed]
            except OSError as exc:
                error = exc
        if self.world > 1:
            (failed,) = self._combine_flags(error is not None)
            if failed and error is None:
                raise RunFailed("the main process could not write a checkpoint")
        if error is not None:
            kept = f"; the previous checkpoint {self._last_ckpt} is intact" \
                if self._last_ckpt else ""
            raise RunFailed(f"checkpoint failed: {describe_failure(error)}{kept}")
        self._window_excluded += time.perf_counter() - started
        if best:
            self._best_ckpt = str(path)
            self._emit("checkpoint", self.step, f"new best validation loss "
                       f"{self.best_val:.4f}: saved {path.name}", path=str(path), best=True,
                       val_loss=self.best_val)
            return
        self._last_ckpt_step, self._last_ckpt = self.step, str(path)
        self._checkpoints.append(str(path))
        self._emit("checkpoint", self.step, f"saved {path.name}", path=str(path), best=False)

    # ------------------------------------------------------------- events, the end

    def _warn(self, event: dict[str, Any]) -> None:
        code = str(event.get("code"))
        self.curves.warnings[code] = self.curves.warnings.get(code, 0) + 1
        fields = {key: value for key, value in event.items()
                  if key not in ("kind", "step", "message")}
        self._emit("warning", event.get("step"), event["message"], **fields)

    def _emit(self, kind: str, step: int | None, message: str, **fields: Any) -> None:
        if not self._is_main:
            return
        fields = json_safe(fields)
        if self._writer is not None:
            event = self._writer.log_event(kind, step, message, **fields)
        else:
            event = {"time": time.time(), "kind": kind, "step": step, "message": message,
                     **fields}
        for sink in self._sinks:
            try:
                sink.log_event(event)
            except Exception:
                if kind != "failure":
                    raise
        self._notify("on_event", event)

    def _notify(self, method: str, payload: dict[str, Any]) -> None:
        """Call the listener; its errors are reported once on stderr, never stop training."""
        if self.listener is None:
            return
        try:
            getattr(self.listener, method)(payload)
        except Exception as exc:  # noqa: BLE001 - the UI's bug must not kill the run
            import sys

            print(f"nt-tui: listener {method} failed: {type(exc).__name__}: {exc}",
                  file=sys.stderr)

    def _finish(self) -> None:
        summary = self._build_summary()
        self.summary = summary
        if self._is_main:
            errors = close_all(self._sinks)
            if self._writer is not None:
                try:
                    self._writer.write_summary(summary)
                except OSError as exc:
                    errors.append(f"summary.json: {exc}")
                self._writer.close()
            if errors:
                summary["close_errors"] = errors
        self._release_accelerator()

    def _release_accelerator(self) -> None:
        accelerator = getattr(self, "accelerator", None)
        if accelerator is not None:
            accelerator.free_memory()

    def _build_summary(self) -> dict[str, Any]:
        curves = self.curves
        tokens_per_item = self.task.tokens_per_item if hasattr(self, "task") else 1
        samples_per_s = self._samples_done / self._train_time if self._train_time > 0 else None
        logs = {"metrics": str(self.run_dir / METRICS_FILE),
                "events": str(self.run_dir / EVENTS_FILE)}
        for sink in self._sinks:
            logs.update(sink.paths)
        return {
            "status": self.status,
            "reason": self._reason or None,
            "name": self.config.name,
            "run_dir": str(self.run_dir),
            "config": str(self.run_dir / CONFIG_FILE),
            "total_steps": self.step,
            "planned_steps": self.total_steps,
            "resumed_at_step": self._resumed_at,
            "final_train_loss": curves.train[-1][1] if curves.train else None,
            "final_val_loss": curves.val[-1][1] if curves.val else None,
            "best_val_loss": self.best_val if math.isfinite(self.best_val) else None,
            "best_val_step": self.best_step,
            "total_time_s": self._elapsed_before + time.time() - self._started,
            "train_time_s": self._train_time,
            "samples_per_s": samples_per_s,
            "tokens_per_s": samples_per_s * tokens_per_item if samples_per_s else None,
            "num_params": self.num_params,
            "world_size": self.world,
            "checkpoints": list(self._checkpoints),
            "last_checkpoint": self._last_ckpt,
            "best_checkpoint": self._best_ckpt,
            "logs": logs,
            "warnings": dict(curves.warnings),
            "recommendation": recommend(curves, failed_nan="NaN" in self._reason,
                                        planned_steps=self.total_steps),
        }
