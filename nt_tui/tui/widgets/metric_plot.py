"""`MetricPlot`: a chart widget that draws runs' metrics from their full history.

Raw values are drawn faintly behind the smoothed line, with the min/max of every pixel column
as a band, so a spike is never sampled away. The chart is drawn only when its runs, its view,
its size or the theme changed (`refresh_if_stale`, called by the screen's timer), and each
drawing is downsampled to the widget's width (see `nt_tui.tui.widgets.chart`).
"""

from __future__ import annotations

from typing import Any, Iterable

from textual.color import Color
from textual.strip import Strip
from textual.widget import Widget

from nt_tui.tui.widgets.chart import ChartColors, ChartView, Trace, render_chart

#: Theme colours a trace may name.
THEME_COLOURS = ("primary", "secondary", "accent", "success", "warning", "error", "foreground")
#: Axis labels are the foreground blended this far towards the background.
MUTED_BLEND = 0.45


def chart_colors(widget: Widget) -> ChartColors:
    """The chart colours for `widget` under the app's current theme."""
    variables = widget.app.theme_variables
    background = widget.background_colors[1]
    foreground = Color.parse(variables["foreground"]).with_alpha(1.0)

    def named(name: str) -> Color:
        return background + Color.parse(variables[name])

    return ChartColors(
        background=background,
        foreground=background + foreground,
        muted=(background + foreground).blend(background, MUTED_BLEND),
        warning=named("warning"), error=named("error"),
        named={name: named(name) for name in THEME_COLOURS},
    )


class MetricPlot(Widget):
    """One chart: a title, traces (run + metric + colour) and a shared `ChartView`."""

    DEFAULT_CSS = """
    MetricPlot { height: 1fr; min-height: 4; }
    """

    def __init__(self, title: str, traces: Iterable[Trace] = (), view: ChartView | None = None,
                 *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.title = title
        self.traces = list(traces)
        self.view = view or ChartView()
        self._lines: list[Strip] = []
        self._drawn_key: Any = None

    def set_traces(self, traces: Iterable[Trace]) -> None:
        self.traces = list(traces)
        self.refresh_if_stale()

    def set_view(self, view: ChartView) -> None:
        self.view = view
        self.refresh_if_stale()

    def _key(self) -> tuple:
        runs = {id(trace.run): trace.run for trace in self.traces}
        return (self.size, self.view, self.app.theme, tuple(self.traces),
                tuple((run.version, run.smoothing) for run in runs.values()))

    def refresh_if_stale(self) -> bool:
        """Ask for a redraw when what the chart shows changed; True if it did."""
        if not self.is_mounted or self._key() == self._drawn_key:
            return False
        self.refresh()
        return True

    def draw(self) -> list[Strip]:
        """Draw the chart now at the widget's size (cached until something changes)."""
        key = self._key()
        if key != self._drawn_key:
            width, height = self.size
            self._lines = render_chart(self.title, self.traces, self.view, width, height,
                                       chart_colors(self))
            self._drawn_key = key
        return self._lines

    def render_line(self, y: int) -> Strip:
        lines = self.draw()
        if y < len(lines):
            return lines[y]
        return Strip.blank(self.size.width, self.rich_style)
