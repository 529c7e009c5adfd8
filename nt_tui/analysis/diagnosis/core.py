"""`diagnose`: from a run history (and optional symptoms) to ranked, calibrated hypotheses."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from nt_tui.analysis.diagnosis import thresholds as th
from nt_tui.analysis.diagnosis import stacking
from nt_tui.analysis.diagnosis.blind_spots import blind_spots, warmup_unseen
from nt_tui.analysis.diagnosis.calibration import confidences
from nt_tui.analysis.diagnosis.context import RunContext, context_from_config, context_from_files
from nt_tui.analysis.diagnosis.evidence import Evidence, collect_evidence
from nt_tui.analysis.diagnosis.fixes import FIXES
from nt_tui.analysis.diagnosis.rules import RULES, Finding
from nt_tui.analysis.diagnosis.vocabulary import CAUSES_BY_ID, SYMPTOM_IDS, SYMPTOMS_BY_ID
from nt_tui.errors import NtTuiError

if TYPE_CHECKING:
    from nt_tui.runlogs.history import RunHistory

#: A symptom the user reports adds this much strength to each cause it points to, and takes
#: this share off "healthy" (the user saw something; evidence still decides).
SYMPTOM_PRIOR = 0.08
SYMPTOM_HEALTHY_DISCOUNT = 0.15
#: A problem of strength s scales "healthy" by (1 - HEALTHY_SUPPRESSION x s): with healthy's
#: base of 0.8 a problem needs a strength above ~0.55 to outrank it.
HEALTHY_SUPPRESSION = 0.6
#: Causes the logged curves cannot tell apart once the loss is unstable or the grad norm
#: exploded: a step size too large blows the gradients up, and gradients that blow up take a
#: step too large (the symptom table lists each as an alternative of the other under
#: loss_unstable and gradient_explosion). Without per-step evidence of which grew first, each
#: keeps PAIRED_CAUSE_SHARE of the other's strength, so the other stays in the top three; the
#: share is below 1, so the stronger evidence still decides the first place.
PAIRED_CAUSES = (("lr_too_high", "exploding_gradients"),)
PAIRED_SYMPTOMS = ("loss_unstable", "gradient_explosion")
PAIRED_CAUSE_SHARE = 0.7
#: A step size too large from the first step, in a log that cannot show the first steps and
#: shows no warmup: the spike a missing warmup causes would be hidden, and a warmup is the
#: first fix to try. "insufficient_warmup" keeps this share of "lr_too_high"'s strength (below
#: 1: the evidence that is there, a step size too large, stays first).
UNSEEN_WARMUP_SHARE = 0.9
#: Hypotheses below this confidence are not listed beyond the first MIN_HYPOTHESES (the
#: fault temperature's sharper softmax puts a real alternative 0.5 below the leader near 0.4%).
MIN_LISTED_CONFIDENCE = 0.002
#: Hypotheses in a report: always the top MIN_HYPOTHESES (the cause and two alternatives),
#: at most MAX_HYPOTHESES.
MIN_HYPOTHESES = 3
MAX_HYPOTHESES = 5
#: A single logged point shows no trend: below this many distinct steps a log is refused.
MIN_LOGGED_STEPS = 2


@dataclass
class Hypothesis:
    cause: str
    confidence: float
    evidence: list[str]
    fix: str
    knowledge: str
    #: dotted config key -> new value, for "apply fix" on nt-tui configs
    changes: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return CAUSES_BY_ID[self.cause].title

    def to_dict(self) -> dict[str, Any]:
        return {"cause": self.cause, "confidence": round(self.confidence, 3),
                "evidence": list(self.evidence), "fix": self.fix, "knowledge": self.knowledge}


@dataclass
class Diagnosis:
    source: str
    format: str
    steps: int
    metrics: list[str]
    symptoms: list[str]
    #: True when `symptoms` were inferred from the data rather than given
    symptoms_inferred: bool
    hypotheses: list[Hypothesis]
    evidence: Evidence
    #: cause -> raw rule strength, before calibration
    strengths: dict[str, float]
    #: which metrics the log has (the stacking layer's other features)
    available: dict[str, float] = field(default_factory=dict)

    @property
    def top(self) -> Hypothesis:
        return self.hypotheses[0]

    @property
    def missing(self) -> list[str]:
        return self.evidence.missing

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON object (../shared/spec/diagnose.md)."""
        return {"source": self.source, "format": self.format, "steps": self.steps,
                "metrics": list(self.metrics), "symptoms": list(self.symptoms),
                "hypotheses": [h.to_dict() for h in self.hypotheses]}


