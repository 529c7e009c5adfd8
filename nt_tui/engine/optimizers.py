"""The optimizer a config asks for (AdamW or SGD), with nanoGPT's weight-decay grouping."""

from __future__ import annotations

import torch
from torch import nn

from nt_tui.config.schema import TrainingConfig


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Matrices (embeddings, linear weights) decay; biases and norm gains do not."""
    trainable = [param for param in model.parameters() if param.requires_grad]
    return [
        {"params": [p for p in trainable if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in trainable if p.dim() < 2], "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, config: TrainingConfig) -> tuple[torch.optim.Optimizer, bool]:
    """(optimizer, fused). The fused kernels (CPU and GPU) run a step in one pass and can skip
    a step on the device when told a NaN/Inf was found, with no host sync; parameters they do
    not support fall back to the default implementation.
    """
    opt = config.optimizer
    groups = [group for group in param_groups(model, float(opt.weight_decay or 0.0))
              if group["params"]]
    if not groups:
        from nt_tui.errors import NtTuiError

        raise NtTuiError("the model has no trainable parameters",
                         hint="check requires_grad on the model's parameters")
    lr = float(opt.lr)
    for fused in (True, False):
        try:
            if opt.name == "sgd":
                return torch.optim.SGD(groups, lr=lr, momentum=opt.momentum,
                                       fused=fused or None), fused
            return torch.optim.AdamW(groups, lr=lr, betas=tuple(opt.betas or (0.9, 0.999)),
                                     eps=opt.eps, fused=fused or None), fused
        except (RuntimeError, ValueError):
            if not fused:
                raise
    raise AssertionError("unreachable")
