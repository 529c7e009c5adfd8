"""The ask screen driven through Pilot: routed answers, chosen advisors, numbers, knowledge
fallback, deep links into the library, and a run's events calling the diagnostician."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Markdown, OptionList, Select

from nt_tui.tui.app import NtTuiApp
from nt_tui.tui.screens.ask import AskScreen
from nt_tui.tui.screens.knowledge import KnowledgeScreen
from test_advisors import _nan_run

SIZE = (110, 34)


async def _answered(app, pilot) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    for _ in range(3):
        await pilot.pause()


async def test_question_is_routed_to_the_diagnostician_and_sources_open_the_library():
    app = NtTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.open_area("ask", text="my loss went to nan after 3k steps")
        await _answered(app, pilot)
        screen = app.screen
        assert isinstance(screen, AskScreen)
        answer = screen.result.answer
        assert answer.advisor == "diagnostician"
        routing = str(screen.query_one("#ask-routing").content)
        assert routing.startswith("Diagnostician (matched: nan")
        source = screen.query_one("#ask-markdown", Markdown).source
        assert "Numerical instability" in source and "### Numbers" in source
        markdown = screen.query_one("#ask-markdown", Markdown)
        markdown.post_message(Markdown.LinkClicked(markdown, answer.citations[0]))
        await _answered(app, pilot)
        assert isinstance(app.screen, KnowledgeScreen)
        assert app.screen.current_link == answer.citations[0]


async def test_typed_question_with_a_chosen_advisor_and_numbers():
    app = NtTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AskScreen)
        screen.query_one("#ask-advisor", Select).value = "scaling"
        screen.query_one("#ask-compute", Input).value = "1e21"
        screen.query_one("#ask-text", Input).focus()
        await pilot.press(*"how big should it be", "enter")
        await _answered(app, pilot)
        answer = screen.result.answer
        assert answer.advisor == "scaling"
        assert answer.number("compute-optimal parameters").value == "2.89B"
        assert "chosen" in str(screen.query_one("#ask-routing").content)


async def test_bad_number_is_reported_and_nothing_is_asked():
    app = NtTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.open_area("ask")
        await pilot.pause()
        screen = app.screen
        screen.query_one("#ask-model-size", Input).value = "huge"
        screen.query_one("#ask-text", Input).value = "lora rank?"
        screen.submit()
        await _answered(app, pilot)
        assert screen.result is None
        assert any("model size" in n.message for n in app._notifications)


async def test_unmatched_question_lists_knowledge_sections_to_open():
    app = NtTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.open_area("ask", text="what is RoPE")
        await _answered(app, pilot)
        screen = app.screen
        hits = screen.query_one("#ask-hits", OptionList)
        assert hits.display and hits.option_count >= 1
        assert not screen.query_one("#ask-answer").display
        hits.focus()
        hits.highlighted = 0
        await pilot.press("enter")
        await _answered(app, pilot)
        assert isinstance(app.screen, KnowledgeScreen)
        assert app.screen.current_link == "transformer-training.md#rope"
        assert app.screen.hit_widgets  # opened with the question's words highlighted


async def test_a_run_calls_the_diagnostician_with_its_events(tmp_path: Path):
    run = _nan_run(tmp_path)
    app = NtTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.open_area("ask", run=str(run))
        await _answered(app, pilot)
        screen = app.screen
        assert screen.result.answer.advisor == "diagnostician"
        routing = str(screen.query_one("#ask-routing").content)
        assert "Run events:" in routing and "Loss became NaN or Inf at step 45" in routing
        app.open_area("ask", run=str(tmp_path / "missing"))
        await pilot.pause()
        assert app.screen is screen
        assert any("no run at" in n.message for n in app._notifications)
