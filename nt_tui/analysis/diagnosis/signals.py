"""Numeric helpers over one logged curve (numpy only): smoothing, noise, spikes, periodicity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nt_tui.analysis.diagnosis import thresholds as th

#: Normal-consistent scale of the median absolute deviation.
MAD_TO_SIGMA = 1.4826


def odd_window(points: int, share: float, smallest: int = 3, largest: int = 501) -> int:
    """An odd window of about `share` of `points`, between `smallest` and `largest`."""
    window = int(max(smallest, min(largest, round(points * share))))
    return window if window % 2 else window + 1


def rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    """Centered rolling median (edges use the points they have)."""
    return pd.Series(values).rolling(window, center=True, min_periods=1).median().to_numpy()


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Centered rolling mean (edges use the points they have)."""
    return pd.Series(values).rolling(window, center=True, min_periods=1).mean().to_numpy()


def robust_sigma(values: np.ndarray) -> float:
    """Standard deviation estimated from the median absolute deviation (spike-proof)."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0
    return float(MAD_TO_SIGMA * np.median(np.abs(values - np.median(values))))


def autocorrelation(values: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocorrelation at lags 0..max_lag (FFT; the mean is removed first)."""
    centered = values - values.mean()
    size = 1 << int(np.ceil(np.log2(2 * len(centered))))
    spectrum = np.fft.rfft(centered, size)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), size)[: max_lag + 1]
    return acf / acf[0] if acf[0] > 0 else np.zeros(max_lag + 1)


@dataclass(frozen=True)
class Spike:
    """A short excursion of the loss above its local level."""

    step: int
    value: float
    baseline: float
    #: logged points it lasted
    width: int
    #: True when the loss came back to its level within SPIKE_RECOVERY_POINTS points
    recovered: bool
    #: median of the SPIKE_RECOVERY_POINTS points after it (nan at the end of the log)
    level_after: float = float("nan")

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline > 0 else float("inf")


def find_spikes(steps: np.ndarray, values: np.ndarray) -> list[Spike]:
    """Spikes of a finite, positive curve: the seed's rule (> 2x the trailing moving average)
    or a statistical one (> SPIKE_SIGMAS robust sigmas and > SPIKE_MIN_REL above the local
    median). Consecutive spike points form one spike."""
    points = len(values)
    if points < 8:
        return []
    local = rolling_median(values, odd_window(points, 0.02, smallest=7, largest=51))
    residual = values - local
    noise = pd.Series(np.abs(residual)).rolling(
        odd_window(points, 0.1, smallest=21), center=True, min_periods=1).median().to_numpy()
    sigma = np.maximum(MAD_TO_SIGMA * noise, 1e-3 * np.abs(local))
    trailing = pd.Series(values).shift(1).rolling(
        th.SPIKE_AVERAGE_POINTS, min_periods=3).mean().to_numpy()
    before = pd.Series(values).shift(1).rolling(5, min_periods=1).median().to_numpy()
    statistical = (residual > th.SPIKE_SIGMAS * sigma) & (values > local * (1 + th.SPIKE_MIN_REL))
    seed_rule = np.nan_to_num(values > th.SPIKE_RATIO * trailing, nan=False).astype(bool)
    # a spike rises above the values before it (the first point never counts)
    rises = np.nan_to_num(values > before * (1 + th.SPIKE_MIN_REL), nan=False).astype(bool)
    flagged = (statistical | seed_rule) & rises
    spikes: list[Spike] = []
    index = 0
    while index < points:
        if not flagged[index]:
            index += 1
            continue
        end = index
        while end + 1 < points and flagged[end + 1]:
            end += 1
        peak = index + int(np.argmax(values[index:end + 1]))
        baseline = float(before[index])
        after = values[end + 1:end + 1 + th.SPIKE_RECOVERY_POINTS]
        # back to the level before it, give or take the scatter of the points there (a
        # per-step loss bounces more than SPIKE_RECOVERED_REL from one batch to the next)
        back = baseline * (1 + th.SPIKE_RECOVERED_REL) + th.SPIKE_RECOVERED_SIGMAS * sigma[index]
        recovered = bool(after.size and np.any(after <= back))
        spikes.append(Spike(int(steps[peak]), float(values[peak]), baseline, end - index + 1,
                            recovered, float(np.median(after)) if after.size else float("nan")))
        index = end + 1
    return spikes


def despiked(values: np.ndarray) -> np.ndarray:
    """The curve with isolated spikes clipped to their neighbourhood (so bad batches at
    regular intervals do not pass for a pattern in the data order)."""
    if len(values) < 8:
        return values
    local = rolling_median(values, 7)
    sigma = robust_sigma(values - local)
    return np.minimum(values, local + th.SPIKE_SIGMAS * 0.5 * max(sigma, 1e-12))


def periodicity(values: np.ndarray) -> tuple[int, float] | None:
    """(lag in points, autocorrelation) of the strongest repeating pattern in a detrended
    curve, or None. The trend is a rolling median over a fifth of the run, so patterns
    shorter than that survive detrending."""
    points = len(values)
    if points < th.PERIOD_MIN_POINTS:
        return None
    residual = values - rolling_median(values, odd_window(points, 0.2, smallest=9))
    max_lag = points // 3
    acf = autocorrelation(residual, max_lag)
    below_zero = np.nonzero(acf < 0)[0]
    if below_zero.size == 0:
        return None
    start = int(below_zero[0])
    if start >= max_lag:
        return None
    floor = max(th.PERIOD_ACF_MIN, th.PERIOD_ACF_SIGMAS / np.sqrt(points))
    best = float(acf[start:].max())
    if best < floor:
        return None
    # the fundamental period is the first peak nearly as high as the highest one
    for lag in range(max(start, 2), max_lag):
        if acf[lag] >= acf[lag - 1] and acf[lag] >= acf[lag + 1] and acf[lag] >= 0.7 * best:
            return lag, float(acf[lag])
    return None


def drift(values: np.ndarray) -> tuple[float, float]:
    """(lag-1 autocorrelation, low-frequency amplitude relative to the level) of the
    detrended second half of a curve: independent batches give ~0 autocorrelation; a curve
    that follows the order of the data wanders."""
    half = values[len(values) // 2:]
    if len(half) < th.PERIOD_MIN_POINTS // 2:
        return 0.0, 0.0
    trend = rolling_median(half, odd_window(len(half), 0.4, smallest=9))
    residual = half - trend
    lag1 = float(autocorrelation(residual, 1)[1])
    low = pd.Series(residual).rolling(5, center=True, min_periods=1).mean().to_numpy()
    level = float(np.median(np.abs(trend))) or 1.0
    return lag1, float(np.std(low) / level)
