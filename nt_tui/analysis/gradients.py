"""Per-layer gradient statistics with the seed's issue flags (explosion, vanishing, imbalance).

For nt-tui runs: live, from the `layer_grad_norms` the engine logs (norms only), or from a
checkpoint, by one forward/backward pass on a training batch (norm, mean, std, max, min of
each layer's gradient). torch is imported inside the functions that need it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nt_tui.analysis.diagnosis import thresholds as th
from nt_tui.errors import NtTuiError

if TYPE_CHECKING:
    from nt_tui.runlogs.history import RunHistory

EXPLOSION, VANISHING, IMBALANCE = "explosion", "vanishing", "imbalance"


@dataclass
class LayerGradStats:
    """Gradient statistics of one layer (the parameters of one module)."""

    name: str
    norm: float
    mean: float | None = None
    std: float | None = None
    maximum: float | None = None
    minimum: float | None = None
    flags: list[str] = field(default_factory=list)

    @property
    def severity(self) -> float:
        """Orders of magnitude outside the healthy range (0 inside it); flagged layers first."""
        low, high = th.GRAD_NORM_HEALTHY
        if not math.isfinite(self.norm):
            return math.inf
        if self.norm <= 0:
            return 12.0
        outside = max(0.0, math.log10(low / self.norm), math.log10(self.norm / high))
        return outside + 10 * bool(self.flags)


@dataclass
class GradientReport:
    layers: list[LayerGradStats]
    #: where the numbers come from ("checkpoint step_00000400.pt, 1 batch", "metrics step 400")
    source: str
    #: largest / smallest finite non-zero layer norm
    imbalance_ratio: float | None

    @property
    def flagged(self) -> list[LayerGradStats]:
        return [layer for layer in self.layers if layer.flags]


def flag_layers(layers: list[LayerGradStats], source: str) -> GradientReport:
    """Set each layer's flags and sort by severity (worst first)."""
    finite = [layer.norm for layer in layers if math.isfinite(layer.norm) and layer.norm > 0]
    ratio = max(finite) / min(finite) if len(finite) >= 2 else None
    for layer in layers:
        layer.flags = []
        if not math.isfinite(layer.norm) or layer.norm > th.GRAD_NORM_EXPLOSION:
            layer.flags.append(EXPLOSION)
        elif layer.norm < th.GRAD_NORM_VANISHING:
            layer.flags.append(VANISHING)
    if ratio is not None and ratio > th.LAYER_IMBALANCE_RATIO:
        for layer in layers:
            if layer.norm in (max(finite), min(finite)) and IMBALANCE not in layer.flags:
                layer.flags.append(IMBALANCE)
    ordered = sorted(layers, key=lambda layer: (-layer.severity, layer.name))
    return GradientReport(ordered, source, ratio)


def layer_stats(model: Any) -> list[LayerGradStats]:
    """Statistics of the gradients now held by `model`'s parameters, grouped by module."""
    import torch

    grouped: dict[str, list[Any]] = {}
    for name, param in model.named_parameters():
        if param.grad is not None:
            grouped.setdefault(name.rpartition(".")[0] or name, []).append(
                param.grad.detach().float().reshape(-1))
    layers = []
    for name, grads in grouped.items():
        flat = torch.cat(grads)
        layers.append(LayerGradStats(
            name=name, norm=float(flat.norm()), mean=float(flat.mean()),
            std=float(flat.std()) if flat.numel() > 1 else 0.0, maximum=float(flat.max()),
            minimum=float(flat.min())))
    return layers


def from_history(history: "RunHistory") -> GradientReport | None:
    """The last per-layer grad norms an nt-tui run logged (logging.layer_grad_norms: true)."""
    from nt_tui.runfmt import METRICS_FILE, iter_jsonl

    path = Path(history.source)
    metrics = path / METRICS_FILE if path.is_dir() else path
    if not metrics.exists() or metrics.suffix != ".jsonl":
        return None
    latest = None
    for _, record in iter_jsonl(metrics):
        if isinstance(record.get("layer_grad_norms"), dict):
            latest = record
    if latest is None:
        return None
    layers = [LayerGradStats(name, float(value)) for name, value in
              latest["layer_grad_norms"].items()]
    return flag_layers(layers, f"logged per-layer norms at step {latest['step']:,}")


def from_checkpoint(run_dir: str | Path, checkpoint: str | Path | None = None,
                    batches: int = 1) -> GradientReport:
    """Load an nt-tui run's checkpoint (the latest by default), run `batches` training batches
    forward and backward, and return the per-layer statistics."""
    import torch

    from nt_tui.config.defaults import resolve
    from nt_tui.config.loader import load_config
    from nt_tui.engine import checkpoint as ckpt
    from nt_tui.engine.data import TrainBatches
    from nt_tui.engine.task import build_task
    from nt_tui.runfmt import CONFIG_FILE

    run_dir = Path(run_dir)
    config_path = run_dir / CONFIG_FILE
    if not config_path.exists():
        raise NtTuiError(f"{run_dir} is not an nt-tui run directory (no {CONFIG_FILE})",
                         hint="gradient analysis needs a run trained by nt-tui")
    path = Path(checkpoint) if checkpoint else ckpt.latest_checkpoint(run_dir / "checkpoints")
    if path is None or not path.exists():
        raise NtTuiError(f"no checkpoint in {run_dir / 'checkpoints'}",
                         hint="train until the first checkpoint, or save one from the monitor")
    resolved = resolve(load_config(config_path), config_path)
    state = ckpt.load_checkpoint(path)
    task = build_task(resolved, state.get("tokenizer"))
    model = task.model
    model.load_state_dict(state["model"])
    model.train()
    data = resolved.config.data
    batches_source = TrainBatches(task.train, data.batch_size, resolved.config.seed)
    position = int(state.get("data", {}).get("position", 0))
    for offset in range(batches):
        inputs, targets = batches_source.batch(position + offset)
        loss = task.loss_fn(model(inputs), targets)
        (loss / batches).backward()
    with torch.no_grad():
        layers = layer_stats(model)
    return flag_layers(layers, f"checkpoint {path.name}, {batches} training batch(es) at "
                               f"step {state.get('step', '?')}")
