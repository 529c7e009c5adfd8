"""The fine-tuning advisor: full fine-tuning, LoRA or QLoRA, with settings and a memory table.

Memory follows the per-parameter rules of knowledge/fine-tuning-techniques.md#memory-estimates
(GB = 1e9 bytes): full fine-tuning 16 bytes per parameter (bf16 weights and gradients, fp32
master weights and Adam moments), LoRA 2 bytes per frozen base parameter, QLoRA 0.5 (NF4),
plus 16 bytes per adapter parameter. Adapter sizes use Llama 2's shapes for 7B, 13B and 70B
models and Llama-like proportions otherwise (d_model = 128 x layers, MLP width 2.6875 x
d_model). Activations use Korthikanti et al. (2022): 34 s b d bytes per layer with
FlashAttention, or with per-block checkpointing the block inputs (2 s b d per layer) plus one
block being recomputed, and 4 bytes per logit. The method is chosen by the guide's rules
(model size, data size, what fits) and the rank by the task's complexity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nt_tui.advisors.answer import Answer, Number, Table
from nt_tui.advisors.base import sig
from nt_tui.advisors.inputs import AdvisorInputs
from nt_tui.scaling.quantities import format_count

ADVISOR_ID = "finetuning"
TITLE = "Fine-tuning advisor"

#: Bytes per parameter (knowledge/fine-tuning-techniques.md#memory-estimates).
FULL_BYTES_PER_PARAM = 16
LORA_BASE_BYTES_PER_PARAM = 2
QLORA_BASE_BYTES_PER_PARAM = 0.5
ADAPTER_BYTES_PER_PARAM = 16
#: NF4 double-quantisation constants, 0.127 bits per parameter (Dettmers et al. 2023).
QLORA_CONSTANT_BYTES_PER_PARAM = 0.016
#: Activation bytes per token per layer per hidden unit with FlashAttention (Korthikanti et
#: al. 2022), and what per-block checkpointing keeps (the block input in 16 bits).
ACTIVATION_BYTES_PER_LAYER = 34
CHECKPOINT_BYTES_PER_LAYER = 2
LOGIT_BYTES = 4
#: Leave this share of GPU memory free (the guide says 10-20%).
HEADROOM = 0.15
#: Defaults when the question gives none: batch 1 x 2,048 tokens, Llama 2's vocabulary.
DEFAULT_SEQ_LEN = 2048
DEFAULT_MICRO_BATCH = 1
DEFAULT_VOCAB = 32000
#: Below this size full fine-tuning is the default; above LARGE_MODEL LoRA/QLoRA almost always
#: (knowledge/fine-tuning-techniques.md#choosing-a-method).
SMALL_MODEL = 1e9
LARGE_MODEL = 30e9
#: More than this many examples (or this many tokens) favours full fine-tuning (same source).
MANY_EXAMPLES = 100_000
MANY_TOKENS = 1e9
FEW_EXAMPLES = 1_000
#: LoRA learning rates (QLoRA: 2e-4 up to 13B, 1e-4 for 33B and 65B) and adapter dropout (0.1
#: up to 13B, 0.05 above); full fine-tuning 2e-5, 1e-5 for large models (BERT, LIMA).
LORA_LR_SMALL, LORA_LR_LARGE, LORA_LR_SWITCH = 2e-4, 1e-4, 20e9
FULL_LR_SMALL, FULL_LR_LARGE, FULL_LR_SWITCH = 2e-5, 1e-5, 13e9
DROPOUT_SMALL, DROPOUT_LARGE = 0.1, 0.05
#: DPO: beta 0.1 and LR 1e-6 (Rafailov et al. 2023).
DPO_BETA, DPO_LR = 0.1, 1e-6
#: Shapes: Llama 2 (Touvron et al. 2023): d_model, MLP width, layers, k/v width, parameters.
LLAMA2_SHAPES = {7e9: (4096, 11008, 32, 4096, 6.74e9), 13e9: (5120, 13824, 40, 5120, 13.0e9),
                 70e9: (8192, 28672, 80, 1024, 69.0e9)}
#: A model within this share of a Llama 2 size gets its exact shape.
SHAPE_TOLERANCE = 0.15
#: Llama-like proportions for other sizes: parameters ~ 12.06 d^2 per layer, d = 128 layers.
PARAMS_PER_D2_PER_LAYER = 12.0625
D_PER_LAYER = 128
MLP_RATIO = 2.6875
ALL_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
#: Task words -> LoRA rank: 8-16 for style or instructions, 32-64 for hard domains (Hu et al.
#: 2021; Biderman et al. 2024).
RANK_RULES = (
    (r"\bcode\b|coding|program|\bmath|reasoning|proof|continued pre-?train", 64,
     "code, math or continued pre-training: hard domain adaptation"),
    (r"medical|clinical|legal|law\b|financ|scientific|biomed|domain", 32,
     "domain adaptation"),
    (r"classif|sentiment|style|tone|format|extract|label|persona", 8,
     "a simple task (style, format or classification)"),
)
DEFAULT_RANK = 16
DEFAULT_RANK_REASON = "instruction or chat tuning"
CONFIDENCE_CLEAR, CONFIDENCE_TIGHT, CONFIDENCE_GUESS = 0.8, 0.55, 0.35
LINKS = {
    "choose": "fine-tuning-techniques.md#choosing-a-method",
    "memory": "fine-tuning-techniques.md#memory-estimates",
    "lora": "fine-tuning-techniques.md#lora",
    "qlora": "fine-tuning-techniques.md#qlora",
    "full": "fine-tuning-techniques.md#full-fine-tuning",
    "dpo": "fine-tuning-techniques.md#dpo",
    "rlhf": "fine-tuning-techniques.md#rlhf",
    "forgetting": "fine-tuning-techniques.md#catastrophic-forgetting",
}
METHODS = ("full", "lora", "qlora")
METHOD_TITLES = {"full": "Full fine-tuning", "lora": "LoRA", "qlora": "QLoRA"}


@dataclass(frozen=True)
class Shape:
    d_model: int
    mlp: int
    layers: int
    kv: int
    #: the actual parameter count, for shares
    params: float
    source: str


@dataclass(frozen=True)
class MemoryRow:
    method: str
    states_gb: float
    activations_gb: float
    per_gpu_gb: float
    fits: bool | None


def model_shape(params: float) -> Shape:
    """Llama 2's shape near 7B/13B/70B, Llama-like proportions otherwise."""
    for nominal, (d, mlp, layers, kv, actual) in LLAMA2_SHAPES.items():
        if abs(params - nominal) <= SHAPE_TOLERANCE * nominal:
            return Shape(d, mlp, layers, kv, actual, f"Llama 2 {nominal / 1e9:g}B shape")
    d = round((params * D_PER_LAYER / PARAMS_PER_D2_PER_LAYER) ** (1 / 3))
    layers = max(1, round(d / D_PER_LAYER))
    return Shape(d, round(MLP_RATIO * d), layers, d, params,
                 f"Llama-like shape: d_model {d:,}, {layers} layers")


