"""Engine building blocks: model size and init, schedules, tokenizers, data order, checkpoints,
early warnings, summary verdicts, control. No training loop here (see test_engine_training)."""

from __future__ import annotations

import math
import random
import threading
import time

import numpy as np
import pytest
import torch

from nt_tui.analysis.early_warnings import EarlyWarningDetector
from nt_tui.config.defaults import builtin_param_count
from nt_tui.config.schema import BUILTIN_SIZES
from nt_tui.engine import checkpoint as ckpt
from nt_tui.engine.control import TrainingControl, leave_after_runs
from nt_tui.engine.data import TokenWindows, TrainBatches, validation_batches
from nt_tui.engine.model import GPT, INIT_STD, GPTShape
from nt_tui.engine.schedules import Schedule
from nt_tui.engine.silent_checks import SilentChecks
from nt_tui.engine.summary import Curves, recommend
from nt_tui.engine.tokenizer import ByteTokenizer, CharTokenizer, tokenizer_from_state
from nt_tui.errors import NtTuiError

# ------------------------------------------------------------------------------ model

@pytest.mark.parametrize("size", ["nano", "micro", "tiny", "small"])
@pytest.mark.parametrize("positional,tied", [("learned", True), ("rotary", False)])
def test_param_count_matches_the_config_formula(size, positional, tied):
    n_layer, n_head, n_embd = BUILTIN_SIZES[size]
    shape = GPTShape(n_layer, n_head, n_embd, vocab_size=65, seq_len=64,
                     positional=positional, tie_embeddings=tied)
    model = GPT(shape)
    assert model.num_parameters() == builtin_param_count(n_layer, n_embd, 65, 64, positional,
                                                         tied)


def test_base_size_is_gpt2_small():
    n_layer, _, n_embd = BUILTIN_SIZES["base"]
    count = builtin_param_count(n_layer, n_embd, 50257, 1024, "learned", True)
    assert 123e6 < count < 126e6


def test_init_scales_residual_projections():
    torch.manual_seed(0)
    model = GPT(GPTShape(8, 4, 256, vocab_size=100, seq_len=16))
    proj = torch.cat([b.attn.c_proj.weight.flatten() for b in model.blocks])
    fc = torch.cat([b.mlp.c_fc.weight.flatten() for b in model.blocks])
    assert proj.std().item() == pytest.approx(INIT_STD / math.sqrt(16), rel=0.05)
    assert fc.std().item() == pytest.approx(INIT_STD, rel=0.05)
    assert model.lm_head.weight is model.wte.weight


def test_rotary_model_is_causal():
    torch.manual_seed(0)
    model = GPT(GPTShape(2, 2, 32, vocab_size=20, seq_len=12, positional="rotary")).eval()
    ids = torch.randint(0, 20, (1, 12))
    changed = ids.clone()
    changed[0, -1] = (ids[0, -1] + 1) % 20
    with torch.no_grad():
        assert torch.allclose(model(ids)[0, :-1], model(changed)[0, :-1], atol=1e-6)


def test_bad_shape_is_a_user_error():
    with pytest.raises(NtTuiError, match="not divisible"):
        GPT(GPTShape(1, 5, 32, vocab_size=10, seq_len=8))


# -------------------------------------------------------------------------- schedules

def test_cosine_warmup_formula():
    s = Schedule("cosine", peak_lr=1.0, total_steps=110, warmup_steps=10, min_lr=0.1)
    assert s.lr_at(0) == pytest.approx(0.1)
    assert s.lr_at(9) == pytest.approx(1.0)
    assert s.lr_at(10) == pytest.approx(1.0)
    for step in (30, 60, 90):
        progress = (step - 10) / 99
        assert s.lr_at(step) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
    assert s.lr_at(109) == pytest.approx(0.1)


