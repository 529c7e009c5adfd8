"""Load Textual themes from YAML files in themes/ (built-in) and the user's config folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from textual.theme import Theme

from nt_tui.resources import themes_dir
from nt_tui.settings import config_dir

THEME_FIELDS = ("primary", "secondary", "accent", "foreground", "background", "surface",
                "panel", "success", "warning", "error", "boost")


@dataclass
class ThemeLoad:
    themes: list[Theme]
    problems: list[str]  # "file: reason" for each theme that was skipped


def theme_from_file(path: Path) -> Theme:
    """Build a Theme from one YAML file; ValueError naming the problem if it is bad."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ValueError("expected a mapping with a `name`")
    if not isinstance(data.get("primary"), str):
        raise ValueError("`primary` colour is required")
    unknown = set(data) - {"name", "dark", *THEME_FIELDS}
    if unknown:
        raise ValueError(f"unknown key(s): {', '.join(sorted(unknown))}")
    colours = {key: str(data[key]) for key in THEME_FIELDS if key in data}
    return Theme(name=data["name"], dark=bool(data.get("dark", True)), **colours)


def load_themes() -> ThemeLoad:
    """Built-in themes, then user themes from $XDG_CONFIG_HOME/nt-tui/themes/*.yaml."""
    themes, problems = [], []
    for folder in (themes_dir(), config_dir() / "themes"):
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            try:
                themes.append(theme_from_file(path))
            except (OSError, ValueError, yaml.YAMLError) as exc:
                problems.append(f"{path.name}: {exc}")
    return ThemeLoad(themes, problems)
