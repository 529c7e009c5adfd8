"""The human-readable diagnosis report (the CLI without --json; the wizard's copy text)."""

from __future__ import annotations

from nt_tui.analysis.diagnosis.core import Diagnosis
from nt_tui.analysis.diagnosis.evidence import describe_context
from nt_tui.analysis.diagnosis.numbers import num
from nt_tui.analysis.diagnosis.vocabulary import SYMPTOMS_BY_ID


def render_text(diagnosis: Diagnosis) -> str:
    """A plain-text report: the run, the symptoms, each hypothesis with its evidence, fix,
    and knowledge link, then what the log did not have."""
    lines = [f"Diagnosis of {diagnosis.source}",
             f"  format {diagnosis.format}, {diagnosis.steps:,} logged steps, metrics: "
             f"{', '.join(diagnosis.metrics)}"]
    how = "inferred from the data" if diagnosis.symptoms_inferred else "as given"
    labels = [SYMPTOMS_BY_ID[s].label for s in diagnosis.symptoms] or ["none"]
    lines.append(f"  symptoms ({how}): {'; '.join(labels)}")
    known = describe_context(diagnosis.evidence.context)
    if known:
        lines.append("  run facts: " + ", ".join(
            f"{name}={num(v['value']) if isinstance(v['value'], float) else v['value']} "
            f"({v['source']})" for name, v in known.items()))
    lines.append("")
    for rank, hypothesis in enumerate(diagnosis.hypotheses, 1):
        heading = "Most likely" if rank == 1 else f"Alternative {rank - 1}"
        lines.append(f"{heading}: {hypothesis.title} [{hypothesis.cause}] - confidence "
                     f"{hypothesis.confidence:.0%}")
        lines.extend(f"  - {sentence}" for sentence in hypothesis.evidence)
        lines.append(f"  Fix: {hypothesis.fix}")
        lines.append(f"  Read: {hypothesis.knowledge}")
        lines.append("")
    if diagnosis.missing:
        lines.append("Not in the log (weaker evidence):")
        lines.extend(f"  - {item}" for item in diagnosis.missing)
    return "\n".join(lines).rstrip() + "\n"
