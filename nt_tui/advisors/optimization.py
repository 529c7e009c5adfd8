"""The optimization guru: learning rate, weight decay, betas, warmup, schedule and batch size.

Values come from the size table nt-tui's config defaults use (nt_tui.config.defaults.SIZE_TABLE,
knowledge/optimizer-guide.md), nt-tui's warmup rule min(2000, 10% of steps), cosine decay to
10% of the peak, and the batch-size rules of the guide: the linear scaling rule for SGD
(Goyal et al. 2017) and the square-root rule for Adam (Malladi et al. 2022), with gradient
accumulation to reach a batch that does not fit in memory.
"""

from __future__ import annotations

import math

from nt_tui.advisors.answer import Answer, Number, Table
from nt_tui.advisors.base import sig
from nt_tui.advisors.inputs import AdvisorInputs
from nt_tui.config.defaults import (
    MIN_LR_FRACTION, SIZE_TABLE, WARMUP_CAP_STEPS, size_defaults, warmup_steps_for)
from nt_tui.scaling.quantities import format_count

ADVISOR_ID = "optimization"
TITLE = "Optimization guru"
#: Gradient-clipping threshold of GPT-3 and LLaMA (Brown et al. 2020; Touvron et al. 2023).
CLIP_NORM = 1.0
#: Lion wants a 3-10x smaller LR and a 3-10x larger weight decay than AdamW (Chen et al. 2023).
LION_FACTOR_RANGE = (3, 10)
#: SGD for vision: 0.1 per 256 images, momentum 0.9, weight decay 1e-4 (Goyal et al. 2017).
SGD_LR_PER_256, SGD_MOMENTUM, SGD_WEIGHT_DECAY = 0.1, 0.9, 1e-4
#: Full fine-tuning uses a 10-30x lower LR than pre-training (knowledge/optimizer-guide.md).
FINETUNE_LR_DIVISORS = (10, 30)
#: The square-root rule holds while k (1 - beta) stays well below 1 (Malladi et al. 2022).
SQRT_RULE_LIMIT = 0.1
#: Confidence: the table's values are literature defaults that a short sweep should confirm.
CONFIDENCE_WITH_SIZE = 0.75
CONFIDENCE_WITHOUT_SIZE = 0.3

LINKS = {
    "table": "optimizer-guide.md#learning-rate-and-weight-decay-by-model-size",
    "warmup": "optimizer-guide.md#warmup",
    "cosine": "optimizer-guide.md#cosine-decay",
    "wsd": "optimizer-guide.md#warmup-stable-decay",
    "linear_rule": "optimizer-guide.md#linear-scaling-rule",
    "sqrt_rule": "optimizer-guide.md#square-root-scaling-for-adam",
    "accumulation": "optimizer-guide.md#gradient-accumulation",
    "debugging": "optimizer-guide.md#optimizer-debugging",
    "lion": "optimizer-guide.md#lion",
    "sgd": "optimizer-guide.md#sgd-with-momentum",
    "finetune": "fine-tuning-techniques.md#full-fine-tuning",
}