def adapter_params(shape: Shape, rank: int, targets: tuple[str, ...] = ALL_TARGETS) -> int:
    """LoRA's trainable parameters, r (d_in + d_out) per adapted matrix per layer."""
    sizes = {"q_proj": (shape.d_model, shape.d_model), "k_proj": (shape.d_model, shape.kv),
             "v_proj": (shape.d_model, shape.kv), "o_proj": (shape.d_model, shape.d_model),
             "gate_proj": (shape.d_model, shape.mlp), "up_proj": (shape.d_model, shape.mlp),
             "down_proj": (shape.mlp, shape.d_model)}
    per_layer = sum(sum(sizes[target]) for target in targets)
    return rank * per_layer * shape.layers


def activation_bytes(shape: Shape, seq_len: int, micro_batch: int, checkpointing: bool,
                     vocab: int = DEFAULT_VOCAB) -> float:
    """Activation memory of one micro-batch (Korthikanti et al. 2022, FlashAttention)."""
    tokens = seq_len * micro_batch
    if checkpointing:
        stored = CHECKPOINT_BYTES_PER_LAYER * tokens * shape.d_model * shape.layers
        stored += ACTIVATION_BYTES_PER_LAYER * tokens * shape.d_model
    else:
        stored = ACTIVATION_BYTES_PER_LAYER * tokens * shape.d_model * shape.layers
    return stored + LOGIT_BYTES * tokens * vocab


def states_bytes(method: str, params: float, adapters: int) -> float:
    """Weights, gradients and optimizer states of `method` (the guide's per-parameter rules)."""
    if method == "full":
        return FULL_BYTES_PER_PARAM * params
    base = LORA_BASE_BYTES_PER_PARAM if method == "lora" else QLORA_BASE_BYTES_PER_PARAM
    return base * params + ADAPTER_BYTES_PER_PARAM * adapters


