"""What a config trains: the model, its training and validation items, and the loss.

Three sources (config `model:`):
- built-in GPT (`size`, or n_layer/n_head/n_embd) on a character or byte tokenisation of a
  text file or the demo corpus;
- a local Hugging Face causal-LM directory (`path`; needs `transformers`, read from disk only),
  tokenised with the directory's tokenizer when it has one, else bytes;
- user code (`entrypoint: package.module:function`), see `load_user_task`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from nt_tui.config.defaults import ResolvedConfig
from nt_tui.engine.data import DatasetItems, ItemSource, TokenWindows, smallest_dtype
from nt_tui.engine.entrypoints import UserCodeError, call_user, load_entrypoint
from nt_tui.engine.model import GPT, GPTShape
from nt_tui.engine.tokenizer import build_tokenizer, tokenizer_from_state
from nt_tui.errors import NtTuiError
from nt_tui.textdata import dataset_path, read_training_text

LossFn = Callable[[Any, Any], torch.Tensor]
#: Files that mean a Hugging Face model folder has its own tokenizer.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model",
                   "spiece.model")


@dataclass
class Task:
    model: nn.Module
    train: ItemSource
    validation: ItemSource | None
    loss_fn: LossFn
    #: True when the loss is next-token cross-entropy in nats (perplexity is meaningful).
    is_language_model: bool
    #: tokens per item, for tokens/s (1 when items are not sequences)
    tokens_per_item: int
    #: saved in checkpoints so a resumed run tokenises identically
    tokenizer_state: dict | None = None
    description: str = ""


def logits_of(outputs: Any) -> torch.Tensor:
    """Logits from a plain tensor, a Hugging Face ModelOutput or a (logits, ...) tuple."""
    if isinstance(outputs, torch.Tensor):
        return outputs
    logits = getattr(outputs, "logits", None)
    if logits is not None:
        return logits
    if isinstance(outputs, (tuple, list)) and outputs:
        return outputs[0]
    raise UserCodeError(f"the model returned {type(outputs).__name__}, not logits",
                        hint="return a tensor of logits (or give a loss_fn)")


def cross_entropy(outputs: Any, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy in nats over every target position (computed in fp32)."""
    logits = logits_of(outputs)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1))


def base_dir(resolved: ResolvedConfig) -> Path:
    """The folder relative paths in the config are read from (the config's folder)."""
    return resolved.source_path.parent if resolved.source_path else Path.cwd()


def code_dirs(resolved: ResolvedConfig, original_dir: str | None = None) -> list[Path]:
    """Folders searched for `package.module` of user code: the config's folder, the folder
    of the config the run started from (`original_dir`, for a resumed run), the working
    directory."""
    dirs = [base_dir(resolved)] + ([Path(original_dir)] if original_dir else [])
    return dirs + [Path.cwd()]


def build_task(resolved: ResolvedConfig, tokenizer_state: dict | None = None,
               search_dirs: list[Path] | None = None) -> Task:
    """Build the model and data a resolved config describes.

    `tokenizer_state` (from a checkpoint) pins the vocabulary of a resumed run;
    `search_dirs` (default `code_dirs(resolved)`) is where user code is imported from.
    """
    source = resolved.config.model.source
    if source == "entrypoint":
        return load_user_task(resolved, search_dirs or code_dirs(resolved))
    if source == "hf":
        return _hf_task(resolved)
    return _builtin_task(resolved, tokenizer_state)


def _read_texts(resolved: ResolvedConfig) -> tuple[str, str | None]:
    """(train text, validation text or None), the split applied."""
    data, base = resolved.config.data, base_dir(resolved)
    text = read_training_text(data.train, base)
    if data.validation:
        return text, read_training_text(data.validation, base)
    if data.val_split:
        cut = int(len(text) * (1 - data.val_split))
        return text[:cut], text[cut:]
    return text, None


def _windows(ids: Any, resolved: ResolvedConfig, vocab: int, name: str) -> TokenWindows:
    config = resolved.config
    tokens = torch.as_tensor(ids).to(smallest_dtype(vocab))
    return TokenWindows(tokens, config.data.seq_len, config.seed, name)


def _builtin_task(resolved: ResolvedConfig, tokenizer_state: dict | None) -> Task:
    config = resolved.config
    train_text, val_text = _read_texts(resolved)
    if tokenizer_state:
        tokenizer = tokenizer_from_state(tokenizer_state)
    else:
        tokenizer = build_tokenizer(config.data.tokenizer, train_text, val_text or "")
    vocab = tokenizer.vocab_size
    train = _windows(tokenizer.encode(train_text), resolved, vocab, "data.train")
    validation = None
    if val_text is not None:
        validation = _windows(tokenizer.encode(val_text), resolved, vocab, "validation data")
    shape = GPTShape.from_config(config, vocab)
    model = GPT(shape)
    description = (f"GPT {shape.n_layer} layers x {shape.n_embd} wide, {shape.n_head} heads, "
                   f"{shape.positional} positions, {tokenizer.kind} vocabulary of {vocab}")
    return Task(model, train, validation, cross_entropy, True, config.data.seq_len,
                tokenizer.state(), description)


