"""What `nt-tui validate` reports, and the checks that need no torch.

The torch side (`nt_tui.engine.validate`) loads the checkpoint, evaluates it and measures the
weights; this module holds the report, compares the checkpoint with the run's own log (step,
logged validation loss, best loss) and judges the weight statistics. The CLI and the
Validate screen both print `render_text(report)`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: The recomputed validation loss must match the logged one within this relative difference
#: (issue 8's acceptance criterion; the same batches give the same loss up to float error).
LOSS_AGREEMENT = 0.01
#: Stored and logged best losses are the same number written twice: they agree to float error.
STORED_AGREEMENT = 1e-6
#: A tensor whose root-mean-square exceeds this has blown up: it is 500x the N(0, 0.02)
#: initialisation of GPT-2 (Radford et al. 2019) and nt-tui's GPT, and 10x LayerNorm's
#: initial gain of 1. nt-tui's threshold.
EXPLODING_RMS = 10.0
#: ... or when one weight exceeds this in absolute value (nt-tui's threshold: 5e4 times the
#: initial standard deviation, within sight of fp16's largest value, 65504).
EXPLODING_ABS = 1e3

LEVELS = ("error", "warning", "info", "ok")


@dataclass(frozen=True)
class Finding:
    """One check's outcome; `knowledge` links the guide that explains it."""

    level: str
    message: str
    knowledge: str | None = None


@dataclass(frozen=True)
class EvalResult:
    """Loss, perplexity, token accuracy and speed on one dataset."""

    data: str
    loss: float
    perplexity: float | None
    accuracy: float | None
    items: int
    tokens: int
    batches: int
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else math.inf


@dataclass(frozen=True)
class TensorStats:
    """Statistics of one weight tensor."""

    name: str
    shape: tuple[int, ...]
    numel: int
    nonfinite: int
    zero: bool
    rms: float
    max_abs: float


@dataclass(frozen=True)
class LayerStats:
    """The tensors of one layer (module prefix such as `blocks.0`) together."""

    layer: str
    params: int
    norm: float
    rms: float
    max_abs: float
    nonfinite: int


@dataclass(frozen=True)
class CheckpointInfo:
    """What the checkpoint says about itself."""

    path: str
    step: int | None
    best_val_loss: float | None
    best_val_step: int | None
    config_name: str | None
    size_bytes: int


@dataclass(frozen=True)
class RunLog:
    """What the run's log says: validation losses by step and the last logged step."""

    val_losses: dict[int, float]
    last_step: int | None
    config_name: str | None = None

    @property
    def best(self) -> tuple[int, float] | None:
        finite = [(step, loss) for step, loss in self.val_losses.items() if math.isfinite(loss)]
        return min(finite, key=lambda item: item[1]) if finite else None


@dataclass
class ValidationReport:
    checkpoint: CheckpointInfo
    run_dir: str | None
    result: EvalResult
    best: EvalResult | None = None
    best_path: str | None = None
    logged_val_loss: float | None = None
    layers: list[LayerStats] = field(default_factory=list)
    params: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No error-level finding."""
        return not any(finding.level == "error" for finding in self.findings)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["result"]["tokens_per_s"] = self.result.tokens_per_s
        data["ok"] = self.ok
        return data


def read_run_log(run_dir: Path) -> RunLog | None:
    """Validation losses and the last step from `run_dir`'s metrics.jsonl (None if absent)."""
    from nt_tui.runfmt import CONFIG_FILE, METRICS_FILE, iter_jsonl

    metrics = Path(run_dir) / METRICS_FILE
    if not metrics.exists():
        return None
    val_losses: dict[int, float] = {}
    last_step = None
    for _, record in iter_jsonl(metrics):
        step = record.get("step")
        if not isinstance(step, int):
            continue
        last_step = step if last_step is None else max(last_step, step)
        value = record.get("val_loss")
        if isinstance(value, (int, float)):
            val_losses[step] = float(value)  # after a resume the later record wins
    return RunLog(val_losses, last_step, _config_name(Path(run_dir) / CONFIG_FILE))


def _config_name(path: Path) -> str | None:
    from nt_tui.runlogs.formats.base import read_yaml_mapping

    data = read_yaml_mapping(path)
    return data.get("name") if data is not None else None


