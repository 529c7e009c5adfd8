"""Fill the values a config leaves out, from the model size and the run length.

The table is the one in knowledge/optimizer-guide.md ("Learning rate and weight decay by model
size"); `tests/test_config_defaults.py` checks that the two agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from nt_tui.config.schema import BUILTIN_SIZES, TrainingConfig


@dataclass(frozen=True)
class SizeDefaults:
    """Optimizer defaults for models with fewer than `max_params` parameters."""

    max_params: float
    label: str
    lr: float
    weight_decay: float
    betas: tuple[float, float]


# Sources: GPT-3 (Brown et al., 2020, Table 2.1) peak LRs by size and weight decay 0.1; GPT-3
# and LLaMA (Touvron et al., 2023) for betas (0.9, 0.95) at >= 1B; nanoGPT's character-level
# baby GPT (lr 1e-3) for the small end. See knowledge/optimizer-guide.md.
SIZE_TABLE: tuple[SizeDefaults, ...] = (
    SizeDefaults(20e6, "< 20M", 1.0e-3, 0.01, (0.9, 0.999)),
    SizeDefaults(200e6, "20M - 200M", 6.0e-4, 0.1, (0.9, 0.999)),
    SizeDefaults(1e9, "200M - 1B", 3.0e-4, 0.1, (0.9, 0.999)),
    SizeDefaults(10e9, "1B - 10B", 1.5e-4, 0.1, (0.9, 0.95)),
    SizeDefaults(math.inf, "> 10B", 1.0e-4, 0.1, (0.9, 0.95)),
)
#: Warmup rule: min(WARMUP_CAP_STEPS, WARMUP_FRACTION x total steps).
WARMUP_CAP_STEPS = 2000
WARMUP_FRACTION = 0.10
#: Cosine and linear schedules decay to this share of the peak LR by default.
MIN_LR_FRACTION = 0.10
#: Default checkpoint interval: a tenth of the run, between these bounds.
CHECKPOINT_SHARE = 10
CHECKPOINT_MAX_EVERY = 1000
#: Vocabulary assumed for a byte tokenizer, or when a char corpus cannot be read yet.
BYTE_VOCAB = 256


def size_defaults(num_params: float) -> SizeDefaults:
    """The table row for a model with `num_params` parameters."""
    return next(row for row in SIZE_TABLE if num_params < row.max_params)


def warmup_steps_for(total_steps: int) -> int:
    """nt-tui's warmup rule: min(2000, 10% of total steps)."""
    return min(WARMUP_CAP_STEPS, round(WARMUP_FRACTION * total_steps))


def builtin_param_count(n_layer: int, n_embd: int, vocab: int, seq_len: int,
                        positional: str, tie_embeddings: bool) -> int:
    """Exact parameter count of nt-tui's built-in GPT (see nt_tui/engine/model.py).

    Per block: attention qkv + proj (4 d^2 + 4 d with biases), MLP (8 d^2 + 5 d), two
    LayerNorms (4 d); then token embeddings, learned positions, the final LayerNorm and an
    untied output head if not tied.
    """
    per_block = 12 * n_embd * n_embd + 13 * n_embd
    total = n_layer * per_block + vocab * n_embd + 2 * n_embd
    if positional == "learned":
        total += seq_len * n_embd
    if not tie_embeddings:
        total += vocab * n_embd
    return total


@dataclass
class ResolvedConfig:
    """A config with every default filled, and why each default was chosen."""

    config: TrainingConfig
    #: dotted key -> the reason its value was defaulted ("model size table: < 20M", ...)
    defaulted: dict[str, str] = field(default_factory=dict)
    num_params: int | None = None
    num_params_note: str = ""
    vocab_size: int | None = None
    train_tokens: int | None = None
    tokens_per_step: int = 0
    source_path: Path | None = None


def _corpus_stats(config: TrainingConfig, base: Path) -> tuple[int | None, int | None]:
    """(vocab size, token count) of the training text, when it can be read cheaply."""
    from nt_tui.textdata import read_training_text

    try:
        text = read_training_text(config.data.train, base)
    except Exception:  # unreadable data is reported by pre-flight, not here
        return None, None
    if config.data.tokenizer == "byte":
        return BYTE_VOCAB, len(text.encode("utf-8"))
    return len(set(text)), len(text)


