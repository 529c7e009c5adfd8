"""The scaling advisor: how big a model, on how many tokens, for a budget (nt_tui.scaling.laws).

From what the question gives it picks one of four answers:

- a budget (FLOPs, GPU-hours, or GPUs for a time): the Chinchilla allocation N = sqrt(C/120),
  D = 20N, checked against the data you have (epochs of repetition, Muennighoff et al.) and
  against the model size you had in mind;
- a model size and a token count: is that compute-optimal, under- or over-trained, and what it
  costs;
- a model size alone: the budget and tokens that make it compute-optimal;
- a dataset alone: the largest model it trains compute-optimally in 1 and in 4 epochs.

Every number it shows comes from laws.py, with its formula.
"""

from __future__ import annotations

from nt_tui.advisors.answer import Answer, Number, Table
from nt_tui.advisors.inputs import AdvisorInputs
from nt_tui.scaling import laws
from nt_tui.scaling.quantities import format_count, format_duration

ADVISOR_ID = "scaling"
TITLE = "Scaling advisor"
#: Tokens per parameter outside this band count as clearly under- or over-trained: the
#: compute-optimal ratio is "between about 15 and 25" (knowledge/scaling-laws.md).
UNDERTRAINED_RATIO = 15
OVERTRAINED_RATIO = 25
#: GPU assumed for GPU-hour estimates when none is named.
DEFAULT_GPU = "A100"
#: Batch used to turn tokens into optimizer steps (GPT-3 Small's 0.5M tokens, Brown et al.
#: 2020, table 2.1).
PLANNING_BATCH_TOKENS = 0.5e6
#: Confidence of the rule-based allocation: the loss near the optimum is flat, so a 1.5x
#: error in N costs little (Hoffmann et al. 2022); lower when the budget rests on an assumed
#: utilisation or the data must repeat.
CONFIDENCE_BUDGET = 0.8
CONFIDENCE_ASSUMED_MFU = 0.65
CONFIDENCE_DATA_LIMITED = 0.6
CONFIDENCE_NO_INPUT = 0.2

LINKS = {
    "table": "scaling-laws.md#compute-optimal-table",
    "chinchilla": "scaling-laws.md#chinchilla-scaling-laws",
    "flops": "scaling-laws.md#flops-accounting",
    "data": "scaling-laws.md#data-constrained-scaling",
    "parametric": "scaling-laws.md#parametric-loss-fit",
    "inference": "scaling-laws.md#inference-aware-sizing",
    "kaplan": "scaling-laws.md#kaplan-scaling-laws",
    "fit": "scaling-laws.md#fitting-your-own-scaling-law",
}


def advise(inputs: AdvisorInputs) -> Answer:
    """The scaling answer for what `inputs` give (see the module doc)."""
    budget = _budget(inputs)
    if budget is not None:
        return _for_budget(inputs, *budget)
    if inputs.params is not None and inputs.dataset_tokens is not None:
        return _for_plan(inputs)
    if inputs.params is not None:
        return _for_model(inputs)
    if inputs.dataset_tokens is not None:
        return _for_data(inputs)
    return _no_input(inputs)


def _gpu(inputs: AdvisorInputs) -> tuple[str, float, bool]:
    """(name, peak TFLOP/s, assumed?) of the GPU to cost with."""
    name = (inputs.gpu_type or "").upper()
    if name in laws.GPU_PEAK_TFLOPS:
        return name, laws.GPU_PEAK_TFLOPS[name], False
    return DEFAULT_GPU, laws.GPU_PEAK_TFLOPS[DEFAULT_GPU], True


