"""Downsampling and smoothing for plots, in numpy (no torch, no pandas, no Textual).

A chart is a few hundred pixel columns wide; a run may log millions of steps. Drawing a
reservoir sample hides exactly the spikes a user is looking for, so charts draw per pixel
column the minimum, maximum and mean of every point that falls in it. To make that cost the
same at a thousand or a million points, `MinMaxPyramid` keeps the min/max/sum/count of blocks of
4, 16, 64, ... points up to date as points are appended, and `downsample` reads a few hundred
block summaries instead of the raw points.

`ema_debiased` is TensorBoard's scalar smoothing: an exponential moving average divided by
`1 - weight ** n` so the first points are not pulled towards zero.

NaN means "no value at this point" throughout (a sparse metric such as validation loss is NaN
between evaluations); callers keep logged NaN/Inf values elsewhere, as evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from nt_tui.analysis.growable import GrowableArray

#: TensorBoard's default smoothing weight (its slider starts at 0.6).
DEFAULT_SMOOTHING = 0.6
#: The largest weight accepted: at 1.0 the average would never move.
MAX_SMOOTHING = 0.999
#: Blocks of the pyramid hold this many blocks of the level below.
PYRAMID_FACTOR = 4
#: No coarser level is built once a level has fewer blocks than this (a chart is narrower).
PYRAMID_MIN_BLOCKS = 256
#: A bucket is read from blocks no larger than 1/SNAP_SHARE of the bucket, so snapping bucket
#: edges to block edges moves them by at most 1/(2 x SNAP_SHARE) of a pixel column.
SNAP_SHARE = 4
#: The EMA is computed in chunks whose scaling factor weight**-i stays below e**EXP_LIMIT
#: (float64 overflows near e**709).
EXP_LIMIT = 600.0
MAX_CHUNK = 65536


# ----------------------------------------------------------------------------- smoothing

@dataclass
class EmaState:
    """Where an exponential moving average stands after the values it has seen."""

    last: float = 0.0  # the running average before debiasing
    count: int = 0  # finite values seen


def ema_debiased(values: np.ndarray, weight: float,
                 state: EmaState | None = None) -> tuple[np.ndarray, EmaState]:
    """TensorBoard's debiased EMA of `values`, continuing from `state`.

    Returns (smoothed, new state). Non-finite entries come out as NaN and leave the average
    unchanged. `weight` is the smoothing (0 = none, 0.999 = heavy).
    """
    weight = min(max(float(weight), 0.0), MAX_SMOOTHING)
    state = EmaState(state.last, state.count) if state else EmaState()
    values = np.asarray(values, dtype=np.float64)
    out = np.full(len(values), np.nan)
    finite = np.isfinite(values)
    kept = values[finite]
    if not len(kept):
        return out, state
    if weight == 0.0:
        out[finite] = kept
        state.last, state.count = float(kept[-1]), state.count + len(kept)
        return out, state
    smoothed, state = _ema_finite(kept, weight, state)
    out[finite] = smoothed
    return out, state


def _ema_finite(values: np.ndarray, weight: float, state: EmaState) -> tuple[np.ndarray, EmaState]:
    """The debiased EMA of finite `values`, vectorised in chunks.

    Within a chunk, last_i = w^(i+1) carry + (1-w) sum_{j<=i} w^(i-j) v_j, computed as
    w^i (w carry + (1-w) cumsum(v_j w^-j)); chunks are short enough that w^-j stays finite,
    and the carry from chunk to chunk is one multiply-add each.
    """
    size = len(values)
    chunk = int(min(MAX_CHUNK, max(1, EXP_LIMIT / -math.log(weight)), size))
    rows = -(-size // chunk)
    padded = np.zeros(rows * chunk)
    padded[:size] = values
    index = np.arange(chunk)
    power, inverse = weight ** index, weight ** -index
    sums = np.cumsum(padded.reshape(rows, chunk) * inverse, axis=1)
    chunk_decay = weight ** chunk
    chunk_ends = (1 - weight) * power[-1] * sums[:, -1]
    carries = np.empty(rows)
    carry = state.last
    for row in range(rows):
        carries[row] = carry
        carry = chunk_decay * carry + chunk_ends[row]
    running = (power * (weight * carries[:, None] + (1 - weight) * sums)).ravel()[:size]
    debias = np.ones(size)
    # weight**n is below float64 resolution after this many values: no debiasing needed.
    settled = int(min(size, max(0, math.ceil(40 / -math.log(weight)) - state.count)))
    if settled:
        debias[:settled] = 1 - weight ** (state.count + 1 + np.arange(settled))
    return running / debias, EmaState(float(running[-1]), state.count + size)


def forward_fill(values: np.ndarray, carry: float = np.nan) -> np.ndarray:
    """`values` with each NaN replaced by the last non-NaN value before it (or `carry`)."""
    values = np.asarray(values)
    if not len(values):
        return values.copy()
    present = ~np.isnan(values)
    last = np.where(present, np.arange(len(values)), -1)
    np.maximum.accumulate(last, out=last)
    filled = values[np.maximum(last, 0)].copy()
    filled[last < 0] = carry
    return filled


# ------------------------------------------------------------------------------ pyramid

@dataclass
class _Level:
    """Summaries of consecutive blocks of one size."""

    block: int
    lo: GrowableArray = field(default_factory=lambda: GrowableArray(np.float32, np.nan))
    hi: GrowableArray = field(default_factory=lambda: GrowableArray(np.float32, np.nan))
    total: GrowableArray = field(default_factory=lambda: GrowableArray(np.float64))
    count: GrowableArray = field(default_factory=lambda: GrowableArray(np.int32))

    def __len__(self) -> int:
        return len(self.lo)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.lo.data, self.hi.data, self.total.data, self.count.data

    def replace_from(self, start: int, parts: tuple[np.ndarray, ...]) -> None:
        for column, part in zip((self.lo, self.hi, self.total, self.count), parts):
            column.truncate(start)
            column.extend(part)

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in (self.lo, self.hi, self.total, self.count))


def _raw_summaries(values: np.ndarray) -> tuple[np.ndarray, ...]:
    """(lo, hi, total, count) of single points: NaN points count zero."""
    finite = np.isfinite(values)
    return values, values, np.where(finite, values, 0.0), finite.astype(np.int32)


def _reduce(parts: tuple[np.ndarray, ...], starts: np.ndarray) -> tuple[np.ndarray, ...]:
    """Combine the summaries in segments [starts[i], starts[i+1]) (the last to the end)."""
    lo, hi, total, count = parts
    return (np.fmin.reduceat(lo, starts), np.fmax.reduceat(hi, starts),
            np.add.reduceat(total, starts), np.add.reduceat(count, starts))


class MinMaxPyramid:
    """Min, max, sum and count of a growing array over blocks of 4, 16, 64, ... points."""

    def __init__(self) -> None:
        self.levels: list[_Level] = []

    @property
    def nbytes(self) -> int:
        return sum(level.nbytes for level in self.levels)

    def update(self, values: np.ndarray, changed_from: int = 0) -> None:
        """Bring the summaries up to date with `values`, of which only the points from
        `changed_from` on differ from the last update (appended, rewritten or cut off)."""
        below: tuple[np.ndarray, ...] | None = None
        below_len, below_block = len(values), 1
        first = changed_from
        depth = 0
        while below_len >= PYRAMID_MIN_BLOCKS or depth < len(self.levels):
            if below_len < PYRAMID_MIN_BLOCKS:
                del self.levels[depth:]
                break
            if depth == len(self.levels):
                self.levels.append(_Level(below_block * PYRAMID_FACTOR))
                first = 0  # a new level is built from the start
            level = self.levels[depth]
            start = min(first // PYRAMID_FACTOR, len(level))
            begin = start * PYRAMID_FACTOR
            source = (_raw_summaries(values[begin:]) if below is None
                      else tuple(part[begin:] for part in below))
            count = len(source[0])
            if count:
                level.replace_from(start, _reduce(source, np.arange(0, count, PYRAMID_FACTOR)))
            else:
                level.replace_from(start, tuple(part[:0] for part in level.arrays()))
            below, below_len, below_block = level.arrays(), len(level), level.block
            first = start
            depth += 1


# ---------------------------------------------------------------------------- downsample

@dataclass
class Buckets:
    """One chart column per bucket; empty buckets have count 0 and NaN lo/hi/mean."""

    lo: np.ndarray
    hi: np.ndarray
    mean: np.ndarray
    count: np.ndarray
    #: index of the last point of each bucket (-1 when the bucket holds no point)
    last: np.ndarray

    def __len__(self) -> int:
        return len(self.count)


def _bucket_index_edges(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Indices into sorted `x` of bucket edges: bucket i holds x in [edges[i], edges[i+1]),
    the last bucket also holds x == edges[-1]."""
    index = np.searchsorted(x, edges, side="left")
    index[-1] = np.searchsorted(x, edges[-1], side="right")
    return index


