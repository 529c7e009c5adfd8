"""Auto-activation: the run events that offer the diagnostician, and the question they ask.

The seed's table: NaN/Inf, gradient explosion, loss spikes (instability), plateaus and
overfitting call for the diagnostician. nt-tui's early-warning codes map to those symptoms
through the diagnosis vocabulary (`WARNING_SYMPTOMS`); `offer_for_event` turns one warning event
into an `Offer` (the question, the symptom, the step) that the monitor or `nt-tui ask --run`
hands to the diagnostician, and `offers_for_events` picks the ones worth offering from a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from nt_tui.analysis.diagnosis.vocabulary import SYMPTOMS_BY_ID, WARNING_SYMPTOMS

#: Symptoms whose warnings offer the diagnostician (the seed's auto-activation table).
OFFERING_SYMPTOMS = ("loss_nan", "gradient_explosion", "loss_unstable", "loss_plateau",
                     "overfitting", "gradient_vanishing")


@dataclass(frozen=True)
class Offer:
    """A suggestion to ask the diagnostician about an event of a run."""

    advisor: str
    question: str
    symptom: str
    step: int | None
    code: str
    knowledge: str


def offer_for_event(event: dict[str, Any]) -> Offer | None:
    """The diagnostician offer for a run event (a warning dict), or None if it needs none."""
    if event.get("kind") not in ("warning", "failure"):
        return None
    code = str(event.get("code") or ("nan_inf" if event.get("kind") == "failure" and
                                     "nan" in str(event.get("message", "")).lower() else ""))
    symptom = WARNING_SYMPTOMS.get(code)
    if symptom not in OFFERING_SYMPTOMS:
        return None
    step = event.get("step")
    where = f" at step {int(step):,}" if isinstance(step, (int, float)) else ""
    label = SYMPTOMS_BY_ID[symptom].label
    message = str(event.get("message") or "").strip()
    question = f"{label}{where}" + (f": {message}" if message else "")
    return Offer("diagnostician", question, symptom, int(step) if isinstance(
        step, (int, float)) else None, code, str(event.get("knowledge") or ""))


def offers_for_events(events: Iterable[dict[str, Any]]) -> list[Offer]:
    """One offer per symptom (its first event), in the order the run raised them."""
    offers: dict[str, Offer] = {}
    for event in events:
        offer = offer_for_event(event)
        if offer is not None and offer.symptom not in offers:
            offers[offer.symptom] = offer
    return list(offers.values())
