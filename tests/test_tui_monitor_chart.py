"""The chart drawing behind every monitor plot: spikes, bands, markers, log scale, x modes."""

import math

import numpy as np
from textual.color import Color

from nt_tui.analysis.metric_buffer import RunBuffer
from nt_tui.tui.widgets.braille import BRAILLE_BLANK, BrailleCanvas, line_spans
from nt_tui.tui.widgets.chart import (NAN_MARK, WARNING_MARK, ChartColors, ChartView, Trace,
                                      format_value, format_x, render_chart)
from nt_tui.tui.widgets.sparklines import sparkline

COLORS = ChartColors(Color.parse("#000000"), Color.parse("#ffffff"), Color.parse("#808080"),
                     Color.parse("#ffff00"), Color.parse("#ff0000"),
                     {"primary": Color.parse("#00aaff"), "accent": Color.parse("#ff8800")})


def loss_run(count=2000, spike=None):
    run = RunBuffer("run")
    steps = np.arange(1, count + 1) * 10
    loss = 3.0 - steps / steps[-1] + 0.01 * np.sin(steps)
    if spike is not None:
        loss[spike] = 30.0
    run.extend(steps, {"train_loss": loss, "lr": np.full(count, 1e-3)}, elapsed=steps * 0.1)
    return run


def text_of(lines):
    return [line.text for line in lines]


def test_chart_has_legend_labels_axis_and_exact_size():
    run = loss_run()
    lines = render_chart("loss", [Trace(run, "train_loss", "train")], ChartView(), 60, 12,
                         COLORS)
    rows = text_of(lines)
    assert len(rows) == 12 and all(line.cell_length == 60 for line in lines)
    assert "loss" in rows[0] and "train 2" in rows[0]
    assert "┤" in rows[1] and rows[-2].lstrip().startswith("└")
    assert "step" in rows[-1] and "20k" in rows[-1]


def dots_in_column_band(rows, top_fraction):
    """True if some braille dot is drawn in the top `top_fraction` of the plot rows."""
    plot = rows[1:-2]
    top = plot[:max(1, int(len(plot) * top_fraction))]
    return any(BRAILLE_BLANK < ord(ch) <= BRAILLE_BLANK + 0xFF for line in top for ch in line)


def test_a_one_step_spike_in_200000_steps_reaches_the_top_of_the_chart():
    run = loss_run(count=200_000, spike=123_456)
    rows = text_of(render_chart("loss", [Trace(run, "train_loss", "train")], ChartView(), 70,
                                14, COLORS))
    assert rows[1].split("┤")[0].strip().startswith("3")  # top label near the 30.0 spike
    assert dots_in_column_band(rows, 0.15)


def test_warning_and_nan_markers_sit_on_the_axis_at_their_step():
    run = loss_run(count=100)
    run.add_event({"kind": "warning", "step": 500, "code": "loss_spike"})
    run.append({"step": 1010, "train_loss": math.nan})
    rows = text_of(render_chart("loss", [Trace(run, "train_loss", "train")], ChartView(), 60,
                                10, COLORS))
    axis = rows[-2]
    assert WARNING_MARK in axis and NAN_MARK in axis
    assert axis.index(WARNING_MARK) < axis.index(NAN_MARK)


def test_log_scale_labels_span_decades():
    run = RunBuffer("r")
    run.extend(np.arange(1, 101), {"lr": np.logspace(-6, -2, 100)})
    rows = text_of(render_chart("lr", [Trace(run, "lr", "lr", smooth=False)],
                                ChartView(log_y=True), 50, 10, COLORS))
    assert "(log)" in rows[0]
    top = float(rows[1].split("┤")[0])
    bottom = float(rows[-3].split("┤")[0])
    assert 1e-2 <= top < 2e-2 and 5e-7 < bottom <= 1e-6


def test_x_axis_modes_and_zoom_range():
    run = loss_run(count=1000)
    wall = text_of(render_chart("loss", [Trace(run, "train_loss", "t")],
                                ChartView(x_mode="wall"), 60, 10, COLORS))
    assert "time" in wall[-1] and "16m40s" in wall[-1]
    zoomed = text_of(render_chart("loss", [Trace(run, "train_loss", "t")],
                                  ChartView(x_range=(9000.0, 10000.0)), 60, 10, COLORS))
    assert zoomed[-1].split()[0] == "9,000"


def test_tiny_and_empty_charts_say_so():
    run = RunBuffer("r")
    rows = text_of(render_chart("loss", [Trace(run, "train_loss", "t")], ChartView(), 40, 8,
                                COLORS))
    assert "waiting for the first values" in rows[1]
    rows = text_of(render_chart("loss", [Trace(loss_run(), "train_loss", "t")], ChartView(),
                                60, 3, COLORS))
    assert "enlarge the window" in rows[0] and len(rows) == 3


def test_braille_layers_show_the_top_layer():
    canvas = BrailleCanvas(2, 1, 2)
    canvas.spans(0, np.array([0, 0, 0, 0]), np.array([3, 3, 3, 3]))
    canvas.spans(1, np.array([1, -1, -1, -1]), np.array([1, -1, -1, -1]))
    chars, layers = canvas.cells()
    assert list(layers[0]) == [1, 0]
    assert chr(chars[0][1]) == "⣿" and chr(chars[0][0]) == chr(BRAILLE_BLANK + 0x02)


def test_line_spans_bridge_gaps_between_points():
    top, bottom = line_spans(np.array([np.nan, 0.0, np.nan, np.nan, 9.0, np.nan]))
    assert top[0] == -1 and top[-1] == -1  # nothing before the first or after the last point
    assert top[1] == 0 and bottom[4] == 9
    drawn = range(1, 5)
    assert all(top[c] <= bottom[c - 1] + 1 for c in drawn[1:])  # no vertical gaps


def test_number_formats_and_sparkline():
    assert format_value(0.000123) == "1.23e-04" and format_value(2.3456) == "2.346"
    assert format_x(12_345, "step") == "12.35k" and format_x(3725, "wall") == "1h02m"
    assert sparkline(np.arange(8.0), 8) == "▁▂▃▄▅▆▇█"
    assert sparkline(np.array([1.0, np.nan, 3.0]), 3) == "▁ █"
    assert len(sparkline(np.arange(100.0), 10)) == 10


def test_followed_logs_get_no_empty_default_charts():
    from nt_tui.tui.widgets.chart_specs import chart_specs, compile_filter

    trainer_state = ["train_loss", "val_loss", "lr", "eval_wer"]
    ids = [spec.id for spec in chart_specs(trainer_state, None, keep_empty=False)]
    assert ids == ["loss", "lr", "eval_wer"]  # no empty grad-norm or throughput chart
    # a run trained here shows all four from the start, where its curves will appear
    assert [spec.id for spec in chart_specs([], None)] == ["loss", "lr", "grad_norm",
                                                            "throughput"]
    # a followed log with nothing logged yet still shows where curves will appear
    assert len(chart_specs([], None, keep_empty=False)) == 4
    assert [spec.id for spec in chart_specs(trainer_state, compile_filter("wer"),
                                            keep_empty=False)] == ["eval_wer"]
