"""What the four advisors share: their names, and reading their advice out of the documents.

An advisor's concrete actions and checks come from the knowledge documents themselves (the
"**Fix**" and "**How to confirm**" lists of a common-failures.md section, for instance), so the
advice and the library never disagree; `doc_items` returns nothing when a document or section
is missing and the advisor falls back to its own sentence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nt_tui.errors import NtTuiError


@dataclass(frozen=True)
class AdvisorInfo:
    """An advisor as the ask box, the palette and `nt-tui ask --advisor` name it."""

    id: str
    title: str
    summary: str
    #: the knowledge document it draws on
    document: str


ADVISORS: tuple[AdvisorInfo, ...] = (
    AdvisorInfo("diagnostician", "Diagnostician",
                "Loss plateaus, NaN/Inf, exploding or vanishing gradients, overfitting, "
                "runs that do not converge.", "common-failures.md"),
    AdvisorInfo("scaling", "Scaling advisor",
                "Compute-optimal model size and tokens, GPU budgets, repeated data, "
                "predicted loss.", "scaling-laws.md"),
    AdvisorInfo("optimization", "Optimization guru",
                "Learning rate, weight decay, betas, warmup, schedule, batch size and "
                "gradient accumulation.", "optimizer-guide.md"),
    AdvisorInfo("finetuning", "Fine-tuning advisor",
                "Full fine-tuning, LoRA or QLoRA; rank, alpha, targets, learning rate and "
                "memory.", "fine-tuning-techniques.md"),
)
ADVISORS_BY_ID = {advisor.id: advisor for advisor in ADVISORS}
#: Other names accepted for `--advisor` and in the app.
ALIASES = {"diagnose": "diagnostician", "diagnosis": "diagnostician",
           "scale": "scaling", "scaling-advisor": "scaling", "optimizer": "optimization",
           "optimisation": "optimization", "guru": "optimization", "optimization-guru":
           "optimization", "fine-tuning": "finetuning", "finetune": "finetuning",
           "lora": "finetuning"}


def advisor_info(name: str) -> AdvisorInfo:
    """The advisor called `name` (an id, a title or an alias); `NtTuiError` if none is."""
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    key = ALIASES.get(key, key)
    for advisor in ADVISORS:
        if key in (advisor.id, advisor.title.lower().replace(" ", "-")):
            return advisor
    raise NtTuiError(f"unknown advisor {name!r}",
                     hint=f"use one of: {', '.join(a.id for a in ADVISORS)}")


def doc_items(link: str, label: str, limit: int = 3) -> list[str]:
    """Up to `limit` items of the `**label**` list in the section `link` points to."""
    from nt_tui.knowledge import load_knowledge

    try:
        return load_knowledge().section(link).part(label)[:limit]
    except NtTuiError:
        return []


def sig(value: float, digits: int = 3) -> str:
    """A number with `digits` significant digits, in scientific notation when large or small:
    0.000316 -> 3.16e-04, 2890000000 -> 2.89e+09, 0.55 -> 0.55."""
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-2):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"
