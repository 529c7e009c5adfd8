"""The diagnostician: likely causes of a training problem, from a description or a run.

With a run (`--run PATH`, or the app's current run) it hands the log to nt-tui's diagnosis
engine (nt_tui.analysis.diagnosis), which measures the curves and ranks every cause with a
calibrated confidence; symptoms named in the question are passed along. With a description
alone it reads the symptoms from the words (the seed's symptom table: each symptom points to
its causes, most likely first), adjusts for the clues the text gives (fp16, "right after
warmup", "gradient norm was normal", a learning rate far from the size table, the step the
problem appeared at) and caps the confidence, because nothing was measured. Actions and checks
come from the cause's section in knowledge/common-failures.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nt_tui.advisors.answer import Answer, Number
from nt_tui.advisors.base import doc_items, sig
from nt_tui.advisors.inputs import AdvisorInputs
from nt_tui.analysis.diagnosis.vocabulary import CAUSES_BY_ID, SYMPTOMS_BY_ID
from nt_tui.config.defaults import size_defaults, warmup_steps_for, WARMUP_CAP_STEPS

if TYPE_CHECKING:
    from nt_tui.analysis.diagnosis.core import Diagnosis
    from nt_tui.runlogs.history import RunHistory

ADVISOR_ID = "diagnostician"
TITLE = "Diagnostician"
#: Without measurements a description can only suggest: confidence never exceeds this.
TEXT_ONLY_CONFIDENCE_CAP = 0.6
#: Strength a symptom gives its causes, in the order the symptom table lists them.
SYMPTOM_CAUSE_WEIGHTS = (1.0, 0.75, 0.55, 0.4, 0.3)
#: A learning rate this many times above (below) the size table points to lr_too_high (low):
#: the common-failures.md fixes move the LR by 3-10x.
LR_OFF_TABLE_FACTOR = 3.0
#: Most alternatives listed.
MAX_ALTERNATIVES = 3

#: Causes a description can point to beyond the diagnosis contract's ids.
EXTRA_CAUSES = {
    "silent_errors": ("Silent error (a bug in the training loop)",
                      "common-failures.md#silent-errors"),
    "slow_training": ("Slow training (input pipeline, precision, kernels)",
                      "common-failures.md#slow-training"),
}
#: The symptom's own section, cited beside the cause's.
SYMPTOM_SECTIONS = {
    "loss_plateau": "common-failures.md#loss-plateau",
    "slow_decrease": "common-failures.md#slow-decrease",
    "loss_unstable": "common-failures.md#loss-spikes",
    "loss_nan": "common-failures.md#nan-or-inf-loss",
    "gradient_explosion": "common-failures.md#exploding-gradients",
    "gradient_vanishing": "common-failures.md#vanishing-gradients",
    "overfitting": "common-failures.md#overfitting",
    "slow_training": "common-failures.md#slow-training",
}
#: Symptom -> the words that name it.
SYMPTOM_WORDS = {
    "loss_nan": r"\bnan|\binfs?\b|infinity|not a number",
    "gradient_explosion": r"explod|explosion|blew up|blow(s|ing)? up|grad(ient)?s?( norm)? "
                         r"(is |are |was |keeps )?(huge|large|spik\w*|grow\w*|ris\w*)",
    "gradient_vanishing": r"vanish|zero grad|grad(ient)?s?( norm)? (is |are )?(zero|tiny|0)\b|"
                          r"dead (relu|unit|neuron)",
    "loss_unstable": r"spik|unstable|instabil|oscillat|diverg|jump|erratic|shoot|shot up|"
                     r"collaps",
    "overfitting": r"overfit|(val\w*|eval\w*|test) (loss|perplexity|ppl|error|accuracy)"
                   r".{0,30}(up|increas|ris|climb|worse)|train\w* accuracy .*valid\w* accuracy",
    "loss_plateau": r"plateau|stuck|\bflat|stagnat|not (decreasing|improving|moving|going down"
                    r"|learning)|stopped (improving|decreasing|learning)|won'?t (drop|go)|"
                    r"never (goes|went) down|isn'?t learning|doesn'?t (converge|learn)|"
                    r"not converg|exactly the same",
    "slow_decrease": r"slow(ly)? decreas|decreas\w* (very |too )?slow|barely (decreas|mov)|"
                     r"converg\w* (very |too )?slow",
    "slow_training": r"slow training|training is slow|throughput|tokens? per sec|utili[sz]ation|"
                     r"bottleneck|\bidle\b|too slow|seconds? per step|step takes",
}


@dataclass(frozen=True)
class Clue:
    """Words in a description that shift the causes, and what the answer says about them."""

    pattern: str
    shifts: dict[str, float]
    note: str


CLUES: tuple[Clue, ...] = (
    Clue(r"\bfp16\b|float16|half[- ]precision|\bamp\b",
         {"numerical_instability": 0.5},
         "you train in fp16, whose largest value is 65,504"),
    Clue(r"custom loss|\blog\(|log of|softmax.{0,20}\blog\b|divid|division",
         {"numerical_instability": 0.5},
         "a hand-written loss or division can produce log(0) or 0/0"),
    Clue(r"grad(ient)?( norm)? (was |is |looked |looks |stayed )?(normal|fine|ok|healthy|stable)",
         {"numerical_instability": 0.6, "exploding_gradients": -0.4},
         "the gradient norm looked normal before the problem"),
    Clue(r"grad(ient)?( norm)? (was |is |kept |keeps )?(grow|ris|huge|explod|spik|increas)",
         {"exploding_gradients": 0.6},
         "the gradient norm grew before the problem"),
    Clue(r"no warm-?up|without (a )?warm-?up|short warm-?up|warm-?up (is |was )?(too )?short|"
         r"first (few )?(steps|batch|iterations)|from the (very )?(start|first step)|"
         r"at the (start|beginning)|early in training|first batch",
         {"insufficient_warmup": 0.4, "bad_initialization": 0.2},
         "the problem appeared at the very start of training"),
    Clue(r"after (the )?warm-?up|warm-?up end|end of (the )?warm-?up",
         {"lr_too_high": 0.5},
         "the problem started when warmup ended and the LR reached its peak"),
    Clue(r"\b(lr|learning rate) (is |was |seems )?(too )?(high|large|big)|(high|large|raised|"
         r"increased|doubled) (the )?(lr|learning rate)",
         {"lr_too_high": 0.5}, "you suspect or raised a high learning rate"),
    Clue(r"\b(lr|learning rate) (is |was |seems )?(too )?(low|small)|(lowered|decreased|tiny) "
         r"(the )?(lr|learning rate)",
         {"lr_too_low": 0.5}, "you suspect a low learning rate"),
    Clue(r"\b(lr|learning rate) (is |was )?(near |almost |at )?(zero|0\b|its floor|min)|"
         r"end of (the )?schedule|schedule (ended|finished|exhausted)|lr decayed",
         {"schedule_exhausted": 0.8}, "the learning rate has decayed to (near) zero"),
    Clue(r"exactly the same|loss (is |stays )?constant|(weights|parameters?) (don'?t|do not|never)"
         r" change|frozen|requires_grad|zero_grad|forgot (to call )?optimizer",
         {"silent_errors": 1.2}, "something does not change at all: typical of a bug"),
    Clue(r"every epoch|each epoch|periodic|sawtooth|sorted|same order",
         {"data_not_shuffled": 0.6}, "the pattern repeats with the data order"),
    Clue(r"(val\w*|eval\w*) (loss )?(is )?(lower|below|better) than (the )?train|too good to be "
         r"true|suspicious",
         {"label_leakage": 0.8}, "validation looks better than training"),
    Clue(r"start\w* (at|around|near) \d+\S*.{0,30}(too high|high)|initial loss (is |was )?"
         r"(too |way |very )?high|way too high",
         {"bad_initialization": 0.8}, "the loss starts far above ln(vocabulary size)"),
    Clue(r"bad batch|corrupt|outlier|specific batch|same batch|recover",
         {"data_outlier": 0.5}, "spikes tied to particular batches, or that recover"),
    Clue(r"small dataset|few (hundred|thousand)? ?examples|tiny dataset|many epochs",
         {"overfitting": 0.3}, "a small dataset seen for many epochs"),
    Clue(r"model (is )?(too )?small|tiny model", {"underfitting": 0.4},
         "the model may be too small for the data"),
    Clue(r"resum", {"silent_errors": 0.4},
         "after a resume, a jump means the optimizer or scheduler state was not restored"),
    Clue(r"data ?loader|num_workers|\bidle\b|utili[sz]ation", {"slow_training": 0.4},
         "the GPU waits for data"),
)
_SYMPTOM_RE = {name: re.compile(pattern) for name, pattern in SYMPTOM_WORDS.items()}
_CLUE_RE = tuple((re.compile(clue.pattern), clue) for clue in CLUES)


def cause_title(cause: str) -> str:
    return CAUSES_BY_ID[cause].title if cause in CAUSES_BY_ID else EXTRA_CAUSES[cause][0]


def cause_link(cause: str) -> str:
    return CAUSES_BY_ID[cause].knowledge if cause in CAUSES_BY_ID else EXTRA_CAUSES[cause][1]


def symptoms_in(text: str) -> list[str]:
    """The wizard symptoms a description names, in wizard order."""
    lowered = " ".join(text.lower().split())
    return [name for name in SYMPTOM_WORDS if _SYMPTOM_RE[name].search(lowered)]


def advise(inputs: AdvisorInputs, history: "RunHistory | None" = None) -> Answer:
    """Diagnose from a run (history, or inputs.run) when there is one, else from the text."""
    if history is not None or inputs.run is not None:
        return advise_run(inputs, history)
    return advise_text(inputs)


def advise_text(inputs: AdvisorInputs) -> Answer:
    """Likely causes from a description alone (confidence capped: nothing was measured)."""
    text = " ".join(inputs.text.lower().split())
    symptoms = symptoms_in(text)
    scores: dict[str, float] = {}
    for symptom in symptoms:
        causes = SYMPTOMS_BY_ID[symptom].causes if symptom in SYMPTOMS_BY_ID else ()
        if symptom == "slow_training":
            causes = ("slow_training",)
        for weight, cause in zip(SYMPTOM_CAUSE_WEIGHTS, causes):
            scores[cause] = scores.get(cause, 0.0) + weight
    observed = [f"{SYMPTOMS_BY_ID[s].label} (from your words)" for s in symptoms]
    notes = []
    for pattern, clue in _CLUE_RE:
        if pattern.search(text):
            notes.append(clue.note)
            for cause, shift in clue.shifts.items():
                scores[cause] = scores.get(cause, 0.0) + shift
    numbers = _text_numbers(inputs, scores, notes)
    observed += [f"Clue: {note}" for note in notes]
    ranked = sorted(((c, s) for c, s in scores.items() if s > 0), key=lambda item: -item[1])
    if not ranked:
        return _nothing_recognised(inputs, observed)
    total = sum(score for _, score in ranked)
    top, top_score = ranked[0]
    confidence = min(TEXT_ONLY_CONFIDENCE_CAP, top_score / total)
    alternatives = [f"{cause_title(c)} ({min(TEXT_ONLY_CONFIDENCE_CAP, s / total):.2f}): see "
                    f"{cause_link(c)}" for c, s in ranked[1:1 + MAX_ALTERNATIVES]]
    citations = list(dict.fromkeys(
        [cause_link(top)] + [SYMPTOM_SECTIONS[s] for s in symptoms if s in SYMPTOM_SECTIONS]
        + [cause_link(c) for c, _ in ranked[1:1 + MAX_ALTERNATIVES]]))
    return Answer(
        advisor=ADVISOR_ID, title=TITLE, question=inputs.text, observed=observed,
        headline_label="Likely cause",
        recommendation=f"{cause_title(top)}. {_why(top, symptoms)}",
        confidence=confidence, alternatives=alternatives,
        action=doc_items(cause_link(top), "Fix") or [_fallback_fix(top)],
        verify=(doc_items(cause_link(top), "How to confirm")
                or ["Rerun a short branch with the fix and compare the curves."]) +
               [f"For measured evidence, run: nt-tui diagnose RUN_DIR (or nt-tui ask --run "
                f"RUN_DIR \"{inputs.text}\")"],
        citations=citations, numbers=numbers)


def _text_numbers(inputs: AdvisorInputs, scores: dict[str, float], notes: list[str]
                  ) -> list[Number]:
    """Numbers the description allows: the step against the warmup rule, the LR against the
    size table. They also shift the causes."""
    numbers = []
    if inputs.at_step is not None:
        warmup = warmup_steps_for(int(inputs.steps)) if inputs.steps else WARMUP_CAP_STEPS
        how = (f"min({WARMUP_CAP_STEPS}, 10% of {int(inputs.steps):,} steps)" if inputs.steps
               else f"at most {WARMUP_CAP_STEPS:,} steps by nt-tui's rule")
        numbers += [Number("step of the problem", f"{inputs.at_step:,.0f}", "from your words"),
                    Number("warmup ends by", f"{warmup:,} steps", how)]
        if inputs.at_step <= warmup:
            scores["insufficient_warmup"] = scores.get("insufficient_warmup", 0.0) + 0.3
            notes.append(f"step {inputs.at_step:,.0f} is within the warmup window")
        elif "insufficient_warmup" in scores:
            scores["insufficient_warmup"] *= 0.5
            notes.append(f"step {inputs.at_step:,.0f} is past any warmup of nt-tui's rule, so "
                         "warmup is a less likely cause")
    if inputs.lr is not None and inputs.params is not None:
        row = size_defaults(inputs.params)
        ratio = inputs.lr / row.lr
        numbers += [Number("your learning rate", sig(inputs.lr), inputs.source_of("lr")),
                    Number(f"size-table LR ({row.label})", sig(row.lr),
                           "optimizer-guide.md#learning-rate-and-weight-decay-by-model-size"),
                    Number("ratio to the table", f"{ratio:.2g}x", "your LR / table LR")]
        if ratio >= LR_OFF_TABLE_FACTOR:
            scores["lr_too_high"] = scores.get("lr_too_high", 0.0) + 0.4
            notes.append(f"your LR is {ratio:.1f}x the size table's")
        elif ratio <= 1 / LR_OFF_TABLE_FACTOR:
            scores["lr_too_low"] = scores.get("lr_too_low", 0.0) + 0.4
            notes.append(f"your LR is {1 / ratio:.1f}x below the size table's")
    return numbers


def _why(cause: str, symptoms: list[str]) -> str:
    named = ", ".join(SYMPTOMS_BY_ID[s].label.lower() for s in symptoms if s in SYMPTOMS_BY_ID)
    base = (f"It is the first cause the symptom table lists for {named}"
            if named else "It is what the clues in your description point to")
    return base + ", adjusted for the clues above. Confirm it with the checks below before " \
                  "changing the recipe."


def _fallback_fix(cause: str) -> str:
    return f"Follow the Fix list in {cause_link(cause)}."


def _nothing_recognised(inputs: AdvisorInputs, observed: list[str]) -> Answer:
    link = "common-failures.md#healthy-training"
    return Answer(
        advisor=ADVISOR_ID, title=TITLE, question=inputs.text,
        observed=observed or ["No symptom recognised in the question, and no run given."],
        headline_label="Likely cause",
        recommendation="Not enough to go on. Give the run (nt-tui ask --run RUN_DIR ...) or "
                       "say what the loss and gradient norm do (NaN, spikes, plateau, rising "
                       "validation loss).",
        confidence=0.0,
        action=["Compare your curves with what healthy training looks like (below)."],
        verify=doc_items(link, "Shape of the curves") or [],
        citations=[link])


def advise_run(inputs: AdvisorInputs, history: "RunHistory | None" = None) -> Answer:
    """Diagnose a run with nt-tui's diagnosis engine; symptoms in the question are passed on."""
    from nt_tui.analysis.diagnosis.core import context_for, diagnose

    if history is None:
        from nt_tui.runlogs import load_run

        history = load_run(inputs.run)
    symptoms = [s for s in symptoms_in(inputs.text) if s in SYMPTOMS_BY_ID]
    context = context_for(history, inputs.run)
    return answer_from_diagnosis(diagnose(history, symptoms, context), inputs)