def _size_shape(config: TrainingConfig) -> tuple[int, int, int]:
    n_layer, n_head, n_embd = BUILTIN_SIZES[config.model.size or "tiny"]
    return (config.model.n_layer or n_layer, config.model.n_head or n_head,
            config.model.n_embd or n_embd)


def resolve(config: TrainingConfig, source_path: Path | None = None) -> ResolvedConfig:
    """Return a copy of `config` with every None filled in, and the reasons."""
    config = config.model_copy(deep=True)
    base = source_path.parent if source_path else Path.cwd()
    resolved = ResolvedConfig(config=config, source_path=source_path)
    defaulted = resolved.defaulted
    model, data, opt, sched = config.model, config.data, config.optimizer, config.schedule

    vocab, tokens = _corpus_stats(config, base)
    resolved.vocab_size, resolved.train_tokens = vocab, tokens
    if tokens is not None and data.val_split:
        resolved.train_tokens = int(tokens * (1 - data.val_split))

    if model.source == "builtin":
        if model.size is None and not (model.n_layer and model.n_embd):
            model.size = "tiny"
            defaulted["model.size"] = "built-in default size"
        n_layer, n_head, n_embd = _size_shape(config)
        for key, value in (("n_layer", n_layer), ("n_head", n_head), ("n_embd", n_embd)):
            if getattr(model, key) is None:
                setattr(model, key, value)
                defaulted[f"model.{key}"] = f"size preset '{model.size}'"
        resolved.num_params = builtin_param_count(
            n_layer, n_embd, vocab or BYTE_VOCAB, data.seq_len, model.positional,
            model.tie_embeddings)
        resolved.num_params_note = "computed from the built-in architecture"
    elif model.num_params:
        resolved.num_params = model.num_params
        resolved.num_params_note = "from model.num_params"
    elif model.source == "hf":
        from nt_tui.textdata import hf_param_estimate

        resolved.num_params = hf_param_estimate(base / model.path if model.path else None)
        resolved.num_params_note = "estimated from config.json" if resolved.num_params else ""
    if resolved.num_params is None:
        resolved.num_params_note = "unknown (set model.num_params); defaults assume < 20M"

    row = size_defaults(resolved.num_params or 0)
    why = f"model size table ({row.label} parameters)"
    if opt.lr is None:
        opt.lr = row.lr
        defaulted["optimizer.lr"] = why
    if opt.weight_decay is None:
        opt.weight_decay = row.weight_decay
        defaulted["optimizer.weight_decay"] = why
    if opt.betas is None:
        opt.betas = row.betas
        defaulted["optimizer.betas"] = why

    resolved.tokens_per_step = data.batch_size * data.seq_len * data.grad_accum
    if sched.total_steps is None and sched.epochs is not None and resolved.train_tokens:
        epochs, sched.epochs = sched.epochs, None  # the run length is now given in steps
        sched.total_steps = max(1, math.ceil(
            epochs * resolved.train_tokens / resolved.tokens_per_step))
        defaulted["schedule.total_steps"] = (
            f"{epochs:g} epoch(s) of {resolved.train_tokens:,} tokens at "
            f"{resolved.tokens_per_step:,} tokens/step")
    if sched.name is None:
        sched.name = "cosine"
        defaulted["schedule.name"] = "default schedule"
    if sched.warmup_steps is None and sched.total_steps:
        sched.warmup_steps = warmup_steps_for(sched.total_steps)
        defaulted["schedule.warmup_steps"] = (
            f"warmup rule min({WARMUP_CAP_STEPS}, 10% of {sched.total_steps} steps)")
    if sched.min_lr is None:
        sched.min_lr = 0.0 if sched.name == "constant" else MIN_LR_FRACTION * opt.lr
        defaulted["schedule.min_lr"] = "10% of the peak learning rate"
    ckpt = config.checkpointing
    if ckpt.every is None and sched.total_steps:
        ckpt.every = max(1, min(CHECKPOINT_MAX_EVERY, sched.total_steps // CHECKPOINT_SHARE))
        defaulted["checkpointing.every"] = "a tenth of the run (at most 1000 steps)"
    if config.name is None:
        config.name = source_path.stem if source_path else "run"
        defaulted["name"] = "the config file's name"
    return resolved
