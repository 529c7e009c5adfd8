"""Property tests: generated inputs never raise anything but NtTuiError (small budget in CI;
`python bench/fuzz.py` runs 10,000+ per target)."""

from hypothesis import HealthCheck, given, settings

from fuzz_targets import config_documents, config_loader_target

CI_EXAMPLES = 300


@settings(max_examples=CI_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(config_documents)
def test_config_loader_only_raises_documented_errors(text):
    config_loader_target(text)