def _budget(inputs: AdvisorInputs) -> tuple[float, list[Number], list[str]] | None:
    """(FLOPs, the numbers that produced them, assumptions) or None without a budget."""
    if inputs.compute is not None:
        return inputs.compute, [Number("compute budget", f"{inputs.compute:.3g} FLOPs",
                                       inputs.source_of("compute"))], []
    gpu_hours = inputs.gpu_hours
    numbers: list[Number] = []
    if gpu_hours is None and inputs.gpus is not None and inputs.hours is not None:
        gpu_hours = inputs.gpus * inputs.hours
        numbers.append(Number("GPU-hours", f"{gpu_hours:,.0f}",
                              f"{inputs.gpus} GPUs x {inputs.hours:,.0f} h"))
    if gpu_hours is None:
        return None
    name, peak, assumed = _gpu(inputs)
    compute = laws.gpu_budget_flops(1, gpu_hours, peak, laws.DEFAULT_MFU)
    numbers.append(Number("compute budget", f"{compute:.3g} FLOPs",
                          f"{gpu_hours:,.0f} GPU-h x 3600 x {peak:g} TFLOP/s ({name} bf16) x "
                          f"{laws.DEFAULT_MFU:.0%} MFU"))
    assumptions = [f"{laws.DEFAULT_MFU:.0%} model FLOPs utilisation (PaLM reached 46%); "
                   "measure yours, small models reach far less"]
    if assumed:
        assumptions.append(f"{DEFAULT_GPU} GPUs ({peak:g} TFLOP/s dense bf16); name yours, "
                           "e.g. H100")
    return compute, numbers, assumptions


def _cost_numbers(compute: float, inputs: AdvisorInputs) -> list[Number]:
    numbers = []
    for gpu, peak in laws.GPU_PEAK_TFLOPS.items():
        hours = laws.gpu_hours_for(compute, peak)
        numbers.append(Number(f"{gpu}-hours", _hours(hours),
                              f"C / ({peak:g} TFLOP/s x {laws.DEFAULT_MFU:.0%} MFU)"))
    if inputs.gpus:
        _, peak, _ = _gpu(inputs)
        wall = laws.gpu_hours_for(compute, peak) / inputs.gpus * 3600
        numbers.append(Number("wall-clock time", format_duration(wall),
                              f"on {inputs.gpus} GPUs"))
    return numbers


def _hours(hours: float) -> str:
    return f"{hours:,.0f}" if hours >= 100 else f"{hours:.3g}"


def _allocation_numbers(alloc: laws.Allocation) -> list[Number]:
    steps = alloc.tokens / PLANNING_BATCH_TOKENS
    return [Number("compute-optimal parameters", format_count(alloc.params),
                   "N = sqrt(C / 120)"),
            Number("compute-optimal tokens", format_count(alloc.tokens), "D = 20 N"),
            Number("steps at 0.5M-token batches", f"{steps:,.0f}",
                   "D / 0.5M (GPT-3 Small's batch)"),
            Number("predicted loss (Hoffmann constants)",
                   f"{laws.parametric_loss(alloc.params, alloc.tokens):.3f} nats",
                   "E + A/N^0.34 + B/D^0.28 on MassiveText; compare differences only")]


def _alternatives(compute: float) -> list[str]:
    kaplan = laws.kaplan_optimal(compute)
    refit = laws.parametric_optimal(compute, laws.BESIROGLU_2024)
    return [f"Kaplan et al.'s allocation: {format_count(kaplan.params)} parameters on "
            f"{format_count(kaplan.tokens)} tokens (bigger and under-trained by today's "
            f"standard; see {LINKS['kaplan']})",
            f"Parametric fit (Besiroglu et al. refit): {format_count(refit.params)} on "
            f"{format_count(refit.tokens)} tokens ({refit.tokens_per_param:.1f} per "
            f"parameter; see {LINKS['parametric']})",
            f"If the model will serve many tokens: train a smaller model for longer than 20 "
            f"tokens per parameter ({LINKS['inference']})"]


