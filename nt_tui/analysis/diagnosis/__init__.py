"""Training-run diagnosis: evidence from a run history, one rule per cause, calibrated
confidences, specific fixes. No UI imports, no torch.

    from nt_tui.analysis.diagnosis import diagnose, diagnose_path
    result = diagnose_path("runs/my-run", symptoms=["loss_unstable"])
    result.top.cause, result.top.confidence, result.to_dict()

Names are imported on first use, so `nt_tui.analysis.diagnosis.vocabulary` stays light
(no numpy/pandas) for the CLI's argument parser.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RunContext": "context",
    "Diagnosis": "core", "Hypothesis": "core", "check_symptoms": "core", "context_for": "core",
    "diagnose": "core", "diagnose_path": "core", "infer_symptoms": "core",
    "CAUSES": "vocabulary", "CAUSE_IDS": "vocabulary", "SYMPTOMS": "vocabulary",
    "SYMPTOM_IDS": "vocabulary", "symptoms_for_warnings": "vocabulary",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
    return getattr(module, name)
