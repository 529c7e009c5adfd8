"""The config review screen through Pilot: sections and defaults, pre-flight refusals and
choices, edits validated as typed, save-as that never overwrites, the confirm to start."""

from pathlib import Path

import pytest
import yaml
from textual.widgets import DataTable, Input, OptionList

from nt_tui.config import load_config
from nt_tui.tui.app import NtTuiApp
from nt_tui.tui.screens.review import ConfigReviewScreen, change_value, next_free_path
from nt_tui.tui.widgets.confirm import ConfirmDialog

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "demo-tiny-gpt.yaml"


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def table_rows(screen) -> dict[str, list[str]]:
    table = screen.query_one("#config", DataTable)
    return {str(key.value): [str(cell) for cell in table.get_row(key)]
            for key in table.rows}


def write(tmp_path: Path, name: str, data: dict) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


async def test_demo_config_shows_sections_defaults_and_is_ready():
    app = NtTuiApp(config_path=DEMO)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfigReviewScreen)
        rows = table_rows(screen)
        sections = [key.split(":")[1] for key in rows if key.startswith("section:")]
        assert sections == ["run", "model", "data", "optimizer", "schedule", "regularization",
                            "checkpointing", "logging", "warnings"]
        assert rows["optimizer.lr"][1] == "0.001"
        assert "model size table (< 20M parameters)" in rows["optimizer.lr"][2]
        assert "warmup rule min(2000, 10% of 2000 steps)" in rows["schedule.warmup_steps"][2]
        assert rows["model.parameters"][1] == "809,856"
        text = screen_text(app)
        assert "all checks passed" in text and "Ready: press s to start training" in text


async def test_no_logging_disables_start_with_the_reason(tmp_path):
    config = write(tmp_path, "quiet.yaml", {"model": {"size": "nano"},
                                            "data": {"val_split": 0.2},
                                            "schedule": {"total_steps": 50}})
    app = NtTuiApp(config_path=config)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "Start disabled: no logging backend" in screen_text(app)
        await pilot.press("s")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog)
        assert any("no logging backend" in n.message for n in app._notifications)
        # Fixing it in place: edit logging.backends, validated as typed.
        screen = app.screen
        table = screen.query_one("#config", DataTable)
        table.move_cursor(row=table.get_row_index("logging.backends"))
        await pilot.press("enter")
        editor = screen.query_one("#edit", Input)
        assert screen.editing == "logging.backends"
        editor.value = "[jsonl, smoke-signals]"
        await pilot.pause()
        assert not editor.is_valid
        assert "Input should be" in str(screen.query_one("#edit-problem").render())
        editor.value = "[jsonl]"
        await pilot.pause()
        assert editor.is_valid
        await pilot.press("enter")
        await pilot.pause()
        assert screen.modified and screen.editing is None
        assert table_rows(screen)["logging.backends"][1] == "[jsonl]"
        assert "Ready: press s" in screen_text(app)


async def test_no_validation_offers_three_choices(tmp_path):
    config = write(tmp_path, "noval.yaml", {"model": {"size": "nano"},
                                            "schedule": {"total_steps": 50},
                                            "logging": {"backends": ["jsonl"]}})
    app = NtTuiApp(config_path=config)
    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "CHOOSE: no validation data" in text
        assert "press 1" in text and "press 2" in text and "press 3" in text
        assert "Start disabled" in text
        await pilot.press("3")
        await pilot.pause()
        assert app.screen.config.data.allow_no_validation
        assert "Ready" in screen_text(app)
    app = NtTuiApp(config_path=config)
    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.pause()
        await pilot.press("1")
        await pilot.pause()
        assert app.screen.config.data.val_split == 0.2
    (tmp_path / "val.txt").write_text("To be, or not to be, that is the question. " * 40)
    app = NtTuiApp(config_path=config)
    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.pause()
        await pilot.press("2")  # asks for the validation file
        await pilot.pause()
        assert app.screen.editing == "data.validation"
        await pilot.press(*"val.txt", "enter")
        await pilot.pause()
        assert app.screen.config.data.validation == "val.txt"
        assert app.screen.preflight.ok