def memory_table(params: float, shape: Shape, adapters: int, seq_len: int, micro_batch: int,
                 gpu_memory_gb: float | None, gpus: int) -> dict[str, MemoryRow]:
    """Per-method memory with per-block checkpointing; states sharded over `gpus`."""
    activations = activation_bytes(shape, seq_len, micro_batch, checkpointing=True) / 1e9
    usable = gpu_memory_gb * (1 - HEADROOM) if gpu_memory_gb else None
    rows = {}
    for method in METHODS:
        states = states_bytes(method, params, adapters) / 1e9
        per_gpu = states / gpus + activations
        rows[method] = MemoryRow(method, states, activations, per_gpu,
                                 None if usable is None else per_gpu <= usable)
    return rows


def rank_for(text: str) -> tuple[int, str]:
    """LoRA rank by the task the question describes, with the reason."""
    lowered = text.lower()
    for pattern, rank, reason in RANK_RULES:
        if re.search(pattern, lowered):
            return rank, reason
    return DEFAULT_RANK, DEFAULT_RANK_REASON


def advise(inputs: AdvisorInputs) -> Answer:
    """Method, LoRA settings, learning rate and a memory table for `inputs`."""
    if inputs.params is None:
        return _no_model(inputs)
    params, gpus = inputs.params, inputs.gpus or 1
    seq_len = inputs.seq_len or DEFAULT_SEQ_LEN
    micro_batch = inputs.micro_batch or DEFAULT_MICRO_BATCH
    rank, rank_reason = rank_for(inputs.text)
    shape = model_shape(params)
    adapters = adapter_params(shape, rank)
    rows = memory_table(params, shape, adapters, seq_len, micro_batch, inputs.gpu_memory_gb,
                        gpus)
    method, reason, confidence = _choose(inputs, rows)
    assumptions = _assumptions(inputs, shape)
    observed = [f"Model: {format_count(params)} parameters ({shape.source})."]
    if inputs.gpu_memory_gb:
        observed.append(f"Hardware: {gpus} x {inputs.gpu_memory_gb:g} GB; usable per GPU "
                        f"{inputs.gpu_memory_gb * (1 - HEADROOM):.1f} GB (15% left free).")
    if inputs.examples or inputs.dataset_tokens:
        observed.append("Data: " + ", ".join(
            part for part in (inputs.examples and f"{format_count(inputs.examples)} examples",
                              inputs.dataset_tokens and
                              f"{format_count(inputs.dataset_tokens)} tokens") if part) + ".")
    observed.append(f"Task: {rank_reason}.")
    lr = _learning_rate(method, params)
    numbers = [Number("LoRA rank r", f"{rank}", rank_reason),
               Number("LoRA alpha", f"{2 * rank}", "alpha = 2r (scale alpha/r = 2)"),
               Number("adapter parameters", f"{adapters:,}",
                      f"r x sum(d_in + d_out) over {len(ALL_TARGETS)} projections x "
                      f"{shape.layers} layers"),
               Number("adapter share of the model", f"{adapters / shape.params:.2%}",
                      f"of {format_count(shape.params)}"),
               Number("learning rate", sig(lr), METHOD_TITLES[method]),
               Number("activations per GPU", f"{rows[method].activations_gb:.2f} GB",
                      f"batch {micro_batch} x {seq_len:,} tokens, per-block checkpointing")]
    recommendation = f"{METHOD_TITLES[method]}: {reason}"
    action = _settings(method, rank, lr, params)
    if gpus > 1 and method != "full":
        action.append(f"Shard the base model across the {gpus} GPUs (FSDP, or device_map="
                      f"'auto' in transformers): the table divides the states by {gpus}.")
    alternatives = [f"{METHOD_TITLES[m]}: {rows[m].per_gpu_gb:.1f} GB per GPU"
                    f"{_fits_text(rows[m].fits)}" for m in METHODS if m != method]
    citations = [LINKS["choose"], LINKS["memory"],
                 LINKS["full"] if method == "full" else LINKS["lora"]]
    if method == "qlora":
        citations.append(LINKS["qlora"])
    if _preference(inputs.text):
        alternatives.insert(0, f"Preference tuning: SFT first, then DPO with beta {DPO_BETA:g} "
                               f"and LR {DPO_LR:g} on the SFT model (reference frozen); PPO "
                               f"only with a reward-model pipeline ({LINKS['dpo']})")
        citations += [LINKS["dpo"], LINKS["rlhf"]]
    return Answer(
        advisor=ADVISOR_ID, title=TITLE, question=inputs.text, observed=observed,
        headline_label="Recommendation", recommendation=recommendation,
        confidence=confidence, alternatives=alternatives, action=action,
        verify=["Run 20 steps with the real sequence length and batch and read the peak "
                "memory (torch.cuda.max_memory_allocated); it should be under the table's "
                "estimate plus the CUDA context.",
                "Evaluate a fixed general benchmark or held-out general text before and "
                f"during training to catch forgetting ({LINKS['forgetting']})."],
        citations=citations, numbers=numbers, assumptions=assumptions,
        tables=[_table(rows, inputs.gpu_memory_gb)])


