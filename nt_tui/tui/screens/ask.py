"""Ask an advisor: a free-text question, routed by keywords, answered with numbers.

`AskScreen(text="my loss went to nan after 3k steps")` asks at once; `advisor=` skips the
routing; `run=` gives the advisors a run (the diagnostician measures its curves and the run's
warning events are offered to it). The answer is the advisor's Markdown, whose sources open
the knowledge browser at their section; when no advisor matches, the best knowledge sections
are listed instead. Answers are computed in a thread worker (loading a run reads pandas).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import (
    Collapsible, Footer, Header, Input, Markdown, OptionList, Select, Static)
from textual.widgets.option_list import Option

from nt_tui.advisors.base import ADVISORS, advisor_info
from nt_tui.advisors.inputs import AdvisorInputs
from nt_tui.errors import NtTuiError

AUTO = "auto"
#: The optional number fields: (input id, AdvisorInputs field, kind, placeholder).
FIELDS = (
    ("ask-model-size", "params", "count", "model size, e.g. 7B"),
    ("ask-gpu-memory", "gpu_memory_gb", "float", "GPU memory GB, e.g. 24"),
    ("ask-gpus", "gpus", "int", "GPUs, e.g. 8"),
    ("ask-dataset-tokens", "dataset_tokens", "count", "dataset tokens, e.g. 2B"),
    ("ask-examples", "examples", "count", "examples, e.g. 50k"),
    ("ask-compute", "compute", "count", "compute FLOPs, e.g. 1e21"),
    ("ask-steps", "steps", "count", "total steps, e.g. 20k"),
    ("ask-batch-tokens", "batch_tokens", "count", "batch tokens, e.g. 1M"),
)


@dataclass
class Answered(Message):
    """The worker's result (an AskResult) for question number `serial`."""

    result: Any
    serial: int


@dataclass
class AskFailed(Message):
    """The worker could not answer: a user error to show."""

    error: NtTuiError
    serial: int


