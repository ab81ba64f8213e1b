"""Every number gradcheck judges by, in one place.

| setting              | default      | meaning                                                                  |
|----------------------|--------------|--------------------------------------------------------------------------|
| ``rtol``             | 1e-5         | relative part of the allowed error                                       |
| ``atol``             | 1e-7         | absolute part: an element passes when |a − n| <= atol + rtol·scale       |
| ``step``             | 1e-6         | h0: element i is perturbed by h = h0·max(1, |x_i|)                       |
| ``max_elements``     | 64           | tensors up to this size are checked element by element                   |
| ``directions``       | 8            | random directions u (checks of vᵀJu) for larger tensors                  |
| ``sampled_elements`` | 32           | larger tensors: random single elements also checked one by one           |
| ``largest_elements`` | 8            | larger tensors: the elements of largest |g_i| also checked one by one    |
| ``kink_fraction``    | 0.5          | a check with more kinks than this fraction of its elements is no pass    |
|                      |              | (0 in the catalog, whose points are drawn away from kinks)               |
| ``kink_margin``      | 1e-3         | check points are drawn at least this far from known kinks                |
| ``rounding_factor``  | 4            | an element is allowed rounding_factor·N/step more, N the measured        |
|                      |              | rounding noise of L (≈ eps·|L|, large for a loss offset by 1e4)          |
| ``max_step``         | 1            | an element that fails at h0, or that rounding may have decided there, is |
|                      |              | retried at the steps h0·√10^k from h0/100 up to this step, the truncation|
|                      |              | at each measured against the next one (``gradcheck.core.steps``)              |
| ``inconclusive``     | 10           | an element whose allowance (tolerance + rounding + truncation) at its    |
|                      |              | best step exceeds this many times the tolerance is *inconclusive*        |
| ``eps``              | 2.2e-16      | machine epsilon of the precision the component computes in               |
| ``floor``            | 0            | an element's scale is at least floor × the largest |g_i| of its tensor   |
|                      |              | (0.1 in float32, whose rounding cannot resolve the smallest elements)    |
| ``closed_rtol``      | 1e-9         | optimizer updates against their closed forms (float64 rounding only)     |
| ``closed_atol``      | 1e-15        |                                                                          |
| ``sweep_steps``      | 1e-1 .. 1e-8 | 15 steps, half a decade apart, for the convergence-order sweep           |
| ``sweep_noise``      | 10           | a sweep error is signal above sweep_noise × the measured rounding        |
| ``flat_slope``       | 0.5          | sweep fails with |slope| < flat_slope (a wrong gradient is flat, ≈ 0)    |

Why these values: in float64, central differences with h ≈ 1e-6 leave a truncation error
≈ h²·|f'''|/6 ≈ 1e-12 and a rounding error ≈ eps·|L|/h ≈ 1e-10·|L|, so a right gradient
agrees to about 1e-8 relative; a gradient scaled by 1.01 is off by 1e-2 relative. rtol = 1e-5
sits between the two with three decades of room on either side.

The scale of an element is max(|analytic|, |numerical|, √Σ(g_i·u_i)²) where the last term is
the size of the n terms a directional derivative g·u sums (just |g_i| for one element).

The limit of a large tensor's check (n > max_elements): one element k off by a fraction f
moves a projection by f·g_k·u_k against an allowance of rtol·√Σ(g_i·u_i)² ≈ rtol·√n·rms(g·u),
so it is caught when roughly f·|g_k| / rms(g) > 10·rtol·√n: an average element off by 0.1 %
in a 100×100 weight, by 1 % in 10⁶ elements. The ``largest_elements`` largest |g_i| are always
checked one by one; an element whose |g_k| is far below the rms is caught only by the random
sample, with probability ≈ sampled_elements/n. An error spread over
many elements (a scale, a sign, a missing term) moves every projection and is caught. To
check every element of a large tensor, raise ``max_elements`` above its size.

float32 (``FLOAT32_TOLERANCES``): a component that computes in float32 and cannot be rebuilt
in float64 (``gradcheck.precision``) is checked in its own precision. Its rounding is
eps ≈ 6e-8 instead of 1e-16, so the balance of truncation h²·|f'''|/6 and rounding eps·|L|/h
moves to h ≈ 1e-2, where a right gradient agrees to about 1e-4 relative: rtol = 1e-3 sits
above that, and a gradient off by 1 % is ten tolerances away. An element far smaller than
the largest of its tensor cannot be resolved to 1e-3 of itself by float32 (the rounding of L
is set by the large ones), so its scale is at least floor = 0.1 times the largest |g_i|: it is
judged to 1e-4 of the largest gradient. An element whose rounding or truncation would still
need more than ``inconclusive`` tolerances is *inconclusive*, never a pass or a fail.
Tensors up to 16384 elements (128×128) are checked element by element: a float32
projection's tolerance, rtol·√n·rms(g·u), would hide one wrong element of a large tensor.
Larger float32 tensors are checked on a sample of single elements (no random directions: a
float32 array cannot hold x + t·u exactly, so a direction would be bent by rounding). Points
are kept kink_margin = 0.05 from known kinks, five steps h0 away.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

FLOAT64_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Tolerances:
    """The thresholds of one gradcheck run (see the module table)."""

    rtol: float = 1e-5
    atol: float = 1e-7
    step: float = 1e-6
    max_elements: int = 64
    directions: int = 8
    sampled_elements: int = 32
    largest_elements: int = 8
    kink_fraction: float = 0.5
    kink_margin: float = 1e-3
    rounding_factor: float = 4.0
    max_step: float = 1.0
    inconclusive: float = 10.0
    eps: float = FLOAT64_EPS
    floor: float = 0.0
    closed_rtol: float = 1e-9
    closed_atol: float = 1e-15
    sweep_steps: tuple[float, ...] = field(default_factory=lambda: tuple(np.logspace(-1, -8, 15).tolist()))
    sweep_noise: float = 10.0
    flat_slope: float = 0.5

    def allowed(self, scale: float) -> float:
        """The largest |analytic − numerical| accepted for an element of this scale."""
        return self.atol + self.rtol * scale

    def closed_allowed(self, scale: float) -> float:
        """The largest error accepted against a closed form of this scale."""
        return self.closed_atol + self.closed_rtol * scale

    @property
    def precision(self) -> str:
        """The floating-point type these tolerances are made for: "float64", "float32" or "float16"."""
        for dtype in (np.float16, np.float32):
            if self.eps >= float(np.finfo(dtype).eps):
                return np.dtype(dtype).name
        return "float64"


DEFAULT_TOLERANCES = Tolerances()

FLOAT32_TOLERANCES = Tolerances(
    rtol=1e-3,
    atol=1e-5,
    step=1e-2,
    max_elements=16384,
    directions=0,
    kink_margin=0.05,
    eps=float(np.finfo(np.float32).eps),
    floor=0.1,
    sweep_steps=tuple(np.logspace(0, -5, 11).tolist()),
)


def tolerances_for(dtype: DTypeLike) -> Tolerances:
    """The default tolerances for a component that computes in ``dtype``.

    float64: ``DEFAULT_TOLERANCES``; float32: ``FLOAT32_TOLERANCES``; a coarser type gets the
    float32 ones with its own eps, so that its rounding is measured for what it is.
    """
    resolved: np.dtype[Any] = np.dtype(dtype)
    if resolved == np.float64:
        return DEFAULT_TOLERANCES
    if resolved == np.float32:
        return FLOAT32_TOLERANCES
    return replace(FLOAT32_TOLERANCES, eps=float(np.finfo(resolved).eps))
