"""How numbers read in evidence and fixes: 3 significant digits, steps with separators."""

from __future__ import annotations

import math


def num(value: float | None) -> str:
    """2.91, 0.0123, 3e-05, 1.2e+03 ... ; 'n/a' for None, 'NaN'/'Inf' as such."""
    if value is None:
        return "n/a"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude < 1e-3 or magnitude >= 1e6:
        return f"{value:.2g}"
    if magnitude >= 1e3:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def lr(value: float) -> str:
    """A learning rate as people write it: 3e-04, 0.001 -> 1e-03."""
    return f"{value:.0e}" if _is_round(value) else f"{value:.1e}"


def _is_round(value: float) -> bool:
    mantissa = value / 10 ** math.floor(math.log10(value))
    return abs(mantissa - round(mantissa)) < 1e-6


def pct(share: float) -> str:
    """A share as a percentage: 0.123 -> '12%', 0.004 -> '0.4%'."""
    value = 100 * share
    return f"{value:.0f}%" if abs(value) >= 10 else f"{value:.1f}%"


def step(value: int | float) -> str:
    return f"{int(value):,}"


def nice_lr(value: float) -> float:
    """Round an LR to one significant digit (1, 2, 3 or 5 x 10^k)."""
    exponent = math.floor(math.log10(value))
    mantissa = value / 10 ** exponent
    nice = min((1, 2, 3, 5, 10), key=lambda m: abs(math.log(m / mantissa)))
    return float(f"{nice * 10 ** exponent:.1g}")
