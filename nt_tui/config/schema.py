"""The training config schema: one pydantic model per YAML section.

Fields left as `None` are filled by `nt_tui.config.defaults.resolve` from the model size and
the schedule (see docs/config.md). Unknown keys are errors, so a typo never passes silently.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Built-in decoder-only Transformer sizes: (n_layer, n_head, n_embd). Parameter counts for a
#: 65-symbol character vocabulary and 256-token context are in docs/config.md.
BUILTIN_SIZES: dict[str, tuple[int, int, int]] = {
    "nano": (2, 4, 96),  # ~0.23M
    "micro": (4, 4, 128),  # ~0.8M
    "tiny": (6, 6, 192),  # ~2.7M
    "small": (6, 6, 384),  # ~10.7M, nanoGPT's character-level "baby GPT"
    "base": (12, 12, 768),  # ~124M with a GPT-2 vocabulary, GPT-2 small
}
SizeName = Literal["nano", "micro", "tiny", "small", "base"]
ENTRYPOINT_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
BACKENDS = ("jsonl", "csv", "tensorboard", "wandb", "callback")
SCHEDULES = ("cosine", "linear", "constant", "constant_with_final_decay")


class Section(BaseModel):
    """A config section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(Section):
    """Which model to train: a built-in size, a local Hugging Face directory, or user code."""

    size: SizeName | None = Field(None, description="Built-in GPT size (default tiny).")
    n_layer: int | None = Field(None, gt=0, description="Override the size's layer count.")
    n_head: int | None = Field(None, gt=0, description="Override the size's head count.")
    n_embd: int | None = Field(None, gt=0, description="Override the size's width.")
    positional: Literal["learned", "rotary"] = Field("learned", description="Position encoding.")
    tie_embeddings: bool = Field(True, description="Share input and output embeddings.")
    path: str | None = Field(None, description="Local Hugging Face causal-LM directory.")
    entrypoint: str | None = Field(
        None, description="`package.module:function` returning (model, train_data, val_data)."
    )
    num_params: int | None = Field(
        None, gt=0, description="Parameter count, for defaults when nt-tui cannot compute it."
    )

    @field_validator("entrypoint")
    @classmethod
    def _entrypoint_shape(cls, value: str | None) -> str | None:
        if value is not None and not ENTRYPOINT_PATTERN.match(value):
            raise ValueError("expected `package.module:function`")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> "ModelConfig":
        given = [name for name in ("size", "path", "entrypoint") if getattr(self, name)]
        if len(given) > 1:
            raise ValueError(f"give only one of size, path, entrypoint (got {', '.join(given)})")
        return self

    @property
    def source(self) -> Literal["builtin", "hf", "entrypoint"]:
        """Where the model comes from."""
        if self.path:
            return "hf"
        if self.entrypoint:
            return "entrypoint"
        return "builtin"


class DataConfig(Section):
    """Training and validation text, batching."""

    train: str = Field("demo:tinyshakespeare", description="Text file, or the demo corpus.")
    validation: str | None = Field(None, description="Validation text file.")
    val_split: float | None = Field(
        None, gt=0, lt=1, description="Fraction of the training text held out for validation."
    )
    allow_no_validation: bool = Field(False, description="Explicit opt-in to train without one.")
    tokenizer: Literal["char", "byte"] = Field("char", description="Character or byte tokens.")
    batch_size: int = Field(32, gt=0, description="Sequences per micro-batch per device.")
    seq_len: int = Field(128, gt=0, description="Tokens per sequence.")
    grad_accum: int = Field(1, gt=0, description="Micro-batches per optimizer step.")

    @model_validator(mode="after")
    def _one_validation_source(self) -> "DataConfig":
        if self.validation and self.val_split:
            raise ValueError("give validation or val_split, not both")
        return self


class OptimizerConfig(Section):
    """Optimizer and its hyperparameters (None = default from model size)."""

    name: Literal["adamw", "sgd"] = "adamw"
    lr: float | None = Field(None, gt=0, description="Peak learning rate.")
    weight_decay: float | None = Field(None, ge=0)
    betas: tuple[float, float] | None = None
    eps: float = Field(1e-8, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum.")

    @field_validator("betas")
    @classmethod
    def _betas_range(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not all(0 <= beta < 1 for beta in value):
            raise ValueError("expected two numbers in [0, 1), e.g. [0.9, 0.95]")
        return value


class ScheduleConfig(Section):
    """Learning-rate schedule and run length."""

    name: Literal["cosine", "linear", "constant", "constant_with_final_decay"] | None = None
    warmup_steps: int | None = Field(None, ge=0)
    min_lr: float | None = Field(None, ge=0, description="Floor of the decay (default 10% of lr).")
    total_steps: int | None = Field(None, gt=0)
    epochs: float | None = Field(None, gt=0)
    decay_fraction: float = Field(
        0.2, gt=0, le=1, description="Final share of steps that decays, constant_with_final_decay."
    )

    @model_validator(mode="after")
    def _one_length(self) -> "ScheduleConfig":
        if self.total_steps and self.epochs:
            raise ValueError("give total_steps or epochs, not both")
        return self


class RegularizationConfig(Section):
    grad_clip: float = Field(1.0, ge=0, description="Max global grad norm; 0 turns clipping off.")
    dropout: float = Field(0.0, ge=0, lt=1)


class CheckpointConfig(Section):
    every: int | None = Field(None, gt=0, description="Steps between checkpoints.")
    dir: str | None = Field(None, description="Default: <run dir>/checkpoints.")
    keep_last: int = Field(3, gt=0)
    keep_best: bool = Field(True, description="Keep the best checkpoint by validation loss.")


class LoggingConfig(Section):
    backends: list[Literal["jsonl", "csv", "tensorboard", "wandb", "callback"]] = Field(
        default_factory=list, description="Where metrics go; at least one is required."
    )
    every: int = Field(10, gt=0, description="Steps between logged metrics.")
    validate_every: int = Field(100, gt=0, description="Steps between validations.")
    val_batches: int = Field(20, gt=0, description="Batches per validation.")
    run_dir: str = Field("runs", description="Parent folder of run directories.")
    run_name: str | None = None
    callback: str | None = Field(None, description="`package.module:function` for `callback`.")
    wandb_project: str = "nt-tui"
    layer_grad_norms: bool = Field(False, description="Log per-layer gradient norms.")

    @field_validator("callback")
    @classmethod
    def _callback_shape(cls, value: str | None) -> str | None:
        if value is not None and not ENTRYPOINT_PATTERN.match(value):
            raise ValueError("expected `package.module:function`")
        return value

    @field_validator("backends")
    @classmethod
    def _unique_backends(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class WarningsConfig(Section):
    on_nan: Literal["stop", "skip"] = Field("stop", description="Stop or skip a NaN/Inf step.")
    check_every: int = Field(50, gt=0, description="Steps between silent-error checks.")


class TrainingConfig(Section):
    """A whole training run."""

    name: str | None = None
    seed: int = 1337
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    regularization: RegularizationConfig = Field(default_factory=RegularizationConfig)
    checkpointing: CheckpointConfig = Field(default_factory=CheckpointConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    warnings: WarningsConfig = Field(default_factory=WarningsConfig)


SECTIONS = (
    "model", "data", "optimizer", "schedule", "regularization", "checkpointing", "logging",
    "warnings",
)
