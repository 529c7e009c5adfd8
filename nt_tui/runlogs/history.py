"""`RunHistory`: one run's metrics as a pandas frame with canonical names.

Every reader (nt-tui run directories, HF Trainer, Lightning, TensorBoard, CSV/JSONL, text logs)
returns one of these, and everything downstream (monitor, analysis, diagnosis, scaling fits)
reads only this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: Canonical metric names. Other metrics keep their original names as extra columns.
CANONICAL_METRICS = (
    "train_loss", "val_loss", "lr", "grad_norm", "throughput", "tokens_per_s", "epoch",
    "wall_time",
)


@dataclass
class RunHistory:
    """Metrics of one run.

    `frame` has an integer `step` column sorted ascending (after resume duplicates are
    resolved: the later row for a step wins) and one float column per metric; a metric
    missing at a step is NaN. `wall_time` is seconds since the first record when known.
    """

    name: str
    source: str
    format: str
    frame: pd.DataFrame
    #: canonical name -> the name in the original log (e.g. "val_loss" -> "eval_loss")
    original_names: dict[str, str] = field(default_factory=dict)
    #: what the reader repaired or skipped (torn last line, NaN values, duplicate steps ...)
    notes: list[str] = field(default_factory=list)
    #: nt-tui events (warnings, checkpoints ...) when the log has them
    events: list[dict[str, Any]] = field(default_factory=list)
    #: the run's config when the log records one (nt-tui config.yaml, HF training args)
    config: dict[str, Any] | None = None
    #: metric -> sorted steps where the log wrote it as NaN (in `frame` a NaN written as such
    #: looks like a metric not logged at that step); empty when the reader cannot tell them
    #: apart (TensorBoard, wandb, CSV, JSONL, HF trainer_state and text logs can)
    nan_steps: dict[str, list[int]] = field(default_factory=dict)

    @property
    def metrics(self) -> list[str]:
        """Metric columns that hold at least one value, canonical names first."""
        present = [c for c in self.frame.columns if c != "step" and self.frame[c].notna().any()]
        canonical = [m for m in CANONICAL_METRICS if m in present]
        return canonical + sorted(m for m in present if m not in CANONICAL_METRICS)

    @property
    def steps(self) -> int:
        """The number of distinct logged steps."""
        return int(self.frame["step"].nunique()) if len(self.frame) else 0

    def has(self, metric: str) -> bool:
        return metric in self.frame.columns and bool(self.frame[metric].notna().any())

    def series(self, metric: str) -> pd.Series:
        """Values of `metric` indexed by step, missing values dropped (NaN/Inf kept if logged
        as such: they are evidence)."""
        if metric not in self.frame.columns:
            return pd.Series(dtype=float, name=metric)
        rows = self.frame[["step", metric]]
        present = rows[metric].notna() | rows[metric].isin([np.inf, -np.inf])
        return rows.loc[present].set_index("step")[metric].astype(float)
