"""Power-law fits to runs of different sizes: recovery, uncertainty, refusals."""

import math
import subprocess
import sys

import numpy as np
import pytest

from nt_tui.errors import NtTuiError
from nt_tui.scaling.fit import ScalingPoint, fit_power_law, t_quantile
from nt_tui.scaling.quantities import format_count, format_duration, parse_count, parse_duration

SIZES = [1e5, 3e5, 1e6, 3e6, 1e7, 3e7]


def _points(law, noise=0.0, seed=0, sizes=SIZES):
    rng = np.random.default_rng(seed)
    return [ScalingPoint(n, law(n) * math.exp(rng.normal(0, noise)) if noise else law(n),
                         f"run {i}") for i, n in enumerate(sizes)]


def test_power_law_recovers_exact_parameters():
    fit = fit_power_law(_points(lambda n: 12.0 * n ** -0.1), form="power")
    assert fit.form == "power"
    assert fit.values["A"] == pytest.approx(12.0, rel=1e-9)
    assert fit.alpha == pytest.approx(0.1, rel=1e-9)
    assert fit.r_squared == pytest.approx(1.0)
    assert fit.predict(1e9).loss == pytest.approx(12.0 * 1e9 ** -0.1, rel=1e-9)


def test_saturating_law_recovers_floor_and_auto_prefers_it():
    truth = lambda n: 1.5 + 40 * n ** -0.3  # noqa: E731
    fit = fit_power_law(_points(truth, noise=0.002), form="auto")
    assert fit.form == "saturating"
    assert fit.values["E"] == pytest.approx(1.5, abs=0.05)
    assert fit.alpha == pytest.approx(0.3, abs=0.03)
    prediction = fit.predict(1e8)
    assert prediction.low < truth(1e8) < prediction.high
    assert "E" in fit.errors and fit.errors["E"] > 0


def test_uncertainty_is_honest_for_three_points():
    fit = fit_power_law(_points(lambda n: 9.0 * n ** -0.08, noise=0.01, sizes=SIZES[:3]))
    assert fit.form == "power" and fit.dof == 1
    inside = fit.predict(3e5)
    far = fit.predict(1e9)
    # One degree of freedom: Student's t is 12.7, and the interval widens away from the data.
    assert t_quantile(1) == pytest.approx(12.706)
    assert (far.high - far.low) > (inside.high - inside.low)
    assert far.low < 9.0 * 1e9 ** -0.08 < far.high


def test_standard_errors_match_scatter():
    # Many noisy fits: the true exponent falls within 2 standard errors most of the time.
    covered = 0
    for seed in range(40):
        fit = fit_power_law(_points(lambda n: 8.0 * n ** -0.12, noise=0.02, seed=seed),
                            form="power")
        covered += abs(fit.alpha - 0.12) < 2 * fit.errors["alpha"]
    assert covered >= 32


def test_refuses_fewer_than_three_sizes():
    with pytest.raises(NtTuiError, match="at least 3 different model sizes, got 2"):
        fit_power_law([ScalingPoint(1e6, 3.0), ScalingPoint(1e7, 2.5)])
    with pytest.raises(NtTuiError, match="got 2 size"):
        fit_power_law([ScalingPoint(1e6, 3.0), ScalingPoint(1e6, 3.1), ScalingPoint(1e7, 2.5)])


def test_refuses_loss_that_does_not_fall_with_size():
    with pytest.raises(NtTuiError, match="does not fall as the model grows"):
        fit_power_law([ScalingPoint(1e5, 3.0), ScalingPoint(1e6, 3.1), ScalingPoint(1e7, 3.2)])


def test_refuses_bad_fit():
    points = [ScalingPoint(1e5, 3.0), ScalingPoint(1e6, 2.0), ScalingPoint(1e7, 2.9),
              ScalingPoint(1e8, 2.1)]
    with pytest.raises(NtTuiError, match="bad fit"):
        fit_power_law(points)


def test_refuses_non_positive_values_and_unknown_form():
    with pytest.raises(NtTuiError, match="not a positive number"):
        fit_power_law([ScalingPoint(1e5, math.nan), ScalingPoint(1e6, 2.0),
                       ScalingPoint(1e7, 1.9)])
    with pytest.raises(NtTuiError, match="unknown fit form"):
        fit_power_law(_points(lambda n: n ** -0.1), form="cubic")


def test_quantities_round_trip():
    assert parse_count("124M") == 124e6
    assert parse_count("1e21") == 1e21
    assert parse_count("1.4T") == 1.4e12
    assert parse_duration("90m") == 5400
    assert format_count(2.887e9) == "2.89B"
    assert format_duration(0.25) == "0.25 s"
    assert format_duration(7200 * 2) == "4.0 h"
    with pytest.raises(NtTuiError, match="cannot read"):
        parse_count("12 apples")
    with pytest.raises(NtTuiError, match="positive"):
        parse_duration("0s")


@pytest.mark.parametrize("module", ["nt_tui.scaling.report", "nt_tui.scaling.points",
                                    "nt_tui.planning", "nt_tui.checkpoint_validation",
                                    "nt_tui.commands.scale", "nt_tui.commands.plan",
                                    "nt_tui.commands.validate"])
def test_core_modules_import_neither_textual_nor_torch(module):
    code = f"import {module}, sys; print(' '.join(sys.modules))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.split())
    assert "textual" not in loaded and "torch" not in loaded
