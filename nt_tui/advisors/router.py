"""Route a free-text question to one of the four advisors by keywords and phrases.

The seed's auto-activation table, as weighted patterns:

    loss plateau, NaN, gradient issues, not converging   -> diagnostician
    scaling, compute-optimal, model size, Chinchilla      -> scaling advisor
    learning rate, optimizer, warmup, schedule            -> optimization guru
    fine-tuning, LoRA, QLoRA, RLHF, DPO                   -> fine-tuning advisor

Each advisor scores the sum of the weights of its patterns found in the question; the highest
score wins if it reaches MIN_SCORE, ties going to the more specific advisor (the order of
ADVISOR_ORDER). Below MIN_SCORE there is no route and the caller falls back to knowledge
search. Symptoms weigh more than tuning words, so "loss is NaN, should I lower the LR?" goes
to the diagnostician; named techniques weigh more than generic words, so "learning rate for
LoRA" goes to the fine-tuning advisor. Accuracy on tests/data/routing_phrases.yaml is in
docs/advisors.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nt_tui.errors import NtTuiError

if TYPE_CHECKING:
    from nt_tui.knowledge import KnowledgeBase

#: Ties go to the first of these (most specific first).
ADVISOR_ORDER = ("diagnostician", "finetuning", "scaling", "optimization")
#: The least total weight that routes a question; below it, knowledge search answers. One
#: strong word (weight 3) is enough; a weak one (1) alone is not.
MIN_SCORE = 2.0

STRONG, MEDIUM, WEAK = 3.0, 2.0, 1.0
#: A symptom outweighs two strong tuning words: "loss diverges after warmup, lr 3e-3" is a
#: diagnosis question that happens to name the LR and warmup.
SYMPTOM = 6.5
#: A budget stated in numbers (FLOPs, GPUs x time, model size and tokens) points to the
#: scaling advisor this much, on top of its words.
BUDGET_WEIGHT = 2.0

#: The knowledge document each advisor draws on; transformer-training.md has no advisor, so
#: questions about it are answered by search.
DOCUMENT_ADVISORS = {"common-failures.md": "diagnostician", "scaling-laws.md": "scaling",
                     "optimizer-guide.md": "optimization",
                     "fine-tuning-techniques.md": "finetuning"}
#: The document vote counts the best VOTE_HITS sections; one document needs this share of
#: their total score (nt-tui's choice: a majority).
VOTE_HITS = 5
DOCUMENT_SHARE = 0.5
#: Questions asking what something is go to knowledge search unless a keyword routes them.
DEFINITION = re.compile(
    r"^(what('s| is| are| does)|explain|define|describe|tell me about|difference between|"
    r"how does \S+( \S+)? work)\b")

#: advisor -> (regex, weight). Patterns run on the lower-cased question with single spaces.
TRIGGERS: dict[str, tuple[tuple[str, float], ...]] = {
    "diagnostician": (
        (r"\bnan(s)?\b|\bnot a number\b|\binf(inity)?\b(?! ?-?aware)|\binfs\b", SYMPTOM),
        (r"\bplateau(s|ed|ing)?\b", SYMPTOM),
        (r"\bdiverg(e|es|ed|ing|ence)\b", SYMPTOM),
        (r"\bspik(e|es|ed|ing|y)\b", SYMPTOM),
        (r"\bexplod(e|es|ed|ing)\b|\bexplosion\b|\bblew up\b|\bblow(s|ing)? up\b", SYMPTOM),
        (r"\bvanish(ing|es|ed)?\b", SYMPTOM),
        (r"\b(not|isn'?t|doesn'?t|don'?t|won'?t|never|fails? to|stopped|stops) "
         r"(\w+ )?(converg\w*|learning|learn|improv\w*|decreas\w*|go(es|ing)? down|drop\w*|"
         r"mov(e|ing)|train\w*)\b", SYMPTOM),
        (r"\bstuck\b|\bflat(lin\w*)?\b|\bstagnat\w*", STRONG),
        (r"\bunstable\b|\binstabilit(y|ies)\b|\boscillat\w*|\berratic\b|\bnoisy loss\b", STRONG),
        (r"\boverfit\w*|\bunderfit\w*|\bover-fit\w*", SYMPTOM),
        (r"\b(val(idation)?|eval|test) (loss|accuracy|error) (is )?(goes |going |went |keeps )?"
         r"(up|increas\w*|ris\w*|higher|worse|lower)", SYMPTOM),
        (r"\bloss (is |keeps |went |goes |going )?(up|increas\w*|jump\w*|ris\w*|high)\b",
         STRONG),
        (r"\bgrad(ient)?s? (norm )?(is |are )?(zero|none|huge|tiny|large|small|exploding)\b|"
         r"\bzero grad(ient)?s\b|\bdead (relu|neuron|unit)s?\b", STRONG),
        (r"\bgrad(ient)?[- ]norm\b|\bgradient issue\w*|\bgradient problem\w*", MEDIUM),
        (r"\bdiagnos\w*|\bdebug\w*|\bwhat'?s wrong\b|\bwhat went wrong\b|\bwrong with\b|"
         r"\bbroken\b|\bbug\b|\bsomething('?s| is)? (off|wrong)\b|\bjump\w* around\b", STRONG),
        (r"\bslow(ly)? (decreas\w*|converg\w*|progress\w*)|"
         r"\b(decreas\w*|converg\w*|improv\w*|learn\w*) (very |too |so )?slow(ly)?\b|"
         r"\b(training|run) is slow\b|"
         r"\bslow training\b|\bthroughput\b|\bgpu utili[sz]ation\b|\btokens? per sec\w*|"
         r"\bit/s\b|\bsamples? per sec\w*", STRONG),
        (r"\bleak(age|ing|ed)?\b|\bshuffl\w*|\boutlier\w*|\bbad batch\w*", MEDIUM),
        (r"\b(loss|perplexity|ppl|error|grad(ient)? norm)s? (\w+ )?(keeps |is |went |goes )?"
         r"(ris\w*|increas\w*|climb\w*|shoot\w* up|shot up|going up|grow\w*)\b|"
         r"\b(training|loss|run|model) (\w+ )?collaps\w*", SYMPTOM),
        (r"\b(way |too |very |so )slow\b|\bseconds? per (step|iteration)\b|\bs/(step|it)\b|"
         r"\bstep takes\b|\bslower than\b", STRONG),
        (r"\bloss curve\b|\bmy run\b|\bmy loss\b|\bloss went\b", WEAK),
    ),
    "scaling": (
        (r"\bscaling[- ]laws?\b|\bscaling (advisor|calculator)\b|\bpower[- ]law\b", STRONG),
        (r"\bcompute[- ]optimal\b|\bchinchilla\b|\bkaplan\b|\bhoffmann\b|\bisoflop\w*", STRONG),
        (r"\bhow (big|large) (a |of a |should )?(the )?model\b|\bwhat size (of )?model\b|"
         r"\bmodel size\b|\bsize (of )?(the |my )?model\b|\bhow many param\w*|"
         r"\bnumber of param\w*|\bhow many (training )?tokens\b|\bbigger model\b|"
         r"\blarger model\b|\bsmaller model\b|\b(model|it)( is)? too (small|big|large)\b", STRONG),
        (r"\btokens? per param\w*|\bflops?\b|\bcompute budget\b|\bpf-?days?\b|"
         r"\bgpu[- ]hours?\b|\btraining budget\b|\bbudget\b", STRONG),
        (r"\bdata[- ]constrained\b|\brepeat(ed|ing)? (the )?data\b|\bhow many epochs\b|"
         r"\bepochs over\b|\bunique tokens\b|\bmore data\b|\bmore tokens\b", MEDIUM),
        (r"\bscal(e|ing) up\b|\bscaling\b|\bextrapolat\w*|\bpredict(ed)? (the )?(final )?loss\b"
         r"|\bparametric loss\b|\bloss prediction\b|\bemergen\w*|\binference[- ]aware\b", MEDIUM),
        (r"\bunder-?trained\b|\bover-?trained\b|\bhow long (will|would|does) (it|training)\b|"
         r"\bhow much compute\b|\bwhat (model )?should (we|i) train\b|\btrain (a |an )?"
         r"\d+(\.\d+)?\s?[bm] model (for|on)\b|\brepeat\w* (my |the |our )?\S+ tokens\b", MEDIUM),
    ),
    "optimization": (
        (r"\blearning[- ]rates?\b|\blr\b|\blrs\b", STRONG),
        (r"\boptimi[sz]er\w*|\badamw?\b|\bsgd\b|\blion\b|\bsophia\b|\badafactor\b|"
         r"\brmsprop\b|\b8-?bit adam\b", STRONG),
        (r"\bwarm[- ]?ups?\b|\bwarming up\b", STRONG),
        (r"\bschedul\w*|\bcosine\b|\bwsd\b|\bwarmup-stable-decay\b|\blr decay\b|"
         r"\bdecay (the |my )?(lr|learning rate)\b", STRONG),
        (r"\bweight[- ]decay\b|\bbetas?\b|\bbeta[12]\b|\bmomentum\b|\bepsilon\b|\beps\b",
         STRONG),
        (r"\bgrad(ient)? accum\w*|\baccumulat\w* (the )?grad\w*|\baccumulation steps\b|"
         r"\blinear scaling rule\b|"
         r"\bsquare[- ]root scaling\b|\bbatch[- ]size\b|\beffective batch\b|\bglobal batch\b|"
         r"\bcritical batch\b", STRONG),
        (r"\bhyper-?param\w*|\blr (finder|range test)\b|\bclip(ping)?\b|\bmax[- ]grad[- ]norm\b",
         MEDIUM),
    ),
    "finetuning": (
        (r"\bq-?lora\b|\blora\b|\bpeft\b|\bdora\b", 5.0),
        (r"\brlhf\b|\bdpo\b|\bppo\b|\borpo\b|\bkto\b|\breward model\w*|"
         r"\bpreference (data|tuning|optimi[sz]ation|pairs|alignment)\b", 5.0),
        (r"\bfine[- ]?tun\w*|\bfinetun\w*|\bsft\b|\binstruction[- ]tun\w*|"
         r"\bsupervised fine\w*", STRONG),
        (r"\badapters?\b|\blow[- ]rank\b|\btarget[_ ]modules\b|\blora (rank|alpha)\b|"
         r"\brank and alpha\b|\bnf4\b|\b4-?bit\b|\bquantiz\w*|\bquantis\w*", STRONG),
        (r"\bcatastrophic forgetting\b|\bforget(s|ting)?\b|\balign(ment|ing)?\b|"
         r"\bpre-?trained (model|checkpoint|weights)\b|\bcontinued pre-?training\b|"
         r"\bdomain adaptation\b|\bbase model\b|\bhugging ?face model\b", MEDIUM),
        (r"\bfits? (on|in|into)\b.*(\bgpu|\d\s*gb\b|\bvram\b)|\bvram\b|\bout of memory\b|\boom\b",
         MEDIUM),
    ),
}
_COMPILED = {advisor: tuple((re.compile(pattern), weight) for pattern, weight in triggers)
             for advisor, triggers in TRIGGERS.items()}


@dataclass(frozen=True)
class Routing:
    """Where a question goes: an advisor id or None (knowledge search), and why."""

    text: str
    advisor: str | None
    #: the words of the question that matched, for the chosen advisor
    matched: tuple[str, ...]
    #: advisor -> total weight
    scores: dict[str, float]


def _budget_signals(question: str) -> list[str]:
    """Quantities that only a sizing question states: a FLOP budget, GPUs for a duration, a
    GPU-hour budget, or both a model size and a token count."""
    from nt_tui.advisors.inputs import extract_inputs

    found = extract_inputs(question)
    signals = []
    if found.compute is not None:
        signals.append("FLOP budget")
    if found.gpu_hours is not None or (found.gpus is not None and found.hours is not None):
        signals.append("GPU budget")
    if found.params is not None and found.dataset_tokens is not None:
        signals.append("model size and tokens")
    return signals


def normalise(text: str) -> str:
    """Lower case, typographic quotes made plain, runs of whitespace made one space."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(text.split())


