"""Pre-flight: refusals, the no-validation choice, data checks, user-code disclosure."""

from pathlib import Path

from nt_tui.config import load_config, load_config_text
from nt_tui.config.preflight import Level, apply_changes, run_preflight

from conftest import EXAMPLES


def codes(preflight):
    return {f.code: f for f in preflight.findings}


def test_demo_passes():
    path = EXAMPLES / "demo-tiny-gpt.yaml"
    preflight = run_preflight(load_config(path), path)
    assert preflight.ok, [f.message for f in preflight.findings]


def test_no_logging_backend_is_refused():
    preflight = run_preflight(load_config_text("data: {val_split: 0.2}\n"
                                               "schedule: {total_steps: 10}\n"))
    finding = codes(preflight)["no_logging"]
    assert finding.level is Level.ERROR and "no logging backend" in finding.message
    assert not preflight.ok


def test_no_validation_offers_three_choices_and_each_settles_it():
    config = load_config_text("logging: {backends: [jsonl]}\nschedule: {total_steps: 10}\n")
    finding = codes(run_preflight(config))["no_validation"]
    assert finding.level is Level.CHOICE
    assert len(finding.choices) == 3
    split = apply_changes(config, finding.choices[0].changes)
    assert split.data.val_split == 0.2 and run_preflight(split).ok
    opt_out = apply_changes(config, finding.choices[2].changes)
    after = run_preflight(opt_out)
    assert after.ok and "no_validation_opt_in" in codes(after)


def test_missing_empty_and_short_data_are_refused(tmp_path: Path):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "short.txt").write_text("hello world")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 ".encode("latin-1") * 100)
    for name, code, words in [("missing.txt", "data_train", "not found"),
                              ("empty.txt", "data_train", "empty"),
                              ("short.txt", "data_train_short", "seq_len"),
                              ("latin1.txt", "data_train", "not UTF-8")]:
        config = load_config_text(f"data: {{train: {name}, val_split: 0.2}}\n"
                                  "logging: {backends: [jsonl]}\nschedule: {total_steps: 5}\n")
        finding = codes(run_preflight(config, tmp_path / "c.yaml"))[code]
        assert finding.level is Level.ERROR and words in finding.message, finding.message


def test_entrypoint_is_shown_as_user_code():
    config = load_config_text("model: {entrypoint: 'mypkg.models:build'}\n"
                              "logging: {backends: [jsonl]}\nschedule: {total_steps: 5}\n")
    finding = codes(run_preflight(config))["runs_user_code"]
    assert "mypkg.models:build" in finding.message


def test_warmup_longer_than_run_and_missing_length():
    config = load_config_text("logging: {backends: [jsonl]}\ndata: {val_split: 0.1}\n"
                              "schedule: {total_steps: 10, warmup_steps: 20}\n")
    assert "warmup_too_long" in codes(run_preflight(config))
    config = load_config_text("logging: {backends: [jsonl]}\ndata: {val_split: 0.1}\n")
    assert codes(run_preflight(config))["no_length"].level is Level.ERROR


def test_high_lr_is_warned():
    config = load_config_text("logging: {backends: [jsonl]}\ndata: {val_split: 0.1}\n"
                              "optimizer: {lr: 1.0}\nschedule: {total_steps: 10}\n")
    assert codes(run_preflight(config))["lr_high"].level is Level.WARNING
