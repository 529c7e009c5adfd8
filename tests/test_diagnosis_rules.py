"""Diagnosis core on synthetic curves built from the physics of each cause (no files)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from nt_tui.analysis.diagnosis import RunContext, diagnose
from nt_tui.analysis.diagnosis.calibration import (confidences, expected_calibration_error,
                                                   fit_temperatures)
from nt_tui.analysis.diagnosis.vocabulary import CAUSE_IDS, symptoms_for_warnings
from nt_tui.errors import NtTuiError
from nt_tui.runlogs.history import RunHistory

STEPS = np.arange(1, 601)
VOCAB = RunContext(vocab_size=65)


def healthy_loss(steps: np.ndarray = STEPS, seed: int = 0, floor: float = 1.6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return floor + (math.log(65) - floor) * np.exp(-steps / 60) + rng.normal(0, 0.03, len(steps))


def history(**columns: np.ndarray) -> RunHistory:
    steps = columns.pop("step", STEPS)
    frame = pd.DataFrame({"step": steps, **columns})
    return RunHistory("synthetic", "synthetic", "csv", frame)


def val_points(values: np.ndarray, every: int = 50) -> np.ndarray:
    out = np.full(len(values), np.nan)
    out[every - 1::every] = values[every - 1::every]
    return out


def top(result) -> str:
    return result.hypotheses[0].cause


def test_healthy_curve_is_healthy_with_numbers():
    loss = healthy_loss()
    val = val_points(loss + 0.08 * (STEPS / 600))
    result = diagnose(history(train_loss=loss, val_loss=val, grad_norm=np.full(600, 0.8),
                              lr=np.full(600, 1e-3)), context=VOCAB)
    assert top(result) == "healthy"
    assert result.top.confidence > 0.5
    assert any("fell" in sentence for sentence in result.top.evidence)


def test_nan_with_calm_gradients_is_numerical_instability():
    loss = healthy_loss()
    loss[400] = np.nan
    grads = np.full(600, 0.9)
    grads[400] = np.nan
    result = diagnose(history(train_loss=loss[:401], grad_norm=grads[:401], lr=np.full(401, 1e-3),
                              step=STEPS[:401]), context=VOCAB)
    assert top(result) == "numerical_instability"
    assert "step 401" in " ".join(result.top.evidence)
    assert "loss_nan" in result.symptoms


def test_nan_after_grad_blowup_is_exploding_gradients():
    loss = healthy_loss()[:300].copy()
    grads = np.full(300, 0.9)
    grads[280:299] = np.geomspace(1, 5000, 19)
    loss[285:299] *= np.geomspace(1, 30, 14)
    loss[299] = np.inf
    result = diagnose(history(train_loss=loss, grad_norm=grads, step=STEPS[:300]), context=VOCAB)
    assert top(result) == "exploding_gradients"
    assert "gradient_explosion" in result.symptoms


def test_lr_decayed_to_zero_early_is_schedule_exhausted():
    lr = np.where(STEPS < 200, 1e-3 * (1 + np.cos(np.pi * STEPS / 200)) / 2, 0.0)
    loss = np.where(STEPS < 200, healthy_loss(), healthy_loss()[199])
    loss = loss + np.random.default_rng(1).normal(0, 0.02, 600)
    result = diagnose(history(train_loss=loss, lr=lr, grad_norm=np.full(600, 0.7)),
                      context=VOCAB)
    assert top(result) == "schedule_exhausted"
    assert "step" in result.top.evidence[0]


def test_validation_rising_while_train_falls_is_overfitting():
    loss = healthy_loss(floor=0.5)
    val = val_points(1.9 + 0.6 * np.exp(-STEPS / 60) + 0.0012 * np.maximum(0, STEPS - 150))
    result = diagnose(history(train_loss=loss, val_loss=val), context=VOCAB)
    assert top(result) == "overfitting"
    assert "overfitting" in result.symptoms
    assert "Keep the checkpoint from step" in result.top.fix


def test_isolated_recovering_spikes_are_data_outliers():
    loss = healthy_loss()
    for at in (250, 380, 470):
        loss[at] *= 2.6
    result = diagnose(history(train_loss=loss, grad_norm=np.full(600, 0.8)), context=VOCAB)
    assert top(result) == "data_outlier"
    assert "Roll back to the checkpoint ~100 steps before" in result.top.fix
    assert "step 151" in result.top.fix


def test_a_small_jump_on_a_smooth_curve_is_not_bad_data():
    steps = np.arange(1, 401)
    smooth = 1.6 + 2.6 * np.exp(-steps / 60) + np.random.default_rng(1).normal(0, 0.004, 400)
    small, large = smooth.copy(), smooth.copy()
    small[300] *= 1.12  # a statistical blip on a quiet curve: healthy
    large[300] *= 1.8   # a bad batch: the loss thrown well up, then back
    kwargs = dict(step=steps, grad_norm=np.full(400, 0.8))
    assert top(diagnose(history(train_loss=small, **kwargs), context=VOCAB)) == "healthy"
    assert top(diagnose(history(train_loss=large, **kwargs), context=VOCAB)) == "data_outlier"


def test_start_far_above_uniform_guess_is_bad_initialization():
    loss = healthy_loss()
    loss[:40] += np.linspace(30, 0, 40)
    result = diagnose(history(train_loss=loss), context=VOCAB)
    assert top(result) == "bad_initialization"
    assert "ln(65) = 4.17" in result.top.evidence[0]


def test_tiny_gradients_and_flat_loss_are_vanishing_gradients():
    loss = math.log(65) + np.random.default_rng(2).normal(0, 0.01, 600)
    result = diagnose(history(train_loss=loss, grad_norm=np.full(600, 3e-9)), context=VOCAB)
    assert top(result) == "vanishing_gradients"


def test_flat_loss_with_healthy_gradients_is_lr_too_low_with_new_value():
    loss = math.log(65) - 0.0002 * STEPS + np.random.default_rng(3).normal(0, 0.01, 600)
    context = RunContext(vocab_size=65, lr=1e-6)
    result = diagnose(history(train_loss=loss, grad_norm=np.full(600, 1.2),
                              lr=np.full(600, 1e-6)), context=context)
    assert top(result) == "lr_too_low"
    assert "lr 1e-06 -> 3e-06" in result.top.fix


def test_periodic_loss_is_data_not_shuffled():
    wave = 0.25 * np.sin(2 * np.pi * STEPS / 60)
    loss = healthy_loss() + wave
    result = diagnose(history(train_loss=loss, grad_norm=np.full(600, 0.8)), context=VOCAB)
    assert top(result) == "data_not_shuffled"
    assert "repeats every ~60 steps" in " ".join(result.top.evidence)


def test_symptoms_are_checked_and_kept():
    loss = healthy_loss()
    result = diagnose(history(train_loss=loss), symptoms=["overfitting", "loss_plateau"])
    assert result.symptoms == ["loss_plateau", "overfitting"]
    assert not result.symptoms_inferred
    with pytest.raises(NtTuiError, match="unknown symptom"):
        diagnose(history(train_loss=loss), symptoms=["sad"])


def test_every_result_keeps_the_contract():
    result = diagnose(history(train_loss=healthy_loss()))
    data = result.to_dict()
    assert set(data) == {"source", "format", "steps", "metrics", "symptoms", "hypotheses"}
    confs = [h["confidence"] for h in data["hypotheses"]]
    assert confs == sorted(confs, reverse=True) and all(0 <= c <= 1 for c in confs)
    assert all(h["cause"] in CAUSE_IDS for h in data["hypotheses"])
    assert all(set(h) == {"cause", "confidence", "evidence", "fix", "knowledge"}
               for h in data["hypotheses"])


def test_missing_evidence_is_reported():
    result = diagnose(history(train_loss=healthy_loss()))
    missing = " ".join(result.missing)
    assert "no gradient norm" in missing and "no validation loss" in missing
    assert "no learning-rate column" in missing


def test_no_loss_is_a_user_error():
    with pytest.raises(NtTuiError, match="no loss values"):
        diagnose(history(lr=np.full(600, 1e-3)))


def test_confidences_and_ece():
    probs = confidences({"a": 0.9, "b": 0.1, "c": 0.0})
    assert abs(sum(probs.values()) - 1) < 1e-9 and probs["a"] > 0.9
    # healthy ahead by a margin is less sure than a fault ahead by the same margin: healthy
    # is what remains when the fault rules see nothing, including faults they cannot see
    healthy_leads = confidences({"healthy": 0.6, "underfitting": 0.3, "lr_too_low": 0.0})
    fault_leads = confidences({"underfitting": 0.6, "healthy": 0.3, "lr_too_low": 0.0})
    assert healthy_leads["healthy"] < fault_leads["underfitting"]
    # one given temperature treats them alike
    assert confidences({"healthy": 0.6, "underfitting": 0.3}, 0.14)["healthy"] == \
        pytest.approx(confidences({"underfitting": 0.6, "healthy": 0.3}, 0.14)["underfitting"])
    # fitted: healthy leading but wrong a third of the time, a fault leading and always right
    sets = [{"healthy": 0.6, "underfitting": 0.3}] * 30 + [{"underfitting": 0.6,
                                                            "healthy": 0.3}] * 30
    labels = ["healthy"] * 20 + ["underfitting"] * 10 + ["underfitting"] * 30
    healthy_t, fault_t = fit_temperatures(sets, labels)
    assert healthy_t > fault_t
    assert confidences(sets[0], (healthy_t, fault_t))["healthy"] == pytest.approx(2 / 3, abs=0.05)
    assert expected_calibration_error([0.9, 0.9], [True, False]) == pytest.approx(0.4)
    assert expected_calibration_error([0.75, 0.75, 0.75, 0.75],
                                      [True, True, True, False]) == pytest.approx(0.0)


def test_warning_codes_map_to_symptoms():
    assert symptoms_for_warnings(["overfitting", "nan_inf", "bogus"]) == ("loss_nan",
                                                                          "overfitting")


def test_run_that_blew_up_after_two_logged_points_is_exploding_gradients():
    """An HF-style log that stops after two points: too short for a curve, but the grad norm
    rising 21x past 100 while the loss grows 48x is an explosion, never a refusal."""
    result = diagnose(history(step=np.array([10, 20]), train_loss=np.array([3.917, 187.74]),
                              grad_norm=np.array([6.548, 139.79]), lr=np.array([0.4, 0.8])))
    assert top(result) == "exploding_gradients"
    assert "21.3x" in " ".join(result.top.evidence)
    assert any("finite point" in item for item in result.missing)


def test_nan_after_two_points_is_found_and_diagnosed():
    """Two finite points, then NaN for the rest of the log (logged with the LR as usual)."""
    loss = np.array([3.9, 4.9] + [np.nan] * 8)
    grads = np.array([5.0, 10.0] + [np.nan] * 8)
    result = diagnose(history(step=np.arange(10, 110, 10), train_loss=loss, grad_norm=grads,
                              lr=np.full(10, 1e-3)))
    assert result.evidence.nonfinite is not None and result.evidence.nonfinite.step == 30
    assert result.evidence.nonfinite.metric == "train_loss"
    assert top(result) == "numerical_instability" and "loss_nan" in result.symptoms


def test_nan_at_the_start_with_an_extreme_lr_blames_the_step_size():
    loss = np.array([3.85, np.nan])
    result = diagnose(history(step=np.array([10, 16]), train_loss=loss,
                              grad_norm=np.array([0.83, np.nan]), lr=np.array([1.0, 1.6])))
    assert top(result) == "exploding_gradients"
    assert "numerical_instability" in [h.cause for h in result.hypotheses[:3]]


def test_a_log_without_any_loss_is_refused_with_one_line():
    with pytest.raises(NtTuiError, match="no loss values"):
        diagnose(history(step=np.arange(1, 11), lr=np.full(10, 1e-3)))


def test_spikes_recurring_every_epoch_are_data_order_not_outliers():
    """Unshuffled, ordered data: the same hard stretch comes back once per pass (epoch column
    says 100 steps per epoch); the same spikes at irregular steps are bad batches."""
    def spiked(at: list[int]) -> np.ndarray:
        loss = healthy_loss(seed=5)
        for position in at:
            loss[position - 1:position + 1] *= 1.5
        return loss

    epochs = STEPS / 100
    regular = diagnose(history(train_loss=spiked([150, 250, 350, 450, 550]), epoch=epochs,
                               grad_norm=np.full(600, 0.8)), context=VOCAB)
    assert top(regular) == "data_not_shuffled"
    assert "the period matches one pass over the training data (100 steps per epoch)" in \
        regular.top.evidence
    irregular = diagnose(history(train_loss=spiked([130, 290, 345, 520]), epoch=epochs,
                                 grad_norm=np.full(600, 0.8)), context=VOCAB)
    assert top(irregular) == "data_outlier"


def test_validation_on_top_of_train_after_many_epochs_is_leakage_not_in_the_first():
    loss = healthy_loss(seed=6)
    val = val_points(loss * 0.995)
    leaked = diagnose(history(train_loss=loss, val_loss=val, epoch=STEPS / 15), context=VOCAB)
    assert top(leaked) == "label_leakage"
    first_epoch = diagnose(history(train_loss=loss, val_loss=val, epoch=STEPS / 6000),
                           context=VOCAB)
    assert top(first_epoch) == "healthy"  # a held-out set tracks train before any repeat


def test_validation_on_train_after_a_few_epochs_is_a_model_too_small_to_memorise():
    """A char LSTM or an MLP on plentiful data keeps validation on the train curve for ten
    passes (HF, Lightning and plain-loop runs of bench/diagnosis_foreign.py did): only a copy
    of the training data stays there after tens of passes."""
    loss = healthy_loss(seed=6)
    val = val_points(loss * 0.995)
    for epochs in (4, 8):
        result = diagnose(history(train_loss=loss, val_loss=val, epoch=STEPS / (600 / epochs)),
                          context=VOCAB)
        assert top(result) == "healthy", epochs
        assert result.strengths["label_leakage"] < 0.05
    leaked = diagnose(history(train_loss=loss, val_loss=val, epoch=STEPS / 20), context=VOCAB)
    assert top(leaked) == "label_leakage"  # 30 passes


def test_without_epochs_validation_on_train_through_a_long_fall_is_leakage():
    """No epoch column (a CSV, JSONL or TensorBoard log): validation that more than halves
    while it stays on the train curve stands in for many passes; a shorter fall is healthy."""
    def curve(floor: float, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return floor + (math.log(65) - floor) * np.exp(-STEPS / 150) + rng.normal(0, 0.02, 600)

    long_fall = curve(1.0, 3)  # validation 3.3 -> 1.05 over its evaluations
    leaked = diagnose(history(train_loss=long_fall, val_loss=val_points(long_fall * 0.995)),
                      context=VOCAB)
    assert top(leaked) == "label_leakage"
    assert "fell" in " ".join(leaked.top.evidence)
    short_fall = curve(2.6, 3)  # 3.8 -> 2.65: a held-out set still tracks train here
    assert top(diagnose(history(train_loss=short_fall, val_loss=val_points(short_fall * 0.995)),
                        context=VOCAB)) == "healthy"
    # 3.4 -> 1.7 (49%): healthy runs of the other generators fell up to 47% when their first
    # evaluation came before they had started to learn; leaked ones fell 54% and more
    medium_fall = curve(1.7, 3)
    assert top(diagnose(history(train_loss=medium_fall, val_loss=val_points(medium_fall * 0.995)),
                        context=VOCAB)) == "healthy"


def test_huge_lr_counts_against_a_loss_that_learned_little_even_while_creeping_down():
    """Lightning-style: one step in ten, no grad norm, no optimizer name. At 300x the size
    table a loss that fell under a fifth from ln(vocab) and still creeps down (not a plateau)
    has too large a step; the same LR with a loss that fell by more than a third (SGD's
    scale, unnamed) is not judged by the table."""
    steps = np.arange(9, 300, 10)
    lr = np.full(len(steps), 0.3)
    creeping = 3.9 - 0.5 * ((steps - 9) / 291) ** 2
    result = diagnose(history(train_loss=creeping, lr=lr, step=steps), context=VOCAB)
    assert result.strengths["lr_too_high"] > 0.3
    assert "lr_too_high" in [h.cause for h in result.hypotheses][:2]
    assert "fell only" in " ".join(e for h in result.hypotheses if h.cause == "lr_too_high"
                                   for e in h.evidence)
    learning = 2.4 + 1.4 * np.exp(-(steps - 9) / 80)
    assert diagnose(history(train_loss=learning, lr=lr, step=steps),
                    context=VOCAB).strengths["lr_too_high"] == 0


def test_bumps_in_a_log_of_window_means_are_read_as_the_bad_batches_behind_them():
    """HF logs the mean loss of each 10 steps: two 1.2x bumps that recover at once are two
    batches ~3x the loss, so bad data; read as single-step points they are ordinary noise."""
    steps = np.arange(10, 300, 10)
    loss = 2.5 + 1.3 * np.exp(-(steps - 10) / 60) + \
        np.random.default_rng(5).normal(0, 0.01, len(steps))
    loss[[13, 22]] *= 1.22
    means = diagnose(history(train_loss=loss, step=steps),
                     context=RunContext(vocab_size=65, loss_window=10))
    assert top(means) == "data_outlier"
    assert "mean of 10 steps" in " ".join(means.top.evidence)
    single = diagnose(history(train_loss=loss, step=steps), context=VOCAB)
    assert single.strengths["data_outlier"] < means.strengths["data_outlier"]
    assert top(single) != "data_outlier"


def test_trainer_state_logging_steps_is_the_loss_window(tmp_path):
    from nt_tui.analysis.diagnosis.core import context_for
    from nt_tui.runlogs import load_run

    state = {"logging_steps": 10, "global_step": 20,
             "log_history": [{"step": 10, "loss": 3.0}, {"step": 20, "loss": 2.8}]}
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps(state))
    assert context_for(load_run(path), path).loss_window == 10


def test_a_slow_straight_fall_adds_to_barely_learned_for_lr_too_low():
    """Two independent signs of too small a step, neither enough alone: the loss fell 9% in
    150 steps, and it fell along a straight line (no fast start)."""
    steps = np.arange(1, 151)
    loss = math.log(65) - 0.4 * steps / 150 + np.random.default_rng(2).normal(0, 0.005, 150)
    result = diagnose(history(train_loss=loss, grad_norm=np.full(150, 1.5),
                              lr=np.full(150, 1e-5), step=steps), context=VOCAB)
    assert top(result) == "lr_too_low"
    text = " ".join(result.top.evidence)
    assert "barely moved" in text and "falls almost linearly" in text


def test_a_straight_fall_at_an_lr_held_constant_is_too_small_a_step_not_under_a_decay():
    """A plain loop's log (no grad norm, no vocabulary): the loss fell 22% along a nearly
    straight line, a third of it in the first quarter. At an LR logged constant to the end
    only the step size sets that pace; under a cosine decay the same late fall can be the
    annealing drop, so the shape stays a hint there."""
    steps = np.arange(5, 405, 5)
    loss = 4.34 - 0.96 * (steps / 400) ** 0.8 + np.random.default_rng(3).normal(0, 0.01, 80)
    val = np.full(80, np.nan)
    val[19::20] = loss[19::20] + 0.02
    held = diagnose(history(train_loss=loss, val_loss=val, lr=np.full(80, 2e-4), step=steps))
    assert top(held) == "lr_too_low"
    assert "falls almost linearly" in " ".join(held.top.evidence)
    decayed = diagnose(history(train_loss=loss, val_loss=val, step=steps,
                               lr=2e-4 * (1 + np.cos(np.pi * steps / 400)) / 2))
    assert top(decayed) == "healthy"


def test_learned_little_then_stopped_with_validation_on_train_is_a_model_at_its_capacity():
    """A 10-class classifier through a 2-wide bottleneck: the loss drops from ln 10 to 2.05
    (8%) in the first steps and stays there, single batches scattering 4%; validation is flat
    from step 100, on train. That is the model's capacity; a fine-tune settles the same way
    but, having learned before, keeps validation above train."""
    steps = np.arange(2, 602, 2)
    trend = 2.05 + 0.25 * np.exp(-steps / 40)
    loss = trend * (1 + np.random.default_rng(5).normal(0, 0.04, len(steps)))
    lr = np.full(len(steps), 1e-2)
    capacity = diagnose(history(train_loss=loss, val_loss=val_points(trend * 1.005, every=25),
                                lr=lr, step=steps))
    assert top(capacity) == "underfitting"
    assert "validation has stayed within 2.0% of 2.06 since step 100" in \
        " ".join(capacity.top.evidence)
    settled = diagnose(history(train_loss=loss, val_loss=val_points(trend * 1.07, every=25),
                               lr=lr, step=steps))
    assert top(settled) == "healthy"


def test_a_sawtooth_through_each_pass_of_a_memorising_model_is_not_the_data_order():
    """The loss climbs 8% through every pass and drops at the next. With validation on train
    that is the data's order; with validation 45% above train the model memorises its data,
    and the batches it saw last are the easiest (reshuffled passes give this sawtooth too)."""
    steps = np.arange(5, 605, 5)
    epoch = steps / 60
    trend = 1.0 + 1.3 * np.exp(-steps / 120)
    loss = trend * (1 + 0.08 * (epoch % 1.0)) * (
        1 + np.random.default_rng(7).normal(0, 0.01, len(steps)))
    answers = {}
    for gap in (0.05, 0.45):
        answers[gap] = diagnose(history(train_loss=loss, val_loss=val_points(
            trend * (1 + gap), every=20), epoch=epoch, lr=np.full(len(steps), 0.05),
            step=steps))
    assert top(answers[0.05]) == "data_not_shuffled"
    assert top(answers[0.45]) == "healthy"
    assert "memorises its data" in " ".join(
        h.evidence[-1] for h in answers[0.45].hypotheses if h.cause == "data_not_shuffled")


#: Train loss of a real Lightning run (plain SGD at LR 6 on a tiny Transformer, one point in
#: five steps from step 4; bench/diagnosis_foreign.py, seed 6), rounded: the first point is
#: already after four huge steps, and the loss swings ~25% between points to the end.
UNSTABLE_SGD_LOSS = [
    16.0, 9.2, 9.5, 19.0, 8.1, 9.3, 7.0, 6.8, 7.5, 5.3, 4.8, 6.7, 7.9, 16.1, 25.3, 5.3, 6.9,
    6.3, 8.3, 9.5, 11.0, 12.8, 7.7, 6.5, 10.8, 6.9, 8.5, 8.1, 9.9, 11.8, 9.4, 9.4, 17.3, 10.5,
    7.5, 11.9, 8.9, 8.1, 10.7, 9.0, 6.5, 9.4, 7.6, 12.1, 12.1, 6.0, 11.4, 8.3, 5.0, 6.9, 10.9,
    6.6, 7.8, 12.5, 6.1, 8.7, 8.4, 9.0, 8.5, 11.4, 10.3, 7.2, 10.1, 10.2, 11.6, 9.3, 8.0, 12.0,
    18.4, 6.5, 11.3, 16.3, 13.7, 9.1, 8.4, 6.7, 7.7, 9.4, 11.4, 7.6]


def test_a_high_first_point_of_a_loss_that_never_settles_is_not_bad_initialization(tmp_path):
    """A bad start is undone by training and the run is ordinary after it; a loss that keeps
    swinging 25% between points is unstable throughout, and its high first point (above any
    vocabulary's ln) is the same instability, logged after four steps at a huge LR."""
    from nt_tui.analysis.diagnosis.core import diagnose_path

    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,lr-SGD,train_loss\n" + "".join(
        f"0,{4 + 5 * i},6.0,{value}\n" for i, value in enumerate(UNSTABLE_SGD_LOSS)))
    result = diagnose_path(path)
    assert top(result) == "lr_too_high"
    assert result.strengths["bad_initialization"] < result.strengths["lr_too_high"]
    steps = 4 + 5 * np.arange(80)
    undone = 2.5 + 13.5 * np.exp(-steps / 30) + np.random.default_rng(11).normal(0, 0.03, 80)
    assert top(diagnose(history(train_loss=undone, lr=np.full(80, 6.0), step=steps))) == \
        "bad_initialization"
    # weights scaled 15x: still being undone at the end (far above any ln(vocab)), the huge
    # logits swinging with it
    scaled = (60 + 400 * np.exp(-steps / 60)) * np.exp(
        np.random.default_rng(12).normal(0, 0.22, 80))
    assert top(diagnose(history(train_loss=scaled, lr=np.full(80, 3e-3), step=steps))) == \
        "bad_initialization"