def _data_check(alloc: laws.Allocation, unique: float, numbers: list[Number],
                observed: list[str]) -> tuple[str, float] | None:
    """Compare the tokens the allocation needs with the unique tokens available."""
    epochs = laws.epochs_needed(alloc.tokens, unique)
    repeated = laws.repeated_data(unique, max(epochs, 1.0))
    numbers += [Number("epochs over your data", f"{epochs:.2f}",
                       f"{format_count(alloc.tokens)} / {format_count(unique)} unique tokens"),
                Number("effective tokens", format_count(repeated.effective_tokens),
                       "D' = U + U R* (1 - exp(-(epochs-1)/R*)), R* = 15.4"),
                Number("value per token seen", f"{repeated.value_per_token:.0%}",
                       "effective / seen (Muennighoff et al. 2023)")]
    if epochs <= laws.SAFE_EPOCHS:
        observed.append(f"Your {format_count(unique)} tokens cover it in {epochs:.2f} "
                        f"epoch(s): repetition up to 4 epochs costs almost nothing.")
        return None
    largest = laws.chinchilla_compute_for(laws.SAFE_EPOCHS * unique /
                                          laws.CHINCHILLA_TOKENS_PER_PARAM)
    numbers.append(Number("largest model within 4 epochs", format_count(largest.params),
                          "N = 4 U / 20"))
    observed.append(f"The budget needs {epochs:.1f} epochs over your data ({repeated.verdict}:"
                    f" each token is worth {repeated.value_per_token:.0%} of a fresh one).")
    advice = (f"Your data is the limit: get more unique tokens, or train about "
              f"{format_count(largest.params)} parameters on {format_count(largest.tokens)} "
              f"tokens (4 epochs) and keep the rest of the budget.")
    return advice, CONFIDENCE_DATA_LIMITED


def _for_budget(inputs: AdvisorInputs, compute: float, numbers: list[Number],
                assumptions: list[str]) -> Answer:
    alloc = laws.chinchilla_optimal(compute)
    observed = [f"Budget: {compute:.3g} FLOPs."]
    numbers = numbers + _allocation_numbers(alloc)
    if not inputs.gpu_hours and not (inputs.gpus and inputs.hours):
        numbers += _cost_numbers(compute, inputs)
    recommendation = (f"Train about {format_count(alloc.params)} parameters on "
                      f"{format_count(alloc.tokens)} tokens (20 tokens per parameter, "
                      f"C = 6ND).")
    confidence = CONFIDENCE_ASSUMED_MFU if assumptions else CONFIDENCE_BUDGET
    citations = [LINKS["table"], LINKS["chinchilla"], LINKS["flops"]]
    if inputs.params is not None:
        tokens = compute / (laws.FLOPS_PER_PARAM_TOKEN * inputs.params)
        ratio = tokens / inputs.params
        numbers.append(Number(f"tokens for your {format_count(inputs.params)} model",
                              format_count(tokens), "D = C / (6 N)"))
        observed.append(f"With your {format_count(inputs.params)} model the budget buys "
                        f"{format_count(tokens)} tokens, {ratio:.1f} per parameter "
                        f"({_ratio_verdict(ratio)}).")
    if inputs.dataset_tokens is not None:
        limited = _data_check(alloc, inputs.dataset_tokens, numbers, observed)
        citations.append(LINKS["data"])
        if limited:
            recommendation, confidence = limited
    return Answer(
        advisor=ADVISOR_ID, title=TITLE, question=inputs.text, observed=observed,
        headline_label="Recommendation", recommendation=recommendation,
        confidence=confidence, alternatives=_alternatives(compute),
        action=[f"Size the model to about {format_count(alloc.params)} parameters and plan "
                f"{format_count(alloc.tokens)} training tokens.",
                "Set the LR schedule to end exactly at the last token (a cosine cycle longer "
                "than the run overstates its loss).",
                f"Before the full run, train 3-5 sizes around it at 1/10 of the budget and "
                f"check where the loss is lowest ({LINKS['fit']})."],
        verify=["The smaller isoFLOP runs should put the lowest loss within about 1.5x of the "
                "recommended size; if not, fit your own law (nt-tui scale).",
                "Measure tokens/s in the first minutes and recompute the wall-clock time "
                "with your real MFU."],
        citations=citations, numbers=numbers, assumptions=assumptions)