async def test_save_as_writes_a_new_file_and_never_overwrites(tmp_path):
    config = write(tmp_path, "exp.yaml", {"model": {"size": "nano"},
                                          "data": {"val_split": 0.1},
                                          "schedule": {"total_steps": 80},
                                          "logging": {"backends": ["jsonl"]}})
    (tmp_path / "taken.yaml").write_text("# someone else's\n")
    app = NtTuiApp(config_path=config)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        table = screen.query_one("#config", DataTable)
        table.move_cursor(row=table.get_row_index("schedule.total_steps"))
        await pilot.press("enter")
        screen.query_one("#edit", Input).value = "120"
        await pilot.press("enter")
        await pilot.press("w")
        await pilot.pause()
        editor = screen.query_one("#edit", Input)
        assert editor.value.endswith("exp-edited.yaml")
        editor.value = str(tmp_path / "taken.yaml")
        await pilot.pause()
        assert "exists" in str(screen.query_one("#edit-problem").render())
        await pilot.press("enter")
        await pilot.pause()
        assert (tmp_path / "taken.yaml").read_text() == "# someone else's\n"
        editor.value = str(tmp_path / "exp-edited.yaml")
        await pilot.press("enter")
        await pilot.pause()
        assert screen.config_path == tmp_path / "exp-edited.yaml" and not screen.modified
    saved = load_config(tmp_path / "exp-edited.yaml")
    assert saved.schedule.total_steps == 120
    assert load_config(config).schedule.total_steps == 80


async def test_start_asks_for_confirmation_then_opens_the_monitor(monkeypatch):
    from textual.screen import Screen

    class Marker(Screen):
        pass

    monkeypatch.setattr(ConfigReviewScreen, "monitor_screen", lambda self: Marker())
    app = NtTuiApp(config_path=DEMO)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert "2,000 steps" in screen_text(app) and "809,856 parameters" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfigReviewScreen)
        await pilot.press("s", "enter")
        await pilot.pause()
        assert isinstance(app.screen, Marker)


async def test_a_broken_config_lists_its_problems(tmp_path):
    app = NtTuiApp(config_path=REPO / "examples" / "typo.yaml")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        # Words only: where a line wraps depends on how long the clone's path is.
        text = " ".join(screen_text(app).split())
        assert "cannot be used yet" in text
        assert "unknown key 'optimizer.learning_rate'; did you mean 'lr'?" in text


async def test_without_a_path_the_picker_lists_configs_and_opens_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "mine.yaml", {"model": {"size": "nano"}, "schedule": {"total_steps": 10},
                                  "logging": {"backends": ["jsonl"]}})
    app = NtTuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")
        await pilot.pause()
        listed = app.screen.query_one("#configs", OptionList)
        ids = [listed.get_option_at_index(i).id for i in range(listed.option_count)]
        assert str(tmp_path / "mine.yaml") in ids
        assert any(i.endswith("demo-tiny-gpt.yaml") for i in ids)
        listed.focus()
        listed.highlighted = ids.index(str(tmp_path / "mine.yaml"))
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.config_path == tmp_path / "mine.yaml"


def test_change_value_parses_yaml_and_explains_refusals():
    config = load_config(DEMO)
    assert change_value(config, "optimizer.lr", "3e-4").optimizer.lr == pytest.approx(3e-4)
    assert change_value(config, "optimizer.betas", "[0.9, 0.95]").optimizer.betas == (0.9, 0.95)
    assert change_value(config, "name", "123").name == "123"
    assert change_value(config, "optimizer.lr", "").optimizer.lr is None
    with pytest.raises(ValueError, match="greater than 0"):
        change_value(config, "optimizer.lr", "-1")
    with pytest.raises(ValueError, match="validation or val_split"):
        change_value(config, "data.validation", "val.txt")


def test_next_free_path_counts_past_existing_files(tmp_path):
    base = tmp_path / "a.yaml"
    assert next_free_path(base) == tmp_path / "a-edited.yaml"
    (tmp_path / "a-edited.yaml").write_text("")
    assert next_free_path(base) == tmp_path / "a-edited-2.yaml"
    assert next_free_path(tmp_path / "a-edited.yaml") == tmp_path / "a-edited-2.yaml"


async def test_a_config_that_cannot_load_is_a_notification_and_the_review_stays(tmp_path):
    app = NtTuiApp(config_path=DEMO)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        screen._open_config(str(tmp_path / "missing.yaml"))
        await pilot.pause()
        assert app.screen is screen
        errors = [n for n in app._notifications if n.title == "Cannot open"]
        assert len(errors) == 1 and errors[0].severity == "error"
        assert "missing.yaml" in errors[0].message
        screen._open_config(str(DEMO))
        await pilot.pause()
        assert isinstance(app.screen, ConfigReviewScreen) and app.screen is not screen