def _choose(inputs: AdvisorInputs, rows: dict[str, MemoryRow]) -> tuple[str, str, float]:
    """(method, why, confidence) by the guide's size, data and memory rules."""
    params = inputs.params
    much_data = ((inputs.examples or 0) > MANY_EXAMPLES or
                 (inputs.dataset_tokens or 0) >= MANY_TOKENS)
    fits = {m: rows[m].fits for m in METHODS}
    if fits["full"] is None:  # no memory given: size and data rules only
        if params < SMALL_MODEL or (much_data and params < LARGE_MODEL):
            return "full", _why_full(params, much_data) + " Give --gpu-memory to check it " \
                "fits.", CONFIDENCE_GUESS
        method = "qlora" if params >= LARGE_MODEL else "lora"
        return method, f"the default for {format_count(params)} models; give --gpu-memory to " \
            "check it fits.", CONFIDENCE_GUESS
    if fits["full"] and (params < SMALL_MODEL or much_data):
        return "full", _why_full(params, much_data), _confidence(rows["full"], inputs)
    if fits["lora"] and params < LARGE_MODEL:
        why = (f"it fits ({rows['lora'].per_gpu_gb:.1f} GB per GPU) while full fine-tuning "
               f"needs {rows['full'].per_gpu_gb:.1f} GB" if not fits["full"] else
               f"it fits and, with {_data_text(inputs)}, learns the task while forgetting "
               f"less than full fine-tuning")
        return "lora", why + ".", _confidence(rows["lora"], inputs)
    if fits["qlora"]:
        return "qlora", (f"only the 4-bit base fits ({rows['qlora'].per_gpu_gb:.1f} GB per GPU; "
                         f"LoRA needs {rows['lora'].per_gpu_gb:.1f} GB)." if not fits["lora"]
                         else "at this size QLoRA is the usual choice and it fits."), \
            _confidence(rows["qlora"], inputs)
    need = rows["qlora"].per_gpu_gb / (1 - HEADROOM)
    return "qlora", (f"nothing fits: even QLoRA needs about {need:.0f} GB per GPU. Use more "
                     f"GPUs (sharded), a shorter sequence, or a smaller model."), 0.3


def _why_full(params: float, much_data: bool) -> str:
    if params < SMALL_MODEL:
        return f"at {format_count(params)} parameters it is cheap and usually best."
    return "with this much data LoRA at typical ranks learns measurably less (Biderman et " \
           "al. 2024)."


def _data_text(inputs: AdvisorInputs) -> str:
    if inputs.examples:
        return f"{format_count(inputs.examples)} examples"
    if inputs.dataset_tokens:
        return f"{format_count(inputs.dataset_tokens)} tokens"
    return "a typical fine-tuning dataset"


def _confidence(row: MemoryRow, inputs: AdvisorInputs) -> float:
    """High when the choice fits with room; lower near the limit or without data size."""
    usable = inputs.gpu_memory_gb * (1 - HEADROOM)
    tight = row.per_gpu_gb > 0.8 * usable
    confidence = CONFIDENCE_TIGHT if tight else CONFIDENCE_CLEAR
    if not (inputs.examples or inputs.dataset_tokens):
        confidence -= 0.1
    return confidence


def _learning_rate(method: str, params: float) -> float:
    if method == "full":
        return FULL_LR_LARGE if params >= FULL_LR_SWITCH else FULL_LR_SMALL
    return LORA_LR_LARGE if params >= LORA_LR_SWITCH else LORA_LR_SMALL


