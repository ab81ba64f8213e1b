"""Inverted dropout.

Training:   y = x * mask / (1 − p),  mask_ij ~ Bernoulli(1 − p)   (p = probability of dropping)
Evaluation: y = x

Scaling by 1/(1 − p) at training time keeps E[y] = x, so evaluation needs no rescaling.
Backward: grad_x = grad_y * mask / (1 − p) (the same scaled mask).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refnet.base import Array, Layer
from refnet.support.checks import check_unit_interval, make_rng


class Dropout(Layer):
    """Zero each input with probability ``p`` during training; identity in evaluation.

    Args:
        p: probability of dropping a unit, in [0, 1).
        rng, seed: the Generator the masks are drawn from (or a seed for one). Each
            training forward draws one mask, so the same seed gives the same masks.
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | None = None, seed: int | None = None) -> None:
        super().__init__()
        self.p = check_unit_interval(p, "p")
        self.rng = make_rng(rng, seed, "Dropout")
        #: True while the masks come from OS entropy (no rng or seed given): a network seed may take over.
        self._draws_from_os = rng is None and seed is None
        #: The scaled mask of the last training forward, mask / (1 − p); None in evaluation.
        self.scaled_mask: Array | None = None

    def draw_mask(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Array:
        """A fresh scaled mask: 1/(1 − p) with probability 1 − p, else 0."""
        keep = self.rng.random(shape) >= self.p
        return keep.astype(dtype) * dtype.type(1.0 / (1.0 - self.p))

    def forward(self, x: Array, training: bool = True) -> Array:
        """Training: y = x * scaled_mask (a new mask per call). Evaluation: y = x. Shape (N, D) -> (N, D).

        Floats keep their dtype; integers become float64 (an integer mask would scale by
        int(1/(1 − p)) = 1).
        """
        if not training or self.p == 0.0:
            self.scaled_mask = None
            return x
        self.scaled_mask = self.draw_mask(x.shape, x.dtype)
        return x * self.scaled_mask

    def backward(self, grad_y: Array) -> Array:
        """grad_x = grad_y * scaled_mask (identity when the forward was in evaluation). Shape (N, D)."""
        if self.scaled_mask is None:
            return grad_y
        return grad_y * self.scaled_mask

    def generator(self) -> np.random.Generator:
        """The Generator the masks are drawn from."""
        return self.rng

    def set_generator(self, rng: np.random.Generator) -> None:
        self.rng, self._draws_from_os = rng, False

    def adopt_rng(self, rng: np.random.Generator) -> None:
        """Draw the masks from ``rng`` if this Dropout was built without rng or seed."""
        if self._draws_from_os:
            self.rng, self._draws_from_os = rng, False

    def get_config(self) -> dict[str, Any]:
        return {"p": self.p}
