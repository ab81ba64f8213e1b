"""Floating-point bookkeeping shared by the network, the training loop and gradcheck.

- ``float_errors_as_values()``: let overflow and 0/0 give inf/NaN quietly, so the caller
  can test the result once and raise one clear error;
- ``largest_square(arrays)``: max over the arrays of Σx², inf as soon as one is not finite;
- ``all_finite(array)``: every element finite (cheap: one dot product in the common case);
- ``Snapshot``: copies of some arrays (and random-generator states), put back at will —
  the one "undo" mechanism: a forward pass that went non-finite, an optimizer step that
  overflowed, a gradient check that must leave a layer as it found it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]


def float_errors_as_values() -> np.errstate:
    """Let overflow and 0/0 give inf/NaN quietly: the callers check the result and raise one clear error."""
    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


def largest_square(arrays: Iterable[Array]) -> float:
    """max over ``arrays`` of Σx², or inf as soon as one of them is not finite.

    Σx² is inf or NaN whenever an element is; the dot product reads the array once,
    without the boolean temporary of np.isfinite. It is inf too when squares of huge (finite)
    values overflow, which is what a bound on |x| = sqrt(Σx²) must say.
    """
    largest = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for array in arrays:
            flat = array.reshape(-1)
            square = float(flat @ flat)
            if not math.isfinite(square):
                return math.inf
            largest = max(largest, square)
    return largest


def all_finite(array: Array) -> bool:
    """True when every element of ``array`` is finite (runs once per training step)."""
    # Only when Σx² is not finite (an inf/NaN, or squares of huge values overflowing)
    # does the exact elementwise test decide.
    return math.isfinite(largest_square((array,))) or bool(np.isfinite(array).all())


class Snapshot:
    """Copies of ``arrays`` (and the states of ``generators``), to write back with ``restore``.

    The arrays are the live ones (a layer's parameters or running statistics): ``restore``
    copies the saved values into them in place, so every reference to them sees the undo.
    """

    def __init__(self, arrays: Iterable[Array], generators: Iterable[np.random.Generator] = ()) -> None:
        self.arrays = [(array, array.copy()) for array in arrays]
        self.generators = [(generator, generator.bit_generator.state) for generator in generators]

    def restore(self) -> None:
        """Put every array and generator back as it was when the snapshot was taken."""
        for array, saved in self.arrays:
            np.copyto(array, saved)
        for generator, state in self.generators:
            generator.bit_generator.state = state
