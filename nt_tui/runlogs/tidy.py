"""From a reader's raw table (original column names, one row per logged record) to the frame a
`RunHistory` holds: canonical names, an integer step, numbers only, resumes resolved.

Readers only parse; everything they have in common lives here, so a log from any tool is
repaired and reported the same way: rows without a step, NaN/Inf values, steps logged again
after a resume (the later rows win), train and eval rows at the same step (merged).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nt_tui.runlogs.history import CANONICAL_METRICS, RunHistory
from nt_tui.runlogs.names import STEP, canonical_columns

#: A wall-clock column whose first value is above this is a Unix timestamp (seconds; 1e8 s is
#: 1973), so it is turned into seconds since the first record.
UNIX_TIME_FLOOR = 1e8
#: Steps at or beyond this size are not steps (they would not fit an int64 column).
MAX_STEP = 2.0**62


@dataclass
class Canonical:
    """A raw table with canonical names, and what was done to it."""

    frame: pd.DataFrame
    original_names: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Unix time of the first record when wall_time was absolute (reuse it for later rows)
    time_origin: float | None = None
    #: canonical metric name -> sorted steps where it was written as NaN (from the reader's
    #: `nan_mask`; empty when the reader gave none)
    nan_steps: dict[str, list[int]] = field(default_factory=dict)


def _numeric(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Numbers only: text columns that hold numbers are converted, others dropped."""
    dropped = []
    for column in frame.columns:
        series = frame[column]
        if series.dtype.kind in "fiu":
            continue
        if series.dtype.kind == "b":
            frame[column] = series.astype(float)
            continue
        converted = pd.to_numeric(series, errors="coerce")
        if converted.notna().any():
            frame[column] = converted
        else:
            dropped.append(str(column))
    if dropped:
        notes.append(f"ignored {len(dropped)} non-numeric column(s): {', '.join(dropped[:5])}"
                     + (" ..." if len(dropped) > 5 else ""))
        frame = frame.drop(columns=dropped)
    return frame