def route(text: str, knowledge: "KnowledgeBase | None" = None) -> Routing:
    """The advisor for `text` and the words that chose it.

    Keywords first; when none reaches MIN_SCORE and the question is not a definition ("what
    is RoPE"), the knowledge documents vote: if most of the search score of the best
    sections lies in one advisor's document, that advisor answers. Otherwise None: the
    caller shows knowledge search results. `knowledge` defaults to the shipped documents.
    """
    question = normalise(text)
    scores: dict[str, float] = {}
    matched: dict[str, list[str]] = {}
    for advisor in ADVISOR_ORDER:
        total, words = 0.0, []
        for pattern, weight in _COMPILED[advisor]:
            found = pattern.search(question)
            if found:
                total += weight
                words.append(found.group(0))
        scores[advisor], matched[advisor] = total, words
    for label in _budget_signals(question):
        scores["scaling"] += BUDGET_WEIGHT
        matched["scaling"].append(label)
    best = max(ADVISOR_ORDER, key=lambda a: (scores[a], -ADVISOR_ORDER.index(a)))
    if scores[best] >= MIN_SCORE:
        return Routing(text, best, tuple(dict.fromkeys(matched[best])), scores)
    if not DEFINITION.search(question):
        voted = _document_vote(question, knowledge)
        if voted is not None:
            advisor, words = voted
            return Routing(text, advisor, words, scores)
    return Routing(text, None, (), scores)


def _document_vote(question: str, knowledge: "KnowledgeBase | None"
                   ) -> tuple[str, tuple[str, ...]] | None:
    """The advisor whose document holds most of the search score of the question's best
    sections, when one document holds at least DOCUMENT_SHARE of it."""
    from nt_tui.knowledge import load_knowledge

    try:
        hits = (knowledge or load_knowledge()).search(question, limit=VOTE_HITS)
    except NtTuiError:
        return None
    votes: dict[str, float] = {}
    for hit in hits:
        votes[hit.section.document] = votes.get(hit.section.document, 0.0) + hit.score
    total = sum(votes.values())
    if not total:
        return None
    document = max(votes, key=votes.get)
    advisor = DOCUMENT_ADVISORS.get(document)
    if advisor is None or votes[document] / total < DOCUMENT_SHARE:
        return None
    best = next(hit for hit in hits if hit.section.document == document)
    return advisor, (*best.matched, f"via {best.link}")
