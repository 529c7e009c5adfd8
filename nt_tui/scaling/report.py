"""The answers of `nt-tui scale` and the Scaling screen, as tables built from `laws` and `fit`.

Each question gives a few `Table`s (title, columns, rows, notes, and the raw numbers for
JSON); the CLI prints them with `render_text`, the screen shows them as DataTables. Every
number comes from `nt_tui.scaling.laws` or `nt_tui.scaling.fit`: nothing here restates a law.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable

from nt_tui.errors import NtTuiError
from nt_tui.scaling import laws
from nt_tui.scaling.fit import PowerLawFit, fit_power_law
from nt_tui.scaling.quantities import format_count, format_duration, parse_count

#: Epoch counts shown for a dataset (the rows of knowledge/scaling-laws.md's repeated-data
#: table).
EPOCHS_SHOWN = (1, 2, 4, 8, 16, 40)
#: Trust a fitted law about one order of magnitude beyond the largest run
#: (knowledge/scaling-laws.md#fitting-your-own-scaling-law, step 7).
EXTRAPOLATION_LIMIT = 10.0
#: Search range for the budget at which a size is optimal (FLOPs, log-bisection).
COMPUTE_SEARCH = (1.0, 1e40)
#: Notes are wrapped to fit an 100-column terminal.
NOTE_WIDTH = 98
BISECTION_STEPS = 200


@dataclass(frozen=True)
class GpuSpec:
    """GPUs for wall-time estimates: count, dense peak TFLOP/s each, utilisation."""

    gpus: float
    peak_tflops: float
    mfu: float = laws.DEFAULT_MFU

    def describe(self) -> str:
        return (f"{self.gpus:g} GPU(s) x {self.peak_tflops:g} TFLOP/s peak x "
                f"{self.mfu:.0%} MFU")

    def wall_seconds(self, compute: float) -> float:
        return laws.gpu_hours_for(compute, self.peak_tflops, self.mfu) * 3600 / self.gpus


@dataclass
class Questions:
    """What the user asks, as typed (counts may be text such as 124M); None = not asked."""

    compute: str | None = None
    params: str | None = None
    tokens: str | None = None
    gpus: float | None = None
    hours: float | None = None
    gpu: str | None = None
    peak_tflops: float | None = None
    mfu: float | None = None
    fit: list[str] = field(default_factory=list)
    points: list[str] = field(default_factory=list)
    predict: list[str] = field(default_factory=list)
    metric: str = "val_loss"
    use: str = "best"
    form: str = "auto"
    formulas: bool = False

    def gpu_spec(self) -> GpuSpec | None:
        """The GPUs asked about, or None."""
        peak = laws.peak_tflops_for(self.gpu) if self.gpu else self.peak_tflops
        if peak is None:
            if self.hours is not None or self.gpus is not None or self.mfu is not None:
                raise NtTuiError("GPU options need the GPU's speed",
                                 hint="give the GPU (A100, H100) or its peak TFLOP/s")
            return None
        return GpuSpec(laws.positive(self.gpus or 1, "GPU count"),
                       laws.positive(peak, "peak TFLOP/s"),
                       laws.DEFAULT_MFU if self.mfu is None else self.mfu)


def answer(questions: Questions) -> list[Table]:
    """Every table the questions ask for; the formulas when nothing is asked."""
    from nt_tui.scaling.points import parse_point, points_from_runs

    gpu = questions.gpu_spec()
    tables: list[Table] = []
    if questions.compute is not None:
        tables += compute_answer(parse_count(questions.compute, "compute"), gpu)
    if questions.hours is not None:
        budget = laws.gpu_budget_flops(gpu.gpus, questions.hours, gpu.peak_tflops, gpu.mfu)
        tables += compute_answer(budget, gpu, budget_note=(
            f"{gpu.describe()} x {questions.hours:g} h = {budget:.3g} FLOPs."))
    if questions.params is not None:
        tables += model_answer(parse_count(questions.params, "parameter count"), gpu)
    if questions.tokens is not None:
        tables += dataset_answer(parse_count(questions.tokens, "token count"), gpu)
    if questions.fit or questions.points:
        points = points_from_runs(questions.fit, questions.metric, questions.use) \
            if questions.fit else []
        points += [parse_point(text) for text in questions.points]
        fitted = fit_power_law(points, questions.form)
        tables += fit_answer(fitted, [parse_count(text, "parameter count")
                                      for text in questions.predict])
    elif questions.predict:
        raise NtTuiError("a prediction needs runs to fit",
                         hint="give three or more runs of different sizes to fit")
    if questions.formulas or not tables:
        tables.append(formulas())
    return tables


@dataclass
class Table:
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: the same answer as numbers, for --json
    values: dict[str, Any] = field(default_factory=dict)
    #: the fitted law, on the table of a fit (the screen plots it)
    fit: PowerLawFit | None = None


def sci(value: float) -> str:
    """`2.89e+09 (2.89B)`: exact enough to check, readable at a glance."""
    return f"{value:.3g}" if value < 1e3 else f"{value:.3g} ({format_count(value)})"


def formulas() -> Table:
    """The formulas behind every table, with their sources."""
    h, b = laws.HOFFMANN_2022, laws.BESIROGLU_2024
    rows = [
        ("compute", f"C = {laws.FLOPS_PER_PARAM_TOKEN} N D", "Kaplan et al. (2020)"),
        ("Chinchilla", f"N = sqrt(C / {laws.CHINCHILLA_FLOPS_PER_PARAM_SQUARED}), "
                       f"D = {laws.CHINCHILLA_TOKENS_PER_PARAM} N", "Hoffmann et al. (2022)"),
        ("Kaplan", f"N = {laws.KAPLAN_PARAMS_AT_ONE_PF_DAY:.2g} (C / PF-day)^"
                   f"{laws.KAPLAN_PARAMS_EXPONENT}, D = C / 6N", "Kaplan et al. (2020)"),
        ("loss", f"L(N, D) = {h.E} + {h.A} / N^{h.alpha} + {h.B} / D^{h.beta}", h.source),
        ("loss refit", f"L(N, D) = {b.E} + {b.A} / N^{b.alpha} + {b.B} / D^{b.beta}",
         b.source),
        ("repeated data", f"D' = U + U R* (1 - exp(-(epochs - 1) / R*)), "
                          f"R* = {laws.REPEAT_DECAY_EPOCHS}", "Muennighoff et al. (2023)"),
    ]
    return Table("Formulas", ("what", "formula", "source"), rows, [
        "N counts all parameters, except in Kaplan's law (non-embedding parameters). "
        "The loss constants belong to MassiveText and its tokenizer: compare differences "
        "between rows, not absolute values with your own loss."])


def _allocation_row(label: str, allocation: laws.Allocation, gpu: GpuSpec | None,
                    budget: str = "") -> tuple[str, ...]:
    loss = laws.parametric_loss(allocation.params, allocation.tokens)
    row = (label, *((budget,) if budget else ()), sci(allocation.params),
           sci(allocation.tokens), f"{allocation.tokens_per_param:.1f}", f"{loss:.3f}")
    if gpu is not None:
        row += (format_duration(gpu.wall_seconds(allocation.compute)),)
    return row


def _allocation_values(allocation: laws.Allocation) -> dict[str, float]:
    return {"compute": allocation.compute, "params": allocation.params,
            "tokens": allocation.tokens, "tokens_per_param": allocation.tokens_per_param,
            "loss": laws.parametric_loss(allocation.params, allocation.tokens)}


def _allocators() -> list[tuple[str, str, Callable[[float], laws.Allocation]]]:
    """(key, label, compute -> allocation) of every law shown side by side."""
    return [
        ("chinchilla", "Chinchilla (D = 20N)", laws.chinchilla_optimal),
        ("kaplan", "Kaplan (N ~ C^0.73)", laws.kaplan_optimal),
        ("hoffmann_parametric", "Hoffmann L(N,D) optimum", laws.parametric_optimal),
        ("besiroglu_parametric", "Besiroglu refit optimum",
         lambda compute: laws.parametric_optimal(compute, laws.BESIROGLU_2024)),
    ]


def compute_answer(compute: float, gpu: GpuSpec | None = None,
                   budget_note: str = "") -> list[Table]:
    """Compute-optimal parameters and tokens for `compute` FLOPs, law by law."""
    columns = ("law", "parameters", "tokens", "tokens/param", "L(N,D)") + \
        (("wall time",) if gpu else ())
    table = Table(f"Compute budget {compute:.3g} FLOPs", columns)
    if budget_note:
        table.notes.append(budget_note)
    for key, label, allocate in _allocators():
        allocation = allocate(compute)
        table.rows.append(_allocation_row(label, allocation, gpu))
        table.values[key] = _allocation_values(allocation)
    chinchilla = laws.chinchilla_optimal(compute)
    check = laws.training_flops(chinchilla.params, chinchilla.tokens)
    table.notes += [
        f"Chinchilla: N = sqrt({compute:.3g} / 120) = {chinchilla.params:.3g}, D = 20 N = "
        f"{chinchilla.tokens:.3g}; check 6 N D = {check:.3g} FLOPs.",
        "L(N,D) is Hoffmann et al.'s parametric loss at each allocation (nats/token on "
        "MassiveText). Plan with the Chinchilla row; Kaplan's row shows the older, "
        "larger-model answer.",
    ]
    if gpu is not None:
        table.notes.append(f"Wall time on {gpu.describe()}.")
    return [table]


def compute_for_params(allocate: Callable[[float], laws.Allocation],
                       params: float) -> laws.Allocation:
    """The allocation whose model has `params` parameters (log-bisection on the budget; every
    law's optimal N grows with C)."""
    low, high = (math.log(bound) for bound in COMPUTE_SEARCH)
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        if allocate(math.exp(middle)).params < params:
            low = middle
        else:
            high = middle
    return allocate(math.exp((low + high) / 2))


def model_answer(params: float, gpu: GpuSpec | None = None) -> list[Table]:
    """Tokens and compute at which a `params`-parameter model is compute-optimal."""
    params = laws.positive(params, "parameters")
    columns = ("law", "compute", "parameters", "tokens", "tokens/param", "L(N,D)") + \
        (("wall time",) if gpu else ())
    table = Table(f"Model of {sci(params)} parameters", columns)
    for key, label, allocate in _allocators():
        allocation = laws.chinchilla_compute_for(params) if key == "chinchilla" else \
            compute_for_params(allocate, params)
        table.rows.append(_allocation_row(label, allocation, gpu,
                                          budget=f"{allocation.compute:.3g}"))
        table.values[key] = _allocation_values(allocation)
    chinchilla = laws.chinchilla_compute_for(params)
    table.notes.append(f"Chinchilla: D = 20 N = {chinchilla.tokens:.3g} tokens, C = 6 N D = "
                       f"120 N^2 = {chinchilla.compute:.3g} FLOPs.")
    if gpu is not None:
        table.notes.append(f"Wall time on {gpu.describe()}.")
    return [table]


def dataset_answer(unique_tokens: float, gpu: GpuSpec | None = None) -> list[Table]:
    """The compute-optimal model for a dataset, and what repeating it buys."""
    unique = laws.positive(unique_tokens, "unique tokens")
    per_param = laws.CHINCHILLA_TOKENS_PER_PARAM
    one_pass = laws.chinchilla_compute_for(unique / per_param)
    columns = ("epochs", "tokens seen", "effective", "last epoch worth", "model (D'/20)",
               "compute", "L(N,D')", "verdict") + (("wall time",) if gpu else ())
    table = Table(f"Dataset of {sci(unique)} unique tokens", columns)
    table.values = {"one_epoch": _allocation_values(one_pass), "epochs": []}
    for epochs in EPOCHS_SHOWN:
        repeated = laws.repeated_data(unique, epochs)
        params = repeated.effective_tokens / per_param
        compute = laws.training_flops(params, repeated.tokens_seen)
        loss = laws.parametric_loss(params, repeated.effective_tokens)
        row = (str(epochs), sci(repeated.tokens_seen), sci(repeated.effective_tokens),
               f"{repeated.last_epoch_value:.0%}", sci(params), f"{compute:.3g}",
               f"{loss:.3f}", repeated.verdict)
        if gpu is not None:
            row += (format_duration(gpu.wall_seconds(compute)),)
        table.rows.append(row)
        table.values["epochs"].append({
            "epochs": epochs, "tokens_seen": repeated.tokens_seen,
            "effective_tokens": repeated.effective_tokens,
            "last_epoch_value": repeated.last_epoch_value, "params": params,
            "compute": compute, "loss": loss, "verdict": repeated.verdict})
    table.notes += [
        f"One pass: the compute-optimal model has N = U / 20 = {one_pass.params:.3g} "
        f"parameters and needs C = {one_pass.compute:.3g} FLOPs.",
        f"More compute than that: repeat the data. Up to {laws.SAFE_EPOCHS} epochs a repeated "
        f"token is worth almost a fresh one; by {laws.DIMINISHING_EPOCHS} returns are clearly "
        f"diminishing, and no amount of repetition gives more than "
        f"{1 + laws.REPEAT_DECAY_EPOCHS:.1f}x the unique data (Muennighoff et al. 2023).",
        "Each row sizes the model for the effective tokens D' (20 per parameter) and predicts "
        "L(N, D') with Hoffmann et al.'s constants.",
    ]
    return [table]


def fit_answer(fit: PowerLawFit, predict_at: list[float]) -> list[Table]:
    """The fitted law, its points and residuals, and predictions with 95% intervals."""
    table = Table(f"Fit to your runs: {fit.formula()}",
                  ("run", "parameters", "loss", "fitted", "residual"))
    for point in fit.points:
        fitted = fit.predict(point.params).loss
        table.rows.append((point.label or format_count(point.params), sci(point.params),
                           f"{point.loss:.4f}", f"{fitted:.4f}",
                           f"{(point.loss - fitted) / fitted:+.2%}"))
    errors = fit.errors
    parts = [f"alpha = {fit.alpha:.3f} +/- {errors['alpha']:.3f}",
             f"A = {fit.values['A']:.4g} +/- {errors['A']:.2g}"]
    if "E" in fit.values:
        parts.append(f"E = {fit.values['E']:.4f} +/- {errors['E']:.2g}")
    table.notes.append(f"{fit.form} law: {', '.join(parts)} (1 standard error); "
                       f"R^2 = {fit.r_squared:.3f} in log-loss, {fit.dof} degree(s) of freedom.")
    table.notes.extend(fit.notes)
    table.values = {"fit": fit.to_dict(), "predictions": []}
    table.fit = fit
    largest = max(point.params for point in fit.points)
    for params in predict_at:
        prediction = fit.predict(params)
        note = (f"Predicted loss at {sci(params)} parameters: {prediction.loss:.4f} "
                f"(95% interval {prediction.low:.4f} to {prediction.high:.4f}).")
        if params > EXTRAPOLATION_LIMIT * largest:
            note += (f" That is {params / largest:.0f}x the largest run: trust a fitted law "
                     f"only about {EXTRAPOLATION_LIMIT:.0f}x beyond its data.")
        table.notes.append(note)
        table.values["predictions"].append({"params": params, "loss": prediction.loss,
                                            "low": prediction.low, "high": prediction.high})
    return [table]


def render_text(tables: list[Table]) -> str:
    """Tables as aligned text with their notes."""
    blocks = []
    for table in tables:
        widths = [max(len(str(cell)) for cell in column)
                  for column in zip(table.columns, *table.rows)]
        lines = [table.title,
                 "  " + "  ".join(f"{name:<{width}}" for name, width in
                                  zip(table.columns, widths)).rstrip()]
        for row in table.rows:
            lines.append("  " + "  ".join(f"{cell:<{width}}" for cell, width in
                                          zip(row, widths)).rstrip())
        lines += [textwrap.fill(note, NOTE_WIDTH, initial_indent="  - ",
                                subsequent_indent="    ") for note in table.notes]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
