"""A braille raster drawn with numpy: each terminal cell holds 2 x 4 dots.

Layers are drawn in index order; a cell shows the dots of the highest layer that touches it
(so a smoothed line stays crisp over the faint band behind it) in that layer's colour.
"""

from __future__ import annotations

import numpy as np

BRAILLE_BLANK = 0x2800
#: Unicode braille: bit i of the character is the dot at (DOT_ROWS[i], DOT_COLUMNS[i]).
DOT_ROWS = np.array([0, 1, 2, 0, 1, 2, 3, 3])
DOT_COLUMNS = np.array([0, 0, 0, 1, 1, 1, 0, 1])
DOTS_WIDE, DOTS_HIGH = 2, 4


class BrailleCanvas:
    """`cols` x `rows` cells, i.e. (2 x cols) x (4 x rows) dots, in `layers` layers."""

    def __init__(self, cols: int, rows: int, layers: int) -> None:
        self.cols, self.rows = cols, rows
        self.width, self.height = cols * DOTS_WIDE, rows * DOTS_HIGH
        self._dots = np.zeros((layers, self.height, self.width), dtype=bool)
        self._row_index = np.arange(self.height)[:, None]

    def spans(self, layer: int, top: np.ndarray, bottom: np.ndarray) -> None:
        """In every dot column c, set the dots from row top[c] to bottom[c] (inclusive,
        0 is the top row); columns where either bound is negative are left alone."""
        top = np.asarray(top)
        bottom = np.asarray(bottom)
        drawn = (top >= 0) & (bottom >= 0)
        self._dots[layer] |= ((self._row_index >= top) & (self._row_index <= bottom)
                              & drawn)

    def cells(self) -> tuple[np.ndarray, np.ndarray]:
        """(characters, layers): per cell the braille character (as a code point) and the
        layer it shows, or -1 where no layer has a dot."""
        layers = len(self._dots)
        grid = self._dots.reshape(layers, self.rows, DOTS_HIGH, self.cols, DOTS_WIDE)
        # Dots in Unicode's bit order, then eight dots packed into one byte per cell.
        ordered = grid[:, :, DOT_ROWS, :, DOT_COLUMNS].transpose(1, 2, 3, 0)
        bits = np.packbits(ordered, axis=-1, bitorder="little")[..., 0]
        touched = bits > 0
        top = np.where(touched.any(axis=0),
                       layers - 1 - np.argmax(touched[::-1], axis=0), -1)
        shown = np.take_along_axis(bits, np.maximum(top, 0)[None], axis=0)[0]
        return np.where(top >= 0, BRAILLE_BLANK + shown.astype(np.int32), ord(" ")), top


def line_spans(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(top, bottom) dot rows per column for a line through `rows` (one value per dot
    column, NaN where the curve has no point): gaps between points are bridged linearly and
    each column reaches halfway to its neighbours, so steep segments stay connected."""
    count = len(rows)
    top = np.full(count, -1)
    bottom = np.full(count, -1)
    present = np.flatnonzero(np.isfinite(rows))
    if not len(present):
        return top, bottom
    first, last = present[0], present[-1]
    columns = np.arange(first, last + 1)
    y = np.interp(columns, present, rows[present])
    previous = np.concatenate([[y[0]], (y[:-1] + y[1:]) / 2])
    following = np.concatenate([(y[:-1] + y[1:]) / 2, [y[-1]]])
    low = np.minimum(np.minimum(previous, following), y)
    high = np.maximum(np.maximum(previous, following), y)
    top[first:last + 1] = np.rint(low).astype(int)
    bottom[first:last + 1] = np.rint(high).astype(int)
    return top, bottom