def test_sparse_single_batch_losses_above_their_lowest_point_are_noise_when_val_is_at_best():
    """Lightning's default logs one single-batch loss in 50 steps: 30 points scattering 15%,
    whose lowest lies ~30% under the final level. Validation ending at its best says the run
    is not diverging; the same climb with validation going up with it is a step too large."""
    steps = np.arange(49, 1500, 50)
    level = 1.5 + 0.6 * np.exp(-steps / 300)
    loss = level * np.exp(np.random.default_rng(7).normal(0, 0.15, len(steps)))
    val = np.full(len(steps), np.nan)
    val[2::3] = (1.45 + 0.5 * np.exp(-steps / 300))[2::3]
    lr = np.full(len(steps), 0.05)
    noise = diagnose(history(train_loss=loss, val_loss=val, lr=lr, step=steps))
    assert noise.evidence.loss.rise_after_min_rel > 0.25
    assert top(noise) == "healthy"
    climb = np.where(steps > 1000, 1 + (steps - 1000) / 2000, 1.0)
    diverging = diagnose(history(train_loss=loss * climb, val_loss=val * climb, lr=lr,
                                 step=steps))
    assert top(diverging) == "lr_too_high"


def test_validation_shows_the_flat_tail_that_scattered_train_losses_hide():
    """Single-batch train losses scattering 5% wander 4.7% over the last 40% of a run whose
    level is flat; validation, averaged over many batches, is flat there: both stopped early
    at a high value, a capacity limit. With validation still falling 6% there, it is not."""
    steps = np.arange(10, 610, 10)
    trend = 1.95 + 0.35 * np.exp(-steps / 50)
    loss = trend * np.exp(np.random.default_rng(1).normal(0, 0.05, len(steps)))
    lr = np.full(len(steps), 1e-2)
    flat = diagnose(history(train_loss=loss, val_loss=val_points(trend * 1.005, every=5),
                            lr=lr, step=steps))
    assert flat.evidence.loss.tail_change_rel > 0.04
    assert abs(flat.evidence.val.tail_change_rel) < 0.01
    assert top(flat) == "underfitting"
    falling = val_points(trend * 1.005 * np.linspace(1.06, 0.98, len(steps)), every=5)
    still = diagnose(history(train_loss=loss, val_loss=falling, lr=lr, step=steps))
    assert top(still) != "underfitting"


