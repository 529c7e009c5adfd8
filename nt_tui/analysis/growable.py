"""`GrowableArray`: a numpy array that grows by appending, without re-copying on every append.

The live monitor appends a few values per refresh to histories that may reach millions of
points; copying the whole array each time would make an append cost O(n).
"""

from __future__ import annotations

import numpy as np

#: Capacity of a new array; it doubles when full (amortised O(1) appends).
INITIAL_CAPACITY = 1024


class GrowableArray:
    """A 1-d array with `append`/`extend`/`truncate`; `data` is a view of the filled part."""

    def __init__(self, dtype: np.dtype | type, fill: float = 0) -> None:
        self._array = np.full(INITIAL_CAPACITY, fill, dtype=dtype)
        self._fill = fill
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def data(self) -> np.ndarray:
        """The filled part (a view: valid until the next append)."""
        return self._array[:self._size]

    @property
    def nbytes(self) -> int:
        """Bytes held, spare capacity included."""
        return self._array.nbytes

    def _reserve(self, size: int) -> None:
        if size <= len(self._array):
            return
        capacity = len(self._array)
        while capacity < size:
            capacity *= 2
        grown = np.full(capacity, self._fill, dtype=self._array.dtype)
        grown[:self._size] = self._array[:self._size]
        self._array = grown

    def append(self, value: float) -> None:
        self._reserve(self._size + 1)
        self._array[self._size] = value
        self._size += 1

    def extend(self, values: np.ndarray) -> None:
        count = len(values)
        self._reserve(self._size + count)
        self._array[self._size:self._size + count] = values
        self._size += count

    def pad_to(self, size: int) -> None:
        """Grow to `size` entries with the fill value (a column that appears late)."""
        if size > self._size:
            self._reserve(size)
            self._array[self._size:size] = self._fill
            self._size = size

    def truncate(self, size: int) -> None:
        """Keep the first `size` entries."""
        if size < self._size:
            self._array[size:self._size] = self._fill
            self._size = max(0, size)
