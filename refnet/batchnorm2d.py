"""Batch normalization of images (N, C, H, W): per channel, over the batch and every position.

Each channel c is normalized over its M = N·H·W values, exactly as ``BatchNorm`` normalizes a
feature over its N rows: with the rows (n, h, w) and the columns c of

    x_rows[(n,h,w), c] = x[n, c, h, w]                             (N·H·W, C)

BatchNorm2D is BatchNorm on x_rows (its formulas, run by a BatchNorm of C features):

    mu_c = mean x_rows[:, c]      var_c = mean (x_rows[:, c] − mu_c)²          (biased)
    y[n,c,h,w] = gamma_c · (x[n,c,h,w] − mu_c)/√(var_c + eps) + beta_c
    running_var ← 0.9·running_var + 0.1·var·M/(M − 1)                           (unbiased, M = N·H·W)
    grad_x through the same compact form, with the mean over the M rows of each channel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from refnet.base import Array, Layer, Shape
from refnet.batchnorm import BatchNorm
from refnet.conv import check_image_shape
from refnet.errors import ShapeError
from refnet.support.checks import check_int

__all__ = ["BatchNorm2D"]


def to_rows(x: Array) -> Array:
    """x_rows[(n,h,w), c] = x[n, c, h, w].  Shapes (N, C, H, W) -> (N·H·W, C)."""
    N, C, H, W = x.shape
    return x.transpose(0, 2, 3, 1).reshape(N * H * W, C)


def from_rows(rows: Array, shape: Shape) -> Array:
    """The inverse of ``to_rows``.  Shapes (N·H·W, C) -> ``shape`` (N, C, H, W) (a view)."""
    N, C, H, W = shape
    return rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)


class BatchNorm2D(Layer):
    """Normalize each channel over (N, H, W), then scale by gamma and shift by beta (per channel).

    Args:
        num_channels: C, the channels of the input images.
        eps, momentum, dtype: as ``BatchNorm`` (1e-5, 0.1, float64).

    ``params`` (gamma, beta), ``grads`` and ``state`` (running_mean, running_var), all (C,), are
    those of the BatchNorm of C features that does the math.
    """

    def __init__(
        self, num_channels: int, *, eps: float = 1e-5, momentum: float = 0.1, dtype: DTypeLike = np.float64
    ) -> None:
        super().__init__()
        self.num_channels = check_int(num_channels, "num_channels")
        self.rows = BatchNorm(self.num_channels, eps=eps, momentum=momentum, dtype=dtype)
        self.params, self.grads, self.state = self.rows.params, self.rows.grads, self.rows.state
        self._shape: Shape | None = None

    def output_shape(self, shape: Shape) -> Shape:
        """(C, H, W) -> (C, H, W), with C = num_channels (per sample, without N)."""
        check_image_shape(self, shape, self.num_channels)
        return tuple(shape)

    def forward(self, x: Array, training: bool = True) -> Array:
        """y = from_rows(BatchNorm(to_rows(x))).  Shapes (N, C, H, W) -> (N·H·W, C) -> (N, C, H, W)."""
        N, _, H, W = x.shape
        if training and N * H * W < 2:  # the one condition the interface cannot see: it needs N, H and W together
            raise ShapeError(
                f"BatchNorm2D: training needs at least 2 values per channel (N·H·W), got shape {x.shape}; "
                "the variance of a single value is 0"
            )
        self._shape = x.shape
        return from_rows(self.rows.forward_unchecked(to_rows(x), training), x.shape)

    def backward(self, grad_y: Array) -> Array:
        """grad_x = from_rows(BatchNorm.backward(to_rows(grad_y))).  Shapes (N, C, H, W) -> (N, C, H, W)."""
        assert self._shape is not None  # set by forward (the interface checks the order)
        return from_rows(self.rows.backward_unchecked(to_rows(grad_y)), self._shape)

    @property
    def eps(self) -> float:
        return self.rows.eps

    @property
    def momentum(self) -> float:
        return self.rows.momentum

    def state_problem(self) -> str | None:
        return self.rows.state_problem()

    @classmethod
    def array_shapes(cls, config: dict[str, Any]) -> tuple[dict[str, Shape], dict[str, Shape]]:
        """gamma, beta, running_mean, running_var: all (num_channels,)."""
        C = check_int(config.get("num_channels"), "num_channels")
        return {"gamma": (C,), "beta": (C,)}, {"running_mean": (C,), "running_var": (C,)}

    def get_config(self) -> dict[str, Any]:
        return {
            "num_channels": self.num_channels,
            "eps": self.eps,
            "momentum": self.momentum,
            "dtype": str(self.params["gamma"].dtype),
        }