def test_loss_that_follows_the_position_in_the_epoch_is_unshuffled_data_in_coarse_logs():
    """HF-style means every 10 steps, ~9 points per 87-step epoch (too few for the
    autocorrelation): a loss that rises in the last quarter of every pass (the same stretch of
    data each time) is the data order; the same curve without it is healthy. Lightning's
    integer epoch column gives the same answer."""
    steps = np.arange(10, 610, 10)
    epoch = steps / 87.0
    rng = np.random.default_rng(9)
    base = 2.5 + 1.7 * np.exp(-steps / 60) + rng.normal(0, 0.02, len(steps))
    ordered = base * np.where(epoch % 1.0 >= 0.75, 1.12, 1.0)
    found = diagnose(history(train_loss=ordered, epoch=epoch, step=steps), context=VOCAB)
    assert top(found) == "data_not_shuffled"
    assert "position within the epoch" in " ".join(found.top.evidence)
    assert found.strengths["data_outlier"] < found.strengths["data_not_shuffled"]
    shuffled = diagnose(history(train_loss=base, epoch=epoch, step=steps), context=VOCAB)
    assert shuffled.strengths["data_not_shuffled"] == 0
    whole = diagnose(history(train_loss=ordered, epoch=np.floor(epoch), step=steps),
                     context=VOCAB)
    assert top(whole) == "data_not_shuffled"


def test_integer_epochs_are_spread_between_the_first_steps_of_each_epoch():
    from nt_tui.analysis.diagnosis.evidence import _continuous_epochs

    steps = np.array([0, 50, 100, 150, 200, 250])
    spread = _continuous_epochs(steps, np.array([0.0, 0, 1, 1, 2, 2]))
    assert spread.tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    fractional = np.array([0.0, 0.4, 0.8, 1.2, 1.6, 2.0])
    assert _continuous_epochs(steps, fractional) is fractional


def test_what_a_coarse_log_cannot_show_ranks_the_alternatives_of_a_healthy_looking_run():
    """Lightning-style, one step in ten, no optimizer name, no warmup in the LR: the curve
    looks healthy, and the alternatives named are the faults such a log hides (a warmup spike
    before the first point, bad batches between points, plain SGD at a small step), each with
    a sentence saying so; they stay far below "healthy"."""
    steps = np.arange(9, 600, 10)
    loss = healthy_loss(steps, seed=11)
    result = diagnose(history(train_loss=loss, lr=np.full(len(steps), 1e-3), step=steps),
                      context=VOCAB)
    from nt_tui.analysis.diagnosis.blind_spots import BLIND_SPOT_STRENGTH, blind_spots

    assert top(result) == "healthy" and result.top.confidence > 0.7
    hidden = {cause: sentence for cause, (_, sentence) in blind_spots(result.evidence).items()}
    assert {"insufficient_warmup", "data_outlier", "lr_too_low"} <= set(hidden)
    assert all(result.strengths[cause] >= BLIND_SPOT_STRENGTH for cause in hidden)
    assert "not visible in this log" in hidden["data_outlier"]
    assert "lr_too_low" in [h.cause for h in result.hypotheses] or \
        "insufficient_warmup" in [h.cause for h in result.hypotheses]
    listed = " ".join(e for h in result.hypotheses[1:] for e in h.evidence)
    assert "starts at step 9" in listed or "does not name the optimizer" in listed
    # logged every step from step 1 with a warmup: nothing is hidden
    dense = diagnose(history(train_loss=healthy_loss(), lr=np.minimum(1, STEPS / 40) * 1e-3),
                     context=RunContext(vocab_size=65, optimizer="adamw"))
    assert all("not visible" not in " ".join(h.evidence) for h in dense.hypotheses)


def test_a_huge_unnamed_lr_with_a_loss_that_fell_like_a_healthy_run_is_not_lr_too_high():
    """LR 0.5 (500x Adam's table) in a log that does not name the optimizer, and a loss that
    fell 36% from ln(vocab) and flattened: an Adam step that large does not get there, so
    the LR is on plain SGD's scale and the run is healthy."""
    steps = np.arange(1, 301)
    loss = 2.65 + (math.log(65) - 2.65) * np.exp(-steps / 40) + \
        np.random.default_rng(6).normal(0, 0.02, 300)
    lr = 0.5 * np.minimum(1, steps / 26)
    result = diagnose(history(train_loss=loss, grad_norm=np.full(300, 0.5), lr=lr, step=steps),
                      context=VOCAB)
    assert top(result) == "healthy"
    assert result.strengths["lr_too_high"] < 0.2


def test_a_leaked_validation_set_that_wanders_up_with_train_is_still_leakage():
    """Memorised to ~1 nat over 40 passes, validation (the training data again) sits just
    under train and wanders 4% up at the end, as train does: no gap opened, so not
    overfitting; a set that rises as far above train is overfitting."""
    loss = healthy_loss(seed=12, floor=0.95)
    loss[480:] += np.linspace(0, 0.04, 120)
    leaked = diagnose(history(train_loss=loss, val_loss=val_points(loss * 0.98),
                              epoch=STEPS / 15), context=VOCAB)
    assert top(leaked) == "label_leakage"
    rising = diagnose(history(train_loss=loss, val_loss=val_points(
        loss * np.linspace(1.0, 1.3, 600)), epoch=STEPS / 15), context=VOCAB)
    assert top(rising) == "overfitting"


def test_a_blow_up_with_every_step_clipped_is_the_step_size_not_exploding_gradients():
    """The grad norm grows 600x and the loss diverges; with clipping active on every step the
    updates were bounded, so the step size did it (lr_too_high); the same curves with no
    clipping are exploding gradients."""
    steps = np.arange(1, 61)
    loss = 4.2 * np.geomspace(1, 200, 60)
    grads = np.geomspace(1.0, 600.0, 60)
    clipped = diagnose(history(train_loss=loss, grad_norm=grads, lr=np.full(60, 40.0),
                               clip_fraction=np.ones(60), step=steps), context=VOCAB)
    assert top(clipped) == "lr_too_high"
    assert "every update was bounded" in " ".join(
        e for h in clipped.hypotheses if h.cause == "exploding_gradients" for e in h.evidence)
    free = diagnose(history(train_loss=loss, grad_norm=grads, lr=np.full(60, 40.0),
                            clip_fraction=np.zeros(60), step=steps), context=VOCAB)
    assert top(free) == "exploding_gradients"


def test_plain_sgd_far_above_its_own_range_is_a_step_too_large_not_a_bad_number():
    """Lightning names the optimizer in its LR column ("lr-SGD"); SGD at LR 4 with no
    clipping blows up to NaN within a few logged points. No grad norm is logged, but the LR
    is 4x the top of SGD's range: the blow-up is the step size, not a 0/0 in the loss."""
    steps = np.arange(9, 60, 10)
    loss = np.array([4.1, 3.9, 9.5, 80.0, np.nan, np.nan])
    result = diagnose(history(train_loss=loss, lr=np.full(6, 4.0), step=steps),
                      context=RunContext(vocab_size=65, optimizer="sgd"))
    assert top(result) in ("exploding_gradients", "lr_too_high")
    assert result.strengths["numerical_instability"] < result.strengths[top(result)]
    assert "plain SGD's useful range" in " ".join(
        e for h in result.hypotheses for e in h.evidence)
    healthy_sgd = diagnose(history(train_loss=healthy_loss(), lr=np.full(600, 0.4)),
                           context=RunContext(vocab_size=65, optimizer="sgd"))
    assert top(healthy_sgd) == "healthy" and healthy_sgd.strengths["lr_too_high"] == 0


def test_lightning_lr_column_names_the_optimizer(tmp_path):
    from nt_tui.analysis.diagnosis.core import context_for
    from nt_tui.runlogs import load_run

    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,lr-SGD/pg1,train_loss_step\n" +
                    "".join(f"0,{i},0.4,{4 - i / 100}\n" for i in range(9, 200, 10)))
    context = context_for(load_run(path), path)
    assert context.optimizer == "sgd" and context.sources["optimizer"] == "LR column name"


