"""Merge layers: the nodes of a graph where several values become one.

Each merge has a hand-written forward and backward like any layer, over a *list* of inputs:

    Add:          y = x_1 + x_2 + ...           grad_x_i = grad_y
    Multiply:     y = x_1 ⊙ x_2 ⊙ ...           grad_x_i = grad_y ⊙ Π_{j≠i} x_j
    Concatenate:  y = [x_1 | x_2 | ...]         grad_x_i = grad_y[:, columns of x_i]

They are used inside a graph (``Add()(a, b)``, see ``refnet.graph``), which feeds them the
values of their input nodes and sends each returned gradient back along its own edge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from refnet.base import Array, Layer
from refnet.errors import ShapeError
from refnet.support.checks import check_batch

if TYPE_CHECKING:
    from refnet.wiring import Node


class Merge(Layer):
    """A layer that combines several inputs of shape (N, D_i) into one.

    ``forward_many(xs) -> y`` and ``backward_many(grad_y) -> [grad_x_i]`` replace the
    single-input ``forward``/``backward``.
    """

    multiple_inputs = True

    def merged_width(self, inputs: list[Node]) -> int:
        """Output width for these inputs; equal widths required by default."""
        widths = {node.width for node in inputs}
        if len(widths) != 1:
            shapes = ", ".join(f"{node.label()!r}: (N, {node.width})" for node in inputs)
            raise ShapeError(f"{type(self).__name__} needs inputs of equal shape, got {shapes}")
        return inputs[0].width

    def forward_many(self, xs: list[Array], training: bool = True) -> Array:
        """y from the inputs xs; caches what backward_many needs."""
        raise NotImplementedError

    #: True when every input must have the same shape (Add, Multiply); False when only
    #: the number of rows must agree (Concatenate).
    same_shape = True

    def check_inputs(self, xs: Any) -> list[Array]:
        """At least two 2-D float arrays of one dtype, of equal shape (or equal rows)."""
        name = type(self).__name__
        if not isinstance(xs, (list, tuple)) or len(xs) < 2:
            raise TypeError(f"{name}.forward_many takes a list of at least 2 arrays")
        arrays = [check_batch(x, self, name=f"input {i}") for i, x in enumerate(xs)]
        first = arrays[0]
        for i, x in enumerate(arrays[1:], start=1):
            mismatch = x.shape != first.shape if self.same_shape else x.shape[0] != first.shape[0]
            if mismatch:
                what = "shape" if self.same_shape else "number of rows"
                raise ShapeError(
                    f"{name}: inputs must have the same {what}, got {first.shape} and {x.shape} (input {i})"
                )
            if x.dtype != first.dtype:
                raise TypeError(f"{name}: inputs must have one dtype, got {first.dtype} and {x.dtype} (input {i})")
        return arrays

    def check_grad(self, grad_y: Any, shape: tuple[int, ...] | None) -> Array:
        """grad_y after a forward: a float array of the forward output's shape."""
        self._require_forward(shape)
        assert shape is not None
        return check_batch(grad_y, self, name="grad_y", shape=shape)

    def backward_many(self, grad_y: Array) -> list[Array]:
        """The gradient with respect to each input."""
        raise NotImplementedError

    def forward(self, x: Array, training: bool = True) -> Array:
        raise TypeError(f"{type(self).__name__} takes several inputs: call forward_many([x1, x2, ...])")

    def backward(self, grad_y: Array) -> Array:
        raise TypeError(f"{type(self).__name__} has several inputs: call backward_many(grad_y)")


class Add(Merge):
    """y = x_1 + x_2 + ... ;  grad_x_i = grad_y (the sum passes the gradient to every input)."""

    def __init__(self) -> None:
        super().__init__()
        self._count = 0
        self._shape: tuple[int, ...] | None = None

    def forward_many(self, xs: list[Array], training: bool = True) -> Array:
        """y = Σ_i x_i, shapes (N, D) -> (N, D)."""
        xs = self.check_inputs(xs)
        y = xs[0] + xs[1]
        for x in xs[2:]:
            y += x
        self._count, self._shape = len(xs), y.shape
        return y

    def backward_many(self, grad_y: Array) -> list[Array]:
        """grad_x_i = grad_y for every i (the same array: no consumer writes into it)."""
        grad_y = self.check_grad(grad_y, self._shape)
        return [grad_y] * self._count


class Multiply(Merge):
    """y = x_1 ⊙ x_2 ⊙ ... (elementwise);  grad_x_i = grad_y ⊙ Π_{j≠i} x_j."""

    def __init__(self) -> None:
        super().__init__()
        self._xs: list[Array] | None = None

    def forward_many(self, xs: list[Array], training: bool = True) -> Array:
        """y = Π_i x_i elementwise, shapes (N, D) -> (N, D)."""
        xs = self.check_inputs(xs)
        y = xs[0] * xs[1]
        for x in xs[2:]:
            y *= x
        self._xs = list(xs)
        return y

    def backward_many(self, grad_y: Array) -> list[Array]:
        """grad_x_i = grad_y ⊙ Π_{j≠i} x_j (the product of the *other* inputs)."""
        grad_y = self.check_grad(grad_y, None if self._xs is None else self._xs[0].shape)
        assert self._xs is not None
        grads = []
        for i in range(len(self._xs)):
            grad = grad_y.copy()
            for j, x in enumerate(self._xs):
                if j != i:
                    grad *= x
            grads.append(grad)
        return grads


class Concatenate(Merge):
    """y = [x_1 | x_2 | ...] along the features;  grad_x_i = the matching columns of grad_y."""

    same_shape = False

    def __init__(self) -> None:
        super().__init__()
        self._widths: list[int] | None = None
        self._shape: tuple[int, ...] | None = None

    def merged_width(self, inputs: list[Node]) -> int:
        return sum(node.width for node in inputs)

    def forward_many(self, xs: list[Array], training: bool = True) -> Array:
        """y = concatenate(xs, axis=1), shapes (N, D_i) -> (N, Σ D_i)."""
        xs = self.check_inputs(xs)
        self._widths = [x.shape[1] for x in xs]
        y = np.concatenate(xs, axis=1)
        self._shape = y.shape
        return y

    def backward_many(self, grad_y: Array) -> list[Array]:
        """grad_x_i = grad_y[:, offset_i : offset_i + D_i]."""
        grad_y = self.check_grad(grad_y, self._shape)
        assert self._widths is not None
        bounds = np.cumsum(self._widths)[:-1]
        return list(np.split(grad_y, bounds, axis=1))
