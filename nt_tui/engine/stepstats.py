"""Per-step training statistics kept on the device and read once per log step.

Every `.item()` is a host-device sync that stalls a GPU, so the loop only does tensor ops here
(about ten tiny ones per step) and `read()` copies everything to the host in one transfer.
"""

from __future__ import annotations

import math
from typing import Any

import torch

#: Decay of the per-step moving average of the train loss (~50 steps of memory, the default
#: silent-check interval).
LOSS_AVERAGE_DECAY = 0.98


class StepStats:
    """Loss (last and moving average), grad norm, clip and NaN/Inf counts since the last read."""

    def __init__(self, device: torch.device, max_norm: float) -> None:
        zero = torch.zeros((), device=device)
        self.last_loss = zero.clone()
        self.last_norm = zero.clone()
        self.average_sum = zero.clone()
        self.average_weight = zero.clone()
        self.nonfinite = zero.clone()
        self.clipped = zero.clone()
        self.max_norm = max_norm
        self.steps = 0

    def update(self, loss: torch.Tensor, grad_norm: torch.Tensor,
               check_grads: bool = True) -> torch.Tensor:
        """Record one optimizer step; return a 0-d bool tensor: loss and gradients finite.

        With `check_grads` False (fp16 loss scaling, where the scaler handles overflowing
        gradients itself) only the loss decides.
        """
        loss = loss.float()
        grad_norm = grad_norm.float()
        finite = torch.isfinite(loss)
        if check_grads:
            finite = finite & torch.isfinite(grad_norm)
        share = finite.float() * (1 - LOSS_AVERAGE_DECAY)
        self.average_sum = self.average_sum * (1 - share) + share * torch.nan_to_num(loss)
        self.average_weight = self.average_weight * (1 - share) + share
        self.nonfinite += ~finite
        if self.max_norm > 0:
            self.clipped += grad_norm > self.max_norm
        self.last_loss = loss
        self.last_norm = grad_norm
        self.steps += 1
        return finite

    def read(self, reduce: Any = None) -> dict[str, float]:
        """Copy to the host (one sync) and start a new window.

        `reduce(tensor)` sums a tensor over processes (None: one process); losses are averaged
        over processes, counts summed, the grad norm (identical on every process) averaged.
        """
        values = torch.stack([self.last_loss, self.average_sum / self.average_weight.clamp_min(
            1e-12), self.last_norm, self.nonfinite, self.clipped])
        processes = 1
        if reduce is not None:
            values, processes = reduce(values)
        loss, average, norm, nonfinite, clipped = values.tolist()
        steps = self.steps
        self.nonfinite.zero_()
        self.clipped.zero_()
        self.steps = 0
        return {"train_loss": loss / processes, "train_loss_avg": average / processes,
                "grad_norm": norm / processes, "nonfinite_steps": math.ceil(nonfinite / processes),
                "clip_fraction": clipped / processes / steps if steps else 0.0,
                "window_steps": steps}

    def state_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name).detach().cpu() for name in
                ("last_loss", "last_norm", "average_sum", "average_weight", "nonfinite",
                 "clipped")} | {"steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            if name == "steps":
                self.steps = int(value)
            else:
                setattr(self, name, value.to(self.last_loss.device))
