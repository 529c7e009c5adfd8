"""Build, export and score the labelled diagnosis set (see docs/diagnosis.md).

    python bench/diagnosis_dataset.py train  --work /tmp/diag   # fault-injected runs (CPU)
    python bench/diagnosis_dataset.py export --work /tmp/diag   # every run in six log formats
    python bench/diagnosis_dataset.py evaluate --work /tmp/diag [--fit] [--markdown FILE]
    python bench/diagnosis_dataset.py fixtures --work /tmp/diag # small set for tests/

Every run is a real training run of nt-tui's engine on Tiny Shakespeare (nano/micro GPTs,
AdamW or SGD, several seeds and severities) with one fault injected through the config or
`diagnosis_faults.FaultyTrainer`; healthy runs have none. `train` skips runs already done.
Fine-tunes load the final weights of a pretraining run (`pretraining()`, trained first and
not exported) through the `diagnosis_faults:finetuned_gpt` entry point.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
FIXTURES = ROOT / "tests" / "data" / "diagnosis"

BASE: dict[str, Any] = {
    "seed": 1,
    "model": {"size": "nano"},
    "data": {"train": "demo:tinyshakespeare", "val_split": 0.1, "batch_size": 8, "seq_len": 32},
    "optimizer": {"name": "adamw"},
    "schedule": {"name": "cosine", "total_steps": 300},
    "logging": {"backends": ["jsonl"], "every": 2, "validate_every": 30, "val_batches": 4},
    "checkpointing": {"every": 100, "keep_last": 1, "keep_best": False},
}


@dataclass
class Spec:
    name: str
    cause: str
    config: dict[str, Any] = field(default_factory=dict)
    fault: dict[str, Any] = field(default_factory=dict)
    #: text files the run needs: name -> (start char, end char) of the corpus
    files: dict[str, tuple] = field(default_factory=dict)
    #: a fine-tune: the name of the run in `pretraining()` whose final weights it loads
    #: (`train_one` trains that run first when it is not done)
    pretrained: str = ""


def merge(base: dict[str, Any], *extras: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for extra in extras:
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = value
    return out


def _sgd(lr: float) -> dict[str, Any]:
    return {"optimizer": {"name": "sgd", "lr": lr, "weight_decay": 0.0}}


#: Small GPT shapes (layers, heads, width) that train in well under a minute on a busy CPU.
SHAPES = {"w32": (1, 2, 32), "w48": (2, 4, 48), "w64": (2, 4, 64)}
SMALL = {"small_train.txt": (0, 5_000), "small_val.txt": (5_000, 7_000)}
#: Unshuffled data that is *ordered*, as real unshuffled sets are: a text's lines sorted by
#: length (short lines first), or two sources one after the other (prose, then code), read in
#: file order every epoch; validation is a normal held-out stretch of the text.
SORTED = {"sorted_train.txt": (0, 30_000, "by_length"), "plain_val.txt": (40_000, 43_000)}
SOURCES = {"sources_train.txt": (0, 15_000, "prose_then_code"),
           "plain_val.txt": (40_000, 43_000)}
#: Fine-tuning data: text the pretraining runs held out (the demo corpus' last 10%), its
#: lines sorted by length (short lines first: a shift from the pretraining text, with the same
#: characters), shuffled as usual; validation is a held-out stretch sorted the same way.
FINETUNE = {"finetune_train.txt": (1_004_000, 1_084_000, "by_length"),
            "finetune_val.txt": (1_090_000, 1_100_000, "by_length")}
#: Model entry point of the fine-tunes (bench/diagnosis_faults.py).
FINETUNE_ENTRYPOINT = "diagnosis_faults:finetuned_gpt"


def _run(shape: str, seed: int, *extra: dict[str, Any]) -> dict[str, Any]:
    if shape not in SHAPES:  # a built-in size
        config: dict[str, Any] = {"seed": seed, "model": {"size": shape}}
    else:
        layers, heads, width = SHAPES[shape]
        config = {"seed": seed, "model": {"size": None, "n_layer": layers, "n_head": heads,
                                          "n_embd": width}}
    for part in extra:
        config = merge(config, part)
    return config


#: Fine-tunes (seed, shape, steps, extra config): AdamW at a fine-tuning LR.
FINETUNES = [(65, "w48", 400, {"optimizer": {"lr": 3e-4}}),
             (66, "w64", 500, {"optimizer": {"lr": 2e-4}, "schedule": {"name": "linear"}}),
             (67, "micro", 300, {"optimizer": {"lr": 4e-4},
                                 "schedule": {"name": "constant_with_final_decay"}}),
             (68, "w32", 600, {"optimizer": {"lr": 5e-4}, "data": {"batch_size": 16}}),
             (80, "w48", 500, {"optimizer": {"lr": 2e-4}, "schedule": {"name": "linear"},
                               "data": {"batch_size": 16}}),
             (88, "w64", 400, {"optimizer": {"lr": 3e-4},
                               "schedule": {"name": "constant_with_final_decay"}}),
             (96, "w32", 400, {"optimizer": {"lr": 4e-4}, "schedule": {"name": "linear"}})]


def pretraining() -> list[Spec]:
    """The runs the fine-tunes load (`Spec.pretrained`): normal healthy runs on the demo
    corpus, checkpoints on (the last one holds the final weights). Not labelled runs: they are
    outside `specs()`, so `export` skips them; `train` runs those its fine-tunes need first."""
    return [Spec(f"pretraining--{shape}-s{seed}", "pretraining",
                 _run(shape, seed, {"optimizer": {"lr": 2e-3},
                                    "schedule": {"total_steps": 700}}))
            for seed, shape, _, _ in FINETUNES]


def specs() -> list[Spec]:
    """Every labelled run: several variants per cause (optimizer, size, seed, severity)."""
    out: list[Spec] = []

    def add(cause: str, shape: str, seed: int, *extra: dict[str, Any],
            fault: dict[str, Any] | None = None, files: dict[str, tuple[int, int]] | None = None,
            tag: str = "") -> None:
        name = f"{cause}--{shape}{tag}-s{seed}"
        out.append(Spec(name, cause, _run(shape, seed, *extra), fault or {}, files or {}))

    for seed, shape, extra in [(11, "w48", {}), (12, "w64", {"schedule": {"name": "linear"}}),
                               (13, "w32", {"optimizer": {"lr": 3e-3}}),
                               (14, "w48", {"regularization": {"dropout": 0.1}}),
                               (15, "w64", _sgd(0.5)),
                               (16, "w48", {"schedule": {"name": "constant_with_final_decay"}}),
                               (17, "micro", {"schedule": {"name": "linear"}}),
                               (18, "w32", _sgd(0.3) | {"data": {"batch_size": 16}}),
                               (19, "w64", {"optimizer": {"lr": 2e-3}}),
                               (20, "w32", _sgd(0.4) | {"schedule": {"name": "constant"}}),
                               (21, "w48", {"optimizer": {"lr": 1.5e-3},
                                            "schedule": {"name": "linear"}}),
                               (22, "micro", {}),
                               (23, "w64", {"schedule": {"name": "constant_with_final_decay"}}),
                               (24, "micro", {"schedule": {"name": "constant_with_final_decay"}}),
                               (25, "w48", _sgd(0.4) | {"data": {"batch_size": 16}}),
                               (26, "w32", {"optimizer": {"lr": 2e-3},
                                            "schedule": {"name": "linear"}}),
                               (29, "w64", {"optimizer": {"lr": 1.5e-3},
                                            "schedule": {"name": "constant_with_final_decay"}}),
                               (30, "w48", _sgd(0.3) | {"schedule": {"name": "linear"}}),
                               (31, "micro", {"optimizer": {"lr": 2e-3}}),
                               (32, "w32", {"regularization": {"dropout": 0.1},
                                            "schedule": {"name": "linear"}}),
                               (35, "w64", {"optimizer": {"lr": 1.5e-3},
                                            "schedule": {"name": "linear"}}),
                               (36, "w48", _sgd(0.5) | {"schedule": {"name": "constant"}}),
                               (37, "micro", {"regularization": {"dropout": 0.1}}),
                               (38, "w32", {"optimizer": {"lr": 2e-3},
                                            "schedule": {"name": "constant_with_final_decay"}}),
                               (41, "w48", {"optimizer": {"lr": 2e-3},
                                            "schedule": {"name": "constant_with_final_decay"}}),
                               (42, "micro", {"optimizer": {"lr": 1.5e-3}}),
                               (43, "w64", _sgd(0.4) | {"schedule": {"name": "linear"}}),
                               (44, "w32", {"regularization": {"dropout": 0.1},
                                            "schedule": {"name": "constant_with_final_decay"}}),
                               (47, "w64", {"optimizer": {"lr": 2e-3},
                                            "schedule": {"name": "linear"}}),
                               (48, "w32", _sgd(0.5) | {"schedule": {"name": "linear"}}),
                               (49, "micro", {"optimizer": {"lr": 1.5e-3},
                                              "schedule": {"name": "constant_with_final_decay"}}),
                               (50, "w48", {"regularization": {"dropout": 0.1},
                                            "data": {"batch_size": 16}}),
                               (53, "w64", _sgd(0.3) | {"data": {"batch_size": 16}}),
                               (54, "micro", {"optimizer": {"lr": 2e-3},
                                              "schedule": {"name": "linear"}}),
                               (55, "w32", {"optimizer": {"lr": 1.5e-3},
                                            "schedule": {"name": "constant_with_final_decay"}}),
                               (56, "w48", {"regularization": {"dropout": 0.1},
                                            "schedule": {"name": "linear"}}),
                               (75, "micro", _sgd(0.4) | {"schedule": {"name": "linear"}}),
                               (76, "w64", {"regularization": {"dropout": 0.1},
                                            "data": {"batch_size": 16}}),
                               (77, "w32", {"optimizer": {"lr": 1.5e-3},
                                            "data": {"batch_size": 16}}),
                               (78, "w48", _sgd(0.3) | {"schedule": {
                                   "name": "constant_with_final_decay"}}),
                               (83, "w64", _sgd(0.5) | {"data": {"batch_size": 16}}),
                               (84, "micro", {"regularization": {"dropout": 0.1},
                                              "schedule": {"name": "linear"}}),
                               (85, "w32", {"optimizer": {"lr": 2e-3},
                                            "data": {"batch_size": 16}}),
                               (86, "w48", {"optimizer": {"lr": 1.5e-3},
                                            "schedule": {"name": "constant"}}),
                               (91, "micro", _sgd(0.5) | {"data": {"batch_size": 16}}),
                               (92, "w64", {"regularization": {"dropout": 0.1},
                                            "schedule": {"name": "constant"}}),
                               (93, "w48", {"optimizer": {"lr": 2e-3},
                                            "data": {"batch_size": 16}}),
                               (94, "w32", {"optimizer": {"lr": 1.5e-3},
                                            "schedule": {"name": "linear"}})]:
        add("healthy", shape, seed, extra)
    for seed, shape, extra in [(1, "w48", {"optimizer": {"lr": 0.3}}),
                               (2, "w64", {"optimizer": {"lr": 0.1},
                                           "schedule": {"name": "constant"}}),
                               (3, "w32", _sgd(40.0)), (4, "w48", {"optimizer": {"lr": 0.15}}),
                               (5, "w64", {"optimizer": {"lr": 0.2}, "schedule": {"name": "linear"}}),
                               (6, "w32", {"optimizer": {"lr": 0.25}}),
                               (7, "w48", {"optimizer": {"lr": 0.2},
                                           "schedule": {"name": "constant"}}),
                               (8, "w64", {"optimizer": {"lr": 0.12}}),
                               (9, "w32", {"optimizer": {"lr": 0.15},
                                           "schedule": {"name": "linear"}}),
                               (10, "w48", _sgd(40.0)),
                               (27, "w32", {"optimizer": {"lr": 0.25},
                                            "schedule": {"name": "constant"}}),
                               (28, "w64", _sgd(40.0)),
                               (33, "w64", {"optimizer": {"lr": 0.15},
                                            "schedule": {"name": "constant"}}),
                               (34, "w48", _sgd(40.0)),
                               (39, "w32", {"optimizer": {"lr": 0.2},
                                            "schedule": {"name": "linear"}}),
                               (40, "w48", {"optimizer": {"lr": 0.12},
                                            "schedule": {"name": "constant"}}),
                               (45, "w64", {"optimizer": {"lr": 0.25},
                                            "schedule": {"name": "linear"}}),
                               (46, "w32", _sgd(40.0) | {"schedule": {"name": "constant"}}),
                               (51, "w48", {"optimizer": {"lr": 0.25},
                                            "data": {"batch_size": 16}}),
                               (52, "w64", _sgd(40.0) | {"schedule": {"name": "linear"}}),
                               (73, "w32", {"optimizer": {"lr": 0.12},
                                            "data": {"batch_size": 16}}),
                               (74, "w48", _sgd(40.0) | {"schedule": {"name": "linear"}}),
                               (81, "w64", {"optimizer": {"lr": 0.3},
                                            "schedule": {"name": "linear"}}),
                               (82, "w32", _sgd(40.0) | {"data": {"batch_size": 16}}),
                               (89, "w48", {"optimizer": {"lr": 0.15},
                                            "schedule": {"name": "linear"},
                                            "data": {"batch_size": 16}}),
                               (90, "w64", _sgd(40.0) | {"schedule": {"name": "constant"}})]:
        add("lr_too_high", shape, seed, extra)
    for seed, shape, extra in [(1, "w48", {"optimizer": {"lr": 1e-5}}),
                               (2, "w64", {"optimizer": {"lr": 3e-6}}), (3, "w48", _sgd(2e-3)),
                               (4, "w32", {"optimizer": {"lr": 2e-5},
                                           "schedule": {"name": "constant"}}),
                               (5, "w32", {"optimizer": {"lr": 5e-6}}), (6, "w64", _sgd(1e-3)),
                               (7, "w48", {"optimizer": {"lr": 8e-6}}), (8, "w32", _sgd(5e-4)),
                               (9, "w64", {"optimizer": {"lr": 1e-5},
                                           "schedule": {"name": "constant"}}),
                               (10, "w48", _sgd(5e-4)),
                               (27, "w64", {"optimizer": {"lr": 5e-6}}), (28, "w32", _sgd(1e-3)),
                               (33, "w32", {"optimizer": {"lr": 1e-5}}), (34, "w64", _sgd(2e-3)),
                               (39, "w48", {"optimizer": {"lr": 5e-6},
                                            "schedule": {"name": "constant"}}),
                               (40, "w32", _sgd(2e-3)),
                               (45, "w48", {"optimizer": {"lr": 3e-6},
                                            "schedule": {"name": "linear"}}),
                               (46, "w64", _sgd(5e-4) | {"data": {"batch_size": 16}}),
                               (51, "w32", {"optimizer": {"lr": 8e-6},
                                            "schedule": {"name": "linear"}}),
                               (52, "w48", _sgd(1e-3) | {"schedule": {"name": "constant"}}),
                               (73, "w64", {"optimizer": {"lr": 8e-6},
                                            "schedule": {"name": "linear"}}),
                               (74, "w32", _sgd(1e-3) | {"data": {"batch_size": 16}}),
                               (81, "w48", {"optimizer": {"lr": 2e-5},
                                            "data": {"batch_size": 16}}),
                               (82, "w64", _sgd(2e-3) | {"schedule": {"name": "linear"}}),
                               (89, "w32", {"optimizer": {"lr": 3e-6},
                                            "data": {"batch_size": 16}}),
                               (90, "w48", _sgd(5e-4) | {"schedule": {"name": "linear"}})]:
        add("lr_too_low", shape, seed, extra)
    for seed, shape, extra in [(1, "w48", _sgd(3.0)), (2, "w64", _sgd(2.0)),
                               (3, "w32", _sgd(6.0) | {"schedule": {"name": "constant"}}),
                               (4, "w48", {"optimizer": {"lr": 1.0},
                                           "schedule": {"warmup_steps": 30}}),
                               (5, "w64", _sgd(4.0)),
                               (6, "w32", {"optimizer": {"lr": 0.8},
                                           "schedule": {"warmup_steps": 20}}),
                               (7, "w48", _sgd(5.0)), (8, "w32", _sgd(8.0)),
                               (9, "w64", {"optimizer": {"lr": 0.8},
                                           "schedule": {"warmup_steps": 30}}),
                               (10, "w32", _sgd(4.0)), (27, "w64", _sgd(6.0)),
                               (28, "w48", {"optimizer": {"lr": 0.9},
                                            "schedule": {"warmup_steps": 20}}),
                               (33, "w48", _sgd(6.0)),
                               (34, "w64", {"optimizer": {"lr": 1.0},
                                            "schedule": {"warmup_steps": 20}}),
                               (39, "w32", {"optimizer": {"lr": 0.9},
                                            "schedule": {"warmup_steps": 30}}),
                               (40, "w48", _sgd(4.0)),
                               (45, "w32", _sgd(5.0) | {"schedule": {"name": "linear"}}),
                               (46, "w48", {"optimizer": {"lr": 0.8},
                                            "schedule": {"warmup_steps": 30, "name": "linear"}}),
                               (51, "w64", _sgd(5.0) | {"data": {"batch_size": 16}}),
                               (52, "w32", {"optimizer": {"lr": 1.0},
                                            "schedule": {"warmup_steps": 20,
                                                         "name": "constant"}}),
                               (73, "w48", _sgd(8.0) | {"schedule": {"name": "linear"}}),
                               (74, "w64", {"optimizer": {"lr": 0.9},
                                            "schedule": {"warmup_steps": 30,
                                                         "name": "constant"}}),
                               (81, "w64", _sgd(8.0) | {"schedule": {"name": "constant"}}),
                               (82, "w32", {"optimizer": {"lr": 0.9},
                                            "schedule": {"warmup_steps": 20, "name": "linear"},
                                            "data": {"batch_size": 16}}),
                               (89, "w48", {"optimizer": {"lr": 1.0},
                                            "schedule": {"warmup_steps": 20, "name": "linear"},
                                            "data": {"batch_size": 16}}),
                               (90, "w64", _sgd(3.0) | {"schedule": {"name": "linear"}})]:
        add("exploding_gradients", shape, seed, {"regularization": {"grad_clip": 0.0}}, extra)
    for seed, deep, lr in [(1, "12,64,0.02", 0.1), (2, "8,64,0.04", 0.5), (3, "10,32,0.05", 0.3),
                           (4, "6,64,0.03", 0.1), (5, "9,48,0.03", 0.2), (6, "7,32,0.02", 0.3),
                           (7, "11,48,0.03", 0.2), (8, "8,48,0.02", 0.4),
                           (9, "9,64,0.02", 0.3), (10, "10,48,0.04", 0.2),
                           (27, "7,64,0.03", 0.2), (28, "11,32,0.04", 0.4),
                           (33, "10,64,0.03", 0.3), (34, "8,32,0.03", 0.2),
                           (39, "9,32,0.04", 0.3), (40, "12,48,0.03", 0.2),
                           (45, "11,64,0.03", 0.3), (46, "9,48,0.04", 0.4),
                           (51, "12,32,0.03", 0.2), (52, "7,48,0.04", 0.3),
                           (73, "10,32,0.03", 0.4), (74, "6,48,0.02", 0.3),
                           (81, "8,64,0.02", 0.4), (82, "11,48,0.02", 0.5),
                           (89, "12,64,0.03", 0.3), (90, "7,32,0.04", 0.2)]:
        out.append(Spec(f"vanishing_gradients--deep{deep.split(',')[0]}-s{seed}",
                        "vanishing_gradients",
                        merge({"seed": seed, "model": {"size": None,
                                                       "entrypoint": "diagnosis_faults:deep_tanh_lm"}},
                              _sgd(lr)), {"kind": "deep", "deep": deep}))
    for seed, shape, position, extra in [(1, "w48", 150, {}), (2, "w64", 230, {}),
                                         (3, "w32", 90, _sgd(0.5)),
                                         (4, "w48", 260, {"optimizer": {"lr": 3e-3}}),
                                         (5, "w64", 180, _sgd(0.3)),
                                         (6, "w32", 120, {"optimizer": {"lr": 2e-3}}),
                                         (7, "w48", 200, _sgd(0.4)),
                                         (8, "w64", 140, {"optimizer": {"lr": 1e-3}}),
                                         (9, "w32", 170, {"optimizer": {"lr": 3e-3}}),
                                         (10, "w64", 250, _sgd(0.5)),
                                         (27, "w48", 210, _sgd(0.3)),
                                         (28, "w32", 130, {"optimizer": {"lr": 1e-3}}),
                                         (33, "w64", 160, {"optimizer": {"lr": 2e-3}}),
                                         (34, "w48", 240, _sgd(0.4)),
                                         (39, "w32", 220, _sgd(0.3)),
                                         (40, "w48", 110, {"optimizer": {"lr": 2e-3}}),
                                         (45, "w64", 200, {"optimizer": {"lr": 3e-3},
                                                           "schedule": {"name": "linear"}}),
                                         (46, "w32", 150,
                                          _sgd(0.4) | {"data": {"batch_size": 16}}),
                                         (51, "w48", 130, {"optimizer": {"lr": 1e-3},
                                                           "data": {"batch_size": 16}}),
                                         (52, "w64", 230,
                                          _sgd(0.3) | {"schedule": {"name": "linear"}}),
                                         (73, "w32", 190, {"optimizer": {"lr": 1.5e-3},
                                                           "schedule": {"name": "linear"}}),
                                         (74, "w64", 120,
                                          _sgd(0.4) | {"data": {"batch_size": 16}}),
                                         (81, "w48", 170,
                                          _sgd(0.5) | {"schedule": {"name": "linear"}}),
                                         (82, "w32", 240, {"optimizer": {"lr": 2e-3},
                                                           "data": {"batch_size": 16}}),
                                         (89, "w64", 210, {"optimizer": {"lr": 1.5e-3},
                                                           "data": {"batch_size": 16}}),
                                         (90, "w32", 110,
                                          _sgd(0.3) | {"schedule": {"name": "linear"}})]:
        add("numerical_instability", shape, seed, extra,
            fault={"kind": "nan_division", "position": position})
    # no warmup at a peak LR where Adam's first, badly estimated steps throw the loss up far
    # above where it started; the same runs with a 40-step warmup show no such spike
    # (measured: micro at 6e-2 climbs 4.2 -> 5.5 for ~12 steps without warmup, not with it)
    for seed, shape, lr, batch in [(1, "micro", 6e-2, 16), (2, "w64", 6e-2, 16),
                                   (3, "micro", 5e-2, 8), (4, "w64", 8e-2, 16),
                                   (5, "micro", 7e-2, 16), (6, "w64", 5e-2, 16),
                                   (7, "w64", 7e-2, 16), (8, "micro", 8e-2, 16),
                                   (9, "w64", 6e-2, 8), (10, "micro", 5e-2, 16),
                                   (27, "micro", 7e-2, 8), (28, "w64", 5e-2, 8),
                                   (33, "micro", 6e-2, 8), (34, "w64", 7e-2, 16),
                                   (39, "micro", 8e-2, 8), (40, "w64", 7e-2, 8),
                                   (45, "micro", 6.5e-2, 16), (46, "w64", 8e-2, 8),
                                   (51, "w64", 6.5e-2, 16), (52, "micro", 7.5e-2, 8),
                                   (73, "micro", 5.5e-2, 16), (74, "w64", 7.5e-2, 16),
                                   (81, "micro", 7.5e-2, 16), (82, "w64", 5.5e-2, 8),
                                   (89, "micro", 6.5e-2, 8), (90, "w64", 5.5e-2, 16)]:
        add("insufficient_warmup", shape, seed, {"optimizer": {"lr": lr},
                                                 "schedule": {"warmup_steps": 0},
                                                 "regularization": {"grad_clip": 0.0},
                                                 "data": {"batch_size": batch},
                                                 "logging": {"every": 1}})
    for seed, shape, name, total, run in [(1, "w48", "cosine", 100, 350),
                                          (2, "w64", "linear", 80, 300),
                                          (3, "w32", "linear", 120, 400),
                                          (4, "w48", "cosine", 150, 450),
                                          (5, "w64", "cosine", 120, 400),
                                          (6, "w32", "linear", 100, 350),
                                          (7, "w48", "linear", 90, 320),
                                          (8, "w64", "cosine", 110, 380),
                                          (9, "w32", "cosine", 90, 330),
                                          (10, "w64", "linear", 130, 420),
                                          (27, "w32", "cosine", 140, 430),
                                          (28, "w48", "linear", 110, 370),
                                          (33, "w64", "cosine", 100, 360),
                                          (34, "w32", "linear", 130, 410),
                                          (39, "w48", "cosine", 120, 410),
                                          (40, "w32", "linear", 90, 340),
                                          (45, "w64", "linear", 110, 400),
                                          (46, "w32", "cosine", 130, 420),
                                          (51, "w48", "cosine", 130, 400),
                                          (52, "w64", "linear", 90, 350),
                                          (73, "w32", "cosine", 100, 380),
                                          (74, "w48", "linear", 140, 430),
                                          (81, "w64", "cosine", 140, 440),
                                          (82, "w32", "linear", 80, 320),
                                          (89, "w48", "linear", 120, 390),
                                          (90, "w64", "cosine", 90, 330)]:
        add("schedule_exhausted", shape, seed,
            {"schedule": {"name": name, "total_steps": total, "min_lr": 0.0}},
            fault={"kind": "schedule_exhausted", "run_steps": run})
    small = {"data": {"train": "small_train.txt", "validation": "small_val.txt",
                      "val_split": None}}
    # overfitting and leakage share their training setups (long runs on 5k characters, where a
    # held-out set must show a gap): only the validation file differs
    memorise = [(1, "nano", 1000, {"optimizer": {"lr": 3e-3}, "schedule": {"name": "constant"}}),
                (2, "micro", 800, {"optimizer": {"lr": 2e-3}}),
                (3, "nano", 1000, {"optimizer": {"lr": 5e-3}}),
                (4, "w64", 1200, {"optimizer": {"lr": 5e-3}, "schedule": {"name": "constant"}}),
                (5, "micro", 1000, {"optimizer": {"lr": 3e-3}, "schedule": {"name": "linear"}}),
                (6, "w64", 900, {"optimizer": {"lr": 4e-3}}),
                (7, "micro", 900, {"optimizer": {"lr": 4e-3}}),
                (8, "nano", 1100, {"optimizer": {"lr": 4e-3}, "schedule": {"name": "linear"}}),
                (9, "w64", 1000, {"optimizer": {"lr": 3e-3}, "schedule": {"name": "linear"}}),
                (10, "nano", 900, {"optimizer": {"lr": 2e-3}, "schedule": {"name": "constant"}}),
                (27, "w64", 1100, {"optimizer": {"lr": 3e-3}}),
                (28, "micro", 1000, {"optimizer": {"lr": 2e-3}, "schedule": {"name": "constant"}}),
                (33, "micro", 1100, {"optimizer": {"lr": 3e-3}, "schedule": {"name": "constant"}}),
                (34, "nano", 900, {"optimizer": {"lr": 4e-3}}),
                (39, "w64", 1000, {"optimizer": {"lr": 4e-3}, "schedule": {"name": "constant"}}),
                (40, "nano", 1000, {"optimizer": {"lr": 3e-3}, "schedule": {"name": "linear"}}),
                (45, "w64", 1100, {"optimizer": {"lr": 4e-3}, "schedule": {"name": "linear"}}),
                (46, "micro", 1000, {"optimizer": {"lr": 4e-3}, "schedule": {"name": "constant"}}),
                (51, "nano", 1200, {"optimizer": {"lr": 4e-3}, "schedule": {"name": "constant"}}),
                (52, "micro", 1100, {"optimizer": {"lr": 3e-3}, "schedule": {"name": "linear"}}),
                (73, "nano", 1100, {"optimizer": {"lr": 3e-3}}),
                (74, "w64", 1200, {"optimizer": {"lr": 5e-3}}),
                (81, "micro", 1200, {"optimizer": {"lr": 5e-3}}),
                (82, "nano", 1200, {"optimizer": {"lr": 5e-3}, "schedule": {"name": "linear"}}),
                (89, "w64", 1100, {"optimizer": {"lr": 5e-3}, "schedule": {"name": "linear"}}),
                (90, "nano", 800, {"optimizer": {"lr": 3e-3}, "schedule": {"name": "constant"}})]
    for seed, shape, steps, extra in memorise:
        add("overfitting", shape, seed, small, {"schedule": {"total_steps": steps}}, extra,
            files=SMALL)
    # too small a model trained long enough to reach its ceiling: both curves flatten early at
    # a high loss (a 2-4 wide model ends near 2.8-3.0 nats; the healthy runs pass that by step
    # 300 and keep falling)
    # (8-wide models were tried and dropped: they end below the healthy runs' loss and still
    # creep down, so no plateau at a high value is visible)
    # (LRs stay within 10x of the size table, so the variants carry no second fault)
    for seed, layers, width, heads, lr, schedule in [(1, 1, 4, 2, 1e-2, "constant"),
                                                     (2, 1, 4, 1, 1e-2, "cosine"),
                                                     (3, 1, 2, 1, 5e-3, "cosine"),
                                                     (4, 1, 4, 4, 5e-3, "constant"),
                                                     (5, 1, 4, 2, 7e-3, "linear"),
                                                     (6, 1, 2, 2, 1e-2, "constant"),
                                                     (7, 1, 3, 1, 8e-3, "cosine"),
                                                     (8, 1, 4, 2, 6e-3, "linear"),
                                                     (9, 1, 3, 3, 6e-3, "constant"),
                                                     (10, 1, 2, 1, 8e-3, "linear"),
                                                     (27, 1, 3, 1, 7e-3, "constant"),
                                                     (28, 1, 4, 1, 5e-3, "linear"),
                                                     (33, 1, 4, 1, 8e-3, "constant"),
                                                     (34, 1, 3, 3, 1e-2, "linear"),
                                                     (39, 1, 2, 2, 7e-3, "cosine"),
                                                     (40, 1, 4, 4, 8e-3, "linear"),
                                                     (45, 1, 3, 1, 6e-3, "cosine"),
                                                     (46, 1, 2, 2, 5e-3, "linear"),
                                                     (51, 1, 4, 4, 1e-2, "cosine"),
                                                     (52, 1, 3, 3, 8e-3, "cosine"),
                                                     (73, 1, 4, 2, 9e-3, "cosine"),
                                                     (74, 1, 2, 1, 6e-3, "constant"),
                                                     (81, 1, 3, 1, 9e-3, "linear"),
                                                     (82, 1, 4, 4, 6e-3, "constant"),
                                                     (89, 1, 3, 3, 7e-3, "linear"),
                                                     (90, 1, 4, 1, 7e-3, "cosine")]:
        out.append(Spec(f"underfitting--t{width}-s{seed}", "underfitting",
                        {"seed": seed, "model": {"size": None, "n_layer": layers,
                                                 "n_embd": width, "n_head": heads},
                         "optimizer": {"lr": lr},
                         "schedule": {"name": schedule, "total_steps": 1600},
                         "logging": {"every": 4, "validate_every": 60}}))
    ordered = {"data": {"validation": "plain_val.txt", "val_split": None},
               "schedule": {"total_steps": 600}, "logging": {"every": 2}}
    for seed, shape, files, extra in [(1, "w48", SORTED, {}), (2, "w64", SOURCES, {}),
                                      (3, "w48", SORTED, _sgd(0.5)),
                                      (4, "w32", SOURCES, {"optimizer": {"lr": 3e-3}}),
                                      (5, "w64", SORTED, _sgd(0.3)),
                                      (6, "w48", SOURCES, {"optimizer": {"lr": 2e-3}}),
                                      (7, "w32", SORTED, {}),
                                      (8, "w64", SOURCES, {"optimizer": {"lr": 2.5e-3}}),
                                      (9, "w32", SOURCES, _sgd(0.4)),
                                      (10, "w64", SORTED, {"optimizer": {"lr": 2e-3}}),
                                      (27, "w48", SORTED, {"optimizer": {"lr": 3e-3}}),
                                      (28, "w64", SOURCES, _sgd(0.5)),
                                      (33, "w32", SORTED, {"optimizer": {"lr": 2.5e-3}}),
                                      (34, "w48", SOURCES, _sgd(0.4)),
                                      (39, "w64", SORTED, _sgd(0.4)),
                                      (40, "w32", SOURCES, {"optimizer": {"lr": 2e-3}}),
                                      (45, "w48", SORTED, _sgd(0.3)),
                                      (46, "w64", SOURCES, {"optimizer": {"lr": 3e-3}}),
                                      (51, "w32", SORTED, _sgd(0.5)),
                                      (52, "w48", SOURCES, {"optimizer": {"lr": 2.5e-3}}),
                                      (73, "w32", SORTED, _sgd(0.3)),
                                      (74, "w48", SOURCES, {"optimizer": {"lr": 3e-3}}),
                                      (81, "w64", SORTED, {"optimizer": {"lr": 3e-3}}),
                                      (82, "w32", SOURCES, _sgd(0.3)),
                                      (89, "w48", SORTED, {"optimizer": {"lr": 2e-3}}),
                                      (90, "w64", SOURCES, _sgd(0.4))]:
        train = next(name for name in files if name != "plain_val.txt")
        add("data_not_shuffled", shape, seed, ordered, {"data": {"train": train}}, extra,
            fault={"kind": "unshuffled"}, files=files, tag=f"-{train.split('_')[0]}")
    # healthy runs of several passes (5-8 epochs) over the same small files, shuffled as usual
    # (no fault): the false-alarm check for the epoch-based rules (data order, leakage)
    for seed, shape, files, steps, extra in [
            (57, "w48", SORTED, 700, {"optimizer": {"lr": 2e-3}}),
            (58, "w64", SOURCES, 600, _sgd(0.4) | {"schedule": {"name": "linear"},
                                                    "logging": {"every": 4}}),
            (59, "w32", SORTED, 800, {"optimizer": {"lr": 3e-3},
                                      "schedule": {"name": "constant_with_final_decay"}}),
            (60, "micro", SOURCES, 450, {"optimizer": {"lr": 1e-3}, "logging": {"every": 4}}),
            (61, "w64", SORTED, 900, _sgd(0.5)),
            (62, "w48", SOURCES, 500, {"optimizer": {"lr": 2.5e-3},
                                       "schedule": {"name": "constant_with_final_decay"}}),
            (63, "micro", SORTED, 700, _sgd(0.3) | {"schedule": {"name": "linear"},
                                                    "logging": {"every": 4}}),
            (64, "w32", SOURCES, 600, {"optimizer": {"lr": 1.5e-3},
                                       "schedule": {"name": "linear"}}),
            (79, "w48", SORTED, 600, _sgd(0.4) | {"schedule": {"name": "linear"}}),
            (87, "w32", SORTED, 600, _sgd(0.5) | {"schedule": {
                "name": "constant_with_final_decay"}}),
            (95, "w64", SOURCES, 800, {"optimizer": {"lr": 1.5e-3},
                                       "schedule": {"name": "constant_with_final_decay"}})]:
        train = next(name for name in files if name != "plain_val.txt")
        add("healthy", shape, seed, ordered, {"data": {"train": train},
                                              "schedule": {"total_steps": steps}}, extra,
            files=files, tag="-epochs")
    # healthy fine-tunes: the GPT of a pretraining run (see `pretraining()`), its final weights
    # loaded, trained on new text at a low LR with a short warmup (starts well below ln(vocab),
    # drops fast on the new data, then falls slowly)
    from nt_tui.config.schema import BUILTIN_SIZES

    for seed, shape, steps, extra in FINETUNES:
        layers, heads, width = SHAPES.get(shape) or BUILTIN_SIZES[shape]  # (no size with code)
        out.append(Spec(f"healthy--{shape}-finetune-s{seed}", "healthy", _run(
            shape, seed, {"model": {"size": None, "entrypoint": FINETUNE_ENTRYPOINT,
                                    "n_layer": layers, "n_head": heads, "n_embd": width},
                          "data": {"train": "finetune_train.txt",
                                   "validation": "finetune_val.txt", "val_split": None},
                          "schedule": {"total_steps": steps, "warmup_steps": steps // 20}},
            extra), files=FINETUNE, pretrained=f"pretraining--{shape}-s{seed}"))
    # long healthy runs from scratch on the demo corpus (1500-2500 steps, coarse logging)
    for seed, shape, steps, extra in [
            (69, "w32", 2500, _sgd(0.4) | {"logging": {"every": 10, "validate_every": 200}}),
            (70, "w48", 2000, {"optimizer": {"lr": 1.5e-3}, "schedule": {"name": "linear"},
                               "logging": {"every": 5, "validate_every": 100}}),
            (71, "w64", 1500, {"optimizer": {"lr": 1e-3},
                               "logging": {"every": 5, "validate_every": 150}}),
            (72, "micro", 2000, _sgd(0.3) | {"schedule": {"name": "constant_with_final_decay"},
                                              "logging": {"every": 10,
                                                          "validate_every": 200}})]:
        add("healthy", shape, seed, {"schedule": {"total_steps": steps}}, extra, tag="-long")
    # batches at odd positions end a 2-step log window, so the logged loss is theirs; bad
    # batches of shuffled data land at irregular positions (evenly spaced ones would be a
    # pattern in the data order)
    for seed, shape, positions, extra in [(1, "w48", [121, 211], {}),
                                          (2, "w64", [101, 171, 251], {}),
                                          (3, "w32", [161], {}),
                                          (4, "w48", [91, 157, 193, 251], _sgd(0.5)),
                                          (5, "w64", [137, 229], _sgd(0.3)),
                                          (6, "w32", [113, 187, 263], {}),
                                          (7, "w48", [143, 203, 277], {}),
                                          (8, "w64", [127, 181, 239], {"optimizer": {"lr": 2e-3}}),
                                          (9, "w32", [133, 219], _sgd(0.4)),
                                          (10, "w48", [109, 197, 271],
                                           {"optimizer": {"lr": 3e-3}}),
                                          (27, "w32", [149, 233], {"optimizer": {"lr": 2e-3}}),
                                          (28, "w64", [117, 191, 259], _sgd(0.4)),
                                          (33, "w64", [119, 207], {"optimizer": {"lr": 3e-3}}),
                                          (34, "w32", [103, 179, 247], _sgd(0.5)),
                                          (39, "w64", [123, 197, 269], {}),
                                          (40, "w48", [151, 241], _sgd(0.3)),
                                          (45, "w64", [131, 213, 257], {"optimizer": {"lr": 2e-3}}),
                                          (46, "w48", [107, 189], _sgd(0.4)),
                                          (51, "w32", [139, 223, 261], {"optimizer": {"lr": 3e-3}}),
                                          (52, "w64", [113, 247], _sgd(0.5)),
                                          (73, "w48", [127, 199, 263],
                                           {"optimizer": {"lr": 2e-3}}),
                                          (74, "w32", [111, 243], _sgd(0.3)),
                                          (81, "w64", [117, 183, 241, 273],
                                           {"optimizer": {"lr": 3e-3},
                                            "data": {"batch_size": 16}}),
                                          (82, "w48", [133, 211],
                                           _sgd(0.4) | {"schedule": {"name": "linear"}}),
                                          (89, "w32", [127, 197, 259],
                                           {"optimizer": {"lr": 2e-3},
                                            "schedule": {"name": "linear"}}),
                                          (90, "w64", [141, 229],
                                           _sgd(0.3) | {"data": {"batch_size": 16}})]:
        add("data_outlier", shape, seed, extra,
            fault={"kind": "outliers", "positions": positions, "vocab": 65})
    leaked = {"data": {"train": "small_train.txt", "validation": "small_train.txt",
                       "val_split": None}}
    for seed, shape, steps, extra in memorise:
        add("label_leakage", shape, seed, leaked, {"schedule": {"total_steps": steps}}, extra,
            files=SMALL)
    for seed, shape, scale, extra in [(1, "w48", 10.0, {}), (2, "w64", 8.0, {}),
                                      (3, "w32", 30.0, {}), (4, "w48", 15.0, _sgd(0.3)),
                                      (5, "w64", 12.0, {"optimizer": {"lr": 2e-3}}),
                                      (6, "w32", 20.0, _sgd(0.5)),
                                      (7, "w48", 25.0, {"optimizer": {"lr": 1e-3}}),
                                      (8, "w64", 18.0, _sgd(0.4)),
                                      (9, "w32", 12.0, {"optimizer": {"lr": 2e-3}}),
                                      (10, "w64", 22.0, _sgd(0.3)),
                                      (27, "w32", 16.0, _sgd(0.4)),
                                      (28, "w48", 20.0, {"optimizer": {"lr": 2e-3}}),
                                      (33, "w64", 14.0, _sgd(0.5)),
                                      (34, "w48", 24.0, {"optimizer": {"lr": 2e-3}}),
                                      (39, "w32", 18.0, {"optimizer": {"lr": 1e-3}}),
                                      (40, "w64", 25.0, _sgd(0.4)),
                                      (45, "w48", 16.0, _sgd(0.5)),
                                      (46, "w32", 22.0, {"optimizer": {"lr": 2e-3}}),
                                      (51, "w64", 28.0, {"optimizer": {"lr": 1e-3}}),
                                      (52, "w32", 14.0, _sgd(0.3)),
                                      (73, "w48", 28.0, _sgd(0.4)),
                                      (74, "w64", 16.0, {"optimizer": {"lr": 1e-3}}),
                                      (81, "w64", 20.0, _sgd(0.5) | {"data": {"batch_size": 16}}),
                                      (82, "w32", 26.0, {"optimizer": {"lr": 2e-3},
                                                         "schedule": {"name": "linear"}}),
                                      (89, "w48", 12.0, {"optimizer": {"lr": 1e-3},
                                                         "data": {"batch_size": 16}}),
                                      (90, "w32", 24.0,
                                       _sgd(0.4) | {"schedule": {"name": "linear"}})]:
        add("bad_initialization", shape, seed, extra, fault={"kind": "bad_init", "scale": scale})
    return out


# --------------------------------------------------------------------------- training

def _corpus() -> str:
    from nt_tui.resources import read_demo_corpus

    return read_demo_corpus()


def _ordered(text: str, order: str) -> str:
    """`text` in the order an unshuffled data set of that kind has."""
    lines = [line for line in text.splitlines(keepends=True) if line.strip()]
    if order == "by_length":
        return "".join(sorted(lines, key=len))
    if order == "prose_then_code":  # a second source: Python code of the standard library
        import inspect
        import textwrap

        code = inspect.getsource(textwrap)
        return "".join(lines) + code[: len(text) // 2]
    raise ValueError(f"unknown order {order}")


def _write_files(folder: Path, files: dict[str, tuple]) -> None:
    text = _corpus()
    for name, (start, end, *order) in files.items():
        path = folder / name
        if not path.exists():
            part = text[start:end]
            path.write_text(_ordered(part, order[0]) if order else part, encoding="utf-8")


def train_one(spec: Spec, work: Path) -> str:
    """Train one labelled run into work/runs/<name> (skipped when done)."""
    import yaml

    run_dir = work / "runs" / spec.name
    if (run_dir / "summary.json").exists():
        return f"{spec.name}: done already"
    import torch

    torch.set_num_threads(1)
    from nt_tui.config.defaults import resolve
    from nt_tui.config.loader import load_config

    sys.path.insert(0, str(BENCH))
    from diagnosis_faults import FaultyTrainer

    if spec.fault.get("kind") == "deep":
        os.environ["NT_DIAG_DEEP"] = spec.fault["deep"]
    configs = work / "configs"
    configs.mkdir(parents=True, exist_ok=True)
    if spec.pretrained:  # a fine-tune: its entry point loads the pretraining run's weights
        os.environ["NT_DIAG_PRETRAINED"] = str(_pretrained_checkpoint(spec.pretrained, work))
        os.environ["NT_DIAG_DATA"] = str(configs.resolve())
    _write_files(configs, spec.files)
    config = merge(BASE, spec.config)
    config["name"] = spec.name
    if config["data"].get("val_split") is None:
        config["data"].pop("val_split", None)
    if config["model"].get("size") is None:
        config["model"].pop("size", None)
    path = configs / f"{spec.name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    resolved = resolve(load_config(path), path)
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    started = time.time()
    summary = FaultyTrainer(resolved, spec.fault, run_dir=run_dir).run()
    (run_dir / "label.json").write_text(json.dumps(
        {"cause": spec.cause, "name": spec.name, "fault": spec.fault,
         **({"pretrained": spec.pretrained} if spec.pretrained else {})}), encoding="utf-8")
    return (f"{spec.name}: {summary['status']} in {time.time() - started:.0f}s, "
            f"final train {summary.get('final_train_loss')}")


def _pretrained_checkpoint(name: str, work: Path) -> Path:
    """The final checkpoint of the pretraining run `name` (trained first when not done)."""
    spec = next((s for s in pretraining() if s.name == name), None)
    if spec is None:
        raise ValueError(f"no pretraining run named {name}")
    summary_path = work / "runs" / name / "summary.json"
    if not summary_path.exists():
        print(train_one(spec, work), flush=True)
    summary = json.loads(summary_path.read_text())
    if summary.get("status") != "finished" or not summary.get("last_checkpoint"):
        raise RuntimeError(f"pretraining run {name} did not finish with a checkpoint")
    return Path(summary["last_checkpoint"])


def cmd_train(args: argparse.Namespace) -> None:
    def wanted(spec: Spec) -> bool:
        return not args.only or any(o in spec.name for o in args.only)

    chosen = [s for s in specs() if wanted(s)]
    needed = {s.pretrained for s in chosen if s.pretrained}
    # the pretraining runs the chosen fine-tunes load, first (two fine-tunes never race to
    # train the same one)
    first = [s for s in pretraining() if s.name in needed or (args.only and wanted(s))]
    work = Path(args.work)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for batch in (first, chosen):
            for message in pool.map(train_one, batch, [work] * len(batch)):
                print(message, flush=True)


# --------------------------------------------------------------------------- export

FORMATS = ("nt_tui", "hf", "lightning", "tensorboard", "csv", "jsonl")
#: Steps between logged points in the other tools' copies (their usual logging_steps).
OTHER_TOOL_EVERY = 10
#: Steps between the rows of the generic CSV copy.
CSV_EVERY = 4


def _records(run_dir: Path) -> list[dict[str, Any]]:
    """The run's metric records; a log window that held a NaN/Inf step logs NaN loss and
    grad norm, as the other tools do (nt-tui logs the window's last loss and a count)."""
    from nt_tui.runfmt import iter_jsonl

    records = [record for _, record in iter_jsonl(run_dir / "metrics.jsonl")]
    for record in records:
        if record.get("nonfinite_steps"):
            record.update(train_loss=float("nan"), grad_norm=float("nan"))
    return records


def _windows(records: list[dict[str, Any]], every: int) -> list[dict[str, Any]]:
    """Train rows every `every` steps, the loss averaged over the window (as HF logs it)."""
    import math

    rows, window = [], []
    for record in records:
        if "train_loss" not in record:
            continue
        window.append(record)
        if record["step"] % every == 0:
            losses = [r["train_loss"] for r in window]
            finite = [x for x in losses if math.isfinite(x)]
            mean = sum(losses) / len(losses) if len(finite) == len(losses) else float("nan")
            rows.append({**record, "train_loss": mean})
            window = []
    if window and not all(math.isfinite(r["train_loss"]) for r in window):
        # the run stopped on a NaN between logging steps: the tool would have logged it next
        rows.append({**window[-1], "train_loss": float("nan")})
    return rows


def _vals(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if isinstance(r.get("val_loss"), float)]


def _optimizer_class(run_dir: Path) -> str:
    """The torch class name of the run's optimizer ("AdamW", "SGD"), from its config."""
    import yaml

    config = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    name = str((config.get("optimizer") or {}).get("name") or "adamw").lower()
    return {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}.get(name, name)


def export_run(run_dir: Path, out: Path, fmt: str, vocab: int) -> Path:
    """Write one run's metrics as `fmt` under `out`; return the path to diagnose."""
    import csv
    import shutil

    records = _records(run_dir)
    name = run_dir.name
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "nt_tui":
        target = out / name
        target.mkdir(parents=True, exist_ok=True)
        for file in ("metrics.jsonl", "events.jsonl", "config.yaml", "summary.json"):
            if (run_dir / file).exists():
                shutil.copy(run_dir / file, target / file)
        return target
    if fmt == "hf":
        rows = _windows(records, OTHER_TOOL_EVERY)
        last = records[-1]["step"] if records else 0
        history = [{"epoch": r.get("epoch"), "grad_norm": r.get("grad_norm"),
                    "learning_rate": r.get("lr"), "loss": r["train_loss"], "step": r["step"]}
                   for r in rows]
        history += [{"epoch": r.get("epoch"), "eval_loss": r["val_loss"], "step": r["step"]}
                    for r in _vals(records)]
        history.sort(key=lambda item: (item["step"], "eval_loss" in item))
        target = out / name / f"checkpoint-{last}"
        target.mkdir(parents=True, exist_ok=True)
        state = {"best_metric": None, "epoch": records[-1].get("epoch") if records else 0,
                 "global_step": last, "log_history": history, "logging_steps": OTHER_TOOL_EVERY,
                 "max_steps": last, "num_train_epochs": 1, "train_batch_size": 16}
        (target / "trainer_state.json").write_text(json.dumps(state, indent=2))
        (target / "config.json").write_text(json.dumps({"model_type": "gpt2",
                                                        "vocab_size": vocab}))
        return target / "trainer_state.json"
    if fmt == "lightning":
        target = out / name / "lightning_logs" / "version_0"
        target.mkdir(parents=True, exist_ok=True)
        with open(target / "metrics.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            # Lightning's LearningRateMonitor names the column after the optimizer class
            optimizer = _optimizer_class(run_dir)
            writer.writerow(["epoch", "step", f"lr-{optimizer}", "train_loss_step", "val_loss"])
            for r in records:
                step = r["step"] - 1
                logged = r["step"] % OTHER_TOOL_EVERY == 0 or r is records[-1]
                if logged and "train_loss" in r:
                    writer.writerow([int(r.get("epoch") or 0), step, r.get("lr"),
                                     r["train_loss"], ""])
                if isinstance(r.get("val_loss"), float):
                    writer.writerow([int(r.get("epoch") or 0), step, "", "", r["val_loss"]])
        return target / "metrics.csv"
    if fmt == "tensorboard":
        from torch.utils.tensorboard import SummaryWriter

        target = out / name / "tb"
        if target.exists():
            shutil.rmtree(target)
        writer = SummaryWriter(str(target))
        for r in records:
            if "train_loss" in r:
                writer.add_scalar("train/loss", r["train_loss"], r["step"])
                writer.add_scalar("train/lr", r["lr"], r["step"])
                writer.add_scalar("train/grad_norm", r["grad_norm"], r["step"])
            if isinstance(r.get("val_loss"), float):
                writer.add_scalar("val/loss", r["val_loss"], r["step"])
        writer.close()
        return target
    if fmt == "csv":
        # what a training script's own CSV logger usually writes: step, loss, the LR it set
        # and the validation loss when it evaluated (Keras' CSVLogger, nanoGPT-style print
        # logs turned into CSV); no grad norm, no vocabulary, no config beside it
        target = out / f"{name}.csv"
        with open(target, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["step", "loss", "lr", "val_loss"])
            unlogged: list[dict[str, Any]] = []
            for r in records:
                if r["step"] % CSV_EVERY == 0 or isinstance(r.get("val_loss"), float):
                    writer.writerow([r["step"], r.get("train_loss", ""), r.get("lr", ""),
                                     r["val_loss"] if isinstance(r.get("val_loss"), float)
                                     else ""])
                    unlogged = []
                else:
                    unlogged.append(r)
            stopped_on = [r for r in unlogged if not math.isfinite(r.get("train_loss", 0.0))]
            if stopped_on:  # the run stopped on a NaN between logged rows (as in _windows)
                writer.writerow([stopped_on[-1]["step"], "nan", stopped_on[-1].get("lr", ""), ""])
        return target
    if fmt == "jsonl":
        target = out / f"{name}.jsonl"
        with open(target, "w") as handle:
            for r in records:
                row = {"step": r["step"], "train/loss": r.get("train_loss"),
                       "learning_rate": r.get("lr"), "grad_norm": r.get("grad_norm")}
                if isinstance(r.get("val_loss"), float):
                    row["eval/loss"] = r["val_loss"]
                handle.write(json.dumps(row) + "\n")
        return target
    raise ValueError(f"unknown format {fmt}")


def _injected(run_dir: Path) -> str:
    return json.loads((run_dir / "label.json").read_text())["cause"]


# Every labelled run must show its cause as the contract defines it. The checks below read
# the raw per-step log with simple measures of their own (not the diagnosis code); a run
# whose fault left no such trace is labelled healthy (see docs/diagnosis.md).
#: insufficient_warmup: the loss climbs this far above its lowest value so far within the
#: first TRACE_EARLY_SHARE of the run (a clear spike; batch noise is ~5% at these sizes)
TRACE_WARMUP_CLIMB = 0.15
TRACE_EARLY_SHARE = 0.15
#: data_not_shuffled: autocorrelation of the detrended loss at a lag of one epoch
TRACE_EPOCH_ACF = 0.2
#: label_leakage: median validation / train over the evaluations at most this, and the
#: validation loss falling by TRACE_LEAK_FALL or more
TRACE_LEAK_RATIO = 1.03
TRACE_LEAK_FALL = 0.2
#: ... after this many passes over the training data (where a held-out set shows a gap)
TRACE_LEAK_EPOCHS = 3
#: underfitting: validation changes less than this over the second half and sits within
#: TRACE_UNDERFIT_GAP of train at the end
TRACE_UNDERFIT_TAIL = 0.05
TRACE_UNDERFIT_GAP = 0.05


def visible_trace(run_dir: Path, cause: str) -> bool:
    """Does the run show `cause` as the contract defines it? (True for causes not checked.)"""
    import numpy as np
    import pandas as pd

    records = _records(run_dir)
    train = [(r["step"], r["train_loss"]) for r in records
             if "train_loss" in r and math.isfinite(r["train_loss"])]
    vals = [(r["step"], r["val_loss"]) for r in _vals(records)]
    if not train:
        return True
    steps = np.array([s for s, _ in train], dtype=float)
    loss = np.array([v for _, v in train])
    smooth = pd.Series(loss).rolling(9, center=True, min_periods=1).mean().to_numpy()
    if cause == "insufficient_warmup":
        early = loss[steps <= steps[-1] * TRACE_EARLY_SHARE]
        lowest = np.minimum.accumulate(early)
        return bool(np.max(early[1:] / lowest[:-1] - 1) >= TRACE_WARMUP_CLIMB)
    if cause == "data_not_shuffled":
        epochs = records[-1].get("epoch") or 0
        if epochs < 2:
            return False
        lag = int(round(len(loss) / epochs))
        resid = loss - pd.Series(loss).rolling(max(9, lag // 2 * 2 + 1), center=True,
                                               min_periods=1).median().to_numpy()
        resid = resid[len(resid) // 5:] - resid[len(resid) // 5:].mean()
        if lag >= len(resid) // 2:
            return False
        acf = float(np.dot(resid[:-lag], resid[lag:]) / np.dot(resid, resid))
        return acf >= TRACE_EPOCH_ACF
    if cause in ("label_leakage", "underfitting"):
        if len(vals) < 4:
            return False
        v_steps = np.array([s for s, _ in vals], dtype=float)
        v = np.array([x for _, x in vals])
        ratio = v / np.interp(v_steps, steps, smooth)
        if cause == "label_leakage":  # (in the first epochs a held-out set tracks train too)
            return bool((records[-1].get("epoch") or 0) >= TRACE_LEAK_EPOCHS and
                        np.median(ratio) <= TRACE_LEAK_RATIO and
                        (v[0] - v[-1]) / v[0] >= TRACE_LEAK_FALL)
        half = v[len(v) // 2:]
        return bool(abs(half[0] - half[-1]) / half[0] < TRACE_UNDERFIT_TAIL and
                    abs(ratio[-3:].mean() - 1) <= TRACE_UNDERFIT_GAP)
    return True


def _label(run_dir: Path) -> str:
    cause = _injected(run_dir)
    return cause if visible_trace(run_dir, cause) else "healthy"


def cmd_export(args: argparse.Namespace) -> None:
    work = Path(args.work)
    from nt_tui.resources import read_demo_corpus

    vocab = len(set(read_demo_corpus()))
    index = []
    names = {spec.name for spec in specs()}  # (not the wizard's test run)
    for run_dir in sorted((work / "runs").iterdir()):
        if not (run_dir / "label.json").exists() or run_dir.name not in names:
            continue
        label = _label(run_dir)
        if label != _injected(run_dir):
            print(f"{run_dir.name}: no visible trace of {_injected(run_dir)}, labelled {label}")
        for fmt in args.formats:
            path = export_run(run_dir, work / "export" / fmt, fmt, vocab)
            index.append({"path": str(path), "format": fmt, "cause": label,
                          "injected": _injected(run_dir), "run": run_dir.name})
    (work / "export" / "index.json").write_text(json.dumps(index, indent=1))
    print(f"{len(index)} logs written under {work / 'export'}")


# --------------------------------------------------------------------------- evaluate

def _score_all(index: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import warnings

    from nt_tui.analysis.diagnosis import diagnose_path
    from nt_tui.analysis.diagnosis.core import rank

    results = []
    for item in index:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                diagnosis = diagnose_path(item["path"])
            except Exception as exc:  # report, keep scoring the rest
                results.append({**item, "error": f"{type(exc).__name__}: {exc}"})
                continue
        probs = rank(diagnosis.strengths, diagnosis.available)
        ranked = sorted(probs, key=lambda c: -probs[c])
        results.append({**item, "ranked": ranked, "confidence": diagnosis.top.confidence,
                        "strengths": diagnosis.strengths, "available": diagnosis.available,
                        "answer": [h.cause for h in diagnosis.hypotheses]})
    return results


def summarise(results: list[dict[str, Any]],
              temperature: float | tuple[float, float] | None = None,
              model: dict[str, Any] | None = None, rules_only: bool = False) -> dict[str, Any]:
    """Top-1/top-3 per cause and per format, the confusion matrix, ECE and false alarms.

    By default the logs are ranked as `diagnose` ranked them; `rules_only` re-ranks them by
    the temperature softmax of the rule strengths (at `temperature` or the module's), `model`
    by those stacking coefficients."""
    from nt_tui.analysis.diagnosis import stacking
    from nt_tui.analysis.diagnosis.calibration import confidences, expected_calibration_error
    from nt_tui.analysis.diagnosis.vocabulary import CAUSE_IDS

    scored = [r for r in results if "ranked" in r]
    if rules_only or temperature is not None or model is not None:
        for r in scored:  # re-rank (same strengths)
            if model is not None:
                probs = stacking.probabilities(
                    stacking.feature_vector(r["strengths"], r["available"]), model)
            elif temperature is not None:
                probs = confidences(r["strengths"], temperature)
            else:
                probs = confidences(r["strengths"])
            r["ranked"] = sorted(probs, key=lambda c: -probs[c])
            r["confidence"] = probs[r["ranked"][0]]
    per_cause: dict[str, dict[str, int]] = {c: {"n": 0, "top1": 0, "top3": 0} for c in CAUSE_IDS}
    per_format: dict[str, dict[str, int]] = {}
    confusion: dict[str, dict[str, int]] = {c: {} for c in CAUSE_IDS}
    for r in scored:
        top1, top3 = r["ranked"][0] == r["cause"], r["cause"] in r["ranked"][:3]
        for table, key in ((per_cause, r["cause"]), (per_format, r["format"])):
            row = table.setdefault(key, {"n": 0, "top1": 0, "top3": 0})
            row["n"] += 1
            row["top1"] += top1
            row["top3"] += top3
        confusion[r["cause"]][r["ranked"][0]] = confusion[r["cause"]].get(r["ranked"][0], 0) + 1
    healthy = [r for r in scored if r["cause"] == "healthy"]
    return {
        "logs": len(results), "errors": [r for r in results if "error" in r],
        "top1": sum(r["ranked"][0] == r["cause"] for r in scored) / max(1, len(scored)),
        "top3": sum(r["cause"] in r["ranked"][:3] for r in scored) / max(1, len(scored)),
        "ece": expected_calibration_error([r["confidence"] for r in scored],
                                          [r["ranked"][0] == r["cause"] for r in scored]),
        "false_alarms": sum(r["ranked"][0] != "healthy" for r in healthy),
        "healthy_logs": len(healthy),
        "per_cause": per_cause, "per_format": per_format, "confusion": confusion,
        "misses": [(r["run"], r["format"], r["cause"], r["ranked"][:3]) for r in scored
                   if r["ranked"][0] != r["cause"]],
    }


def markdown(summary: dict[str, Any]) -> str:
    """The tables of docs/diagnosis.md."""
    from nt_tui.analysis.diagnosis.vocabulary import CAUSE_IDS

    def pct(part: int, whole: int) -> str:
        return f"{100 * part / whole:.0f}%" if whole else "-"

    lines = [f"Logs scored: {summary['logs']} ({len(summary['errors'])} unreadable). "
             f"Top-1 accuracy **{summary['top1']:.1%}**, top-3 **{summary['top3']:.1%}**, "
             f"expected calibration error of the top-1 confidence **{summary['ece']:.3f}**, "
             f"false alarms on healthy runs **{summary['false_alarms']} of "
             f"{summary['healthy_logs']}**.", "",
             "| cause | logs | top-1 | top-3 |", "|---|---:|---:|---:|"]
    for cause in CAUSE_IDS:
        row = summary["per_cause"][cause]
        lines.append(f"| {cause} | {row['n']} | {pct(row['top1'], row['n'])} | "
                     f"{pct(row['top3'], row['n'])} |")
    lines += ["", "| log format | logs | top-1 | top-3 |", "|---|---:|---:|---:|"]
    for fmt, row in sorted(summary["per_format"].items()):
        lines.append(f"| {fmt} | {row['n']} | {pct(row['top1'], row['n'])} | "
                     f"{pct(row['top3'], row['n'])} |")
    short = {c: "".join(part[0] for part in c.split("_")) for c in CAUSE_IDS}
    lines += ["", "Confusion matrix (rows: true cause, columns: top-1 answer; "
              + ", ".join(f"{short[c]} = {c}" for c in CAUSE_IDS) + "):", "",
              "| true \\ top-1 | " + " | ".join(short[c] for c in CAUSE_IDS) + " |",
              "|---|" + "---:|" * len(CAUSE_IDS)]
    for cause in CAUSE_IDS:
        row = summary["confusion"][cause]
        lines.append(f"| {cause} | " + " | ".join(str(row.get(c, "")) or "" for c in CAUSE_IDS)
                     + " |")
    return "\n".join(lines) + "\n"


#: Seeds of the runs the rules and the temperature were tuned on (the first two variants of
#: every cause, three healthy runs); the other variants are held out and reported separately.
DEV_SEEDS = {1, 2, 11, 12, 13}


def _seed(run: str) -> int:
    return int(run.rsplit("-s", 1)[1])


#: Seeds of the variants added after the rules were tuned (a third split, scored untouched by
#: any tuning: generalisation to new shapes, optimizers and severities).
NEW_SEEDS = {5, 6, 17, 18}

#: Seeds of the fresh variants added to decide rule changes found from misses in the other
#: splits (two per cause, four healthy): scored untouched, never used to find or tune a rule.
FRESH_SEEDS = {7, 8, 19, 20, 21, 22}

#: Seeds of the untouched variants (two per cause, four healthy): written and trained while
#: the last rule round (2026-11-30) was made on the other splits, scored after it; no rule or
#: constant was set by looking at them.
UNTOUCHED_SEEDS = {9, 10, 23, 24, 25, 26}

#: Trained and scored once after the second 2026-11-30 rule round; not used to set rules.
FINAL_SEEDS = {27, 28, 29, 30, 31, 32}

#: Trained and scored once after the blind-spot round of 2026-11-30; not used to set rules.
HOLDOUT_SEEDS = {33, 34, 35, 36, 37, 38}

#: Trained and scored once after the fourth 2026-11-30 rule round; not used to set rules.
LAST_SEEDS = {39, 40, 41, 42, 43, 44}

#: Trained after the 2026-11-30 session-4 rule round began; scored once after it, not used to
#: set rules.
SESSION4_SEEDS = {45, 46, 47, 48, 49, 50}

#: Trained during the second 2026-11-30 session-4 rule round; scored once after it, not used
#: to set rules.
SESSION4B_SEEDS = {51, 52, 53, 54, 55, 56}

#: Healthy runs of several passes over their data (shuffled): the false-alarm check for the
#: epoch-based rules; added in session 4 and used to study them.
MULTIEPOCH_SEEDS = set(range(57, 65))

#: Healthy fine-tunes and long runs (session 4): the false-alarm check on curves unlike the
#: short from-scratch runs.
VARIETY_SEEDS = set(range(65, 73))

#: Trained during the third 2026-11-30 session-4 rule round; scored once after it, not used
#: to set rules.
SESSION4C_SEEDS = set(range(73, 81))

#: Trained after the last 2026-11-30 session-4 rule change; scored once, not used to set rules.
SESSION4D_SEEDS = set(range(81, 89))

#: Trained in session 5 (2026-11-30) before any rule change of that session; scored once after
#: it, not used to set rules.
SESSION5_SEEDS = set(range(89, 97))


#: Splits the softmax temperatures are fitted on (`evaluate --fit`): two parameters (healthy
#: leading, a fault leading), fitted on every log the rules were developed on; their
#: calibration is then reported on the new seeds.
FIT_SPLITS = ("dev", "held-out")


def split_of(run: str) -> str:
    seed = _seed(run)
    if seed in SESSION5_SEEDS:
        return "session5"
    if seed in SESSION4D_SEEDS:
        return "session4d"
    if seed in SESSION4C_SEEDS:
        return "session4c"
    if seed in FRESH_SEEDS:
        return "fresh"
    if seed in UNTOUCHED_SEEDS:
        return "untouched"
    if seed in FINAL_SEEDS:
        return "final"
    if seed in HOLDOUT_SEEDS:
        return "holdout"
    if seed in LAST_SEEDS:
        return "last"
    if seed in SESSION4_SEEDS:
        return "session4"
    if seed in SESSION4B_SEEDS:
        return "session4b"
    if seed in MULTIEPOCH_SEEDS:
        return "multiepoch"
    if seed in VARIETY_SEEDS:
        return "variety"
    return "dev" if seed in DEV_SEEDS else "new" if seed in NEW_SEEDS else "held-out"


#: Shrinkage grid of the stacking layer's cross-validation (penalty on the squared distance
#: of the weights from the temperature softmax's; larger = closer to the plain rule ranking).
SHRINKAGE_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def _fold(run: str) -> int:
    """Cross-validation fold of a dev run: by seed, so that a variant and its formats are
    never split between fitting and scoring."""
    return _seed(run) % 2


def fit_stacking(results: list[dict[str, Any]], temperature: float) -> dict[str, Any]:
    """Fit the stacking layer on the dev logs: the shrinkage by 2-fold cross-validation over
    the dev seeds (minimum held-out-fold log-loss), then the weights on all dev logs."""
    from nt_tui.analysis.diagnosis import stacking

    dev = [r for r in results if "strengths" in r and split_of(r["run"]) == "dev"]
    x = [stacking.feature_vector(r["strengths"], r["available"]) for r in dev]
    y = [r["cause"] for r in dev]
    scores = {}
    for shrinkage in SHRINKAGE_GRID:
        loss = 0.0
        for fold in (0, 1):
            train = [i for i, r in enumerate(dev) if _fold(r["run"]) != fold]
            test = [i for i, r in enumerate(dev) if _fold(r["run"]) == fold]
            w, b = stacking.fit([x[i] for i in train], [y[i] for i in train], temperature,
                                shrinkage)
            loss += stacking.log_loss(w, b, [x[i] for i in test], [y[i] for i in test]) * len(
                test)
        scores[shrinkage] = loss / len(dev)
    best = min(scores, key=scores.get)
    w0, b0 = stacking.prior(temperature)
    prior_loss = stacking.log_loss(w0, b0, x, y)
    weights, bias = stacking.fit(x, y, temperature, best)
    print("stacking cross-validation log-loss by shrinkage: "
          + ", ".join(f"{k}: {v:.3f}" for k, v in scores.items())
          + f" (rules alone {prior_loss:.3f}); chosen {best}")
    return {"about": "diagnosis stacking layer (nt_tui/analysis/diagnosis/stacking.py); "
                     "fitted by `python bench/diagnosis_dataset.py evaluate --fit-stacking` "
                     "on the dev split of the labelled set only",
            "dev_logs": len(dev), "temperature_prior": temperature, "shrinkage": best,
            "cv_log_loss": {str(k): round(v, 4) for k, v in scores.items()},
            "causes": list(stacking.CAUSE_IDS), "features": list(stacking.FEATURES),
            "weights": [[round(float(v), 4) for v in row] for row in weights],
            "bias": [round(float(v), 4) for v in bias]}


def cmd_evaluate(args: argparse.Namespace) -> None:
    from nt_tui.analysis.diagnosis.calibration import (TEMPERATURE, TEMPERATURE_FAULT,
                                                       TEMPERATURE_HEALTHY, fit_temperatures)

    work = Path(args.work)
    index = json.loads((work / "export" / "index.json").read_text())
    results = _score_all(index)
    (work / "results.json").write_text(json.dumps(results, indent=1))
    temperature: tuple[float, float] | None = None
    if args.fit:  # on dev and held-out; the new seeds stay untouched to measure it
        scored = [r for r in results if "strengths" in r and split_of(r["run"]) in FIT_SPLITS]
        temperature = fit_temperatures([r["strengths"] for r in scored],
                                       [r["cause"] for r in scored])
        print(f"fitted temperatures (healthy, fault) {temperature} on {len(scored)} dev and "
              f"held-out logs (module has {(TEMPERATURE_HEALTHY, TEMPERATURE_FAULT)})")
    if args.fit_stacking:
        from nt_tui.analysis.diagnosis import stacking

        model = fit_stacking(results, TEMPERATURE)
        held: dict[str, dict[str, Any]] = {}
        for name in ("dev", "held-out"):
            part = [dict(r) for r in results if split_of(r["run"]) == name]
            for label, kwargs in (("rules alone", {"rules_only": True}),
                                  ("stacked", {"model": model})):
                summary = summarise([dict(r) for r in part], **kwargs)
                held[label] = summary
                print(f"{name:8s} {label:11s}: top-1 {summary['top1']:.1%}, top-3 "
                      f"{summary['top3']:.1%}, ECE {summary['ece']:.3f}, false alarms "
                      f"{summary['false_alarms']} of {summary['healthy_logs']}")
        rules, stacked = held["rules alone"], held["stacked"]  # the held-out half (last)
        # kept only when it beats the rule ranking on the held-out runs, with no more false
        # alarms (the targets' hardest line)
        better = stacked["top1"] >= rules["top1"] and stacked["top3"] >= rules["top3"] and \
            stacked["false_alarms"] <= rules["false_alarms"] and (
                stacked["top1"], stacked["top3"]) != (rules["top1"], rules["top3"])
        if better:
            stacking.COEFFICIENTS.write_text(json.dumps(model, indent=1) + "\n")
            print(f"stacking layer installed in {stacking.COEFFICIENTS}")
        else:
            stacking.COEFFICIENTS.unlink(missing_ok=True)
            print("stacking layer NOT installed: it does not beat the rule ranking on the "
                  "held-out runs (the temperature softmax stays)")
        stacking.load.cache_clear()
        results = _score_all(index)  # as diagnose now ranks them
        (work / "results.json").write_text(json.dumps(results, indent=1))
        temperature = None
    parts = [("all", results)] + [
        (name, [r for r in results if split_of(r["run"]) == name])
        for name in ("dev", "held-out", "new", "fresh", "untouched", "final", "holdout",
                     "last", "session4", "session4b", "multiepoch", "variety",
                     "session4c", "session4d", "session5")]
    texts = []
    for name, part in parts:
        if not part:  # a work directory may hold only some splits (e.g. the fresh runs)
            continue
        summary = summarise([dict(r) for r in part], temperature,
                            rules_only=getattr(args, "rules_only", False))
        texts.append(f"### {name} ({len(part)} logs)\n\n" + markdown(summary))
        if name == "all":
            for miss in summary["misses"]:
                print("miss:", *miss)
            for error in summary["errors"]:
                print("error:", error["path"], error["error"])
    text = "\n".join(texts)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)


# --------------------------------------------------------------------------- fixtures

#: The wizard's end-to-end test run: LR too high on a model small enough that the test's
#: 100-step verification takes a few seconds on CPU.
WIZARD_RUN = Spec("wizard--lr_too_high", "lr_too_high", {
    "seed": 3, "model": {"size": None, "n_layer": 1, "n_head": 2, "n_embd": 32},
    "data": {"batch_size": 8, "seq_len": 32}, "optimizer": {"lr": 0.2},
    "schedule": {"total_steps": 300}, "logging": {"every": 2, "validate_every": 30}})
#: Committed fixtures: the first two variants of every cause, each in one format, the formats
#: rotating over the causes so that every reader meets most causes; the first two healthy
#: runs in every format (false alarms are what a reader's quirks cause first).
FIXTURE_VARIANTS = 2
#: Every other metrics line is kept in committed nt-tui logs (size; shape stays the same).
FIXTURE_THIN = 2


def _thin(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for i, line in enumerate(lines)
            if i % FIXTURE_THIN == 0 or '"val_loss"' in line or "NaN" in line
            or "Infinity" in line or i == len(lines) - 1]
    path.write_text("".join(kept))


def cmd_fixtures(args: argparse.Namespace) -> None:
    import shutil

    from nt_tui.resources import read_demo_corpus

    work = Path(args.work)
    print(train_one(WIZARD_RUN, work))
    vocab = len(set(read_demo_corpus()))
    if FIXTURES.exists():
        shutil.rmtree(FIXTURES)
    FIXTURES.mkdir(parents=True)
    labels = {}
    wizard = export_run(work / "runs" / WIZARD_RUN.name, FIXTURES, "nt_tui", vocab)
    labels[wizard.name] = {"cause": WIZARD_RUN.cause, "format": "nt_tui"}
    by_cause: dict[str, list[Spec]] = {}
    for spec in specs():
        if (work / "runs" / spec.name / "label.json").exists():
            by_cause.setdefault(spec.cause, []).append(spec)
    chosen: list[tuple[str, str]] = []
    for index, (cause, runs) in enumerate(sorted(by_cause.items())):
        for variant, spec in enumerate(runs[:FIXTURE_VARIANTS]):
            if cause == "healthy":
                formats = FORMATS[:3] if variant == 0 else FORMATS[3:]
            else:
                formats = (FORMATS[(index + 3 * variant) % len(FORMATS)],)
            chosen += [(spec.name, fmt) for fmt in formats]
    for name, fmt in chosen:
        run_dir = work / "runs" / name
        path = export_run(run_dir, FIXTURES / fmt, fmt, vocab)
        if fmt == "nt_tui":
            _thin(path / "metrics.jsonl")
        labels[str(path.relative_to(FIXTURES))] = {"cause": _label(run_dir), "format": fmt}
    (FIXTURES / "labels.json").write_text(json.dumps(labels, indent=1, sort_keys=True))
    size = sum(f.stat().st_size for f in FIXTURES.rglob("*") if f.is_file())
    print(f"{len(labels)} fixtures, {size / 1e6:.1f} MB in {FIXTURES}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train the labelled runs")
    train.add_argument("--work", default="/tmp/nt-tui-diagnosis")
    train.add_argument("--only", nargs="*", help="substrings of run names to train")
    train.add_argument("--jobs", type=int, default=2)
    train.set_defaults(handler=cmd_train)
    export = sub.add_parser("export", help="write every run in several log formats")
    export.add_argument("--work", default="/tmp/nt-tui-diagnosis")
    export.add_argument("--formats", nargs="*", default=list(FORMATS))
    export.set_defaults(handler=cmd_export)
    evaluate = sub.add_parser("evaluate", help="diagnose every exported log and score it")
    evaluate.add_argument("--work", default="/tmp/nt-tui-diagnosis")
    evaluate.add_argument("--fit", action="store_true",
                          help="fit the softmax temperatures (healthy, fault)")
    evaluate.add_argument("--fit-stacking", action="store_true",
                          help="fit the stacking layer on the dev split and install it in "
                               "nt_tui/analysis/diagnosis/stacking.json")
    evaluate.add_argument("--rules-only", action="store_true",
                          help="score the temperature softmax of the rules (no stacking)")
    evaluate.add_argument("--markdown", help="write the tables to this file")
    evaluate.set_defaults(handler=cmd_evaluate)
    fixtures = sub.add_parser("fixtures", help="write the small labelled set under tests/data")
    fixtures.add_argument("--work", default="/tmp/nt-tui-diagnosis")
    fixtures.set_defaults(handler=cmd_fixtures)
    args = parser.parse_args(argv)
    args.handler(args)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