def check_symptoms(symptoms: Iterable[str]) -> list[str]:
    """The symptoms in wizard order; `NtTuiError` for an unknown name."""
    given = list(dict.fromkeys(symptoms))
    unknown = [s for s in given if s not in SYMPTOMS_BY_ID]
    if unknown:
        raise NtTuiError(f"unknown symptom {unknown[0]!r}",
                         hint=f"use one of: {', '.join(SYMPTOM_IDS)}")
    return [s for s in SYMPTOM_IDS if s in given]


def infer_symptoms(ev: Evidence) -> list[str]:
    """The wizard symptoms the data shows."""
    found = set()
    loss = ev.loss
    if ev.nonfinite is not None:
        found.add("loss_nan")
    if ev.grad is not None:
        if ev.grad.maximum >= th.GRAD_NORM_EXPLOSION or ev.grad.blowup_ratio >= \
                th.GRAD_BLOWUP_RATIO:
            found.add("gradient_explosion")
        if ev.grad.median < th.GRAD_NORM_NEAR_ZERO:
            found.add("gradient_vanishing")
    if ev.val is not None and ev.val.rise_rel >= th.OVERFIT_RISE_REL and (
            ev.val.train_fall_after_best_rel or 0) > 0:
        found.add("overfitting")
    if loss is not None:
        if loss.spikes or loss.rise_after_min_rel >= th.DIVERGENCE_REL:
            found.add("loss_unstable")
        if loss.decrease_rel < th.FLAT_REL or (
                loss.early_share is not None and loss.early_share < th.CONVEX_SHARE * 0.7):
            found.add("slow_decrease")
        elif loss.tail_change_rel < th.PLATEAU_REL:
            found.add("loss_plateau")
    return [s for s in SYMPTOM_IDS if s in found]


def _apply_symptoms(findings: dict[str, Finding], symptoms: list[str]) -> None:
    for symptom in symptoms:
        for cause in SYMPTOMS_BY_ID[symptom].causes:
            finding = findings[cause]
            finding.strength = min(1.0, finding.strength + SYMPTOM_PRIOR)
    if symptoms:
        findings["healthy"].scale(1 - SYMPTOM_HEALTHY_DISCOUNT)


def _pair_causes(findings: dict[str, Finding], symptoms: set[str]) -> None:
    """Keep each cause of a `PAIRED_CAUSES` pair at `PAIRED_CAUSE_SHARE` of the other's
    strength when the run shows one of `PAIRED_SYMPTOMS` (both from the rules' strengths
    before this step, so the order of the pair does not matter)."""
    if not symptoms & set(PAIRED_SYMPTOMS):
        return
    for first, second in PAIRED_CAUSES:
        before = {first: findings[first].strength, second: findings[second].strength}
        for cause, other in ((first, second), (second, first)):
            floor = PAIRED_CAUSE_SHARE * before[other]
            if floor > before[cause]:
                findings[cause].add(floor, f"{CAUSES_BY_ID[other].title.lower()} and "
                                           f"{CAUSES_BY_ID[cause].title.lower()} look alike in "
                                           "this log (an unstable loss, no per-step evidence "
                                           "of which grew first): kept as the alternative")


def _pair_unseen_warmup(findings: dict[str, Finding], evidence: Evidence) -> None:
    """Keep "insufficient_warmup" at `UNSEEN_WARMUP_SHARE` of "lr_too_high" when the log
    cannot show a warmup spike (`blind_spots.warmup_unseen`)."""
    floor = UNSEEN_WARMUP_SHARE * findings["lr_too_high"].strength
    if floor > findings["insufficient_warmup"].strength and warmup_unseen(evidence):
        findings["insufficient_warmup"].add(
            floor, "the step size looks too large from the first logged step and no warmup "
                   "shows; the first steps, where a missing warmup spikes the loss, are not in "
                   "this log: kept as the alternative (a warmup is the first fix to try)")