def answer_from_diagnosis(result: "Diagnosis", inputs: AdvisorInputs) -> Answer:
    """An Answer in the response format from a measured diagnosis."""
    top = result.top
    shown = ", ".join(SYMPTOMS_BY_ID[s].label.lower() for s in result.symptoms) or "none"
    observed = [f"{result.source}: {result.steps:,} logged steps of "
                f"{', '.join(result.metrics)} ({result.format})",
                f"Symptoms {'in the data' if result.symptoms_inferred else 'you named'}: "
                f"{shown}"] + [f"Evidence: {sentence}" for sentence in top.evidence]
    if result.missing:
        observed.append(f"Could not check: {'; '.join(result.missing)}")
    alternatives = [f"{h.title} ({h.confidence:.2f}): {h.fix}"
                    for h in result.hypotheses[1:1 + MAX_ALTERNATIVES]]
    citations = list(dict.fromkeys([top.knowledge] + [SYMPTOM_SECTIONS[s] for s in
                                   result.symptoms if s in SYMPTOM_SECTIONS]
                                   + [h.knowledge for h in result.hypotheses[1:3]]))
    return Answer(
        advisor=ADVISOR_ID, title=TITLE, question=inputs.text, observed=observed,
        headline_label="Likely cause", recommendation=f"{top.title}. {top.fix}",
        confidence=top.confidence, alternatives=alternatives,
        action=[top.fix] + doc_items(top.knowledge, "Fix", limit=2),
        verify=doc_items(top.knowledge, "How to confirm") or
               ["Apply the fix on a short branch from a checkpoint and compare the curves."],
        citations=citations, numbers=_run_numbers(result))


