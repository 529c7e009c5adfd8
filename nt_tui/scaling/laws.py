"""The published scaling laws as calculators (pure Python, no numpy).

Every function takes plain numbers (parameters, tokens, FLOPs, GPU-hours) and returns plain
numbers or a small frozen dataclass, so the scaling screen, the `nt-tui scale` command, the
scaling advisor and the tests all compute the same values. The formulas are the ones
knowledge/scaling-laws.md states next to its tables:

    training compute         C = 6 N D                                  (Kaplan et al. 2020)
    Chinchilla allocation    N_opt = sqrt(C / 120), D_opt = 20 N_opt    (Hoffmann et al. 2022)
    Kaplan allocation        N_opt = 1.3e9 (C / PF-day)^0.73, D = C / 6N (Kaplan et al. 2020)
    parametric loss          L(N, D) = E + A / N^alpha + B / D^beta      (Hoffmann et al. 2022)
    GPU budget               C = GPUs x hours x 3600 x peak FLOP/s x MFU
    repeated data            D' = U + U R* (1 - exp(-(epochs - 1) / R*)) (Muennighoff et al. 2023)

Units: N in parameters, D in tokens, C in FLOPs, losses in nats per token. Bad input (zero,
negative, NaN) raises `NtTuiError` naming the quantity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nt_tui.errors import NtTuiError

#: Training FLOPs per parameter per token: forward 2N + backward 4N (Kaplan et al. 2020,
#: section 2.1; knowledge/scaling-laws.md#flops-accounting).
FLOPS_PER_PARAM_TOKEN = 6
#: Forward-pass FLOPs per parameter per token, i.e. inference (same source).
INFERENCE_FLOPS_PER_PARAM_TOKEN = 2
#: Compute-optimal tokens per parameter (Hoffmann et al. 2022, Approaches 1 and 2;
#: knowledge/scaling-laws.md#chinchilla-scaling-laws).
CHINCHILLA_TOKENS_PER_PARAM = 20
#: With C = 6ND and D = 20N, C = 120 N^2.
CHINCHILLA_FLOPS_PER_PARAM_SQUARED = FLOPS_PER_PARAM_TOKEN * CHINCHILLA_TOKENS_PER_PARAM

#: One petaflop/s-day in FLOPs, Kaplan et al.'s compute unit.
PF_DAY = 1e15 * 86400
#: Kaplan et al. (2020), section 6.1 / figure 14: N_opt = 1.3e9 * (C_min / PF-day)^0.73
#: non-embedding parameters; tokens then follow from C = 6ND (D grows as C^0.27).
KAPLAN_PARAMS_AT_ONE_PF_DAY = 1.3e9
KAPLAN_PARAMS_EXPONENT = 0.73

#: Dense bf16 peak TFLOP/s per GPU (NVIDIA datasheets; sparsity figures do not apply to
#: training). knowledge/scaling-laws.md#flops-accounting.
GPU_PEAK_TFLOPS = {"A100": 312.0, "H100": 989.0}
#: Model FLOPs utilisation assumed for planning: PaLM reached 46.2% (Chowdhery et al. 2022);
#: 40% is the planning value in knowledge/scaling-laws.md#flops-accounting.
DEFAULT_MFU = 0.40

#: Muennighoff et al. (2023): the fitted decay constant of repeated data's value (R_D*) and of
#: excess parameters (R_N*). knowledge/scaling-laws.md#data-constrained-scaling.
REPEAT_DECAY_EPOCHS = 15.4
EXCESS_PARAMS_DECAY = 5.3
#: Up to this many epochs, repeated tokens are worth almost as much as fresh ones (same source).
SAFE_EPOCHS = 4
#: Around this many epochs returns are clearly diminishing (same source).
DIMINISHING_EPOCHS = 16


@dataclass(frozen=True)
class LossConstants:
    """Constants of L(N, D) = E + A / N^alpha + B / D^beta, with where they come from."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    source: str


