"""The contract's vocabulary: cause ids, the nine symptoms, and how they relate.

`docs/` and `../shared/spec/diagnose.md` define these ids; nothing else may be emitted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cause:
    id: str
    title: str
    #: knowledge deep link (common-failures.md heading slug)
    knowledge: str


CAUSES: tuple[Cause, ...] = (
    Cause("healthy", "Healthy training", "common-failures.md#healthy-training"),
    Cause("lr_too_high", "Learning rate too high", "common-failures.md#learning-rate-too-high"),
    Cause("lr_too_low", "Learning rate too low", "common-failures.md#learning-rate-too-low"),
    Cause("exploding_gradients", "Exploding gradients", "common-failures.md#exploding-gradients"),
    Cause("vanishing_gradients", "Vanishing gradients", "common-failures.md#vanishing-gradients"),
    Cause("numerical_instability", "Numerical instability",
          "common-failures.md#numerical-instability"),
    Cause("insufficient_warmup", "Insufficient warmup", "common-failures.md#insufficient-warmup"),
    Cause("schedule_exhausted", "LR schedule exhausted", "common-failures.md#schedule-exhausted"),
    Cause("overfitting", "Overfitting", "common-failures.md#overfitting"),
    Cause("underfitting", "Underfitting", "common-failures.md#underfitting"),
    Cause("data_not_shuffled", "Data not shuffled", "common-failures.md#data-not-shuffled"),
    Cause("data_outlier", "Outliers in the data", "common-failures.md#data-outliers"),
    Cause("label_leakage", "Label leakage", "common-failures.md#label-leakage"),
    Cause("bad_initialization", "Bad initialization", "common-failures.md#bad-initialization"),
)
CAUSE_IDS = tuple(cause.id for cause in CAUSES)
CAUSES_BY_ID = {cause.id: cause for cause in CAUSES}


@dataclass(frozen=True)
class Symptom:
    id: str
    label: str
    #: causes this symptom points to (the seed's symptom table)
    causes: tuple[str, ...]


#: The nine symptoms of the wizard, in its order.
SYMPTOMS: tuple[Symptom, ...] = (
    Symptom("loss_plateau", "Loss stopped improving (plateau)",
            ("lr_too_low", "schedule_exhausted", "underfitting", "vanishing_gradients",
             "lr_too_high")),
    Symptom("slow_decrease", "Loss decreases too slowly",
            ("lr_too_low", "vanishing_gradients", "underfitting", "bad_initialization")),
    Symptom("loss_unstable", "Loss is unstable: spikes, oscillation, divergence",
            ("lr_too_high", "insufficient_warmup", "data_outlier", "data_not_shuffled",
             "exploding_gradients")),
    Symptom("loss_nan", "Loss became NaN or Inf",
            ("numerical_instability", "exploding_gradients", "lr_too_high",
             "insufficient_warmup")),
    Symptom("gradient_explosion", "Gradient norm explodes",
            ("exploding_gradients", "lr_too_high", "insufficient_warmup", "bad_initialization")),
    Symptom("gradient_vanishing", "Gradient norm near zero",
            ("vanishing_gradients", "bad_initialization")),
    Symptom("overfitting", "Validation loss rises while training loss falls",
            ("overfitting", "label_leakage")),
    Symptom("slow_training", "Training is slow (steps or tokens per second)", ()),
    Symptom("other", "Something else", ()),
)
SYMPTOM_IDS = tuple(symptom.id for symptom in SYMPTOMS)
SYMPTOMS_BY_ID = {symptom.id: symptom for symptom in SYMPTOMS}

#: nt-tui early-warning codes (engine events, live monitor) -> the symptom they stand for.
WARNING_SYMPTOMS = {
    "nan_inf": "loss_nan",
    "loss_spike": "loss_unstable",
    "grad_spike": "gradient_explosion",
    "overfitting": "overfitting",
    "lr_near_zero": "loss_plateau",
    "zero_grads": "gradient_vanishing",
    "params_frozen": "loss_plateau",
    "update_ratio": "loss_unstable",
    "lr_off_schedule": "other",
}


def symptoms_for_warnings(codes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The wizard symptoms that a list of early-warning codes stands for, in wizard order."""
    wanted = {WARNING_SYMPTOMS[code] for code in codes if code in WARNING_SYMPTOMS}
    return tuple(symptom for symptom in SYMPTOM_IDS if symptom in wanted)