def test_plain_sgd_at_a_tiny_lr_that_stalls_is_lr_too_low():
    loss = 3.3 + (math.log(65) - 3.3) * np.exp(-STEPS / 80) + \
        np.random.default_rng(7).normal(0, 0.03, 600)
    context = RunContext(vocab_size=65, lr=2e-3, optimizer="sgd")
    result = diagnose(history(train_loss=loss, grad_norm=np.full(600, 0.6),
                              lr=np.full(600, 2e-3)), context=context)
    assert top(result) == "lr_too_low"
    adam = diagnose(history(train_loss=loss, grad_norm=np.full(600, 0.6),
                            lr=np.full(600, 2e-3)),
                    context=RunContext(vocab_size=65, lr=2e-3, optimizer="adamw"))
    assert top(adam) != "lr_too_low"  # 2e-3 is a normal Adam step size


def test_tiny_model_plateau_at_full_lr_is_underfitting_unlike_a_decayed_schedule():
    loss = 2.9 + (math.log(65) - 2.9) * np.exp(-STEPS / 40) + \
        np.random.default_rng(8).normal(0, 0.02, 600)
    val = val_points(loss + 0.01)
    flat_lr = diagnose(history(train_loss=loss, val_loss=val, lr=np.full(600, 1e-2),
                               grad_norm=np.full(600, 0.5)), context=VOCAB)
    assert top(flat_lr) == "underfitting"
    assert "LR was still 100% of its peak" in " ".join(flat_lr.top.evidence)


def test_one_grad_burst_the_loss_ignores_is_not_an_explosion_but_a_sustained_one_is():
    loss = healthy_loss()
    grads = np.full(600, 0.8) + np.random.default_rng(1).normal(0, 0.05, 600)
    burst = grads.copy()
    burst[450] = 90.0  # one logged point ~110x the median; the loss does not react
    calm = diagnose(history(train_loss=loss, grad_norm=burst, lr=np.full(600, 1e-3)),
                    context=VOCAB)
    assert calm.strengths["exploding_gradients"] < calm.strengths["healthy"]
    assert any("transient burst" in s for h in calm.hypotheses if h.cause ==
               "exploding_gradients" for s in h.evidence) or \
        "exploding_gradients" not in [h.cause for h in calm.hypotheses]
    blown = grads.copy()
    blown[400:] = np.geomspace(1, 500, 200)  # rises 500x and stays up; the loss follows
    rising = loss.copy()
    rising[400:] = loss[400] * np.geomspace(1, 6, 200)
    result = diagnose(history(train_loss=rising, grad_norm=blown, lr=np.full(600, 1e-3)),
                      context=VOCAB)
    assert top(result) == "exploding_gradients"


def test_grad_norm_high_from_the_start_without_growth_is_not_a_blow_up():
    # the grad norm sits at ~250 from the first step (a huge step size, clipped) while the
    # loss diverges: too high an LR, not gradients that blew up by orders of magnitude
    steps = STEPS[:300]
    rng = np.random.default_rng(2)
    grads = 250 + rng.normal(0, 20, 300)
    loss = 4.2 * np.geomspace(1, 30, 300) + rng.normal(0, 0.1, 300)
    result = diagnose(history(train_loss=loss, grad_norm=grads, lr=np.full(300, 40.0),
                              step=steps), context=VOCAB)
    assert result.strengths["lr_too_high"] > result.strengths["exploding_gradients"]
    assert top(result) == "lr_too_high"


def test_coarse_log_without_warmup_at_a_huge_lr_is_a_hidden_warmup_spike_not_bad_init():
    # HF-style: the first point is the mean of steps 1-10, already above ln(65) (the loss went
    # up in the unlogged first steps); LR at its peak, 60x the size table, from the start
    steps = np.arange(10, 310, 10)
    loss = 3.1 + 2.2 * np.exp(-(steps - 10) / 15)
    lr = 0.06 * (0.55 + 0.45 * np.cos(np.pi * steps / 300))
    result = diagnose(history(train_loss=loss, lr=lr, step=steps), context=VOCAB)
    assert top(result) == "insufficient_warmup"
    text = " ".join(h for hyp in result.hypotheses if hyp.cause == "insufficient_warmup"
                    for h in hyp.evidence)
    assert "starts at step 10" in text and "above ln(vocab)" in text
    # a first point 1.8x ln(65) is within what a hidden spike adds to a 10-step mean; 10x is
    # a badly scaled initialisation
    lifted = diagnose(history(train_loss=3.1 + 4.5 * np.exp(-(steps - 10) / 15), lr=lr,
                              step=steps), context=VOCAB)
    assert top(lifted) == "insufficient_warmup"
    assert lifted.strengths["bad_initialization"] < lifted.strengths["insufficient_warmup"]
    scaled = diagnose(history(train_loss=3.1 + 38 * np.exp(-(steps - 10) / 15), lr=lr,
                              step=steps), context=VOCAB)
    assert top(scaled) == "bad_initialization"
    # the same curve logged from step 1 with a warmup shows no such evidence
    warm = diagnose(history(train_loss=healthy_loss(), lr=np.minimum(1, STEPS / 40) * 1e-3),
                    context=VOCAB)
    assert warm.strengths["insufficient_warmup"] == 0


def test_plateau_without_any_lr_keeps_schedule_exhausted_as_an_alternative():
    loss = healthy_loss()
    loss[300:] = loss[300] + np.random.default_rng(3).normal(0, 0.01, 300)  # flat half
    result = diagnose(history(train_loss=loss), context=VOCAB)
    assert "schedule_exhausted" in [h.cause for h in result.hypotheses][:3]
    assert any("no learning rate is logged" in s for h in result.hypotheses
               if h.cause == "schedule_exhausted" for s in h.evidence)
    with_lr = diagnose(history(train_loss=loss, lr=np.full(600, 1e-3)), context=VOCAB)
    assert with_lr.strengths["schedule_exhausted"] == 0


def test_stacking_prior_reproduces_the_temperature_softmax_and_fitting_moves_it():
    from nt_tui.analysis.diagnosis import stacking
    from nt_tui.analysis.diagnosis.calibration import TEMPERATURE

    strengths = {cause: 0.1 * i / len(CAUSE_IDS) for i, cause in enumerate(CAUSE_IDS)}
    strengths["overfitting"] = 0.7
    available = {"has_grad_norm": 1.0, "has_lr": 0.0, "has_val_loss": 1.0, "has_epochs": 0.0}
    weights, bias = stacking.prior(TEMPERATURE)
    model = {"weights": weights.tolist(), "bias": bias.tolist()}
    stacked = stacking.probabilities(stacking.feature_vector(strengths, available), model)
    plain = confidences(strengths, TEMPERATURE)
    assert all(stacked[c] == pytest.approx(plain[c], abs=1e-9) for c in CAUSE_IDS)
    # logs whose strongest rule is wrong in a consistent way: fitting learns to fix it
    x = [stacking.feature_vector({**strengths, "healthy": 0.75}, available)] * 20
    fitted_w, fitted_b = stacking.fit(x, ["overfitting"] * 20, TEMPERATURE, 0.001)
    fitted = {"weights": fitted_w.tolist(), "bias": fitted_b.tolist()}
    after = stacking.probabilities(x[0], fitted)
    assert max(after, key=after.get) == "overfitting"
    assert stacking.log_loss(fitted_w, fitted_b, x, ["overfitting"] * 20) < \
        stacking.log_loss(weights, bias, x, ["overfitting"] * 20)


def test_unstable_loss_keeps_the_paired_cause_as_an_alternative():
    # an unstable loss at a huge LR with no grad norm logged: a step size too large and
    # gradients that blow up look the same, so the weaker one stays in the top three (below
    # the stronger), with a sentence saying why; a healthy run gets no such pairing
    from nt_tui.analysis.diagnosis.core import PAIRED_CAUSE_SHARE

    rng = np.random.default_rng(5)
    loss = healthy_loss(seed=5)
    loss[300:] = loss[299] * np.geomspace(1, 6, 300) + rng.normal(0, 0.2, 300)
    result = diagnose(history(train_loss=loss, lr=np.full(600, 0.8)), context=VOCAB)
    ranked = [h.cause for h in result.hypotheses]
    assert "loss_unstable" in result.symptoms
    assert {"lr_too_high", "exploding_gradients"} <= set(ranked[:3]), ranked
    high, low = sorted((result.strengths["lr_too_high"],
                        result.strengths["exploding_gradients"]), reverse=True)
    assert low >= PAIRED_CAUSE_SHARE * high - 1e-3
    paired = result.hypotheses[ranked.index("exploding_gradients")] \
        if result.strengths["exploding_gradients"] < high else result.hypotheses[
        ranked.index("lr_too_high")]
    assert any("look alike" in sentence for sentence in paired.evidence)
    calm = diagnose(history(train_loss=healthy_loss(), lr=np.full(600, 1e-3)), context=VOCAB)
    assert top(calm) == "healthy"
    assert not any("look alike" in s for h in calm.hypotheses for s in h.evidence)


def _unclipped_blowup(clip_fraction: float | None):
    """Adam without clipping at a huge peak LR (after a warmup): the grad norm climbs ~30x
    from ~1.5 and stays up for a third of the run while the loss climbs with it, then both
    come back down (the shape of the labelled exploding_gradients runs at AdamW 0.8-1.0)."""
    steps = np.arange(2, 302, 2)
    rng = np.random.default_rng(4)
    up = np.clip((steps - 20) / 20, 0, 1) * np.clip((220 - steps) / 100, 0, 1)
    loss = 3.6 * np.exp(np.log(30) * up) * np.exp(rng.normal(0, 0.05, len(steps)))
    grads = 1.5 * np.exp(np.log(30) * up) * np.exp(rng.normal(0, 0.25, len(steps)))
    lr = np.minimum(steps / 30, 1.0)
    columns = {"step": steps, "train_loss": loss, "grad_norm": grads, "lr": lr}
    if clip_fraction is not None:
        columns["clip_fraction"] = np.full(len(steps), clip_fraction)
    return diagnose(history(**columns), context=VOCAB)


def test_grad_norm_that_rises_orders_and_stays_up_unclipped_is_exploding_gradients():
    result = _unclipped_blowup(None)
    assert top(result) == "exploding_gradients"
    assert any("stayed there" in sentence for sentence in result.top.evidence)
    assert "lr_too_high" in [h.cause for h in result.hypotheses[:3]]
    # the same curves with the gradients clipped on every step: clipped updates are bounded,
    # so the step size did the damage (the seed's clip-fraction rule)
    clipped = _unclipped_blowup(1.0)
    assert top(clipped) == "lr_too_high"
    assert not any("stayed there" in s for h in clipped.hypotheses for s in h.evidence)


def test_validation_rising_on_several_evaluations_while_train_falls_is_overfitting():
    """A modest (~5%) but sustained rise of validation on 3+ evaluations in a row while train
    keeps falling is overfitting, not noise around a healthy curve."""
    train = 1.2 + (math.log(65) - 1.2) * np.exp(-STEPS / 120) + \
        np.random.default_rng(1).normal(0, 0.02, 600)
    val = val_points(1.75 + (math.log(65) - 1.75) * np.exp(-STEPS / 80)
                     + 0.14 * np.clip((STEPS - 300) / 300, 0, 1))
    result = diagnose(history(train_loss=train, val_loss=val, lr=np.full(600, 1e-3),
                              grad_norm=np.full(600, 0.8)), context=VOCAB)
    assert top(result) == "overfitting"
    assert result.top.confidence > 0.5
    assert "healthy" in [h.cause for h in result.hypotheses[:3]]


