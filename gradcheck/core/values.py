"""A value against its reference: ``compare``, the one judgement of every value check.

Finite differences are not the only proof. A forward pass can be checked against an
independent reference written from the textbook formula, and an optimizer's parameters,
step after step, against their closed form. Both are judged here, element by element:

    |reference − value| <= closed_atol + closed_rtol · scale

and the worst element (the largest ratio of error to allowance) is the one reported. The
scale is where the two kinds differ:

- a **value** (``steps=False``): max(|reference|, |value|, the largest |reference| of the
  array). An output such as a softmax row or a normalized batch is computed from all of its
  elements, so each may carry rounding of the array's largest magnitude;
- a **history** (``steps=True``, rows are steps): max(|reference|, |value|) of the element
  itself. Each parameter follows its own sequence, so one parameter's allowance never grows
  with another's size: a wrong update of a small parameter is not hidden by a large one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradcheck.core.results import CheckResult, Verdict, relative_error
from gradcheck.core.tolerances import Tolerances


def compare(
    tensor: str,
    expected: Any,
    actual: Any,
    tol: Tolerances,
    formula: str,
    *,
    component: str = "",
    steps: bool = False,
) -> CheckResult:
    """The reference ``expected`` against the checked ``actual``; the worst element decides.

    Args:
        tensor: what is compared (the result's ``tensor`` column).
        expected, actual: arrays (or numbers) of one shape; a different shape fails.
        tol: ``closed_atol`` and ``closed_rtol`` are used.
        formula: what the reference computes, for the message.
        component: the component's name, or "" when the catalog fills it in.
        steps: True for a history, one row per step (see the module docstring): the allowance
            is per element, the index names the step and the method is ``"closed form"``.
    """
    method = "closed form" if steps else "reference"
    reference = np.array(expected, dtype=np.float64)
    value = np.array(actual, dtype=np.float64)
    if steps:  # one step may be given as a row or as a vector
        reference, value = np.atleast_2d(reference), np.atleast_2d(value)
    if reference.shape != value.shape:
        return CheckResult(
            component=component,
            tensor=tensor,
            index="shape",
            analytic=math.nan,
            numerical=math.nan,
            abs_error=math.inf,
            rel_error=math.inf,
            tolerance=0.0,
            verdict="fail",
            method=method,
            checked=0,
            message=f"{formula}: the checked code gives shape {value.shape}, the reference {reference.shape}",
        )
    reference, value = np.atleast_1d(reference), np.atleast_1d(value)
    error = np.abs(reference - value)
    scale = np.maximum(np.abs(reference), np.abs(value))
    if not steps and reference.size:
        scale = np.maximum(scale, float(np.abs(reference).max()))
    allowed = tol.closed_atol + tol.closed_rtol * scale
    ratio = np.nan_to_num(error / allowed, nan=np.inf)
    worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    a, n = float(reference[worst]), float(value[worst])
    verdict: Verdict = "pass" if bool(np.all(ratio <= 1.0)) else "fail"
    if steps:
        index = f"step {int(worst[0]) + 1}, [{', '.join(str(int(i)) for i in worst[1:])}]"
    else:
        index = str(tuple(int(i) for i in worst)) if np.ndim(expected) else "()"
    message = f"{formula}: " + (
        "equal to rounding"
        if verdict == "pass"
        else f"at {index} the reference gives {a:.10g}, the checked code {n:.10g}"
    )
    return CheckResult(
        component=component,
        tensor=tensor,
        index=index,
        analytic=a,
        numerical=n,
        abs_error=abs(a - n),
        rel_error=relative_error(a, n),
        tolerance=float(allowed[worst]),
        verdict=verdict,
        method=method,
        checked=int(ratio.size),
        message=message,
    )
