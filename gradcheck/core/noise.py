"""Rounding noise: how much phi's computed values scatter around the smooth function, measured.

A central difference at step s carries the rounding of its two values, ≈ N/s for a noise N
of phi. N is measured where the difference is taken, around t = +s and t = −s, and without
the analytic gradient (a wrong gradient must not make the noise look larger):

- on each side, phi is evaluated at ``POINTS`` offsets spread over a window of width s0/2
  (s0 = h0·scale, the base step) centred on ±s;
- a cubic in t is fitted to them by least squares (at the offsets the array really took);
  a smooth phi is a cubic to within ≈ |phi''''|·(s0/2)⁴, far below any rounding, so what the
  cubic cannot follow is noise;
- N is the root mean square of the residuals of both sides (2·(POINTS − 4) degrees of freedom),
  and at least eps64·|phi(0)|, the rounding of the float64 sum L itself.

This sees float32's rounding (≈ 6e-8 relative) at the steps float32 uses, and the staircase of
a component that rounds its float64 input to float32 inside (phi changes only every ulp of x).
"""

from __future__ import annotations

import numpy as np

from gradcheck.core.lines import Line
from gradcheck.core.tolerances import FLOAT64_EPS, Tolerances

POINTS = 8  #: values of phi per side; a cubic leaves 4 degrees of freedom on each


def rounding_noise(line: Line, base: float, h: float, tol: Tolerances) -> float:
    """The rounding noise N of phi near t = ±h·scale (see the module docstring); phi(0) = ``base``."""
    step, window = h * line.scale, tol.step * line.scale / 2.0
    squares, freedom = 0.0, 0
    for side in (1.0, -1.0):
        nominal = side * step + window * (np.arange(POINTS) / (POINTS - 1) - 0.5)
        offsets = np.array([line.offset(float(t)) for t in nominal])
        values = np.array([line(float(t)) for t in nominal]) - base
        if not np.all(np.isfinite(values)) or np.unique(offsets).size < POINTS:
            return float("inf")  # phi leaves its domain here, or the dtype cannot resolve the window
        centred = (offsets - offsets.mean()) / np.ptp(offsets)
        cubic = np.polynomial.polynomial.polyfit(centred, values, 3)
        residuals = values - np.polynomial.polynomial.polyval(centred, cubic)
        squares += float(np.sum(residuals**2))
        freedom += POINTS - 4
    return max(float(np.sqrt(squares / freedom)), FLOAT64_EPS * abs(base))
