"""A Lightning `Callback` that writes an nt-tui run directory live.

    from nt_tui.integrations.lightning import NtTuiCallback
    trainer = lightning.Trainer(..., callbacks=[NtTuiCallback(root="runs")])

Logged metrics (`self.log(...)` in the LightningModule) are recorded every
`trainer.log_every_n_steps` steps and after each validation, with the learning rate and the
global gradient norm (pre-clip) that nt-tui's warnings use. Needs `lightning`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from nt_tui.integrations.runlogger import RunLogger


def canonical(name: str) -> str:
    """Lightning metric names (user-chosen) -> nt-tui names where the meaning is clear."""
    lowered = name.lower()
    if "loss" in lowered:
        stem = lowered.removesuffix("_step").removesuffix("_epoch")
        if stem.startswith(("val", "valid", "eval")):
            return "val_loss"
        if stem in ("loss", "train_loss", "train/loss"):
            return "train_loss"
    return name


class NtTuiCallback(pl.Callback):
    def __init__(self, run_dir: str | Path | None = None, *, root: str | Path = "runs",
                 name: str = "lightning-run", grad_norm: bool = True) -> None:
        self.run_dir, self.root, self.name = run_dir, root, name
        self.track_grad_norm = grad_norm
        self.logger: RunLogger | None = None
        self._grad_norm: float | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero and self.logger is None:
            config = dict(getattr(pl_module, "hparams", {}) or {})
            config["max_steps"] = trainer.max_steps
            config["max_epochs"] = trainer.max_epochs
            self.logger = RunLogger(self.run_dir, name=self.name, root=self.root, config=config,
                                    source="lightning.Trainer")

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if self.logger is None or not self.track_grad_norm:
            return
        if (trainer.global_step + 1) % max(1, trainer.log_every_n_steps):
            return  # only on steps that will be logged: the norm costs a device sync
        grads = [p.grad.detach().norm(2) for p in pl_module.parameters() if p.grad is not None]
        self._grad_norm = float(torch.linalg.vector_norm(torch.stack(grads))) if grads else None

    def _metrics(self, trainer: pl.Trainer) -> dict[str, Any]:
        metrics = {canonical(k): v for k, v in trainer.callback_metrics.items()}
        if trainer.optimizers:
            metrics["lr"] = trainer.optimizers[0].param_groups[0]["lr"]
        metrics["epoch"] = trainer.current_epoch
        return metrics

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.logger is None or trainer.global_step % max(1, trainer.log_every_n_steps):
            return
        metrics = self._metrics(trainer)
        metrics.pop("val_loss", None)  # only recorded right after a validation
        if self._grad_norm is not None:
            metrics["grad_norm"] = self._grad_norm
        self.logger.log(trainer.global_step, **metrics)

    def on_validation_end(self, trainer, pl_module) -> None:
        if self.logger is None or trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get("val_loss")
        if value is None:
            value = next((v for k, v in trainer.callback_metrics.items()
                          if canonical(k) == "val_loss"), None)
        if value is not None:
            self.logger.log(trainer.global_step, val_loss=value)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.logger is not None:
            self.logger.finish()

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if self.logger is not None:
            self.logger.finish(exception if isinstance(exception, Exception) else None)
