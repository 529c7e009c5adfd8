"""The warnings panel: every early warning (and failure) of the runs on screen, newest first,
with its step; the highlighted one is put to the diagnostician (a), opens the diagnosis wizard
(d) or its knowledge section (k).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from nt_tui.safetext import clean

#: Labels of the engine's warning codes (nt_tui.analysis.early_warnings, silent checks).
CODE_LABELS = {
    "loss_spike": "loss spike", "grad_spike": "gradient explosion", "nan_inf": "NaN/Inf",
    "overfitting": "overfitting", "lr_near_zero": "LR near zero",
    "params_frozen": "frozen parameters", "zero_grads": "zero gradients",
    "lr_off_schedule": "LR off schedule", "update_ratio": "update ratio",
}
#: Event kinds the panel lists.
LISTED_KINDS = ("warning", "failure")
#: What the panel says until the first warning.
PLACEHOLDER = ("No warnings so far: loss spikes, NaN/Inf, gradient explosions, overfitting "
               "and a stalled LR show here, with their step.")


@dataclass(frozen=True)
class Alert:
    """A listed event and the run it came from."""

    run: str
    event: dict[str, Any]

    @property
    def code(self) -> str:
        return str(self.event.get("code") or self.event.get("kind"))

    @property
    def label(self) -> str:
        if self.event.get("kind") == "failure":
            return "failure"
        return CODE_LABELS.get(self.code, self.code.replace("_", " "))

    @property
    def critical(self) -> bool:
        return self.event.get("kind") == "failure" or self.event.get("severity") == "critical"

    @property
    def knowledge(self) -> str | None:
        link = self.event.get("knowledge")
        return str(link) if link else None


class WarningsPanel(OptionList):
    """Lists alerts; posts `WarningsPanel.Open` when the user asks to act on one."""

    BINDINGS = [
        Binding("a", "open('ask')", "Ask diagnostician", id="warnings.ask"),
        Binding("d", "open('diagnose')", "Diagnose", id="warnings.diagnose"),
        Binding("k", "open('knowledge')", "Read more", id="warnings.knowledge"),
    ]
    DEFAULT_CSS = """
    WarningsPanel { height: auto; max-height: 6; border: none; padding: 0 1;
        text-wrap: nowrap; text-overflow: ellipsis; }
    WarningsPanel:focus { border: none; }
    """

    @dataclass
    class Open(Message):
        """Ask the diagnostician ("ask"), open the diagnosis wizard ("diagnose") or the
        knowledge section ("knowledge")."""

        #: the highlighted alert (None when there is none: the screen acts on the whole run)
        alert: Alert | None
        target: str

    def __init__(self, *, show_run: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.alerts: list[Alert] = []
        self.show_run = show_run

    def on_mount(self) -> None:
        if not self.alerts:
            self.add_option(Option(Text(PLACEHOLDER, style="dim", no_wrap=True,
                                        overflow="ellipsis"), disabled=True))

    def add_alerts(self, alerts: list[Alert]) -> None:
        """Add alerts (oldest first); the newest is listed on top and highlighted."""
        if not alerts:
            return
        self.alerts.extend(alerts)
        self.clear_options()
        self.add_options([self._option(alert) for alert in reversed(self.alerts)])
        self.highlighted = 0

    def _option(self, alert: Alert) -> Option:
        step = alert.event.get("step")
        where = f"step {step:,}" if isinstance(step, int) else "step ?"
        mark, style = ("✖", "bold red") if alert.critical else ("▲", "bold yellow")
        text = Text.assemble((f"{mark} ", style), (f"{where:<12}", "dim"),
                             (f"{alert.label}: ", "bold"))
        if self.show_run:
            text.append(f"[{clean(alert.run)}] ", style="dim")
        message = " ".join(clean(alert.event.get("message", "")).split())
        # messages written for a log line often start with their own label: say it once
        message = message.removeprefix(f"{alert.label}: ")
        text.append(message)
        text.no_wrap = True
        text.overflow = "ellipsis"
        return Option(text)

    @property
    def selected(self) -> Alert | None:
        """The highlighted alert (newest first)."""
        if self.highlighted is None or not self.alerts:
            return None
        return self.alerts[len(self.alerts) - 1 - self.highlighted]

    def action_open(self, target: str) -> None:
        self.post_message(self.Open(self.selected, target))
