"""The resolved config as grouped rows, for `nt-tui check` and the config review screen."""

from __future__ import annotations

from dataclasses import dataclass

from nt_tui.config.preflight import Level, Preflight
from nt_tui.config.schema import SECTIONS


@dataclass(frozen=True)
class Row:
    key: str  # dotted, e.g. "optimizer.lr"
    value: str
    note: str  # why the value was defaulted, or ""


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format(item) for item in value) + "]"
    return "-" if value is None else str(value)


def grouped_rows(preflight: Preflight) -> dict[str, list[Row]]:
    """Section name -> rows, in the seed's order (run, model, data, ... logging)."""
    resolved = preflight.resolved
    config = resolved.config
    groups: dict[str, list[Row]] = {"run": [
        Row(key, _format(getattr(config, key)), resolved.defaulted.get(key, ""))
        for key in ("name", "seed", "precision")
    ]}
    for section in SECTIONS:
        values = getattr(config, section).model_dump()
        groups[section] = [
            Row(f"{section}.{name}", _format(value), resolved.defaulted.get(f"{section}.{name}", ""))
            for name, value in values.items()
        ]
    size = f"{resolved.num_params:,}" if resolved.num_params else "unknown"
    groups["model"].insert(0, Row("model.parameters", size, resolved.num_params_note))
    if resolved.train_tokens:
        groups["data"].append(Row("data.train_tokens", f"{resolved.train_tokens:,}", ""))
    groups["data"].append(Row("data.tokens_per_step", f"{resolved.tokens_per_step:,}",
                              "batch_size x seq_len x grad_accum"))
    return groups


LEVEL_MARK = {Level.ERROR: "REFUSED", Level.CHOICE: "CHOOSE", Level.WARNING: "warning",
              Level.INFO: "info"}


def render_text(preflight: Preflight) -> str:
    """The whole review as plain text: config by section, then the findings."""
    lines = []
    for section, rows in grouped_rows(preflight).items():
        lines.append(f"[{section}]")
        width = max(len(row.key) for row in rows)
        for row in rows:
            note = f"   <- {row.note}" if row.note else ""
            lines.append(f"  {row.key:<{width}}  {row.value}{note}")
    lines.append("")
    lines.append("Pre-flight:")
    if not preflight.findings:
        lines.append("  all checks passed")
    for finding in preflight.findings:
        lines.append(f"  {LEVEL_MARK[finding.level]}: {finding.message}")
        if finding.fix:
            lines.append(f"      fix: {finding.fix}")
        for number, choice in enumerate(finding.choices, 1):
            lines.append(f"      {number}. {choice.label}")
        if finding.knowledge:
            lines.append(f"      see: {finding.knowledge}")
    verdict = "ready to train" if preflight.ok else (
        f"not ready: {len(preflight.blocking)} finding(s) must be fixed or chosen first")
    lines.append("")
    lines.append(f"Result: {verdict}")
    return "\n".join(lines)