def _ratio_verdict(ratio: float) -> str:
    if ratio < UNDERTRAINED_RATIO:
        return "under-trained: below the compute-optimal 15-25"
    if ratio > OVERTRAINED_RATIO:
        return "past compute-optimal: fine if the model will serve many tokens"
    return "close to compute-optimal"


def _for_plan(inputs: AdvisorInputs) -> Answer:
    params, tokens = inputs.params, inputs.dataset_tokens
    compute = laws.training_flops(params, tokens)
    ratio = tokens / params
    optimal = laws.chinchilla_optimal(compute)
    numbers = [Number("training compute", f"{compute:.3g} FLOPs", "C = 6 N D"),
               Number("tokens per parameter", f"{ratio:.1f}", "D / N"),
               Number("compute-optimal at this budget",
                      f"{format_count(optimal.params)} on {format_count(optimal.tokens)}",
                      "N = sqrt(C / 120), D = 20 N"),
               Number("predicted loss, your plan",
                      f"{laws.parametric_loss(params, tokens):.3f} nats", "Hoffmann constants"),
               Number("predicted loss, compute-optimal",
                      f"{laws.parametric_loss(optimal.params, optimal.tokens):.3f} nats",
                      "Hoffmann constants")] + _cost_numbers(compute, inputs)
    verdict = _ratio_verdict(ratio)
    if ratio < UNDERTRAINED_RATIO:
        recommendation = (f"Under-trained: {format_count(params)} parameters want "
                          f"{format_count(20 * params)} tokens. For the same compute, train "
                          f"{format_count(optimal.params)} on {format_count(optimal.tokens)}.")
    elif ratio > OVERTRAINED_RATIO:
        recommendation = (f"Past compute-optimal ({ratio:.0f} tokens per parameter): right "
                          f"when the model will be served a lot (LLaMA 7B saw about 143 per "
                          f"parameter); for the lowest training loss per FLOP, train "
                          f"{format_count(optimal.params)} on {format_count(optimal.tokens)}.")
    else:
        recommendation = (f"Close to compute-optimal ({ratio:.1f} tokens per parameter): keep "
                          f"the plan.")
    return Answer(
        advisor=ADVISOR_ID, title=TITLE, question=inputs.text,
        observed=[f"Plan: {format_count(params)} parameters on {format_count(tokens)} tokens "
                  f"({verdict})."],
        headline_label="Recommendation", recommendation=recommendation,
        confidence=CONFIDENCE_BUDGET, alternatives=_alternatives(compute),
        action=[f"Train {format_count(optimal.params)} parameters on "
                f"{format_count(optimal.tokens)} tokens for the lowest loss at "
                f"{compute:.3g} FLOPs, or keep your plan if inference cost matters more."],
        verify=["Compare the final validation losses of both sizes on a 1/10-budget pilot."],
        citations=[LINKS["table"], LINKS["chinchilla"], LINKS["inference"], LINKS["flops"]],
        numbers=numbers)


