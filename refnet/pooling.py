"""Pooling and flattening for images of shape (N, C, H, W).

Each output reads one window of its channel, cols[c,p,q,n,i,j] = x[n, c, i·sh + p, j·sw + q]
(``refnet.conv.im2col``); H_out = ⌊(H − kh)/sh⌋ + 1 (windows that overhang are dropped):

    MaxPool2D:  y[n,c,i,j] = max_{p,q} windows[n,c,i,j,p,q]
                grad_x gets grad_y[n,c,i,j] at the FIRST maximum of its window in row-major order
                (p first, then q), 0 elsewhere; overlapping windows add up
    AvgPool2D:  y[n,c,i,j] = (1/(kh·kw)) Σ_{p,q} windows[n,c,i,j,p,q]
                grad_x[n, c, i·sh + p, j·sw + q] += grad_y[n,c,i,j] / (kh·kw)
    Flatten:    (N, C, H, W) -> (N, C·H·W) in C order (as ``torch.flatten(x, 1)``); any (N, ...) -> (N, prod(...))

Both pools send the gradient back through ``refnet.conv.col2im``, the transpose of reading the windows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from refnet.base import Array, Layer, Shape
from refnet.conv import Pair, as_pair, check_fits, check_image_shape, col2im, im2col, output_size
from refnet.errors import ShapeError

__all__ = ["AvgPool2D", "Flatten", "MaxPool2D"]


class Pool2D(Layer):
    """What the two pools share: kernel and stride (default: the kernel), the shapes, the config."""

    def __init__(self, kernel_size: int | Pair, stride: int | Pair | None = None) -> None:
        super().__init__()
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else as_pair(stride, "stride")
        self._x_shape: Shape = ()  # the last forward's x shape

    def output_features(self, in_features: int) -> int | None:
        """None: the output's width depends on the input's width and the kernel, not on the last axis alone."""
        return None

    def output_shape(self, shape: Shape) -> Shape:
        """(C, H, W) -> (C, H_out, W_out), H_out = ⌊(H − kh)/sh⌋ + 1 (per sample, without N)."""
        check_image_shape(self, shape)
        return self.image_shape(*shape)

    def image_shape(self, channels: int, height: int, width: int) -> tuple[int, int, int]:
        """The per-sample output shape (C, H_out, W_out) for inputs (C, height, width)."""
        check_fits(self, (height, width), self.kernel_size)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        return channels, output_size(height, kh, sh), output_size(width, kw, sw)

    def windows(self, x: Array) -> Array:
        """x's windows (C, kh·kw, N, H_out, W_out), (p, q) row-major; remembers x's shape for backward."""
        N, C, H, W = x.shape
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        self._x_shape = x.shape
        return im2col(x, self.kernel_size, self.stride).reshape(
            C, kh * kw, N, output_size(H, kh, sh), output_size(W, kw, sw)
        )

    def get_config(self) -> dict[str, Any]:
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kernel_size={self.kernel_size}, stride={self.stride})"


def first_maximum(windows: Array, y: Array) -> Array:
    """first[c,k,n,i,j] = True at the first k (row-major, k = p·kw + q) where windows[c,k,n,i,j] = y[c,n,i,j].

    Shapes: windows (C, kh·kw, N, H_out, W_out), y (C, N, H_out, W_out), the windows' maxima -> first, booleans
    of the windows' shape (all False in a window with no element equal to y: a NaN window).
    """
    first = np.empty(windows.shape, dtype=bool)
    unclaimed = np.ones(y.shape, dtype=bool)  # windows whose first maximum is still ahead
    for k in range(windows.shape[1]):
        np.logical_and(unclaimed, windows[:, k] == y, out=first[:, k])
        unclaimed &= ~first[:, k]
    return first


class MaxPool2D(Pool2D):
    """y = the largest value of each window; its gradient goes to the first maximum (row-major)."""

    def __init__(self, kernel_size: int | Pair, stride: int | Pair | None = None) -> None:
        super().__init__(kernel_size, stride)
        self._first: Array | None = None  # (C, kh·kw, N, H_out, W_out) booleans: the last forward's first maxima

    def forward(self, x: Array, training: bool = True) -> Array:
        """y[n,c,i,j] = max_{p,q} x[n, c, i·sh + p, j·sw + q].  Shapes (N, C, H, W) -> (N, C, H_out, W_out).

        Caches where each window's first maximum is (booleans of the windows' shape), not the windows.
        """
        windows = self.windows(x)  # (C, kh·kw, N, H_out, W_out)
        y = windows.max(axis=1)
        self._first = first_maximum(windows, y)
        return y.transpose(1, 0, 2, 3)

    def backward(self, grad_y: Array) -> Array:
        """grad_x[n, c, i·sh + p*, j·sw + q*] += grad_y[n,c,i,j], (p*, q*) the window's first maximum.

        The window is scanned in row-major order (k = p·kw + q): the first element equal to the
        maximum takes the gradient, the others get 0 (a tie is a kink: the first one is the choice).
        Shapes: grad_y (N, C, H_out, W_out) -> grad_cols (C, kh·kw, N, H_out, W_out) -> grad_x (N, C, H, W).
        """
        assert self._first is not None  # set by forward (the interface checks the order)
        first, (kh, kw) = self._first, self.kernel_size
        grad_y_c = grad_y.transpose(1, 0, 2, 3)  # (C, N, H_out, W_out), as y
        grad_cols = first * grad_y_c[:, np.newaxis]  # grad_y at the first maximum, 0 elsewhere
        C, _, N, H_out, W_out = grad_cols.shape
        return col2im(grad_cols.reshape(C, kh, kw, N, H_out, W_out), self._x_shape, self.stride)


class AvgPool2D(Pool2D):
    """y = the mean of each window; each element of a window gets grad_y / (kh·kw)."""

    def forward(self, x: Array, training: bool = True) -> Array:
        """y[n,c,i,j] = (1/(kh·kw)) Σ_{p,q} x[n, c, i·sh + p, j·sw + q].

        Shapes: x (N, C, H, W) -> windows (C, kh·kw, N, H_out, W_out) -> y (N, C, H_out, W_out).
        """
        return self.windows(x).mean(axis=1).transpose(1, 0, 2, 3)

    def backward(self, grad_y: Array) -> Array:
        """grad_x[n, c, i·sh + p, j·sw + q] += grad_y[n,c,i,j] / (kh·kw) for every (p, q).

        Shapes: grad_y (N, C, H_out, W_out) -> grad_cols (C, kh, kw, N, H_out, W_out) -> grad_x (N, C, H, W).
        """
        (kh, kw), (N, C, H_out, W_out) = self.kernel_size, grad_y.shape
        share = (grad_y / grad_y.dtype.type(kh * kw)).transpose(1, 0, 2, 3)  # (C, N, H_out, W_out)
        grad_cols = np.broadcast_to(share[:, np.newaxis, np.newaxis], (C, kh, kw, N, H_out, W_out))  # a view
        return col2im(grad_cols, self._x_shape, self.stride)


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1·d2·...) in C order; backward reshapes the gradient back."""

    def __init__(self) -> None:
        super().__init__()
        self._x_shape: Shape = ()  # the last forward's x shape

    def output_features(self, in_features: int) -> int | None:
        """None: the output's width is the product of every axis of the input, not its last axis alone."""
        return None

    def output_shape(self, shape: Shape) -> Shape:
        """(d1, d2, ...) -> (d1·d2·...,) (per sample, without N)."""
        if not shape:
            raise ShapeError(f"{self!r} needs inputs of shape (N, ...) with at least one axis after N, got (N,)")
        return (math.prod(shape),)

    def forward(self, x: Array, training: bool = True) -> Array:
        """y[n, (c·H + h)·W + w] = x[n, c, h, w].  Shapes (N, C, H, W) -> (N, C·H·W); any (N, ...) -> (N, prod(...))."""
        self._x_shape = x.shape
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def backward(self, grad_y: Array) -> Array:
        """grad_x = grad_y reshaped to x's shape.  Shapes (N, C·H·W) -> (N, C, H, W)."""
        return grad_y.reshape(self._x_shape)
