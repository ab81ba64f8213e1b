"""The numerical engine: central differences in float64, element by element or along directions.

A ``Target`` is one tensor x of a component together with a scalar L(x) and the analytic
gradient g = dL/dx the component computed. The engine checks g along lines through x:

    phi(t) = L(x + t·u)            phi'(0) = g·u  (the analytic value)
    numerical = (phi(h) − phi(−h)) / (2h)          (central difference, error O(h²))

- small tensors (size <= max_elements): u = e_i for every element i, with the step scaled
  to the element, h_i = h0·max(1, |x_i|), so numerical ≈ g_i;
- large tensors: a few random directions u_i = z_i·max(1, |x_i|) (z Gaussian, max|z| = 1),
  so numerical ≈ g·u = vᵀJu when L = v·y: one number per direction checks the whole tensor.

An element passes when |a − n| <= atol + rtol·scale, scale = max(|a|, |n|, Σ|g_i·u_i|).
An element that fails is looked at again (``kinks.classify``): a smaller step, then its
one-sided differences, which tell a kink from a wrong gradient.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.results import CheckResult, Verdict, relative_error
from gradcheck.tolerances import Tolerances

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


def judge(line: Line, base: float, tol: Tolerances) -> Outcome:
    """Compare the analytic derivative on ``line`` with the central difference at h0."""
    from gradcheck.kinks import classify

    numerical = central_difference(line, tol.step)[0]
    error = abs(line.analytic - numerical)
    allowed = tol.allowed(max(abs(line.analytic), abs(numerical), line.magnitude))
    if error <= allowed:
        return Outcome(line, numerical, error, allowed, "pass")
    if not (np.isfinite(numerical) and np.isfinite(line.analytic)):
        return Outcome(line, numerical, float("inf"), allowed, "fail")
    return classify(line, base, numerical, tol)


def check_target(target: Target, tol: Tolerances, rng: np.random.Generator) -> tuple[CheckResult, Line]:
    """Check every element (small tensors) or random directions (large ones) of one target.

    Returns the result and the worst line (for a convergence sweep).
    """
    if target.array.size <= tol.max_elements:
        lines, method = list(element_lines(target)), "elementwise"
    else:
        lines, method = list(direction_lines(target, tol.directions, rng)), "projection"
    base = float(target.loss())
    outcomes = [judge(line, base, tol) for line in lines]
    return summarize(target, outcomes, method, tol), worst(outcomes).line


def worst(outcomes: list[Outcome]) -> Outcome:
    """The non-kink outcome furthest outside its tolerance (a kink only if all are kinks)."""
    smooth = [outcome for outcome in outcomes if outcome.status != "kink"] or outcomes
    return max(smooth, key=lambda outcome: outcome.badness)


def summarize(target: Target, outcomes: list[Outcome], method: str, tol: Tolerances) -> CheckResult:
    """The verdict on a target: fail if any element fails; kink if kinks dominate; else pass."""
    kinks = sum(outcome.status == "kink" for outcome in outcomes)
    failures = sum(outcome.status == "fail" for outcome in outcomes)
    top = worst(outcomes)
    unit = "elements" if method == "elementwise" else "directions"
    verdict: Verdict
    if failures:
        verdict = "fail"
        message = (
            f"{failures} of {len(outcomes)} {unit} disagree; worst at {top.line.label}: analytic "
            f"{top.line.analytic:.6g} vs numerical {top.numerical:.6g} (error {top.error:.2e} > {top.allowed:.2e})"
        )
    elif kinks > tol.kink_fraction * len(outcomes):
        verdict = "kink"
        message = f"{kinks} of {len(outcomes)} {unit} sit on kinks: too few smooth points to judge"
    else:
        verdict = "pass"
        message = f"{len(outcomes)} {unit} within tolerance"
        if kinks:
            message += f" ({kinks} on kinks, set aside)"
    return CheckResult(
        component=target.component,
        tensor=target.name,
        index=top.line.label,
        analytic=top.line.analytic,
        numerical=top.numerical,
        abs_error=top.error,
        rel_error=relative_error(top.line.analytic, top.numerical),
        tolerance=top.allowed,
        verdict=verdict,
        method=method,
        checked=len(outcomes),
        kinks=kinks,
        message=message,
    )
