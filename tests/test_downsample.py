"""Downsampling, smoothing and the run buffer: spikes survive, results match brute force,
incremental updates equal rebuilds, and the cost does not grow with the history."""

import math

import numpy as np
import pytest

from nt_tui.analysis.downsample import (MinMaxPyramid, bucket_edges, downsample, ema_debiased,
                                        forward_fill)
from nt_tui.analysis.metric_buffer import RunBuffer, flatten_record


def tensorboard_ema(values, weight):
    """TensorBoard's smoothing loop, written out as its scalar dashboard does it."""
    last, count, out = 0.0, 0, []
    for value in values:
        if not math.isfinite(value):
            out.append(math.nan)
            continue
        last = last * weight + (1 - weight) * value
        count += 1
        out.append(last / (1 - weight ** count))
    return np.array(out)


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.6, 0.9, 0.99, 0.999])
def test_ema_matches_tensorboard_and_continues_across_calls(weight):
    rng = np.random.default_rng(1)
    values = rng.normal(3.0, 1.0, 5000)
    values[[7, 100, 101]] = np.nan
    whole, _ = ema_debiased(values, weight)
    np.testing.assert_allclose(whole, tensorboard_ema(values, weight), rtol=1e-9,
                               equal_nan=True)
    first, state = ema_debiased(values[:1234], weight)
    rest, _ = ema_debiased(values[1234:], weight, state)
    np.testing.assert_allclose(np.concatenate([first, rest]), whole, rtol=1e-9,
                               equal_nan=True)


def test_ema_first_value_is_not_pulled_towards_zero():
    smoothed, _ = ema_debiased(np.array([5.0, 5.0, 5.0]), 0.9)
    np.testing.assert_allclose(smoothed, [5.0, 5.0, 5.0])


def test_forward_fill_carries_the_last_value():
    filled = forward_fill(np.array([np.nan, 1.0, np.nan, 3.0, np.nan]), carry=7.0)
    np.testing.assert_array_equal(filled, [7.0, 1.0, 1.0, 3.0, 3.0])


def brute_force(x, values, edges):
    lo, hi, count = [], [], []
    for i in range(len(edges) - 1):
        last = i == len(edges) - 2
        inside = (x >= edges[i]) & ((x <= edges[i + 1]) if last else (x < edges[i + 1]))
        chosen = values[inside & np.isfinite(values)]
        count.append(len(chosen))
        lo.append(chosen.min() if len(chosen) else np.nan)
        hi.append(chosen.max() if len(chosen) else np.nan)
    return np.array(lo), np.array(hi), np.array(count)


def test_downsample_without_pyramid_is_exact_per_bucket():
    rng = np.random.default_rng(2)
    x = np.sort(rng.choice(10_000, 3000, replace=False)).astype(float)
    values = rng.random(3000).astype(np.float32)
    values[::17] = np.nan
    edges = bucket_edges(100, 9000, 57)
    buckets = downsample(x, values, edges)
    lo, hi, count = brute_force(x, values, edges)
    np.testing.assert_array_equal(buckets.count, count)
    np.testing.assert_allclose(buckets.lo, lo, equal_nan=True)
    np.testing.assert_allclose(buckets.hi, hi, equal_nan=True)


def test_a_single_spike_in_a_million_points_stays_visible():
    n = 1_000_000
    x = np.arange(n, dtype=float)
    values = np.full(n, 1.0, dtype=np.float32)
    values[654_321] = 50.0
    pyramid = MinMaxPyramid()
    pyramid.update(values)
    buckets = downsample(x, values, bucket_edges(0, n - 1, 160), pyramid)
    assert np.nanmax(buckets.hi) == 50.0
    spiked = int(np.nanargmax(buckets.hi))
    assert spiked == int(654_321 / n * 160)
    assert buckets.count.sum() == n
    assert np.all(buckets.lo == 1.0)


def test_downsample_reads_block_summaries_not_points_for_long_histories():
    """With a pyramid the raw values are not read: replacing them by NaN changes nothing."""
    n = 200_000
    rng = np.random.default_rng(3)
    values = rng.random(n).astype(np.float32)
    pyramid = MinMaxPyramid()
    pyramid.update(values)
    x = np.arange(n, dtype=float)
    edges = bucket_edges(0, n - 1, 100)
    real = downsample(x, values, edges, pyramid)
    blind = downsample(x, np.full(n, np.nan, dtype=np.float32), edges, pyramid)
    np.testing.assert_array_equal(real.hi, blind.hi)
    np.testing.assert_array_equal(real.count, blind.count)
    # Snapped bucket edges move by well under a bucket: the counts stay close to even.
    assert np.all(np.abs(real.count - n / 100) <= n / 100 / 4)


