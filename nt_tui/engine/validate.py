"""Evaluate a checkpoint: loss, perplexity, token accuracy, throughput, and weight health.

    report = validate_checkpoint(Path("runs/demo-.../"))             # best.pt, run's val set
    report = validate_checkpoint(Path(".../step_00000400.pt"), data=Path("test.txt"))

The model, data, tokenizer and checkpoint loading are the engine's own (`build_task`,
`validation_batches`, `load_checkpoint`), so the default evaluation reads exactly the batches
the run validated on and reproduces its logged validation loss.
"""

from __future__ import annotations

import contextlib
import math
import time
import zipfile
from pathlib import Path
from typing import Any

import torch

from nt_tui.checkpoint_validation import (CheckpointInfo, EvalResult, Finding, TensorStats,
                                          ValidationReport, check_against_log, check_weights,
                                          group_layers, read_run_log)
from nt_tui.config.defaults import ResolvedConfig, resolve
from nt_tui.config.loader import load_config
from nt_tui.engine import checkpoint as ckpt
from nt_tui.engine.data import TokenWindows, smallest_dtype, validation_batches
from nt_tui.engine.task import Task, build_task, logits_of
from nt_tui.engine.tokenizer import tokenizer_from_state
from nt_tui.errors import NtTuiError
from nt_tui.runfmt import CHECKPOINT_DIR, CONFIG_FILE
from nt_tui.textdata import read_training_text

#: exp() of a larger loss overflows a float: report an infinite perplexity instead.
MAX_LOG_PERPLEXITY = 700
#: Autocast dtypes of the run's precision, so the evaluation computes as the run validated.
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def locate(path: Path, config: Path | None = None) -> tuple[Path, Path | None, Path]:
    """(checkpoint, run directory or None, config) for a run directory or a checkpoint file.

    A run directory gives its best.pt, else its newest step checkpoint.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise NtTuiError(f"checkpoint or run directory not found: {path}",
                         hint="give a run directory (runs/NAME-...) or a .pt file in its "
                              "checkpoints/ folder")
    if path.is_dir():
        run_dir = path.parent if path.name == CHECKPOINT_DIR else path
        folder = run_dir / CHECKPOINT_DIR
        best = folder / ckpt.BEST_NAME
        checkpoint = best if best.is_file() else ckpt.latest_checkpoint(folder)
        if checkpoint is None:
            raise NtTuiError(f"no checkpoint in {folder}",
                             hint="the run stopped before its first checkpoint, or this is "
                                  "not an nt-tui run directory")
    else:
        checkpoint = path
        run_dir = path.parent.parent if path.parent.name == CHECKPOINT_DIR else None
    if config is None:
        candidates = [run_dir / CONFIG_FILE] if run_dir else [path.parent / CONFIG_FILE]
        config = next((c for c in candidates if c.is_file()), None)
        if config is None:
            raise NtTuiError(f"no {CONFIG_FILE} next to {checkpoint}",
                             hint="give the run's config with --config CONFIG")
    return checkpoint, run_dir, Path(config)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's state, with clear errors for an empty, truncated or foreign file."""
    if not path.is_file():
        raise NtTuiError(f"checkpoint not found: {path}", hint="check the path")
    size = path.stat().st_size
    if size == 0:
        raise NtTuiError(f"checkpoint {path} is empty (0 bytes)",
                         hint="the write was interrupted; use another checkpoint of the run")
    if not zipfile.is_zipfile(path):
        raise NtTuiError(f"checkpoint {path} is truncated or not a PyTorch file ({size:,} bytes "
                         "with no complete archive)",
                         hint="the copy or the write was cut short; use another checkpoint")
    state = ckpt.load_checkpoint(path)
    if not isinstance(state.get("model"), dict):
        raise NtTuiError(f"{path} holds no model weights",
                         hint="give a checkpoint written by nt-tui train")
    return state


def _resolved(config_path: Path) -> ResolvedConfig:
    return resolve(load_config(config_path), config_path)


def _load_weights(task: Task, state: dict[str, Any], path: Path, config_path: Path) -> None:
    try:
        task.model.load_state_dict(state["model"])
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        if len(detail) > 300:
            detail = detail[:300] + "..."
        raise NtTuiError(f"{path} does not fit the model of {config_path}: {detail}",
                         hint="validate with the config of the run that wrote it "
                              "(--config)") from None


def _test_batches(task: Task, resolved: ResolvedConfig, state: dict[str, Any], data: Path,
                  max_batches: int | None) -> list[Any]:
    """Batches of a text file, tokenised with the checkpoint's tokenizer (built-in GPT only)."""
    if resolved.config.model.source != "builtin" or not state.get("tokenizer"):
        raise NtTuiError("--data works with nt-tui's built-in GPT and its text tokenizer",
                         hint="leave out --data to evaluate on the run's validation set")
    tokenizer = tokenizer_from_state(state["tokenizer"])
    text = read_training_text(str(data), Path.cwd())
    windows = TokenWindows(torch.as_tensor(tokenizer.encode(text)).to(
        smallest_dtype(tokenizer.vocab_size)), resolved.config.data.seq_len,
        resolved.config.seed, str(data))
    return _batches(windows, resolved, max_batches)


def _evaluation_batches(task: Task, resolved: ResolvedConfig, state: dict[str, Any],
                        data: Path | None, max_batches: int | None) -> tuple[list[Any], str]:
    """(batches, their name): a test file's, or the run's validation batches."""
    if data is not None:
        return _test_batches(task, resolved, state, data, max_batches), str(data)
    config = resolved.config
    if task.validation is None:
        raise NtTuiError(f"the run of {resolved.source_path} has no validation data",
                         hint="give a test set with --data PATH")
    # The run validated `val_batches` global batches, split over its processes.
    world = int((state.get("data") or {}).get("world_size", 1) or 1)
    count = max_batches or config.logging.val_batches * world
    return (validation_batches(task.validation, config.data.batch_size, count),
            "the run's validation set")


