"""Lines through a check point: the one-dimensional functions the engine differentiates.

A ``Target`` is one tensor x of a component together with a scalar L(x) and the analytic
gradient g = dL/dx the component computed. A ``Line`` is L restricted to one direction u:

    phi(t) = L(x + t·u)            phi'(0) = g·u  (the analytic value)
    numerical = (phi(h) − phi(−h)) / (2h)          (central difference, error O(h²))

- ``element_lines``: u = e_i for every element i, with the step scaled to the element,
  h_i = h0·max(1, |x_i|), so numerical ≈ g_i;
- ``direction_lines``: random directions u_i = z_i·max(1, |x_i|) (z Gaussian, max|z| = 1),
  so numerical ≈ g·u = vᵀJu when L = v·y: one number per direction checks a whole tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.results import Verdict

Array = NDArray[Any]


@dataclass(frozen=True)
class Target:
    """One tensor to check: the live ``array`` that ``loss()`` reads, and the analytic dL/d(array)."""

    component: str
    name: str
    array: Array
    gradient: Array
    loss: Callable[[], float]


@dataclass(frozen=True)
class Line:
    """phi(t) = L(x + t·u) through the check point, along one element or one direction."""

    target: Target
    label: str
    index: tuple[int, ...] | None
    direction: Array | None
    scale: float
    analytic: float
    magnitude: float

    def __call__(self, t: float) -> float:
        """phi(t); the array is restored exactly afterwards."""
        array = self.target.array
        if self.index is not None:
            original = array[self.index].copy()
            array[self.index] = original + t
            try:
                return float(self.target.loss())
            finally:
                array[self.index] = original
        assert self.direction is not None
        saved = array.copy()
        np.add(saved, t * self.direction, out=array)
        try:
            return float(self.target.loss())
        finally:
            np.copyto(array, saved)


def element_lines(target: Target) -> Iterator[Line]:
    """One line per element: u = e_i, step scale max(1, |x_i|), analytic g_i."""
    for index in np.ndindex(*target.array.shape):
        g = float(target.gradient[index])
        scale = max(1.0, abs(float(target.array[index])))
        yield Line(target, str(index), index, None, scale, g, abs(g))


def direction_lines(target: Target, count: int, rng: np.random.Generator) -> Iterator[Line]:
    """``count`` random directions u = z·max(1, |x|), max|z| = 1; analytic g·u."""
    x, g = target.array, target.gradient
    for k in range(count):
        z = rng.standard_normal(x.shape)
        z /= np.abs(z).max()
        u = z * np.maximum(1.0, np.abs(x))
        terms = g * u
        yield Line(target, f"direction {k}", None, u, 1.0, float(terms.sum()), float(np.abs(terms).sum()))


def central_difference(line: Line, h: float) -> tuple[float, float, float]:
    """(numerical, phi(+step), phi(−step)) with step = h·scale: (phi(step) − phi(−step)) / (2·step)."""
    step = h * line.scale
    plus, minus = line(step), line(-step)
    return (plus - minus) / (2.0 * step), plus, minus


@dataclass(frozen=True)
class Outcome:
    """How one line fared: its numerical derivative, the error, the error allowed, the status."""

    line: Line
    numerical: float
    error: float
    allowed: float
    status: Verdict

    @property
    def badness(self) -> float:
        """error / allowed: > 1 is outside tolerance (NaN counts as infinitely bad)."""
        ratio = self.error / self.allowed if self.allowed > 0 else np.inf
        return float(ratio) if np.isfinite(ratio) else float("inf")
