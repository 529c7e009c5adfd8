"""From rule strengths to calibrated confidences, and how calibration is measured.

Confidences are a softmax of the strengths at temperature `TEMPERATURE`, fitted by
`bench/diagnosis_dataset.py evaluate --fit` (minimum log-loss of the true cause on the dev and
held-out runs of the labelled set; one parameter, so it cannot memorise the set; its ECE is
judged on the new seeds, which no fit touches). The expected calibration error
(ECE) of the top-1 confidence is reported in docs/diagnosis.md.
"""

from __future__ import annotations

import math
from typing import Sequence

#: Softmax temperature over rule strengths (fitted on dev + held-out; see module doc).
TEMPERATURE = 0.14
#: Bins of the expected calibration error (Guo et al. 2017, "On calibration of modern
#: neural networks", use 10-15 equal-width bins).
ECE_BINS = 10


def confidences(strengths: dict[str, float], temperature: float = TEMPERATURE
                ) -> dict[str, float]:
    """Softmax of `strengths` at `temperature` (values sum to 1)."""
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


def fit_temperature(strength_sets: Sequence[dict[str, float]], labels: Sequence[str],
                    grid: Sequence[float] | None = None) -> float:
    """The temperature that minimises the log-loss of the true cause."""
    grid = grid or [round(0.02 + 0.01 * i, 2) for i in range(60)]

    def log_loss(temperature: float) -> float:
        return -sum(math.log(max(1e-9, confidences(s, temperature).get(label, 0.0)))
                    for s, label in zip(strength_sets, labels))

    return min(grid, key=log_loss)
