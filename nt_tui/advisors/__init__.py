"""The four advisors and the ask router: answers from rules, calculators and the documents.

    from nt_tui.advisors import ask
    result = ask("my loss went to nan after 3k steps")
    result.answer.render_text()        # the diagnostician's answer
    result.routing.matched             # ('nan', ...): the words that chose it
    ask("what is RoPE").hits           # no advisor: knowledge search results instead

No language model: `router.route` picks the advisor by weighted keywords (and, failing those,
by which advisor's document the question's best sections sit in); each advisor computes its
answer with nt-tui's calculators (scaling laws, the optimizer size table, memory rules, the
diagnosis engine) and quotes its actions and checks from the knowledge documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nt_tui.advisors.activation import Offer, offers_for_events
from nt_tui.advisors.answer import Answer, Number, Table
from nt_tui.advisors.base import ADVISORS, ADVISORS_BY_ID, AdvisorInfo, advisor_info
from nt_tui.advisors.inputs import AdvisorInputs, extract_inputs
from nt_tui.advisors.router import Routing, route
from nt_tui.errors import NtTuiError

if TYPE_CHECKING:
    from nt_tui.knowledge import KnowledgeBase, SearchHit
    from nt_tui.runlogs.history import RunHistory

__all__ = ["ADVISORS", "ADVISORS_BY_ID", "AdvisorInfo", "AdvisorInputs", "Answer", "AskResult",
           "Number", "Routing", "Table", "advisor_info", "answer_with", "ask",
           "extract_inputs", "route"]
#: Knowledge hits shown when no advisor answers.
FALLBACK_HITS = 8


@dataclass
class AskResult:
    """What the ask box shows: the routing, and an answer or knowledge search hits."""

    routing: Routing
    inputs: AdvisorInputs
    answer: Answer | None = None
    hits: list["SearchHit"] = field(default_factory=list)
    #: the run's warning events that call for the diagnostician (auto-activation)
    offers: list[Offer] = field(default_factory=list)


def answer_with(advisor: str, inputs: AdvisorInputs,
                history: "RunHistory | None" = None) -> Answer:
    """The answer of one advisor (id, title or alias) for `inputs`."""
    from nt_tui.advisors import diagnostician, finetuning, optimization, scaling

    advisor_id = advisor_info(advisor).id
    if advisor_id == "diagnostician":
        return diagnostician.advise(inputs, history)
    module = {"scaling": scaling, "optimization": optimization,
              "finetuning": finetuning}[advisor_id]
    return module.advise(inputs)


def gather_inputs(text: str, options: AdvisorInputs | None = None, run: Path | None = None,
                  history: "RunHistory | None" = None) -> AdvisorInputs:
    """The question's numbers, overridden by `options`, completed from the run's config."""
    from nt_tui.advisors.inputs import inputs_from_run

    inputs = extract_inputs(text)
    if options is not None:
        inputs.merge(options, "option")
    if run is not None:
        inputs.run = Path(run)
        inputs.merge(inputs_from_run(Path(run), history), "run", overwrite=False)
    return inputs


def ask(text: str, *, advisor: str | None = None, options: AdvisorInputs | None = None,
        run: Path | None = None, history: "RunHistory | None" = None,
        knowledge: "KnowledgeBase | None" = None) -> AskResult:
    """Route `text` (or use `advisor`) and answer; without a route, search the knowledge."""
    if not text.strip() and advisor is None and run is None:
        raise NtTuiError("nothing to ask", hint='write a question, e.g. nt-tui ask "what '
                                                 'learning rate for a 350M model?"')
    if run is not None and history is None:
        from nt_tui.runlogs import load_run

        history = load_run(Path(run))
    inputs = gather_inputs(text, options, run, history)
    offers = offers_for_events(history.events) if history is not None else []
    routing = route(text, knowledge) if text.strip() else Routing(text, None, (), {})
    chosen = advisor_info(advisor).id if advisor else routing.advisor
    if chosen is None and history is not None and (offers or not text.strip()):
        chosen = "diagnostician"  # the run's events (or a bare run) call for it
    if chosen is None:
        from nt_tui.knowledge import load_knowledge

        hits = (knowledge or load_knowledge()).search(text, limit=FALLBACK_HITS)
        return AskResult(routing, inputs, None, hits, offers)
    answer = answer_with(chosen, inputs, history)
    if chosen == routing.advisor:
        answer.matched_terms = routing.matched
    if chosen == "diagnostician":
        answer.observed += [f"Run warning: {offer.question}" for offer in offers]
    return AskResult(routing, inputs, answer, offers=offers)
