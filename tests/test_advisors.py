"""The four advisors: the response format, the numbers they compute, the rules they apply,
the inputs they read from a question, and the run events that call the diagnostician."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from nt_tui.advisors import AdvisorInputs, answer_with, ask, extract_inputs
from nt_tui.advisors.activation import offer_for_event, offers_for_events
from nt_tui.advisors.base import advisor_info
from nt_tui.analysis.early_warnings import EarlyWarningDetector
from nt_tui.errors import NtTuiError
from nt_tui.knowledge import load_knowledge
from nt_tui.runfmt import RunWriter


def _answer(text: str, advisor: str | None = None, **options):
    return ask(text, advisor=advisor, options=AdvisorInputs(**options) if options else None)


def _cited_sections_exist(answer) -> None:
    kb = load_knowledge()
    assert answer.citations
    for link in answer.citations:
        kb.section(link)  # raises if the heading does not exist


# -- the response format -------------------------------------------------------------------

def test_every_advisor_answers_in_the_response_format():
    questions = {"diagnostician": "my loss went to nan after 3k steps",
                 "scaling": "compute-optimal model for 1e21 FLOPs",
                 "optimization": "learning rate for a 350M model, 20k steps",
                 "finetuning": "LoRA for a 7B model on one 24GB GPU with 50k examples"}
    for advisor, text in questions.items():
        result = ask(text)
        answer = result.answer
        assert answer.advisor == advisor == result.routing.advisor
        assert answer.observed and answer.recommendation and answer.action and answer.verify
        assert 0 < answer.confidence <= 1 and answer.confidence_label in ("high", "medium")
        assert answer.numbers, f"{advisor} shows the numbers it computed"
        assert answer.matched_terms
        _cited_sections_exist(answer)
        text_out = answer.render_text()
        for heading in ("Observed", "(confidence:", "Action", "Verify", "Numbers", "Sources"):
            assert heading in text_out, (advisor, heading)
        markdown = answer.render_markdown()
        assert f"[{answer.citations[0]}]({answer.citations[0]})" in markdown
        json.dumps(answer.to_dict())


def test_advisor_names_and_aliases():
    assert advisor_info("Scaling advisor").id == "scaling"
    assert advisor_info("guru").id == "optimization"
    assert advisor_info("fine-tuning").id == "finetuning"
    with pytest.raises(NtTuiError):
        advisor_info("oracle")


def test_empty_question_is_a_user_error():
    with pytest.raises(NtTuiError):
        ask("   ")


def test_unrouted_question_returns_knowledge_hits():
    result = ask("what is RoPE")
    assert result.answer is None
    assert result.hits and result.hits[0].link == "transformer-training.md#rope"


# -- reading the question ------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("my loss went to nan after 3k steps", {"at_step": 3000}),
    ("fine-tune a 7B model on 50k examples with one 24GB GPU",
     {"params": 7e9, "examples": 5e4, "gpu_memory_gb": 24, "gpus": 1}),
    ("I have 8 A100s for 2 weeks and 300B tokens",
     {"gpus": 8, "gpu_type": "A100", "gpu_memory_gb": 80, "hours": 336,
      "dataset_tokens": 3e11}),
    ("four H100s for ten days", {"gpus": 4, "hours": 240, "gpu_type": "H100"}),
    ("1000 GPU-hours on H100", {"gpu_hours": 1000, "gpu_type": "H100"}),
    ("compute budget 5e20 FLOPs", {"compute": 5e20}),
    ("batch size from 256 to 1024, lr=3e-4", {"batch_size": 256, "new_batch_size": 1024,
                                             "lr": 3e-4}),
    ("global batch of 1M tokens, micro-batch 8, 2048-token sequences",
     {"batch_tokens": 1e6, "micro_batch": 8, "seq_len": 2048}),
    ("a 124M parameter model, 5000 steps, in fp16 with adamw",
     {"params": 1.24e8, "steps": 5000, "precision": "fp16", "optimizer": "adamw"}),
    ("llama-2-13b on a 40GB A100", {"params": 13e9, "gpu_memory_gb": 40}),
])
def test_numbers_are_read_from_the_question(text: str, expected: dict):
    found = extract_inputs(text).known()
    for key, value in expected.items():
        assert found.get(key) == pytest.approx(value) if isinstance(value, float) or \
            isinstance(value, int) else found.get(key) == value, (key, found)
    assert "params" not in found or "params" in expected


def test_options_override_the_question():
    result = ask("LoRA for a 7B model", options=AdvisorInputs(params=13e9, gpu_memory_gb=48))
    assert result.inputs.params == 13e9 and result.inputs.source_of("params") == "option"
    assert "13B" in result.answer.observed[0]


# -- diagnostician ---------------------------------------------------------------------------

def test_nan_after_warmup_points_to_numerical_instability_first():
    answer = ask("my loss went to nan after 3k steps").answer
    assert answer.advisor == "diagnostician" and answer.headline_label == "Likely cause"
    assert answer.recommendation.startswith("Numerical instability")
    assert answer.number("step of the problem").value == "3,000"
    assert answer.number("warmup ends by").value == "2,000 steps"
    assert any("Exploding gradients" in a for a in answer.alternatives)
    assert "common-failures.md#nan-or-inf-loss" in answer.citations
    assert answer.confidence <= 0.6  # nothing measured
    fix = load_knowledge().section("common-failures.md#numerical-instability").part("Fix")
    assert answer.action == fix[:3]


def test_clues_change_the_ranking():
    early = ask("loss spikes in the first steps with no warmup").answer
    assert early.recommendation.startswith("Insufficient warmup")
    high = ask("loss diverges right after warmup ends, lr 3e-3 on a 124M model").answer
    assert high.recommendation.startswith("Learning rate too high")
    assert high.number("ratio to the table").value == "5x"
    normal = ask("NaN loss but the gradient norm was normal, fp16").answer
    assert normal.recommendation.startswith("Numerical instability")
    bug = ask("the loss is exactly the same every step, what's wrong").answer
    assert bug.recommendation.startswith("Silent error")


def test_no_symptom_asks_for_more():
    answer = answer_with("diagnostician", extract_inputs("diagnose my run please"))
    assert answer.confidence == 0 and "--run" in answer.recommendation


def _nan_run(tmp_path: Path) -> Path:
    run = tmp_path / "nan-run"
    detector = EarlyWarningDetector()
    with RunWriter(run) as writer:
        writer.log_event("start", 0, "training started")
        for step in range(1, 61):
            loss = 4.0 * math.exp(-step / 20) + 1.0 if step < 45 else math.nan
            grad = 1.0 + (0 if step < 40 else 10 ** (step - 39))
            record = {"step": step, "train_loss": loss, "grad_norm": grad, "lr": 1e-3}
            writer.log_metrics(record)
            for event in detector.update(record):
                writer.log_event(event.pop("kind"), event.pop("step"), event.pop("message"),
                                 **event)
    return run


def test_diagnostician_measures_a_run_and_its_events_offer_it(tmp_path: Path):
    run = _nan_run(tmp_path)
    result = ask("", run=run)
    assert result.answer.advisor == "diagnostician"
    assert any(offer.symptom == "loss_nan" for offer in result.offers)
    answer = result.answer
    assert answer.observed[0].startswith(str(run))
    assert answer.number("first NaN/Inf").value.startswith("step 4")
    assert answer.recommendation.split(".")[0] in ("Exploding gradients",
                                                   "Numerical instability",
                                                   "Learning rate too high")
    assert any(line.startswith("Run warning: Loss became NaN") for line in answer.observed)


def test_event_offers_follow_the_seed_table():
    nan = offer_for_event({"kind": "warning", "code": "nan_inf", "step": 3000,
                           "message": "train loss is NaN",
                           "knowledge": "common-failures.md#nan-or-inf-loss"})
    assert nan.advisor == "diagnostician" and nan.symptom == "loss_nan"
    assert nan.question.startswith("Loss became NaN or Inf at step 3,000")
    assert offer_for_event({"kind": "warning", "code": "grad_spike"}).symptom == \
        "gradient_explosion"
    assert offer_for_event({"kind": "warning", "code": "overfitting"}).symptom == "overfitting"
    assert offer_for_event({"kind": "warning", "code": "lr_near_zero"}).symptom == \
        "loss_plateau"
    assert offer_for_event({"kind": "warning", "code": "lr_off_schedule"}) is None
    assert offer_for_event({"kind": "checkpoint", "step": 5}) is None
    events = [{"kind": "warning", "code": "loss_spike", "step": 5},
              {"kind": "warning", "code": "loss_spike", "step": 9},
              {"kind": "warning", "code": "nan_inf", "step": 12}]
    assert [o.step for o in offers_for_events(events)] == [5, 12]


# -- scaling advisor -----------------------------------------------------------------------

def test_scaling_budget_gives_the_chinchilla_allocation():
    answer = ask("what is the compute-optimal model size for 1e21 FLOPs?").answer
    assert answer.advisor == "scaling"
    assert answer.number("compute-optimal parameters").value == "2.89B"
    assert answer.number("compute-optimal tokens").value == "57.7B"
    assert answer.number("A100-hours").value == "2,226"
    assert answer.confidence_label == "high"
    assert "scaling-laws.md#compute-optimal-table" in answer.citations


def test_scaling_gpu_budget_states_its_assumptions():
    answer = ask("I have 8 A100s for 2 weeks, how big a model should I train?").answer
    assert answer.number("GPU-hours").value == "2,688"
    compute = 2688 * 3600 * 312e12 * 0.4
    assert answer.number("compute budget").value == f"{compute:.3g} FLOPs"
    assert any("MFU" in a or "utilisation" in a for a in answer.assumptions)
    assert answer.confidence_label == "medium"


def test_scaling_warns_when_the_data_would_repeat_too_often():
    answer = answer_with("scaling", AdvisorInputs(compute=1e22, dataset_tokens=20e9))
    assert answer.number("epochs over your data").value == "9.13"
    assert answer.recommendation.startswith("Your data is the limit")
    assert answer.number("largest model within 4 epochs").value == "4B"
    assert "scaling-laws.md#data-constrained-scaling" in answer.citations


def test_scaling_judges_a_plan():
    under = answer_with("scaling", AdvisorInputs(params=7e9, dataset_tokens=30e9))
    assert under.recommendation.startswith("Under-trained")
    over = answer_with("scaling", extract_inputs("is a 124M model on 10B tokens undertrained?"))
    assert over.recommendation.startswith("Past compute-optimal")
    assert over.number("tokens per parameter").value == "80.6"


def test_scaling_without_numbers_shows_the_table():
    answer = answer_with("scaling", AdvisorInputs(text="tokens per parameter"))
    assert answer.confidence_label == "low" and answer.tables
    assert ("1e+21", "2.89B", "57.7B") in answer.tables[0].rows


# -- optimization guru -----------------------------------------------------------------------

def test_guru_uses_the_size_table_and_warmup_rule():
    answer = ask("what learning rate for a 124M parameter model, 5000 steps").answer
    assert answer.advisor == "optimization"
    assert answer.number("peak learning rate").value == "6.00e-04"
    assert answer.number("weight decay").value == "0.1"
    assert answer.number("warmup steps").value == "500"
    assert answer.number("minimum LR").value == "6.00e-05"
    assert "optimizer.lr: 6.00e-04" in answer.action


def test_guru_scales_the_lr_with_the_batch():
    answer = ask("batch size from 256 to 1024 on a 350M model, how should the lr "
                 "change?").answer
    assert answer.number("Adam LR after the change").value == "6.00e-04"  # 3e-4 x sqrt(4)
    assert answer.number("SGD LR after the change").value == "1.20e-03"   # linear rule
    assert answer.number("beta2 after the change").value == "0.996"
    assert "square-root rule" in answer.recommendation


def test_guru_computes_gradient_accumulation():
    answer = answer_with("optimization", AdvisorInputs(
        params=1.3e9, batch_tokens=1e6, seq_len=2048, micro_batch=8, gpus=8))
    assert answer.number("gradient accumulation steps").value == "8"
    assert answer.number("tokens per optimizer step").value == "1,048,576"
    assert answer.number("betas").value == "(0.9, 0.95)"


def test_guru_lion_and_missing_size():
    lion = ask("should I use lion instead of adamw for a 7B model").answer
    assert lion.recommendation.startswith("Lion") and lion.number("Lion LR range")
    unknown = ask("how long should the warmup be?").answer
    assert unknown.confidence_label == "low" and len(unknown.tables[0].rows) == 5


# -- fine-tuning advisor -------------------------------------------------------------------

def test_lora_for_7b_on_a_24gb_gpu():
    answer = ask("fine-tune a 7B model on 50k examples with one 24GB GPU").answer
    assert answer.advisor == "finetuning"
    assert answer.recommendation.startswith("LoRA")
    assert answer.number("LoRA rank r").value == "16"
    assert answer.number("LoRA alpha").value == "32"
    assert answer.number("adapter parameters").value == "39,976,960"
    assert answer.number("learning rate").value == "2.00e-04"
    rows = {row[0]: row for row in answer.tables[0].rows}
    assert rows["LoRA"][1] == "14.6" and rows["QLoRA"][1] == "4.1"
    assert rows["Full fine-tuning"][4] == "no" and rows["LoRA"][4] == "yes"
    assert any("q_proj" in step and "down_proj" in step for step in answer.action)


def test_qlora_when_only_4_bit_fits():
    answer = ask("can I fine-tune a 70B model on an A100 80GB?").answer
    assert answer.recommendation.startswith("QLoRA")
    assert answer.number("learning rate").value == "1.00e-04"


def test_full_fine_tuning_for_small_models_and_rank_by_task():
    small = answer_with("finetuning", AdvisorInputs(text="fine-tune for classification",
                                                    params=350e6, gpu_memory_gb=24))
    assert small.recommendation.startswith("Full fine-tuning")
    assert small.number("learning rate").value == "2.00e-05"
    assert small.number("LoRA rank r").value == "8"
    code = answer_with("finetuning", extract_inputs("lora for code generation on a 13b model "
                                                    "with a 48GB GPU"))
    assert code.number("LoRA rank r").value == "64" and code.number("LoRA alpha").value == "128"


def test_nothing_fits_says_what_is_needed():
    answer = answer_with("finetuning", AdvisorInputs(text="fine-tune", params=70e9,
                                                     gpu_memory_gb=16))
    assert "nothing fits" in answer.recommendation
    assert answer.confidence < 0.4


def test_preference_tuning_mentions_dpo():
    answer = ask("DPO on a 7B model with 24GB").answer
    assert any("DPO with beta 0.1" in a for a in answer.alternatives)
    assert "fine-tuning-techniques.md#dpo" in answer.citations


def test_advisors_and_knowledge_stay_light():
    """Core modules: no Textual ever; a text question needs no torch or pandas either."""
    import subprocess
    import sys

    code = ("import sys\nfrom nt_tui.advisors import ask\nimport nt_tui.knowledge\n"
            "import nt_tui.scaling.laws\n"
            "for q in ('loss is nan', 'lora 7b 24gb', '1e21 flops', 'lr for 350M', 'rope?'):\n"
            "    ask(q)\n"
            "print(' '.join(m for m in ('textual', 'torch', 'pandas', 'accelerate') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == ""
