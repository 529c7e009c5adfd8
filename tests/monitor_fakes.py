"""A recorded feed for the monitor: metric records and events with the engine's documented
keys, replayed through the same inbox a live run uses. Snapshot and screen tests use it so
they never depend on a training thread's timing."""

from __future__ import annotations

import math
import random
from typing import Any, Callable

from nt_tui.tui.feeds import Inbox, RunUpdate

SPIKE_STEP = 1500


def recorded_records(count: int = 300, every: int = 10, spike_at: int | None = SPIKE_STEP,
                     nan_at: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """A plausible run: loss decaying towards 1.4 with noise, warmup then cosine LR,
    validation every 200 steps, one loss spike, optionally a NaN."""
    rng = random.Random(seed)
    total = count * every
    records = []
    for index in range(1, count + 1):
        step = index * every
        loss = 2.5 * math.exp(-step / 800) + 1.4 + rng.gauss(0, 0.05)
        if step == spike_at:
            loss = 9.0
        if step == nan_at:
            loss = math.nan
        warm = min(1.0, step / 200)
        lr = 1e-3 * warm * (0.55 + 0.45 * math.cos(math.pi * step / total))
        record = {
            "step": step, "time": 1_700_000_000 + step * 0.05, "elapsed": step * 0.05,
            "train_loss": loss, "train_loss_avg": loss if math.isnan(loss) else
            2.5 * math.exp(-step / 800) + 1.4,
            "lr": lr, "grad_norm": 0.8 + rng.random() * 0.3, "clip_fraction": 0.1,
            "samples_per_s": 1200 + rng.gauss(0, 30), "tokens_per_s": 76_800 + rng.gauss(0, 2e3),
            "eta_s": (total - step) * 0.05, "epoch": step / 5000,
        }
        if step % 200 == 0:
            record["val_loss"] = 2.5 * math.exp(-step / 800) + 1.5
            record["val_ppl"] = math.exp(record["val_loss"])
        records.append(record)
    return records


def spike_warning(step: int = SPIKE_STEP) -> dict[str, Any]:
    return {"time": 1_700_000_000 + step * 0.05, "kind": "warning", "step": step,
            "code": "loss_spike", "severity": "warning",
            "message": f"train loss spike at step {step}: 9.0 is 4.2x its moving average 2.1 "
                       "(threshold 2x)",
            "values": {"train_loss": 9.0, "moving_average": 2.1, "ratio": 4.2, "threshold": 2.0},
            "knowledge": "common-failures.md#loss-spikes"}


class RecordedFeed:
    """Replays records and events; `summary` is returned at the end like `Trainer.run()`."""

    control = None

    def __init__(self, records: list[dict[str, Any]] | None = None,
                 events: list[dict[str, Any]] | None = None, *, title: str = "demo-tiny-gpt",
                 total_steps: int | None = 3000, run_dir: str = "/tmp/runs/demo-tiny-gpt",
                 summary: dict[str, Any] | None = None, error: Exception | None = None) -> None:
        self.records = recorded_records() if records is None else records
        self.events = [spike_warning()] if events is None else events
        self.title = title
        self.total_steps = total_steps
        self.run_dir = run_dir
        self.summary = summary
        self.error = error

    def run(self, inbox: Inbox, cancelled: Callable[[], bool]) -> dict[str, Any] | None:
        inbox.put(RunUpdate(self.title, info={"run_dir": self.run_dir,
                                              "total_steps": self.total_steps}))
        pending = sorted(self.events, key=lambda event: event.get("step") or 0)
        for record in self.records:
            if cancelled():
                break
            inbox.put(RunUpdate(self.title, records=[record]))
            while pending and (pending[0].get("step") or 0) <= record["step"]:
                inbox.put(RunUpdate(self.title, events=[pending.pop(0)]))
        if pending:
            inbox.put(RunUpdate(self.title, events=pending))
        if self.error is not None:
            raise self.error
        return self.summary