def test_linear_constant_and_final_decay():
    linear = Schedule("linear", 2.0, total_steps=101, warmup_steps=0, min_lr=0.0)
    assert linear.lr_at(50) == pytest.approx(1.0)
    assert linear.lr_at(100) == pytest.approx(0.0)
    constant = Schedule("constant", 3e-4, total_steps=100, warmup_steps=5)
    assert constant.lr_at(2) == pytest.approx(3e-4 * 3 / 5)
    assert constant.lr_at(99) == 3e-4
    wsd = Schedule("constant_with_final_decay", 1.0, total_steps=100, warmup_steps=0,
                   min_lr=0.0, decay_fraction=0.2)
    assert wsd.decay_start == 80
    assert wsd.lr_at(79) == 1.0
    assert wsd.lr_at(80) == 1.0
    assert wsd.lr_at(99) == pytest.approx(0.0)
    assert wsd.lr_at(89) == pytest.approx(1 - 9 / 19)


# -------------------------------------------------------------------- tokenizers, data

def test_tokenizers_round_trip():
    char = CharTokenizer.from_texts("hello", "world!")
    assert char.decode(char.encode("hello world!".replace(" ", ""))) == "helloworld!"
    assert tokenizer_from_state(char.state()) == char
    with pytest.raises(NtTuiError, match="not in the run's vocabulary"):
        char.encode("xyz")
    byte = ByteTokenizer()
    assert byte.decode(list(byte.encode("héllo"))) == "héllo"


def test_batches_are_deterministic_and_split_between_ranks():
    tokens = torch.arange(10_000) % 251
    windows = TokenWindows(tokens.to(torch.uint8), seq_len=16, seed=3, name="t")
    single = TrainBatches(windows, batch_size=8, seed=3)
    again = TrainBatches(windows, batch_size=8, seed=3)
    x, y = single.batch(5)
    assert torch.equal(x, again.batch(5)[0])
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the next tokens
    rank0 = TrainBatches(windows, batch_size=4, seed=3, world_size=2, rank=0)
    rank1 = TrainBatches(windows, batch_size=4, seed=3, world_size=2, rank=1)
    assert torch.equal(torch.cat([rank0.batch(5)[0], rank1.batch(5)[0]]), x)
    # A new epoch reshuffles and shifts the windows.
    later = single.batch(single.per_epoch)[0]
    assert not torch.equal(later, single.batch(0)[0])


def test_validation_batches_are_fixed_and_cover_the_set():
    windows = TokenWindows(torch.arange(5000) % 200, seq_len=10, seed=0, name="v")
    first = validation_batches(windows, batch_size=8, max_batches=3)
    assert len(first) == 3
    assert torch.equal(first[0][0], validation_batches(windows, 8, 3)[0][0])
    assert first[-1][0].max() > first[0][0].max() or first[-1][0][0, 0] != first[0][0][0, 0]


def test_too_little_data_is_a_user_error():
    with pytest.raises(NtTuiError, match="fewer than"):
        TokenWindows(torch.arange(10), seq_len=16, seed=0, name="data.train")


# ------------------------------------------------------------------------ checkpoints

def test_checkpoint_round_trip_with_weights_only(tmp_path):
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    state = {"format": ckpt.CHECKPOINT_FORMAT, "rng": [ckpt.rng_state()],
             "weights": torch.ones(3)}
    expected = (random.random(), float(np.random.rand()), torch.rand(1).item())
    ckpt.save_atomic(state, tmp_path / "c" / ckpt.step_name(7))
    loaded = ckpt.load_checkpoint(tmp_path / "c" / "step_00000007.pt")
    ckpt.restore_rng_state(loaded["rng"][0])
    assert (random.random(), float(np.random.rand()), torch.rand(1).item()) == expected
    assert not list((tmp_path / "c").glob(".*.tmp"))


def test_prune_keeps_last_k_and_best(tmp_path):
    for step in (10, 20, 30, 40):
        (tmp_path / ckpt.step_name(step)).write_bytes(b"x")
    (tmp_path / ckpt.BEST_NAME).write_bytes(b"x")
    ckpt.prune(tmp_path, keep_last=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "best.pt", "step_00000030.pt", "step_00000040.pt"]
    assert ckpt.latest_checkpoint(tmp_path).name == "step_00000040.pt"


