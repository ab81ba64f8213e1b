"""Convergence order: a verdict that needs no hand-picked step.

For one line (the worst element of a check) the central difference is taken over a sweep of
steps h = 1e-1 .. 1e-8 and compared with the analytic value:

    e(h) = |numerical(h) − analytic| ≈ |Δ + c·h²| + rounding ≈ eps·|L| / h

- a right gradient has Δ = 0: e(h) falls as h², a slope of 2 on a log-log plot, until
  rounding takes over at small h (the V shape);
- a wrong gradient has Δ ≠ 0: e(h) flattens at |Δ| however small h gets, a slope of 0.

Rounding is measured, not guessed: phi is evaluated at four tiny steps (±1e-12, ±3e-12
times the element scale) where phi(δ) − phi(0) − δ·analytic is pure rounding noise; its
largest size N (at least eps·|phi(0)|) gives the rounding level N/step of a central
difference at each h. Points
more than ``sweep_noise`` times above it are signal.

- h* is the bottom of the curve (the smallest error e_min);
- the slope is fitted to log e vs log h over the (up to) four smallest signal steps
  with h >= h*: the truncation arm just above the bottom (over the four smallest signal
  steps of all if fewer than three lie above the bottom);
- fail when the error is flat there (|slope| < ``flat_slope``; rounding rises as 1/h, a
  slope of −1, and is not a plateau) and never drops a hundredfold
  at smaller h (a kink crossed by the large steps makes a flat stretch that does drop);
- fail when e_min exceeds the tolerance (on a half-decade grid e_min >= 0.68·|Δ|, so an
  error Δ cannot hide in a lucky cancellation);
- pass otherwise: a right gradient, whose error fell towards the rounding floor.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gradcheck.lines import Line, central_difference
from gradcheck.results import CheckResult, Verdict
from gradcheck.tolerances import Tolerances

EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Sweep:
    """Errors over the steps of a sweep, the fitted slope (None if unfitted) and the verdict."""

    steps: tuple[float, ...]
    errors: tuple[float, ...]
    slope: float | None
    verdict: Verdict
    message: str


def rounding_noise(line: Line) -> float:
    """phi's rounding noise: the largest |phi(δ) − phi(0) − δ·analytic| over four tiny δ,
    and at least eps·|phi(0)|."""
    base = line(0.0)
    deltas = [sign * size * line.scale for size in (1e-12, 3e-12) for sign in (1.0, -1.0)]
    measured = max(abs(line(delta) - base - delta * line.analytic) for delta in deltas)
    return max(measured, EPS * abs(base))


def sweep_line(line: Line, tol: Tolerances) -> Sweep:
    """e(h) for every h in ``tol.sweep_steps``, the slope above the bottom, and the verdict."""
    noise = rounding_noise(line)
    errors, floors = [], []
    for h in tol.sweep_steps:
        step = h * line.scale
        try:
            with np.errstate(all="ignore"):
                numerical = central_difference(line, h)[0]
        except ValueError:  # a large step may leave the component's domain, e.g. p outside [0, 1]
            numerical = float("nan")
        errors.append(abs(numerical - line.analytic))
        floors.append(tol.sweep_noise * (noise / step + EPS * line.magnitude))
    finite = [i for i, error in enumerate(errors) if np.isfinite(error)]
    if not finite:
        return Sweep(tuple(tol.sweep_steps), tuple(errors), None, "fail", "no finite difference at any step")
    bottom = min(finite, key=lambda i: errors[i])
    signal = [i for i in finite if errors[i] > floors[i]]
    arm = [i for i in signal if i <= bottom][-4:]
    if len(arm) < 3:  # the bottom sits at a large step: a plateau, a dip, or no truncation at all
        arm = signal[-4:]
    slope = _fit_slope([(tol.sweep_steps[i], errors[i]) for i in arm])
    best, allowed = errors[bottom], tol.allowed(max(abs(line.analytic), line.magnitude))
    drops = bool(arm) and any(errors[i] <= errors[arm[-1]] / 100.0 for i in finite if i > arm[-1])
    verdict: Verdict
    if slope is not None and abs(slope) < tol.flat_slope and not drops:
        verdict, message = "fail", f"error stays flat near {errors[arm[-1]]:.2e} as h shrinks (slope {slope:.2f})"
    elif best > allowed:
        verdict, message = "fail", f"best error {best:.2e} over the sweep exceeds {allowed:.2e}"
    elif slope is not None and slope >= tol.flat_slope:
        verdict, message = "pass", f"error falls as h^{slope:.2f} to {best:.2e} at h={tol.sweep_steps[bottom]:.0e}"
    else:
        verdict, message = "pass", f"no truncation error above rounding: best error {best:.2e} at every scale"
    return Sweep(tuple(tol.sweep_steps), tuple(errors), slope, verdict, message)


def _fit_slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log e against log h (None for fewer than 3 points)."""
    if len(points) < 3:
        return None
    log_h = np.log10([h for h, _ in points])
    log_e = np.log10([error for _, error in points])
    return float(np.polyfit(log_h, log_e, 1)[0])


def apply_sweep(result: CheckResult, line: Line, tol: Tolerances) -> CheckResult:
    """``result`` with its verdict resting on the sweep of its worst line (kinks stay kinks)."""
    sweep = sweep_line(line, tol)
    verdict = result.verdict if result.verdict == "kink" else sweep.verdict
    return replace(
        result,
        verdict=verdict,
        slope=sweep.slope,
        sweep_errors=sweep.errors,
        message=f"sweep at {line.label}: {sweep.message}",
        method=f"{result.method} + sweep",
    )