def downsample(x: np.ndarray, values: np.ndarray, edges: np.ndarray,
               pyramid: MinMaxPyramid | None = None) -> Buckets:
    """Min, max, mean, count and last index of `values` in each bucket between `edges`.

    `x` is sorted ascending, `values` has the same length (NaN = no value), `edges` are
    len(buckets) + 1 ascending x values. With an up-to-date `pyramid` of `values`, the cost
    depends on the number of buckets, not on the number of points.
    """
    buckets = len(edges) - 1
    index = _bucket_index_edges(x, np.asarray(edges, dtype=np.float64))
    span = int(index[-1] - index[0])
    level = None
    if pyramid is not None and buckets > 0:
        for candidate in pyramid.levels:
            if candidate.block * SNAP_SHARE * buckets <= span:
                level = candidate
    offset = 0
    if level is None:
        offset = int(index[0])
        parts, block = _raw_summaries(values[offset:index[-1]]), 1
        blocks = index - offset
    else:
        parts, block = level.arrays(), level.block
        blocks = np.rint(index / block).astype(np.int64)
        blocks[0] = index[0] // block
        blocks[-1] = -(-index[-1] // block)
        blocks = np.minimum(np.maximum.accumulate(blocks), len(parts[0]))
    lo = np.full(buckets, np.nan)
    hi = np.full(buckets, np.nan)
    total = np.zeros(buckets)
    count = np.zeros(buckets, dtype=np.int64)
    starts, ends = blocks[:-1], blocks[1:]
    filled = ends > starts
    if filled.any():
        used = tuple(part[:blocks[-1]] for part in parts)
        lo[filled], hi[filled], total[filled], count[filled] = _reduce(used, starts[filled])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    last = np.where(filled, np.minimum(offset + ends * block, len(values)) - 1, -1)
    lo[count == 0] = np.nan
    hi[count == 0] = np.nan
    return Buckets(lo=lo, hi=hi, mean=mean, count=count, last=last)


def bucket_edges(start: float, end: float, buckets: int) -> np.ndarray:
    """`buckets` + 1 evenly spaced edges from `start` to `end` (widened if they coincide)."""
    if not end > start:
        end = start + 1.0
    return np.linspace(start, end, buckets + 1)