#: Hoffmann et al. (2022), Approach 3, as published (rounded).
HOFFMANN_2022 = LossConstants(1.69, 406.4, 410.7, 0.34, 0.28, "Hoffmann et al. (2022)")
#: Besiroglu et al. (2024): the refit from the paper's reconstructed data; its optimum is close
#: to 20 tokens per parameter (knowledge/scaling-laws.md#parametric-loss-fit).
BESIROGLU_2024 = LossConstants(1.8172, 482.01, 2085.43, 0.3478, 0.3658,
                               "Besiroglu et al. (2024)")


@dataclass(frozen=True)
class Allocation:
    """A model size and token count for a compute budget, and what they imply."""

    compute: float
    params: float
    tokens: float
    law: str

    @property
    def tokens_per_param(self) -> float:
        return self.tokens / self.params


@dataclass(frozen=True)
class RepeatedData:
    """What training for `epochs` passes over `unique_tokens` is worth (Muennighoff et al.)."""

    unique_tokens: float
    epochs: float
    #: tokens seen, unique_tokens x epochs
    tokens_seen: float
    #: the fresh-token count that would give the same loss
    effective_tokens: float
    #: effective / seen: the average value of a token seen
    value_per_token: float
    #: value of one more epoch relative to a fresh one, exp(-(epochs - 1) / R*)
    last_epoch_value: float

    @property
    def verdict(self) -> str:
        """'fine' up to 4 epochs, 'diminishing' up to 16, 'wasteful' beyond."""
        if self.epochs <= SAFE_EPOCHS:
            return "fine"
        if self.epochs <= DIMINISHING_EPOCHS:
            return "diminishing"
        return "wasteful"


