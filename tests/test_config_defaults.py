"""Defaults from model size and the warmup rule, and the table the knowledge document shows."""

import re

import pytest

from nt_tui.config import load_config_text
from nt_tui.config.defaults import (SIZE_TABLE, builtin_param_count, resolve, size_defaults,
                                    warmup_steps_for)
from nt_tui.resources import knowledge_dir


@pytest.mark.parametrize("params, lr, wd, betas", [
    (1e6, 1e-3, 0.01, (0.9, 0.999)),
    (125e6, 6e-4, 0.1, (0.9, 0.999)),
    (350e6, 3e-4, 0.1, (0.9, 0.999)),
    (7e9, 1.5e-4, 0.1, (0.9, 0.95)),
    (70e9, 1e-4, 0.1, (0.9, 0.95)),
])
def test_size_table_rows(params, lr, wd, betas):
    row = size_defaults(params)
    assert (row.lr, row.weight_decay, row.betas) == (lr, wd, betas)


@pytest.mark.parametrize("total, warmup", [(100, 10), (1000, 100), (20000, 2000), (500000, 2000)])
def test_warmup_rule(total, warmup):
    assert warmup_steps_for(total) == warmup


def test_resolve_fills_and_explains_defaults():
    config = load_config_text("model: {size: nano}\nschedule: {total_steps: 300}\n")
    resolved = resolve(config)
    cfg = resolved.config
    assert cfg.optimizer.lr == 1e-3 and cfg.optimizer.weight_decay == 0.01
    assert cfg.schedule.warmup_steps == 30 and cfg.schedule.name == "cosine"
    assert cfg.schedule.min_lr == pytest.approx(1e-4)
    assert "model size table" in resolved.defaulted["optimizer.lr"]
    assert "warmup rule" in resolved.defaulted["schedule.warmup_steps"]
    assert config.optimizer.lr is None  # the original is not modified


def test_given_values_are_kept_and_not_marked_defaulted():
    config = load_config_text("optimizer: {lr: 0.01, betas: [0.8, 0.9]}\n"
                              "schedule: {total_steps: 50, warmup_steps: 0}\n")
    resolved = resolve(config)
    assert resolved.config.optimizer.lr == 0.01
    assert resolved.config.optimizer.betas == (0.8, 0.9)
    assert resolved.config.schedule.warmup_steps == 0
    assert "optimizer.lr" not in resolved.defaulted


def test_epochs_become_steps_from_the_corpus_size():
    config = load_config_text("data: {batch_size: 10, seq_len: 100, val_split: 0.5}\n"
                              "schedule: {epochs: 1}\n")
    resolved = resolve(config)
    assert resolved.train_tokens and resolved.train_tokens > 100_000
    assert resolved.config.schedule.total_steps == -(-resolved.train_tokens // 1000)


def test_builtin_param_count_grows_with_size():
    small = builtin_param_count(2, 64, 65, 64, "learned", True)
    untied = builtin_param_count(2, 64, 65, 64, "learned", False)
    assert untied - small == 65 * 64
    assert builtin_param_count(12, 768, 50257, 1024, "learned", True) == pytest.approx(124e6,
                                                                                          rel=0.01)


def _doc_size_table() -> list[tuple[float, float, tuple[float, float]]]:
    text = (knowledge_dir() / "optimizer-guide.md").read_text(encoding="utf-8")
    section = text.split("## Learning rate and weight decay by model size", 1)[1]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.match(r"^[\d.]+e-\d+$", cells[1]):
            betas = tuple(float(x) for x in re.findall(r"[\d.]+", cells[3]))
            rows.append((float(cells[1]), float(cells[2]), betas))
    return rows


def test_optimizer_guide_table_matches_the_defaults():
    assert _doc_size_table() == [(r.lr, r.weight_decay, r.betas) for r in SIZE_TABLE]