def advise(inputs: AdvisorInputs) -> Answer:
    """Optimizer settings for the model size, batch and run length in `inputs`."""
    if inputs.params is None:
        return _table_only(inputs)
    row = size_defaults(inputs.params)
    lr = row.lr
    observed = [f"Model: {format_count(inputs.params)} parameters (size-table row "
                f"{row.label})."]
    numbers = [Number("peak learning rate", sig(row.lr), f"size table, {row.label}"),
               Number("weight decay", f"{row.weight_decay:g}", f"size table, {row.label}"),
               Number("betas", f"({row.betas[0]:g}, {row.betas[1]:g})",
                      f"size table, {row.label}"),
               Number("minimum LR", sig(MIN_LR_FRACTION * row.lr), "10% of the peak"),
               Number("gradient clipping", f"{CLIP_NORM:.1f}", "global norm (GPT-3, LLaMA)")]
    citations = [LINKS["table"], LINKS["warmup"], LINKS["cosine"]]
    alternatives = [f"Warmup-stable-decay (constant_with_final_decay) instead of cosine when "
                    f"the run length is open ({LINKS['wsd']})"]
    assumptions = []
    warmup = _warmup(inputs, numbers, assumptions)
    if inputs.batch_size and inputs.new_batch_size:
        lr = _batch_change(inputs, lr, row.betas[1], numbers, observed, alternatives)
        citations += [LINKS["sqrt_rule"], LINKS["linear_rule"]]
    accumulation = _accumulation(inputs, numbers, observed)
    if accumulation:
        citations.append(LINKS["accumulation"])
    optimizer = (inputs.optimizer or "adamw").lower()
    recommendation = (f"AdamW with peak LR {sig(lr)}, weight decay {row.weight_decay:g}, betas "
                      f"({row.betas[0]:g}, {row.betas[1]:g}), linear warmup over {warmup}, "
                      f"then cosine decay to {sig(MIN_LR_FRACTION * lr)}; clip at "
                      f"{CLIP_NORM:.1f}.")
    if inputs.batch_size and inputs.new_batch_size:
        source = f"your {sig(inputs.lr)}" if inputs.lr else f"the table's {sig(row.lr)}"
        recommendation += (f" The peak is {source} scaled by the square-root rule for the "
                           f"new batch.")
    if optimizer == "lion":
        low, high = (lr / LION_FACTOR_RANGE[1], lr / LION_FACTOR_RANGE[0])
        recommendation = (f"Lion with LR {sig(low)}-{sig(high)} (3-10x below AdamW's "
                          f"{sig(lr)}) and weight decay {row.weight_decay * 3:g}-"
                          f"{row.weight_decay * 10:g} (3-10x above), same warmup and schedule.")
        numbers.append(Number("Lion LR range", f"{sig(low)} - {sig(high)}",
                              "AdamW LR / 10 .. / 3 (Chen et al. 2023)"))
        citations.append(LINKS["lion"])
    elif optimizer == "sgd":
        alternatives.insert(0, f"SGD for convolutional nets: LR {SGD_LR_PER_256:g} per 256 "
                               f"images, momentum {SGD_MOMENTUM:g}, weight decay "
                               f"{SGD_WEIGHT_DECAY:g}; for transformers keep AdamW "
                               f"({LINKS['sgd']})")
        citations.append(LINKS["sgd"])
    if _mentions_finetuning(inputs.text):
        low, high = lr / FINETUNE_LR_DIVISORS[1], lr / FINETUNE_LR_DIVISORS[0]
        alternatives.insert(0, f"Fine-tuning a pre-trained model: use {sig(low)}-{sig(high)} "
                               f"(10-30x lower), or ask the fine-tuning advisor for LoRA "
                               f"({LINKS['finetune']})")
        citations.append(LINKS["finetune"])
    if inputs.lr is not None:
        ratio = inputs.lr / lr
        numbers.append(Number("your LR vs the recommendation", f"{ratio:.2g}x",
                              f"{sig(inputs.lr)} / {sig(lr)}"))
        if not 1 / 3 <= ratio <= 3:
            observed.append(f"Your LR {sig(inputs.lr)} is {ratio:.2g}x the recommended "
                            f"{sig(lr)}: outside the 3x band the guide's fixes move it by.")
    return Answer(
        advisor=ADVISOR_ID, title=TITLE, question=inputs.text, observed=observed,
        headline_label="Recommendation", recommendation=recommendation,
        confidence=CONFIDENCE_WITH_SIZE, alternatives=alternatives,
        action=_config_lines(lr, row, warmup) + accumulation,
        verify=["LR range test: nt-tui lr-find CONFIG; the peak should sit about 10x below the "
                "LR at the loss minimum.",
                "Update-to-weight ratio near 1e-3 and clipping on fewer than 10% of steps "
                f"after warmup ({LINKS['debugging']})."],
        citations=list(dict.fromkeys(citations + [LINKS["debugging"]])), numbers=numbers,
        assumptions=assumptions)


def _warmup(inputs: AdvisorInputs, numbers: list[Number], assumptions: list[str]) -> str:
    if inputs.steps:
        steps = int(inputs.steps)
        warmup = warmup_steps_for(steps)
        numbers.append(Number("warmup steps", f"{warmup:,}",
                              f"min({WARMUP_CAP_STEPS}, 10% of {steps:,} steps)"))
        return f"{warmup:,} steps"
    assumptions.append("run length unknown: warmup is min(2000, 10% of total steps); give "
                       "--steps for the number")
    numbers.append(Number("warmup steps", f"min({WARMUP_CAP_STEPS:,}, 10% of total steps)",
                          "nt-tui's rule"))
    return f"min({WARMUP_CAP_STEPS:,}, 10% of the steps)"