def _relative_gap(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def check_against_log(info: CheckpointInfo, result: EvalResult | None, log: RunLog | None,
                      same_data: bool) -> tuple[list[Finding], float | None]:
    """Do the checkpoint's step and metrics agree with the run's log?

    Returns the findings and the logged validation loss at the checkpoint's step. `same_data`
    says `result` was computed on the batches the run validated on, so the two must agree.
    """
    findings: list[Finding] = []
    name = Path(info.path).name
    if name.startswith("step_") and info.step is not None:
        named = int(name[5:13]) if name[5:13].isdigit() else None
        if named is not None and named != info.step:
            findings.append(Finding("error", f"{name} holds step {info.step}, not {named}: the "
                                    "file was renamed or overwritten",
                                    "common-failures.md#silent-errors"))
    if name == "best.pt" and info.best_val_step is not None and info.step != info.best_val_step:
        findings.append(Finding("warning", f"best.pt holds step {info.step} but records its best "
                                f"validation loss at step {info.best_val_step}"))
    if log is None:
        findings.append(Finding("info", "no run log (metrics.jsonl) next to the checkpoint: "
                                "nothing to compare with"))
        return findings, None
    if log.config_name and info.config_name and log.config_name != info.config_name:
        findings.append(Finding("warning", f"the checkpoint was written by run "
                                f"{info.config_name!r}, the folder's config is "
                                f"{log.config_name!r}"))
    if info.step is not None and log.last_step is not None and info.step > log.last_step:
        findings.append(Finding("warning", f"the checkpoint is at step {info.step} but the log "
                                f"ends at step {log.last_step}: the log is truncated or belongs "
                                "to another run"))
    logged = log.val_losses.get(info.step) if info.step is not None else None
    if info.best_val_loss is not None and math.isfinite(info.best_val_loss):
        upto = {step: loss for step, loss in log.val_losses.items()
                if info.step is None or step <= info.step}
        finite = [loss for loss in upto.values() if math.isfinite(loss)]
        if finite and _relative_gap(info.best_val_loss, min(finite)) > STORED_AGREEMENT:
            findings.append(Finding("warning", f"the checkpoint's best validation loss "
                                    f"{info.best_val_loss:.4f} is not the best logged up to its "
                                    f"step ({min(finite):.4f})"))
    if logged is None:
        findings.append(Finding("info", f"the log has no validation loss at step {info.step}"))
    elif result is not None and same_data and not math.isfinite(result.loss):
        findings.append(Finding("error", f"the recomputed validation loss is {result.loss} "
                                f"where the log has {logged:.4f} at step {info.step}: the "
                                "weights were damaged after that validation",
                                "common-failures.md#nan-or-inf-loss"))
    elif result is not None and same_data:
        gap = _relative_gap(result.loss, logged)
        if gap <= LOSS_AGREEMENT:
            findings.append(Finding("ok", f"recomputed validation loss {result.loss:.4f} matches "
                                    f"the logged {logged:.4f} at step {info.step} "
                                    f"({gap:.2%} apart)"))
        else:
            findings.append(Finding(
                "error", f"recomputed validation loss {result.loss:.4f} differs from the logged "
                f"{logged:.4f} at step {info.step} by {gap:.1%}: the checkpoint does not hold the "
                "weights that were validated, or the validation data changed",
                "common-failures.md#silent-errors"))
    return findings, logged


def check_weights(tensors: list[TensorStats], step: int | None) -> list[Finding]:
    """NaN/Inf, all-zero and exploding tensors."""
    findings: list[Finding] = []
    bad = [t for t in tensors if t.nonfinite]
    if bad:
        listed = ", ".join(f"{t.name} ({t.nonfinite} values)" for t in bad[:5])
        findings.append(Finding("error", f"{len(bad)} tensor(s) hold NaN/Inf: {listed}",
                                "common-failures.md#nan-or-inf-loss"))
    # Biases start at zero, so all-zero biases are only suspicious after training started.
    zeros = [t for t in tensors if t.zero and (len(t.shape) > 1 or (step or 0) > 0)]
    if zeros:
        listed = ", ".join(t.name for t in zeros[:5])
        findings.append(Finding("warning", f"{len(zeros)} tensor(s) are all zeros: {listed} "
                                "(never initialised, or no gradient reached them)",
                                "common-failures.md#silent-errors"))
    exploding = [t for t in tensors if not t.nonfinite and (t.rms > EXPLODING_RMS
                                                            or t.max_abs > EXPLODING_ABS)]
    if exploding:
        listed = ", ".join(f"{t.name} (rms {t.rms:.3g}, max {t.max_abs:.3g})"
                           for t in exploding[:5])
        findings.append(Finding("warning", f"{len(exploding)} tensor(s) have exploded: {listed}",
                                "common-failures.md#exploding-gradients"))
    if not findings:
        findings.append(Finding("ok", f"{len(tensors)} tensors finite, none all-zero or "
                                f"exploding (rms <= {EXPLODING_RMS:g}, |w| <= {EXPLODING_ABS:g})"))
    return findings


def layer_of(name: str) -> str:
    """The layer a parameter belongs to: `blocks.3.attn.c_attn.weight` -> `blocks.3`."""
    parts = name.split(".")
    if len(parts) > 2 and parts[1].isdigit():
        return ".".join(parts[:2])
    for index, part in enumerate(parts[:-1]):
        if part.isdigit():
            return ".".join(parts[:index + 1])
    return parts[0] if len(parts) > 1 else name


def group_layers(tensors: list[TensorStats]) -> list[LayerStats]:
    """Per-layer L2 norm, RMS and largest weight, in the order the layers first appear."""
    totals: dict[str, list[float]] = {}
    for tensor in tensors:
        square_sum = tensor.rms ** 2 * tensor.numel if math.isfinite(tensor.rms) else math.nan
        entry = totals.setdefault(layer_of(tensor.name), [0, 0.0, 0.0, 0])
        entry[0] += tensor.numel
        entry[1] += square_sum
        entry[2] = max(entry[2], tensor.max_abs)
        entry[3] += tensor.nonfinite
    return [LayerStats(layer, int(count), math.sqrt(squares),
                       math.sqrt(squares / count) if count else 0.0, biggest, int(nonfinite))
            for layer, (count, squares, biggest, nonfinite) in totals.items()]


def _number(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def render_text(report: ValidationReport, layers: bool = True) -> str:
    """The report as the CLI prints it."""
    info, result = report.checkpoint, report.result
    lines = [f"Checkpoint {info.path}",
             f"  step {info.step}, {report.params:,} parameters, "
             f"{info.size_bytes / 1e6:.1f} MB" + (f", run {report.run_dir}" if report.run_dir
                                                   else ""),
             f"  data        {result.data}: {result.batches} batches, {result.tokens:,} tokens",
             f"  loss        {result.loss:.4f}",
             f"  perplexity  {_number(result.perplexity, '.3f')}",
             "  accuracy    " + ("-" if result.accuracy is None else f"{result.accuracy:.2%}"),
             f"  throughput  {result.tokens_per_s:,.0f} tokens/s ({result.seconds:.2f} s)"]
    if report.logged_val_loss is not None:
        lines.append(f"  logged      {report.logged_val_loss:.4f} (validation loss at step "
                     f"{info.step})")
    if info.best_val_loss is not None and math.isfinite(info.best_val_loss):
        lines.append(f"  run's best  {info.best_val_loss:.4f} at step {info.best_val_step}")
    if report.best is not None:
        delta = result.loss - report.best.loss
        lines.append(f"  best.pt     {report.best.loss:.4f} on the same data "
                     f"({delta:+.4f} for this checkpoint)")
    if layers and report.layers:
        lines.append("")
        lines.append(f"  {'layer':<14} {'params':>10} {'L2 norm':>10} {'rms':>9} {'max |w|':>9}")
        for layer in report.layers:
            lines.append(f"  {layer.layer:<14} {layer.params:>10,} {layer.norm:>10.3f} "
                         f"{layer.rms:>9.4f} {layer.max_abs:>9.3f}"
                         + ("  NaN/Inf" if layer.nonfinite else ""))
    lines.append("")
    for finding in sorted(report.findings, key=lambda f: LEVELS.index(f.level)):
        see = f" (see knowledge/{finding.knowledge})" if finding.knowledge else ""
        lines.append(f"  {finding.level.upper():<8}{finding.message}{see}")
    return "\n".join(lines)
