"""Scaling points from your runs: each run's parameter count and its final or best loss.

A run is any log `nt_tui.runlogs.load_run` reads (nt-tui run directories, HF Trainer, Lightning,
TensorBoard, CSV/JSONL). The parameter count comes from `RUN=N` on the command line, else the
run itself: nt-tui's summary.json or start event, a `num_params`-like key in the logged config,
or an nt-tui config.yaml resolved with the built-in model's exact count.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from nt_tui.errors import NtTuiError
from nt_tui.scaling.fit import ScalingPoint
from nt_tui.scaling.quantities import parse_count

#: Config keys other tools use for the parameter count.
PARAM_KEYS = ("num_params", "n_params", "num_parameters", "n_parameters", "params",
              "parameters", "model_params", "model_num_params")
#: Which loss of each run the fit uses.
USES = ("best", "final")
#: "final" averages the last few logged values to cut evaluation noise
#: (knowledge/scaling-laws.md#fitting-your-own-scaling-law, step 4).
FINAL_WINDOW = 3


def parse_point(text: str) -> ScalingPoint:
    """`2.5M:3.21` (parameters:loss) -> a point."""
    params, sep, loss = text.partition(":")
    if not sep:
        raise NtTuiError(f"cannot read point {text!r}", hint="write PARAMS:LOSS, e.g. 2.5M:3.21")
    try:
        value = float(loss)
    except ValueError:
        raise NtTuiError(f"cannot read the loss in point {text!r}",
                         hint="write PARAMS:LOSS, e.g. 2.5M:3.21") from None
    return ScalingPoint(parse_count(params, "parameter count"), value, text)


def split_run_spec(text: str) -> tuple[Path, float | None]:
    """`runs/a=2.5M` -> (runs/a, 2.5e6); `runs/a` -> (runs/a, None)."""
    path, sep, params = text.rpartition("=")
    if sep and path and not Path(text).exists():
        return Path(path), parse_count(params, f"parameter count of {path}")
    return Path(text), None


def _direct(data: dict) -> float | None:
    for key in PARAM_KEYS:
        value = data.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    return None


def _from_mapping(data: Any) -> float | None:
    """A parameter count under a known key, at the top level or one section down."""
    if not isinstance(data, dict):
        return None
    sections = [value for value in data.values() if isinstance(value, dict)]
    return next((found for found in map(_direct, [data, *sections]) if found), None)


def _nt_tui_params(path: Path) -> float | None:
    """From an nt-tui run directory: summary.json, the start event, else config.yaml."""
    from nt_tui.runfmt import CONFIG_FILE, EVENTS_FILE, SUMMARY_FILE, iter_jsonl

    if not path.is_dir():
        return None
    summary = path / SUMMARY_FILE
    if summary.exists():
        try:
            found = _from_mapping(json.loads(summary.read_text(encoding="utf-8")))
        except ValueError:
            found = None
        if found:
            return found
    events = path / EVENTS_FILE
    if events.exists():
        for _, event in iter_jsonl(events):
            if event.get("kind") in ("start", "resume") and _from_mapping(event):
                return _from_mapping(event)
    config = path / CONFIG_FILE
    if config.exists():
        from nt_tui.config import load_config
        from nt_tui.config.defaults import resolve

        try:
            resolved = resolve(load_config(config), config)
        except NtTuiError:
            return None
        return float(resolved.num_params) if resolved.num_params else None
    return None


def run_loss(history: Any, metric: str, use: str) -> tuple[float, int]:
    """(loss, step) of a run: the best value, or the mean of the last FINAL_WINDOW values."""
    series = history.series(metric)
    series = series[series.map(math.isfinite)]
    if series.empty:
        raise NtTuiError(f"{history.name} logs no finite {metric}",
                         hint="use --metric train_loss, or a run that logged validation")
    if use == "best":
        step = int(series.idxmin())
        return float(series.min()), step
    tail = series.iloc[-FINAL_WINDOW:]
    return float(tail.mean()), int(series.index[-1])


def points_from_runs(specs: list[str], metric: str = "val_loss",
                     use: str = "best") -> list[ScalingPoint]:
    """One point per run spec (`PATH` or `PATH=PARAMS`)."""
    from nt_tui.runlogs import load_run

    if use not in USES:
        raise NtTuiError(f"unknown loss choice {use!r}", hint=f"use one of {', '.join(USES)}")
    points = []
    for spec in specs:
        path, params = split_run_spec(spec)
        history = load_run(path)
        if params is None:
            params = _nt_tui_params(path) or _from_mapping(history.config)
        if params is None:
            raise NtTuiError(f"cannot tell how many parameters the run in {path} has",
                             hint=f"give it on the command line: {path}=2.5M")
        loss, step = run_loss(history, metric, use)
        points.append(ScalingPoint(params, loss, f"{history.name} ({use} {metric} at step "
                                                 f"{step})"))
    return points
