"""The one table from the metric names other tools write to nt-tui's canonical names.

Every reader passes its column names through `canonical_columns`, so "loss" (Hugging Face),
"train_loss_step" (Lightning), "train/loss" (TensorBoard), "lr-AdamW" (Lightning's
LearningRateMonitor) and "gnorm" (fairseq) all become the names the monitor, the analysis and
the diagnosis read. Matching ignores case, and spaces match underscores ("Train Loss"). When
several columns of one log match the same canonical name, the alias listed first wins and the
others keep their original names.
Documented in docs/log-formats.md.
"""

from __future__ import annotations

import re

STEP = "step"

#: canonical name -> original names, most specific first (lower case).
ALIASES: dict[str, tuple[str, ...]] = {
    STEP: ("step", "global_step", "_step", "trainer/global_step", "train/global_step",
           "num_updates", "iter", "iteration", "iterations", "steps", "update"),
    "train_loss": ("train_loss", "train/loss", "loss", "train_loss_step", "train/loss_step",
                   "training_loss", "loss/train", "loss/training", "train/train_loss", "trn_loss",
                   "train_inner/loss", "train_loss_epoch", "train/loss_epoch"),
    "val_loss": ("val_loss", "eval_loss", "val/loss", "eval/loss", "valid_loss", "valid/loss",
                 "validation_loss", "validation/loss", "loss/val", "loss/valid",
                 "loss/validation", "val_loss_epoch", "val/loss_epoch", "dev_loss", "test_loss",
                 "test/loss"),
    "lr": ("lr", "learning_rate", "train/learning_rate", "train/lr", "lr/pg1", "lr-adamw",
           "lr-adam", "lr-sgd", "lr-adamw/pg1", "lr-adam/pg1", "lr-sgd/pg1", "learning-rate", "learningrate", "optimizer/lr",
           "lr/group0", "lr/group_0", "learning_rate/group0"),
    "grad_norm": ("grad_norm", "gradient_norm", "train/grad_norm", "grad_norm_total",
                  "grad_2.0_norm_total", "total_grad_norm", "gnorm", "train/gnorm",
                  "train_inner/gnorm", "grad/norm", "grad_norm/total", "train/grad_norm_total",
                  "gradnorm"),
    "throughput": ("throughput", "samples_per_s", "samples_per_sec", "samples_per_second",
                   "train/samples_per_sec", "throughput/samples_per_sec", "samples/s"),
    "tokens_per_s": ("tokens_per_s", "tokens_per_sec", "tokens_per_second", "tok/s",
                     "train/tokens_per_sec", "throughput/tokens_per_sec", "wps"),
    "epoch": ("epoch", "train/epoch", "epochs"),
    "wall_time": ("wall_time", "time", "walltime", "wall time", "timestamp", "_timestamp"),
}

#: Lightning's LearningRateMonitor: "lr-<Optimizer>" and "lr-<Optimizer>/pg<N>" (first group
#: wins through the sorted order of `canonical_columns`). Momentum columns are not learning
#: rates.
_LR_MONITOR = re.compile(r"^lr-[a-z][\w.]*(?:/pg\d+)?$")
_NOT_LR = re.compile(r"momentum|beta|weight_decay")

_ALIAS_RANK = {alias: (canonical, rank) for canonical, aliases in ALIASES.items()
               for rank, alias in enumerate(aliases)}


def canonical_of(name: str) -> tuple[str, int] | None:
    """(canonical name, rank) for an original metric name, or None when it has none."""
    key = name.strip().lower()
    for candidate in (key, re.sub(r"\s+", "_", key)):
        if candidate in _ALIAS_RANK:
            return _ALIAS_RANK[candidate]
    if _LR_MONITOR.match(key) and not _NOT_LR.search(key):
        return "lr", len(ALIASES["lr"])
    return None


def canonical_columns(names: list[str]) -> dict[str, str]:
    """original name -> canonical name for the columns of one log.

    Each canonical name is taken once, by the best-ranked original; a column whose name is
    already canonical is never renamed away.
    """
    best: dict[str, tuple[int, str]] = {}
    for name in sorted(names):
        found = canonical_of(name)
        if found is None:
            continue
        canonical, rank = found
        if canonical in best and best[canonical][0] <= rank:
            continue
        best[canonical] = (rank, name)
    return {name: canonical for canonical, (_, name) in best.items()}


def step_column(names: list[str]) -> str | None:
    """The column holding the step (None when the log has none)."""
    mapping = canonical_columns(names)
    return next((name for name, canonical in mapping.items() if canonical == STEP), None)
