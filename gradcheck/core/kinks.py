"""Kinks: points where a function has no derivative (ReLU at 0, |W| at 0, a clip edge).

Two defences, so that a kink never causes a false failure:

1. Check points are drawn away from the known kinks (``push_from_zero``, ``draw_away``),
   by at least ``kink_margin`` (1e-3 in float64), a thousand steps h0 away.
2. An element that fails at h0, or whose agreement rounding may have decided, is looked at
   again (``classify``):
   - its rounding noise N is measured (``gradcheck.core.noise``), and the central difference is
     retried over a ladder of steps, the truncation at each measured against the next one
     (``gradcheck.core.steps``); the step of smallest estimated error (rounding + truncation) is
     used. A kink (or strong curvature) a little way off spoils only the larger steps; a
     loss with a large |L| spoils only the smaller ones;
   - agreement within tolerance + that estimate is a pass, if the estimate leaves the
     allowance within ``inconclusive`` (10) times the tolerance; beyond that the element is
     *inconclusive*: its precision cannot decide it (never a pass, never a confident fail);
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

from gradcheck.core.lines import Line, Outcome
from gradcheck.core.noise import rounding_noise
from gradcheck.core.steps import best_step
from gradcheck.core.tolerances import Tolerances

Array = NDArray[Any]


def one_sided(line: Line, base: float, h: float) -> tuple[float, float]:
    """(left, right) one-sided differences at step h·scale around phi(0) = ``base``."""
    step = h * line.scale
    right = (line(step) - base) / line.offset(step)
    left = (base - line(-step)) / -line.offset(-step)
    return left, right


def classify(line: Line, base: float, numerical: float, tol: Tolerances, noise: float | None = None) -> Outcome:
    """Re-examine an element: a pass at its best step, inconclusive, a kink, or a failure.

    With N the measured rounding noise of phi (``noise``, measured here if not given), a
    central difference at step s = h·scale carries a rounding error up to ≈ N/s; at the best
    step h (``steps.best_step``) the error allowed is

        allowed = atol + rtol·scale + rounding_factor·N/s + truncation measured at h.

    No allowance may exceed ``inconclusive`` times the tolerance atol + rtol·scale: an element
    that agrees only within more is *inconclusive* (e.g. |L| too large for its gradient, or
    float32 too coarse for it), never a pass.
    """
    analytic = line.analytic
    if noise is None:
        noise = rounding_noise(line, base, tol.step, tol)

    def rounding(h: float) -> float:
        return tol.rounding_factor * noise / (h * line.scale)

    def plain(value: float) -> float:
        return tol.allowed(max(abs(analytic), abs(value), line.magnitude))

    h, value, estimate = best_step(line, numerical, rounding, tol)
    allowance = plain(value) + estimate
    agrees = abs(analytic - value) <= allowance
    if agrees and allowance <= tol.inconclusive * plain(value):
        return Outcome(line, value, abs(analytic - value), allowance, "pass")
    # a kink inside the step spoils every step's truncation estimate (an allowance of inf): it is a
    # kink, said with its distance, before it can pass for an element that rounding leaves undecided
    fine = tol.step / 10.0
    coarse_left, coarse_right = one_sided(line, base, tol.step)
    left, right = one_sided(line, base, fine)
    jump, coarse_jump = right - left, coarse_right - coarse_left
    limit = plain(numerical) + rounding(fine)
    # a kink's jump is the same at every step below its distance; a smooth function's is h·phi'' and
    # shrinks tenfold; rounding (two one-sided differences, each up to N/s) must not pass for a jump
    same_size = coarse_jump != 0.0 and 0.5 <= jump / coarse_jump <= 2.0
    persistent = same_size and abs(jump) > 10.0 * (limit + 2.0 * rounding(fine))
    inside = min(left, right) - limit <= analytic <= max(left, right) + limit
    if persistent and inside:
        distance = kink_distance(line, tol.step)
        note = f"a kink {distance:.1e} from the check point, inside the step {tol.step * line.scale:.0e}"
        return Outcome(
            line, numerical, abs(analytic - numerical), plain(numerical) + rounding(tol.step), "kink", note, distance
        )
    if agrees:
        note = undecided(base, noise, h, allowance, plain(value), analytic, value, tol)
        return Outcome(line, value, abs(analytic - value), allowance, "inconclusive", note)
    return Outcome(line, value, abs(analytic - value), allowance, "fail")


def kink_distance(line: Line, h: float) -> float:
    """How far from the check point (in t) the kink lies: where the straight lines beyond ±step meet.

    Past the kink phi is smooth on each side; its slopes there, right = (phi(2s) − phi(s))/s and
    left = (phi(−s) − phi(−2s))/s at s = h·scale, extended back, cross at the kink t*:
    phi(s) + right·(t* − s) = phi(−s) + left·(t* + s).
    """
    step = h * line.scale
    ts = [line.offset(k * step) for k in (-2.0, -1.0, 1.0, 2.0)]
    phis = [line(t) for t in ts]
    left = (phis[1] - phis[0]) / (ts[1] - ts[0])
    right = (phis[3] - phis[2]) / (ts[3] - ts[2])
    if right == left:
        return 0.0
    crossing = (phis[1] - phis[2] + right * ts[2] - left * ts[1]) / (right - left)
    return abs(crossing)


def undecided(
    base: float,
    noise: float,
    h: float,
    allowance: float,
    tolerance: float,
    analytic: float,
    value: float,
    tol: Tolerances,
) -> str:
    """Why an element is inconclusive, and what to do about it."""
    reason = (
        f"inconclusive: in {tol.precision}, rounding (noise {noise:.1e} of L ≈ {base:.3g}) and truncation allow an "
        f"error of {allowance:.1e} even at the best step h={h:.0e}, over {tol.inconclusive:g}× the tolerance "
        f"{tolerance:.1e} (analytic {analytic:.6g} vs numerical {value:.6g}); "
    )
    if tol.precision == "float64":
        return reason + "use --sweep, or check it at a point where |L| is smaller relative to its gradient"
    return reason + (
        f"{tol.precision} is too coarse here: give the component get_config() with a 'dtype' entry and "
        "from_config() so gradcheck can rebuild it in float64, or build it in float64 yourself"
    )


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
