"""What a log may not say about its run: vocabulary, model size, the config's values.

Filled from the run's recorded config (nt-tui's config.yaml, Hugging Face training args),
from files beside the log (an HF model's config.json, nt-tui's summary.json), and from what
the user types in the wizard. Every value remembers where it came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

#: Dotted keys of an nt-tui config, and the flat keys other tools use, for each field.
CONFIG_KEYS: dict[str, tuple[str, ...]] = {
    "lr": ("optimizer.lr", "learning_rate", "lr"),
    "warmup_steps": ("schedule.warmup_steps", "warmup_steps"),
    "total_steps": ("schedule.total_steps", "max_steps", "total_steps"),
    "schedule": ("schedule.name", "lr_scheduler_type"),
    "min_lr": ("schedule.min_lr", "min_lr"),
    "grad_clip": ("regularization.grad_clip", "max_grad_norm", "gradient_clip_val"),
    "dropout": ("regularization.dropout", "dropout", "hidden_dropout_prob", "resid_pdrop"),
    "weight_decay": ("optimizer.weight_decay", "weight_decay"),
    "optimizer": ("optimizer.name", "optim"),
    "batch_size": ("data.batch_size", "per_device_train_batch_size", "train_batch_size",
                   "batch_size"),
    "seq_len": ("data.seq_len", "max_seq_length", "block_size", "seq_len"),
    "vocab_size": ("vocab_size", "model.vocab_size", "num_classes", "num_labels"),
    "num_params": ("model.num_params", "num_params", "n_params"),
    "model_size": ("model.size",),
    "dataset_tokens": ("dataset_tokens", "train_tokens"),
    "precision": ("precision",),
    # Hugging Face's Trainer logs the mean train loss over its last `logging_steps` steps
    "loss_window": ("logging_steps",),
}


@dataclass
class RunContext:
    """Facts about the run that the metrics do not hold. None = unknown."""

    vocab_size: int | None = None
    num_params: int | None = None
    dataset_tokens: int | None = None
    model_size: str | None = None
    lr: float | None = None
    warmup_steps: int | None = None
    total_steps: int | None = None
    schedule: str | None = None
    min_lr: float | None = None
    grad_clip: float | None = None
    dropout: float | None = None
    weight_decay: float | None = None
    optimizer: str | None = None
    batch_size: int | None = None
    seq_len: int | None = None
    precision: str | None = None
    #: steps each logged train loss is the mean of (1 = one batch's loss)
    loss_window: int | None = None
    #: field -> where its value came from ("config.yaml", "config.json", "you", ...)
    sources: dict[str, str] = field(default_factory=dict)

    def set(self, name: str, value: Any, source: str, *, overwrite: bool = False) -> None:
        """Record `value` for field `name` unless it is known already (or `overwrite`)."""
        if value is None or (getattr(self, name) is not None and not overwrite):
            return
        kind = next(f.type for f in fields(self) if f.name == name)
        try:
            value = _coerce(value, str(kind))
        except (TypeError, ValueError):
            return
        setattr(self, name, value)
        self.sources[name] = source

    def merge(self, other: "RunContext", *, overwrite: bool = True) -> "RunContext":
        """A copy with `other`'s known values on top (or filling gaps only)."""
        merged = RunContext(**{f.name: getattr(self, f.name) for f in fields(self)
                               if f.name != "sources"}, sources=dict(self.sources))
        for item in fields(other):
            if item.name != "sources" and getattr(other, item.name) is not None:
                merged.set(item.name, getattr(other, item.name),
                           other.sources.get(item.name, "given"), overwrite=overwrite)
        return merged

    def known(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "sources" and getattr(self, f.name) is not None}


def _coerce(value: Any, kind: str) -> Any:
    if "int" in kind:
        return int(float(value))
    if "float" in kind:
        return float(value)
    return str(value)


def _lookup(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def context_from_config(config: dict[str, Any] | None, source: str) -> RunContext:
    """The facts a recorded config dict holds (nested nt-tui keys or flat tool keys)."""
    context = RunContext()
    if not config:
        return context
    for name, keys in CONFIG_KEYS.items():
        for key in keys:
            value = _lookup(config, key)
            if value is not None and not isinstance(value, (dict, list)):
                context.set(name, value, source)
                break
    return context


def context_from_files(path: Path) -> RunContext:
    """Facts from files next to a log: an HF `config.json` (vocabulary, size) and nt-tui's
    `summary.json` (vocabulary, parameter count)."""
    from nt_tui.textdata import hf_param_estimate

    context = RunContext()
    folder = path if path.is_dir() else path.parent
    for name in ("summary.json", "config.json"):
        data = _read_json(folder / name)
        if data:
            found = context_from_config(data, name)
            context = context.merge(found, overwrite=False)
    if context.num_params is None and (folder / "config.json").exists():
        context.set("num_params", hf_param_estimate(folder), "config.json")
    return context


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
