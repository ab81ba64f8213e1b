"""Kinks: points where a function has no derivative (ReLU at 0, |W| at 0, a clip edge).

Two defences, so that a kink never causes a false failure:

1. Check points are drawn away from the known kinks (``push_from_zero``, ``draw_away``),
   by at least ``kink_margin`` (1e-3), a thousand steps h0 away.
2. An element that still fails is looked at again (``classify``):
   - its rounding noise N is measured and N/step added to the error allowed: a loss with a
     large value |L| rounds to eps·|L|, which a step h turns into an error eps·|L|/h;
   - the central difference is retried with h0/10 and h0/100 (only while their rounding is
     well below the error to explain); a kink (or strong curvature) a little way off spoils
     only the larger steps, so agreement there is a pass;
   - otherwise its one-sided differences are compared,
         right = (phi(h) − phi(0)) / h,      left = (phi(0) − phi(−h)) / h.
     For a smooth function right − left ≈ h·phi'' shrinks tenfold from h0 to h0/10; at a
     kink it is the jump in the derivative at both. A jump of about the same size at h0 and
     h0/10, well above rounding, with the analytic value inside [left, right] is a kink:
     reported as such, not as a failure. Anything else is a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gradcheck.lines import Line, Outcome, central_difference
from gradcheck.sweep import rounding_noise
from gradcheck.tolerances import Tolerances

Array = NDArray[Any]


def one_sided(line: Line, base: float, h: float) -> tuple[float, float]:
    """(left, right) one-sided differences at step h·scale around phi(0) = ``base``."""
    step = h * line.scale
    right = (line(step) - base) / step
    left = (base - line(-step)) / step
    return left, right


def classify(line: Line, base: float, numerical: float, tol: Tolerances) -> Outcome:
    """Re-examine a failing element: pass once rounding is counted or at a finer step, a kink, or a failure.

    With N the measured rounding noise of phi (``sweep.rounding_noise``), a central difference
    at step s = h·scale carries a rounding error up to ≈ N/s, so the error allowed at h is

        allowed(h) = atol + rtol·scale + rounding_factor·N/s

    (a loss with a large constant offset, |L| = 1e4, has N ≈ eps·|L| and N/s ≈ 1e-5 at h0).
    """
    analytic, error = line.analytic, abs(line.analytic - numerical)
    noise = rounding_noise(line)

    def rounding(h: float) -> float:
        return tol.rounding_factor * noise / (h * line.scale)

    def allowed(value: float, h: float) -> float:
        return tol.allowed(max(abs(analytic), abs(value), line.magnitude)) + rounding(h)

    if error <= allowed(numerical, tol.step):
        return Outcome(line, numerical, error, allowed(numerical, tol.step), "pass")
    for factor in (10.0, 100.0):
        h = tol.step / factor
        if rounding(h) > error / 10.0:  # too noisy at this step to tell the error from rounding
            break
        finer = central_difference(line, h)[0]
        if abs(analytic - finer) <= allowed(finer, h):
            return Outcome(line, finer, abs(analytic - finer), allowed(finer, h), "pass")
    fine = tol.step / 10.0
    coarse_left, coarse_right = one_sided(line, base, tol.step)
    left, right = one_sided(line, base, fine)
    jump, coarse_jump = right - left, coarse_right - coarse_left
    limit = allowed(numerical, fine)
    # a kink's jump is the same at every step below its distance; a smooth function's is h·phi'' and
    # shrinks tenfold; rounding (two one-sided differences, each up to N/s) must not pass for a jump
    same_size = coarse_jump != 0.0 and 0.5 <= jump / coarse_jump <= 2.0
    persistent = same_size and abs(jump) > 10.0 * (limit + 2.0 * rounding(fine))
    inside = min(left, right) - limit <= analytic <= max(left, right) + limit
    return Outcome(line, numerical, error, allowed(numerical, tol.step), "kink" if persistent and inside else "fail")


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