def _steps(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """An int64 `step` column; rows without one are dropped."""
    if STEP not in frame.columns:
        if "epoch" in frame.columns and frame["epoch"].notna().any():
            notes.append("no step column: epochs used as steps")
            frame[STEP] = frame["epoch"]
        else:
            notes.append("no step column: row numbers used as steps")
            frame[STEP] = np.arange(len(frame))
    steps = pd.to_numeric(frame[STEP], errors="coerce").to_numpy(dtype=float)
    valid = np.isfinite(steps) & (np.abs(steps) < MAX_STEP)
    if not valid.all():
        notes.append(f"skipped {int((~valid).sum())} row(s) without a step")
        frame, steps = frame.loc[valid], steps[valid]
    rounded = np.round(steps)
    if len(steps) and not np.array_equal(rounded, steps):
        notes.append("fractional steps rounded to whole steps")
    frame = frame.copy() if not valid.all() else frame
    frame[STEP] = rounded.astype(np.int64)
    return frame


def _wall_time(frame: pd.DataFrame, origin: float | None) -> float | None:
    """Absolute wall-clock time becomes seconds since the first record; returns the origin."""
    if "wall_time" not in frame.columns:
        return origin
    values = frame["wall_time"]
    finite = values[np.isfinite(values)]
    if origin is None and len(finite) and float(finite.iloc[0]) > UNIX_TIME_FLOOR:
        origin = float(finite.iloc[0])
    if origin is not None:
        frame["wall_time"] = values - origin
    return origin


def count_nonfinite(frame: pd.DataFrame) -> int:
    """Inf values in the metric columns (NaN cells are indistinguishable from gaps here)."""
    values = frame.drop(columns=[STEP], errors="ignore").to_numpy(dtype=float, na_value=np.nan)
    return int(np.isinf(values).sum())


def _nan_steps(frame: pd.DataFrame, nan_mask: pd.DataFrame | None,
               renamed: dict[object, str], kept: set[object]) -> dict[str, list[int]]:
    """Canonical metric -> sorted steps of the cells of `frame` (rows left after `_steps`)
    written as NaN, from the raw table's mask (raw names, the raw table's index)."""
    if nan_mask is None or not len(frame):
        return {}
    found: dict[str, list[int]] = {}
    for column in nan_mask.columns:
        name = renamed.get(column)
        if column not in kept or name == STEP or name not in frame.columns:
            continue
        marked = nan_mask[column].reindex(frame.index, fill_value=False).to_numpy(dtype=bool)
        if marked.any():
            found[name] = [int(step) for step in np.unique(frame[STEP].to_numpy()[marked])]
    return found


def canonicalize(raw: pd.DataFrame, time_origin: float | None = None,
                 explicit_nan: int = 0, nan_mask: pd.DataFrame | None = None) -> Canonical:
    """Rename to canonical names, keep numeric columns, make `step` an integer.

    `explicit_nan` is the number of NaN values the reader saw written as such (a NaN cell
    cannot be told from an empty one once in the frame); `nan_mask` (`Batch.nan_mask`) says
    which cells they were, and gives `Canonical.nan_steps`.
    """
    notes: list[str] = []
    if nan_mask is not None and not raw.index.is_unique:  # line the mask up by position
        raw, nan_mask = raw.reset_index(drop=True), nan_mask.reset_index(drop=True)
    mapping = canonical_columns([str(c) for c in raw.columns])
    renamed = {c: mapping.get(str(c), str(c)) for c in raw.columns}
    frame = raw.rename(columns=renamed)
    first = ~frame.columns.duplicated()
    kept = {c for c, keep in zip(raw.columns, first) if keep}
    frame = frame.loc[:, first]
    frame = _numeric(frame, notes)
    frame = _steps(frame, notes)
    origin = _wall_time(frame, time_origin)
    nonfinite = count_nonfinite(frame) + explicit_nan
    if nonfinite:
        notes.append(f"{nonfinite} NaN/Inf value(s) kept as logged")
    original = {canonical: original for original, canonical in mapping.items()
                if canonical != STEP and canonical in frame.columns}
    ordered = [STEP] + [m for m in CANONICAL_METRICS if m in frame.columns]
    ordered += sorted(c for c in frame.columns if c not in ordered)
    return Canonical(frame[ordered], original, notes, origin,
                     _nan_steps(frame, nan_mask, renamed, kept))


def resolve_steps(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Sorted unique steps: after a resume the later rows win, rows sharing a step merge.

    A resume shows as the step going back in file order: training restarted from an earlier
    step, so every row logged before the jump at that step or later belongs to the abandoned
    run and is dropped. Rows at the same step that hold different metrics (a train row and an
    eval row) are merged into one row.
    """
    steps = frame[STEP].to_numpy()
    if len(steps) < 2 or bool(np.all(steps[1:] > steps[:-1])):
        return frame.reset_index(drop=True)
    backwards = steps[1:] < steps[:-1]
    if backwards.any():
        segment = np.concatenate([[0], np.cumsum(backwards)])
        restarts = steps[1:][backwards]  # the first step of segments 1..K
        # a row of segment j is stale if a later segment restarted at or before its step
        later_min = np.minimum.accumulate(restarts[::-1])[::-1]
        limit = np.append(later_min, np.iinfo(np.int64).max)[segment]
        stale = steps >= limit
        notes.append(f"{int(stale.sum())} row(s) logged before {int(backwards.sum())} "
                     f"resume(s) dropped: the run went back to step {int(restarts.min())} "
                     "and the later rows are kept")
        frame = frame.loc[~stale]
        steps = steps[~stale]
    shared = int(pd.Series(steps).duplicated().sum())
    if shared:
        notes.append(f"{shared} row(s) sharing a step with another row (train and eval rows) "
                     "merged")
    merged = frame.groupby(STEP, sort=True).last()
    return merged.reset_index()


def build_history(raw: pd.DataFrame, *, name: str, source: str, format: str,
                  notes: list[str] | None = None, events: list[dict] | None = None,
                  config: dict | None = None, explicit_nan: int = 0,
                  nan_mask: pd.DataFrame | None = None) -> RunHistory:
    """The `RunHistory` of one run from a reader's raw table (and its `Batch.nan_mask`)."""
    found = canonicalize(raw, explicit_nan=explicit_nan, nan_mask=nan_mask)
    all_notes = list(notes or []) + found.notes
    frame = resolve_steps(found.frame, all_notes)
    return RunHistory(name=name, source=source, format=format, frame=frame,
                      original_names=found.original_names, notes=all_notes,
                      events=list(events or []), config=config,
                      nan_steps=_still_nan(found.nan_steps, frame))


def _still_nan(nan_steps: dict[str, list[int]], frame: pd.DataFrame) -> dict[str, list[int]]:
    """The NaN steps still NaN in the resolved frame: a step whose rows were all dropped after
    a resume, or whose NaN a later row at that step replaced with a value, is no longer one
    (a stale NaN at a step the resumed run logged again without that metric stays)."""
    kept = {}
    steps_of = frame[STEP].to_numpy()
    for metric, steps in nan_steps.items():
        still = np.intersect1d(steps, steps_of[frame[metric].isna().to_numpy()])
        if still.size:
            kept[metric] = [int(step) for step in still]
    return kept
