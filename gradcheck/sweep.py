"""Convergence order: a verdict that needs no hand-picked step.

For one line (the worst element of a check) the central difference is taken over a sweep of
steps h = 1e-1 .. 1e-8 and compared with the analytic value:

    e(h) = |numerical(h) − analytic| ≈ |Δ + c·h²| + rounding ≈ eps·|L| / h

- a right gradient has Δ = 0: e(h) falls as h², a slope of 2 on a log-log plot, until
  rounding takes over at small h (the V shape);
- a wrong gradient has Δ ≠ 0: e(h) flattens at |Δ| however small h gets, a slope of 0.

The slope is fitted to log e vs log h over the four smallest steps whose error stands above
the rounding estimate (``sweep_noise`` × eps·max|phi| / step). Verdict:

- fail when the error is flat there (slope < ``flat_slope``): the gradient is wrong;
- pass when it falls like h^``min_slope`` or faster;
- otherwise (too few points above rounding, e.g. a function linear in x whose central
  difference is exact) pass when the best error over the sweep is within tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gradcheck.engine import Line, central_difference
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


def sweep_line(line: Line, tol: Tolerances) -> Sweep:
    """e(h) for every h in ``tol.sweep_steps``, the slope at the small-h end, and the verdict."""
    errors, signal = [], []
    for h in tol.sweep_steps:
        try:
            with np.errstate(all="ignore"):
                numerical, plus, minus = central_difference(line, h)
        except ValueError:  # a large step may leave the component's domain, e.g. p outside [0, 1]
            errors.append(float("nan"))
            continue
        error = abs(numerical - line.analytic)
        errors.append(error)
        rounding = EPS * (max(abs(plus), abs(minus)) / (h * line.scale) + line.magnitude)
        if np.isfinite(error) and error > tol.sweep_noise * rounding:
            signal.append((h, error))
    slope = _fit_slope(signal[-4:])
    finite = [error for error in errors if np.isfinite(error)]
    best = min(finite) if finite else float("inf")
    allowed = tol.allowed(max(abs(line.analytic), line.magnitude))
    verdict: Verdict
    if slope is not None and slope < tol.flat_slope:
        verdict, message = "fail", f"error stays flat near {signal[-1][1]:.2e} as h shrinks (slope {slope:.2f})"
    elif slope is not None and slope >= tol.min_slope:
        verdict, message = "pass", f"error falls as h^{slope:.2f}"
    elif best <= allowed:
        verdict, message = "pass", f"best error {best:.2e} over the sweep is within {allowed:.2e}"
    else:
        verdict, message = "fail", f"best error {best:.2e} over the sweep exceeds {allowed:.2e}"
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