def test_failed_save_leaves_the_previous_file(tmp_path):
    target = tmp_path / "step_00000001.pt"
    ckpt.save_atomic({"format": 1, "value": torch.zeros(1)}, target)
    with pytest.raises((AttributeError, TypeError)):
        ckpt.save_atomic({"format": 1, "bad": lambda: 0}, target)  # cannot be pickled
    assert ckpt.load_checkpoint(target)["value"].item() == 0
    assert [p.name for p in tmp_path.iterdir()] == ["step_00000001.pt"]


def test_foreign_checkpoint_is_refused(tmp_path):
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(NtTuiError, match="not an nt-tui checkpoint"):
        ckpt.load_checkpoint(tmp_path / "other.pt")


# ---------------------------------------------------------------------- early warnings

def _records(losses, start=10, every=10, **extra):
    return [{"step": start + i * every, "train_loss": loss, **extra}
            for i, loss in enumerate(losses)]


def test_loss_spike_and_grad_spike():
    detector = EarlyWarningDetector()
    events = []
    for i, record in enumerate(_records([3.0, 2.9, 2.8, 2.7, 6.5, 2.6])):
        record["grad_norm"] = 50.0 if i == 5 else 1.0
        events += detector.update(record)
    codes = [(e["code"], e["step"]) for e in events]
    assert codes == [("loss_spike", 50), ("grad_spike", 60)]
    spike = events[0]
    assert spike["values"]["ratio"] > 2 and spike["knowledge"] == "common-failures.md#loss-spikes"
    assert spike["kind"] == "warning" and spike["severity"] == "warning"


def test_nan_is_critical_and_never_cooled_down():
    detector = EarlyWarningDetector()
    first = detector.update({"step": 10, "train_loss": math.nan})
    second = detector.update({"step": 20, "train_loss": 1.0, "nonfinite_steps": 3})
    assert [e["code"] for e in first + second] == ["nan_inf", "nan_inf"]
    assert first[0]["severity"] == "critical"


def test_overfitting_needs_val_rising_while_train_falls():
    detector = EarlyWarningDetector()
    events = []
    for step, train, val in [(100, 2.0, 2.1), (200, 1.8, 2.0), (300, 1.6, 2.03), (400, 1.4, 2.2)]:
        events += detector.update({"step": step, "train_loss": train, "train_loss_avg": train,
                                   "val_loss": val})
    assert [e["code"] for e in events] == ["overfitting"]
    assert events[0]["values"]["best_step"] == 200 and events[0]["step"] == 400


def test_lr_near_zero_with_steps_remaining():
    detector = EarlyWarningDetector(total_steps=1000)
    assert detector.update({"step": 10, "lr": 1e-3}) == []
    events = detector.update({"step": 500, "lr": 1e-6})
    assert [e["code"] for e in events] == ["lr_near_zero"]
    assert EarlyWarningDetector(total_steps=1000).update({"step": 950, "lr": 0.0}) == []


def test_cooldown_suppresses_repeats():
    detector = EarlyWarningDetector(cooldown_records=3)
    fired = []
    for record in _records([3.0, 3.0, 3.0, 9.0, 9.0, 9.0, 9.0, 9.0]):
        fired += [e["step"] for e in detector.update(record)]
    assert fired == [40, 70]


# ------------------------------------------------------------------------ silent checks

def _checked_step(model, lr, *, grad_scale=1.0, scale_update=1.0, skip_param=None):
    """One real SGD step of `model` around SilentChecks, as the engine runs them."""
    checks = SilentChecks(model, Schedule("constant", 0.1, total_steps=100), every=1)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr * scale_update)
    torch.manual_seed(0)
    loss = model(torch.randn(16, 8)).square().mean() * grad_scale
    loss.backward()
    if skip_param is not None:
        skip_param.grad = None  # as if detached from the loss
    checks.before_step()
    optimizer.step()
    norm = float(torch.nn.utils.get_total_norm(
        [p.grad for p in model.parameters() if p.grad is not None]))
    return {e["code"]: e for e in checks.after_step(1, norm, lr, step_was_finite=True)}


def test_silent_checks_pass_a_healthy_step():
    torch.manual_seed(0)
    assert _checked_step(torch.nn.Linear(8, 4), lr=0.1, scale_update=0.01) == {}


