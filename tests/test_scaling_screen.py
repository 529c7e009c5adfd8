"""The Scaling screen driven through Pilot: answers as tables, the fit plot, refusals."""

from textual.widgets import DataTable, Input
from textual_plotext import PlotextPlot

from nt_tui.tui.app import NtTuiApp
from nt_tui.tui.screens.scaling import ScalingScreen, questions_from_form


async def _answer(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


def _titles(screen) -> list[str]:
    return [str(widget.content) for widget in screen.query(".table-title")]


async def test_compute_and_fit_answers_with_plot():
    app = NtTuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ScalingScreen)
        screen.query_one("#compute", Input).value = "1e21"
        screen.query_one("#points", Input).value = "1M:3.2 3M:2.9 10M:2.65 30M:2.45"
        screen.query_one("#predict", Input).value = "100M"
        screen.query_one("#compute", Input).focus()
        await pilot.press("enter")
        await _answer(app, pilot)
        assert _titles(screen)[0] == "Compute budget 1e+21 FLOPs"
        assert _titles(screen)[1].startswith("Fit to your runs: L(N) = ")
        budget = screen.query_one("#answer-0", DataTable)
        assert budget.get_row_at(0)[:3] == ["Chinchilla (D = 20N)", "2.89e+09 (2.89B)",
                                            "5.77e+10 (57.7B)"]
        assert screen.query_one("#answer-1", DataTable).row_count == 4
        assert screen.query_one("#fit-plot", PlotextPlot)
        await pilot.press("ctrl+f")
        await _answer(app, pilot)
        assert _titles(screen)[-1] == "Formulas"


async def test_refused_fit_is_a_notification_and_the_app_stays():
    app = NtTuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_area("scaling")
        await pilot.pause()
        screen = app.screen
        screen.query_one("#points", Input).value = "1M:3.2 3M:2.9"
        screen.answer()
        await _answer(app, pilot)
        assert any("at least 3 different model sizes" in n.message for n in app._notifications)
        assert app.screen is screen
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ScalingScreen)


async def test_context_answers_on_open():
    app = NtTuiApp()
    async with app.run_test(size=(100, 40)) as pilot:
        app.open_area("scaling", params="124M", tokens="5B")
        await pilot.pause()
        await _answer(app, pilot)
        titles = _titles(app.screen)
        assert titles == ["Model of 1.24e+08 (124M) parameters",
                          "Dataset of 5e+09 (5B) unique tokens"]


def test_form_text_becomes_questions():
    questions = questions_from_form({"gpus": "8", "hours": "24", "gpu": "989", "fit": "a b=2M",
                                     "compute": " "})
    assert questions.peak_tflops == 989 and questions.gpu is None and questions.compute is None
    assert questions.fit == ["a", "b=2M"]
    assert questions_from_form({"gpu": "H100"}).gpu == "H100"
