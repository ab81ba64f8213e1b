"""Layer normalization over the last axis (Ba, Kiros & Hinton, 2016).

For x of shape (N, ..., D), each row x_r = x[n, ..., :] of D features on its own:
    mu   = mean_d x_r                      var = mean_d (x_r − mu)²      (biased)
    xhat = (x_r − mu) / sqrt(var + eps)
    y    = gamma * xhat + beta             gamma, beta: (D,)
The same in training and evaluation: no running statistics, no dependence on the batch.

Backward, with g = grad_y and gx = g·gamma (the means over the D features of one row):
    dgamma = Σ_rows g·xhat          dbeta = Σ_rows g
    grad_x = (gx − mean_d gx − xhat·mean_d(gx·xhat)) / sqrt(var + eps)
BatchNorm's formula with the roles of the axes exchanged. gamma and beta are never regularized.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from refnet.base import Array, Layer, Shape
from refnet.support.checks import check_dtype, check_int, check_positive


class LayerNorm(Layer):
    """Normalize each row over its last axis, then scale by gamma and shift by beta.

    Args:
        num_features: width D of the last axis.
        eps: added to the variance before the square root (1e-5).
        dtype: float64 (default) or float32.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, *, dtype: DTypeLike = np.float64) -> None:
        super().__init__()
        self.num_features = check_int(num_features, "num_features")
        self.eps = check_positive(eps, "eps")
        resolved = check_dtype(dtype)
        D = self.num_features
        self.params = {"gamma": np.ones(D, dtype=resolved), "beta": np.zeros(D, dtype=resolved)}
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        self._x_hat: Array | None = None
        self._inv_std: Array | None = None

    @property
    def in_features(self) -> int:
        return self.num_features

    def forward(self, x: Array, training: bool = True) -> Array:
        """x_hat = (x − mean_d x) / sqrt(var_d x + eps);  y = gamma * x_hat + beta.  (N, ..., D) -> (N, ..., D)."""
        gamma, beta = self.params["gamma"], self.params["beta"]
        mean = x.mean(axis=-1, keepdims=True)  # (N, ..., 1)
        centered = x - mean
        var = (centered * centered).mean(axis=-1, keepdims=True)  # (N, ..., 1), biased
        inv_std = 1.0 / np.sqrt(var + gamma.dtype.type(self.eps))
        x_hat = centered * inv_std
        self._x_hat, self._inv_std = x_hat, inv_std
        return gamma * x_hat + beta

    def backward(self, grad_y: Array) -> Array:
        """dgamma = Σ_rows grad_y·x_hat;  dbeta = Σ_rows grad_y;  with grad_x_hat = grad_y·gamma:
        grad_x = (grad_x_hat − mean_d grad_x_hat − x_hat·mean_d(grad_x_hat·x_hat)) / sqrt(var + eps).
        Shapes (N, ..., D) -> (N, ..., D)."""
        assert self._x_hat is not None and self._inv_std is not None  # set by forward (the interface checks the order)
        x_hat, gamma = self._x_hat, self.params["gamma"]
        D = self.num_features
        rows_y, rows_x_hat = grad_y.reshape(-1, D), x_hat.reshape(-1, D)  # every leading axis is a batch axis
        np.einsum("rd,rd->d", rows_y, rows_x_hat, out=self.grads["gamma"])
        np.sum(rows_y, axis=0, out=self.grads["beta"])
        grad_x_hat = grad_y * gamma
        mean_g = grad_x_hat.mean(axis=-1, keepdims=True)
        mean_g_x_hat = (grad_x_hat * x_hat).mean(axis=-1, keepdims=True)
        return (grad_x_hat - mean_g - x_hat * mean_g_x_hat) * self._inv_std

    @classmethod
    def array_shapes(cls, config: dict[str, Any]) -> tuple[dict[str, Shape], dict[str, Shape]]:
        """gamma, beta: (num_features,); no state."""
        D = check_int(config.get("num_features"), "num_features")
        return {"gamma": (D,), "beta": (D,)}, {}

    def get_config(self) -> dict[str, Any]:
        return {"num_features": self.num_features, "eps": self.eps, "dtype": str(self.params["gamma"].dtype)}