def _scaled_init_with_grad_bursts(noise: float):
    """A scaled initialisation under Adam: the loss starts ~60x above ln(65) and falls
    steadily while isolated grad-norm bursts (up to ~200x the median) come and go."""
    steps = np.arange(2, 302, 2)
    rng = np.random.default_rng(3)
    loss = (30 + 220 * np.exp(-steps / 80)) * np.exp(rng.normal(0, 0.01, len(steps)))
    grads = 45 * np.exp(-steps / 600) * np.exp(rng.normal(0, 0.1, len(steps)))
    bursts = rng.choice(len(steps), 30, replace=False)
    grads[bursts] *= rng.uniform(3, 30, 30)
    grads[62] *= 230
    if noise:
        loss[5:12] *= 1 + noise  # an early climb: the bursts did disturb training
    lr = np.minimum(steps / 30, 1.0) * 1e-3
    return diagnose(history(step=steps, train_loss=loss, grad_norm=grads, lr=lr), context=VOCAB)


def test_grad_bursts_while_the_loss_falls_steadily_from_a_bad_start_are_bad_initialization():
    result = _scaled_init_with_grad_bursts(0.0)
    assert top(result) == "bad_initialization"
    exploding = next(h for h in result.hypotheses if h.cause == "exploding_gradients")
    assert any("fell steadily throughout" in s for s in exploding.evidence)
    # the same bursts with the loss thrown up early: not discounted
    climbed = _scaled_init_with_grad_bursts(0.5)
    assert not any("fell steadily throughout" in s for h in climbed.hypotheses
                   for s in h.evidence)


def test_a_loss_that_went_up_is_said_to_have_risen():
    steps = np.arange(10_001, 10_401)  # a resumed run: the log starts mid-way
    loss = 3.70 + 0.02 * (steps - steps[0]) / 400 + np.random.default_rng(2).normal(0, 0.003, 400)
    result = diagnose(history(step=steps, train_loss=loss), context=VOCAB)
    sentences = [line for h in result.hypotheses for line in h.evidence]
    assert any("train_loss rose" in line for line in sentences)
    assert not any("train_loss fell -" in line for line in sentences)


def test_warmup_fix_does_not_claim_a_current_value_the_log_does_not_have():
    from nt_tui.analysis.diagnosis.evidence import collect_evidence
    from nt_tui.analysis.diagnosis.fixes import fix_warmup

    no_lr = fix_warmup(collect_evidence(history(train_loss=healthy_loss()), VOCAB))
    assert "0 ->" not in no_lr.text and "if the run has none" in no_lr.text
    assert no_lr.changes == {"schedule.warmup_steps": 30}
    with_lr = fix_warmup(collect_evidence(history(train_loss=healthy_loss(),
                                                  lr=np.full(600, 1e-3)), VOCAB))
    assert with_lr.text.startswith("Add a linear warmup: warmup_steps 0 -> 30")


