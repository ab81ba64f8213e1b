"""Work arrays a layer reuses from one call to the next, so that a training step does not allocate them again.

A layer owns its ``Buffers`` (no module-level cache: two layers never share an array). Each buffer has
a name; it is allocated on first use and again only when the shape or dtype asked for changes. A buffer
holds what the layer alone reads (Conv2D's padded copy of x, which its backward reads again): never an
array the layer returns, which stays the caller's to keep.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]


class Buffers:
    """Named work arrays of one layer, each reused while its shape and dtype stay the same."""

    def __init__(self) -> None:
        self._arrays: dict[str, Array] = {}

    def padded(self, name: str, x: Array, ph: int, pw: int) -> Array:
        """x (N, C, H, W) with ph rows and pw columns of zeros on each side, (N, C, H + 2·ph, W + 2·pw).

        The zeros are written when the buffer is allocated; later calls copy x into the inside only.
        """
        N, C, H, W = x.shape
        shape, array = (N, C, H + 2 * ph, W + 2 * pw), self._arrays.get(name)
        if array is None or array.shape != shape or array.dtype != x.dtype:
            array = self._arrays[name] = np.zeros(shape, x.dtype)
        array[:, :, ph : ph + H, pw : pw + W] = x
        return array

    def clear(self) -> None:
        """Forget every buffer (a copy of the layer starts with none: see the layers' ``__getstate__``)."""
        self._arrays.clear()
