"""L1/L2 (elastic-net) weight regularization.

penalty(W)  = l1 * Σ|W| + (l2 / 2) * ΣW²
gradient(W) = l1 * sign(W) + l2 * W          (sign(0) = 0)

Applied to weights only, never to biases; not divided by the batch size. The loss a network
reports includes the penalty, so every gradient refnet computes is the gradient of the
number it reports.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from refnet.support.checks import check_positive


class ElasticNet:
    """The elastic-net penalty on one weight array: ``l1 * Σ|W| + (l2/2) * ΣW²``."""

    def __init__(self, l1_lambda: float = 0.0, l2_lambda: float = 0.0) -> None:
        self.l1_lambda = check_positive(l1_lambda, "l1_lambda", allow_zero=True)
        self.l2_lambda = check_positive(l2_lambda, "l2_lambda", allow_zero=True)

    @property
    def active(self) -> bool:
        """True when either coefficient is non-zero."""
        return self.l1_lambda > 0.0 or self.l2_lambda > 0.0

    def penalty(self, W: NDArray[Any]) -> float:
        """penalty = l1 * Σ|W| + (l2 / 2) * ΣW²."""
        total = 0.0
        if self.l1_lambda:
            total += self.l1_lambda * float(np.abs(W).sum())
        if self.l2_lambda:
            flat = W.ravel()
            total += 0.5 * self.l2_lambda * float(flat @ flat)
        return total

    def gradient(self, W: NDArray[Any]) -> NDArray[Any]:
        """d penalty / dW = l1 * sign(W) + l2 * W, with sign(0) = 0; same shape as W."""
        grad = np.zeros_like(W)
        self.add_gradient(W, grad)
        return grad

    def add_gradient(self, W: NDArray[Any], grad_W: NDArray[Any]) -> None:
        """grad_W += l1 * sign(W) + l2 * W, in place (one pass per active term)."""
        dtype = grad_W.dtype.type
        if self.l1_lambda:
            grad_W += dtype(self.l1_lambda) * np.sign(W)
        if self.l2_lambda:
            grad_W += dtype(self.l2_lambda) * W

    def __repr__(self) -> str:
        return f"ElasticNet(l1_lambda={self.l1_lambda}, l2_lambda={self.l2_lambda})"
