"""The best step for one element: where rounding and truncation together are smallest, both measured.

A central difference D(h) = g + c·h² + ... carries two errors: truncation ≈ c·h², which grows
with h, and rounding ≈ N/s (N the measured noise of phi, ``gradcheck.core.noise``; s = h·scale),
which falls with h. Neither is guessed:

    estimate(h) = rounding_factor·N/s  +  2·|D(r·h) − D(h)| / (r² − 1),     r = √10

since D(r·h) − D(h) ≈ (r² − 1)·c·h² measures the truncation at h. A wrong gradient shifts
D(h) and D(r·h) alike and cannot hide in it. That measure holds only where h is small enough
for c·h² to be the truncation: when D(r·h) − D(h) stands above rounding, the next change,
D(r²·h) − D(r·h), must be about r² = 10 times larger (at least a third of that); otherwise the
step is past the asymptotic range (e.g. D(h) ≈ a/h far from a sharp bend, whose changes shrink
and would pass for convergence) and is not used. The steps tried are h0·r^k, from h0/100 up to
``max_step``: upwards while the estimate falls (rounding dominates, e.g. a loss offset by 1e8)
and until a step leaves the component's domain (it raises, or gives a non-finite value);
downwards while rounding alone is below the best estimate so far (truncation dominates, or
a kink a little way off spoils the larger steps).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gradcheck.core.guard import ComponentError
from gradcheck.core.lines import Line, central_difference
from gradcheck.core.tolerances import Tolerances

RUNG = 10.0**0.5  #: the steps h0·RUNG^k are half a decade apart
LOWEST = -4  #: the smallest step tried is h0·RUNG^LOWEST = h0/100


def best_step(
    line: Line, numerical: float, rounding: Callable[[float], float], tol: Tolerances
) -> tuple[float, float, float]:
    """(h, D(h), estimated error at h) for the step of smallest estimated error; D(h0) = ``numerical``."""
    differences: dict[int, float] = {0: numerical}

    def difference(k: int) -> float | None:
        """D(h0·r^k), or None where the step leaves the component's domain."""
        if k not in differences:
            try:
                with np.errstate(all="ignore"):
                    value = central_difference(line, tol.step * RUNG**k)[0]
            except ComponentError:
                if k <= 0:  # the check point's own neighbourhood: a real error of the component
                    raise
                value = float("nan")
            differences[k] = value
        value = differences[k]
        return value if np.isfinite(value) else None

    def estimate(k: int) -> float | None:
        """rounding + truncation at h0·r^k (inf where the truncation cannot be trusted), None outside the domain."""
        here, above = difference(k), difference(k + 1)
        if here is None or above is None:
            return None
        h, change = tol.step * RUNG**k, abs(above - here)
        if change > 2.0 * rounding(h):  # truncation measured: it must grow like h² to be what it claims
            beyond = difference(k + 2)
            if beyond is None or abs(beyond - above) < change * RUNG**2 / 3.0:
                return float("inf")
        return rounding(h) + 2.0 * change / (RUNG**2 - 1.0)

    best: tuple[float, float, float] | None = None
    untrusted = False
    top = int(np.floor(np.log(tol.max_step / tol.step) / np.log(RUNG) + 1e-9))
    for k in range(0, top + 1):  # upwards from h0
        value = estimate(k)
        if value is None or value == float("inf"):
            untrusted = untrusted or value is not None
            break
        if best is None or value < best[2]:
            best = (tol.step * RUNG**k, differences[k], value)
        elif value > 2.0 * best[2]:  # well past the bottom: truncation has taken over
            break
    for k in range(-1, LOWEST - 1, -1):  # downwards from h0
        if best is not None and rounding(tol.step * RUNG**k) > best[2]:
            break
        value = estimate(k)
        if value is None:
            break
        untrusted = untrusted or value == float("inf")
        if value < (best[2] if best is not None else float("inf")):
            best = (tol.step * RUNG**k, differences[k], value)
    if best is None:  # no step whose error can be estimated: only h0 is known
        return tol.step, numerical, float("inf") if untrusted else rounding(tol.step)
    return best
