"""The monitor screen driven through Pilot with a recorded feed (no training thread): charts,
numbers, warnings, keys, redraw policy, failures, the run picker."""

from pathlib import Path

import pytest
from textual.widgets import Input, OptionList

from conftest import wait_until
from monitor_fakes import RecordedFeed, recorded_records, spike_warning
from nt_tui.runfmt import RunWriter
from nt_tui.tui.app import NtTuiApp
from nt_tui.tui.screens.monitor import MonitorScreen
from nt_tui.tui.screens.summary import SummaryScreen
from nt_tui.tui.widgets.metric_plot import MetricPlot
from nt_tui.tui.widgets.warnings_panel import WarningsPanel


async def settle(app, pilot):
    """Wait for the feed to finish and its data to be drawn."""
    await app.workers.wait_for_complete()
    await pilot.pause()
    app.screen.refresh_view()
    await pilot.pause()


def screen_text(app) -> str:
    """What the terminal shows, as plain text."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def plot_text(screen, title):
    plot = next(p for p in screen.query(MetricPlot) if p.title == title)
    return [line.text for line in plot.draw()]


async def test_recorded_run_fills_charts_numbers_header_and_warnings():
    app = NtTuiApp(area="monitor", area_args={"feed": RecordedFeed()})
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        assert [p.title for p in screen.query(MetricPlot)] == [
            "loss", "learning rate", "grad norm", "samples/s"]
        loss = plot_text(screen, "loss")
        assert "train 1.4" in loss[0] and "val 1.5" in loss[0]
        assert "▲" in loss[-2]  # the spike's warning marker on the axis
        assert loss[1].split("┤")[0].strip().startswith("9")  # the spike sets the top
        status = screen.status_text().plain
        assert "demo-tiny-gpt" in status and "step 3,000/3,000" in status
        shown = screen_text(app)
        assert "samples/s" in shown and "avg" in shown and "tokens/s" in shown
        panel = screen.query_one(WarningsPanel)
        assert [alert.code for alert in panel.alerts] == ["loss_spike"]
        assert "step 1,500" in str(panel.get_option_at_index(0).prompt)


async def test_keys_change_one_view_shared_by_every_chart():
    app = NtTuiApp(area="monitor", area_args={"feed": RecordedFeed()})
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        plots = list(screen.query(MetricPlot))
        await pilot.press("l")
        assert screen.log_y and all(p.view.log_y for p in plots)
        assert "(log)" in plot_text(screen, "loss")[0]
        await pilot.press("right_square_bracket")
        assert screen.smoothing == 0.8
        assert all(run.smoothing == 0.8 for run in screen.runs.values())
        await pilot.press("z")  # zoom: the largest preset below the span
        assert screen.last_n == 1_000
        screen.refresh_view()
        assert {p.view.x_range for p in plots} == {(2000.0, 3000.0)}
        assert plot_text(screen, "grad norm")[-1].split()[0] == "2,000"
        await pilot.press("t")
        assert screen.x_mode == "relative" and screen.last_n is None
        await pilot.press("t")
        assert screen.x_mode == "wall"
        assert "time" in plot_text(screen, "loss")[-1]
        await pilot.press("slash")
        await pilot.press(*"grad|lr")
        await pilot.press("enter")
        await pilot.pause()
        assert [p.title for p in screen.query(MetricPlot)] == ["learning rate", "grad norm"]
        await pilot.press("Z")
        await pilot.press(*"500", "enter")
        assert screen.last_n == 500


async def test_bad_filter_is_refused_as_typed():
    app = NtTuiApp(area="monitor", area_args={"feed": RecordedFeed()})
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"loss(", "enter")
        await pilot.pause()
        prompt = app.screen.query_one("#prompt", Input)
        assert not prompt.is_valid and app.screen.filter_text == ""
        await pilot.press("escape")
        assert app.screen.prompt is None and isinstance(app.screen, MonitorScreen)


async def test_charts_redraw_only_when_data_or_view_change():
    app = NtTuiApp(area="monitor", area_args={"feed": RecordedFeed()})
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        plot = app.screen.query(MetricPlot).first()
        plot.draw()
        assert not plot.refresh_if_stale()
        run = next(iter(app.screen.runs.values()))
        run.append({"step": 3010, "train_loss": 1.5})
        app.screen.refresh_view()
        assert plot._drawn_key != plot._key()  # stale: the next paint redraws
        plot.draw()
        assert not plot.refresh_if_stale()


async def test_redraw_timer_pauses_while_the_monitor_is_hidden():
    app = NtTuiApp(area="monitor", area_args={"feed": RecordedFeed()})
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        await pilot.press("question_mark")
        await pilot.pause()
        assert not screen._timer._active.is_set()
        await pilot.press("escape")
        await pilot.pause()
        assert screen._timer._active.is_set()


async def test_warning_keys_open_the_diagnosis_wizard_and_the_knowledge():
    app = NtTuiApp(area="monitor", area_args={"feed": RecordedFeed()})
    opened = []
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        app.open_area = lambda area, **context: opened.append((area, context))
        app.open_knowledge = lambda link: opened.append(("knowledge", {"link": link}))
        await pilot.press("d", "k")
    assert opened == [
        ("diagnose", {"path": "/tmp/runs/demo-tiny-gpt", "symptoms": ["loss_unstable"]}),
        ("knowledge", {"link": "common-failures.md#loss-spikes"}),
    ]


async def test_a_warning_offers_the_diagnostician_with_the_run_as_evidence():
    """Auto-activation: a NaN warning toasts an offer once; `a` asks the diagnostician about
    the highlighted warning with its step, the run's log attached."""
    records = recorded_records(count=50, spike_at=None, nan_at=500)
    nan_event = {**spike_warning(500), "code": "nan_inf", "severity": "critical",
                 "message": "NaN/Inf at step 500: train_loss = nan",
                 "knowledge": "common-failures.md#nan-or-inf-loss"}
    again = {**nan_event, "step": 510}
    feed = RecordedFeed(records, [nan_event, again], total_steps=500)
    app = NtTuiApp(area="monitor", area_args={"feed": feed})
    opened = []
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        offers = [n for n in app._notifications if "ask the diagnostician" in n.message]
        assert len(offers) == 1 and "NaN/Inf at step 500" in offers[0].message
        app.open_area = lambda area, **context: opened.append((area, context))
        panel = app.screen.query_one(WarningsPanel)
        assert len(panel.alerts) == 2
        panel.highlighted = 1  # the older warning, at step 500
        await pilot.press("a")
        panel.focus()
        await pilot.press("a")  # the panel's own key does the same
    assert len(opened) == 2 and opened[0] == opened[1]
    area, context = opened[0]
    assert area == "ask" and context["advisor"] == "diagnostician"
    assert context["run"] == "/tmp/runs/demo-tiny-gpt"
    assert "step 500" in context["text"] and "NaN" in context["text"]


