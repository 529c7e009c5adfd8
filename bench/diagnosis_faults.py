"""Fault injection for the diagnosis benchmark: a Trainer subclass that breaks a run on
purpose, the way real runs break (used by bench/diagnosis_dataset.py).

Config-only faults (LR too high/low, no warmup, no clipping, tiny model, validation = train
data, small data) need nothing here. The rest need a hook the engine's config does not have,
so they are done after the engine's own setup, never by editing the engine:

- unshuffled data: the engine's batch order is set to the file order (shuffle off);
- outlier batches: chosen batches are replaced by uniform-random tokens (garbage data);
- bad initialisation: every weight is multiplied by `scale` after the engine's GPT-2 init;
- vanishing gradients: every weight is multiplied by a tiny `scale` (with plain SGD, whose
  steps shrink with the gradient);
- numerical instability: a length-normalised loss (sum / number of non-padding targets) meets
  a batch that is all padding (0 / 0 = NaN, gradients normal just before);
- schedule exhausted: the schedule's length is shorter than the run (the LR reaches its floor
  of 0 and the run goes on).

Custom model entry points: `deep_tanh_lm` (vanishing gradients) and `finetuned_gpt` (healthy
fine-tunes: the built-in GPT with a pretraining run's weights).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from nt_tui.engine.trainer import Trainer

#: Target id that marks padding in the length-normalised loss.
PAD_TARGET = -1


class FaultyTrainer(Trainer):
    """A Trainer with one fault injected: `fault` is {"kind": ..., parameters}."""

    def __init__(self, resolved: Any, fault: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(resolved, **kwargs)
        self.fault = fault
        if fault.get("kind") == "schedule_exhausted":
            self.total_steps = int(fault["run_steps"])  # the schedule keeps its own length

    def _setup(self) -> None:
        super()._setup()
        kind = self.fault.get("kind")
        if kind == "unshuffled":
            self.batches.shuffle = False
            self.batches._epoch = -1
        elif kind == "outliers":
            self.batches = GarbageBatches(self.batches, set(self.fault["positions"]),
                                          self.fault.get("vocab", 65), self.config.seed)
        elif kind in ("bad_init", "vanishing"):
            with torch.no_grad():
                for param in self._raw_model.parameters():
                    param.mul_(float(self.fault["scale"]))
        elif kind == "nan_division":
            self.batches = PaddingBatches(self.batches, int(self.fault["position"]))
            self.task.loss_fn = length_normalised_loss


class _Wrapped:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class GarbageBatches(_Wrapped):
    """Replaces the batches at `positions` with uniform-random tokens."""

    def __init__(self, inner: Any, positions: set[int], vocab: int, seed: int) -> None:
        super().__init__(inner)
        self.positions, self.vocab, self.seed = positions, vocab, seed

    def batch(self, position: int) -> Any:
        inputs, targets = self.inner.batch(position)
        if position not in self.positions:
            return inputs, targets
        generator = torch.Generator().manual_seed(self.seed * 31 + position)
        noise = torch.randint(0, self.vocab, (inputs.shape[0], inputs.shape[1] + 1),
                              generator=generator)
        return noise[:, :-1].to(inputs.dtype), noise[:, 1:].to(targets.dtype)


class PaddingBatches(_Wrapped):
    """From `position` on, one batch is all padding (a data-loader bug)."""

    def __init__(self, inner: Any, position: int) -> None:
        super().__init__(inner)
        self.position = position

    def batch(self, position: int) -> Any:
        inputs, targets = self.inner.batch(position)
        if position == self.position:
            targets = torch.full_like(targets.long(), PAD_TARGET)
        return inputs, targets


def length_normalised_loss(outputs: Any, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy summed over non-padding targets / their count (0/0 on all padding)."""
    logits = outputs if isinstance(outputs, torch.Tensor) else outputs[0]
    targets = targets.long()
    keep = (targets != PAD_TARGET).float().reshape(-1)
    losses = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(),
                             targets.clamp_min(0).reshape(-1), reduction="none")
    return (losses * keep).sum() / keep.sum()


class CharWindows(torch.utils.data.Dataset):
    """(inputs, next characters) windows of a text, for entry-point models."""

    def __init__(self, text: str, chars: str, seq_len: int) -> None:
        lookup = {c: i for i, c in enumerate(chars)}
        self.ids = torch.tensor([lookup[c] for c in text], dtype=torch.long)
        self.seq_len = seq_len

    def __len__(self) -> int:
        return (len(self.ids) - 1) // self.seq_len

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        start = index * self.seq_len
        window = self.ids[start:start + self.seq_len + 1]
        return window[:-1], window[1:]


