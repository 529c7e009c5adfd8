"""Property tests: generated inputs never raise anything but NtTuiError, for the config loader
and every log reader (read whole as `nt-tui analyze` does, and followed as the monitor does).

CI runs a small budget (a few hundred inputs in all); `python bench/fuzz.py` runs 10,000+ per
target with the same targets (tests/fuzz_targets.py).
"""

import pytest
from hypothesis import HealthCheck, given, settings

import fuzz_targets
from fuzz_targets import config_documents, config_loader_target

CONFIG_EXAMPLES = 100
READER_EXAMPLES = 30
READERS = sorted(fuzz_targets.log_layouts)


@settings(max_examples=CONFIG_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(config_documents)
def test_config_loader_only_raises_documented_errors(text):
    config_loader_target(text)


@pytest.mark.parametrize("reader", READERS)
def test_log_reader_only_raises_documented_errors(reader):
    target = getattr(fuzz_targets, f"{reader}_reader_target")
    strategy = getattr(fuzz_targets, f"{reader}_reader_inputs")
    settings(max_examples=READER_EXAMPLES, deadline=None, database=None, derandomize=True,
             suppress_health_check=list(HealthCheck))(given(strategy)(target))()


def test_every_reader_has_a_fuzz_target():
    from nt_tui.runlogs import FORMATS

    covered = {"nt_run": "nt_tui_run", "csv": "csv", "lightning": "lightning_csv",
               "jsonl": "jsonl", "hf_trainer_state": "hf_trainer_state", "text_log": "text_log",
               "tensorboard": "tensorboard", "wandb_offline": "wandb_offline"}
    assert set(READERS) == set(covered) and set(covered.values()) == set(FORMATS)