async def test_ask_from_a_warning_opens_the_diagnostician_answer(tmp_path):
    """The real ask screen, on a real run directory with a NaN warning: the diagnostician
    answers about it."""
    from nt_tui.tui.screens.ask import AskScreen

    writer = RunWriter(tmp_path / "nan-run")
    writer.write_config("name: nan-run\n")
    for step in range(1, 41):
        writer.log_metrics({"step": step, "train_loss": 3.0 - step / 40 if step < 40
                            else float("nan"), "lr": 1e-3, "grad_norm": 1.0})
    writer.log_event("warning", 40, "NaN/Inf at step 40: train_loss = nan", code="nan_inf",
                     severity="critical", knowledge="common-failures.md#nan-or-inf-loss")
    writer.close()
    feed = RecordedFeed(recorded_records(count=4, spike_at=None), [
        {"kind": "warning", "step": 40, "code": "nan_inf", "severity": "critical",
         "message": "NaN/Inf at step 40: train_loss = nan"}], run_dir=str(tmp_path / "nan-run"))
    app = NtTuiApp(area="monitor", area_args={"feed": feed})
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, AskScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.result is not None
        answer = app.screen.result.answer
        assert answer.advisor == "diagnostician"
        assert "nan" in " ".join([answer.recommendation, *answer.observed]).lower()


