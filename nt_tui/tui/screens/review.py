"""Config review: the resolved config by section with the defaulted values and why, the
pre-flight findings, in-place edits validated as you type, save-as, and the start of a run.

Keys: Enter edits the highlighted value, 1/2/3 settle the validation choice, w saves the
config under a new name (never over an existing file), s starts training (after a confirm).
With no config path the screen lists the YAML configs nearby and takes a path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.validation import ValidationResult, Validator
from textual.widgets import DataTable, Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from nt_tui.config.loader import ConfigError, dump_config, load_config
from nt_tui.config.preflight import Level, Preflight, apply_changes, run_preflight
from nt_tui.config.review import grouped_rows
from nt_tui.config.schema import TrainingConfig
from nt_tui.errors import NtTuiError
from nt_tui.resources import examples_dir
from nt_tui.runfmt import free_path
from nt_tui.tui.screens._common import open_screen

#: Rows of the review that are computed, not set (they cannot be edited).
DERIVED_KEYS = ("model.parameters", "data.train_tokens", "data.tokens_per_step")
#: Folders the picker lists configs from (relative to the working directory), then examples.
CONFIG_FOLDERS = (".", "configs", "examples")
MAX_LISTED_CONFIGS = 40
LEVEL_STYLE = {Level.ERROR: ("REFUSED", "bold red"), Level.CHOICE: ("CHOOSE", "bold yellow"),
               Level.WARNING: ("warning", "yellow"), Level.INFO: ("info", "dim")}
SECTION_ROW = "section:"
#: Table layout: the widest value column, the narrowest "why" column, and the cells the
#: table spends on cell padding and its scrollbar.
VALUE_COLUMN_MAX, WHY_COLUMN_MIN, TABLE_CHROME = 22, 16, 8


# ------------------------------------------------------------------- editing helpers

def field_help(key: str) -> str:
    """The schema's description of a dotted key ("" when it has none)."""
    model: type[BaseModel] = TrainingConfig
    *sections, name = key.split(".")
    for section in sections:
        annotation = model.model_fields[section].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        model = annotation
    field = model.model_fields.get(name)
    return (field.description or "") if field else ""


