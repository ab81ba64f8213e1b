"""The numerical engine: central differences in float64, element by element or along directions.

For each tensor of a component (a ``Target``, see ``gradcheck.core.lines``):

- small tensors (size <= max_elements) are checked element by element, phi'(0) = g_i;
- large tensors along a few random directions u, phi'(0) = g·u = vᵀJu when L = v·y, plus a
  sample of single elements (the largest |g_i| and random ones), phi'(0) = g_i (float32
  tensors: the sample of single elements only);

so that the whole catalog stays fast. An element passes when |a − n| <= atol + rtol·scale,
scale = max(|a|, |n|, √Σ(g_i·u_i)²) (tolerances in ``gradcheck.core.tolerances``). An element that
fails, or whose check rounding may have decided, is looked at again (``kinks.classify``):
at the step where its measured rounding and truncation are smallest, then by its one-sided
differences, which tell a kink from a wrong gradient. An element that precision leaves
undecided (allowance over ``inconclusive`` times the tolerance) is *inconclusive*.

Whether rounding may have decided: when rounding_factor·N/step exceeds the tolerance, N the
rounding noise of L: eps·|L| in float64; in a lower precision measured (``target_noise``),
since the rounding inside the component is not eps·|L|.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gradcheck.core.kinks import classify
from gradcheck.core.lines import (
    Line,
    Outcome,
    Target,
    central_difference,
    direction_lines,
    element_lines,
    sampled_element_lines,
    worst,
)
from gradcheck.core.noise import rounding_noise
from gradcheck.core.results import CheckResult, Verdict, relative_error
from gradcheck.core.tolerances import FLOAT64_EPS, Tolerances


def judge(line: Line, base: float, tol: Tolerances, noise: float) -> Outcome:
    """Compare the analytic derivative on ``line`` with the central difference at h0.

    ``noise`` is the rounding noise of L used to decide whether rounding may have decided the
    comparison; an element re-examined by ``classify`` has its own noise measured.
    """
    numerical = central_difference(line, tol.step)[0]
    error = abs(line.analytic - numerical)
    allowed = tol.allowed(max(abs(line.analytic), abs(numerical), line.magnitude))
    if not (np.isfinite(numerical) and np.isfinite(line.analytic)):
        return Outcome(line, numerical, float("inf"), allowed, "fail")
    # rounding can land a wrong gradient within tolerance by chance; when it may exceed the
    # tolerance, the element is looked at again (``classify``)
    noisy = tol.rounding_factor * noise / (tol.step * line.scale) > allowed
    if error <= allowed and not noisy:
        return Outcome(line, numerical, error, allowed, "pass")
    return classify(line, base, numerical, tol)


def target_noise(lines: list[Line], base: float, tol: Tolerances) -> float:
    """The rounding noise of L for a target: eps·|L| in float64; measured on three lines in a lower precision.

    In float64 the rounding of L itself dominates. In float32 the rounding inside the component
    does, and it is measured (``gradcheck.core.noise``) on the first, middle and last line: all lines
    go through the same point, and an element that then fails has its own noise measured.
    """
    if tol.eps <= FLOAT64_EPS or not lines:
        return FLOAT64_EPS * abs(base)
    sample = {0, len(lines) // 2, len(lines) - 1}
    return max(rounding_noise(lines[i], base, tol.step, tol) for i in sample)


def check_target(target: Target, tol: Tolerances, rng: np.random.Generator) -> tuple[CheckResult, list[Outcome]]:
    """Check every element (small tensors) or random directions and elements (large ones) of one target.

    Returns the result and every line's outcome (for a convergence sweep; none when the
    gradient does not even have the tensor's shape).
    """
    if target.gradient.shape != target.array.shape:
        return shape_failure(target), []
    if target.array.size <= tol.max_elements:
        lines, method = list(element_lines(target)), "elementwise"
    else:
        directions = tol.directions if target.array.dtype == np.float64 else 0
        lines = list(direction_lines(target, directions, rng))
        lines += sampled_element_lines(target, tol.sampled_elements, tol.largest_elements, rng)
        method = "projection" if directions else "sampled elements"
    if tol.floor and lines:  # an element's scale is at least floor·max|g_i| of its tensor
        least = tol.floor * float(np.max(np.abs(target.gradient)))
        lines = [replace(line, magnitude=max(line.magnitude, least)) for line in lines]
    base = float(target.loss())
    again = float(target.loss())
    if abs(again - base) > tol.rounding_factor * tol.eps * abs(base) or np.isnan(base) != np.isnan(again):
        return not_deterministic(target, base, again), []
    noise = target_noise(lines, base, tol)
    outcomes = [judge(line, base, tol, noise) for line in lines]
    return summarize(target, outcomes, method, tol), outcomes


def summarize(target: Target, outcomes: list[Outcome], method: str, tol: Tolerances) -> CheckResult:
    """The verdict on a target: fail if any element fails; else inconclusive if any element is
    undecided; kink if kinks dominate; else pass."""
    kinks = sum(outcome.status == "kink" for outcome in outcomes)
    failures = sum(outcome.status == "fail" for outcome in outcomes)
    undecided = [outcome for outcome in outcomes if outcome.status == "inconclusive"]
    top = worst([outcome for outcome in outcomes if outcome.status == "fail"] or undecided or outcomes)
    unit = {"elementwise": "elements", "projection": "directions and sampled elements"}.get(method, method)
    verdict: Verdict
    if failures:
        verdict = "fail"
        message = (
            f"{failures} of {len(outcomes)} {unit} disagree; worst at {top.line.label}: analytic "
            f"{top.line.analytic:.6g} vs numerical {top.numerical:.6g} (error {top.error:.2e} > {top.allowed:.2e})"
        )
    elif undecided:
        verdict = "inconclusive"
        message = f"{len(undecided)} of {len(outcomes)} {unit} undecided; worst at {top.line.label}: {top.note}"
    elif kinks > tol.kink_fraction * len(outcomes):
        verdict = "kink"
        message = (
            f"{kinks} of {len(outcomes)} {unit} sit on kinks: too few smooth points to judge{nearest_kink(outcomes)}"
        )
    else:
        verdict = "pass"
        message = f"{len(outcomes)} {unit} within tolerance"
        if kinks:
            message += f" ({kinks} on kinks, set aside{nearest_kink(outcomes)})"
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


def not_deterministic(target: Target, first: float, second: float) -> CheckResult:
    """An inconclusive result: L at the same point differs between two calls, so no difference means anything.

    A forward that draws from a random source gradcheck does not reset (the global ``np.random``, a
    generator made per call) gives a new L at every evaluation: the scatter would pass for rounding noise.
    """
    message = (
        f"forward is not deterministic: two calls on the same input differ by {abs(second - first):.1e} "
        f"(L = {first:.6g}, then {second:.6g}); seed it per call (hold a numpy Generator on the component, "
        "which gradcheck puts back before every call) or check it in evaluation mode (training=False)"
    )
    return CheckResult(
        component=target.component,
        tensor=target.name,
        index="L",
        analytic=first,
        numerical=second,
        abs_error=abs(second - first),
        rel_error=relative_error(first, second),
        tolerance=0.0,
        verdict="inconclusive",
        method="determinism",
        checked=0,
        message=message,
    )


def nearest_kink(outcomes: list[Outcome]) -> str:
    """ "; at (0, 0) a kink 1.0e-09 from the check point, inside the step 1e-06": the closest kink, or ""."""
    noted = [outcome for outcome in outcomes if outcome.status == "kink" and outcome.note]
    if not noted:
        return ""
    closest = min(noted, key=lambda outcome: outcome.distance)
    return f"; at {closest.line.label} {closest.note}"


def shape_failure(target: Target) -> CheckResult:
    """A failing result for a gradient whose shape is not the tensor's."""
    message = f"the gradient has shape {target.gradient.shape} but {target.name} has shape {target.array.shape}"
    return CheckResult(
        component=target.component,
        tensor=target.name,
        index="shape",
        analytic=float("nan"),
        numerical=float("nan"),
        abs_error=float("inf"),
        rel_error=float("inf"),
        tolerance=0.0,
        verdict="fail",
        method="shape",
        checked=0,
        message=message,
    )
