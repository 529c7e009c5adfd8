"""The knowledge browser driven through Pilot: search and jump to a hit, deep links from
warnings, link routing, history, pages, contents, the palette."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, OptionList

from nt_tui.analysis.early_warnings import EarlyWarningDetector
from nt_tui.tui.app import NtTuiApp
from nt_tui.tui.screens.home import HomeScreen
from nt_tui.tui.screens.knowledge import KnowledgeScreen

SIZE = (110, 34)


def _visible(screen: KnowledgeScreen, widget) -> bool:
    """True when `widget` is inside the document view's visible area."""
    view = screen.query_one("#knowledge-view")
    top, bottom = view.content_region.y, view.content_region.bottom
    return widget.region.height > 0 and top <= widget.region.y < bottom


async def _settle(pilot) -> None:
    for _ in range(3):
        await pilot.pause()


async def test_search_warmup_spans_documents_and_opens_at_the_hit():
    app = NtTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("k")
        await _settle(pilot)
        screen = app.screen
        assert isinstance(screen, KnowledgeScreen)
        await pilot.press("slash", *"warmup")
        await _settle(pilot)
        assert screen.query_one("#knowledge-results", OptionList).option_count == len(screen.hits)
        assert len({hit.section.document for hit in screen.hits}) >= 2
        await pilot.press("enter")
        await _settle(pilot)
        assert screen.current_link == screen.hits[0].link == "optimizer-guide.md#warmup"
        assert screen.hit_widgets, "the hits are highlighted in the document"
        current = screen.hit_widgets[screen.hit_index]
        assert "warmup" in current.content.plain.lower()
        assert current.has_class("-current-hit") and _visible(screen, current)
        await pilot.press("n")
        await _settle(pilot)
        assert screen.hit_index == 1 and _visible(screen, screen.hit_widgets[1])
        # another result, in another document, opens at its own hit
        other = next(i for i, hit in enumerate(screen.hits)
                     if hit.section.document != "optimizer-guide.md")
        results = screen.query_one("#knowledge-results", OptionList)
        results.focus()
        results.highlighted = other
        await pilot.press("enter")
        await _settle(pilot)
        assert screen.current_link == screen.hits[other].link
        assert _visible(screen, screen.hit_widgets[screen.hit_index])


async def test_deep_link_from_a_warning_opens_its_section():
    detector = EarlyWarningDetector()
    events = []
    for step, loss in enumerate([3.0, 2.9, 2.8, 2.7, float("nan")], start=1):
        events += detector.update({"step": step, "train_loss": loss, "grad_norm": 1.0})
    warning = next(e for e in events if e["code"] == "nan_inf")
    assert warning["knowledge"] == "common-failures.md#nan-or-inf-loss"
    app = NtTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.open_knowledge(warning["knowledge"])
        await _settle(pilot)
        screen = app.screen
        assert isinstance(screen, KnowledgeScreen)
        assert screen.current_link == "common-failures.md#nan-or-inf-loss"
        heading = screen._heading_widget(screen.kb.section(warning["knowledge"]))
        assert heading.content.plain == "NaN or Inf loss" and _visible(screen, heading)
        assert "NaN or Inf loss" in str(screen.query_one("#knowledge-location").content)


async def test_deep_link_to_a_subsection_scrolls_within_its_page():
    app = NtTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.open_knowledge("optimizer-guide.md#critical-batch-size")
        await _settle(pilot)
        screen = app.screen
        assert [s.slug for s in screen.page][0] == "batch-size-and-learning-rate-scaling"
        heading = screen._heading_widget(screen.kb.section(
            "optimizer-guide.md#critical-batch-size"))
        assert _visible(screen, heading)
        assert screen.query_one("#knowledge-view").scroll_y > 0
        # Textual's own anchor lookup agrees with the index's slugs on this page
        for section in screen.page:
            assert screen.markdown.goto_anchor(section.slug), section.slug