def positive(value: float, what: str) -> float:
    """`value` as a float if it is a finite positive number, else `NtTuiError` naming `what`."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise NtTuiError(f"{what} must be a positive number, got {value!r}",
                         hint=f"give {what} as a number such as 1e21, 124M or 7B")
    return number


def training_flops(params: float, tokens: float) -> float:
    """Training compute C = 6ND in FLOPs for `params` parameters and `tokens` tokens."""
    return FLOPS_PER_PARAM_TOKEN * positive(params, "parameters") * positive(tokens, "tokens")


def chinchilla_optimal(compute: float) -> Allocation:
    """Compute-optimal size for `compute` FLOPs: N = sqrt(C / 120), D = 20 N.

    This is the rule behind the table in knowledge/scaling-laws.md#compute-optimal-table,
    e.g. 1e21 FLOPs -> 2.89e9 parameters on 5.77e10 tokens.
    """
    compute = positive(compute, "compute")
    params = math.sqrt(compute / CHINCHILLA_FLOPS_PER_PARAM_SQUARED)
    return Allocation(compute, params, CHINCHILLA_TOKENS_PER_PARAM * params, "chinchilla")


def chinchilla_compute_for(params: float) -> Allocation:
    """The budget at which `params` parameters are compute-optimal: C = 120 N^2, D = 20 N."""
    params = positive(params, "parameters")
    return Allocation(CHINCHILLA_FLOPS_PER_PARAM_SQUARED * params ** 2, params,
                      CHINCHILLA_TOKENS_PER_PARAM * params, "chinchilla")


def kaplan_optimal(compute: float) -> Allocation:
    """Kaplan et al.'s compute-efficient allocation: N = 1.3e9 (C / PF-day)^0.73, D = C / 6N.

    Kaplan counts non-embedding parameters and stops training before convergence, so this
    gives larger models on fewer tokens than Chinchilla; use it to reason about marginal
    returns, not to plan (knowledge/scaling-laws.md#why-the-kaplan-allocation-was-revised).
    """
    compute = positive(compute, "compute")
    params = KAPLAN_PARAMS_AT_ONE_PF_DAY * (compute / PF_DAY) ** KAPLAN_PARAMS_EXPONENT
    return Allocation(compute, params, compute / (FLOPS_PER_PARAM_TOKEN * params), "kaplan")


def parametric_loss(params: float, tokens: float,
                    constants: LossConstants = HOFFMANN_2022) -> float:
    """Predicted loss L(N, D) = E + A / N^alpha + B / D^beta in nats per token.

    With the published constants: Chinchilla (70e9, 1.4e12) -> 1.937. The constants belong to
    MassiveText and its tokenizer: compare differences, not absolute values, with your loss.
    """
    params, tokens = positive(params, "parameters"), positive(tokens, "tokens")
    c = constants
    return c.E + c.A / params ** c.alpha + c.B / tokens ** c.beta


def parametric_optimal(compute: float, constants: LossConstants = HOFFMANN_2022) -> Allocation:
    """The N, D minimising L(N, D) under C = 6ND (Hoffmann et al. 2022, Approach 3).

    G = (alpha A / (beta B))^(1 / (alpha + beta)), N = G (C / 6)^(beta / (alpha + beta)),
    D = (C / 6) / N. With the published rounded constants this gives far more than 20 tokens
    per parameter (50 at 1e21 FLOPs); see knowledge/scaling-laws.md#parametric-loss-fit.
    """
    compute = positive(compute, "compute")
    c = constants
    total = c.alpha + c.beta
    scale = (c.alpha * c.A / (c.beta * c.B)) ** (1 / total)
    half_products = compute / FLOPS_PER_PARAM_TOKEN
    params = scale * half_products ** (c.beta / total)
    return Allocation(compute, params, half_products / params, f"parametric ({c.source})")


def gpu_budget_flops(gpus: float, hours: float, peak_tflops: float,
                     mfu: float = DEFAULT_MFU) -> float:
    """FLOPs a GPU budget delivers: GPUs x hours x 3600 x peak TFLOP/s x 1e12 x MFU."""
    gpus, hours = positive(gpus, "GPU count"), positive(hours, "hours")
    peak = positive(peak_tflops, "peak TFLOP/s")
    mfu = _share(mfu, "MFU")
    return gpus * hours * 3600 * peak * 1e12 * mfu


def gpu_hours_for(compute: float, peak_tflops: float, mfu: float = DEFAULT_MFU) -> float:
    """GPU-hours needed for `compute` FLOPs: C / (peak FLOP/s x MFU) / 3600."""
    compute, peak = positive(compute, "compute"), positive(peak_tflops, "peak TFLOP/s")
    return compute / (peak * 1e12 * _share(mfu, "MFU")) / 3600


def peak_tflops_for(gpu: str) -> float:
    """Dense bf16 peak TFLOP/s of a GPU named like 'A100' or 'h100'."""
    key = gpu.strip().upper()
    if key not in GPU_PEAK_TFLOPS:
        raise NtTuiError(f"unknown GPU {gpu!r}",
                         hint=f"use one of {', '.join(GPU_PEAK_TFLOPS)} or give the peak "
                              "TFLOP/s as a number")
    return GPU_PEAK_TFLOPS[key]


def repeated_data(unique_tokens: float, epochs: float,
                  decay: float = REPEAT_DECAY_EPOCHS) -> RepeatedData:
    """The effective data of `epochs` passes over `unique_tokens` (Muennighoff et al. 2023).

    D' = U + U R* (1 - exp(-R / R*)) with R = epochs - 1 repetitions; at most U (1 + R*) =
    16.4 U however long you train. 4 epochs are worth 3.73 U, 16 epochs 10.6 U.
    """
    unique = positive(unique_tokens, "unique tokens")
    epochs = positive(epochs, "epochs")
    repeats = max(epochs - 1.0, 0.0)
    effective = min(epochs, 1.0) * unique + unique * decay * (1 - math.exp(-repeats / decay))
    seen = unique * epochs
    return RepeatedData(unique, epochs, seen, effective, effective / seen,
                        math.exp(-repeats / decay))


def epochs_needed(tokens: float, unique_tokens: float) -> float:
    """Passes over `unique_tokens` that training on `tokens` tokens takes."""
    return positive(tokens, "tokens") / positive(unique_tokens, "unique tokens")


def _share(value: float, what: str) -> float:
    number = positive(value, what)
    if number > 1:
        raise NtTuiError(f"{what} must be a share between 0 and 1, got {value!r}",
                         hint=f"write {what} as a fraction, e.g. 0.4 for 40%")
    return number