def user_value(config: TrainingConfig, key: str) -> Any:
    """The value the config itself sets for a dotted key (None when left to the default)."""
    node: Any = config
    for part in key.split("."):
        node = getattr(node, part)
    return node


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_as_text(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def change_value(config: TrainingConfig, key: str, text: str,
                 extra: dict[str, object] | None = None) -> TrainingConfig:
    """`config` with `key` set from what the user typed (YAML syntax; empty = the default).

    Raises ValueError with a one-line reason when the value does not validate.
    """
    text = text.strip()
    candidates: list[object] = [None] if not text else []
    if text:
        try:
            candidates.append(yaml.safe_load(text))
        except yaml.YAMLError:
            pass
        candidates.append(text)  # e.g. a name that YAML would read as a number
    problem = "not a valid value"
    for value in candidates:
        try:
            return apply_changes(config, {key: value, **(extra or {})})
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            problem = str(error["msg"]).removeprefix("Value error, ")
            problem = f"{where}: {problem}" if where and where != key else problem
        except (KeyError, TypeError) as exc:
            problem = f"cannot set {key}: {exc}"
    raise ValueError(problem)


class ValueValidator(Validator):
    """Validates the edit line as the user types, against the whole config."""

    def __init__(self, screen: "ConfigReviewScreen") -> None:
        super().__init__()
        self.screen = screen

    def validate(self, value: str) -> ValidationResult:
        editing = self.screen.editing
        if editing is None:
            return self.success()
        try:
            change_value(self.screen.config, editing, value, self.screen.edit_extra)
        except ValueError as exc:
            return self.failure(str(exc))
        return self.success()


def next_free_path(path: Path) -> Path:
    """`<stem>-edited.yaml` beside `path`, numbered until no file has that name."""
    stem = path.stem.removesuffix("-edited")
    return free_path(path.parent, f"{stem}-edited", path.suffix or ".yaml")


def save_new_config(config: TrainingConfig, path: Path, source: Path | None) -> Path:
    """Write `config` to a new file; refuses an existing one (never overwrites)."""
    path = path.expanduser()
    if path.suffix not in (".yaml", ".yml"):
        raise NtTuiError(f"{path.name} is not a .yaml file name", hint="end the name in .yaml")
    header = f"# Saved by nt-tui from {source}\n" if source else "# Saved by nt-tui\n"
    try:
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(header + dump_config(config))
    except FileExistsError:
        raise NtTuiError(f"{path} already exists", hint="choose a new name: nt-tui never "
                                                        "overwrites a config") from None
    except OSError as exc:
        raise NtTuiError(f"cannot write {path}: {exc.strerror}",
                         hint="choose a folder you can write to") from None
    return path


def nearby_configs() -> list[Path]:
    """YAML configs in the working directory, ./configs, ./examples and the bundled examples."""
    found: list[Path] = []
    folders = [Path.cwd() / folder for folder in CONFIG_FOLDERS] + [examples_dir()]
    for folder in folders:
        if folder.is_dir():
            found.extend(sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")))
    unique = list(dict.fromkeys(path.resolve() for path in found))
    return unique[:MAX_LISTED_CONFIGS]


def _shown_path(path: Path) -> str:
    """`path` relative to the working directory when it lies below it, else absolute."""
    absolute = Path(path).expanduser().resolve()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


# ------------------------------------------------------------------------ the screen

class ConfigReviewScreen(Screen):
    """Review, edit, save and start a training config."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="review.back"),
        Binding("s", "start", "Start training", id="review.start"),
        Binding("e", "edit", "Edit value", id="review.edit"),
        Binding("w", "save_as", "Save as", id="review.save_as"),
        Binding("1", "choose(1)", "Choice 1", show=False, id="review.choice1"),
        Binding("2", "choose(2)", "Choice 2", show=False, id="review.choice2"),
        Binding("3", "choose(3)", "Choice 3", show=False, id="review.choice3"),
        Binding("r", "reload", "Reload", show=False, id="review.reload"),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    DEFAULT_CSS = """
    ConfigReviewScreen #title { height: 1; padding: 0 1; background: $panel; }
    ConfigReviewScreen #body { height: 1fr; }
    ConfigReviewScreen.-narrow #body { layout: vertical; }
    ConfigReviewScreen.-wide #body { layout: horizontal; }
    ConfigReviewScreen #config { height: 1fr; }
    ConfigReviewScreen.-wide #config { width: 2fr; }
    ConfigReviewScreen #findings { height: auto; max-height: 40%; padding: 0 1;
        border-top: hkey $panel; }
    ConfigReviewScreen.-wide #findings { width: 1fr; height: 1fr; max-height: 100%;
        border-top: none; border-left: vkey $panel; }
    ConfigReviewScreen #detail { height: auto; max-height: 3; padding: 0 1; color: $text-muted;
        border-top: hkey $panel; }
    ConfigReviewScreen #verdict { height: 1; padding: 0 1; }
    ConfigReviewScreen #editor { height: auto; display: none; padding: 0 1; }
    ConfigReviewScreen #editor.-shown { display: block; }
    ConfigReviewScreen #edit-problem { height: 1; color: $error; }
    ConfigReviewScreen #errors { padding: 1 2; }
    ConfigReviewScreen #picker-help { padding: 1 1 0 1; }
    ConfigReviewScreen #configs { height: 1fr; margin: 1 1 0 1; }
    ConfigReviewScreen #path { margin: 0 1; }
    """

    def __init__(self, *, config_path: Path | str | None = None) -> None:
        super().__init__()
        self.config_path = Path(config_path).expanduser() if config_path else None
        self.load_problems: list[str] = []
        self.load_hint = ""
        self.config: TrainingConfig | None = None
        self.preflight: Preflight | None = None
        self.modified = False
        self.editing: str | None = None  # dotted key, "save-as", or None
        self.edit_extra: dict[str, object] = {}
        if self.config_path is not None:
            self._load()

    def _load(self) -> None:
        assert self.config_path is not None
        try:
            self.config = load_config(self.config_path)
        except ConfigError as exc:
            self.config, self.load_problems, self.load_hint = None, exc.problems, exc.hint or ""
            return
        except NtTuiError:
            raise  # a missing or unreadable file: open_area shows it, nothing to review
        self.load_problems = []
        self.preflight = run_preflight(self.config, self.config_path)

    # --------------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        if self.config_path is None:
            yield from self._compose_picker()
            return
        yield Static("", id="title")
        if self.config is None:
            with VerticalScroll(id="errors"):
                yield Static(self._errors_text(), id="error-list")
            yield Footer()
            return
        with Horizontal(id="body"):
            yield DataTable(id="config", cursor_type="row", zebra_stripes=False)
            with VerticalScroll(id="findings"):
                yield Static("", id="findings-text")
        yield Static("", id="detail")
        with Vertical(id="editor"):
            yield Static("", id="edit-label")
            yield Input(id="edit", validators=[ValueValidator(self)],
                        validate_on=["changed", "submitted"])
            yield Static("", id="edit-problem")
        yield Static("", id="verdict")
        yield Footer()

    def _compose_picker(self) -> ComposeResult:
        configs = nearby_configs()
        yield Static(" [b]Train[/b]: pick a config to review", id="title")
        yield Static("YAML configs in this folder, ./configs, ./examples and nt-tui's examples. "
                     "Or type a path and press Enter.", id="picker-help")
        yield OptionList(*(Option(_shown_path(p), id=str(p)) for p in configs), id="configs")
        yield Input(placeholder="path of a training config (.yaml)", id="path")
        yield Footer()

    def on_mount(self) -> None:
        if self.config_path is None:
            return
        self._update_title()
        if self.config is not None:
            self._fill()
            table = self.query_one("#config", DataTable)
            table.move_cursor(row=1)
            table.focus()

    def on_resize(self) -> None:
        if self.preflight is not None and self.config_path is not None:
            self.call_after_refresh(self._fill)

    def _errors_text(self) -> str:
        lines = [f"[b red]This config cannot be used yet[/b red] "
                 f"({len(self.load_problems)} problem(s)):", ""]
        lines += [f"  • {escape(problem)}" for problem in self.load_problems]
        lines += ["", f"[dim]{escape(self.load_hint)}[/dim]",
                  "[dim]Fix the file in your editor, then press r to reload it.[/dim]"]
        return "\n".join(lines)

    def _update_title(self) -> None:
        assert self.config_path is not None
        mark = "  [yellow](edited, not saved: w saves under a new name)[/yellow]" \
            if self.modified else ""
        self.query_one("#title", Static).update(
            f" [b]Review[/b] {escape(_shown_path(self.config_path))}{mark}")

    def _fill(self) -> None:
        """(Re)build the table, the findings and the verdict from the current config."""
        assert self.preflight is not None
        table = self.query_one("#config", DataTable)
        keep = table.cursor_row
        groups = grouped_rows(self.preflight)
        table.clear(columns=True)
        names = [row.key.split(".", 1)[-1] for rows in groups.values() for row in rows]
        values = [row.value for rows in groups.values() for row in rows]
        name_width = max(len(name) for name in names) + 2
        value_width = min(max(len(value) for value in values), VALUE_COLUMN_MAX)
        why_width = max(WHY_COLUMN_MIN, table.size.width - name_width - value_width
                        - TABLE_CHROME)
        table.add_column("setting", width=name_width)
        table.add_column("value", width=value_width)
        table.add_column("why this value", width=why_width)
        for section, rows in groups.items():
            table.add_row(Text(section, style="bold"), "", "", key=f"{SECTION_ROW}{section}")
            for row in rows:
                name = row.key.split(".", 1)[-1] if "." in row.key else row.key
                why = Text(f"default: {row.note}", style="italic dim") if row.note and \
                    row.key in self.preflight.resolved.defaulted else Text(row.note, style="dim")
                table.add_row(f"  {name}", row.value, why, key=row.key)
        if keep is not None and keep < table.row_count:
            table.move_cursor(row=keep)
        self.query_one("#findings-text", Static).update(self._findings_text())
        self._update_verdict()
        self._update_detail()

    def _findings_text(self) -> Text:
        assert self.preflight is not None
        text = Text()
        text.append("Pre-flight\n", style="bold")
        if not self.preflight.findings:
            text.append("all checks passed\n", style="green")
        for finding in self.preflight.findings:
            label, style = LEVEL_STYLE[finding.level]
            text.append(f"{label}: ", style=style)
            text.append(f"{finding.message}\n")
            if finding.fix:
                text.append(f"  fix: {finding.fix}\n", style="dim")
            for number, choice in enumerate(finding.choices, 1):
                text.append(f"  press {number}: ", style="bold")
                text.append(f"{choice.label}\n")
            if finding.knowledge:
                text.append(f"  see: {finding.knowledge}\n", style="dim")
        return text

    def start_blocker(self) -> str | None:
        """Why training cannot start now (None when it can)."""
        if self.preflight is None:
            return "the config does not load"
        for finding in self.preflight.blocking:
            if finding.level is Level.ERROR:
                return f"{finding.message} (fix: {finding.fix})" if finding.fix else \
                    finding.message
        for finding in self.preflight.blocking:
            return f"{finding.message}: press 1, 2 or 3 to choose"
        return None

    def _update_verdict(self) -> None:
        blocker = self.start_blocker()
        verdict = self.query_one("#verdict", Static)
        if blocker is None:
            verdict.update("[b green]Ready:[/b green] press [b]s[/b] to start training")
        else:
            verdict.update(f"[b red]Start disabled:[/b red] {escape(blocker)}")

    def _highlighted_key(self) -> str | None:
        table = self.query_one("#config", DataTable)
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return str(row_key.value)

    def _update_detail(self) -> None:
        key = self._highlighted_key()
        detail = self.query_one("#detail", Static)
        if key is None or key.startswith(SECTION_ROW) or self.preflight is None:
            detail.update("Enter edits the highlighted value.")
            return
        parts = [f"[b]{escape(key)}[/b]"]
        if key in DERIVED_KEYS:
            parts.append("computed from other settings")
        elif field_help(key):
            parts.append(escape(field_help(key)))
        why = self.preflight.resolved.defaulted.get(key)
        if why:
            parts.append(f"default from {escape(why)}")
        detail.update(" · ".join(parts))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._update_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_edit()

    # ------------------------------------------------------------------- editing

    def action_edit(self, key: str | None = None, extra: dict[str, object] | None = None,
                    prefill: str | None = None) -> None:
        if self.config is None or self.preflight is None:
            return
        key = key or self._highlighted_key()
        if key is None or key.startswith(SECTION_ROW):
            self.notify("pick a value row to edit", severity="warning")
            return
        if key in DERIVED_KEYS:
            self.notify(f"{key} is computed from other settings", severity="warning")
            return
        value = user_value(self.config, key)
        if value is None:
            value = user_value(self.preflight.resolved.config, key)
        self._open_editor(key, f"[b]{escape(key)}[/b]: {escape(field_help(key))}  "
                               "[dim](Enter applies, Escape cancels, empty = default)[/dim]",
                          _as_text(value) if prefill is None else prefill, extra or {})

    def action_save_as(self) -> None:
        if self.config is None or self.config_path is None:
            return
        self._open_editor("save-as", "[b]Save as[/b]: a new file name (an existing file is "
                                     "never overwritten)",
                          _shown_path(next_free_path(self.config_path)), {})

    def _open_editor(self, key: str, label: str, value: str, extra: dict[str, object]) -> None:
        self.editing, self.edit_extra = key, extra
        self.query_one("#edit-label", Static).update(label)
        self.query_one("#edit-problem", Static).update("")
        editor = self.query_one("#edit", Input)
        editor.value = value
        self.query_one("#editor").add_class("-shown")
        editor.focus()
        editor.cursor_position = len(value)

    def _close_editor(self) -> None:
        self.editing, self.edit_extra = None, {}
        self.query_one("#editor").remove_class("-shown")
        self.query_one("#config", DataTable).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "edit" or self.editing is None:
            return
        problem = ""
        if self.editing == "save-as":
            path = Path(event.value.strip()).expanduser()
            if event.value.strip() and path.exists():
                problem = f"{path} exists: choose a new name"
        elif event.validation_result is not None and not event.validation_result.is_valid:
            problem = "; ".join(event.validation_result.failure_descriptions)
        self.query_one("#edit-problem", Static).update(escape(problem))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "path":
            self._open_config(event.value.strip())
            return
        if self.editing == "save-as":
            self._save_as(event.value.strip())
            return
        if self.editing is None or self.config is None:
            return
        try:
            config = change_value(self.config, self.editing, event.value, self.edit_extra)
        except ValueError as exc:
            self.query_one("#edit-problem", Static).update(escape(str(exc)))
            return
        self._set_config(config)
        self._close_editor()

    def _set_config(self, config: TrainingConfig) -> None:
        self.config = config
        self.modified = True
        self.preflight = run_preflight(config, self.config_path)
        self._update_title()
        self._fill()

    def _save_as(self, name: str) -> None:
        assert self.config is not None and self.config_path is not None
        if not name:
            return
        path = Path(name).expanduser()
        try:
            saved = save_new_config(self.config, path, self.config_path)
        except NtTuiError as exc:
            self.query_one("#edit-problem", Static).update(escape(exc.one_line()))
            return
        self.config_path = saved
        self.modified = False
        self.preflight = run_preflight(self.config, saved)
        self._close_editor()
        self._update_title()
        self._fill()
        self.notify(f"saved {_shown_path(saved)}", title="Config saved", timeout=4)

    def action_choose(self, number: int) -> None:
        if self.preflight is None or self.config is None or self.editing is not None:
            return
        choices = [f for f in self.preflight.findings if f.level is Level.CHOICE]
        if not choices:
            return
        finding = choices[0]
        if not 1 <= number <= len(finding.choices):
            return
        changes = dict(finding.choices[number - 1].changes)
        missing = [key for key, value in changes.items() if value is None]
        if missing:  # the choice needs a value from the user (a validation file)
            others = {key: value for key, value in changes.items() if value is not None}
            self.action_edit(missing[0], extra={**others, "data.val_split": None}, prefill="")
            return
        try:
            config = apply_changes(self.config, changes)
        except ValidationError as exc:
            self.notify(str(exc.errors()[0]["msg"]), severity="error")
            return
        self._set_config(config)

    def action_reload(self) -> None:
        if self.config_path is None:
            return
        config_path = self.config_path
        open_screen(self.app, lambda: ConfigReviewScreen(config_path=config_path),
                    title="Cannot reload", switch=True, timeout=None)

    # ----------------------------------------------------------------- navigation

    def action_back(self) -> None:
        if self.editing is not None:
            self._close_editor()
            return
        self.app.pop_screen()

    def _open_config(self, text: str) -> None:
        if not text:
            return
        open_screen(self.app, lambda: ConfigReviewScreen(config_path=text), title="Cannot open",
                    switch=True)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self._open_config(event.option.id)

    def action_start(self) -> None:
        if self.preflight is None or self.config is None or self.editing is not None:
            return
        blocker = self.start_blocker()
        if blocker is not None:
            self.notify(blocker, title="Start disabled", severity="error", timeout=8)
            return
        resolved = self.preflight.resolved
        config = resolved.config
        schedule = config.schedule
        params = f"{resolved.num_params:,} parameters" if resolved.num_params else \
            "parameters unknown"
        details = (f"{schedule.total_steps:,} steps · {params} · {config.optimizer.name} "
                   f"lr {config.optimizer.lr:g}, {schedule.name} schedule, warmup "
                   f"{schedule.warmup_steps} · logs to {', '.join(config.logging.backends)} "
                   f"under {config.logging.run_dir}/")
        from nt_tui.tui.widgets.confirm import ConfirmDialog

        def start(confirmed: bool | None) -> None:
            if confirmed:
                self.app.push_screen(self.monitor_screen())

        self.app.push_screen(ConfirmDialog(f"Start training {config.name}?", details,
                                           yes="start", no="back to the review"), start)

    def monitor_screen(self) -> Screen:
        """The live monitor training this config."""
        from nt_tui.tui.screens.monitor import MonitorScreen

        assert self.preflight is not None
        return MonitorScreen(resolved=self.preflight.resolved)
