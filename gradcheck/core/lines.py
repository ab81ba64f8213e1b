"""Lines through a check point: the one-dimensional functions the engine differentiates.

A ``Target`` is one tensor x of a component together with a scalar L(x) and the analytic
gradient g = dL/dx the component computed. A ``Line`` is L restricted to one direction u:

    phi(t) = L(x + t·u)            phi'(0) = g·u  (the analytic value)
    numerical = (phi(h) − phi(−h)) / (2h)          (central difference, error O(h²))

An array stores x_i + t rounded to its dtype, so an element line divides by the step the
array really took, (x_i + h) − (x_i − h) as stored, not by 2h: exact in float64 and float32.
Directions are used on float64 tensors only (a float32 array would bend x + t·u by rounding).
Whatever the checked code raises while phi is evaluated becomes a ``ComponentError`` that
says where (``gradcheck.core.guard``).

- ``element_lines``: u = e_i for every element i, with the step scaled to the element,
  h_i = h0·max(1, |x_i|), so numerical ≈ g_i;
- ``direction_lines``: random directions u_i = z_i·max(1, |x_i|) (z Gaussian, max|z| = 1),
  so numerical ≈ g·u = vᵀJu when L = v·y: one number per direction checks a whole tensor;
- ``sampled_element_lines``: for the same large tensors, a few elements checked one by one,
  the largest |g_i| and a random sample. A projection's tolerance grows with the size
  √Σ(g_i·u_i)² of the n terms it sums, so a single wrong element of a very large tensor can
  hide in it; an element line has no such sum (see ``gradcheck.core.tolerances`` for the limit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.core.guard import ComponentError
from gradcheck.core.results import Verdict

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
    magnitude: float  #: the size of the terms phi'(0) sums: |g_i|, or √Σ(g_i·u_i)² (at least floor·max|g|)

    def __call__(self, t: float) -> float:
        """phi(t); the array is restored exactly afterwards."""
        array = self.target.array
        if self.index is not None:
            original = array[self.index].copy()
            array[self.index] = original + t
            try:
                return self.evaluate(t)
            finally:
                array[self.index] = original
        assert self.direction is not None
        saved = array.copy()
        np.add(saved, t * self.direction, out=array)
        try:
            return self.evaluate(t)
        finally:
            np.copyto(array, saved)

    def evaluate(self, t: float) -> float:
        """L at the displaced point; what the checked code raises becomes a ComponentError saying where."""
        try:
            return float(self.target.loss())
        except ComponentError:
            raise
        except Exception as exc:
            name = self.target.name
            where = f"L at {name} {self.label} {t:+.1e}" if t else f"L at the check point of {name}"
            raise ComponentError(where, exc) from exc

    def offset(self, t: float) -> float:
        """The step the array really takes for a step t: x_i + t as the array stores it, minus x_i.

        Exact (the difference of two stored values of the same dtype, taken in float64); it is
        t itself for a direction, which is used on float64 arrays only.
        """
        if self.index is None:
            return t
        original = self.target.array[self.index]
        return float(np.asarray(original + t, dtype=self.target.array.dtype)) - float(original)


def element_lines(target: Target) -> Iterator[Line]:
    """One line per element: u = e_i, step scale max(1, |x_i|), analytic g_i."""
    for index in np.ndindex(*target.array.shape):
        g = float(target.gradient[index])
        scale = max(1.0, abs(float(target.array[index])))
        yield Line(target, str(index), index, None, scale, g, abs(g))


def direction_lines(target: Target, count: int, rng: np.random.Generator) -> Iterator[Line]:
    """``count`` random directions u = z·max(1, |x|), max|z| = 1; analytic g·u.

    The magnitude is √Σ(g_i·u_i)², the typical size of g·u for random u: unlike Σ|g_i·u_i|
    (n times an average term) it grows only as √n, so one wrong element still shows.
    """
    x, g = target.array, target.gradient
    for k in range(count):
        z = rng.standard_normal(x.shape)
        z /= np.abs(z).max()
        u = z * np.maximum(1.0, np.abs(x))
        terms = g * u
        yield Line(target, f"direction {k}", None, u, 1.0, float(terms.sum()), float(np.sqrt(np.sum(terms**2))))


def sampled_element_lines(target: Target, random: int, largest: int, rng: np.random.Generator) -> Iterator[Line]:
    """Element lines for the ``largest`` elements of largest |g_i| and ``random`` others drawn without replacement."""
    size = target.gradient.size
    order = np.argsort(-np.abs(target.gradient), axis=None, kind="stable")
    top = order[: min(largest, size)]
    rest = order[min(largest, size) :]
    drawn = rng.choice(rest, size=min(random, rest.size), replace=False) if rest.size else rest
    for flat in (*top.tolist(), *drawn.tolist()):
        index = tuple(int(i) for i in np.unravel_index(flat, target.array.shape))
        g = float(target.gradient[index])
        yield Line(target, str(index), index, None, max(1.0, abs(float(target.array[index]))), g, abs(g))


def central_difference(line: Line, h: float) -> tuple[float, float, float]:
    """(numerical, phi(+step), phi(−step)) with step = h·scale: (phi(step) − phi(−step)) / (2·step).

    2·step is the distance the array really moved, ``line.offset(step) − line.offset(−step)``.
    """
    step = h * line.scale
    plus, minus = line(step), line(-step)
    return (plus - minus) / (line.offset(step) - line.offset(-step)), plus, minus


@dataclass(frozen=True)
class Outcome:
    """How one line fared: its numerical derivative, the error, the error allowed, the status."""

    line: Line
    numerical: float
    error: float
    allowed: float
    status: Verdict
    note: str = ""  #: why, when the status needs explaining (an inconclusive element: why and what to do)
    distance: float = float("nan")  #: a kink's distance from the check point, in steps of t

    @property
    def badness(self) -> float:
        """error / allowed: > 1 is outside tolerance (NaN counts as infinitely bad)."""
        ratio = self.error / self.allowed if self.allowed > 0 else np.inf
        return float(ratio) if np.isfinite(ratio) else float("inf")


def worst(outcomes: list[Outcome]) -> Outcome:
    """The non-kink outcome furthest outside its tolerance (a kink only if all are kinks)."""
    smooth = [outcome for outcome in outcomes if outcome.status != "kink"] or outcomes
    return max(smooth, key=lambda outcome: outcome.badness)