def _for_model(inputs: AdvisorInputs) -> Answer:
    alloc = laws.chinchilla_compute_for(inputs.params)
    numbers = [Number("compute-optimal tokens", format_count(alloc.tokens), "D = 20 N"),
               Number("compute-optimal budget", f"{alloc.compute:.3g} FLOPs", "C = 120 N^2"),
               Number("predicted loss (Hoffmann constants)",
                      f"{laws.parametric_loss(alloc.params, alloc.tokens):.3f} nats",
                      "MassiveText; compare differences only")] + \
        _cost_numbers(alloc.compute, inputs)
    return Answer(
        advisor=ADVISOR_ID, title=TITLE, question=inputs.text,
        observed=[f"Model: {format_count(inputs.params)} parameters; no budget or token count "
                  "given."],
        headline_label="Recommendation",
        recommendation=f"Train it on about {format_count(alloc.tokens)} tokens "
                       f"({alloc.compute:.3g} FLOPs) to be compute-optimal; more tokens keep "
                       f"improving it at a higher cost per unit of loss.",
        confidence=CONFIDENCE_BUDGET, alternatives=_alternatives(alloc.compute),
        action=[f"Plan {format_count(alloc.tokens)} tokens, "
                f"{alloc.tokens / PLANNING_BATCH_TOKENS:,.0f} steps at 0.5M-token batches."],
        verify=["Check your unique data covers it in at most 4 epochs (give --dataset-tokens)."],
        citations=[LINKS["table"], LINKS["chinchilla"], LINKS["flops"]], numbers=numbers)


def _for_data(inputs: AdvisorInputs) -> Answer:
    unique = inputs.dataset_tokens
    one = laws.chinchilla_compute_for(unique / laws.CHINCHILLA_TOKENS_PER_PARAM)
    four = laws.chinchilla_compute_for(laws.SAFE_EPOCHS * unique /
                                       laws.CHINCHILLA_TOKENS_PER_PARAM)
    numbers = [Number("compute-optimal model, 1 epoch", format_count(one.params), "N = U / 20"),
               Number("its budget", f"{one.compute:.3g} FLOPs", "C = 120 N^2"),
               Number("largest model, 4 epochs", format_count(four.params), "N = 4 U / 20"),
               Number("its budget", f"{four.compute:.3g} FLOPs", "C = 120 N^2"),
               Number("effective tokens at 4 epochs",
                      format_count(laws.repeated_data(unique, 4).effective_tokens),
                      "Muennighoff et al. 2023")]
    return Answer(
        advisor=ADVISOR_ID, title=TITLE, question=inputs.text,
        observed=[f"Data: {format_count(unique)} unique tokens; no budget given."],
        headline_label="Recommendation",
        recommendation=f"Up to about {format_count(four.params)} parameters: trained "
                       f"compute-optimally it sees your data 4 times, which costs almost "
                       f"nothing; {format_count(one.params)} needs a single epoch.",
        confidence=CONFIDENCE_BUDGET, alternatives=[
            f"Beyond 4 epochs each pass is worth less; past 16 returns are clearly "
            f"diminishing ({LINKS['data']})"],
        action=[f"Choose a size between {format_count(one.params)} and "
                f"{format_count(four.params)} and train it on 20 tokens per parameter."],
        verify=["Watch the validation loss per epoch: a rise after epoch 4 means repetition "
                "has started to cost."],
        citations=[LINKS["data"], LINKS["table"]], numbers=numbers)


def _no_input(inputs: AdvisorInputs) -> Answer:
    rows = tuple((f"{c:.0e}", format_count(a.params), format_count(a.tokens))
                 for c in (1e18, 1e19, 1e20, 1e21, 1e22, 1e23)
                 for a in [laws.chinchilla_optimal(c)])
    return Answer(
        advisor=ADVISOR_ID, title=TITLE, question=inputs.text,
        observed=["No budget, model size or token count in the question."],
        headline_label="Recommendation",
        recommendation="Use about 20 tokens per parameter: N = sqrt(C / 120). Give a budget "
                       "(--compute 1e21, or --gpus 8 --hours 336 --gpu A100), a model size "
                       "(--model-size 1B) or your data (--dataset-tokens 50B) for numbers.",
        confidence=CONFIDENCE_NO_INPUT,
        action=["Read your budget off the table below, then ask again with it."],
        verify=[], citations=[LINKS["table"], LINKS["chinchilla"]],
        tables=[Table("Compute-optimal sizes (C = 6ND, D = 20N)",
                      ("compute (FLOPs)", "parameters", "tokens"), rows)])
