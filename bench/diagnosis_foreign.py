"""A second labelled diagnosis set: runs trained and logged by OTHER tools.

    python bench/diagnosis_foreign.py train    --work /tmp/foreign [--only SUBSTR] [--seeds 1,2]
    python bench/diagnosis_foreign.py check    --work /tmp/foreign [--only SUBSTR]
    python bench/diagnosis_foreign.py evaluate --work /tmp/foreign [--markdown FILE]

(`train` and `evaluate` run two jobs at a time, `--jobs N` to change; seeds 1,2 make 126 runs,
about 5 minutes on two CPU cores; `check` prints each log's visibility test.)

`bench/diagnosis_dataset.py` trains every labelled run with nt-tui's own engine and then
exports it; this set is independent of that engine. Four generators train small models on
the CPU and leave each tool's NATIVE log, untouched by us:

- `hf`: `transformers.Trainer` on a randomly initialised tiny `GPT2LMHeadModel` (char- or
  byte-level) over the demo text, evaluating on a held-out 10% split; it writes
  `trainer_state.json` and, for some runs, TensorBoard events under `runs/` (two logs).
- `lightning`: `lightning.Trainer` on a 10-class MLP classifier (Gaussian-mixture data), a
  tiny char LSTM LM, or a tiny causal Transformer LM (for the step-size faults), with
  `CSVLogger` (`metrics.csv`) and, for some runs, `TensorBoardLogger` too;
  `LearningRateMonitor` on some runs; a grad norm only on some of the runs whose fault is
  about gradients (`grad_2.0_norm_total`, Lightning's own utility).
- `plain`: a hand-written PyTorch loop (MLP classifier, or a causal TransformerEncoder LM)
  writing a generic CSV or JSONL with a `step` column and common metric names.
- `accel`: a hand-written loop driven by `accelerate.Accelerator(cpu=True)` (a GRU char/byte
  LM, a residual-MLP or 1-D conv classifier; RMSprop, Adagrad, NAdam, Nesterov SGD, AdamW;
  torch LR schedulers), written apart from the other three as a held-out style, logging to
  TensorBoard (`Loss/train`, `Loss/val`, `train/lr`), a JSONL (`train/loss`, `val/loss`) or
  a CSV (`iteration,training_loss,validation_loss,learning_rate`).

Every cause id of the contract (/work/shared/spec/diagnose.md) is injected the way it
happens with that tool (see `hf_recipes`, `lightning_recipes`, `plain_recipes`,
`accel_recipes`): a recipe is a function of the seed, so `--seeds 3,4` makes a second batch
with other sizes, steps, batch sizes and logging intervals. A run's label is kept only when
the cause shows in its own log by `visible`, a few direct tests on the logged numbers that
do not use nt-tui's diagnosis; the others are printed and left out of the score. Combos a
tool does not make natural are skipped (vanishing gradients with HF's GPT-2). `evaluate`
runs the real CLI (`nt-tui diagnose PATH --json`) on every native log (a
`trainer_state.json`, a TensorBoard directory, a `metrics.csv`, a plain or accel CSV/JSONL)
and scores it with `diagnosis_dataset.summarise`; every miss is printed as one line and
written to WORK/misses.txt. `train` skips runs already done (WORK/runs/<name>/label.json).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

#: Classes of the synthetic classification task (a uniform guess has loss ln 10).
CLASSES = 10


@dataclass
class Run:
    name: str
    generator: str
    cause: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)


# =========================================================================== recipes
# A recipe maps (seed, rng) to the params of one run; the rng varies sizes, steps, batch
# sizes and logging intervals from seed to seed.

Recipe = Callable[[int, random.Random], dict[str, Any]]


def _pick(rng: random.Random, *options: Any) -> Any:
    return options[rng.randrange(len(options))]


def hf_recipes() -> dict[str, tuple[str, Recipe]]:
    """name -> (cause, recipe) for the Hugging Face generator (tiny GPT-2, char/byte LM)."""

    def base(seed: int, rng: random.Random, **extra: Any) -> dict[str, Any]:
        params = {"vocab": _pick(rng, "char", "byte"), "n_embd": _pick(rng, 32, 48, 64),
                  "n_layer": 2, "n_head": _pick(rng, 2, 4), "seq": 64,
                  "chars": 120_000, "offset": rng.randrange(0, 900_000),
                  "steps": _pick(rng, 400, 500, 600), "batch": _pick(rng, 8, 16),
                  "lr": _pick(rng, 1e-3, 2e-3), "schedule": "cosine", "warmup": 30,
                  "optim": "adamw_torch", "clip": 1.0,
                  "logging_steps": _pick(rng, 5, 10, 20), "eval_steps": _pick(rng, 25, 50),
                  "tensorboard": rng.random() < 0.5, "dropout": 0.0, "nan_filter": True}
        params.update(extra)
        return params

    return {
        "healthy-adamw": ("healthy", lambda s, r: base(s, r, schedule=_pick(
            r, "cosine", "linear", "constant_with_warmup"))),
        "healthy-sgd": ("healthy", lambda s, r: base(
            s, r, optim="sgd", optim_args="momentum=0.9", lr=_pick(r, 0.3, 0.5),
            schedule=_pick(r, "constant", "linear"), warmup=0)),
        # a large Adam step size (a third of insufficient_warmup's) with a warmup: fine
        "healthy-warmup": ("healthy", lambda s, r: base(
            s, r, vocab="char", lr=1e-2, warmup=60, schedule="linear", n_embd=128,
            n_head=4, steps=300, logging_steps=_pick(r, 1, 2))),
        # clipping on: SGD at a step size it oscillates at, or diverges to a higher level
        "lr_too_high": ("lr_too_high", lambda s, r: base(
            s, r, optim="sgd", lr=5.0, schedule="constant", warmup=0,
            logging_steps=_pick(r, 5, 10)) if s % 2 else base(
            s, r, optim="sgd", optim_args="momentum=0.9", lr=2.5, schedule="constant",
            warmup=0)),
        "lr_too_low": ("lr_too_low", lambda s, r: base(
            s, r, lr=_pick(r, 3e-6, 5e-6), schedule="constant", warmup=0)),
        # SGD warming up to a step size past the stable one, no clipping
        "exploding_gradients": ("exploding_gradients", lambda s, r: base(
            s, r, optim="sgd", optim_args="momentum=0.9", lr=_pick(r, 2.0, 3.0), clip=0.0,
            schedule="constant_with_warmup", warmup=300, logging_steps=5,
            nan_filter=s % 2 == 0)),
        # one inf in one step's input embeddings; HF's default NaN filter on in some runs
        "numerical_instability": ("numerical_instability", lambda s, r: base(
            s, r, inf_step=_pick(r, 180, 260), nan_filter=s % 2 == 0)),
        # Adam at a large step size from step 0: its first updates overshoot
        "insufficient_warmup": ("insufficient_warmup", lambda s, r: base(
            s, r, lr=3e-2, warmup=0, schedule="linear", n_embd=128,
            n_head=4, steps=300, logging_steps=_pick(r, 1, 2))),
        "schedule_exhausted": ("schedule_exhausted", lambda s, r: base(
            s, r, schedule=_pick(r, "linear", "polynomial"), warmup=10,
            schedule_steps_share=_pick(r, 0.25, 0.35))),
        "overfitting": ("overfitting", lambda s, r: base(
            s, r, chars=_pick(r, 6_000, 8_000), n_embd=64, n_layer=2, steps=800,
            lr=3e-3, schedule="constant", eval_steps=50, batch=16)),
        "underfitting": ("underfitting", lambda s, r: base(
            s, r, n_embd=4, n_head=1, n_layer=1, lr=1e-2, schedule="constant")),
        # a SequentialSampler over text sorted by line length, or prose then code
        "data_not_shuffled": ("data_not_shuffled", lambda s, r: base(
            s, r, chars=24_000, shuffle=False, order=_pick(r, "by_length", "by_source"),
            steps=600, batch=8, logging_steps=5, schedule="constant")),
        "data_outlier": ("data_outlier", lambda s, r: base(
            s, r, garbage_steps=_garbage_steps(r, 500), steps=500, logging_steps=5,
            schedule="constant")),
        "label_leakage": ("label_leakage", lambda s, r: base(
            s, r, chars=30_000, val="leaked", steps=800, schedule="constant")),
        "bad_initialization": ("bad_initialization", lambda s, r: base(
            s, r, init_scale=_pick(r, 15.0, 25.0), logging_steps=5)),
    }


def lightning_recipes() -> dict[str, tuple[str, Recipe]]:
    """name -> (cause, recipe) for the Lightning generator (MLP classifier, char LSTM)."""

    def base(seed: int, rng: random.Random, **extra: Any) -> dict[str, Any]:
        params = {"task": "classifier", "dim": 32, "clusters": 2, "spread": 0.35,
                  "n_train": _pick(rng, 4000, 6000), "n_val": 1000, "depth": 2,
                  "width": _pick(rng, 64, 128), "act": "relu", "optim": "adamw",
                  "lr": _pick(rng, 1e-3, 3e-3), "schedule": "cosine", "warmup": 20,
                  "steps": _pick(rng, 500, 700), "batch": _pick(rng, 32, 64),
                  "log_every": _pick(rng, 5, 10, 20), "val_every": _pick(rng, 50, 100),
                  "clip": _pick(rng, 1.0, None), "tensorboard": rng.random() < 0.4,
                  "lr_monitor": rng.random() < 0.5}
        params.update(extra)
        return params

    def lstm(seed: int, rng: random.Random, **extra: Any) -> dict[str, Any]:
        return base(seed, rng, **{"task": "lstm", "chars": 60_000,
                                  "offset": rng.randrange(0, 900_000), "seq": 64, "embed": 32,
                                  "hidden": _pick(rng, 64, 96), "lr": 3e-3, "batch": 16,
                                  "val_batches": 4, **extra})

    def transformer(seed: int, rng: random.Random, **extra: Any) -> dict[str, Any]:
        return lstm(seed, rng, **{"task": "transformer", "d_model": 64, "heads": 4,
                                  "layers": 2, **extra})

    return {
        "healthy-mlp": ("healthy", lambda s, r: base(s, r)),
        "healthy-lstm": ("healthy", lambda s, r: lstm(s, r, schedule="linear")),
        # SGD with momentum, Lightning's default logging interval (50) on a long run
        "healthy-long-sgd": ("healthy", lambda s, r: base(
            s, r, optim="sgd", momentum=0.9, lr=0.05, schedule=_pick(r, "constant", "linear"),
            warmup=0, steps=1500, log_every=None, val_every=150, n_train=20_000)),
        # clipping on: SGD on a Transformer past its stable step size, with or without
        # momentum
        "lr_too_high": ("lr_too_high", lambda s, r: transformer(
            s, r, optim="sgd", momentum=0.9, lr=_pick(r, 1.5, 2.0), clip=1.0, warmup=30,
            schedule="constant", log_every=_pick(r, 5, 10), steps=500) if s % 2 else
            transformer(s, r, optim="sgd", momentum=0.0, lr=_pick(r, 5.0, 6.0), clip=1.0,
                        warmup=0, schedule="constant", log_every=5, steps=400)),
        "lr_too_low": ("lr_too_low", lambda s, r: base(
            s, r, lr=1e-4, schedule="constant", warmup=0, lr_monitor=True) if s % 2 else base(
            s, r, optim="sgd", lr=3e-2, schedule="constant", warmup=0, lr_monitor=True)),
        # SGD warming up past the stable step size of a Transformer, no clipping
        "exploding_gradients": ("exploding_gradients", lambda s, r: transformer(
            s, r, optim="sgd", momentum=0.9, lr=_pick(r, 6.0, 8.0), schedule="constant",
            warmup=300, clip=None, log_every=5, log_grad_norm=s % 2 == 1)),
        # a deep tanh MLP without biases, initialised small: nothing flows back
        "vanishing_gradients": ("vanishing_gradients", lambda s, r: base(
            s, r, depth=_pick(r, 10, 14), width=32, act="tanh", bias=False,
            init_std=0.05, optim="sgd", lr=0.05, schedule="constant",
            warmup=0, log_grad_norm=True)),
        "numerical_instability": ("numerical_instability", lambda s, r: base(
            s, r, inf_step=_pick(r, 220, 310), log_every=5, log_grad_norm=s % 2 == 1)),
        # SGD with momentum at a step size a Transformer takes once trained, from step 0
        "insufficient_warmup": ("insufficient_warmup", lambda s, r: transformer(
            s, r, optim="sgd", momentum=0.9, lr=1.0, clip=1.0, warmup=0, schedule="cosine",
            log_every=2, steps=400)),
        "schedule_exhausted": ("schedule_exhausted", lambda s, r: base(
            s, r, schedule=_pick(r, "step", "exponential"),
            schedule_steps_share=_pick(r, 0.25, 0.35), lr_monitor=True, warmup=0)),
        "overfitting": ("overfitting", lambda s, r: base(
            s, r, dim=64, n_train=_pick(r, 200, 300), label_noise=0.2, width=256,
            lr=3e-3, schedule="constant", steps=800, val_every=25, batch=32)),
        "underfitting": ("underfitting", lambda s, r: base(
            s, r, clusters=4, spread=0.6, depth=1, width=2, schedule="constant",
            lr=1e-2, steps=600)),
        # a clean source, then a noisy one, read in file order every epoch
        "data_not_shuffled": ("data_not_shuffled", lambda s, r: base(
            s, r, shuffle=False, order="by_source", n_train=_pick(r, 3000, 4000),
            width=32, batch=32, log_every=5, steps=700, schedule="constant")),
        "data_outlier": ("data_outlier", lambda s, r: base(
            s, r, log_every=5, garbage_steps=_garbage_steps(r, 600, 5), steps=600)),
        "label_leakage": ("label_leakage", lambda s, r: base(
            s, r, val="leaked", n_train=_pick(r, 400, 600), n_val=200, dropout=0.2,
            width=256, lr=3e-3, schedule="constant", val_every=50)),
        "bad_initialization": ("bad_initialization", lambda s, r: base(
            s, r, init_scale=_pick(r, 15.0, 25.0), log_every=5)),
    }


def plain_recipes() -> dict[str, tuple[str, Recipe]]:
    """name -> (cause, recipe) for the hand-written loop (MLP classifier, causal
    Transformer LM); the file (CSV or JSONL), metric names, loss averaging and logging
    interval vary with the seed."""

    def base(seed: int, rng: random.Random, **extra: Any) -> dict[str, Any]:
        params = {"task": "classifier", "dim": 32, "clusters": 2, "spread": 0.35,
                  "n_train": _pick(rng, 4000, 6000), "n_val": 1000, "depth": 2,
                  "width": _pick(rng, 64, 128), "act": "relu", "optim": "adamw",
                  "lr": _pick(rng, 1e-3, 3e-3), "schedule": "cosine", "warmup": 20,
                  "steps": _pick(rng, 400, 600, 800), "batch": _pick(rng, 32, 64),
                  "log_every": _pick(rng, 1, 2, 5, 10), "val_every": _pick(rng, 50, 100),
                  "clip": _pick(rng, 1.0, None), "file": _pick(rng, "csv", "jsonl"),
                  "loss_name": _pick(rng, "loss", "train_loss"),
                  "val_name": _pick(rng, "val_loss", "eval_loss"),
                  "lr_name": _pick(rng, "lr", "learning_rate"), "average": rng.random() < 0.5,
                  "val_rows": _pick(rng, "same", "separate"),
                  "log_grad_norm": rng.random() < 0.5}
        params.update(extra)
        return params

    def transformer(seed: int, rng: random.Random, **extra: Any) -> dict[str, Any]:
        return base(seed, rng, **{"task": "transformer", "chars": 60_000,
                                  "offset": rng.randrange(0, 900_000), "seq": 64,
                                  "d_model": 64, "heads": 4, "layers": 2, "lr": 1e-3,
                                  "batch": 16, "val_batches": 4, **extra})

    return {
        "healthy-mlp": ("healthy", lambda s, r: base(s, r)),
        "healthy-sgd": ("healthy", lambda s, r: base(
            s, r, optim="sgd", momentum=0.9, lr=0.05, schedule="linear", warmup=0)),
        "healthy-transformer": ("healthy", lambda s, r: transformer(
            s, r, schedule=_pick(r, "cosine", "constant"), warmup=50, steps=500)),
        "lr_too_high": ("lr_too_high", lambda s, r: transformer(
            s, r, optim="sgd", momentum=0.9, lr=_pick(r, 1.5, 2.0), clip=1.0, warmup=30,
            schedule="constant", log_every=_pick(r, 2, 5), steps=400) if s % 2 else
            transformer(s, r, optim="sgd", momentum=0.0, lr=_pick(r, 4.0, 5.0), clip=1.0,
                        warmup=0, schedule="constant", log_every=_pick(r, 2, 5), steps=400)),
        "lr_too_low": ("lr_too_low", lambda s, r: base(
            s, r, lr=1e-4, schedule="constant", warmup=0) if s % 2 else transformer(
            s, r, lr=2e-5, schedule="constant", warmup=0, steps=400)),
        "exploding_gradients": ("exploding_gradients", lambda s, r: transformer(
            s, r, optim="sgd", momentum=0.9, lr=_pick(r, 6.0, 8.0), schedule="constant",
            warmup=300, clip=None, log_every=_pick(r, 2, 5), log_grad_norm=s % 2 == 1)),
        "vanishing_gradients": ("vanishing_gradients", lambda s, r: base(
            s, r, depth=_pick(r, 10, 14), width=32, act="tanh", bias=False, init_std=0.05,
            optim="sgd", momentum=0.9, lr=0.02, schedule="constant", warmup=0,
            log_grad_norm=True)),
        # a shard that missed the normalisation meets a hand-written log(softmax)
        "numerical_instability": ("numerical_instability", lambda s, r: base(
            s, r, inf_step=_pick(r, 180, 260), manual_ce=True, corrupt="unscaled",
            log_every=_pick(r, 1, 2, 5), log_grad_norm=s % 2 == 1)),
        "insufficient_warmup": ("insufficient_warmup", lambda s, r: transformer(
            s, r, optim="sgd", momentum=0.9, lr=1.25, clip=1.0, warmup=0, schedule="cosine",
            log_every=_pick(r, 1, 2), steps=400)),
        "schedule_exhausted": ("schedule_exhausted", lambda s, r: base(
            s, r, schedule=_pick(r, "cosine", "linear"), warmup=10,
            schedule_steps_share=_pick(r, 0.2, 0.3))),
        "overfitting": ("overfitting", lambda s, r: base(
            s, r, dim=64, n_train=_pick(r, 200, 300), label_noise=0.2, width=256,
            lr=3e-3, schedule="constant", steps=800, val_every=25, batch=32) if s % 2 else
            transformer(s, r, chars=_pick(r, 6_000, 8_000), lr=3e-3, schedule="constant",
                        steps=800, val_every=50)),
        "underfitting": ("underfitting", lambda s, r: base(
            s, r, clusters=4, spread=0.6, depth=_pick(r, 0, 1), width=2, lr=1e-2,
            schedule="constant", steps=600)),
        "data_not_shuffled": ("data_not_shuffled", lambda s, r: transformer(
            s, r, chars=48_000, shuffle=False, order=_pick(r, "by_length", "by_source"),
            d_model=32, steps=600, batch=8, log_every=_pick(r, 2, 5), schedule="constant")),
        "data_outlier": ("data_outlier", lambda s, r: base(
            s, r, log_every=_pick(r, 1, 2), garbage_steps=_garbage_steps(r, 600, 2),
            steps=600)),
        "label_leakage": ("label_leakage", lambda s, r: base(
            s, r, val="leaked", n_train=_pick(r, 400, 600), n_val=200, dropout=0.2,
            width=256, lr=3e-3, schedule="constant", val_every=50) if s % 2 else
            transformer(s, r, chars=20_000, val="leaked", lr=3e-3, dropout=0.1,
                        schedule="constant", steps=600)),
        "bad_initialization": ("bad_initialization", lambda s, r: base(
            s, r, init_scale=_pick(r, 15.0, 25.0), log_every=_pick(r, 1, 2, 5)) if s % 2
            else transformer(s, r, init_scale=_pick(r, 10.0, 20.0), log_every=_pick(r, 1, 2),
                             steps=400)),
    }


def accel_recipes() -> dict[str, tuple[str, Recipe]]:
    """name -> (cause, recipe) for the `accelerate` loop (residual-MLP or 1-D conv
    classifier, GRU char/byte LM); optimizer, torch LR scheduler, log (TensorBoard, JSONL or
    CSV), intervals and whether the logged loss is a window mean vary with the seed."""

    def base(seed: int, rng: random.Random, **extra: Any) -> dict[str, Any]:
        params = {"task": "classifier", "model": _pick(rng, "resmlp", "conv"),
                  "dim": _pick(rng, 24, 32, 40), "clusters": 3, "spread": 0.5,
                  "n_train": _pick(rng, 3000, 5000), "n_val": 800, "blocks": _pick(rng, 2, 3),
                  "width": _pick(rng, 48, 96), "channels": _pick(rng, 8, 16),
                  "act": _pick(rng, "gelu", "silu"), "optim": "nadam",
                  "lr": _pick(rng, 1e-3, 2e-3), "schedule": _pick(rng, "onecycle",
                                                                   "warmup_linear"),
                  "warmup": _pick(rng, 20, 40), "steps": _pick(rng, 300, 400, 500),
                  "batch": _pick(rng, 32, 48, 64), "log_every": _pick(rng, 1, 2, 4, 5),
                  "eval_every": _pick(rng, 30, 50, 60), "clip": _pick(rng, 1.0, 2.0, None),
                  "log": _pick(rng, "tensorboard", "jsonl", "csv"),
                  "log_grad_norm": rng.random() < 0.5, "log_epoch": rng.random() < 0.5,
                  "average": rng.random() < 0.4}
        params.update(extra)
        return params

    def gru(seed: int, rng: random.Random, **extra: Any) -> dict[str, Any]:
        return base(seed, rng, **{"task": "gru", "vocab": _pick(rng, "char", "byte"),
                                  "chars": 80_000, "offset": rng.randrange(0, 1_000_000),
                                  "seq": _pick(rng, 48, 64), "embed": _pick(rng, 24, 32),
                                  "hidden": _pick(rng, 64, 96), "batch": _pick(rng, 16, 24),
                                  "optim": "adamw", "betas": [0.9, 0.98],
                                  "lr": _pick(rng, 2e-3, 4e-3), "val_batches": 4, **extra})

    def gradient_log(rng: random.Random) -> dict[str, Any]:
        """A log that holds the grad norm (the CSV's columns do not)."""
        return {"log": _pick(rng, "tensorboard", "jsonl"), "log_grad_norm": True}

    return {
        "healthy-gru": ("healthy", lambda s, r: gru(s, r, clip=1.0, steps=_pick(r, 300, 400))),
        "healthy-resmlp": ("healthy", lambda s, r: base(
            s, r, model="resmlp", schedule=_pick(r, "step", "exponential"), gamma=0.5,
            decay_to=0.05, n_train=10_000, batch=128, lr=1e-3, log_every=_pick(r, 5, 10),
            average=True)),
        "healthy-conv-sgd": ("healthy", lambda s, r: base(
            s, r, model="conv", optim="sgd_nesterov", lr=0.05,
            schedule=_pick(r, "poly", "constant"), power=1.0)),
        # RMSprop on the classifier, or Nesterov SGD on the GRU (clipped), 10-30x too large
        "lr_too_high": ("lr_too_high", lambda s, r: base(
            s, r, optim="rmsprop", lr=_pick(r, 0.03, 0.05), schedule="constant",
            log_every=_pick(r, 2, 4)) if s % 2 else gru(
            s, r, optim="sgd_nesterov", lr=_pick(r, 20.0, 30.0), clip=1.0,
            schedule="constant", log_every=_pick(r, 2, 4))),
        # Adagrad (its steps shrink on their own) or RMSprop at a tiny step size
        "lr_too_low": ("lr_too_low", lambda s, r: base(
            s, r, optim="adagrad", lr=_pick(r, 1e-4, 2e-4), schedule="constant") if s % 2
            else gru(s, r, optim="rmsprop", lr=3e-5, schedule="constant",
                     steps=_pick(r, 300, 400))),
        # a deep residual MLP without normalisation, unclipped, Nesterov SGD warming up to a
        # step size it cannot take: once past it the gradient grows geometrically to inf
        "exploding_gradients": ("exploding_gradients", lambda s, r: base(
            s, r, model="resmlp", norm=False, act="relu", blocks=_pick(r, 8, 10), width=64,
            init_std=0.1, head_scale=0.2, optim="sgd_nesterov", lr=0.3,
            schedule="warmup_linear", warmup=300, steps=_pick(r, 400, 500), clip=None,
            log_every=_pick(r, 1, 2),
            **(gradient_log(r) if s % 2 else {}))),
        # a deep plain tanh stack (no skips, no norm, no biases) initialised small
        "vanishing_gradients": ("vanishing_gradients", lambda s, r: base(
            s, r, model=_pick(r, "resmlp", "conv"), residual=False, norm=False, act="tanh",
            bias=False, init_std=0.05, blocks=_pick(r, 10, 12), width=32,
            optim="sgd_nesterov", lr=0.05, schedule="constant", **gradient_log(r))),
        # per-batch standardisation meets a batch with a stuck (constant) feature: 0/0; or a
        # hand-written masked mean over a batch that is all padding: 0/0
        "numerical_instability": ("numerical_instability", lambda s, r: base(
            s, r, standardize=True, dead_feature_step=_pick(r, 170, 230),
            schedule="warmup_linear") if s % 2 else gru(
            s, r, masked_mean=True, pad_step=_pick(r, 150, 210), clip=1.0)),
        # large-batch Adam on a two-layer GRU at a high peak LR from step 0, decayed after
        "insufficient_warmup": ("insufficient_warmup", lambda s, r: gru(
            s, r, layers=2, hidden=96, seq=32, batch=64, optim="adam", lr=0.1,
            schedule="poly", power=2.0, clip=None, steps=200, log_every=_pick(r, 1, 2),
            average=False)),
        # a scheduler sized for a third of the run (ExponentialLR, StepLR, PolynomialLR)
        "schedule_exhausted": ("schedule_exhausted", lambda s, r: base(
            s, r, schedule=_pick(r, "exponential", "step", "poly"), decay_to=0.01, gamma=0.1,
            schedule_share=_pick(r, 0.3, 0.4), lr=5e-3, steps=_pick(r, 400, 500))),
        "overfitting": ("overfitting", lambda s, r: base(
            s, r, model="resmlp", dim=64, n_train=_pick(r, 200, 300), label_noise=0.25,
            width=256, optim="adamw", betas=[0.8, 0.99], lr=3e-3, schedule="constant",
            steps=600, eval_every=25, batch=32) if s % 2 else gru(
            s, r, chars=_pick(r, 5_000, 7_000), hidden=96, lr=5e-3, schedule="constant",
            steps=500, eval_every=40)),
        # a residual MLP two units wide
        "underfitting": ("underfitting", lambda s, r: base(
            s, r, clusters=4, spread=0.6, model="resmlp", blocks=1, width=2, n_train=8000,
            schedule="constant", lr=1e-2, steps=500)),
        # the classes one after the other, or text lines sorted by length; no shuffling
        "data_not_shuffled": ("data_not_shuffled", lambda s, r: base(
            s, r, order="by_class", shuffle=False, n_train=_pick(r, 1500, 2000),
            log_every=_pick(r, 1, 2), steps=600, schedule="constant", log_epoch=True,
            log=_pick(r, "tensorboard", "jsonl")) if s % 2 else gru(
            s, r, chars=24_000, order="by_length", shuffle=False, batch=8, steps=600,
            log_every=_pick(r, 2, 4), schedule="constant", log_epoch=True,
            log=_pick(r, "tensorboard", "jsonl"))),
        # single corrupted batches (features in other units with random labels, or garbage
        # tokens) in the middle of a clipped run
        "data_outlier": ("data_outlier", lambda s, r: base(
            s, r, garbage_steps=_garbage_steps(r, 500, 1), steps=500, clip=1.0,
            log_every=_pick(r, 1, 2), average=False, schedule="constant") if s % 2 else gru(
            s, r, garbage_steps=_garbage_steps(r, 400, 1), steps=400, clip=1.0,
            log_every=_pick(r, 1, 2), average=False, schedule="constant")),
        "label_leakage": ("label_leakage", lambda s, r: base(
            s, r, val="leaked", n_train=_pick(r, 800, 1000), n_val=200, dropout=0.5,
            model="resmlp", width=256, lr=3e-3, schedule="constant", eval_every=50,
            steps=500) if s % 2 else gru(
            s, r, chars=20_000, val="leaked", dropout=0.2, lr=5e-3, schedule="constant",
            steps=500)),
        # the output layer's weights scaled up 30-80x, or (conv) every weight drawn from
        # N(0, 0.5) with no fan-in scaling
        "bad_initialization": ("bad_initialization", lambda s, r: _bad_init_classifier(
            base(s, r, log_every=_pick(r, 1, 2, 5)), r) if s % 2
            else gru(s, r, head_scale=_pick(r, 50.0, 80.0), log_every=_pick(r, 1, 2))),
    }


def _bad_init_classifier(params: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The accel classifier badly initialised: the conv net with N(0, 0.5) weights (no
    fan-in scaling), the residual MLP with its head scaled up."""
    if params["model"] == "conv":
        return {**params, "init_std": 0.5}
    return {**params, "head_scale": _pick(rng, 30.0, 50.0)}


def _garbage_steps(rng: random.Random, steps: int, length: int = 3) -> list[int]:
    """Three clusters of `length` garbage batches (a bad shard) in the middle of a run."""
    starts = sorted(rng.sample(range(int(steps * 0.3), int(steps * 0.85), 10 * length), 3))
    return [start + i for start in starts for i in range(length)]


RECIPES: dict[str, Callable[[], dict[str, tuple[str, Recipe]]]] = {
    "hf": hf_recipes, "lightning": lightning_recipes, "plain": plain_recipes,
    "accel": accel_recipes,
}


def all_runs(seeds: list[int]) -> list[Run]:
    """Every labelled run of every generator for these seeds."""
    runs = []
    for generator, recipes in RECIPES.items():
        for variant, (cause, recipe) in recipes().items():
            for seed in seeds:
                name = f"{generator}--{variant}-s{seed}"
                rng = random.Random(name)
                runs.append(Run(name, generator, cause, seed, recipe(seed, rng)))
    return runs


# =========================================================================== shared data

def demo_text(chars: int, offset: int) -> str:
    from nt_tui.resources import read_demo_corpus

    text = read_demo_corpus()
    return text[offset:offset + chars]


def ordered_text(text: str, order: str) -> str:
    """`text` as an unshuffled data set holds it: lines sorted by length (short first), or
    two sources one after the other (prose, then Python code)."""
    lines = [line for line in text.splitlines(keepends=True) if line.strip()]
    if order == "by_length":
        return "".join(sorted(lines, key=len))
    if order == "by_source":
        import inspect
        import textwrap

        code = inspect.getsource(textwrap) * 3
        half = len(text) // 2
        return "".join(lines)[:half] + code[:half]
    raise ValueError(f"unknown order {order}")


def lm_text(p: dict[str, Any]) -> str:
    """The text of a language-model run: a stretch of the demo text, ordered if unshuffled."""
    text = demo_text(p["chars"], p["offset"])
    return ordered_text(text, p["order"]) if p.get("order") else text


class Tokens:
    """Char-level (the text's own characters) or byte-level (256) ids of a text."""

    def __init__(self, text: str, kind: str) -> None:
        self.kind = kind
        self.chars = sorted(set(text)) if kind == "char" else []
        self.index = {c: i for i, c in enumerate(self.chars)}

    @property
    def size(self) -> int:
        return len(self.chars) if self.kind == "char" else 256

    def encode(self, text: str) -> list[int]:
        if self.kind == "char":
            return [self.index[c] for c in text if c in self.index]
        return list(text.encode("utf-8"))


def windows(ids: list[int], length: int) -> Any:
    """Non-overlapping windows of `length` tokens (a LongTensor [n, length])."""
    import torch

    n = len(ids) // length
    return torch.tensor(ids[:n * length], dtype=torch.long).view(n, length)


def lm_split(chunks: Any, val: str, seed: int) -> tuple[Any, Any]:
    """Train and validation windows: the last 10% held out, or (leaked) a random 10% of the
    training windows themselves."""
    import torch

    cut = int(len(chunks) * 0.9)
    if val == "leaked":
        g = torch.Generator().manual_seed(seed)
        return chunks, chunks[torch.randperm(len(chunks), generator=g)[:len(chunks) // 10]]
    return chunks[:cut], chunks[cut:]


# =========================================================================== hf

def train_hf(run: Run, run_dir: Path) -> list[dict[str, str]]:
    """One `transformers.Trainer` run; returns its native logs."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, TrainingArguments
    from transformers.trainer_callback import PrinterCallback
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    p = run.params
    torch.manual_seed(run.seed)
    text = lm_text(p)
    tokens = Tokens(text, p["vocab"])
    chunks = windows(tokens.encode(text), p["seq"])
    train, val = lm_split(chunks, p.get("val", "heldout"), run.seed)
    config = GPT2Config(vocab_size=tokens.size, n_positions=p["seq"], n_embd=p["n_embd"],
                        n_layer=p["n_layer"], n_head=p["n_head"], resid_pdrop=p["dropout"],
                        embd_pdrop=p["dropout"], attn_pdrop=p["dropout"],
                        bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(config)
    if p.get("init_scale"):
        with torch.no_grad():
            for param in model.parameters():
                param.mul_(p["init_scale"])
    args = TrainingArguments(
        output_dir=str(run_dir), max_steps=p["steps"], per_device_train_batch_size=p["batch"],
        per_device_eval_batch_size=64, learning_rate=p["lr"], lr_scheduler_type=p["schedule"],
        warmup_steps=p["warmup"], max_grad_norm=p["clip"], optim=p["optim"],
        optim_args=p.get("optim_args"), weight_decay=0.0, logging_steps=p["logging_steps"],
        eval_strategy="steps", eval_steps=p["eval_steps"], save_strategy="no",
        report_to=["tensorboard"] if p["tensorboard"] else [], disable_tqdm=True,
        seed=run.seed, use_cpu=True, dataloader_num_workers=0,
        logging_nan_inf_filter=p["nan_filter"])
    trainer = _hf_trainer_class(p)(model=model, args=args, train_dataset=LMDataset(train),
                                   eval_dataset=LMDataset(val))
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    trainer.state.save_to_json(str(run_dir / "trainer_state.json"))
    logs = [{"path": "trainer_state.json", "format": "hf_trainer_state"}]
    for tb_dir in sorted((run_dir / "runs").glob("*")):
        logs.append({"path": str(tb_dir.relative_to(run_dir)), "format": "hf_tensorboard"})
    return logs


class LMDataset:
    """Windows as the `{"input_ids", "labels"}` items HF's collator stacks (GPT-2 shifts)."""

    def __init__(self, chunks: Any) -> None:
        self.chunks = chunks

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"input_ids": self.chunks[index], "labels": self.chunks[index]}


def _hf_trainer_class(p: dict[str, Any]) -> Any:
    """`Trainer` with the fault of this run: file order (no shuffle), garbage batches, an
    inf in the inputs at one step, or a scheduler sized for part of the run."""
    import torch
    from transformers import Trainer

    class FaultyTrainer(Trainer):
        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            if p.get("shuffle", True):
                return super()._get_train_sampler(train_dataset)
            return torch.utils.data.SequentialSampler(train_dataset or self.train_dataset)

        def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
            share = p.get("schedule_steps_share")
            if share:
                num_training_steps = int(num_training_steps * share)
            return super().create_scheduler(num_training_steps, optimizer)

        def training_step(self, model: Any, inputs: dict[str, Any],
                          num_items_in_batch: Any = None) -> Any:
            step = self.state.global_step
            if step in p.get("garbage_steps", ()):
                vocab = model.config.vocab_size
                garbage = torch.randint(0, vocab, inputs["input_ids"].shape)
                inputs = {**inputs, "input_ids": garbage, "labels": garbage}
            if step == p.get("inf_step"):
                embeds = model.transformer.wte(inputs["input_ids"]).detach().clone()
                embeds[0, 3] = float("inf")  # one corrupted position in one sequence
                inputs = {"inputs_embeds": embeds, "labels": inputs["labels"]}
            return super().training_step(model, inputs, num_items_in_batch)

    return FaultyTrainer


# =========================================================================== torch parts
# Shared by the Lightning and plain generators: data, models, optimizers, LR schedules.

def mixture(p: dict[str, Any], seed: int) -> tuple[Any, Any, Any, Any]:
    """A 10-class Gaussian mixture: train and validation (x, y). `clusters` per class,
    centres `spread` apart, `label_noise` of the labels random; `val="leaked"` draws the
    validation set from the training set; `order="by_source"` makes the second half of each
    set a noisier source (half its labels random), the training set holding the two in
    file order."""
    import torch

    g = torch.Generator().manual_seed(seed)
    clusters = p.get("clusters", 1)
    centres = torch.randn(CLASSES * clusters, p["dim"], generator=g) * p.get("spread", 1.0)

    def sample(n: int) -> tuple[Any, Any]:
        c = torch.randint(0, CLASSES * clusters, (n,), generator=g)
        x = centres[c] + torch.randn(n, p["dim"], generator=g)
        y = c % CLASSES
        noisy = torch.rand(n, generator=g) < p.get("label_noise", 0.0)
        y[noisy] = torch.randint(0, CLASSES, (int(noisy.sum()),), generator=g)
        if p.get("order") == "by_source":
            half = n // 2
            y[half:] = torch.where(torch.rand(n - half, generator=g) < 0.5,
                                   torch.randint(0, CLASSES, (n - half,), generator=g), y[half:])
        return x, y

    x, y = sample(p["n_train"])
    if p.get("val") == "leaked":
        pick = torch.randperm(len(y), generator=g)[:p["n_val"]]
        return x, y, x[pick], y[pick]
    return (x, y, *sample(p["n_val"]))


def char_windows(p: dict[str, Any], seed: int) -> tuple[Any, Any, int]:
    """Windows of seq+1 chars of the demo text (inputs [:-1], targets [1:]): train, val
    (held-out last 10%, or leaked) and the vocabulary size."""
    text = lm_text(p)
    tokens = Tokens(text, "char")
    train, val = lm_split(windows(tokens.encode(text), p["seq"] + 1), p.get("val", "heldout"),
                          seed)
    return train, val, tokens.size


def mlp(p: dict[str, Any]) -> Any:
    """An MLP classifier: `depth` hidden layers of `width`, `act` (relu, tanh, sigmoid),
    dropout, biases unless `bias` is False; `init_std` draws every weight from
    N(0, init_std) (biases 0)."""
    import torch
    from torch import nn

    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
    layers: list[Any] = []
    width_in = p["dim"]
    for _ in range(p["depth"]):
        layers += [nn.Linear(width_in, p["width"], bias=p.get("bias", True)),
                   acts[p.get("act", "relu")]()]
        if p.get("dropout"):
            layers.append(nn.Dropout(p["dropout"]))
        width_in = p["width"]
    layers.append(nn.Linear(width_in, CLASSES, bias=p.get("bias", True)))
    net = nn.Sequential(*layers)
    if p.get("init_std"):
        with torch.no_grad():
            for module in net:
                if isinstance(module, nn.Linear):
                    module.weight.normal_(0.0, p["init_std"])
                    if module.bias is not None:
                        module.bias.zero_()
    return net


def char_lstm(vocab: int, p: dict[str, Any]) -> Any:
    from torch import nn

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(vocab, p["embed"])
            cell = nn.RNN if p.get("cell") == "rnn" else nn.LSTM  # (a plain tanh RNN)
            self.lstm = cell(p["embed"], p["hidden"], num_layers=p.get("layers", 1),
                             batch_first=True)
            self.head = nn.Linear(p["hidden"], vocab)

        def forward(self, x: Any) -> Any:
            return self.head(self.lstm(self.embed(x))[0])

    return Model()


def causal_transformer(vocab: int, p: dict[str, Any]) -> Any:
    """A tiny causal Transformer LM from nn.TransformerEncoder (post-LN, PyTorch's default)."""
    import torch
    from torch import nn

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(vocab, p["d_model"])
            self.pos = nn.Parameter(torch.randn(p["seq"], p["d_model"]) * 0.02)
            layer = nn.TransformerEncoderLayer(p["d_model"], p["heads"], 4 * p["d_model"],
                                               dropout=p.get("dropout", 0.0),
                                               batch_first=True, norm_first=p.get("pre_ln",
                                                                                  False))
            self.encoder = nn.TransformerEncoder(layer, p["layers"], enable_nested_tensor=False)
            self.head = nn.Linear(p["d_model"], vocab)

        def forward(self, x: Any) -> Any:
            n = x.shape[1]
            mask = nn.Transformer.generate_square_subsequent_mask(n)
            return self.head(self.encoder(self.embed(x) + self.pos[:n], mask=mask,
                                          is_causal=True))

    return Model()


def scale_init(model: Any, scale: float) -> None:
    """Every weight multiplied by `scale` (a bad initialisation)."""
    import torch

    with torch.no_grad():
        for param in model.parameters():
            param.mul_(scale)


def optimizer(p: dict[str, Any], params: Any) -> Any:
    import torch

    if p["optim"] == "sgd":
        return torch.optim.SGD(params, lr=p["lr"], momentum=p.get("momentum", 0.0))
    if p["optim"] == "adam":
        return torch.optim.Adam(params, lr=p["lr"])
    return torch.optim.AdamW(params, lr=p["lr"], weight_decay=p.get("weight_decay", 0.01))


def lr_factor(p: dict[str, Any]) -> Callable[[int], float]:
    """Multiplier of the peak LR at a step: linear warmup, then `schedule` over `horizon`
    steps (the run's, or a share of it when the schedule was sized wrong): constant,
    cosine or linear (both end at 0 and stay there), step (x0.1 every tenth of the horizon),
    exponential (x0.001 at the end of the horizon)."""
    warmup, horizon = p.get("warmup", 0), int(p["steps"] * p.get("schedule_steps_share", 1.0))
    shape = p.get("schedule", "constant")

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, horizon - warmup))
        if shape == "cosine":
            return 0.5 * (1 + math.cos(math.pi * progress))
        if shape == "linear":
            return 1.0 - progress
        if shape == "step":
            return 0.1 ** int(10 * progress / 3)
        if shape == "exponential":
            return 0.001 ** ((step - warmup) / max(1, horizon - warmup))
        return 1.0

    return factor


def lm_loss(logits: Any, targets: Any) -> Any:
    import torch.nn.functional as F

    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def corrupt(batch: tuple[Any, Any], step: int, p: dict[str, Any], vocab: int) -> tuple[Any, Any]:
    """The batch at `step` as the fault has it: garbage (random tokens, or features x30
    with random labels) at `garbage_steps`, one inf value at `inf_step`."""
    import torch

    x, y = batch
    if step in p.get("garbage_steps", ()):
        if x.dtype == torch.long:
            x = torch.randint(0, vocab, x.shape)
            y = torch.randint(0, vocab, y.shape)
        else:
            x = torch.randn_like(x) * 30
            y = torch.randint(0, CLASSES, y.shape)
    if step == p.get("inf_step"):
        if x.dtype == torch.long:  # an overflowing input scale: the fault is in the model
            p["_inf_now"] = True
        elif p.get("corrupt") == "unscaled":
            x = x * 1e4  # a shard that missed the normalisation
        else:
            x = x.clone()
            x[0, 0] = float("inf")  # one corrupted record (a division by a zero std)
    return x, y


def task_data(p: dict[str, Any], seed: int) -> tuple[Any, Any, int]:
    """(train dataset, val dataset, vocabulary or classes) of a `task`."""
    from torch.utils.data import TensorDataset

    if p["task"] == "classifier":
        x, y, vx, vy = mixture(p, seed)
        return TensorDataset(x, y), TensorDataset(vx, vy), CLASSES
    train, val, vocab = char_windows(p, seed)
    return (TensorDataset(train[:, :-1], train[:, 1:]), TensorDataset(val[:, :-1], val[:, 1:]),
            vocab)


def task_model(p: dict[str, Any], vocab: int) -> Any:
    model = {"classifier": lambda: mlp(p), "lstm": lambda: char_lstm(vocab, p),
             "transformer": lambda: causal_transformer(vocab, p)}[p["task"]]()
    if p.get("init_scale"):
        scale_init(model, p["init_scale"])
    return model


def task_loss(p: dict[str, Any], model: Any, x: Any, y: Any) -> Any:
    import torch
    import torch.nn.functional as F

    if p["task"] == "classifier":
        if p.get("manual_ce"):  # a hand-written cross-entropy: log of a softmax probability
            probs = torch.softmax(model(x), dim=-1)
            return -torch.log(probs.gather(1, y[:, None])).mean()
        return F.cross_entropy(model(x), y)
    logits = model(x)
    if p.pop("_inf_now", False):
        logits = logits * float("inf")  # an overflow in one step's logits
    return lm_loss(logits, y)


# =========================================================================== lightning

def train_lightning(run: Run, run_dir: Path) -> list[dict[str, str]]:
    """One `lightning.Trainer` run; returns its native logs."""
    import logging

    import lightning as L
    from lightning.pytorch.callbacks import LearningRateMonitor
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
    from torch.utils.data import DataLoader

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    p = dict(run.params)
    L.seed_everything(run.seed, verbose=False)
    train, val, vocab = task_data(p, run.seed)
    module = _lightning_module(p, task_model(p, vocab), vocab)
    loggers: list[Any] = [CSVLogger(str(run_dir), name="csv", version=0)]
    logs = [{"path": "csv/version_0/metrics.csv", "format": "lightning_csv"}]
    if p.get("tensorboard"):
        loggers.append(TensorBoardLogger(str(run_dir), name="tb", version=0,
                                         default_hp_metric=False))
        logs.append({"path": "tb/version_0", "format": "lightning_tensorboard"})
    callbacks = [LearningRateMonitor(logging_interval="step")] if p.get("lr_monitor") else []
    trainer = L.Trainer(max_steps=p["steps"], accelerator="cpu", devices=1, logger=loggers,
                        callbacks=callbacks, log_every_n_steps=p["log_every"],
                        val_check_interval=p["val_every"], check_val_every_n_epoch=None,
                        gradient_clip_val=p.get("clip"), enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, limit_val_batches=p.get("val_batches"))
    trainer.fit(module, DataLoader(train, batch_size=p["batch"], shuffle=p.get("shuffle", True),
                                   drop_last=True),
                DataLoader(val, batch_size=256))
    return logs


def _lightning_module(p: dict[str, Any], model: Any, vocab: int) -> Any:
    import lightning as L
    import torch
    from lightning.pytorch.utilities import grad_norm

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
            x, y = corrupt((batch[0], batch[1]), self.global_step, p, vocab)
            batch[0], batch[1] = x, y

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            loss = task_loss(p, self.model, batch[0], batch[1])
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.log("val_loss", task_loss(p, self.model, batch[0], batch[1]))

        def on_before_optimizer_step(self, optimizer: Any) -> None:
            if p.get("log_grad_norm"):
                self.log("grad_2.0_norm_total", grad_norm(self, norm_type=2)[
                    "grad_2.0_norm_total"])

        def configure_optimizers(self) -> Any:
            opt = optimizer(p, self.parameters())
            scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(p))
            return {"optimizer": opt,
                    "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    return Module()


# =========================================================================== plain

def train_plain(run: Run, run_dir: Path) -> list[dict[str, str]]:
    """A hand-written PyTorch loop writing a generic CSV or JSONL; returns that log."""
    import torch
    from torch.utils.data import DataLoader

    p = dict(run.params)
    torch.manual_seed(run.seed)
    train, val, vocab = task_data(p, run.seed)
    model = task_model(p, vocab)
    opt = optimizer(p, model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(p))
    loader = DataLoader(train, batch_size=p["batch"], shuffle=p.get("shuffle", True),
                        drop_last=True)
    log = PlainLog(run_dir, p)
    step, window = 0, []
    while step < p["steps"]:
        for batch in loader:
            x, y = corrupt((batch[0], batch[1]), step, p, vocab)
            lr = opt.param_groups[0]["lr"]
            loss = task_loss(p, model, x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), p.get("clip") or math.inf)
            opt.step()
            scheduler.step()
            step += 1
            window.append(loss.item())
            row: dict[str, Any] = {}
            if step % p["log_every"] == 0:
                row = {"epoch": round(step / len(loader), 4), "loss": _mean(window)
                       if p.get("average") else window[-1], "lr": lr, "grad_norm": norm.item()}
                window = []
            if step % p["val_every"] == 0:
                row["val_loss"] = evaluate(p, model, val)
            log.write(step, row)
            if step >= p["steps"]:
                break
    log.close()
    return [{"path": log.path.name, "format": f"plain_{log.path.suffix[1:]}"}]


def evaluate(p: dict[str, Any], model: Any, val: Any) -> float:
    import torch
    from torch.utils.data import DataLoader

    model.eval()
    losses = []
    with torch.no_grad():
        for i, (x, y) in enumerate(DataLoader(val, batch_size=256)):
            if i == p.get("val_batches", 1_000):
                break
            losses.append(task_loss(p, model, x, y).item())
    model.train()
    return _mean(losses)


class PlainLog:
    """The metrics file of a hand-written loop, with the run's own names: CSV (one row per
    logged step, empty cells where a metric was not measured) or JSONL (one object per
    logged step, the evaluation in its own object when `val_rows` is "separate")."""

    def __init__(self, run_dir: Path, p: dict[str, Any]) -> None:
        self.p = p
        self.names = {"epoch": "epoch", "loss": p["loss_name"], "lr": p["lr_name"],
                      "val_loss": p["val_name"], "grad_norm": "grad_norm"}
        self.path = run_dir / ("metrics.jsonl" if p["file"] == "jsonl" else "train_log.csv")
        self.handle = self.path.open("w", newline="")
        self.columns = ["step"] + [self.names[k] for k in self.names
                                   if k != "grad_norm" or p.get("log_grad_norm")]
        if p["file"] == "csv":
            self.csv = csv.DictWriter(self.handle, fieldnames=self.columns)
            self.csv.writeheader()

    def write(self, step: int, row: dict[str, Any]) -> None:
        record = {self.names[k]: v for k, v in row.items() if self.names[k] in self.columns}
        if not record:
            return
        if self.p["file"] == "csv":
            self.csv.writerow({"step": step, **record})
        elif self.p.get("val_rows") == "separate" and self.p["val_name"] in record:
            val = record.pop(self.p["val_name"])
            for part in (record, {self.p["val_name"]: val}):
                if part:
                    self.handle.write(json.dumps({"step": step, **part}) + "\n")
        else:
            self.handle.write(json.dumps({"step": step, **record}) + "\n")
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


# =========================================================================== accel

#: the target id of a padding position (the masked-mean loss leaves it out)
PAD = -1


def train_accel(run: Run, run_dir: Path) -> list[dict[str, str]]:
    """A hand-written loop driven by `accelerate.Accelerator(cpu=True)`, logging to
    TensorBoard, a JSONL or a CSV; returns that log."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from torch.utils.data import DataLoader

    p = dict(run.params)
    set_seed(run.seed)
    train, val, vocab = accel_data(p, run.seed)
    model = accel_model(p, vocab)
    opt = accel_optimizer(p, model.parameters())
    scheduler = accel_scheduler(p, opt)
    loader = DataLoader(train, batch_size=p["batch"], shuffle=p.get("shuffle", True),
                        drop_last=True)
    accelerator = Accelerator(cpu=True)
    model, opt, loader, scheduler = accelerator.prepare(model, opt, loader, scheduler)
    log = AccelLog(run_dir, p)
    step, window = 0, []
    while step < p["steps"]:
        for x, y in loader:
            x, y = accel_fault(p, step, x, y, vocab)
            lr = opt.param_groups[0]["lr"]
            loss = accel_loss(p, model, x, y)
            accelerator.backward(loss)
            if p.get("clip"):
                norm = accelerator.clip_grad_norm_(model.parameters(), p["clip"])
            else:
                norm = torch.nn.utils.get_total_norm(
                    [q.grad for q in model.parameters() if q.grad is not None])
            opt.step()
            scheduler.step()
            opt.zero_grad()
            window.append(loss.item())
            row: dict[str, Any] = {}
            if step % p["log_every"] == 0:
                row = {"train": _mean(window) if p.get("average") else window[-1], "lr": lr,
                       "grad_norm": norm.item(), "epoch": round(step / len(loader), 4)}
                window = []
            if step > 0 and step % p["eval_every"] == 0:
                row["val"] = accel_evaluate(p, model, val)
            log.write(step, row)
            step += 1
            if step >= p["steps"]:
                break
    log.close()
    return [log.entry]


def accel_data(p: dict[str, Any], seed: int) -> tuple[Any, Any, int]:
    """(train, val, vocabulary or classes): windows of the demo text (inputs, next tokens)
    for the GRU, the Gaussian mixture for the classifier (sorted by class when
    `order="by_class"`)."""
    import torch
    from torch.utils.data import TensorDataset

    if p["task"] == "gru":
        text = lm_text(p)
        tokens = Tokens(text, p["vocab"])
        train, val = lm_split(windows(tokens.encode(text), p["seq"] + 1),
                              p.get("val", "heldout"), seed)
        return (TensorDataset(train[:, :-1], train[:, 1:]),
                TensorDataset(val[:, :-1], val[:, 1:]), tokens.size)
    x, y, vx, vy = mixture(p, seed)
    if p.get("order") == "by_class":
        order = torch.argsort(y, stable=True)
        x, y = x[order], y[order]
    return TensorDataset(x, y), TensorDataset(vx, vy), CLASSES


def accel_model(p: dict[str, Any], vocab: int) -> Any:
    """A GRU LM, a residual MLP (pre-LayerNorm blocks unless `norm` is False;
    `residual=False` makes a plain stack) or a 1-D conv net over the features; `init_std`
    for every weight, `head_scale` on the output layer."""
    import torch
    from torch import nn

    acts = {"gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh, "relu": nn.ReLU}
    bias = p.get("bias", True)

    class CharGRU(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(vocab, p["embed"])
            self.rnn = nn.GRU(p["embed"], p["hidden"], num_layers=p.get("layers", 1),
                              batch_first=True)
            self.drop = nn.Dropout(p.get("dropout", 0.0))
            self.head = nn.Linear(p["hidden"], vocab)

        def forward(self, x: Any) -> Any:
            return self.head(self.drop(self.rnn(self.drop(self.embed(x)))[0]))

    class Block(nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(width) if p.get("norm", True) else nn.Identity()
            self.inner = nn.Linear(width, 2 * width if p.get("residual", True) else width,
                                   bias=bias)
            self.outer = nn.Linear(2 * width, width, bias=bias) if p.get(
                "residual", True) else nn.Identity()
            self.act = acts[p["act"]]()
            self.drop = nn.Dropout(p.get("dropout", 0.0))

        def forward(self, x: Any) -> Any:
            if not p.get("residual", True):
                return self.act(self.inner(x))
            return x + self.drop(self.outer(self.act(self.inner(self.norm(x)))))

    if p["task"] == "gru":
        model: nn.Module = CharGRU()
    else:
        if p["model"] == "conv":
            layers: list[nn.Module] = [nn.Unflatten(1, (1, p["dim"]))]
            channels, length = 1, p["dim"]
            for i in range(p["blocks"]):
                stride = 2 if i < 2 else 1
                layers += [nn.Conv1d(channels, p["channels"], 5, stride=stride, padding=2,
                                     bias=bias), acts[p["act"]]()]
                channels, length = p["channels"], (length - 1) // stride + 1
            layers.append(nn.Flatten())
            features = channels * length
        else:
            layers = [nn.Linear(p["dim"], p["width"], bias=bias)]
            layers += [Block(p["width"]) for _ in range(p["blocks"])]
            features = p["width"]
        if p.get("dropout"):
            layers.append(nn.Dropout(p["dropout"]))
        layers.append(nn.Linear(features, CLASSES, bias=bias))
        model = nn.Sequential(*layers)
    with torch.no_grad():
        if p.get("init_std"):
            for module in model.modules():
                if isinstance(module, (nn.Linear, nn.Conv1d)):
                    module.weight.normal_(0.0, p["init_std"])
                    if module.bias is not None:
                        module.bias.zero_()
        if p.get("head_scale"):
            head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
            head.weight.mul_(p["head_scale"])
    return model


def accel_optimizer(p: dict[str, Any], params: Any) -> Any:
    import torch

    name, lr = p["optim"], p["lr"]
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=p.get("momentum", 0.0))
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr)
    if name == "nadam":
        return torch.optim.NAdam(params, lr=lr)
    if name == "sgd_nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    return torch.optim.AdamW(params, lr=lr, betas=tuple(p.get("betas", (0.9, 0.999))),
                             weight_decay=p.get("weight_decay", 0.01))


def accel_scheduler(p: dict[str, Any], opt: Any) -> Any:
    """A torch.optim.lr_scheduler over `steps` (or the `schedule_share` of them the
    schedule was sized for): onecycle, step (`gamma` every third of the horizon),
    exponential (down to `decay_to` at the horizon, and on), poly (PolynomialLR),
    warmup_linear (LambdaLR: linear warmup, then linear to 0), constant."""
    from torch.optim import lr_scheduler

    steps, shape = p["steps"], p["schedule"]
    horizon = max(1, int(steps * p.get("schedule_share", 1.0)))
    warmup = p.get("warmup", 0)
    if shape == "onecycle":
        return lr_scheduler.OneCycleLR(opt, max_lr=p["lr"], total_steps=steps,
                                       pct_start=max(0.05, warmup / steps),
                                       cycle_momentum=p["optim"] in ("sgd_nesterov", "adamw"))
    if shape == "step":
        return lr_scheduler.StepLR(opt, step_size=max(1, horizon // 3), gamma=p["gamma"])
    if shape == "exponential":
        return lr_scheduler.ExponentialLR(opt, gamma=p["decay_to"] ** (1 / horizon))
    if shape == "poly":
        return lr_scheduler.PolynomialLR(opt, total_iters=horizon, power=p.get("power", 1.0))
    if shape == "warmup_linear":
        return lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / warmup if s < warmup else max(
            0.0, 1 - (s - warmup) / max(1, horizon - warmup)))
    return lr_scheduler.LambdaLR(opt, lambda s: 1.0)


def accel_fault(p: dict[str, Any], step: int, x: Any, y: Any, vocab: int) -> tuple[Any, Any]:
    """The batch at `step` as the fault has it: a corrupted batch (garbage tokens, or
    features in other units with random labels), a stuck feature (constant over the
    batch), or a blank stretch of text (every target padding)."""
    import torch

    if step in p.get("garbage_steps", ()):
        if p["task"] == "gru":
            x, y = torch.randint(0, vocab, x.shape), torch.randint(0, vocab, y.shape)
        else:
            x, y = torch.randn_like(x) * 25, torch.randint(0, CLASSES, y.shape)
    if step == p.get("dead_feature_step"):
        x = x.clone()
        x[:, 0] = x[0, 0]
    if step == p.get("pad_step"):
        x, y = torch.zeros_like(x), torch.full_like(y, PAD)
    return x, y


def accel_loss(p: dict[str, Any], model: Any, x: Any, y: Any) -> Any:
    import torch.nn.functional as F

    if p["task"] == "gru":
        logits = model(x)
        logits = logits.reshape(-1, logits.shape[-1])
        targets = y.reshape(-1)
        if p.get("masked_mean"):  # a hand-written mean over the non-padding targets
            mask = (targets != PAD).float()
            per_token = F.cross_entropy(logits, targets.clamp(min=0), reduction="none")
            return (per_token * mask).sum() / mask.sum()
        return F.cross_entropy(logits, targets)
    if p.get("standardize"):  # per-batch feature standardisation
        x = (x - x.mean(0)) / x.std(0)
    return F.cross_entropy(model(x), y)


def accel_evaluate(p: dict[str, Any], model: Any, val: Any) -> float:
    import torch
    from torch.utils.data import DataLoader

    model.eval()
    losses = []
    with torch.no_grad():
        for i, (x, y) in enumerate(DataLoader(val, batch_size=64 if p["task"] == "gru"
                                              else 256)):
            if i == p.get("val_batches", 1_000):
                break
            losses.append(accel_loss(p, model, x, y).item())
    model.train()
    return _mean(losses)


class AccelLog:
    """The log of the accelerate loop: TensorBoard ("Loss/train", "Loss/val", "train/lr",
    "train/grad_norm", "train/epoch"), a JSONL ({"step", "train/loss", "val/loss", "lr",
    "grad_norm", "epoch"}) or a CSV (iteration,training_loss,validation_loss,learning_rate,
    empty cells where not measured); grad norm and epoch only where the run logs them."""

    TAGS: ClassVar[dict[str, dict[str, str]]] = {
        "tensorboard": {"train": "Loss/train", "val": "Loss/val", "lr": "train/lr",
                        "grad_norm": "train/grad_norm", "epoch": "train/epoch"},
        "jsonl": {"train": "train/loss", "val": "val/loss", "lr": "lr", "grad_norm": "grad_norm",
                  "epoch": "epoch"},
        "csv": {"train": "training_loss", "val": "validation_loss", "lr": "learning_rate"}}

    def __init__(self, run_dir: Path, p: dict[str, Any]) -> None:
        self.kind = p["log"]
        self.names = {k: v for k, v in self.TAGS[self.kind].items()
                      if (k != "grad_norm" or p.get("log_grad_norm"))
                      and (k != "epoch" or p.get("log_epoch"))}
        if self.kind == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / "tb"))
            self.entry = {"path": "tb", "format": "accel_tensorboard"}
            return
        path = run_dir / ("log.jsonl" if self.kind == "jsonl" else "progress.csv")
        self.entry = {"path": path.name, "format": f"accel_{self.kind}"}
        self.handle = path.open("w", newline="")
        if self.kind == "csv":
            self.csv = csv.DictWriter(self.handle, fieldnames=["iteration",
                                                               *self.names.values()])
            self.csv.writeheader()

    def write(self, step: int, row: dict[str, Any]) -> None:
        record = {self.names[k]: v for k, v in row.items() if k in self.names}
        if not record:
            return
        if self.kind == "tensorboard":
            for tag, value in record.items():
                self.writer.add_scalar(tag, value, step)
        elif self.kind == "jsonl":
            self.handle.write(json.dumps({"step": step, **record}) + "\n")
        else:
            self.csv.writerow({"iteration": step, **record})

    def close(self) -> None:
        if self.kind == "tensorboard":
            self.writer.close()
        else:
            self.handle.close()


GENERATORS: dict[str, Callable[[Run, Path], list[dict[str, str]]]] = {
    "hf": train_hf, "lightning": train_lightning, "plain": train_plain,
    "accel": train_accel,
}


# =========================================================================== reading the logs
# Our own small readers of the native logs (not nt-tui's), for `visible`: every log becomes
# records {step, train_loss, val_loss, lr, grad_norm, epoch} (the keys it has).

#: native metric name -> our name, for every name the three generators' tools write
NAMES = {"loss": "train_loss", "train/loss": "train_loss", "train_loss": "train_loss",
         "eval_loss": "val_loss", "eval/loss": "val_loss", "val_loss": "val_loss",
         "learning_rate": "lr", "train/learning_rate": "lr", "lr": "lr",
         "lr-AdamW": "lr", "lr-SGD": "lr", "lr-Adam": "lr",
         "grad_norm": "grad_norm", "train/grad_norm": "grad_norm",
         "grad_2.0_norm_total": "grad_norm", "epoch": "epoch", "train/epoch": "epoch",
         "Loss/train": "train_loss", "Loss/val": "val_loss", "train/lr": "lr",
         "val/loss": "val_loss", "training_loss": "train_loss",
         "validation_loss": "val_loss"}


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _merge_rows(rows: list[tuple[int, str, float]]) -> list[dict[str, float]]:
    """(step, native name, value) triples -> one record per step, in step order."""
    by_step: dict[int, dict[str, float]] = {}
    for step, name, value in rows:
        if name in NAMES and value is not None:
            by_step.setdefault(step, {"step": step})[NAMES[name]] = value
    return [by_step[step] for step in sorted(by_step)]


def read_trainer_state(path: Path) -> list[dict[str, float]]:
    history = json.loads(path.read_text())["log_history"]
    return _merge_rows([(entry["step"], name, _number(value)) for entry in history
                        if "train_runtime" not in entry for name, value in entry.items()])


def read_tensorboard(folder: Path) -> list[dict[str, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return _merge_rows([(event.step, tag, event.value) for tag in events.Tags()["scalars"]
                        for event in events.Scalars(tag)])


def read_table(path: Path) -> list[dict[str, float]]:
    """A Lightning metrics.csv (sparse rows), a plain CSV or a plain JSONL (the step column
    `step`, or `iteration`)."""
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    else:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    key = "step" if not rows or "step" in rows[0] else "iteration"
    return _merge_rows([(int(float(row[key])), name, _number(value)) for row in rows
                        for name, value in row.items() if name != key])


def read_log(run_dir: Path, log: dict[str, str]) -> list[dict[str, float]]:
    path = run_dir / log["path"]
    if log["format"] == "hf_trainer_state":
        return read_trainer_state(path)
    if log["format"].endswith("tensorboard"):
        return read_tensorboard(path)
    return read_table(path)


# =========================================================================== visible
# Direct tests on the logged numbers: does the log show the injected cause as the contract
# defines it? (No nt-tui code.) Thresholds are the brief's.

def _series(records: list[dict[str, float]], key: str) -> list[tuple[int, float]]:
    return [(r["step"], r[key]) for r in records if key in r]


def _finite(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    return [(s, v) for s, v in points if math.isfinite(v)]


def _smooth(values: list[float], half: int = 2) -> list[float]:
    """Running median over 2 * half + 1 points."""
    return [_median(values[max(0, i - half):i + half + 1]) for i in range(len(values))]


def _first_bad_step(records: list[dict[str, float]]) -> int | None:
    for r in records:
        if any(not math.isfinite(r[k]) for k in ("train_loss", "val_loss", "grad_norm")
               if k in r):
            return r["step"]
    return None


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("nan")


def visible(records: list[dict[str, float]], cause: str, classes: int) -> tuple[bool, str]:
    """Does this log show `cause`? (True/False, the measure that decided.)"""
    train = _finite(_series(records, "train_loss"))
    if len(train) < 2:
        return False, f"{len(train)} finite train losses"
    check = VISIBLE.get(cause)
    return check(records, train, classes) if check else (True, "not checked")


def _healthy(records: list[dict[str, float]], train: list[tuple[int, float]],
             classes: int) -> tuple[bool, str]:
    """Finite throughout, the loss falls >= 10%, no overfitting trace (a run trained too
    long is not healthy) and no early spike (`_warmup`'s 15%)."""
    loss = _smooth([v for _, v in train])
    bad = _first_bad_step(records)
    overfits, why = _overfitting(records, train, classes)
    climb = _early_climb(_early(train))
    ok = bad is None and loss[-1] < 0.9 * loss[0] and not overfits and \
        climb < _spike_threshold(train)
    return ok, (f"smoothed loss {loss[0]:.3g} -> {loss[-1]:.3g}, first NaN/Inf step {bad}, "
                f"early climb x{climb:.2f}; {why}")


def _lr_too_high(records: list[dict[str, float]], train: list[tuple[int, float]],
                 classes: int) -> tuple[bool, str]:
    """Unstable to the end (not only early, as without warmup): in the second half of the
    run the loss climbs >= 20% above its lowest value so far, or jumps >= 10% between
    logged points at the median."""
    last = train[-1][0]
    values = [v for _, v in train]
    late = [i for i, (s, _) in enumerate(train) if s > 0.5 * last]
    if len(late) < 4:
        return False, f"{len(late)} points in the second half"
    climb = max(_over_lowest(values, i) for i in late)
    jumps = _median([abs(values[i] - values[i - 1]) / values[i - 1] for i in late
                     if values[i - 1] > 0])
    return climb >= 1.2 or jumps >= 0.1, \
        f"second half: climb x{climb:.2f} over the lowest so far, median jump {jumps:.1%}"


def _lr_too_low(records: list[dict[str, float]], train: list[tuple[int, float]],
                classes: int) -> tuple[bool, str]:
    """Falls, far too slowly: the smoothed loss drops by 3% to 25% from first to last, with
    gradients that are not tiny (when logged)."""
    loss = _smooth([v for _, v in train])
    norms = [v for _, v in _finite(_series(records, "grad_norm"))]
    grads_ok = not norms or _median(norms) >= 1e-2
    drop = 1 - loss[-1] / loss[0]
    return 0.03 <= drop <= 0.25 and grads_ok, (
        f"loss {loss[0]:.3g} -> {loss[-1]:.3g} ({drop:.0%} lower), grad norm median "
        f"{_median(norms):.3g}")


def _exploding(records: list[dict[str, float]], train: list[tuple[int, float]],
               classes: int) -> tuple[bool, str]:
    """Grad norm or loss grows >= 100x over its early level, or goes NaN/Inf after growing
    >= 10x."""
    growth = max(_growth(_series(records, "grad_norm")), _growth(_series(records, "train_loss")))
    nan = _first_bad_step(records) is not None
    return growth >= 100 or (nan and growth >= 10), \
        f"grad norm or loss x{growth:.3g} over its early level, NaN/Inf {nan}"


def _growth(points: list[tuple[int, float]]) -> float:
    """Largest finite value over the median of the first tenth of the finite values."""
    finite = [v for _, v in _finite(points)]
    if not finite:
        return 0.0
    early = _median(finite[:max(1, len(finite) // 10)])
    return max(finite) / early if early > 0 else 0.0


def _vanishing(records: list[dict[str, float]], train: list[tuple[int, float]],
               classes: int) -> tuple[bool, str]:
    """Grad norm logged and tiny (median < 1e-3); loss flat from the start (< 3% change)."""
    norms = [v for _, v in _finite(_series(records, "grad_norm"))]
    loss = _smooth([v for _, v in train])
    change = abs(loss[-1] - loss[0]) / loss[0]
    return bool(norms) and _median(norms) < 1e-3 and change < 0.03, \
        f"grad norm median {_median(norms):.3g}, loss change {change:.1%}"


def _numerical(records: list[dict[str, float]], train: list[tuple[int, float]],
               classes: int) -> tuple[bool, str]:
    """NaN/Inf appears while the last finite grad norm was normal (< 10 and <= 3x its
    median); without a grad norm, the loss just before was near its lowest."""
    bad = _first_bad_step(records)
    if bad is None:
        return False, "no NaN/Inf"
    norms = [v for s, v in _finite(_series(records, "grad_norm")) if s < bad]
    if norms:
        return norms[-1] < 10 and norms[-1] <= 3 * _median(norms), \
            f"NaN/Inf at step {bad}, last grad norm {norms[-1]:.3g}"
    before = [v for s, v in train if s < bad]
    return bool(before) and before[-1] <= 1.5 * min(before), \
        f"NaN/Inf at step {bad}, loss before {before[-1] if before else None}"


def _warmup(records: list[dict[str, float]], train: list[tuple[int, float]],
            classes: int) -> tuple[bool, str]:
    """A spike in the first 15% of the steps (>= 15% above the lowest loss so far, and
    above the log's own noise: `_spike_threshold`) that recovers: the run ends below the
    spike and its second half is calm (`_lr_too_high` does not hold)."""
    early = _early(train)
    if len(early) < 4:
        return False, f"{len(early)} points in the first 15%"
    climb, peak, threshold = _early_climb(early), max(early[1:]), _spike_threshold(train)
    unstable, why = _lr_too_high(records, train, classes)
    return climb >= threshold and train[-1][1] < peak and not unstable, \
        f"early climb x{climb:.2f} (spike threshold x{threshold:.2f}); {why}"


def _early(train: list[tuple[int, float]]) -> list[float]:
    """The losses logged in the first 15% of the steps."""
    return [v for s, v in train if s <= 0.15 * train[-1][0]]


def _early_climb(early: list[float]) -> float:
    """Largest rise over the lowest loss so far."""
    return max((_over_lowest(early, i) for i in range(1, len(early))), default=1.0)


def _over_lowest(values: list[float], i: int) -> float:
    """values[i] over the lowest value before it (1 where that is not positive: HF's NaN
    filter logs a loss of 0 once the weights are NaN)."""
    lowest = min(values[:i])
    return values[i] / lowest if lowest > 0 else 1.0


def _spike_threshold(train: list[tuple[int, float]]) -> float:
    """How far above its lowest value so far a logged loss must climb to be a spike: 15%,
    or 3x the median jump between logged points in the second half if that is more (the
    noise of single-batch losses logged every step)."""
    values = [v for s, v in train if s > 0.5 * train[-1][0]]
    jumps = [abs(b - a) / a for a, b in pairwise(values) if a > 0]
    return max(1.15, 1 + 3 * _median(jumps)) if jumps else 1.15


def _exhausted(records: list[dict[str, float]], train: list[tuple[int, float]],
               classes: int) -> tuple[bool, str]:
    """The LR is below 1% of its peak for >= 40% of the run."""
    lr = _series(records, "lr")
    if not lr:
        return False, "no LR logged"
    peak = max(v for _, v in lr)
    last_high = max(s for s, v in lr if v >= 0.01 * peak)
    share = (lr[-1][0] - last_high) / lr[-1][0]
    return share >= 0.4, f"LR < 1% of peak for the last {share:.0%}"


def _overfitting(records: list[dict[str, float]], train: list[tuple[int, float]],
                 classes: int) -> tuple[bool, str]:
    """Val has a minimum, then rises >= 5% above it while train keeps falling."""
    val = _finite(_series(records, "val_loss"))
    if len(val) < 4:
        return False, f"{len(val)} evaluations"
    best = min(range(len(val)), key=lambda i: val[i][1])
    rise = val[-1][1] / val[best][1]
    loss = _smooth([v for _, v in train])
    at_best = loss[min(range(len(train)), key=lambda i: abs(train[i][0] - val[best][0]))]
    return rise >= 1.05 and loss[-1] < 0.95 * at_best, \
        f"val x{rise:.2f} over its minimum, train {at_best:.3g} -> {loss[-1]:.3g}"


def _underfitting(records: list[dict[str, float]], train: list[tuple[int, float]],
                  classes: int) -> tuple[bool, str]:
    """Train and val plateau together: the mean train loss changes < 5% from the third to
    the last quarter of the run, val < 5% from the first to the last evaluation of the
    second half, and the last val is within 8% of the mean train loss of the last quarter."""
    val = [v for _, v in _finite(_series(records, "val_loss"))]
    if len(val) < 4:
        return False, f"{len(val)} evaluations"
    values = [v for _, v in train]
    n = len(values)
    third, last = _mean(values[n // 2:3 * n // 4]), _mean(values[3 * n // 4:])
    half = val[len(val) // 2:]
    v_change = abs(half[0] - half[-1]) / half[0]
    t_change = abs(third - last) / third
    gap = abs(val[-1] / last - 1)
    return v_change < 0.05 and t_change < 0.05 and gap <= 0.08, \
        f"val change {v_change:.1%}, train change {t_change:.1%}, gap {gap:.1%}"


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _not_shuffled(records: list[dict[str, float]], train: list[tuple[int, float]],
                  classes: int) -> tuple[bool, str]:
    """>= 2 epochs and the detrended loss correlates >= 0.2 with itself one epoch later."""
    epochs = [v for _, v in _series(records, "epoch")]
    if not epochs or max(epochs) < 2:
        return False, f"{max(epochs) if epochs else 0} epochs"
    values = [v for _, v in train]
    lag = round(len(values) / max(epochs))
    width = max(9, lag // 2 * 2 + 1)
    trend = [_median(values[max(0, i - width // 2):i + width // 2 + 1])
             for i in range(len(values))]
    resid = [v - t for v, t in zip(values, trend)][len(values) // 5:]
    mean = sum(resid) / len(resid)
    resid = [r - mean for r in resid]
    if lag < 1 or lag >= len(resid) // 2:
        return False, f"lag {lag} of {len(resid)} points"
    power = sum(r * r for r in resid)
    if power == 0:
        return False, "a constant loss"
    acf = sum(a * b for a, b in zip(resid, resid[lag:])) / power
    return acf >= 0.2, f"autocorrelation at one epoch ({lag} points) {acf:.2f}"


def _outlier(records: list[dict[str, float]], train: list[tuple[int, float]],
             classes: int) -> tuple[bool, str]:
    """A logged loss >= 1.5x the median of its two neighbours on each side, with the loss
    back within 1.2x of the level before two points later (it recovers)."""
    values = [v for _, v in train]
    spikes = []
    for i in range(2, len(values) - 3):
        around = _median(values[i - 2:i] + values[i + 1:i + 3])
        if values[i] >= 1.5 * around and values[i + 3] <= 1.2 * max(values[i - 2:i]):
            spikes.append(train[i][0])
    return bool(spikes), f"spikes at steps {spikes}"


def _leakage(records: list[dict[str, float]], train: list[tuple[int, float]],
             classes: int) -> tuple[bool, str]:
    """Val at or below train (interpolated, 2% slack) at >= 80% of the evaluations, and val
    falling >= 20%, over >= 3 passes over the data where the log has epochs (in the first
    passes a held-out set tracks train too)."""
    val = _finite(_series(records, "val_loss"))
    if len(val) < 4:
        return False, f"{len(val)} evaluations"
    epochs = [v for _, v in _series(records, "epoch")]
    if epochs and max(epochs) < 3:
        return False, f"{max(epochs):.1f} epochs"
    steps = [s for s, _ in train]
    loss = _smooth([v for _, v in train])
    below = 0
    for step, value in val:
        i = min(range(len(steps)), key=lambda k: abs(steps[k] - step))
        below += value <= 1.02 * loss[i]
    fall = (val[0][1] - val[-1][1]) / val[0][1]
    return below >= 0.8 * len(val) and fall >= 0.2, \
        f"val <= train at {below} of {len(val)} evaluations, val fell {fall:.0%}"


def _bad_init(records: list[dict[str, float]], train: list[tuple[int, float]],
              classes: int) -> tuple[bool, str]:
    """The first logged loss is >= 2x ln(classes) (a uniform guess)."""
    first = train[0][1]
    return first >= 2 * math.log(classes), \
        f"first loss {first:.3g}, ln({classes}) {math.log(classes):.3g}"


VISIBLE: dict[str, Callable[..., tuple[bool, str]]] = {
    "healthy": _healthy, "lr_too_high": _lr_too_high, "lr_too_low": _lr_too_low,
    "exploding_gradients": _exploding, "vanishing_gradients": _vanishing,
    "numerical_instability": _numerical, "insufficient_warmup": _warmup,
    "schedule_exhausted": _exhausted, "overfitting": _overfitting,
    "underfitting": _underfitting, "data_not_shuffled": _not_shuffled,
    "data_outlier": _outlier, "label_leakage": _leakage, "bad_initialization": _bad_init}


def labelled_logs(work: Path) -> list[dict[str, Any]]:
    """Every native log of every trained run, with its label and whether it shows it."""
    items = []
    for label_path in sorted((work / "runs").glob("*/label.json")):
        label = json.loads(label_path.read_text())
        run_dir = label_path.parent
        for log in label["logs"]:
            ok, why = visible(read_log(run_dir, log), label["cause"], label["classes"])
            items.append({"path": str(run_dir / log["path"]), "format": log["format"],
                          "cause": label["cause"], "generator": label["generator"],
                          "run": label["name"], "visible": ok, "why": why})
    return items


def cmd_check(args: argparse.Namespace) -> None:
    for item in labelled_logs(Path(args.work)):
        if not args.only or any(o in item["run"] for o in args.only):
            print(f"{'ok ' if item['visible'] else 'NOT'} {item['run']:42s} "
                  f"{item['format']:22s} {item['why']}")


# =========================================================================== training

def train_one(run: Run, work: Path) -> str:
    """Train one run into work/runs/<name> (skipped when done); label.json lists its logs."""
    import shutil

    import torch

    torch.set_num_threads(1)
    run_dir = work / "runs" / run.name
    label = run_dir / "label.json"
    if label.exists():
        return f"{run.name}: done already"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    started = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logs = GENERATORS[run.generator](run, run_dir)
    seconds = time.time() - started
    label.write_text(json.dumps({**asdict(run), "logs": logs, "seconds": round(seconds, 1),
                                 "classes": classes_of(run)}, indent=1))
    return f"{run.name}: {seconds:.0f}s"


def classes_of(run: Run) -> int:
    """What a uniform guess is over: the classes, or the LM's vocabulary."""
    if run.params.get("task") == "classifier":
        return CLASSES
    return Tokens(lm_text(run.params), run.params.get("vocab", "char")).size


def cmd_train(args: argparse.Namespace) -> None:
    seeds = [int(s) for s in args.seeds.split(",")]
    chosen = [r for r in all_runs(seeds) if not args.only or any(o in r.name for o in args.only)]
    work = Path(args.work)
    started = time.time()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for message in pool.map(train_one, chosen, [work] * len(chosen)):
            print(message, flush=True)
    print(f"{len(chosen)} runs in {time.time() - started:.0f}s wall")


# =========================================================================== evaluate

def diagnose(path: str) -> dict[str, Any]:
    """`nt-tui diagnose PATH --json` as a user runs it (a subprocess): the JSON object, or
    {"error": ...} with its one-line message."""
    import shutil

    command = [shutil.which("nt-tui") or sys.executable] + ([] if shutil.which("nt-tui")
                                                            else ["-m", "nt_tui"])
    done = subprocess.run(command + ["diagnose", path, "--json"], capture_output=True,
                          text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout)


def score(item: dict[str, Any]) -> dict[str, Any]:
    """One visible log diagnosed: the fields `diagnosis_dataset.summarise` reads."""
    answer = diagnose(item["path"])
    if "error" in answer:
        return {**item, "error": answer["error"]}
    hypotheses = answer["hypotheses"]
    return {**item, "ranked": [h["cause"] for h in hypotheses],
            "confidence": hypotheses[0]["confidence"],
            "top3": [(h["cause"], h["confidence"]) for h in hypotheses[:3]],
            "detected_format": answer.get("format")}


def generator_table(results: list[dict[str, Any]]) -> str:
    from diagnosis_dataset import summarise

    lines = ["| generator | logs | top-1 | top-3 | false alarms on healthy |",
             "|---|---:|---:|---:|---:|"]
    for generator in RECIPES:
        part = [dict(r) for r in results if r["generator"] == generator]
        if part:
            summary = summarise(part)
            lines.append(f"| {generator} | {len(part)} | {summary['top1']:.0%} | "
                         f"{summary['top3']:.0%} | {summary['false_alarms']} of "
                         f"{summary['healthy_logs']} |")
    return "\n".join(lines) + "\n"


def miss_lines(results: list[dict[str, Any]]) -> list[str]:
    """One line per log whose top-1 is wrong: path, true cause, top-3 with confidences."""
    return [f"{r['path']}  true={r['cause']}  top3=" + ", ".join(
        f"{cause} {confidence:.2f}" for cause, confidence in r["top3"])
        for r in results if "ranked" in r and r["ranked"][0] != r["cause"]]


def cmd_evaluate(args: argparse.Namespace) -> None:
    from concurrent.futures import ThreadPoolExecutor

    sys.path.insert(0, str(BENCH))
    from diagnosis_dataset import markdown, summarise

    work = Path(args.work)
    items = labelled_logs(work)
    for item in items:
        if not item["visible"]:
            print(f"left out (no visible {item['cause']}): {item['path']}: {item['why']}")
    visible_items = [item for item in items if item["visible"]]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(score, visible_items))
    (work / "results.json").write_text(json.dumps(results, indent=1))
    misses = miss_lines(results)
    (work / "misses.txt").write_text("".join(line + "\n" for line in misses))
    for line in misses:
        print("miss:", line)
    for r in results:
        if "error" in r:
            print("error:", r["path"], r["error"])
    runs = {item["run"] for item in items}
    kept = {item["run"] for item in visible_items}
    text = (f"Runs: {len(runs)} ({len(runs - kept)} with no visible trace in any log); logs: "
            f"{len(items)}, {len(items) - len(visible_items)} left out as not visible.\n\n"
            + markdown(summarise([dict(r) for r in results])) + "\n"
            + generator_table(results))
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train the labelled runs")
    train.add_argument("--work", default="/tmp/nt-tui-foreign")
    train.add_argument("--only", nargs="*", help="substrings of run names to train")
    train.add_argument("--seeds", default="1,2", help="comma-separated seeds (default 1,2)")
    train.add_argument("--jobs", type=int, default=2)
    train.set_defaults(handler=cmd_train)
    check = sub.add_parser("check", help="print whether each log shows its cause")
    check.add_argument("--work", default="/tmp/nt-tui-foreign")
    check.add_argument("--only", nargs="*", help="substrings of run names")
    check.set_defaults(handler=cmd_check)
    evaluate = sub.add_parser("evaluate", help="diagnose every visible log and score it")
    evaluate.add_argument("--work", default="/tmp/nt-tui-foreign")
    evaluate.add_argument("--markdown", help="write the tables to this file")
    evaluate.add_argument("--jobs", type=int, default=2)
    evaluate.set_defaults(handler=cmd_evaluate)
    args = parser.parse_args(argv)
    args.handler(args)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