async def test_without_warnings_the_panel_says_what_will_show_there():
    feed = RecordedFeed(recorded_records(count=30, spike_at=None), [])
    app = NtTuiApp(area="monitor", area_args={"feed": feed})
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert "No warnings so far" in screen_text(app)
        panel = app.screen.query_one(WarningsPanel)
        assert panel.selected is None
        panel.focus()
        await pilot.press("k")  # the panel's key, with nothing to open, still answers
        await pilot.pause()
        assert any("no warning selected" in n.message for n in app._notifications)


async def test_a_run_ending_while_another_screen_is_open_leaves_the_user_there():
    app = NtTuiApp(area="monitor", area_args={"feed": RecordedFeed()})
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        monitor = app.screen
        await pilot.press("question_mark")
        await pilot.pause()
        elsewhere = app.screen
        assert elsewhere is not monitor
        monitor._finished({"status": "finished", "name": "demo-tiny-gpt", "run_dir": "/tmp/r"})
        await pilot.pause()
        assert app.screen is elsewhere
        assert any("s in the monitor shows the summary" in n.message
                   for n in app._notifications)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is monitor and monitor.state == "finished"
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SummaryScreen)


async def test_a_run_ending_while_its_stop_question_is_open_closes_it_for_the_summary():
    from nt_tui.tui.widgets.confirm import ConfirmDialog

    app = NtTuiApp(area="monitor", area_args={"feed": RecordedFeed()})
    answers = []
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        monitor = app.screen
        monitor._ask_first(ConfirmDialog("Stop training now?"), answers.append)
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        monitor._finished({"status": "finished", "name": "demo-tiny-gpt", "run_dir": "/tmp/r"})
        await pilot.pause()
        assert isinstance(app.screen, SummaryScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is monitor
    assert answers == []  # the question was withdrawn, never answered


async def test_nan_warning_notifies_and_shows_in_numbers():
    records = recorded_records(count=50, spike_at=None, nan_at=500)
    nan_event = {**spike_warning(500), "code": "nan_inf", "severity": "critical",
                 "message": "NaN/Inf at step 500: train_loss = nan",
                 "knowledge": "common-failures.md#nan-or-inf-loss"}
    feed = RecordedFeed(records, [nan_event], total_steps=500)
    app = NtTuiApp(area="monitor", area_args={"feed": feed})
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        loss = plot_text(screen, "loss")
        assert "✖" in loss[-2] and "train nan" in loss[0]
        numbers_line = next(line for line in screen_text(app).splitlines()
                            if line.startswith(" loss "))
        assert "nan" in numbers_line
        assert screen.query_one(WarningsPanel).alerts[0].critical


async def test_a_crashing_feed_becomes_a_failure_summary_and_the_app_lives():
    feed = RecordedFeed(recorded_records(count=20), [], error=RuntimeError("disk on fire"))
    app = NtTuiApp(area="monitor", area_args={"feed": feed})
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        assert isinstance(app.screen, SummaryScreen)
        report = screen_text(app)
        assert "Training failed" in report and "RuntimeError: disk on fire" in report
        assert "200 of 3,000" in report
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MonitorScreen) and app.screen.state == "failed"


async def test_picker_lists_recent_runs_and_refuses_a_missing_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with RunWriter(tmp_path / "runs" / "exp-1") as writer:
        writer.write_config("name: exp-1\n")
        writer.log_metrics({"step": 1, "train_loss": 3.0})
    app = NtTuiApp(area="monitor")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        recent = app.screen.query_one("#recent", OptionList)
        assert recent.get_option_at_index(0).id.endswith("runs/exp-1")
        app.screen.query_one("#path", Input).focus()
        await pilot.press(*"nowhere/at/all", "enter")
        await pilot.pause()
        assert isinstance(app.screen, MonitorScreen) and app.screen.feed is None
        assert any("nothing to monitor" in n.message for n in app._notifications)