def test_pyramid_updated_in_pieces_equals_a_rebuild():
    rng = np.random.default_rng(4)
    values = rng.random(50_000).astype(np.float32)
    values[rng.random(50_000) < 0.1] = np.nan
    piecewise = MinMaxPyramid()
    for end in range(0, len(values), 3_331):
        piecewise.update(values[:end + 3_331], end)
    rebuilt = MinMaxPyramid()
    rebuilt.update(values)
    assert [lvl.block for lvl in piecewise.levels] == [lvl.block for lvl in rebuilt.levels]
    for mine, theirs in zip(piecewise.levels, rebuilt.levels):
        for a, b in zip(mine.arrays(), theirs.arrays()):
            np.testing.assert_array_equal(a, b)
    truncated = values[:20_000]
    piecewise.update(truncated, 20_000)
    fresh = MinMaxPyramid()
    fresh.update(truncated)
    for mine, theirs in zip(piecewise.levels, fresh.levels):
        np.testing.assert_array_equal(mine.arrays()[1], theirs.arrays()[1])


def test_buffer_appends_merges_and_rewinds_like_a_resumed_run():
    run = RunBuffer("r")
    for step in range(10, 110, 10):
        run.append({"step": step, "time": 100.0 + step, "train_loss": 5 - step / 100,
                    "lr": 1e-3, "layer_grad_norms": {"block.0": 0.5}})
    run.append({"step": 100, "val_loss": 4.5})  # validation at the same step: same row
    assert len(run) == 10
    assert run.latest["val_loss"] == (100, 4.5)
    assert "layer_grad_norms/block.0" in run.metrics
    assert run.elapsed == 90.0
    run.append({"step": 60, "train_loss": 1.0})  # resumed from step 50's checkpoint
    assert list(run.steps) == [10, 20, 30, 40, 50, 60]
    assert run.latest["train_loss"] == (60, 1.0)
    assert "val_loss" not in run.latest


def test_buffer_keeps_logged_nan_apart_from_missing_values():
    run = RunBuffer("r")
    run.append({"step": 1, "train_loss": 2.0})
    run.append({"step": 2, "train_loss": math.nan, "grad_norm": math.inf})
    assert run.nonfinite["train_loss"][0][0] == 2
    assert run.nonfinite["grad_norm"] == [(2, math.inf)]
    assert run.latest["train_loss"] == (1, 2.0)
    assert math.isnan(run.values("train_loss")[1])


def test_buffer_smoothing_is_incremental_and_follows_the_weight():
    rng = np.random.default_rng(5)
    losses = rng.normal(2.0, 0.3, 400)
    run = RunBuffer("r", smoothing=0.6)
    for step, loss in enumerate(losses):
        run.append({"step": step, "train_loss": float(loss)})
        if step % 50 == 0:
            run.smoothed("train_loss")  # interleave reads and appends
    np.testing.assert_allclose(run.smoothed("train_loss"),
                               tensorboard_ema(losses.astype(np.float32), 0.6), rtol=1e-5)
    version = run.version
    run.set_smoothing(0.9)
    assert run.version > version
    np.testing.assert_allclose(run.smoothed("train_loss"),
                               tensorboard_ema(losses.astype(np.float32), 0.9), rtol=1e-5)


def test_buffer_extend_from_columns_and_sparse_validation():
    run = RunBuffer("r")
    steps = np.arange(0, 1000, 10)
    val = np.full(len(steps), np.nan)
    val[::20] = 3.0
    run.extend(steps, {"train_loss": np.linspace(4, 2, len(steps)), "val_loss": val},
               elapsed=steps * 0.5)
    assert len(run) == 100 and run.latest["val_loss"] == (800, 3.0)
    assert run.x_bounds("wall") == (0.0, 495.0)
    assert run.x_bounds("relative") == (0.0, 990.0)
    assert len(run.tail("val_loss", 100)) == 5
    run.extend(np.array([500, 510]), {"train_loss": np.array([1.0, 1.1])})
    assert run.last_step == 510 and len(run) == 52


def test_flatten_record_keeps_numbers_only():
    flat = flatten_record({"step": 3, "time": 1.0, "loss": 2, "name": "x", "ok": True,
                           "layers": {"a": 1.5, "b": "no"}})
    assert flat == {"loss": 2.0, "layers/a": 1.5}