def diagnose(history: "RunHistory", symptoms: Iterable[str] = (),
             context: RunContext | None = None) -> Diagnosis:
    """Rank every cause for `history`. `symptoms` (wizard names) are what the user saw;
    `context` adds what the log does not say (vocabulary, config values)."""
    given = check_symptoms(symptoms)
    if history.steps < MIN_LOGGED_STEPS:
        raise NtTuiError(f"{history.source}: only {history.steps} logged step(s); a diagnosis "
                         f"needs {MIN_LOGGED_STEPS} or more points to see a trend",
                         hint="diagnose the run again once it has logged more steps")
    evidence = collect_evidence(history, context)
    if evidence.loss is None and evidence.brief is None and evidence.nonfinite is None:
        raise NtTuiError(f"{history.source}: no loss values to diagnose "
                         f"(metrics found: {', '.join(history.metrics) or 'none'})",
                         hint="the log needs a train or validation loss")
    findings = {cause: rule(evidence) for cause, rule in RULES.items()}
    problems = max(f.strength for cause, f in findings.items() if cause != "healthy")
    findings["healthy"].scale(1 - HEALTHY_SUPPRESSION * problems)
    inferred = infer_symptoms(evidence)
    _pair_causes(findings, set(given) | set(inferred))
    _pair_unseen_warmup(findings, evidence)
    _apply_symptoms(findings, given)
    for cause, (hint, sentence) in blind_spots(evidence).items():
        if findings[cause].strength < hint:
            findings[cause].add(hint, sentence)
    strengths = {cause: round(f.strength, 4) if math.isfinite(f.strength) else 0.0
                 for cause, f in findings.items()}
    available = stacking.availability(evidence)
    ranked = sorted(rank(strengths, available).items(), key=lambda item: -item[1])
    hypotheses = []
    for cause, confidence in ranked:
        if len(hypotheses) >= MAX_HYPOTHESES or (
                len(hypotheses) >= MIN_HYPOTHESES and confidence < MIN_LISTED_CONFIDENCE):
            break
        fix = FIXES[cause](evidence)
        sentences = findings[cause].evidence or [_no_evidence_sentence(cause, evidence)]
        hypotheses.append(Hypothesis(cause, confidence, sentences, fix.text,
                                     CAUSES_BY_ID[cause].knowledge, fix.changes))
    return Diagnosis(
        source=history.source, format=history.format, steps=history.steps,
        metrics=list(history.metrics), symptoms=given or inferred,
        symptoms_inferred=not given, hypotheses=hypotheses, evidence=evidence,
        strengths=strengths, available=available)


def rank(strengths: dict[str, float], available: dict[str, float]) -> dict[str, float]:
    """Confidences from the rule strengths: the fitted stacking layer when its coefficients
    are installed (`stacking.py`), else the temperature softmax (`calibration.py`)."""
    model = stacking.load()
    if model is None:
        return confidences(strengths)
    return stacking.probabilities(stacking.feature_vector(strengths, available), model)


def _no_evidence_sentence(cause: str, ev: Evidence) -> str:
    if cause == "healthy":
        return "no clear sign of a problem in the logged metrics"
    return "no direct evidence in the log; listed because of the reported symptoms"


#: Lightning's LearningRateMonitor names its column after the optimizer class ("lr-AdamW",
#: "lr-SGD/pg1"): the log says which optimizer ran.
_LR_MONITOR_OPTIMIZER = re.compile(r"^lr-([A-Za-z][A-Za-z0-9_]*)(?:/pg\d+)?$")


def context_for(history: "RunHistory", path: Path | None = None) -> RunContext:
    """What the run's recorded config and the files beside its log say about it."""
    context = context_from_config(history.config, "run config")
    named = _LR_MONITOR_OPTIMIZER.match(history.original_names.get("lr", ""))
    if named:
        context.set("optimizer", named.group(1).lower(), "LR column name")
    if path is not None:
        context = context.merge(context_from_files(Path(path)), overwrite=False)
    config = history.config or {}
    if isinstance(config.get("data"), dict) and (context.vocab_size is None
                                                 or context.num_params is None):
        context = context.merge(_resolved_context(config, path), overwrite=False)
    return context


def _resolved_context(config: dict[str, Any], path: Path | None) -> RunContext:
    """Vocabulary and parameter count of an nt-tui config, as the engine would resolve them."""
    from pydantic import ValidationError

    from nt_tui.config.defaults import resolve
    from nt_tui.config.schema import TrainingConfig

    context = RunContext()
    try:
        resolved = resolve(TrainingConfig.model_validate(config),
                           source_path=(Path(path) / "config.yaml") if path and Path(
                               path).is_dir() else None)
    except (ValidationError, NtTuiError, OSError, ValueError):
        return context
    context.set("vocab_size", resolved.vocab_size, "resolved config")
    context.set("num_params", resolved.num_params, "resolved config")
    context.set("dataset_tokens", resolved.train_tokens, "resolved config")
    return context


def diagnose_path(path: str | Path, symptoms: Iterable[str] = (),
                  context: RunContext | None = None) -> Diagnosis:
    """Read the log at `path` (any supported format) and diagnose it."""
    from nt_tui.runlogs import load_run

    history = load_run(Path(path))
    found = context_for(history, Path(path))
    if context is not None:
        found = found.merge(context)
    return diagnose(history, symptoms, found)
