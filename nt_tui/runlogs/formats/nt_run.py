"""nt-tui's own run directories (docs/run-format.md): metrics.jsonl, events.jsonl, config.yaml.

The metric keys are canonical already except `time` (Unix seconds: becomes `wall_time`,
seconds since the first record) and `samples_per_s` (becomes `throughput`); everything else
keeps its name (`train_loss_avg`, `clip_fraction`, `eta_s`, `val_ppl`, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nt_tui.runfmt import CONFIG_FILE, EVENTS_FILE, METRICS_FILE, iter_jsonl
from nt_tui.runlogs.formats.base import Batch, FileTail, LogSource, read_yaml_mapping
from nt_tui.runlogs.formats.jsonl_log import read_jsonl_batch

FORMAT = "nt_tui_run"


class NtRunSource(LogSource):
    format = FORMAT

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._metrics = FileTail(self.path / METRICS_FILE)
        self._events_offset = 0

    @property
    def name(self) -> str:
        return self.path.name

    def _new_events(self, reset: bool) -> list[dict[str, Any]]:
        events_path = self.path / EVENTS_FILE
        if reset:
            self._events_offset = 0
        if not events_path.is_file():
            return []
        if events_path.stat().st_size < self._events_offset:
            self._events_offset = 0
        events = []
        for offset, event in iter_jsonl(events_path, self._events_offset):
            self._events_offset = offset
            events.append(event)
        return events

    def read(self) -> Batch:
        batch = read_jsonl_batch(self._metrics)
        batch.events = self._new_events(batch.reset)
        return batch

    def config(self) -> dict[str, Any] | None:
        path = self.path / CONFIG_FILE
        return read_yaml_mapping(path) if path.is_file() else None
