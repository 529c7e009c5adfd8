"""A Hugging Face `TrainerCallback` that writes an nt-tui run directory live.

    from nt_tui.integrations.hf import NtTuiCallback
    trainer = Trainer(..., callbacks=[NtTuiCallback(root="runs")])

Then `nt-tui monitor runs/<name>-<time>` follows the run with nt-tui's plots and warnings.
Needs `transformers` (pip install 'nt-tui[hf]'); imported only when this module is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from nt_tui.integrations.runlogger import RunLogger

#: Trainer log keys -> nt-tui metric names.
HF_NAMES = {"loss": "train_loss", "eval_loss": "val_loss", "learning_rate": "lr",
            "grad_norm": "grad_norm", "epoch": "epoch",
            "train_samples_per_second": "samples_per_s"}


class NtTuiCallback(TrainerCallback):
    """Writes metrics (`on_log`), a config snapshot and start/finish events."""

    def __init__(self, run_dir: str | Path | None = None, *, root: str | Path = "runs",
                 name: str | None = None) -> None:
        self.run_dir = run_dir
        self.root = root
        self.name = name
        self.logger: RunLogger | None = None

    def on_train_begin(self, args, state, control, **kwargs: Any):
        if state.is_world_process_zero and self.logger is None:
            name = self.name or Path(args.output_dir).name or "hf-run"
            self.logger = RunLogger(self.run_dir, name=name, root=self.root,
                                    config=args.to_dict(), source="transformers.Trainer")

    def on_log(self, args, state, control, logs: dict | None = None, **kwargs: Any):
        if self.logger is None or not logs:
            return
        if "train_runtime" in logs:  # the end-of-training summary, not a step's metrics
            self.logger.event("summary", "Trainer summary", values=dict(logs))
            return
        metrics = {HF_NAMES.get(key, key): value for key, value in logs.items()}
        self.logger.log(state.global_step, **metrics)

    def on_train_end(self, args, state, control, **kwargs: Any):
        if self.logger is not None:
            self.logger.finish()