def test_silent_checks_find_frozen_params_zero_grads_and_an_off_schedule_lr():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 4))
    found = _checked_step(model, lr=0.1, scale_update=0.01, skip_param=model[0].weight)
    assert found["params_frozen"]["values"]["frozen"] == 1.0
    assert "0.weight" in found["params_frozen"]["message"]
    assert found["params_frozen"]["severity"] == "critical"
    zero = _checked_step(torch.nn.Linear(8, 4), lr=0.1, grad_scale=0.0)
    assert set(zero) == {"zero_grads"} and zero["zero_grads"]["step"] == 1
    off = _checked_step(torch.nn.Linear(8, 4), lr=0.05, scale_update=0.02)
    assert off["lr_off_schedule"]["values"] == {"lr": 0.05, "expected_lr": 0.1}


def test_update_ratio_far_from_1e_3_is_reported_both_ways():
    torch.manual_seed(0)
    big = _checked_step(torch.nn.Linear(8, 4), lr=0.1, scale_update=1000.0)
    assert big["update_ratio"]["values"]["update_ratio"] > 0.1
    assert big["update_ratio"]["knowledge"] == "common-failures.md#learning-rate-too-high"
    small = _checked_step(torch.nn.Linear(8, 4), lr=0.1, scale_update=1e-6)
    assert small["update_ratio"]["values"]["update_ratio"] < 1e-5
    assert small["update_ratio"]["knowledge"] == "common-failures.md#learning-rate-too-low"


# --------------------------------------------------------------------- summary verdicts

def test_recommendations():
    steps = range(10, 1010, 10)
    healthy = Curves(train=[(s, 2.0 + 3.0 * math.exp(-s / 100)) for s in steps],
                     val=[(s, 2.1 + 3.0 * math.exp(-s / 100)) for s in steps[::10]])
    assert recommend(healthy)["verdict"] == "converged_well"
    over = Curves(train=healthy.train, val=[(200, 2.5), (400, 2.2), (600, 2.4), (800, 2.6)])
    advice = recommend(over)
    assert advice["verdict"] == "overfitting" and advice["stop_at_step"] == 400
    falling = Curves(train=[(s, 5.0 - s / 500) for s in steps])
    assert recommend(falling)["verdict"] == "underfitting"
    # still falling when stopped at step 1000 of 2000: finish the run, not "underfitting"
    early = recommend(falling, planned_steps=2000)
    assert early["verdict"] == "stopped_early" and "--resume" in early["message"]
    assert recommend(falling, planned_steps=1000)["verdict"] == "underfitting"
    assert recommend(healthy, failed_nan=True)["verdict"] == "unstable"
    assert recommend(Curves(train=healthy.train, warnings={"loss_spike": 3}))["verdict"] == \
        "unstable"


# ---------------------------------------------------------------------------- control

def test_training_control_from_another_thread():
    control = TrainingControl()
    control.pause()
    assert control.paused
    threading.Timer(0.05, control.resume).start()
    started = time.perf_counter()
    assert control.wait_while_paused(2.0)
    assert time.perf_counter() - started < 1.5 and not control.paused
    control.checkpoint_now()
    assert control.take_checkpoint_request() and not control.take_checkpoint_request()
    control.pause()
    control.stop("because")
    assert control.stop_requested and not control.paused and control.stop_reason == "because"


def test_after_a_hang_up_the_process_leaves_only_once_its_runs_have_written_their_checkpoint():
    """The watchdog of the app's hang-up: while a run is still active (its final checkpoint not
    yet written) it must not end the process; once the run has left, it waits out the grace
    period for the app to close itself, then leaves with exit code 0."""
    control = TrainingControl()
    control.enter_run()
    left: list[int] = []
    try:
        watchdog = leave_after_runs(grace=0.2, leave=left.append)
        time.sleep(0.5)
        assert left == [] and watchdog.is_alive()  # the run is still writing
    finally:
        control.leave_run()
    ended = time.monotonic()
    watchdog.join(timeout=5)
    assert left == [0]
    assert time.monotonic() - ended >= 0.15  # the app got its grace period first