def _settings(method: str, rank: int, lr: float, params: float) -> list[str]:
    if method == "full":
        return [f"Train every weight with AdamW at LR {sig(lr)}, weight decay 0.1, betas "
                f"(0.9, 0.95).",
                "Linear warmup over min(2000, 10% of steps), then linear or cosine decay.",
                "1-3 epochs; keep the best-validation checkpoint.",
                "Shard states with FSDP/ZeRO-3 across GPUs; enable gradient checkpointing."]
    dropout = DROPOUT_SMALL if params < LORA_LR_SWITCH else DROPOUT_LARGE
    settings = [f"LoRA r={rank}, alpha={2 * rank}, dropout {dropout:g}, target_modules="
                f"[{', '.join(ALL_TARGETS)}]",
                f"AdamW at LR {sig(lr)} (the highest rate that trains stably); warmup "
                "min(2000, 10% of steps); 1-3 epochs.",
                "Enable gradient checkpointing; keep alpha/r fixed if you sweep r."]
    if method == "qlora":
        settings.insert(1, "Load the base in 4-bit NF4 with double quantisation, compute in "
                           "bf16, paged AdamW (bitsandbytes).")
    return settings


def _assumptions(inputs: AdvisorInputs, shape: Shape) -> list[str]:
    assumed = []
    if not inputs.seq_len:
        assumed.append(f"sequences of {DEFAULT_SEQ_LEN:,} tokens (give --seq-len)")
    if not inputs.micro_batch:
        assumed.append(f"micro-batch {DEFAULT_MICRO_BATCH} per GPU (accumulate for a larger "
                       "batch)")
    if not inputs.gpu_memory_gb:
        assumed.append("GPU memory unknown (give --gpu-memory 24)")
    if shape.source.startswith("Llama-like"):
        assumed.append(f"{shape.source} for the adapter count")
    assumed.append(f"vocabulary of {DEFAULT_VOCAB:,} for the logits; the CUDA context and "
                   f"fragmentation are not counted; QLoRA adds "
                   f"{QLORA_CONSTANT_BYTES_PER_PARAM * inputs.params / 1e9:.1f} GB of "
                   "quantisation constants")
    return assumed


def _fits_text(fits: bool | None) -> str:
    return "" if fits is None else (" (fits)" if fits else " (does not fit)")


def _table(rows: dict[str, MemoryRow], gpu_memory_gb: float | None) -> Table:
    headers = ("method", "states GB", "activations GB", "per GPU GB", "fits")
    body = tuple((METHOD_TITLES[r.method], f"{r.states_gb:,.1f}", f"{r.activations_gb:.2f}",
                  f"{r.per_gpu_gb:,.1f}",
                  "?" if r.fits is None else ("yes" if r.fits else "no"))
                 for r in rows.values())
    title = "Estimated memory" + (f" (usable {gpu_memory_gb * (1 - HEADROOM):.1f} GB per GPU)"
                                  if gpu_memory_gb else "")
    return Table(title, headers, body)


def _preference(text: str) -> bool:
    return bool(re.search(r"\bdpo\b|\brlhf\b|\bppo\b|preference|reward model|align",
                          text.lower()))


def _no_model(inputs: AdvisorInputs) -> Answer:
    rows = []
    for nominal in (7e9, 13e9, 70e9):
        shape = model_shape(nominal)
        adapters = adapter_params(shape, DEFAULT_RANK)
        rows.append((format_count(nominal),) + tuple(
            f"{states_bytes(m, nominal, adapters) / 1e9:,.1f}" for m in METHODS))
    return Answer(
        advisor=ADVISOR_ID, title=TITLE, question=inputs.text,
        observed=["No model size given (use --model-size 7B, or name it: 'a 13B model')."],
        headline_label="Recommendation",
        recommendation="Under about 1B parameters: full fine-tuning. 1B-13B: LoRA (or QLoRA "
                       "when memory is short). Above about 30B: QLoRA or LoRA. Rank 8-16 for "
                       "instructions, 32-64 for code and math; alpha = 2r; all linear layers.",
        confidence=CONFIDENCE_GUESS,
        action=["Ask again with the model size and GPU memory for a memory check."],
        verify=[], citations=[LINKS["choose"], LINKS["memory"], LINKS["lora"]],
        tables=[Table("States in GB (r = 16 on all projections; activations extra)",
                      ("model", "full", "LoRA", "QLoRA"), tuple(rows))])
