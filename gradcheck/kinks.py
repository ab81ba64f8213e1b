"""Kinks: points where a function has no derivative (ReLU at 0, |W| at 0, a clip edge).

Two defences, so that a kink never causes a false failure:

1. Check points are drawn away from the known kinks (``push_from_zero``, ``draw_away``),
   by at least ``kink_margin`` (1e-3), a thousand steps h0 away.
2. An element that still fails is looked at again (``classify``):
   - the central difference is retried with h0/10 and h0/100; a kink (or strong
     curvature) a little way off spoils only the larger steps, so agreement there is a pass;
   - otherwise its one-sided differences are compared,
         right = (phi(h) − phi(0)) / h,      left = (phi(0) − phi(−h)) / h.
     For a smooth function right − left ≈ h·phi'' shrinks with h; at a kink it tends to the
     jump in the derivative and does not. A jump that persists from h0 to h0/100 with the
     analytic value inside [left, right] is a kink: reported as such, not as a failure.
     An analytic value outside that interval is wrong on both sides: a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.lines import Line, Outcome, central_difference
from gradcheck.tolerances import Tolerances

Array = NDArray[Any]


def one_sided(line: Line, base: float, h: float) -> tuple[float, float]:
    """(left, right) one-sided differences at step h·scale around phi(0) = ``base``."""
    step = h * line.scale
    right = (line(step) - base) / step
    left = (base - line(-step)) / step
    return left, right


def classify(line: Line, base: float, numerical: float, tol: Tolerances) -> Outcome:
    """Re-examine a failing element: pass at a finer step, a kink, or a failure."""
    analytic = line.analytic

    def allowed(value: float) -> float:
        return tol.allowed(max(abs(analytic), abs(value), line.magnitude))

    for factor in (10.0, 100.0):
        finer = central_difference(line, tol.step / factor)[0]
        if abs(analytic - finer) <= allowed(finer):
            return Outcome(line, finer, abs(analytic - finer), allowed(finer), "pass")
    coarse_left, coarse_right = one_sided(line, base, tol.step)
    left, right = one_sided(line, base, tol.step / 100.0)
    jump, coarse_jump = right - left, coarse_right - coarse_left
    limit = allowed(numerical)
    persistent = abs(jump) > 10.0 * limit and abs(jump) > 0.5 * abs(coarse_jump) and jump * coarse_jump > 0
    inside = min(left, right) - limit <= analytic <= max(left, right) + limit
    return Outcome(line, numerical, abs(analytic - numerical), limit, "kink" if persistent and inside else "fail")


def push_from_zero(values: Array, margin: float) -> Array:
    """``values`` with every entry closer than ``margin`` to 0 moved out to ±margin (in place)."""
    near = np.abs(values) < margin
    values[near] = np.where(values[near] < 0, -margin, margin)
    return values


def draw_away(draw: Callable[[], Any], distance: Callable[[Any], float], margin: float, attempts: int = 100) -> Any:
    """Call ``draw()`` until ``distance(sample)`` to the nearest kink is at least ``margin``.

    Used for points that cannot be moved directly, e.g. ReLU pre-activations x @ W + b.
    """
    for _ in range(attempts):
        sample = draw()
        if distance(sample) >= margin:
            return sample
    raise RuntimeError(f"no check point at least {margin} from a kink in {attempts} draws")
