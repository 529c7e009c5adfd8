"""Draw an LR range test on a plotext object: the `plotext` module (the CLI's text plot) or a
`PlotextPlot` widget's `plt` (the app). Loss against log10(LR), decade ticks, the suggestion
as a vertical line."""

from __future__ import annotations

import math
from typing import Any

#: The y axis stops this far above the smoothed starting loss, so a diverged tail does not
#: squash the descent (the part that matters).
Y_HEADROOM = 1.3


def draw_lr_curve(plt: Any, lrs: list[float], losses: list[float], smoothed: list[float],
                  suggested_lr: float | None = None) -> None:
    """Plot raw and smoothed loss against the LR on `plt` (cleared first)."""
    plt.clear_data()
    if not lrs:
        return
    x = [math.log10(lr) for lr in lrs]
    plt.plot(x, losses, label="loss", color="gray")
    if smoothed:
        plt.plot(x[:len(smoothed)], smoothed, label="smoothed", color="blue")
    if suggested_lr is not None:
        plt.vline(math.log10(suggested_lr), "red")
    decades = list(range(math.floor(min(x)), math.ceil(max(x)) + 1))
    plt.xticks(decades, [f"1e{decade}" for decade in decades])
    plt.xlabel("learning rate (log scale)")
    finite = [value for value in (smoothed or losses) if math.isfinite(value)]
    if finite:
        low = min(finite)
        plt.ylim(low * 0.95, max(finite[0] * Y_HEADROOM, low * 1.1))


def render_text_plot(curve: Any, width: int, height: int, color: bool = False) -> str:
    """The curve as a text plot (for the CLI)."""
    import plotext

    plotext.clear_figure()
    plotext.plotsize(width, height)
    suggestion = curve.suggestion.lr if curve.suggestion else None
    draw_lr_curve(plotext, curve.lrs, curve.losses, curve.smoothed, suggestion)
    text = plotext.build()
    plotext.clear_figure()
    # plotext colours each series even after clear_color(); strip the escapes when they
    # would land in a file or pipe as text.
    return text if color else plotext.uncolorize(text)
