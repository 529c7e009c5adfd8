"""The documents' tables agree with nt-tui's calculators, and every deep link in the code
resolves to a real heading."""

from __future__ import annotations

from pathlib import Path

import pytest

from nt_tui.advisors.finetuning import (
    METHODS, adapter_params, activation_bytes, model_shape, states_bytes)
from nt_tui.config.defaults import SIZE_TABLE
from nt_tui.knowledge import LINK_PATTERN, KnowledgeBase, load_knowledge
from nt_tui.scaling import laws

PACKAGE = Path(__file__).resolve().parents[1] / "nt_tui"
#: Names the code's docstrings use to show the link format, not links.
PLACEHOLDER_DOCUMENTS = {"doc.md", "document.md"}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge()


def _number(text: str) -> float:
    """A number as the documents write it: 9.13e+07, 1,120 GB, 2.37%, 0.5B."""
    cleaned = text.replace(",", "").replace("GB", "").replace("%", "").strip()
    scale = {"B": 1e9, "T": 1e12, "M": 1e6}.get(cleaned[-1:], 1.0)
    return float(cleaned.rstrip("BTM")) * scale


def _three_digits(value: float) -> float:
    return float(f"{value:.3g}")


def _table(kb: KnowledgeBase, link: str, index: int = 0) -> list[list[str]]:
    tables = kb.section(link).tables()
    assert tables, f"{link} has no table"
    return tables[index]


def test_compute_optimal_table_matches_the_chinchilla_calculator(kb: KnowledgeBase):
    header, *rows = _table(kb, "scaling-laws.md#compute-optimal-table")
    assert header == ["Compute (FLOPs)", "Parameters", "Tokens"]
    assert len(rows) >= 6
    for compute, params, tokens in rows:
        allocation = laws.chinchilla_optimal(_number(compute))
        assert _number(params) == _three_digits(allocation.params), compute
        assert _number(tokens) == _three_digits(allocation.tokens), compute


def test_size_table_matches_the_config_defaults(kb: KnowledgeBase):
    header, *rows = _table(kb, "optimizer-guide.md#learning-rate-and-weight-decay-by-model-size")
    assert header == ["Parameters", "Peak LR", "Weight decay", "Betas"]
    assert len(rows) == len(SIZE_TABLE)
    for (label, lr, weight_decay, betas), row in zip(rows, SIZE_TABLE):
        assert label == row.label
        assert float(lr) == row.lr and float(weight_decay) == row.weight_decay
        assert tuple(float(b) for b in betas.strip("()").split(",")) == row.betas


def test_parametric_table_matches_the_closed_form_optimum(kb: KnowledgeBase):
    header, *rows = _table(kb, "scaling-laws.md#parametric-loss-fit")
    assert header[:3] == ["Compute", "N_opt", "D_opt"]
    for compute, params, tokens, per_param, loss in rows:
        allocation = laws.parametric_optimal(_number(compute.split()[0]))
        assert _number(params) == _three_digits(allocation.params), compute
        assert _number(tokens) == _three_digits(allocation.tokens), compute
        assert float(per_param) == pytest.approx(allocation.tokens_per_param, rel=5e-3)
        assert float(loss) == pytest.approx(
            laws.parametric_loss(allocation.params, allocation.tokens), abs=5e-4)


def test_repeated_data_table_matches_muennighoff(kb: KnowledgeBase):
    header, *rows = _table(kb, "scaling-laws.md#data-constrained-scaling")
    assert header[0] == "Epochs"
    for epochs, effective, value, last in rows:
        repeated = laws.repeated_data(1.0, float(epochs))
        assert float(effective) == _three_digits(repeated.effective_tokens), epochs
        assert _number(value) == pytest.approx(100 * repeated.value_per_token, abs=0.51)
        assert _number(last) == pytest.approx(100 * repeated.last_epoch_value, abs=0.51)