def _run_numbers(result: "Diagnosis") -> list[Number]:
    ev = result.evidence
    numbers = []
    if ev.loss is not None:
        numbers += [Number(f"{ev.loss.metric} first / last", f"{sig(ev.loss.initial)} / "
                           f"{sig(ev.loss.final)}", f"steps {ev.loss.first_step:,}-"
                           f"{ev.loss.last_step:,}"),
                    Number("loss decrease", f"{ev.loss.decrease_rel:.1%}",
                           "(first - last) / first, smoothed")]
    if ev.nonfinite is not None:
        numbers.append(Number("first NaN/Inf", f"step {ev.nonfinite.step:,}",
                              ev.nonfinite.metric))
    if ev.grad is not None:
        numbers.append(Number("grad norm median / max", f"{sig(ev.grad.median)} / "
                              f"{sig(ev.grad.maximum)}", f"max at step {ev.grad.maximum_step:,}"))
    if ev.val is not None:
        numbers.append(Number("val loss best / last", f"{sig(ev.val.best)} / "
                              f"{sig(ev.val.final)}", f"best at step {ev.val.best_step:,}"))
    if ev.lr is not None:
        numbers.append(Number("LR peak / last", f"{sig(ev.lr.peak)} / {sig(ev.lr.final)}",
                              f"{ev.lr.shape} schedule"))
    numbers += [Number(f"confidence: {h.title}", f"{h.confidence:.2f}", "calibrated")
                for h in result.hypotheses[:3]]
    return numbers