def test_monitor_refuses_a_path_that_does_not_exist(tmp_path: Path):
    from nt_tui.errors import NtTuiError

    with pytest.raises(NtTuiError, match="nothing to monitor"):
        MonitorScreen(path=tmp_path / "missing")


# ------------------------------------------------------------------ followed logs


def write_run(path: Path, steps: range, spike_at: int | None = None) -> RunWriter:
    writer = RunWriter(path)
    writer.write_config("name: followed\nschedule: {total_steps: 400}\n")
    writer.log_event("start", 0, "training followed")
    for step in steps:
        loss = 9.0 if step == spike_at else 3.0 - step / 200
        writer.log_metrics({"step": step, "elapsed": step * 0.1, "train_loss": loss,
                            "lr": 1e-3, "grad_norm": 1.0})
    return writer


async def test_follows_an_nt_tui_run_directory_as_it_grows(tmp_path):
    writer = write_run(tmp_path / "run-a", range(10, 110, 10))
    writer.log_event("warning", 100, "train loss spike at step 100", code="loss_spike",
                     severity="warning", knowledge="common-failures.md#loss-spikes")
    app = NtTuiApp(area="monitor", area_args={"path": tmp_path / "run-a"})
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.runs and
                         next(iter(screen.runs.values())).last_step == 100, "the log")
        run = next(iter(screen.runs.values()))
        assert run.latest["train_loss"] == (100, 2.5)
        panel = screen.query_one(WarningsPanel)
        assert [a.code for a in panel.alerts] == ["loss_spike"]  # from events.jsonl, once
        for step in range(110, 160, 10):
            writer.log_metrics({"step": step, "elapsed": step * 0.1, "train_loss": 2.0,
                                "lr": 1e-3, "grad_norm": 1.0})
        writer.log_event("finish", 150, "finished 150 steps")
        await wait_until(pilot, lambda: run.last_step == 150, "the appended rows")
        await wait_until(pilot, lambda: screen.run_info[run.name].get("ended") == "finish",
                         "the finish event")
        screen.refresh_view()
        assert "(finished)" in screen.status_text().plain
        assert [a.code for a in panel.alerts] == ["loss_spike"]
        # a followed log has nothing to steer: pause/stop/checkpoint are not offered
        offered = {binding.binding.action for binding in app.active_bindings.values()
                   if binding.binding.show and binding.enabled}
        assert {"toggle_pause", "stop", "checkpoint"}.isdisjoint(
            {key.split("(")[0] for key in offered})
        assert "diagnose" in {key.split("(")[0] for key in offered}
        await pilot.press("x")
        assert screen.state != "stopping" and app.screen is screen
    writer.close()


async def test_a_folder_of_runs_is_overlaid_and_other_logs_get_early_warnings(tmp_path):
    write_run(tmp_path / "runs" / "nt-run", range(1, 41)).close()
    lines = ["step,loss,learning_rate"] + [
        f"{step},{9.0 if step == 30 else 2.0 + 0.01 * (step % 3)},0.001" for step in range(1, 41)]
    csv_dir = tmp_path / "runs" / "csv-run"
    csv_dir.mkdir()
    (csv_dir / "metrics.csv").write_text("\n".join(lines) + "\n")
    app = NtTuiApp(area="monitor", area_args={"path": tmp_path / "runs"})
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: len(screen.runs) == 2, "both runs")
        await wait_until(pilot, lambda: all(r.last_step == 40 for r in screen.runs.values()),
                         "all rows")
        screen.refresh_view()
        await pilot.pause()  # charts for the metrics the logs have were mounted: lay them out
        loss = next(p for p in screen.query(MetricPlot) if p.title == "loss")
        assert {t.run.name for t in loss.traces} == set(screen.runs)
        legend = loss.draw()[0].text
        assert all(name in legend for name in screen.runs)
        panel = screen.query_one(WarningsPanel)
        spikes = [a for a in panel.alerts if a.code == "loss_spike"]
        assert len(spikes) == 1 and spikes[0].event["step"] == 30
        assert spikes[0].run != "nt-run"
