"""Merge layers: the nodes of a graph where several values become one.

Each merge has a hand-written forward and backward like any layer, over a *list* of inputs:

    Add:          y = x_1 + x_2 + ...           grad_x_i = grad_y
    Multiply:     y = x_1 ⊙ x_2 ⊙ ...           grad_x_i = grad_y ⊙ Π_{j≠i} x_j
    Concatenate:  y = [x_1 | x_2 | ...]         grad_x_i = grad_y[..., the slice of x_i]  (along ``axis``)

They are used inside a graph (``Add()(a, b)``, see ``refnet.graph``), which feeds them the
values of their input nodes and sends each returned gradient back along its own edge.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refnet.base import Array, Layer, Shape
from refnet.errors import ShapeError


class Merge(Layer):
    """A layer that combines several inputs of shape (N, ...) into one.

    ``forward_many(xs) -> y`` and ``backward_many(grad_y) -> [grad_x_i]`` replace the
    single-input ``forward``/``backward``.
    """

    multiple_inputs = True

    def merged_shape(self, shapes: list[Shape]) -> Shape:
        """The per-sample output shape for inputs of these per-sample shapes; equal shapes by default."""
        if len(set(shapes)) != 1:
            raise ShapeError(f"{type(self).__name__} needs inputs of equal shape")
        return shapes[0]

    def forward_many(self, xs: list[Array], training: bool = True) -> Array:
        """y from the inputs xs; caches what backward_many needs."""
        raise NotImplementedError

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
        y = xs[0] + xs[1]
        for x in xs[2:]:
            y += x
        self._count, self._shape = len(xs), y.shape
        return y

    def backward_many(self, grad_y: Array) -> list[Array]:
        """grad_x_i = grad_y for every i (the same array: no consumer writes into it)."""
        return [grad_y] * self._count


class Multiply(Merge):
    """y = x_1 ⊙ x_2 ⊙ ... (elementwise);  grad_x_i = grad_y ⊙ Π_{j≠i} x_j."""

    def __init__(self) -> None:
        super().__init__()
        self._xs: list[Array] | None = None

    def forward_many(self, xs: list[Array], training: bool = True) -> Array:
        """y = Π_i x_i elementwise, shapes (N, D) -> (N, D)."""
        y = xs[0] * xs[1]
        for x in xs[2:]:
            y *= x
        self._xs = list(xs)
        return y

    def backward_many(self, grad_y: Array) -> list[Array]:
        """grad_x_i = grad_y ⊙ Π_{j≠i} x_j (the product of the *other* inputs)."""
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
    """y = [x_1 | x_2 | ...] along ``axis``;  grad_x_i = the matching slice of grad_y.

    ``axis`` counts the batch axis N as axis 0, as NumPy does: the default -1 joins features
    (rows (N, D_i) -> (N, Σ D_i)); ``axis=1`` joins the channels of images (N, C_i, H, W).
    """

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"Concatenate: axis must be an int, got {type(axis).__name__}")
        if axis == 0:
            raise ValueError("Concatenate: axis 0 is the batch axis; join along a feature axis (1, 2, ... or -1)")
        self.axis = axis
        self._sizes: list[int] | None = None
        self._shape: tuple[int, ...] | None = None

    def _sample_axis(self, ndim: int) -> int:
        """``axis`` as an index into a per-sample shape of ``ndim`` axes, or ShapeError."""
        position = self.axis - 1 if self.axis > 0 else ndim + self.axis
        if not 0 <= position < ndim:
            raise ShapeError(f"Concatenate(axis={self.axis}) needs inputs with at least {abs(self.axis)} feature axes")
        return position

    def merged_shape(self, shapes: list[Shape]) -> Shape:
        """Equal shapes except along ``axis``, where the sizes add up."""
        ndims = {len(shape) for shape in shapes}
        if len(ndims) != 1:
            raise ShapeError("Concatenate needs inputs with the same number of axes")
        position = self._sample_axis(len(shapes[0]))
        others = {shape[:position] + shape[position + 1 :] for shape in shapes}
        if len(others) != 1:
            raise ShapeError(f"Concatenate(axis={self.axis}) needs inputs of equal shape except along that axis")
        first = shapes[0]
        return (*first[:position], sum(shape[position] for shape in shapes), *first[position + 1 :])

    def forward_many(self, xs: list[Array], training: bool = True) -> Array:
        """y = concatenate(xs, axis), e.g. (N, D_i) -> (N, Σ D_i) for axis=-1."""
        self._sizes = [x.shape[self.axis] for x in xs]
        y = np.concatenate(xs, axis=self.axis)
        self._shape = y.shape
        return y

    def backward_many(self, grad_y: Array) -> list[Array]:
        """grad_x_i = grad_y[..., offset_i : offset_i + D_i, ...] along ``axis``."""
        assert self._sizes is not None
        bounds = np.cumsum(self._sizes)[:-1]
        return list(np.split(grad_y, bounds, axis=self.axis))

    def get_config(self) -> dict[str, Any]:
        return {} if self.axis == -1 else {"axis": self.axis}
