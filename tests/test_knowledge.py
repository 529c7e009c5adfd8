"""The knowledge index: sections, GitHub/Textual slugs, links, search ranking and snippets."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from textual._slug import slug as textual_slug

from nt_tui.errors import NtTuiError
from nt_tui.knowledge import (
    KnowledgeBase, Query, inline_plain, load_knowledge, markdown_tables, slugify, stem,
    unique_slugs, words)

GUIDE = """# Tuning guide

Intro text about **tuning** and the `lr` value.

## Warm-up

Use a linear warm-up over the first steps. Gradients are noisy early.

```
## not a heading (inside a fence)
```

## Learning rates

**Symptoms**
- The loss spikes after warmup ends
  and keeps spiking.
- Gradient norm jumps.

**Fix**
- Lower the LR 3x.

### Cosine decay

Decay the learning rate with a cosine; see [warm-up](#warm-up) and
[other doc](faults.md#nan).

## Learning rates

A second heading with the same title.
"""
FAULTS = """# Faults

## NaN loss

The loss became NaN. Check gradients and the learning rate.

| Cause | Check |
|---|---|
| overflow | fp16 `range` |
| log(0) | clamp |

## Gradient clipping

Clip gradients at 1.0 to stop a loss explosion.
"""


@pytest.fixture
def library(tmp_path: Path) -> Path:
    (tmp_path / "guide.md").write_text(GUIDE, encoding="utf-8")
    (tmp_path / "faults.md").write_text(FAULTS, encoding="utf-8")
    (tmp_path / "README.md").write_text("# Library index\n\n## Not a document\n")
    return tmp_path


@pytest.fixture
def kb(library: Path) -> KnowledgeBase:
    return KnowledgeBase(library)


def test_documents_split_into_sections_by_heading(kb: KnowledgeBase):
    assert [d.name for d in kb.documents] == ["faults.md", "guide.md"]  # README is not one
    guide = kb.document("guide")
    assert guide.title == "Tuning guide"
    assert [(s.level, s.slug) for s in guide.sections] == [
        (1, "tuning-guide"), (2, "warm-up"), (2, "learning-rates"), (3, "cosine-decay"),
        (2, "learning-rates-1")]
    warm = guide.section("warm-up")
    assert "linear warm-up" in warm.markdown and "not a heading" in warm.markdown
    assert guide.section("cosine-decay").parents == ("Tuning guide", "Learning rates")
    assert guide.section("cosine-decay").breadcrumb == \
        "Tuning guide > Learning rates > Cosine decay"
    assert guide.summary == "Intro text about tuning and the lr value."


def test_pages_group_a_level_two_section_with_its_subsections(kb: KnowledgeBase):
    guide = kb.document("guide.md")
    pages = [[s.slug for s in page] for page in guide.pages]
    assert pages == [["tuning-guide"], ["warm-up"], ["learning-rates", "cosine-decay"],
                     ["learning-rates-1"]]
    assert guide.page(guide.section("cosine-decay"))[0].slug == "learning-rates"
    text = guide.page_markdown(guide.page(guide.section("cosine-decay")))
    assert text.startswith("## Learning rates") and "### Cosine decay" in text
    assert "second heading" not in text


def test_section_parts_and_tables(kb: KnowledgeBase):
    rates = kb.section("guide.md#learning-rates")
    assert rates.part("Symptoms") == ["The loss spikes after warmup ends and keeps spiking.",
                                      "Gradient norm jumps."]
    assert rates.part("fix") == ["Lower the LR 3x."]
    assert rates.part("Missing") == []
    table = kb.section("faults.md#nan-loss").tables()
    assert table == [[["Cause", "Check"], ["overflow", "fp16 range"], ["log(0)", "clamp"]]]
    assert markdown_tables("no tables here\n| not | a table |\n") == []


@pytest.mark.parametrize("title", [
    "NaN or Inf loss", "Pre-LN vs post-LN", "Learning rate and weight decay by model size",
    "8-bit Adam", "QK-norm and logit control", "What's new? (2024)", "A_b  c/d: e.f",
    "Kaplan's C^0.73 rule", "Résumé & naïve", "Emoji 🚀 heading",
])
def test_slugs_match_textual_anchors(title: str):
    assert slugify(title) == textual_slug(title)


def test_every_shipped_heading_slug_matches_textual():
    kb = load_knowledge()
    assert len(kb.documents) == 5
    for section in kb.sections:
        assert slugify(section.title) == textual_slug(section.title), section.title


def test_repeated_headings_get_numbered_slugs():
    assert unique_slugs(["A", "B", "A", "A"]) == ["a", "b", "a-1", "a-2"]


def test_heading_text_drops_inline_markup():
    assert inline_plain("Use `log_softmax` **now** with [links](x.md#y) and *em*") == \
        "Use log_softmax now with links and em"
    assert slugify(inline_plain("The `lr_min` *floor*")) == "the-lr_min-floor"


def test_resolve_links(kb: KnowledgeBase):
    location = kb.resolve("guide.md#cosine-decay")
    assert location.document.name == "guide.md" and location.section.title == "Cosine decay"
    assert kb.resolve("knowledge/faults.md").section is None
    assert kb.resolve("#warm-up", relative_to="guide.md").section.slug == "warm-up"
    with pytest.raises(NtTuiError) as missing:
        kb.resolve("guide.md#warmup")
    assert "did you mean guide.md#warm-up" in missing.value.one_line()
    with pytest.raises(NtTuiError) as no_document:
        kb.resolve("nowhere.md#x")
    assert "faults.md" in no_document.value.hint
    with pytest.raises(NtTuiError):
        kb.section("guide.md")


def test_broken_links_are_reported(kb: KnowledgeBase, library: Path):
    assert kb.broken_links() == [("guide.md", "faults.md#nan")]
    assert load_knowledge().broken_links() == []


def test_words_stem_plurals_and_join_hyphenated_words():
    assert stem("gradients") == "gradient" and stem("losses") == "loss"
    assert stem("entropies") == "entropy" and stem("loss") == "loss"
    assert [w for w, _, _ in words("warm-up steps")] == ["warmup", "warm", "up", "step"]
    query = Query.parse('how does the "loss spikes" warmup work')
    assert query.terms == ("loss", "spike", "warmup", "work") and query.phrases == ("loss spikes",)


def test_search_ranks_heading_matches_first_and_finds_inflections(kb: KnowledgeBase):
    hits = kb.search("warmup")
    assert hits[0].link == "guide.md#warm-up"  # "warm-up" in the heading, written with a hyphen
    assert {h.link for h in hits} >= {"guide.md#warm-up", "guide.md#learning-rates"}
    gradient_hits = {h.link for h in kb.search("gradient")}
    assert "faults.md#gradient-clipping" in gradient_hits
    assert "guide.md#warm-up" in gradient_hits  # "Gradients" in the text
    assert kb.search("the of and") == [] or all(h.matched for h in kb.search("the of and"))
    assert kb.search("   ") == []


def test_search_prefers_sections_matching_more_words(kb: KnowledgeBase):
    hits = kb.search("nan learning rate")
    assert hits[0].link == "faults.md#nan-loss"
    assert set(hits[0].matched) == {"nan", "learning", "rate"}


def test_phrases_must_appear(kb: KnowledgeBase):
    assert [h.link for h in kb.search('"loss explosion"')] == ["faults.md#gradient-clipping"]
    assert kb.search('"explosion loss"') == []


def test_snippets_mark_the_matches(kb: KnowledgeBase):
    hit = kb.search("spikes")[0]
    assert hit.link == "guide.md#learning-rates"
    for start, end in hit.spans:
        assert hit.snippet[start:end].lower() in {"spikes", "spiking", "spike"} or \
            stem(hit.snippet[start:end]) == "spike"
    assert "[spikes]" in hit.marked_snippet()
    assert hit.to_dict()["link"] == "guide.md#learning-rates"


def test_highlight_pattern_matches_written_forms(kb: KnowledgeBase):
    pattern = kb.highlight_pattern("warmup gradients")
    text = "A warm-up, a Warmup, gradient and Gradients; not warmups2"
    assert [m.group(0) for m in pattern.finditer(text)] == [
        "warm-up", "Warmup", "gradient", "Gradients"]
    assert kb.highlight_pattern("") is None


def test_shipped_search_for_warmup_spans_documents():
    hits = load_knowledge().search("warmup")
    assert len({h.section.document for h in hits}) >= 2
    assert hits[0].link == "optimizer-guide.md#warmup"


def test_cache_reloads_when_a_document_changes(library: Path):
    first = load_knowledge(library)
    assert load_knowledge(library) is first
    path = library / "faults.md"
    path.write_text(FAULTS + "\n## Fresh heading\n\nNew text.\n")
    later = time.time() + 5
    os.utime(path, (later, later))
    again = load_knowledge(library)
    assert again is not first and again.document("faults.md").section("fresh-heading")


def test_missing_folder_is_a_user_error(tmp_path: Path):
    with pytest.raises(NtTuiError) as error:
        KnowledgeBase(tmp_path / "nope")
    assert error.value.hint


def test_underscores_inside_words_are_not_emphasis():
    assert inline_plain("set lr_too_high or U_D + U_D, _really_") == \
        "set lr_too_high or U_D + U_D, really"
