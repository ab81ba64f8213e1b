"""Convergence order: a verdict that needs no hand-picked step.

For one line (the worst element of a check) the central difference is taken over a sweep of
steps h = 1e-1 .. 1e-8 and compared with the analytic value:

    e(h) = |numerical(h) − analytic| ≈ |Δ + c·h²| + rounding ≈ eps·|L| / h

- a right gradient has Δ = 0: e(h) falls as h², a slope of 2 on a log-log plot, until
  rounding takes over at small h (the V shape);
- a wrong gradient has Δ ≠ 0: e(h) flattens at |Δ| however small h gets, a slope of 0.

Rounding is measured, not guessed, and without the analytic value: the noise N of phi
around the base step (``gradcheck.core.noise``) gives the rounding level N/step of a central
difference at each h. Points more than ``sweep_noise`` times above it are signal. A step
where the checked code raises or gives a non-finite value (a large step may leave its
domain) has no error and is left out.

- h* is the bottom of the curve (the smallest error e_min);
- the slope is fitted to log e vs log h over the (up to) four smallest signal steps
  with h >= h*: the truncation arm just above the bottom (over the four smallest signal
  steps of all if fewer than three lie above the bottom);
- fail when the error is flat there (|slope| < ``flat_slope``; rounding rises as 1/h, a
  slope of −1, and is not a plateau) and never drops a hundredfold
  at smaller h (a kink crossed by the large steps makes a flat stretch that does drop);
- fail when the error flattens *below* h*: the signal steps smaller than h* whose error is
  also above the tolerance, if there are two or more, must keep falling (|slope| >=
  ``flat_slope``). A wrong gradient can dip: c·h² cancels Δ near h = √(|Δ/c|), and on the
  grid e(h*) can land anywhere down to the rounding floor, so e_min alone proves nothing;
  below the dip e(h) → |Δ| again and stays there, which is what this test sees;
- fail when e_min exceeds the tolerance;
- pass otherwise: a right gradient, whose error fell towards the rounding floor.

The sweep is of one line; ``apply_sweep`` sweeps every element the plain check failed (and
the worst one when none failed), so the verdict on one element never clears another.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gradcheck.core.guard import ComponentError
from gradcheck.core.lines import Line, Outcome, central_difference, worst
from gradcheck.core.noise import rounding_noise
from gradcheck.core.results import CheckResult, Verdict
from gradcheck.core.tolerances import Tolerances


@dataclass(frozen=True)
class Sweep:
    """Errors over the steps of a sweep, the fitted slope (None if unfitted) and the verdict."""

    steps: tuple[float, ...]
    errors: tuple[float, ...]
    slope: float | None
    verdict: Verdict
    message: str


def sweep_line(line: Line, tol: Tolerances) -> Sweep:
    """e(h) for every h in ``tol.sweep_steps``, the slope above the bottom, and the verdict."""
    noise = rounding_noise(line, line(0.0), tol.step, tol)
    errors, floors = [], []
    for h in tol.sweep_steps:
        step = h * line.scale
        try:
            with np.errstate(all="ignore"):
                numerical = central_difference(line, h)[0]
        except ComponentError:  # a large step may leave the component's domain, e.g. p outside [0, 1]
            numerical = float("nan")
        errors.append(abs(numerical - line.analytic))
        floors.append(tol.sweep_noise * (noise / step + tol.eps * line.magnitude))
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
    # below the bottom: the steps where the error is still signal and outside tolerance
    tail = [i for i in finite if i > bottom and errors[i] > max(floors[i], allowed)][-4:]
    tail_slope = _fit_slope([(tol.sweep_steps[i], errors[i]) for i in tail], fewest=2)
    verdict: Verdict
    if slope is not None and abs(slope) < tol.flat_slope and not drops:
        verdict, message = "fail", f"error stays flat near {errors[arm[-1]]:.2e} as h shrinks (slope {slope:.2f})"
    elif tail_slope is not None and abs(tail_slope) < tol.flat_slope:
        verdict, message = (
            "fail",
            (
                f"error dips to {best:.2e} at h={tol.sweep_steps[bottom]:.0e} but flattens near {errors[tail[-1]]:.2e} "
                f"below it (slope {tail_slope:.2f}): truncation cancelling a wrong gradient"
            ),
        )
    elif best > allowed:
        verdict, message = "fail", f"best error {best:.2e} over the sweep exceeds {allowed:.2e}"
    elif slope is not None and slope >= tol.flat_slope:
        verdict, message = "pass", f"error falls as h^{slope:.2f} to {best:.2e} at h={tol.sweep_steps[bottom]:.0e}"
    elif slope is not None:
        verdict, message = "pass", f"no truncation error above rounding: best error {best:.2e} at every scale"
    else:
        verdict, message = (
            "pass",
            (
                f"no slope to measure: the error stays at rounding level at every step (best {best:.2e}), "
                "so the central difference is exact, as for a linear map (no h² truncation to fall)"
            ),
        )
    return Sweep(tuple(tol.sweep_steps), tuple(errors), slope, verdict, message)


def _fit_slope(points: list[tuple[float, float]], fewest: int = 3) -> float | None:
    """Least-squares slope of log e against log h (None for fewer than ``fewest`` points)."""
    if len(points) < fewest:
        return None
    log_h = np.log10([h for h, _ in points])
    log_e = np.log10([error for _, error in points])
    return float(np.polyfit(log_h, log_e, 1)[0])


def apply_sweep(result: CheckResult, outcomes: list[Outcome], tol: Tolerances) -> CheckResult:
    """``result`` with its verdict resting on sweeps (kinks stay kinks).

    Every element the plain check failed or left inconclusive is swept, worst first, until one fails the sweep;
    with no failed element the worst one is swept. The result passes only if every swept
    element passes: an element the sweep did not look at cannot be cleared by another's.
    """
    failing = sorted(
        (o for o in outcomes if o.status in ("fail", "inconclusive")), key=lambda o: o.badness, reverse=True
    )
    lines = [outcome.line for outcome in failing] or [worst(outcomes).line]
    sweeps: list[tuple[Line, Sweep]] = []
    for line in lines:
        sweeps.append((line, sweep_line(line, tol)))
        if sweeps[-1][1].verdict == "fail":
            break
    line, sweep = sweeps[-1] if sweeps[-1][1].verdict == "fail" else sweeps[0]
    verdict = result.verdict if result.verdict == "kink" else sweep.verdict
    swept = f" ({len(sweeps)} of {len(lines)} failing elements swept)" if len(lines) > 1 else ""
    return replace(
        result,
        verdict=verdict,
        slope=sweep.slope,
        sweep_errors=sweep.errors,
        sweep_steps=sweep.steps,
        message=f"sweep at {line.label}: {sweep.message}{swept}",
        method=f"{result.method} + sweep",
    )
