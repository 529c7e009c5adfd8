"""The ask router on labelled questions: accuracy >= 95% overall (reported in docs/advisors.md),
and the seed's auto-activation table word by word."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from nt_tui.advisors.router import ADVISOR_ORDER, route

PHRASES = Path(__file__).parent / "data" / "routing_phrases.yaml"
#: The issue's target.
MIN_ACCURACY = 0.95
LABELS = (*ADVISOR_ORDER, "none")


def _phrases() -> list[dict]:
    return yaml.safe_load(PHRASES.read_text(encoding="utf-8"))["phrases"]


def _accuracy(rows: list[dict]) -> tuple[float, list[str]]:
    misses = []
    for row in rows:
        got = route(row["text"]).advisor or "none"
        if got != row["advisor"]:
            misses.append(f"{row['text']!r}: expected {row['advisor']}, got {got}")
    return 1 - len(misses) / len(rows), misses


def test_the_labelled_list_is_large_and_covers_every_advisor():
    rows = _phrases()
    assert len(rows) >= 100
    assert len({row["text"] for row in rows}) == len(rows), "duplicate phrases"
    counts = Counter(row["advisor"] for row in rows)
    assert set(counts) == set(LABELS)
    assert all(counts[label] >= 10 for label in LABELS)


def test_routing_accuracy_is_at_least_95_percent():
    rows = _phrases()
    accuracy, misses = _accuracy(rows)
    by_set = {name: _accuracy([r for r in rows if r.get("set", "tuning") == name])[0]
              for name in sorted({r.get("set", "tuning") for r in rows})}
    print(f"\nrouting accuracy {accuracy:.1%} on {len(rows)} phrases; by set: "
          + ", ".join(f"{name} {value:.1%}" for name, value in by_set.items()))
    assert accuracy >= MIN_ACCURACY, "\n".join(misses)


@pytest.mark.parametrize("text, advisor", [
    ("loss plateau", "diagnostician"), ("NaN", "diagnostician"),
    ("gradient issues", "diagnostician"), ("not converging", "diagnostician"),
    ("scaling", "scaling"), ("compute-optimal", "scaling"), ("model size", "scaling"),
    ("Chinchilla", "scaling"),
    ("learning rate", "optimization"), ("optimizer", "optimization"),
    ("warmup", "optimization"), ("schedule", "optimization"),
    ("fine-tuning", "finetuning"), ("LoRA", "finetuning"), ("QLoRA", "finetuning"),
    ("RLHF", "finetuning"), ("DPO", "finetuning"),
])
def test_the_seed_activation_table(text: str, advisor: str):
    routing = route(text)
    assert routing.advisor == advisor
    assert routing.matched, "the matched words are shown"


def test_matched_terms_name_the_words_that_routed():
    routing = route("What learning rate for LoRA on a 7B model?")
    assert routing.advisor == "finetuning"
    assert "lora" in routing.matched
    assert routing.scores["optimization"] > 0  # the LR words counted, LoRA weighed more


def test_symptoms_outweigh_tuning_words():
    assert route("loss is nan, should I lower the learning rate?").advisor == "diagnostician"


def test_no_route_falls_back_to_search():
    routing = route("what is RoPE")
    assert routing.advisor is None and routing.matched == ()
    assert route("").advisor is None


def test_documents_vote_when_no_keyword_matches():
    routing = route("training accuracy 99% but validation accuracy 60%")
    assert routing.advisor == "diagnostician"
    assert any(term.startswith("via common-failures.md#") for term in routing.matched)
