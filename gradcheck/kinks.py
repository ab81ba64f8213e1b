"""Kinks: points where a function has no derivative (ReLU at 0, |W| at 0, a clip edge).

Two defences, so that a kink never causes a false failure:

1. Check points are drawn away from the known kinks (``push_from_zero``, ``draw_away``),
   by at least ``kink_margin`` (1e-3), a thousand steps h0 away.
2. An element that still fails is looked at again (``classify``):
   - its rounding noise N is measured and N/step added to the error allowed: a loss with a
     large value |L| rounds to eps·|L|, which a step h turns into an error eps·|L|/h;
   - when that rounding dominates at h0 (|L| large for the gradient), the central difference
     is retried at larger steps h0·√10, h0·10, ... up to ``max_step``, where rounding is
     smaller and truncation measurable, and the step of smallest estimated error is used;
   - otherwise it is retried with h0/10 and h0/100 (only while their rounding is
     well below the error to explain); a kink (or strong curvature) a little way off spoils
     only the larger steps, so agreement there is a pass;
   - no allowance may exceed ``inconclusive`` (10) times the tolerance: an element that needs
     more is an inconclusive check, reported as a failure (use --sweep or a smaller |L|);
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
    """Re-examine a failing element: pass once rounding is counted or at another step, a kink, or a failure.

    With N the measured rounding noise of phi (``sweep.rounding_noise``), a central difference
    at step s = h·scale carries a rounding error up to ≈ N/s, so the error allowed at h is

        allowed(h) = atol + rtol·scale + rounding_factor·N/s

    (a loss with a large constant offset, |L| = 1e4, has N ≈ eps·|L| and N/s ≈ 1e-5 at h0).

    When rounding dominates at h0 (rounding_factor·N/s > rtol·scale) smaller steps only make it
    worse, so the larger steps h0·√10, h0·10, ... up to ``max_step`` are tried (``larger_steps``)
    and the one with the smallest estimated error is used. No allowance may exceed
    ``inconclusive`` times the tolerance: an element that would need more (|L| too large for
    its gradient) is reported as an inconclusive failure, never as a pass.
    """
    analytic, error = line.analytic, abs(line.analytic - numerical)
    noise = rounding_noise(line)

    def rounding(h: float) -> float:
        return tol.rounding_factor * noise / (h * line.scale)

    def plain(value: float) -> float:
        return tol.allowed(max(abs(analytic), abs(value), line.magnitude))

    def allowed(value: float, h: float) -> float:
        return plain(value) + rounding(h)

    def agreed(value: float, h: float, allowance: float) -> Outcome:
        """A pass if ``allowance`` is within ``inconclusive`` times the tolerance, else an inconclusive failure."""
        if allowance <= tol.inconclusive * plain(value):
            return Outcome(line, value, abs(analytic - value), allowance, "pass")
        note = (
            f"inconclusive: |L| ≈ {abs(base):.3g} is too large relative to the gradient; its rounding allows an "
            f"error of {allowance:.2e} even at the best step h={h:.0e}, over {tol.inconclusive:g}× the tolerance "
            f"{plain(value):.2e} (analytic {analytic:.6g} vs numerical {value:.6g}); "
            "use --sweep or a smaller loss scale"
        )
        return Outcome(line, value, abs(analytic - value), allowance, "fail", note)

    # what a failure reports: the difference at h0, or at the best larger step when rounding dominates
    reported, reported_allowed = numerical, allowed(numerical, tol.step)
    scale = max(abs(analytic), abs(numerical), line.magnitude)
    if rounding(tol.step) > tol.rtol * scale:
        h, value, estimate = larger_steps(line, numerical, rounding, tol)
        reported, reported_allowed = value, plain(value) + estimate
        if abs(analytic - value) <= reported_allowed:
            return agreed(value, h, reported_allowed)
    elif error <= reported_allowed:
        return agreed(numerical, tol.step, reported_allowed)
    for factor in (10.0, 100.0):
        h = tol.step / factor
        if rounding(h) > error / 10.0:  # too noisy at this step to tell the error from rounding
            break
        finer = central_difference(line, h)[0]
        if abs(analytic - finer) <= allowed(finer, h):
            return agreed(finer, h, allowed(finer, h))
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
    if persistent and inside:
        return Outcome(line, numerical, error, allowed(numerical, tol.step), "kink")
    return Outcome(line, reported, abs(analytic - reported), reported_allowed, "fail")


RUNG = 10.0**0.5  #: the larger steps h0·RUNG^k are half a decade apart


def larger_steps(
    line: Line, numerical: float, rounding: Callable[[float], float], tol: Tolerances
) -> tuple[float, float, float]:
    """(h, numerical(h), estimated error) at the step h = h0·√10^k <= ``max_step`` of smallest estimated error.

    The estimate is rounding(h) + 2·|D(r·h) − D(h)|/(r² − 1), r = √10: a central difference
    D(h) = g + c·h² + ... has D(r·h) − D(h) ≈ (r² − 1)·c·h², so the truncation error at h is
    measured, not guessed (a wrong gradient shifts D(h) and D(r·h) alike and cannot hide in it).
    Rounding falls with each step while truncation grows, so the ladder stops once the estimate
    grows, or when a step leaves the component's domain (an error or a non-finite value).
    """
    steps, values = [tol.step], [numerical]
    best = (tol.step, numerical, rounding(tol.step))  # no truncation measured at h0 if no larger step fits
    for k in range(1, 128):
        h = tol.step * RUNG**k
        try:
            with np.errstate(all="ignore"):
                value = central_difference(line, h)[0]
        except (ValueError, ArithmeticError):  # a large step may leave the component's domain
            break
        if not np.isfinite(value):
            break
        steps.append(h)
        values.append(value)
        estimate = rounding(steps[-2]) + 2.0 * abs(value - values[-2]) / (RUNG**2 - 1.0)
        if len(steps) == 2 or estimate < best[2]:
            best = (steps[-2], values[-2], estimate)
        elif estimate > 2.0 * best[2]:  # well past the bottom: truncation has taken over
            break
        if h > tol.max_step * (1.0 + 1e-9):  # the step above the cap only measures the truncation at the cap
            break
    return best


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
