"""From rule strengths to calibrated confidences, and how calibration is measured.

Confidences are a softmax of the strengths at one of two temperatures, chosen by the
strongest cause: `TEMPERATURE_HEALTHY` when "healthy" leads, `TEMPERATURE_FAULT` when a fault
does. Healthy is what remains when no fault rule sees anything, so a fault the rules cannot
see leaves it ahead by a wide margin: its wins are less sure than that margin says; a fault's
evidence is more decisive than its margin. Both are fitted by
`bench/diagnosis_dataset.py evaluate --fit` (minimum log-loss of the true cause on the dev and
held-out runs of the labelled set; two parameters, so they cannot memorise the set; the ECE is
judged on the new seeds, which no fit touches, and on other tools' runs). The expected
calibration error (ECE) of the top-1 confidence is reported in docs/diagnosis.md.
"""

from __future__ import annotations

import math
from typing import Sequence

#: Softmax temperatures over rule strengths, when healthy leads and when a fault does
#: (fitted together on dev + held-out; see module doc). With one temperature (0.14) the ECE
#: was 0.035 on the engine's new seeds and 0.064 on 1,576 logs of other tools
#: (bench/diagnosis_foreign.py); with these two, 0.020 and 0.043.
TEMPERATURE_HEALTHY = 0.18
TEMPERATURE_FAULT = 0.09
#: The single temperature they replace: the prior of the optional stacking layer.
TEMPERATURE = 0.14
#: Bins of the expected calibration error (Guo et al. 2017, "On calibration of modern
#: neural networks", use 10-15 equal-width bins).
ECE_BINS = 10


def confidences(strengths: dict[str, float],
                temperature: float | tuple[float, float] | None = None) -> dict[str, float]:
    """Softmax of `strengths` at `temperature` (values sum to 1): one value, or a (healthy,
    fault) pair picked from by the strongest cause; by default (TEMPERATURE_HEALTHY,
    TEMPERATURE_FAULT)."""
    if temperature is None:
        temperature = (TEMPERATURE_HEALTHY, TEMPERATURE_FAULT)
    if isinstance(temperature, tuple):
        healthy_leads = max(strengths, key=strengths.get) == "healthy"
        temperature = temperature[0] if healthy_leads else temperature[1]
    top = max(strengths.values())
    weights = {cause: math.exp((value - top) / temperature) for cause, value in strengths.items()}
    total = sum(weights.values())
    return {cause: weight / total for cause, weight in weights.items()}


def expected_calibration_error(top_confidences: Sequence[float], correct: Sequence[bool],
                               bins: int = ECE_BINS) -> float:
    """Sum over equal-width confidence bins of |accuracy - mean confidence| x bin share."""
    total = len(top_confidences)
    if total == 0:
        return 0.0
    error = 0.0
    for index in range(bins):
        low, high = index / bins, (index + 1) / bins
        members = [i for i, c in enumerate(top_confidences)
                   if low < c <= high or (index == 0 and c == 0)]
        if not members:
            continue
        accuracy = sum(correct[i] for i in members) / len(members)
        mean_confidence = sum(top_confidences[i] for i in members) / len(members)
        error += abs(accuracy - mean_confidence) * len(members) / total
    return error


def fit_temperatures(strength_sets: Sequence[dict[str, float]], labels: Sequence[str],
                     grid: Sequence[float] | None = None) -> tuple[float, float]:
    """(healthy, fault) temperatures that minimise the log-loss of the true cause; each set
    is scored at the one its strongest cause picks, so the two fit apart."""
    grid = grid or [round(0.02 + 0.01 * i, 2) for i in range(60)]

    def log_loss(temperature: float, healthy_leads: bool) -> float:
        return -sum(math.log(max(1e-9, confidences(s, temperature).get(label, 0.0)))
                    for s, label in zip(strength_sets, labels)
                    if (max(s, key=s.get) == "healthy") == healthy_leads)

    return (min(grid, key=lambda t: log_loss(t, True)),
            min(grid, key=lambda t: log_loss(t, False)))
