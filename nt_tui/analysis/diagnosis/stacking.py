"""A learned combination of the rule strengths: from strengths to calibrated confidences.

The rules stay the features (their evidence sentences are what the report shows); this layer
only learns how to weigh them against each other, and how far each can be trusted when the
log lacks a metric. It is a multinomial logistic regression over

- the 14 rule strengths (after the symptom adjustments), and
- what the log has: grad norm, learning rate, validation loss, an epoch column (1/0),

whose weights are shrunk towards the temperature softmax of `calibration` (weights
1/TEMPERATURE on each cause's own strength, 0 elsewhere): with no data it *is* the rule
ranking, and a weight moves away from it only as far as the dev runs demand. The shrinkage
is chosen by cross-validation across the dev seeds. Fitted on the dev half of the labelled
set only, by `python bench/diagnosis_dataset.py evaluate --fit-stacking` (numpy, a few
seconds), and stored in `stacking.json` beside this module; without that file the
temperature softmax is used.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from nt_tui.analysis.diagnosis.vocabulary import CAUSE_IDS

if TYPE_CHECKING:
    from nt_tui.analysis.diagnosis.evidence import Evidence

COEFFICIENTS = Path(__file__).with_name("stacking.json")
#: What the log has: each a 1/0 feature (missing metrics change what the rules can separate).
AVAILABILITY = ("has_grad_norm", "has_lr", "has_val_loss", "has_epochs")
FEATURES = tuple(f"strength:{cause}" for cause in CAUSE_IDS) + AVAILABILITY


def availability(ev: "Evidence") -> dict[str, float]:
    return {"has_grad_norm": float(ev.grad is not None), "has_lr": float(ev.lr is not None),
            "has_val_loss": float(ev.val is not None),
            "has_epochs": float(ev.epochs is not None)}


def feature_vector(strengths: dict[str, float], available: dict[str, float]) -> list[float]:
    return [float(strengths.get(cause, 0.0)) for cause in CAUSE_IDS] + [
        float(available.get(name, 0.0)) for name in AVAILABILITY]


@lru_cache(maxsize=1)
def load(path: str = str(COEFFICIENTS)) -> dict | None:
    """The fitted coefficients, or None when no (valid) file is there."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if tuple(data.get("causes", ())) != CAUSE_IDS or tuple(data.get("features", ())) != FEATURES:
        return None  # fitted for another vocabulary or feature set: not applicable
    return data


def probabilities(x: Sequence[float], model: dict) -> dict[str, float]:
    """Softmax of W x + b (one row of W per cause)."""
    logits = [sum(w * v for w, v in zip(row, x)) + b
              for row, b in zip(model["weights"], model["bias"])]
    top = max(logits)
    exps = [math.exp(value - top) for value in logits]
    total = sum(exps)
    return {cause: value / total for cause, value in zip(CAUSE_IDS, exps)}


# --------------------------------------------------------------------------- fitting (bench)

def prior(temperature: float):
    """The weights that reproduce the temperature softmax: 1/T on each cause's own strength."""
    import numpy as np

    weights = np.zeros((len(CAUSE_IDS), len(FEATURES)))
    weights[:, :len(CAUSE_IDS)] = np.eye(len(CAUSE_IDS)) / temperature
    return weights, np.zeros(len(CAUSE_IDS))


def mask():
    """The weights that may move: each cause's weight on its own strength and on what the
    log has (no cross-cause weights: 14 x 5 parameters, not 14 x 18, so that a cause is never
    ranked on another cause's evidence)."""
    import numpy as np

    allowed = np.zeros((len(CAUSE_IDS), len(FEATURES)))
    allowed[:, :len(CAUSE_IDS)] = np.eye(len(CAUSE_IDS))
    allowed[:, len(CAUSE_IDS):] = 1.0
    return allowed


def fit(features, labels: Sequence[str], temperature: float, shrinkage: float,
        iterations: int = 5000, full: bool = False):
    """Weights and bias minimising the mean log-loss of the true cause plus
    `shrinkage` x the squared distance from the temperature softmax's weights (gradient
    descent with a fixed step; the problem is convex)."""
    import numpy as np

    x = np.asarray(features, dtype=float)
    y = np.array([CAUSE_IDS.index(label) for label in labels])
    onehot = np.eye(len(CAUSE_IDS))[y]
    w0, b0 = prior(temperature)
    weights, bias = w0.copy(), b0.copy()
    rate = 0.5 * temperature
    allowed = np.ones_like(weights) if full else mask()
    for _ in range(iterations):
        logits = x @ weights.T + bias
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        error = (probs - onehot) / len(x)
        grad_w = error.T @ x + 2 * shrinkage * (weights - w0)
        grad_b = error.sum(axis=0) + 2 * shrinkage * (bias - b0)
        weights -= rate * grad_w * allowed
        bias -= rate * grad_b
    return weights, bias


def log_loss(weights, bias, features, labels: Sequence[str]) -> float:
    import numpy as np

    x = np.asarray(features, dtype=float)
    y = np.array([CAUSE_IDS.index(label) for label in labels])
    logits = x @ weights.T + bias
    logits -= logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())
