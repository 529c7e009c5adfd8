"""User settings (the theme, for now) as JSON under the XDG config directory. No Textual here."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from nt_tui.runfmt import write_atomic

DEFAULT_THEME = "nt-dark"


def config_dir() -> Path:
    """$XDG_CONFIG_HOME/nt-tui (default ~/.config/nt-tui)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "nt-tui"


@dataclass
class UserSettings:
    theme: str = DEFAULT_THEME

    @classmethod
    def path(cls) -> Path:
        return config_dir() / "settings.json"

    @classmethod
    def load(cls) -> "UserSettings":
        """The saved settings; defaults when the file is missing or unreadable."""
        try:
            data = json.loads(cls.path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and
                 isinstance(v, str)}
        return cls(**known)

    def save(self) -> None:
        write_atomic(self.path(), json.dumps(asdict(self), indent=2))
