"""Run logs from every common tool, read into one `RunHistory`.

    from nt_tui.runlogs import load_run, load_runs, discover_runs
    history = load_run("output/checkpoint-2800")       # detects the format
    history.series("val_loss"), history.notes, history.original_names

Formats, detection rules, regular expressions and canonical names: docs/log-formats.md.
Live following: `nt_tui.runlogs.follow.Follower`.
"""

from nt_tui.runlogs.detect import SUPPORTED, discover_runs, open_source
from nt_tui.runlogs.history import CANONICAL_METRICS, RunHistory
from nt_tui.runlogs.load import (
    ALIGN_RELATIVE, ALIGN_STEP, align, history_from_source, load_run, load_runs, relative_steps,
)

#: The values `RunHistory.format` takes.
FORMATS = ("nt_tui_run", "hf_trainer_state", "lightning_csv", "tensorboard", "csv", "jsonl",
           "text_log", "wandb_offline")

__all__ = ["ALIGN_RELATIVE", "ALIGN_STEP", "CANONICAL_METRICS", "FORMATS", "RunHistory",
           "SUPPORTED", "align", "discover_runs", "history_from_source", "load_run",
           "load_runs", "open_source", "relative_steps"]