async def test_links_route_inside_the_library_and_history_goes_back_and_forward():
    app = NtTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.open_knowledge("common-failures.md#loss-plateau")
        await _settle(pilot)
        screen = app.screen
        markdown = screen.markdown
        markdown.post_message(markdown.LinkClicked(markdown, "#schedule-exhausted"))
        await _settle(pilot)
        assert screen.current_link == "common-failures.md#schedule-exhausted"
        markdown.post_message(markdown.LinkClicked(
            markdown, "optimizer-guide.md#learning-rate-and-weight-decay-by-model-size"))
        await _settle(pilot)
        assert screen.current_document == "optimizer-guide.md"
        await pilot.press("b")
        await _settle(pilot)
        assert screen.current_link == "common-failures.md#schedule-exhausted"
        await pilot.press("alt+left")
        await _settle(pilot)
        assert screen.current_link == "common-failures.md#loss-plateau"
        await pilot.press("f")
        await _settle(pilot)
        assert screen.current_link == "common-failures.md#schedule-exhausted"
        markdown.post_message(markdown.LinkClicked(markdown, "nowhere.md#x"))
        await _settle(pilot)
        assert screen.current_link == "common-failures.md#schedule-exhausted"
        assert any("nowhere.md" in n.message for n in app._notifications)


async def test_pages_contents_and_documents_lists():
    app = NtTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.open_knowledge("scaling-laws.md")
        await _settle(pilot)
        screen = app.screen
        assert screen.page[0].level == 1
        assert "In this document" in screen.markdown.source
        await pilot.press("right_square_bracket")
        await _settle(pilot)
        assert screen.current_link == "scaling-laws.md#notation-and-units"
        contents = screen.query_one("#knowledge-toc", OptionList)
        index = [s.slug for s in screen.kb.document("scaling-laws.md").sections].index(
            "compute-optimal-table")
        contents.focus()
        contents.highlighted = index
        await pilot.press("enter")
        await _settle(pilot)
        assert screen.current_link == "scaling-laws.md#compute-optimal-table"
        documents = screen.query_one("#knowledge-documents", OptionList)
        documents.focus()
        documents.highlighted = [d.name for d in screen.kb.documents].index(
            "fine-tuning-techniques.md")
        await pilot.press("enter")
        await _settle(pilot)
        assert screen.current_link == "fine-tuning-techniques.md"


async def test_escape_clears_the_search_then_goes_back():
    app = NtTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.open_area("knowledge", query="gradient clipping")
        await _settle(pilot)
        screen = app.screen
        assert screen.hits and screen.current_link == screen.hits[0].link
        assert screen.hit_widgets
        await pilot.press("escape")
        await _settle(pilot)
        assert screen.query_one("#knowledge-search", Input).value == ""
        assert not screen.hit_widgets and app.screen is screen
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_bad_deep_link_is_a_notification():
    app = NtTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.open_knowledge("common-failures.md#no-such-heading")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert any("no-such-heading" in n.message for n in app._notifications)


async def test_temporary_library_with_tricky_headings(tmp_path: Path):
    (tmp_path / "tricky.md").write_text(
        "# Tricky\n\n## The `lr_min` *floor* (v2)\n\nText.\n\n## Q&A: what's up?\n\nMore.\n\n"
        "## Q&A: what's up?\n\nAgain.\n", encoding="utf-8")
    app = NtTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = KnowledgeScreen(link="tricky.md#qa-whats-up-1", directory=tmp_path)
        app.push_screen(screen)
        await _settle(pilot)
        assert screen.current_link == "tricky.md#qa-whats-up-1"
        assert screen.page[0].slug == "qa-whats-up-1"
        await pilot.press("left_square_bracket")
        await _settle(pilot)
        assert screen.current_link == "tricky.md#qa-whats-up"
        await pilot.press("left_square_bracket")
        await _settle(pilot)
        assert screen.markdown.goto_anchor("the-lr_min-floor-v2")


async def _palette(app, pilot, query: str) -> None:
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*query)
    await pilot.pause(0.5)
    await pilot.press("enter")
    await _settle(pilot)


async def test_palette_finds_sections_documents_and_advisors():
    app = NtTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await _palette(app, pilot, "critical batch size")
        assert isinstance(app.screen, KnowledgeScreen)
        assert app.screen.current_link == "optimizer-guide.md#critical-batch-size"
        await pilot.press("escape")
        await _palette(app, pilot, "Ask the Scaling advisor")
        assert type(app.screen).__name__ == "AskScreen"
        assert app.screen.query_one("#ask-advisor").value == "scaling"
