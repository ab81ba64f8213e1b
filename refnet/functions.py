"""Activation functions, each a stand-alone layer with a hand-written backward.

Each activation keeps its math in two pure methods:

- ``function(x, out=None) -> y``          the forward formula (``out``: where to write y;
  Dense passes its own pre-activation z, so the forward allocates nothing more);
- ``gradient(y, grad_y) -> grad_x``       the backward formula, written in terms of the
  *output* y, which is cheaper than recomputing from x (sigmoid: y·(1−y)). An activation whose
  derivative cannot be written exactly from its output (gelu, silu) sets ``from_input = True``
  and is handed its input x instead: ``gradient(x, grad_y)``.

Every activation acts elementwise (softmax: over the last axis) on a batch of any shape (N, ...).

``Dense`` calls these two directly; used as layers, ``forward`` and ``backward`` wrap them
with the cache.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from refnet.base import Array, Layer
from refnet.support.checks import check_unit_interval


class Activation(Layer):
    """Base class: an elementwise (or row-wise) function without parameters."""

    #: The name accepted by ``Dense(activation=...)``.
    name: ClassVar[str] = ""
    #: True for the ReLU family, which Dense initializes with He normal.
    relu_family: ClassVar[bool] = False
    #: True when the derivative is written in terms of the input x (``gradient(x, grad_y)``),
    #: False when in terms of the output y (``gradient(y, grad_y)``).
    from_input: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        #: What ``gradient`` is written in: the last forward's y, or its x when ``from_input``.
        self._at: Array | None = None

    def function(self, x: Array, out: Array | None = None) -> Array:
        """y = f(x), elementwise; writes into ``out`` when given."""
        raise NotImplementedError

    def gradient(self, y: Array, grad_y: Array) -> Array:
        """grad_x = grad_y * f'(x), written in terms of y = f(x) (of x itself when ``from_input``).

        The result may be ``grad_y`` itself (the identity); y and grad_y are never modified.
        """
        raise NotImplementedError

    def forward(self, x: Array, training: bool = True) -> Array:
        """y = f(x); caches y (or x) for backward. Shape (N, ...) -> (N, ...)."""
        y = self.function(x)
        self._at = x if self.from_input else y
        return y

    def backward(self, grad_y: Array) -> Array:
        """grad_x = grad_y * f'(x). Shape (N, ...) -> (N, ...)."""
        assert self._at is not None  # set by forward (the interface checks the order)
        return self.gradient(self._at, grad_y)


class Identity(Activation):
    """f(x) = x;  f'(x) = 1."""

    name = "identity"

    def function(self, x: Array, out: Array | None = None) -> Array:
        """y = x (a copy unless ``out`` is x itself)."""
        if out is None:
            return x.copy()
        if out is not x:
            np.copyto(out, x)
        return out

    def gradient(self, y: Array, grad_y: Array) -> Array:
        """grad_x = grad_y."""
        return grad_y


class ReLU(Activation):
    """f(x) = max(x, 0);  f'(x) = 1 if x > 0 else 0 (0 at the kink x = 0)."""

    name = "relu"
    relu_family = True

    def function(self, x: Array, out: Array | None = None) -> Array:
        """y = max(x, 0)."""
        return np.maximum(x, 0, out=out)

    def gradient(self, y: Array, grad_y: Array) -> Array:
        """grad_x = grad_y * (y > 0)."""
        return grad_y * (y > 0)


class LeakyReLU(Activation):
    """f(x) = x if x > 0 else alpha·x;  f'(x) = 1 if x > 0 else alpha (alpha at 0)."""

    name = "leaky_relu"
    relu_family = True

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        self.alpha = check_unit_interval(alpha, "alpha")

    def function(self, x: Array, out: Array | None = None) -> Array:
        """y = max(x, alpha·x) (for 0 <= alpha < 1)."""
        return np.maximum(x, x.dtype.type(self.alpha) * x, out=out)

    def gradient(self, y: Array, grad_y: Array) -> Array:
        """grad_x = grad_y * (1 if y > 0 else alpha); y > 0 exactly when x > 0."""
        return np.where(y > 0, grad_y, self.alpha * grad_y)

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


class Sigmoid(Activation):
    """f(x) = 1 / (1 + exp(−x));  f'(x) = y·(1 − y).

    Computed without overflow: with e = exp(−|x|) <= 1, y = 1/(1+e) for x >= 0 and
    y = e/(1+e) for x < 0. For |x| up to 1e4 there is no warning, and the limits 0 and 1
    are reached exactly (exp underflows to 0 quietly).
    """

    name = "sigmoid"

    def function(self, x: Array, out: Array | None = None) -> Array:
        """y = 1/(1 + e) for x >= 0, e/(1 + e) for x < 0, with e = exp(−|x|) (never overflows)."""
        e = np.exp(-np.abs(x))
        return np.divide(np.where(x >= 0, 1, e), 1 + e, out=out)

    def gradient(self, y: Array, grad_y: Array) -> Array:
        """grad_x = grad_y * y * (1 − y)."""
        return grad_y * (y * (1 - y))


class Tanh(Activation):
    """f(x) = tanh(x);  f'(x) = 1 − y²."""

    name = "tanh"

    def function(self, x: Array, out: Array | None = None) -> Array:
        """y = tanh(x)."""
        return np.tanh(x, out=out)

    def gradient(self, y: Array, grad_y: Array) -> Array:
        """grad_x = grad_y * (1 − y²)."""
        return grad_y * (1 - y * y)


class Softmax(Activation):
    """Row-wise softmax: y_ij = exp(x_ij − max_i) / Σ_k exp(x_ik − max_i).

    For probabilities at the output. To train a classifier, prefer a linear output with
    ``CrossEntropy``, which fuses softmax and the log for stability.
    Backward: grad_x = y * (grad_y − Σ_j grad_y_j·y_j)   (the Jacobian-vector product).
    """

    name = "softmax"

    def function(self, x: Array, out: Array | None = None) -> Array:
        """y = exp(x − max) / Σ exp(x − max), over the last axis."""
        shifted = np.subtract(x, x.max(axis=-1, keepdims=True), out=out)
        np.exp(shifted, out=shifted)
        shifted /= shifted.sum(axis=-1, keepdims=True)
        return shifted

    def gradient(self, y: Array, grad_y: Array) -> Array:
        """grad_x = y * (grad_y − Σ_j grad_y_j·y_j)."""
        return y * (grad_y - (grad_y * y).sum(axis=-1, keepdims=True))


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Identity, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax)
}


def get_activation(activation: str | Activation | type[Activation] | None) -> Activation:
    """An activation object from a name, an object, a class, or None (identity)."""
    if activation is None:
        return Identity()
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, type) and issubclass(activation, Activation):
        return activation()
    if isinstance(activation, str):
        cls = ACTIVATIONS.get(activation.lower())
        if cls is None:
            valid = ", ".join(repr(name) for name in ACTIVATIONS)
            raise ValueError(f"unknown activation {activation!r}; valid names are {valid}")
        return cls()
    raise TypeError(f"activation must be a name, an Activation object or None, got {type(activation).__name__}")