def _hf_task(resolved: ResolvedConfig) -> Task:
    config = resolved.config
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise NtTuiError("model.path needs the `transformers` package",
                         hint="pip install 'nt-tui[hf]'") from None
    path = dataset_path(config.model.path, base_dir(resolved))
    if path is None or not (path / "config.json").is_file():
        raise NtTuiError(f"no Hugging Face model directory with config.json at {path}",
                         hint="point model.path at a local save_pretrained() folder")
    try:
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - transformers raises many kinds
        raise NtTuiError(f"cannot load the Hugging Face model at {path}: {exc}",
                         hint="check the folder holds a complete save_pretrained() output") \
            from None
    train_text, val_text = _read_texts(resolved)
    vocab = int(model.config.vocab_size)
    hf_tokenizer = None
    if any((path / name).is_file() for name in TOKENIZER_FILES):
        try:
            hf_tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - transformers raises many kinds
            raise NtTuiError(f"cannot load the tokenizer saved in {path}: {exc}",
                             hint="re-save it with tokenizer.save_pretrained(), or delete its "
                                  "files to train on bytes") from None
    if hf_tokenizer is not None:
        def encode(text: str) -> list[int]:
            return hf_tokenizer(text, add_special_tokens=False)["input_ids"]
        kind = f"the model's tokenizer ({type(hf_tokenizer).__name__})"
    else:
        if vocab < 256:
            raise NtTuiError(f"{path} has no tokenizer and a vocabulary of {vocab} < 256 bytes",
                             hint="save the tokenizer next to the model (save_pretrained)")
        byte_tokenizer = build_tokenizer("byte")
        encode, kind = byte_tokenizer.encode, "bytes (the folder has no tokenizer)"
    train = _windows(encode(train_text), resolved, vocab, "data.train")
    validation = _windows(encode(val_text), resolved, vocab, "validation data") \
        if val_text is not None else None
    return Task(model, train, validation, cross_entropy, True, config.data.seq_len, None,
                f"Hugging Face {type(model).__name__} from {path}, tokenised with {kind}")


def load_user_task(resolved: ResolvedConfig, search_dirs: list[Path]) -> Task:
    """Call `model.entrypoint`.

    The function takes no arguments, or one (the `TrainingConfig`), and returns
    `(model, train_dataset, val_dataset)`, optionally with a fourth element `loss_fn`, or a dict
    with those keys (`model`, `train`, `val`, `loss_fn`). Datasets are map-style
    (`__len__`, `__getitem__`) and yield `(inputs, targets)`; the default loss is
    cross-entropy of `model(inputs)` (logits on the last axis) against integer `targets`.
    """
    import inspect

    config = resolved.config
    key = "model.entrypoint"
    function = load_entrypoint(config.model.entrypoint, search_dirs, key)
    try:
        wants_config = len(inspect.signature(function).parameters) > 0
    except (TypeError, ValueError):
        wants_config = False
    result = call_user(function, key, *([config] if wants_config else []))
    if isinstance(result, dict):
        parts = [result.get(name) for name in ("model", "train", "val", "loss_fn")]
    elif isinstance(result, (tuple, list)) and len(result) in (3, 4):
        parts = [*result, None][:4]
    else:
        raise UserCodeError(f"{key} returned {type(result).__name__}",
                            hint="return (model, train_dataset, val_dataset[, loss_fn])")
    model, train, validation, loss_fn = parts
    if not isinstance(model, nn.Module):
        raise UserCodeError(f"{key} returned a {type(model).__name__} as the model",
                            hint="return a torch.nn.Module first")
    if train is None:
        raise UserCodeError(f"{key} returned no training dataset",
                            hint="return (model, train_dataset, val_dataset)")
    user_loss: LossFn = cross_entropy
    if loss_fn is not None:
        def user_loss(outputs: Any, targets: Any) -> torch.Tensor:
            return call_user(loss_fn, f"{key} loss_fn", outputs, targets)
    return Task(model, DatasetItems(train, "the training dataset"),
                DatasetItems(validation, "the validation dataset") if validation is not None
                else None, user_loss, False, 1, None,
                f"{type(model).__name__} from {config.model.entrypoint}")