def _batch_change(inputs: AdvisorInputs, lr: float, beta2: float, numbers: list[Number],
                  observed: list[str], alternatives: list[str]) -> float:
    """Scale the LR for a batch going from batch_size to new_batch_size."""
    k = inputs.new_batch_size / inputs.batch_size
    base = inputs.lr or lr
    adam_lr = base * math.sqrt(k)
    new_beta2 = 1 - k * (1 - beta2)
    observed.append(f"Batch grows {k:g}x ({inputs.batch_size} -> {inputs.new_batch_size}).")
    numbers += [Number("batch factor k", f"{k:g}", "new / old batch"),
                Number("Adam LR after the change", sig(adam_lr),
                       f"{sig(base)} x sqrt({k:g}) (square-root rule)"),
                Number("SGD LR after the change", sig(base * k),
                       f"{sig(base)} x {k:g} (linear scaling rule)")]
    if 0 < k * (1 - beta2) < SQRT_RULE_LIMIT:
        numbers.append(Number("beta2 after the change", f"{new_beta2:.4g}",
                              f"1 - k (1 - {beta2:g})"))
    else:
        observed.append(f"k (1 - beta2) = {k * (1 - beta2):.2g} is not small: the square-root "
                        "rule is only a starting point here; sweep the LR.")
    alternatives.append(f"Linear scaling ({sig(base * k)}) is the rule for SGD below the "
                        f"critical batch size; for Adam it overshoots")
    return adam_lr


def _accumulation(inputs: AdvisorInputs, numbers: list[Number], observed: list[str]
                  ) -> list[str]:
    """Accumulation steps that reach the target batch from the micro-batch that fits."""
    if not inputs.micro_batch:
        return []
    devices = inputs.gpus or 1
    if inputs.batch_tokens and inputs.seq_len:
        target = inputs.batch_tokens / inputs.seq_len
        target_text = f"{format_count(inputs.batch_tokens)} tokens"
    elif inputs.batch_size or inputs.new_batch_size:
        target = inputs.new_batch_size or inputs.batch_size
        target_text = f"{target:,} sequences"
    else:
        return []
    steps = max(1, math.ceil(target / (inputs.micro_batch * devices)))
    effective = inputs.micro_batch * steps * devices
    numbers += [Number("gradient accumulation steps", f"{steps}",
                       f"ceil({target:,.0f} / ({inputs.micro_batch} x {devices} devices))"),
                Number("effective batch", f"{effective:,} sequences",
                       "micro-batch x accumulation x devices")]
    if inputs.seq_len:
        numbers.append(Number("tokens per optimizer step", f"{effective * inputs.seq_len:,}",
                              f"x {inputs.seq_len:,} tokens per sequence"))
    observed.append(f"Target batch {target_text} from micro-batches of {inputs.micro_batch} on "
                    f"{devices} device(s).")
    return [f"data.grad_accum: {steps}  (divide each micro-batch loss by {steps}; count warmup "
            f"and schedule in optimizer steps)"]


def _config_lines(lr: float, row, warmup: str) -> list[str]:
    return [f"optimizer.lr: {sig(lr)}", f"optimizer.weight_decay: {row.weight_decay:g}",
            f"optimizer.betas: [{row.betas[0]:g}, {row.betas[1]:g}]",
            f"schedule.name: cosine, schedule.min_lr: {sig(MIN_LR_FRACTION * lr)}, warmup "
            f"{warmup}",
            "Decay weights with 2+ dimensions only; no decay on biases and norm gains."]


def _mentions_finetuning(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in ("fine-tun", "finetun", "fine tun", "pretrained",
                                            "pre-trained"))


def _table_only(inputs: AdvisorInputs) -> Answer:
    rows = tuple((row.label, sig(row.lr), f"{row.weight_decay:g}",
                  f"({row.betas[0]:g}, {row.betas[1]:g})") for row in SIZE_TABLE)
    observed = ["No model size given (use --model-size, or name it: 'a 350M model')."]
    numbers: list[Number] = []
    assumptions: list[str] = []
    warmup = _warmup(inputs, numbers, assumptions)
    lr = SIZE_TABLE[0].lr
    if inputs.batch_size and inputs.new_batch_size:
        _batch_change(inputs, inputs.lr or lr, SIZE_TABLE[0].betas[1], numbers, observed, [])
    accumulation = _accumulation(inputs, numbers, observed)
    return Answer(
        advisor=ADVISOR_ID, title=TITLE, question=inputs.text, observed=observed,
        headline_label="Recommendation",
        recommendation=f"AdamW with the peak LR, weight decay and betas of your size's row "
                       f"below; linear warmup over {warmup}; cosine decay to 10% of the peak; "
                       f"clip at {CLIP_NORM:.1f}.",
        confidence=CONFIDENCE_WITHOUT_SIZE,
        action=["Find your model's row in the table and set optimizer.lr, weight_decay and "
                "betas from it."] + accumulation,
        verify=["LR range test: nt-tui lr-find CONFIG."],
        citations=[LINKS["table"], LINKS["warmup"], LINKS["cosine"]], numbers=numbers,
        tables=[Table("AdamW by model size", ("parameters", "peak LR", "weight decay", "betas"),
                      rows)],
        assumptions=assumptions)