def _crawl_then_flat(until: int, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """From ln(65) straight down to 82% of it by step `until`, then flat (300 steps)."""
    steps = np.arange(1, 301)
    start = math.log(65)
    loss = np.where(steps < until, start - 0.18 * start * steps / until, 0.82 * start)
    return steps, loss + np.random.default_rng(seed).normal(0, 0.02, 300)


def test_a_slow_crawl_to_an_early_plateau_at_full_lr_is_lr_too_low_not_healthy():
    """No optimizer named, LR 1e-3 at its peak: a loss that crawls down 18% and then stays
    flat for half the run is too small a step (plain SGD's range starts at 1e-2), not a
    healthy run; the same plateau reached at once is a capacity limit, with the small step
    only named as the alternative it would be under SGD."""
    steps, crawl = _crawl_then_flat(170)
    lr = 1e-3 * np.minimum(1, steps / 30)
    slow = diagnose(history(train_loss=crawl, grad_norm=np.full(300, 0.7), lr=lr, step=steps),
                    context=VOCAB)
    assert top(slow) == "lr_too_low"
    text = " ".join(slow.top.evidence)
    assert "crawled to that plateau" in text and "does not name the optimizer" in text
    healthy = [h for h in slow.hypotheses if h.cause == "healthy"][0]
    assert any("learned little" in sentence for sentence in healthy.evidence)
    start = math.log(65)
    fast = 0.82 * start + 0.18 * start * np.exp(-steps / 8) + \
        np.random.default_rng(5).normal(0, 0.02, 300)
    at_once = diagnose(history(train_loss=fast, grad_norm=np.full(300, 0.7), lr=lr, step=steps),
                       context=VOCAB)
    assert top(at_once) != "lr_too_low"
    small_step = [h for h in at_once.hypotheses if h.cause == "lr_too_low"][0]
    assert "if the optimizer is plain SGD" in " ".join(small_step.evidence)
    assert at_once.strengths["lr_too_low"] < at_once.strengths[top(at_once)]
    # named Adam at 1e-3 is a normal step size: the crawl is no evidence of a small one
    adam = diagnose(history(train_loss=crawl, grad_norm=np.full(300, 0.7), lr=lr, step=steps),
                    context=RunContext(vocab_size=65, optimizer="adamw"))
    assert adam.strengths["lr_too_low"] < 0.3


def test_plain_sgd_named_without_a_grad_norm_that_stalls_is_still_lr_too_low():
    """Lightning logs the optimizer (lr-SGD) but no grad norm: a loss that fell and then
    stalled shows gradients flow, so SGD at 2e-3 is still too small a step."""
    loss = 3.3 + (math.log(65) - 3.3) * np.exp(-STEPS / 80) + \
        np.random.default_rng(7).normal(0, 0.03, 600)
    result = diagnose(history(train_loss=loss, lr=np.full(600, 2e-3)),
                      context=RunContext(vocab_size=65, optimizer="sgd"))
    assert top(result) == "lr_too_low"
    assert "no grad norm logged" in " ".join(result.top.evidence)
    flat = diagnose(history(train_loss=np.full(600, math.log(65)) + 0.01 * np.sin(STEPS),
                            lr=np.full(600, 2e-3)),
                    context=RunContext(vocab_size=65, optimizer="sgd"))
    # a loss that never fell may be vanishing gradients: no claim that the gradients flow
    assert "fell before it stalled" not in " ".join(e for h in flat.hypotheses
                                                    for e in h.evidence)


def test_without_epochs_validation_on_train_through_a_short_fall_is_no_rival_of_healthy():
    """A held-out set on top of train in a run's first pass is what every run shows: without
    an epoch column a short fall keeps leakage a faint alternative, not one that crowds out
    the others."""
    rng = np.random.default_rng(3)
    short = 2.6 + (math.log(65) - 2.6) * np.exp(-STEPS / 150) + rng.normal(0, 0.02, 600)
    result = diagnose(history(train_loss=short, val_loss=val_points(short * 0.995)),
                      context=VOCAB)
    assert top(result) == "healthy"
    assert result.strengths["label_leakage"] < 0.1


def test_a_step_too_large_from_the_first_point_of_a_coarse_log_keeps_warmup_beside_it():
    """One point in ten, the LR at its peak from the first one, a loss that bounces: the
    warmup spike such a run starts with is not in the log, so insufficient_warmup stays next
    to lr_too_high (just below it); logged from step 1 with a visible warmup it does not."""
    steps = np.arange(9, 600, 10)
    rng = np.random.default_rng(12)
    loss = 3.2 + 0.9 * np.exp(-steps / 30) + np.abs(rng.normal(0, 0.35, len(steps)))
    context = RunContext(vocab_size=65, optimizer="adamw", num_params=2_000_000)
    # (LR 0.015: 15x the size table, under the 0.02 init scale where Adam's first steps alone
    # are evidence of a spike)
    coarse = diagnose(history(train_loss=loss, lr=np.full(len(steps), 0.015), step=steps),
                      context=context)
    assert coarse.strengths["lr_too_high"] > 0.3
    assert coarse.strengths["insufficient_warmup"] >= 0.85 * coarse.strengths["lr_too_high"]
    assert coarse.strengths["insufficient_warmup"] < coarse.strengths["lr_too_high"]
    assert "insufficient_warmup" in [h.cause for h in coarse.hypotheses[:3]]
    warm = diagnose(history(train_loss=loss, lr=0.015 * np.minimum(1, steps / 200), step=steps),
                    context=context)
    assert warm.strengths["insufficient_warmup"] < 0.5 * warm.strengths["lr_too_high"]


def test_adam_at_several_times_the_init_scale_without_warmup_hides_a_spike_in_a_coarse_log():
    """Lightning-style, one step in ten, AdamW at 0.08 from the first point, a calm curve:
    Adam's first updates move every weight by about the LR (4x the 0.02 init scale), a spike
    the log cannot show; warmup is the answer. Plain SGD at 0.08, a visible warmup or an
    unnamed optimizer (SGD at 0.08 with no warmup is normal) do not make that claim."""
    steps = np.arange(9, 600, 10)
    loss = 3.0 + 1.1 * np.exp(-steps / 40) + np.random.default_rng(21).normal(0, 0.02, len(steps))

    def run(lr: np.ndarray, optimizer: str | None):
        return diagnose(history(train_loss=loss, lr=lr, step=steps),
                        context=RunContext(vocab_size=65, optimizer=optimizer))

    flat = np.full(len(steps), 0.08)
    adam = run(flat, "adamw")
    assert top(adam) == "insufficient_warmup"
    assert "init scale" in " ".join(adam.top.evidence)
    assert run(flat, "sgd").strengths["insufficient_warmup"] < 0.3
    assert run(0.08 * np.minimum(1, steps / 100), "adamw").strengths["insufficient_warmup"] < 0.3
    unnamed = run(flat, None)
    assert top(unnamed) == "healthy"
    assert unnamed.strengths["insufficient_warmup"] <= 0.32


def test_a_high_first_point_of_a_loss_that_then_blows_up_is_not_bad_initialization():
    """HF-style 10-step means: the first is already 36 (vocabulary 65) because the run was
    blowing up in its first steps, and the loss climbs to thousands after it. A badly scaled
    start is undone by training; this one is the beginning of a divergence."""
    steps = np.arange(10, 310, 10)
    loss = np.minimum(36 * np.exp((steps - 10) / 12), 11000.0) * \
        (1 + np.random.default_rng(4).normal(0, 0.05, len(steps)))
    result = diagnose(history(train_loss=loss, grad_norm=np.full(len(steps), 300.0),
                              lr=np.full(len(steps), 40.0), step=steps), context=VOCAB)
    assert top(result) != "bad_initialization"
    assert result.strengths["bad_initialization"] <= 0.25 < result.strengths["lr_too_high"]


def test_plain_sgd_far_below_its_range_from_a_fresh_start_is_lr_too_low_while_still_falling():
    """SGD at 1e-3, constant, from ln(vocab): 22% down in 300 steps and still falling (no
    plateau yet) is a step too small for a from-scratch run; the same LR on a fine-tune
    (first loss well below ln(vocab)) is not judged by SGD's from-scratch range."""
    steps = np.arange(1, 301)
    noise = np.random.default_rng(9).normal(0, 0.02, 300)
    fresh = math.log(65) * (1 - 0.3 * (1 - np.exp(-steps / 200))) + noise
    context = RunContext(vocab_size=65, optimizer="sgd")
    result = diagnose(history(train_loss=fresh, grad_norm=np.full(300, 0.7),
                              lr=np.full(300, 1e-3), step=steps), context=context)
    assert top(result) == "lr_too_low"
    assert "plain SGD at a peak LR of 1e-03" in " ".join(result.top.evidence)
    tuned = diagnose(history(train_loss=fresh - 1.6, grad_norm=np.full(300, 0.7),
                             lr=np.full(300, 1e-3), step=steps), context=context)
    assert "plain SGD" not in " ".join(e for h in tuned.hypotheses for e in h.evidence)


def test_validation_on_its_own_cadence_is_not_read_as_nan_between_evaluations():
    """Train logged every 20 steps and at each evaluation, validation every 30 (HF logs of a
    run whose logging and eval steps differ): half the train rows have a validation value,
    the rest simply have none; no NaN is invented for them."""
    steps = np.array(sorted({*range(20, 901, 20), *range(30, 901, 30)}))
    train = healthy_loss(steps, seed=2)
    val = np.where(steps % 30 == 0, train + 0.05, np.nan)
    result = diagnose(history(train_loss=train, val_loss=val, lr=np.full(len(steps), 1e-3),
                              grad_norm=np.full(len(steps), 0.8), step=steps), context=VOCAB)
    assert result.evidence.nonfinite is None
    assert top(result) != "numerical_instability" and "loss_nan" not in result.symptoms


def test_a_long_run_whose_validation_wobbles_now_and_then_is_not_a_noisy_descent():
    """27 evaluations of a few batches each: three 2-4% bounces on the way down are sampling
    noise (1 in 9); the same three bounces in a run of 10 evaluations are a noisy descent."""
    from nt_tui.analysis.diagnosis.rules import _noisy

    def run(evaluations: int):
        steps = np.arange(1, 30 * evaluations + 1)
        evals = 3.5 * 0.985 ** np.arange(evaluations)  # falling to its best at the end
        evals[[3, 5, 7]] *= 1.05
        at = np.arange(30, 30 * evaluations + 1, 30)
        train = np.interp(steps, at, evals) - 0.04
        val = np.full(len(steps), np.nan)
        val[at - 1] = evals
        return diagnose(history(train_loss=train, val_loss=val, step=steps), context=VOCAB)

    long, short = run(27), run(10)
    assert long.evidence.val.ups_before_best == short.evidence.val.ups_before_best == 3
    assert _noisy(long.evidence)[0] < 0.5 <= _noisy(short.evidence)[0]


def test_a_grad_norm_held_high_with_the_loss_finite_means_bounded_steps_too_large():
    """No clip fraction logged: the grad norm climbs to ~300 and stays there for the rest of
    the run while the loss sits 1000x up, finite. Unbounded updates that large overflow in a
    few steps, so the updates were bounded (clipped) and the step size did the damage; the
    same climb escalating to NaN is exploding gradients."""
    steps = np.arange(1, 301)
    rng = np.random.default_rng(14)
    grads = np.minimum(0.8 * np.exp(steps / 3), 300) * (1 + rng.normal(0, 0.2, 300))
    loss = np.minimum(3.8 * np.exp(steps / 2.5), 12000) * (1 + rng.normal(0, 0.2, 300))
    lr = np.minimum(1, steps / 26) * 40
    held = diagnose(history(train_loss=loss, grad_norm=np.abs(grads), lr=lr, step=steps),
                    context=VOCAB)
    assert top(held) == "lr_too_high"
    assert "exploding_gradients" in [h.cause for h in held.hypotheses[:3]]
    assert "something bounded them" in " ".join(
        e for h in held.hypotheses if h.cause == "exploding_gradients" for e in h.evidence)
    escalating = np.abs(0.8 * np.exp(steps[:60] / 3))
    blown = loss[:60].copy()
    blown[-1] = np.nan
    gone = diagnose(history(train_loss=blown, grad_norm=escalating, lr=lr[:60],
                            step=steps[:60]), context=VOCAB)
    assert top(gone) == "exploding_gradients"


def test_a_short_stretch_of_other_data_each_pass_is_seen_at_eight_phase_bins():
    """Lightning-style single steps, one in ten, over seven 87-step epochs: a second source
    appended to the data makes the loss jump on a tenth of every pass. Four phase bins dilute
    that stretch; eight show it. Shuffled, the same jumps at random places are not a phase."""
    steps = np.arange(9, 610, 10)
    epoch = steps / 87.0
    rng = np.random.default_rng(31)
    base = 2.5 + 1.7 * np.exp(-steps / 60) + rng.normal(0, 0.04, len(steps))
    stretch = (epoch % 1.0 >= 0.7) & (epoch % 1.0 < 0.82)
    ordered = base * np.where(stretch, 1.25, 1.0)
    found = diagnose(history(train_loss=ordered, epoch=epoch, step=steps), context=VOCAB)
    assert found.evidence.epoch_phase is not None and found.evidence.epoch_phase.bins == 8
    assert top(found) == "data_not_shuffled"
    scattered = base * np.where(rng.permutation(stretch), 1.25, 1.0)
    shuffled = diagnose(history(train_loss=scattered, epoch=epoch, step=steps), context=VOCAB)
    assert top(shuffled) != "data_not_shuffled"
    assert shuffled.strengths["data_not_shuffled"] < 0.2


def test_a_flat_fine_tune_with_validation_above_train_is_not_a_model_that_cannot_learn():
    """Lightning-style, no grad norm, no vocabulary: a loss barely moving around 2.0 from the
    first point. With validation 12% above train the model has learned (a fine-tune that fits);
    with validation on top of train it has learned nothing, and vanishing gradients or a
    tiny step stay the answer."""
    steps = np.arange(9, 300, 10)
    rng = np.random.default_rng(17)
    train = 2.0 + rng.normal(0, 0.03, len(steps))
    context = RunContext(optimizer="adamw")
    lr = np.full(len(steps), 3e-4)

    def run(gap: float):
        return diagnose(history(train_loss=train, val_loss=val_points(train + gap, every=5),
                                lr=lr, step=steps), context=context)

    tuned = run(0.24)
    assert top(tuned) == "healthy"
    assert "has learned" in " ".join(tuned.top.evidence)
    stuck = run(0.0)
    assert top(stuck) in ("vanishing_gradients", "lr_too_low")


def test_an_adam_fine_tune_that_settles_at_once_is_not_a_crawl_at_a_small_step():
    """AdamW at 3e-4 (a fine-tune's LR, not small for Adam): a loss that drops 15% in the
    first steps and then holds for the rest of the run is not discounted as a slow crawl."""
    steps = np.arange(9, 500, 10)
    rng = np.random.default_rng(18)
    loss = 2.17 + 0.4 * np.exp(-(steps - 9) / 8) + rng.normal(0, 0.02, len(steps))
    result = diagnose(history(train_loss=loss, lr=np.full(len(steps), 3e-4), step=steps),
                      context=RunContext(optimizer="adamw"))
    healthy = [h for h in result.hypotheses if h.cause == "healthy"][0]
    assert not any("learned little" in sentence for sentence in healthy.evidence)
    assert result.strengths["healthy"] > 0.5 and result.strengths["lr_too_low"] < 0.2


def test_a_loss_that_dropped_fast_and_then_learned_little_is_not_a_step_too_small():
    """No vocabulary or optimizer name (a JSONL fine-tune): 6% down in all, most of it in the
    first steps. Too small a step crawls from the start; this is a model settling. The same
    6% spread evenly over the run is the crawl."""
    steps = np.arange(2, 502, 2)
    rng = np.random.default_rng(23)
    settling = 2.26 + 0.1 * np.exp(-steps / 15) + 0.02 * (1 - steps / 500) + \
        rng.normal(0, 0.01, len(steps))
    crawling = 2.4 - 0.15 * steps / 500 + rng.normal(0, 0.01, len(steps))

    def run(loss: np.ndarray):
        return diagnose(history(train_loss=loss, grad_norm=np.full(len(steps), 1.0),
                                lr=np.full(len(steps), 2e-4), step=steps), context=RunContext())

    settled = run(settling)
    assert top(settled) == "healthy"
    assert settled.strengths["lr_too_low"] < 0.4
    assert run(crawling).strengths["lr_too_low"] > 0.6


def test_a_pattern_repeating_every_pass_is_found_by_folding_a_log_without_epochs():
    """A CSV of step, loss and LR, one row in four, no epoch column: a second data source
    makes the loss jump on a tenth of every 92-step pass. Folding the loss at the periods
    that fit finds it; the same curve without the pattern, one with a single kink (a
    schedule step) and one with three bad batches that happen to be evenly spaced do not
    make a period."""
    steps = np.arange(4, 604, 4)
    rng = np.random.default_rng(41)
    base = 2.5 + 1.9 * np.exp(-steps / 50) + rng.normal(0, 0.03, len(steps))
    cycle = (steps % 92) / 92
    ordered = base * np.where((cycle >= 0.6) & (cycle < 0.72), 1.2, 1.0)
    lr = np.full(len(steps), 2e-3)

    def run(loss: np.ndarray):
        return diagnose(history(train_loss=loss, lr=lr, step=steps), context=RunContext())

    found = run(ordered)
    assert found.evidence.folded_phase is not None
    assert abs(found.evidence.folded_phase.steps_per_epoch - 92) <= 8
    assert top(found) == "data_not_shuffled"
    assert "folded at that period" in " ".join(found.top.evidence)
    for other in (base, np.where(steps < 300, base, base - 0.3),
                  base * np.where(np.isin(steps, (200, 292, 384)), 2.2, 1.0)):
        result = run(other)
        assert top(result) != "data_not_shuffled"
        assert result.strengths["data_not_shuffled"] < 0.2


def test_a_bad_start_whose_loss_wanders_a_little_above_its_floor_stays_bad_initialization():
    """Initial loss 176 with a vocabulary of 65, down to ~13 and wandering 7% above its
    lowest point at the end: the high start is still being undone, not a blow-up."""
    steps = np.arange(1, 301)
    rng = np.random.default_rng(26)
    loss = 12.5 + 163 * np.exp(-steps / 12) + 0.5 * (steps > 250) + rng.normal(0, 0.2, 300)
    result = diagnose(history(train_loss=loss, grad_norm=np.full(300, 3.0), step=steps),
                      context=VOCAB)
    assert top(result) == "bad_initialization"
    assert "blow-up under way" not in " ".join(result.top.evidence)


def test_a_loss_that_reaches_exactly_zero_is_folded_without_dividing_by_it():
    steps = np.arange(1, 401)
    loss = np.where(steps < 100, 1.0 - steps / 100, 0.0)
    with np.errstate(divide="raise", invalid="raise"):
        from nt_tui.analysis.diagnosis.evidence import _folded_phase

        assert _folded_phase(steps.astype(float), loss) is None
    assert diagnose(history(train_loss=loss, step=steps)).hypotheses


def test_six_points_are_too_few_to_read_a_plateau_or_a_slow_fall_from_their_shape():
    """Lightning's default of one point in 50 steps leaves a 300-step run 6 points, all after
    the fast first drop: they look like a loss that barely moved and plateaued. Shape-based
    claims (a small step, a capacity plateau) need more points; the same curve logged every
    10 steps has them."""
    def logged(every: int):
        steps = np.arange(every - 1, 300, every)
        rng = np.random.default_rng(50)
        loss = 2.55 + 1.6 * np.exp(-steps / 15) + 0.12 * np.exp(-steps / 400) + \
            rng.normal(0, 0.01, len(steps))
        val = np.where(np.arange(len(steps)) % 2 == 1, loss + 0.03, np.nan)
        return diagnose(history(train_loss=loss, val_loss=val, lr=np.full(len(steps), 1e-3),
                                step=steps), context=RunContext())

    sparse = logged(50)
    assert sparse.evidence.loss.points == 6
    assert top(sparse) == "healthy"
    assert sparse.strengths["lr_too_low"] < 0.3 and sparse.strengths["underfitting"] < 0.3
    assert "too few to tell the shape" in " ".join(e for h in sparse.hypotheses
                                                    for e in h.evidence)


def test_an_early_spike_on_the_stretch_that_spikes_every_pass_is_the_data_order_not_warmup():
    """Unshuffled data at a constant LR with no warmup: the hard stretch of each pass spikes
    the loss, the first time inside the run's first 15%. That first spike is the data order
    too, not the missing warmup; a spike there with no pattern after it stays a warmup spike."""
    def spiked(at: list[int]) -> np.ndarray:
        loss = healthy_loss(seed=5)
        for position in at:
            loss[position - 1:position + 1] *= 1.5
        return loss

    columns = {"epoch": STEPS / 100, "lr": np.full(600, 1e-3), "grad_norm": np.full(600, 0.8)}
    every_pass = diagnose(history(train_loss=spiked([50, 150, 250, 350, 450, 550]), **columns),
                          context=VOCAB)
    assert top(every_pass) == "data_not_shuffled"
    assert every_pass.strengths["insufficient_warmup"] < 0.3
    once = diagnose(history(train_loss=spiked([50]), **columns), context=VOCAB)
    assert top(once) == "insufficient_warmup"


def test_validation_swinging_up_while_train_only_bounces_is_not_overfitting():
    """Overfitting needs the train loss to keep falling after the validation best. A fall of a
    few percent inside a train loss that scatters 25% from point to point is no fall: with
    validation swinging 6 -> 25 -> 6.6 -> 14 that is an unstable run, not memorisation. The
    same rise, climbing steadily over a train loss that falls steadily, is overfitting."""
    rng = np.random.default_rng(3)
    steps = np.arange(1, 401)
    val = np.full(400, np.nan)
    val[49::50] = [9.3, 6.0, 17.2, 8.4, 25.6, 6.6, 12.0, 14.1]
    trend = 6.0 * (1 - 0.05 * steps / 400)
    bouncing = diagnose(history(step=steps, train_loss=trend * np.exp(rng.normal(0, 0.25, 400)),
                                val_loss=val, lr=np.full(400, 6.0)), context=RunContext())
    assert bouncing.strengths["overfitting"] <= 0.3
    assert bouncing.strengths["lr_too_high"] > bouncing.strengths["overfitting"]
    falling = 6.0 * (1 - 0.5 * steps / 400) * np.exp(rng.normal(0, 0.02, 400))
    climbing = np.full(400, np.nan)
    climbing[49::50] = [9.3, 6.0, 7.2, 8.4, 9.6, 10.6, 12.0, 14.1]
    steady = diagnose(history(step=steps, train_loss=falling, val_loss=climbing,
                              lr=np.full(400, 6.0)), context=RunContext())
    assert top(steady) == "overfitting"


def test_a_bad_batch_spike_recovers_into_the_scatter_of_a_per_step_loss():
    """Three single-batch spikes of 35x in a loss logged every step, which scatters ~8% from
    batch to batch; after each, the loss sits ~25% up for a few steps (the bad batch knocked
    the weights) before it settles. Back inside the points' scatter is recovered: bad batches,
    not an unsettled run or a healthy one."""
    rng = np.random.default_rng(11)
    loss = healthy_loss(seed=2) * np.exp(rng.normal(0, 0.08, 600))
    for at in (251, 389, 517):
        loss[at - 1] *= 35
        loss[at:at + 6] *= 1.25
    result = diagnose(history(train_loss=loss, lr=np.full(600, 1e-3)), context=VOCAB)
    assert [spike.recovered for spike in result.evidence.loss.spikes] == [True] * 3
    assert top(result) == "data_outlier"


def test_validation_that_swings_up_and_back_down_is_a_step_too_large():
    """A smooth train curve (HF's window means) whose validation jumps 30-90% between
    evaluations and falls back at the next: the weights are thrown about by the step size.
    With validation descending smoothly instead, the same train curve is healthy."""
    rng = np.random.default_rng(4)
    steps = np.arange(5, 605, 5)
    train = (5.3 + 3.4 * np.exp(-steps / 150)) * np.exp(rng.normal(0, 0.03, len(steps)))
    lr = np.full(len(steps), 5.0)
    swinging = np.full(len(steps), np.nan)
    swinging[9::10] = [5.6, 7.2, 5.2, 9.8, 4.1, 5.3, 5.3, 5.0, 5.1, 4.05, 4.9, 4.4]
    result = diagnose(history(step=steps, train_loss=train, val_loss=swinging, lr=lr),
                      context=RunContext())
    assert top(result) == "lr_too_high"
    assert result.evidence.val.swings == 3
    assert any("validation swung up and back down" in line for line in result.top.evidence)
    smooth = np.full(len(steps), np.nan)
    smooth[9::10] = train[9::10] * 1.02
    assert top(diagnose(history(step=steps, train_loss=train, val_loss=smooth, lr=lr),
                        context=RunContext())) == "healthy"


def test_a_bad_batch_that_knocks_the_loss_to_a_higher_level_is_bad_data_not_the_step_size():
    """One batch's loss at 38x the level (a garbage batch, Lightning's sparse log), after
    which the loss settles 45% higher for good, then two more bad batches: the climb above
    the minimum happened across that one point. A step size that is too large walks the loss
    up; a bad batch throws it up at once."""
    steps = np.arange(4, 604, 5)
    loss = healthy_loss(steps=steps, seed=3)
    loss[steps > 284] *= 1.45
    loss[steps == 284] *= 38
    for at in (334, 384):
        loss[steps == at] *= 12
    result = diagnose(history(step=steps, train_loss=loss), context=VOCAB)
    assert top(result) == "data_outlier"
    assert any("knocked the weights" in line for line in result.top.evidence)
    # the same climb walked up over a hundred steps, no spike: the step size
    walked = healthy_loss(steps=steps, seed=3) * np.interp(steps, [284, 384], [1.0, 1.45])
    walked_result = diagnose(history(step=steps, train_loss=walked), context=VOCAB)
    assert top(walked_result) == "lr_too_high"
    assert walked_result.strengths["data_outlier"] < 0.1


def test_a_loss_that_spiked_in_its_first_steps_is_not_healthy_there():
    """A log with no LR column (Lightning without an LR monitor) whose loss jumps 20% at its
    fourth point, then falls like a healthy run: the first steps were unstable, which the
    warmup explains; "healthy" says no spikes, so it must give way. Without the jump the same
    run is healthy."""
    rng = np.random.default_rng(7)
    steps = np.arange(1, 400, 2)
    loss = (2.0 + 1.6 * np.exp(-steps / 60)) * np.exp(rng.normal(0, 0.03, len(steps)))
    val = np.full(len(steps), np.nan)
    val[49::50] = loss[49::50] * 1.1
    assert top(diagnose(history(step=steps, train_loss=loss, val_loss=val),
                        context=RunContext())) == "healthy"
    loss[3] = loss[2] * 1.2
    spiked = diagnose(history(step=steps, train_loss=loss, val_loss=val), context=RunContext())
    assert top(spiked) == "insufficient_warmup"
    assert any("spiked in the first 15% of the run" in line
               for line in next(h for h in spiked.hypotheses if h.cause == "healthy").evidence)


def test_validation_that_falls_back_as_often_as_it_rises_after_its_best_is_not_overfitting():
    """After its best, an overfitting validation loss climbs; this one falls back 6% on three
    of seven evaluations while it drifts up (an LR far too large bouncing the weights): not
    the steady climb of memorisation. The same drift as a steady climb is overfitting."""
    rng = np.random.default_rng(5)
    steps = np.arange(10, 510, 10)
    train = (3.0 + 3.0 * np.exp(-steps / 80)) * np.exp(rng.normal(0, 0.08, len(steps)))
    lr = np.full(len(steps), 5.0)
    swinging = np.full(len(steps), np.nan)
    swinging[4::5] = [4.6, 3.9, 3.6, 3.85, 3.62, 3.95, 3.7, 4.05, 3.8, 4.1]
    result = diagnose(history(step=steps, train_loss=train, val_loss=swinging, lr=lr),
                      context=RunContext())
    assert top(result) != "overfitting" and result.strengths["overfitting"] <= 0.3
    assert result.evidence.val.falls_after_best == 3
    climbing = swinging.copy()
    climbing[4::5] = [4.6, 3.9, 3.6, 3.66, 3.72, 3.78, 3.84, 3.9, 3.96, 4.1]
    assert top(diagnose(history(step=steps, train_loss=train, val_loss=climbing, lr=lr),
                        context=RunContext())) == "overfitting"


def test_a_loss_that_reaches_exactly_zero_is_diagnosed_without_a_numpy_warning():
    """A memorised task logs a loss of 0.0 for whole epochs: the within-epoch phase has no
    relative residual there, and numpy's divide warning must not reach the user's stderr."""
    import warnings

    steps = np.arange(0, 600, 5)
    epoch = steps / 50.0
    loss = np.where(steps < 300, 2.3 * np.exp(-steps / 40), 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        found = diagnose(history(train_loss=loss, epoch=epoch, step=steps), context=VOCAB)
    assert found.hypotheses


def test_a_noisy_last_point_does_not_hide_bad_batches():
    """Lightning-style single-batch losses, one point in five: three garbage batches at 25-40x
    the loss, each gone at the next point. The last logged point happens to sit 20% above a
    calm stretch before it; with nothing after it, it is not a spike that "did not recover",
    so the bad batches stay isolated."""
    rng = np.random.default_rng(25)
    steps = np.arange(4, 600, 5)
    loss = 1.5 + 0.8 * np.exp(-steps / 150) + rng.normal(0, 0.12, len(steps))
    for at, times in ((56, 25.0), (86, 37.0), (96, 26.0)):
        loss[at] *= times
    loss[-11:-1] = 1.55 + rng.normal(0, 0.02, 10)  # a calm stretch, then one high point
    loss[-1] = 1.2 * 1.55
    found = diagnose(history(train_loss=loss, step=steps), context=VOCAB)
    assert top(found) == "data_outlier"
    (outlier,) = [h for h in found.hypotheses if h.cause == "data_outlier"]
    assert outlier.evidence[0].startswith("3 isolated loss spike(s)")


def test_a_memorised_loss_near_zero_bouncing_per_batch_is_not_a_climb():
    """A wide MLP memorising 300 noisy samples (the accel generator): single-batch losses sit
    near 0 and bounce to 0.2 on the batches it has not memorised yet, while validation climbs
    from 2.9 to 12. Relative to a minimum of 1e-5 that bounce is a 2,000% climb; against the
    loss's floor (5% of where it started) it is not, and the run is overfitting."""
    rng = np.random.default_rng(1)
    steps = np.arange(0, 600)
    train = 2.5 * np.exp(-steps / 15) + np.abs(rng.normal(0, 0.002, 600))
    bounce = rng.random(600) < 0.3
    train[bounce] += rng.uniform(0.05, 0.25, bounce.sum())
    train[int(np.argmin(train))] = 4e-6
    val = np.full(600, np.nan)
    val[25::25] = 2.9 + 9.0 * (1 - np.exp(-steps[25::25] / 250))
    found = diagnose(history(train_loss=train, val_loss=val, lr=np.full(600, 3e-3),
                             step=steps))
    assert top(found) == "overfitting"
    assert found.evidence.loss.rise_after_min_rel < 1.0
    assert found.strengths["lr_too_high"] < found.strengths["overfitting"]


def test_a_loss_that_blew_up_at_once_and_never_learned_is_the_step_size_not_the_warmup():
    """RMSprop at 0.05 on a 10-class conv net: the loss jumps to 195 at step 4 and then sits
    at ln(10) for the rest of the run, the model collapsed to a uniform guess. A missing
    warmup spikes the first steps of a run that then learns; this one never did. The same
    spike followed by a normal fall stays a warmup problem."""
    rng = np.random.default_rng(3)
    steps = np.arange(0, 300, 4)
    stuck = 2.31 + rng.normal(0, 0.015, len(steps))
    stuck[1], stuck[4] = 195.0, 4.9
    lr = np.full(len(steps), 0.05)
    found = diagnose(history(train_loss=stuck, lr=lr, step=steps))
    assert top(found) == "lr_too_high"
    assert any("never got below where it started" in e for e in found.top.evidence)
    learned = stuck.copy()
    learned[8:] = 0.9 + 1.4 * np.exp(-(steps[8:] - 32) / 60) + rng.normal(0, 0.015, len(steps) - 8)
    assert top(diagnose(history(train_loss=learned, lr=lr, step=steps))) == \
        "insufficient_warmup"


def test_validation_swinging_after_an_early_spike_is_not_a_run_stable_after_its_first_steps():
    """An early spike and then validation thrown 5-10x up and back down twice: the step size
    is too large throughout, so the warmup finding no longer says the run is stable after its
    first steps and weighs less than with a validation loss that falls smoothly."""
    rng = np.random.default_rng(4)
    steps = np.arange(0, 500, 4)
    train = 2.0 + 0.3 * np.exp(-steps / 50) + rng.normal(0, 0.1, len(steps))
    train[2] = 516.0
    marks = [15, 30, 45, 60, 75, 90, 105, 120]
    findings = {}
    for name, values in (("swinging", [7.99, 3.6, 2.26, 2.13, 10.1, 1.81, 21.5, 1.96]),
                         ("smooth", [7.99, 3.6, 2.26, 2.13, 2.05, 2.0, 1.98, 1.96])):
        val = np.full(len(steps), np.nan)
        val[marks] = values
        findings[name] = diagnose(history(train_loss=train, val_loss=val,
                                          lr=np.full(len(steps), 0.05), step=steps))
    swinging, smooth = findings["swinging"], findings["smooth"]
    assert swinging.strengths["insufficient_warmup"] < 0.7 * smooth.strengths["insufficient_warmup"]
    said = " ".join(e for h in swinging.hypotheses if h.cause == "insufficient_warmup"
                    for e in h.evidence)
    assert "stable" not in said
    assert "stable" in " ".join(smooth.top.evidence)


def test_a_bottleneck_model_whose_validation_stopped_on_train_is_underfitting():
    """A 10-class classifier through a 2-wide layer (Lightning, one single-batch loss in ten
    steps): the loss learns 15% of ln(10) and scatters too much to show a plateau, but
    validation fell and then stopped on top of it. A run whose validation keeps falling is
    not."""
    rng = np.random.default_rng(10)
    steps = np.arange(9, 600, 10)
    train = 1.98 + 0.35 * np.exp(-steps / 40) + rng.normal(0, 0.07, len(steps))
    val = np.full(len(steps), np.nan)
    at = np.arange(9, len(steps), 10)
    val[at] = 2.0 + 0.5 * np.exp(-steps[at] / 80)
    found = diagnose(history(train_loss=train, val_loss=val, step=steps))
    assert top(found) == "underfitting"
    still_falling = val.copy()
    still_falling[at] = 2.2 - 0.35 * steps[at] / 600
    train_falling = 2.2 - 0.35 * steps / 600 + rng.normal(0, 0.07, len(steps))
    assert top(diagnose(history(train_loss=train_falling, val_loss=still_falling,
                                step=steps))) != "underfitting"


def test_a_first_jump_on_the_pass_boundary_is_the_data_order_not_a_blow_up():
    """A byte-level GRU over lines sorted by length, unshuffled (the accel generator): every
    pass starts on the shortest lines and the loss jumps there, every 54 steps. The first
    jump doubles a loss that is still high, which alone reads as a blow-up that makes any
    curve wander; on the pass boundary where the later jumps recur, it is the same pattern."""
    rng = np.random.default_rng(2)
    steps = np.arange(0, 600, 2)
    loss = 2.1 + 3.4 * np.exp(-steps / 40) + rng.normal(0, 0.04, len(steps))
    for start in range(56, 600, 54):
        at = np.searchsorted(steps, start)
        loss[at:at + 2] *= 2.05 if start == 56 else 1.7
    epoch = steps / 54.0
    val = np.full(len(steps), np.nan)
    val[15::15] = 2.1 + 3.0 * np.exp(-steps[15::15] / 60)
    found = diagnose(history(train_loss=loss, val_loss=val, epoch=epoch, step=steps))
    assert found.evidence.loss.early_rise_rel >= 1.0
    assert top(found) == "data_not_shuffled"
    assert "blew up" not in " ".join(found.top.evidence)


def test_a_run_that_learned_little_names_a_capacity_limit_first_among_the_alternatives():
    """Lightning-style single-batch losses through a narrow model: the loss learned 15% of its
    start and its scattered tail still wanders, so no rule proves a plateau and "healthy"
    leads; validation, averaged over its batches, sits on train and has stopped. A capacity
    limit is then the alternative to check first, ahead of what a coarse log cannot show."""
    rng = np.random.default_rng(29)
    steps = np.arange(4, 600, 5)
    train = 2.0 + 0.35 * np.exp(-steps / 60) + rng.normal(0, 0.12, len(steps))
    val = np.full(len(steps), np.nan)
    at = np.arange(19, len(steps), 20)
    val[at] = 2.02 + 0.08 * np.exp(-steps[at] / 150)
    found = diagnose(history(train_loss=train, val_loss=val, epoch=steps / 60, step=steps))
    ranked = [h.cause for h in found.hypotheses]
    assert ranked[0] == "healthy" and ranked[1] == "underfitting"
    (hint,) = [h for h in found.hypotheses if h.cause == "underfitting"]
    assert "after learning only" in " ".join(hint.evidence)


def test_a_flat_run_whose_validation_gap_is_as_wide_as_its_fall_is_a_fine_tune():
    # a fine-tune settling: 6% learned in the log, then flat at 90% of its peak LR, with
    # validation 4% above train; a fresh model's validation starts on train, so that gap was
    # opened before the log began (a model that cannot learn keeps validation on train)
    steps = np.arange(10, 401, 10)
    smooth = 2.5 - 0.13 * np.minimum(steps / 160, 1)
    train = smooth + np.random.default_rng(3).normal(0, 0.01, len(steps))
    lr = np.where(steps < 16, 4e-4 * steps / 16, 4e-4 - 3.6e-4 * (steps - 16) / 384)
    evals = steps % 40 == 0

    def run(gap: float):
        val = np.where(evals, smooth * (1 + gap), np.nan)
        return diagnose(history(step=steps, train_loss=train, val_loss=val, lr=lr,
                                grad_norm=np.full(len(steps), 1.2)))

    fine_tune = run(0.042)
    assert top(fine_tune) == "healthy"
    too_small = next(h for h in fine_tune.hypotheses if h.cause == "lr_too_low")
    assert any("as far as the loss fell in this log" in s for s in too_small.evidence)
    assert top(run(0.0)) == "lr_too_low"  # validation on train: the step size is too small


def test_a_first_loss_far_under_ln_vocab_after_almost_no_lr_starts_a_fine_tune_there():
    # the same settling fine-tune, with its vocabulary known: it starts at 60% of ln(65)
    # after 10 steps of warmup at <= 2.5e-4, so the model was trained before the log; the
    # fall is measured from its first loss (5%), not from ln(65) (40%, "most of it early,
    # then a plateau": a model at its capacity)
    steps = np.arange(10, 401, 10)
    smooth = 2.5 - 0.13 * np.minimum(steps / 160, 1)
    train = smooth + np.random.default_rng(3).normal(0, 0.01, len(steps))
    lr = np.where(steps < 16, 4e-4 * steps / 16, 4e-4 - 3.6e-4 * (steps - 16) / 384)
    val = np.where(steps % 40 == 0, smooth * 1.042, np.nan)
    columns = dict(step=steps, train_loss=train, val_loss=val, grad_norm=np.full(len(steps), 1.2))
    result = diagnose(history(lr=lr, **columns), context=VOCAB)
    assert result.evidence.trained_start
    assert result.evidence.loss.decrease_rel < 0.1
    assert top(result) == "healthy"
    assert any("a model trained before this log" in s for s in result.top.evidence)
    # a fresh model that spent 100x the LR before its first log may have got there itself
    assert not diagnose(history(lr=lr * 100, **columns), context=VOCAB).evidence.trained_start
    # with no LR logged, 60% of ln(vocab) is not far enough under it to tell; 40% is
    assert not diagnose(history(**columns), context=VOCAB).evidence.trained_start
    columns["train_loss"] = train * 0.66
    assert diagnose(history(**columns), context=VOCAB).evidence.trained_start


def test_validation_flat_for_most_of_the_run_dates_the_plateau_that_train_scatter_hides():
    # a small model at its limit from step 150 on: validation stays within 2% of 1.43 for
    # three quarters of the run, while single-batch train losses scatter 3% around it and
    # put the train curve's own plateau late
    steps = np.arange(10, 601, 10)
    smooth = 1.42 + 1.2 * np.exp(-steps / 40)
    train = smooth + np.random.default_rng(5).normal(0, 0.04, len(steps))
    lr = np.where(steps < 40, 0.01 * steps / 40, 0.01)
    evals = steps % 50 == 0

    def run(val: np.ndarray):
        return diagnose(history(step=steps, train_loss=train, val_loss=val, lr=lr,
                                grad_norm=np.full(len(steps), 0.9)))

    stopped = run(np.where(evals, smooth + 0.005, np.nan))
    assert top(stopped) == "underfitting"
    assert "validation has stayed within 2.0% of 1.43 since step 150" in stopped.top.evidence[0]
    # validation still falling 8% over the run: still learning, not at its limit
    assert top(run(np.where(evals, smooth + 0.12 * (1 - steps / 600), np.nan))) == "healthy"


def test_validation_still_falling_by_the_bar_is_a_model_still_learning_under_a_flat_train_curve():
    # an averaged train loss (HF logs the mean over its logging interval) flat from mid-run
    # at a constant LR, while validation still falls 3.9% over the last 40%: still learning
    steps = np.arange(10, 301, 10)
    train = 2.6 + 1.5 * np.exp(-steps / 35) + np.random.default_rng(7).normal(0, 0.01, len(steps))
    lr = np.where(steps < 30, 1e-3 * steps / 30, 1e-3)
    evals = steps % 30 == 0

    def run(val: np.ndarray):
        return diagnose(history(step=steps, train_loss=train, val_loss=np.where(evals, val, np.nan),
                                lr=lr, grad_norm=np.full(len(steps), 1.2)))

    assert top(run(2.5 + np.exp(-steps / 50) + 0.2 * (1 - steps / 300))) == "healthy"
    # validation stopped with train: a capacity limit
    assert top(run(2.55 + np.exp(-steps / 50))) == "underfitting"


def test_three_spikes_a_pass_apart_must_keep_their_place_in_the_pass_to_be_the_data_order():
    # logged every 5 steps, 92 steps per pass: bad batches every 100 steps drift 8 steps a
    # pass (a regular injection, not the same data), spikes every 92 steps keep their place
    steps = np.arange(4, 600, 5)
    base = healthy_loss(steps, seed=9)

    def spiked(at: list[int]):
        loss = base.copy()
        for position in at:
            loss[np.argmin(np.abs(steps - position))] *= 8
        return diagnose(history(step=steps, train_loss=loss, epoch=steps / 92))

    drifting = spiked([284, 384, 484])
    assert top(drifting) == "data_outlier"
    assert not any("recur every" in s for h in drifting.hypotheses for s in h.evidence)
    assert top(spiked([184, 276, 368])) == "data_not_shuffled"