class AskScreen(Screen):
    """The ask box, the advisor picker, optional numbers, and the answer."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="ask.back"),
        Binding("slash,ctrl+f", "focus_question", "Question", id="ask.question"),
    ]
    DEFAULT_CSS = """
    AskScreen #ask-row { height: auto; }
    AskScreen #ask-text { width: 1fr; }
    AskScreen #ask-advisor { width: 28; }
    AskScreen #ask-fields { height: auto; layout: grid; grid-size: 4; grid-rows: 3; }
    AskScreen #ask-routing { padding: 0 1; background: $panel; height: auto; }
    AskScreen #ask-answer { height: 1fr; }
    AskScreen #ask-hits { height: 1fr; }
    """

    def __init__(self, *, text: str | None = None, advisor: str | None = None,
                 run: str | Path | None = None) -> None:
        super().__init__()
        self.start_text = text or ""
        self.start_advisor = advisor_info(advisor).id if advisor else AUTO
        self.run_path = Path(run) if run else None
        if self.run_path is not None and not self.run_path.exists():
            raise NtTuiError(f"no run at {self.run_path}",
                             hint="give a run directory or a log file")
        self.result = None
        self.serial = 0

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="ask-row"):
            yield Input(self.start_text, id="ask-text",
                        placeholder='Ask: "my loss went to nan after 3k steps", "LoRA for a '
                                    '13B model on 24GB"')
            yield Select([("Auto", AUTO)] +
                         [(advisor.title, advisor.id) for advisor in ADVISORS],
                         value=self.start_advisor, allow_blank=False, id="ask-advisor")
        with Collapsible(title="Numbers (optional; the question's own numbers are read too)",
                         collapsed=True, id="ask-numbers"):
            with Horizontal(id="ask-fields"):
                for field_id, _, _, placeholder in FIELDS:
                    yield Input(id=field_id, placeholder=placeholder)
        yield Static(self._intro(), id="ask-routing")
        with VerticalScroll(id="ask-answer"):
            yield Markdown("", id="ask-markdown", open_links=False)
        yield OptionList(id="ask-hits")
        yield Footer()

    def _intro(self) -> Content:
        run = f" Run: {self.run_path}." if self.run_path else ""
        return Content("Type a question and press Enter. Four advisors answer: "
                       + ", ".join(a.title for a in ADVISORS) + "." + run)

    def on_mount(self) -> None:
        self.query_one("#ask-hits").display = False
        self.query_one("#ask-text", Input).focus()
        if self.start_text or self.run_path is not None:
            self.submit()

    def action_focus_question(self) -> None:
        self.query_one("#ask-text", Input).focus()

    # -- asking ---------------------------------------------------------------------------

    @on(Input.Submitted)
    def _submitted(self, _: Input.Submitted) -> None:
        self.submit()

    def submit(self) -> None:
        """Ask the current question (in a worker); bad numbers are reported at once."""
        text = self.query_one("#ask-text", Input).value.strip()
        advisor = self.query_one("#ask-advisor", Select).value
        try:
            options = self.options()
        except NtTuiError as exc:
            self.notify(exc.one_line(), title="Cannot read", severity="error")
            return
        if not text and advisor == AUTO and self.run_path is None:
            self.notify("Type a question first.", severity="warning")
            return
        self.serial += 1
        self.query_one("#ask-routing", Static).update(Content("Thinking..."))
        self._ask(text, None if advisor == AUTO else str(advisor), options, self.serial)

    def options(self) -> AdvisorInputs:
        """The optional number fields as AdvisorInputs (NtTuiError for unreadable ones)."""
        from nt_tui.scaling.quantities import parse_count

        options = AdvisorInputs()
        for field_id, name, kind, placeholder in FIELDS:
            raw = self.query_one(f"#{field_id}", Input).value.strip()
            if not raw:
                continue
            try:
                value = (parse_count(raw, placeholder.split(",")[0]) if kind == "count"
                         else int(raw) if kind == "int" else float(raw))
            except ValueError as exc:
                raise NtTuiError(f"{placeholder.split(',')[0]}: cannot read {raw!r}",
                                 hint=placeholder) from exc
            if not value > 0:
                raise NtTuiError(f"{placeholder.split(',')[0]} must be positive, got {raw}",
                                 hint=placeholder)
            setattr(options, name, value)
        return options

    @work(thread=True, exclusive=True, exit_on_error=False, group="ask")
    def _ask(self, text: str, advisor: str | None, options: AdvisorInputs,
             serial: int) -> None:
        from nt_tui.advisors import ask

        try:
            result = ask(text, advisor=advisor, options=options, run=self.run_path)
        except NtTuiError as exc:
            self.post_message(AskFailed(exc, serial))
            return
        self.post_message(Answered(result, serial))

    @on(AskFailed)
    def _failed(self, message: AskFailed) -> None:
        if message.serial == self.serial:
            self.query_one("#ask-routing", Static).update(Content(message.error.one_line()))
            self.notify(message.error.one_line(), title="Cannot answer", severity="error")

    @on(Answered)
    async def _answered(self, message: Answered) -> None:
        if message.serial != self.serial:
            return
        self.result = result = message.result
        markdown = self.query_one("#ask-markdown", Markdown)
        hits = self.query_one("#ask-hits", OptionList)
        routing = self.query_one("#ask-routing", Static)
        if result.answer is None:
            routing.update(Content("No advisor matched; the closest knowledge sections "
                                   "(Enter opens one):"))
            hits.clear_options()
            hits.add_options(Option(Content.from_markup(
                "[b]$title[/b]  [dim]$link[/dim]\n$snippet", title=hit.section.title,
                link=hit.link, snippet=hit.marked_snippet("", "")[:160]), id=hit.link)
                for hit in result.hits)
            hits.display = True
            self.query_one("#ask-answer").display = False
            await markdown.update("")
            return
        answer = result.answer
        how = ("chosen" if self.query_one("#ask-advisor", Select).value != AUTO
               else f"matched: {', '.join(answer.matched_terms)}" if answer.matched_terms
               else "from the run")
        offers = getattr(result, "offers", [])
        extra = ("   Run events: " + "; ".join(o.question for o in offers[:3])) if offers else ""
        routing.update(Content(f"{answer.title} ({how}). Sources open the knowledge "
                               f"browser.{extra}"))
        hits.display = False
        self.query_one("#ask-answer").display = True
        await markdown.update(answer.render_markdown())
        self.query_one("#ask-answer", VerticalScroll).scroll_home(animate=False)

    @on(Markdown.LinkClicked)
    def _link_clicked(self, event: Markdown.LinkClicked) -> None:
        event.stop()
        self.app.open_knowledge(event.href)

    @on(OptionList.OptionSelected, "#ask-hits")
    def _hit_selected(self, event: OptionList.OptionSelected) -> None:
        text = self.query_one("#ask-text", Input).value.strip()
        self.app.open_area("knowledge", link=event.option.id, query=text or None)