def _batches(items: Any, resolved: ResolvedConfig, max_batches: int | None) -> list[Any]:
    batch_size = resolved.config.data.batch_size
    every = math.ceil(len(items) / batch_size)
    return validation_batches(items, batch_size, min(max_batches or every, every))


def _device(name: str | None) -> torch.device:
    if name:
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise NtTuiError(f"device {name} is not available", hint="use --device cpu")
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _to(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to(item, device) for item in batch)
    if isinstance(batch, dict):
        return {key: _to(item, device) for key, item in batch.items()}
    return batch


def evaluate(task: Task, batches: list[Any], data_name: str, device: torch.device,
             precision: str = "fp32") -> EvalResult:
    """Mean loss over items (as the trainer averages it), perplexity, token accuracy, speed."""
    if not batches:
        raise NtTuiError(f"{data_name} gives no batch to evaluate",
                         hint="use more data, or a smaller data.batch_size")
    model = task.model.to(device)
    model.eval()
    dtype = AUTOCAST_DTYPES.get(precision)
    if device.type == "cpu" and dtype is torch.float16:
        dtype = None  # CPU runs train fp16 as fp32 (no CPU GradScaler): evaluate the same way
    autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else \
        contextlib.nullcontext
    loss_sum, items, correct, positions, tokens = 0.0, 0, 0, 0, 0
    with torch.no_grad():
        with autocast():  # untimed: the first call pays for lazy set-up (kernels, allocator)
            model(_to(batches[0], device)[0])
        started = time.perf_counter()
        for batch in batches:
            inputs, targets = _to(batch, device)
            with autocast():
                outputs = model(inputs)
                loss = task.loss_fn(outputs, targets)
            count = len(targets)
            loss_sum += float(loss.float()) * count
            items += count
            tokens += count * task.tokens_per_item
            logits = logits_of(outputs)
            if isinstance(targets, torch.Tensor) and not targets.is_floating_point() and \
                    logits.shape[:-1] == targets.shape:
                correct += int((logits.argmax(dim=-1) == targets).sum())
                positions += targets.numel()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    loss = loss_sum / items
    perplexity = None
    if task.is_language_model:
        perplexity = math.inf if loss > MAX_LOG_PERPLEXITY else math.exp(loss)  # NaN stays
    return EvalResult(data_name, loss, perplexity, correct / positions if positions else None,
                      items, tokens, len(batches), seconds)


def tensor_stats(weights: dict[str, torch.Tensor]) -> list[TensorStats]:
    """NaN/Inf count, all-zero flag, RMS and largest value of every floating-point tensor
    (a tied tensor is counted once)."""
    stats, seen = [], set()
    for name, tensor in weights.items():
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
            continue
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tensor.shape)
        if key in seen:
            continue
        seen.add(key)
        values = tensor.detach().float()
        finite = torch.isfinite(values)
        nonfinite = int((~finite).sum())
        clean = values[finite]
        rms = float(clean.pow(2).mean().sqrt()) if clean.numel() else math.nan
        stats.append(TensorStats(name, tuple(values.shape), values.numel(), nonfinite,
                                 bool(values.numel()) and not bool(values.any()), rms,
                                 float(clean.abs().max()) if clean.numel() else math.nan))
    return stats


def validate_checkpoint(path: Path, *, data: Path | None = None, config: Path | None = None,
                        max_batches: int | None = None, compare_best: bool = True,
                        device: str | None = None) -> ValidationReport:
    """Evaluate the checkpoint at `path` (a run directory or a .pt file) and check it.

    Without `data` it evaluates the batches the run validated on (`max_batches` more or
    fewer changes that); with `data`, a text file tokenised like the run.
    """
    checkpoint, run_dir, config_path = locate(path, config)
    state = read_checkpoint(checkpoint)
    resolved = _resolved(config_path)
    task = build_task(resolved, state.get("tokenizer"))
    _load_weights(task, state, checkpoint, config_path)
    run_config = resolved.config
    batches, data_name = _evaluation_batches(task, resolved, state, data, max_batches)
    target = _device(device)
    result = evaluate(task, batches, data_name, target, run_config.precision)
    same_data = data is None and max_batches is None
    best_value = state.get("best_val_loss")
    info = CheckpointInfo(
        str(checkpoint), state.get("step"),
        float(best_value) if isinstance(best_value, (int, float)) else None,
        state.get("best_val_step"), state.get("config_name"), checkpoint.stat().st_size)
    report = ValidationReport(info, str(run_dir) if run_dir else None, result)
    log = read_run_log(run_dir) if run_dir else None
    log_findings, report.logged_val_loss = check_against_log(info, result, log, same_data)
    tensors = tensor_stats(state["model"])
    report.params = sum(tensor.numel for tensor in tensors)
    report.layers = group_layers(tensors)
    report.findings = check_weights(tensors, info.step) + log_findings
    best_path = checkpoint.parent / ckpt.BEST_NAME
    if compare_best and checkpoint.name != ckpt.BEST_NAME and best_path.is_file():
        try:  # a damaged best.pt must not stop the validation of another checkpoint
            best_state = read_checkpoint(best_path)
            _load_weights(task, best_state, best_path, config_path)
        except NtTuiError as exc:
            report.findings.append(Finding("warning", f"not compared with best.pt: {exc.message}"))
        else:
            report.best = evaluate(task, batches, data_name, target, run_config.precision)
            report.best_path = str(best_path)
    return report