def test_chinchilla_and_gopher_losses_as_the_document_quotes():
    assert laws.parametric_loss(70e9, 1.4e12) == pytest.approx(1.937, abs=5e-4)
    assert laws.parametric_loss(280e9, 300e9) == pytest.approx(1.993, abs=5e-4)


def test_lora_parameter_table_matches_the_fine_tuning_advisor(kb: KnowledgeBase):
    header, *rows = _table(kb, "fine-tuning-techniques.md#lora")
    assert header[:4] == ["Model", "Targets", "r", "Trainable parameters"]
    for model, targets, rank, trainable, share in rows:
        names = tuple(f"{t.strip()}_proj" for t in targets.split(","))
        shape = model_shape(_number(model))
        count = adapter_params(shape, int(rank), names)
        assert count == int(trainable.replace(",", "")), (model, targets, rank)
        assert _number(share) == pytest.approx(100 * count / shape.params, abs=0.006)


def test_memory_table_matches_the_fine_tuning_advisor(kb: KnowledgeBase):
    header, *rows = _table(kb, "fine-tuning-techniques.md#memory-estimates")
    assert header[0] == "Model"
    for model, *cells in rows:
        params = _number(model)
        adapters = adapter_params(model_shape(params), 16)
        for method, cell in zip(METHODS, cells):
            stated = _number(cell.split("(")[0])
            computed = states_bytes(method, params, adapters) / 1e9
            assert stated == pytest.approx(computed, abs=0.051), (model, method)


def test_activation_figures_match_the_fine_tuning_advisor():
    shape = model_shape(7e9)
    logits = 4 * 2048 * 32000 / 1e9
    # "about 9.1 GB without recomputation ... about 0.8 GB with per-block checkpointing,
    # plus 0.26 GB of fp32 logits" (fine-tuning-techniques.md#memory-estimates)
    assert activation_bytes(shape, 2048, 1, False) / 1e9 - logits == pytest.approx(9.1, abs=0.05)
    assert activation_bytes(shape, 2048, 1, True) / 1e9 - logits == pytest.approx(0.8, abs=0.05)
    assert logits == pytest.approx(0.26, abs=0.005)


def test_flops_examples_match_the_gpu_hour_calculator(kb: KnowledgeBase):
    header, *rows = _table(kb, "scaling-laws.md#flops-accounting")
    assert header == ["Run", "C (FLOPs)", "A100-hours", "H100-hours"]
    for run, compute, a100, h100 in rows:
        flops = _number(compute)
        assert _number(a100) == pytest.approx(
            laws.gpu_hours_for(flops, laws.GPU_PEAK_TFLOPS["A100"]), rel=1e-2), run
        assert _number(h100) == pytest.approx(
            laws.gpu_hours_for(flops, laws.GPU_PEAK_TFLOPS["H100"]), rel=1e-2), run


def _code_links() -> list[tuple[str, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for match in LINK_PATTERN.finditer(path.read_text(encoding="utf-8")):
            if match.group(1) not in PLACEHOLDER_DOCUMENTS:
                found.append((str(path.relative_to(PACKAGE.parent)), match.group(0)))
    return found


def test_every_link_in_the_code_resolves_to_a_heading(kb: KnowledgeBase):
    links = _code_links()
    assert len(links) > 30  # warnings, diagnoses, pre-flight, advisors all link
    broken = []
    for where, link in links:
        try:
            kb.section(link)
        except Exception as exc:  # noqa: BLE001 - collect every failure, then report them
            broken.append(f"{where}: {link} ({exc})")
    assert not broken, "\n".join(broken)


def test_documents_link_only_to_real_headings(kb: KnowledgeBase):
    assert kb.broken_links() == []


def test_link_pattern_finds_links_in_prose_and_strings():
    text = 'see knowledge/common-failures.md#loss-plateau, "optimizer-guide.md#warmup".'
    assert [m.group(0) for m in LINK_PATTERN.finditer(text)] == [
        "common-failures.md#loss-plateau", "optimizer-guide.md#warmup"]
    assert not LINK_PATTERN.search("docs/run-format.md has no anchor; x.mdown#y is no link")
