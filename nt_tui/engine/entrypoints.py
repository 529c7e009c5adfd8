"""Load the user's code named by `package.module:function` (model entry points, callbacks)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nt_tui.errors import NtTuiError


class UserCodeError(NtTuiError):
    """The user's own code failed (import error, exception, wrong return value)."""


def load_entrypoint(spec: str, search_dirs: list[Path], key: str) -> Callable[..., Any]:
    """The callable `spec` names; `search_dirs` (config folder, working directory) are put on
    sys.path first so a module next to the config imports. `key` is the config key, for errors.
    """
    module_name, _, attribute = spec.partition(":")
    for folder in reversed(search_dirs):
        folder_text = str(folder.resolve())
        if folder_text not in sys.path:
            sys.path.insert(0, folder_text)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UserCodeError(
                f"{key}: module '{module_name}' not found",
                hint=f"put {module_name.replace('.', '/')}.py next to the config or on "
                     "PYTHONPATH") from None
        raise UserCodeError(f"{key}: importing {module_name} failed: {exc}",
                            hint="fix the import in your module") from None
    except Exception as exc:  # noqa: BLE001 - the user's module raised while importing
        raise UserCodeError(f"{key}: importing {module_name} raised "
                            f"{type(exc).__name__}: {exc}", hint="fix your module") from None
    target = getattr(module, attribute, None)
    if target is None:
        raise UserCodeError(f"{key}: {module_name} has no '{attribute}'",
                            hint=f"define {attribute} in {module_name}")
    if not callable(target):
        raise UserCodeError(f"{key}: {spec} is not callable", hint="point at a function")
    return target


def call_user(function: Callable[..., Any], key: str, *args: Any) -> Any:
    """Call user code, turning any exception into a `UserCodeError` naming the config key."""
    try:
        return function(*args)
    except NtTuiError:
        raise
    except Exception as exc:
        raise UserCodeError(f"{key} raised {type(exc).__name__}: {exc}",
                            hint="fix your code; the traceback is in the run's events.jsonl") \
            from exc
