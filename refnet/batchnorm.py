"""Batch normalization over the batch axis (Ioffe & Szegedy, 2015).

Training, for x of shape (N, D):
    mu   = mean_n x                      var = mean_n (x − mu)²      (biased)
    xhat = (x − mu) / sqrt(var + eps)
    y    = gamma * xhat + beta
    running_mean ← 0.9·running_mean + 0.1·mu
    running_var  ← 0.9·running_var  + 0.1·var·N/(N − 1)            (unbiased)
Evaluation: the same with running_mean and running_var in place of mu and var.

Backward (training), with g = grad_y and gx = g·gamma:
    dgamma = Σ_n g·xhat          dbeta = Σ_n g
    grad_x = (gx − mean_n gx − xhat·mean_n(gx·xhat)) / sqrt(var + eps)
The gradient flows through mu and var as well as x: that is the two mean terms.
gamma and beta are never regularized.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from refnet.base import Array, Layer, Shape
from refnet.errors import ShapeError
from refnet.support.checks import check_dtype, check_int, check_positive, check_unit_interval


class BatchNorm(Layer):
    """Normalize each feature over the batch, then scale by gamma and shift by beta.

    Args:
        num_features: width D of the input.
        eps: added to the variance before the square root (1e-5).
        momentum: weight of the new batch in the running statistics (0.1).
        dtype: float64 (default) or float32.
    """

    min_batch_rows = 2  # the variance of a single row is 0

    def __init__(
        self, num_features: int, *, eps: float = 1e-5, momentum: float = 0.1, dtype: DTypeLike = np.float64
    ) -> None:
        super().__init__()
        self.num_features = check_int(num_features, "num_features")
        self.eps = check_positive(eps, "eps")
        self.momentum = check_unit_interval(momentum, "momentum")
        resolved = check_dtype(dtype)
        D = self.num_features
        self.params = {"gamma": np.ones(D, dtype=resolved), "beta": np.zeros(D, dtype=resolved)}
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        self.state = {"running_mean": np.zeros(D, dtype=resolved), "running_var": np.ones(D, dtype=resolved)}
        self._x_hat: Array | None = None
        self._inv_std: Array | None = None
        self._training = True

    @property
    def in_features(self) -> int:
        return self.num_features

    def output_shape(self, shape: Shape) -> Shape:
        """(num_features,) -> (num_features,): BatchNorm normalizes rows (N, D) over the batch axis."""
        if len(shape) != 1:
            raise ShapeError(
                f"{type(self).__name__} normalizes rows of shape (N, {self.num_features}), got inputs of shape "
                f"(N, {', '.join(map(str, shape))})"
            )
        return super().output_shape(shape)

    def forward(self, x: Array, training: bool = True) -> Array:
        """x_hat = (x − mean) / sqrt(var + eps);  y = gamma * x_hat + beta.  Shapes (N, D) -> (N, D).

        Training: mean and (biased) var of this batch, and the running statistics move toward
        them; evaluation: the running statistics."""
        gamma, beta = self.params["gamma"], self.params["beta"]
        if training:
            N = x.shape[0]  # at least 2 (``min_batch_rows``): the variance of one row is 0
            mean = x.mean(axis=0)
            centered = x - mean
            var = np.einsum("nd,nd->d", centered, centered) / N  # mean of squares, one pass
            m = gamma.dtype.type(self.momentum)
            self.state["running_mean"] *= 1 - m
            self.state["running_mean"] += m * mean
            self.state["running_var"] *= 1 - m
            self.state["running_var"] += (m * N / (N - 1)) * var
        else:
            centered = x - self.state["running_mean"]
            var = self.state["running_var"]
        inv_std = 1.0 / np.sqrt(var + gamma.dtype.type(self.eps))
        x_hat = centered * inv_std
        self._x_hat, self._inv_std, self._training = x_hat, inv_std, training
        return gamma * x_hat + beta

    def backward(self, grad_y: Array) -> Array:
        """dgamma = Σ_n grad_y·x_hat;  dbeta = Σ_n grad_y;  with grad_x_hat = grad_y·gamma:
        grad_x = (grad_x_hat − mean(grad_x_hat) − x_hat·mean(grad_x_hat·x_hat)) / sqrt(var + eps)
        (evaluation: grad_x = grad_x_hat / sqrt(running_var + eps)).  Shapes (N, D) -> (N, D)."""
        assert self._x_hat is not None and self._inv_std is not None  # set by forward (the interface checks the order)
        x_hat, gamma = self._x_hat, self.params["gamma"]
        if self.trainable:  # frozen: no optimizer reads dgamma and dbeta
            np.einsum("nd,nd->d", grad_y, x_hat, out=self.grads["gamma"])
            np.sum(grad_y, axis=0, out=self.grads["beta"])
        grad_x_hat = grad_y * gamma
        if not self._training:  # running statistics are constants
            return grad_x_hat * self._inv_std
        mean_g = grad_x_hat.mean(axis=0)
        mean_g_x_hat = (grad_x_hat * x_hat).mean(axis=0)
        return (grad_x_hat - mean_g - x_hat * mean_g_x_hat) * self._inv_std

    def state_problem(self) -> str | None:
        # a variance is never negative; evaluation would take the root of a negative number
        if (self.state["running_var"] < 0).any():
            return "running_var has negative values"
        return None

    @classmethod
    def array_shapes(cls, config: dict[str, Any]) -> tuple[dict[str, Shape], dict[str, Shape]]:
        """gamma, beta, running_mean, running_var: all (num_features,)."""
        D = check_int(config.get("num_features"), "num_features")
        return {"gamma": (D,), "beta": (D,)}, {"running_mean": (D,), "running_var": (D,)}

    def get_config(self) -> dict[str, Any]:
        return {
            "num_features": self.num_features,
            "eps": self.eps,
            "momentum": self.momentum,
            "dtype": str(self.params["gamma"].dtype),
        }