class DeepTanhLM(torch.nn.Module):
    """A deep tanh MLP over token embeddings with no normalisation, no residuals and a
    bias-free layers: with a small init every layer shrinks the signal, so gradients vanish
    (Glorot & Bengio 2010)."""

    def __init__(self, vocab: int, width: int, depth: int, init_std: float) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, width)
        self.layers = torch.nn.ModuleList(torch.nn.Linear(width, width, bias=False)
                                          for _ in range(depth))
        self.head = torch.nn.Linear(width, vocab, bias=False)
        for layer in self.layers:
            torch.nn.init.normal_(layer.weight, std=init_std)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden = self.embed(tokens)
        for layer in self.layers:
            hidden = torch.tanh(layer(hidden))
        return self.head(hidden)


def deep_tanh_lm(config: Any) -> tuple[Any, Any, Any]:
    """Entry point (`model.entrypoint: diagnosis_faults:deep_tanh_lm`): the deep tanh model on
    the config's text; depth, width and init std come from NT_DIAG_DEEP="depth,width,std"."""
    import os

    from nt_tui.resources import read_demo_corpus

    depth, width, std = os.environ.get("NT_DIAG_DEEP", "12,64,0.02").split(",")
    text = read_demo_corpus()
    chars = "".join(sorted(set(text)))
    cut = int(len(text) * 0.9)
    seq_len = config.data.seq_len
    model = DeepTanhLM(len(chars), int(width), int(depth), float(std))
    return model, CharWindows(text[:cut], chars, seq_len), CharWindows(text[cut:], chars, seq_len)


class IdWindows(CharWindows):
    """(inputs, next tokens) windows of an already tokenised text."""

    def __init__(self, ids: Any, seq_len: int) -> None:
        self.ids = torch.as_tensor(ids, dtype=torch.long)
        self.seq_len = seq_len


def finetuned_gpt(config: Any) -> tuple[Any, Any, Any]:
    """Entry point (`model.entrypoint: diagnosis_faults:finetuned_gpt`): a fine-tune. The
    built-in GPT of the config's shape (model.n_layer/n_head/n_embd, data.seq_len, dropout)
    with the model weights of a pretraining run: NT_DIAG_PRETRAINED names its checkpoint (an
    nt-tui step_*.pt, whose "model" entry is the state dict). The texts are the config's
    data.train and data.validation (or a data.val_split of data.train), relative to the
    folder NT_DIAG_DATA, tokenised with the checkpoint's own vocabulary."""
    import os
    from pathlib import Path

    from nt_tui.engine.checkpoint import load_checkpoint
    from nt_tui.engine.model import GPT, GPTShape
    from nt_tui.engine.tokenizer import tokenizer_from_state
    from nt_tui.errors import NtTuiError
    from nt_tui.textdata import read_training_text

    source = os.environ.get("NT_DIAG_PRETRAINED")
    if not source:
        raise NtTuiError("finetuned_gpt: NT_DIAG_PRETRAINED is not set",
                         hint="set it to the pretraining run's checkpoint (step_*.pt)")
    state = load_checkpoint(Path(source))
    if not state.get("tokenizer"):
        raise NtTuiError(f"{source} holds no tokenizer: not a built-in GPT's checkpoint",
                         hint="pretrain with a built-in model size or shape")
    tokenizer = tokenizer_from_state(state["tokenizer"])
    model = GPT(GPTShape.from_config(config, tokenizer.vocab_size))
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise NtTuiError(f"the weights in {source} do not fit the config's GPT: "
                         f"{lines[1] if len(lines) > 1 else lines[0]}",
                         hint="give model.n_layer/n_head/n_embd and data.seq_len of the "
                              "pretraining run") from None
    base = Path(os.environ.get("NT_DIAG_DATA", "."))
    text = read_training_text(config.data.train, base)
    if config.data.validation:
        val_text = read_training_text(config.data.validation, base)
    else:
        cut = int(len(text) * (1 - (config.data.val_split or 0.1)))
        text, val_text = text[:cut], text[cut:]
    seq_len = config.data.seq_len
    return (model, IdWindows(tokenizer.encode(text), seq_len),
            IdWindows(tokenizer.encode(val_text), seq_len))
