"""The scaling calculators the scaling advisor (and `nt-tui scale`) stand on: identities,
the published constants, and bad input."""

from __future__ import annotations

import math

import pytest

from nt_tui.errors import NtTuiError
from nt_tui.scaling import laws


@pytest.mark.parametrize("compute", [1e17, 3.3e19, 1e21, 5.76e23])
def test_allocations_spend_exactly_the_budget(compute: float):
    for allocation in (laws.chinchilla_optimal(compute), laws.kaplan_optimal(compute),
                       laws.parametric_optimal(compute),
                       laws.parametric_optimal(compute, laws.BESIROGLU_2024)):
        assert laws.training_flops(allocation.params, allocation.tokens) == \
            pytest.approx(compute, rel=1e-12)


def test_chinchilla_rule_and_its_inverse():
    allocation = laws.chinchilla_optimal(1e21)
    assert allocation.tokens_per_param == pytest.approx(20)
    back = laws.chinchilla_compute_for(allocation.params)
    assert back.compute == pytest.approx(1e21) and back.tokens == pytest.approx(allocation.tokens)
    # knowledge/scaling-laws.md: 7B is compute-optimal at 5.88e21 FLOPs and 140B tokens
    seven = laws.chinchilla_compute_for(7e9)
    assert seven.compute == pytest.approx(5.88e21) and seven.tokens == pytest.approx(140e9)


def test_kaplan_anchor_and_exponent():
    one_pf_day = laws.kaplan_optimal(laws.PF_DAY)
    assert one_pf_day.params == pytest.approx(1.3e9)
    ten_x = laws.kaplan_optimal(10 * laws.PF_DAY)
    assert ten_x.params / one_pf_day.params == pytest.approx(10 ** 0.73)  # 5.4x (the doc)
    assert ten_x.tokens / one_pf_day.tokens == pytest.approx(10 ** 0.27)  # 1.9x


def test_besiroglu_refit_is_close_to_twenty_tokens_per_parameter():
    # knowledge/scaling-laws.md#parametric-loss-fit: 21.6 at 1e21, 18.4 at 5.76e23
    assert laws.parametric_optimal(1e21, laws.BESIROGLU_2024).tokens_per_param == \
        pytest.approx(21.6, abs=0.05)
    assert laws.parametric_optimal(5.76e23, laws.BESIROGLU_2024).tokens_per_param == \
        pytest.approx(18.4, abs=0.05)


def test_gpu_budget_round_trip():
    flops = laws.gpu_budget_flops(8, 24, laws.peak_tflops_for("h100"), 0.4)
    assert flops == pytest.approx(8 * 24 * 3600 * 989e12 * 0.4)
    assert laws.gpu_hours_for(flops, 989, 0.4) == pytest.approx(8 * 24)
    # LLaMA 65B: 1,022,362 A100-hours for 6ND = 5.46e23 FLOPs is 47.5% MFU (the document)
    mfu = laws.training_flops(65.2e9, 1.4e12) / (1_022_362 * 3600 * 312e12)
    assert mfu == pytest.approx(0.475, abs=0.005)


def test_repeated_data_limits_and_verdicts():
    assert laws.repeated_data(1e9, 1).effective_tokens == pytest.approx(1e9)
    assert laws.repeated_data(1e9, 1e6).effective_tokens == pytest.approx(16.4e9, rel=1e-3)
    assert laws.repeated_data(1e9, 0.5).effective_tokens == pytest.approx(0.5e9)
    assert [laws.repeated_data(1, e).verdict for e in (2, 4, 8, 16, 40)] == [
        "fine", "fine", "diminishing", "diminishing", "wasteful"]
    assert laws.epochs_needed(57.7e9, 20e9) == pytest.approx(2.885)


@pytest.mark.parametrize("call", [
    lambda: laws.chinchilla_optimal(0), lambda: laws.chinchilla_optimal(-1e20),
    lambda: laws.chinchilla_optimal(math.nan), lambda: laws.training_flops(1e9, "many"),
    lambda: laws.parametric_loss(0, 1e9), lambda: laws.gpu_budget_flops(8, 24, 312, 1.5),
    lambda: laws.peak_tflops_for("TPU"), lambda: laws.repeated_data(1e9, 0),
])
def test_bad_input_is_a_user_error(call):
    with pytest.raises(NtTuiError) as error:
        call()
    assert error.value.hint
