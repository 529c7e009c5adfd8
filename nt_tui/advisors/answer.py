"""The advisors' answer: the seed's response format as one dataclass, rendered for the terminal.

Every advisor returns an `Answer`: what was observed, the likely cause or the recommendation
with a confidence, alternatives, the concrete action, how to verify it, the knowledge sections
it used, and every number it computed (with how). `render_text()` is what `nt-tui ask` prints;
`render_markdown()` is what the app shows (citations become clickable deep links).
"""

from __future__ import annotations

import textwrap
from dataclasses import asdict, dataclass, field

#: Confidence at or above these shares reads "high" / "medium"; below, "low".
HIGH_CONFIDENCE = 0.7
MEDIUM_CONFIDENCE = 0.4
TEXT_WIDTH = 88


@dataclass(frozen=True)
class Number:
    """A value an advisor computed, formatted, with the formula or rule that produced it."""

    label: str
    value: str
    how: str = ""


@dataclass(frozen=True)
class Table:
    """A small table in an answer (e.g. the fine-tuning memory estimates)."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass
class Answer:
    """One advisor's answer in the seed's response format."""

    advisor: str
    title: str
    question: str
    observed: list[str]
    #: "Likely cause" for the diagnostician, "Recommendation" for the others
    headline_label: str
    recommendation: str
    confidence: float
    alternatives: list[str] = field(default_factory=list)
    action: list[str] = field(default_factory=list)
    verify: list[str] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    numbers: list[Number] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    #: the words that routed the question here (empty when the advisor was chosen)
    matched_terms: tuple[str, ...] = ()
    #: inputs the advisor assumed because they were not given
    assumptions: list[str] = field(default_factory=list)

    @property
    def confidence_label(self) -> str:
        if self.confidence >= HIGH_CONFIDENCE:
            return "high"
        if self.confidence >= MEDIUM_CONFIDENCE:
            return "medium"
        return "low"

    def number(self, label: str) -> Number:
        """The computed number called `label` (KeyError if the answer has none)."""
        for number in self.numbers:
            if number.label == label:
                return number
        raise KeyError(label)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["confidence"] = round(self.confidence, 3)
        data["confidence_label"] = self.confidence_label
        data["matched_terms"] = list(self.matched_terms)
        return data

    def render_text(self, width: int = TEXT_WIDTH) -> str:
        """The answer as plain text for a terminal."""
        lines = [self.title + (f"  (matched: {', '.join(self.matched_terms)})"
                               if self.matched_terms else "")]
        if self.question:
            lines.append(_wrap(f"Question: {self.question}", width, "  "))
        lines += ["", "Observed"] + [_wrap(f"- {item}", width, "  ", "  ")
                                     for item in self.observed]
        lines += ["", f"{self.headline_label} (confidence: {self.confidence_label}, "
                      f"{self.confidence:.2f})", _wrap(self.recommendation, width, "  ", "")]
        for heading, items, bullet in (("Alternatives", self.alternatives, "-"),
                                       ("Action", self.action, None),
                                       ("Verify", self.verify, "-"),
                                       ("Assumed", self.assumptions, "-")):
            if items:
                lines += ["", heading]
                for index, item in enumerate(items, 1):
                    mark = bullet or f"{index}."
                    lines.append(_wrap(f"{mark} {item}", width, "  ", " " * (len(mark) + 1)))
        if self.numbers:
            lines += ["", "Numbers"]
            label_width = min(34, max(len(n.label) for n in self.numbers))
            for number in self.numbers:
                row = f"  {number.label:<{label_width}}  {number.value}"
                lines.append(row + (f"   [{number.how}]" if number.how else ""))
        for table in self.tables:
            lines += ["", table.title] + _table_lines(table)
        if self.citations:
            lines += ["", "Sources (nt-tui knowledge)"] + [f"  {c}" for c in self.citations]
        return "\n".join(lines)

    def render_markdown(self) -> str:
        """The answer as Markdown; citations are links the knowledge browser opens."""
        parts = [f"## {self.title}"]
        if self.matched_terms:
            parts.append(f"Matched: {', '.join(f'`{t}`' for t in self.matched_terms)}")
        parts.append("### Observed\n" + "\n".join(f"- {_md(o)}" for o in self.observed))
        parts.append(f"### {self.headline_label} (confidence: {self.confidence_label}, "
                     f"{self.confidence:.2f})\n{_md(self.recommendation)}")
        if self.alternatives:
            parts.append("### Alternatives\n" + "\n".join(f"- {_md(a)}"
                                                         for a in self.alternatives))
        if self.action:
            parts.append("### Action\n" + "\n".join(f"{i}. {_md(a)}"
                                                   for i, a in enumerate(self.action, 1)))
        if self.verify:
            parts.append("### Verify\n" + "\n".join(f"- {_md(v)}" for v in self.verify))
        if self.assumptions:
            parts.append("### Assumed\n" + "\n".join(f"- {_md(a)}" for a in self.assumptions))
        if self.numbers:
            rows = "\n".join(f"| {_md(n.label)} | {_md(n.value)} | {_md(n.how)} |"
                             for n in self.numbers)
            parts.append("### Numbers\n| Quantity | Value | How |\n|---|---|---|\n" + rows)
        for table in self.tables:
            header = "| " + " | ".join(table.headers) + " |"
            rule = "|" + "---|" * len(table.headers)
            body = "\n".join("| " + " | ".join(_md(c) for c in row) + " |" for row in table.rows)
            parts.append(f"### {table.title}\n{header}\n{rule}\n{body}")
        if self.citations:
            parts.append("### Sources\n" + "\n".join(f"- [{c}]({c})" for c in self.citations))
        return "\n\n".join(parts) + "\n"


def _wrap(text: str, width: int, indent: str = "", subsequent: str | None = None) -> str:
    return textwrap.fill(text, width=width, initial_indent=indent,
                         subsequent_indent=indent if subsequent is None else indent + subsequent,
                         break_on_hyphens=False, break_long_words=False)


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell or list item; knowledge links become links."""
    from nt_tui.knowledge import LINK_PATTERN

    escaped = text.replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")
    return LINK_PATTERN.sub(lambda m: f"[{m.group(0)}]({m.group(0)})", escaped)


def _table_lines(table: Table) -> list[str]:
    columns = [table.headers, *table.rows]
    widths = [max(len(row[i]) for row in columns) for i in range(len(table.headers))]
    render = [("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths))).rstrip()
              for row in columns]
    return [render[0], "  " + "  ".join("-" * w for w in widths), *render[1:]]
