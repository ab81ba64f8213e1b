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
from refnet.support.checks import check_positive, check_unit_interval
from refnet.support.erf import erf


class Activation(Layer):
    """Base class: an elementwise (or row-wise) function without parameters."""

    #: The name accepted by ``Dense(activation=...)``.
    name: ClassVar[str] = ""
    #: True for the ReLU family, which Dense initializes with He normal.
    relu_family: ClassVar[bool] = False
    #: True when the derivative is written in terms of the input x (``gradient(x, grad_y)``),
    #: False when in terms of the output y (``gradient(y, grad_y)``).
    from_input: ClassVar[bool] = False
    #: The initializer ``Dense(weight_init='auto')`` uses, by name, where it is neither He normal (the
    #: ReLU family) nor Glorot uniform (the rest): SELU's is "lecun_normal".
    auto_init: ClassVar[str | None] = None

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


def activation_from_config(entry: Any, owner: str) -> Activation:
    """The activation a layer's config stores as ``{"name": ..., **settings}`` (``owner`` names the layer in errors)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise TypeError(f"a {owner} config needs an activation entry {{'name': ..., ...}}, got {entry!r}")
    name = entry["name"]
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r} in layer config")
    return ACTIVATIONS[name](**{key: value for key, value in entry.items() if key != "name"})


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


# -- the learner's toolkit (issue 22): ELU, SELU, Softplus -------------------------------------
# Each derivative is written exactly from the output y, so these keep ``from_input = False``:
# ELU and SELU for x <= 0 have f'(x) = c·e^x = y + c (c = alpha, or scale·alpha); softplus has
# f'(x) = σ(x) = 1 − e^(−y), since e^y = 1 + e^x. At the kink x = 0 (y = 0, so y > 0 is False)
# ELU and SELU take the left branch's derivative, as PyTorch does: alpha·scale·e⁰.

#: SELU's constants (Klambauer et al., 2017), to the digits PyTorch uses.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _into(y: Array, out: Array | None) -> Array:
    """y itself, or y written into ``out`` (which may be the input x: y is computed before the copy)."""
    if out is None:
        return y
    np.copyto(out, y)
    return out


class ELU(Activation):
    """f(x) = x if x > 0 else alpha·(e^x − 1);  f'(x) = 1 if x > 0 else alpha·e^x = y + alpha (alpha at 0).

    He initialization under ``weight_init='auto'``, as for ReLU.
    """

    name = "elu"
    relu_family = True

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = check_positive(alpha, "alpha")

    def function(self, x: Array, out: Array | None = None) -> Array:
        """y = x where x > 0, alpha·expm1(x) elsewhere (expm1 of min(x, 0): exact near 0, never overflows)."""
        alpha = x.dtype.type(self.alpha)
        return _into(np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))), out)

    def gradient(self, y: Array, grad_y: Array) -> Array:
        """grad_x = grad_y * (1 if y > 0 else y + alpha)."""
        return grad_y * np.where(y > 0, 1, y + y.dtype.type(self.alpha))

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


class SELU(Activation):
    """f(x) = scale·x if x > 0 else scale·alpha·(e^x − 1), PyTorch's constants alpha ≈ 1.6733, scale ≈ 1.0507;
    f'(x) = scale if x > 0 else scale·alpha·e^x = y + scale·alpha (scale·alpha at 0).

    LeCun normal initialization under ``weight_init='auto'`` (the self-normalizing set-up).
    """

    name = "selu"
    auto_init = "lecun_normal"

    def function(self, x: Array, out: Array | None = None) -> Array:
        """y = scale·x where x > 0, scale·alpha·expm1(x) elsewhere."""
        scale, alpha = x.dtype.type(SELU_SCALE), x.dtype.type(SELU_ALPHA)
        return _into(scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))), out)

    def gradient(self, y: Array, grad_y: Array) -> Array:
        """grad_x = grad_y * (scale if y > 0 else y + scale·alpha)."""
        scale, alpha = y.dtype.type(SELU_SCALE), y.dtype.type(SELU_ALPHA)
        return grad_y * np.where(y > 0, scale, y + scale * alpha)


class Softplus(Activation):
    """f(x) = log(1 + e^x), exactly (no threshold);  f'(x) = σ(x) = 1 − e^(−y).

    Computed as max(x, 0) + log1p(e^(−|x|)): the same number, and e^(−|x|) <= 1 never overflows.
    """

    name = "softplus"

    def function(self, x: Array, out: Array | None = None) -> Array:
        """y = max(x, 0) + log1p(exp(−|x|))."""
        return _into(np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))), out)

    def gradient(self, y: Array, grad_y: Array) -> Array:
        """grad_x = grad_y * (1 − e^(−y)) = grad_y * σ(x), as −expm1(−y) (exact for small y)."""
        return grad_y * -np.expm1(-y)


ACTIVATIONS.update({cls.name: cls for cls in (ELU, SELU, Softplus)})

# -- activations differentiated from their input x (issue 21): gelu, silu ----------------------
# Their derivatives cannot be written in terms of the output y, so ``from_input`` is True:
# ``gradient`` receives the input x (see Activation).

_SQRT_HALF = float(np.sqrt(0.5))
_INV_SQRT_2PI = float(1.0 / np.sqrt(2.0 * np.pi))
_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))
_GELU_CUBIC = 0.044715


class GELU(Activation):
    """Gaussian error linear unit (Hendrycks & Gimpel, 2016), as PyTorch's nn.GELU.

    approximate='none' (exact):  f(x) = x·Φ(x),  Φ(x) = ½(1 + erf(x/√2));  f'(x) = Φ(x) + x·φ(x),
        φ(x) = e^(−x²/2)/√(2π), the normal density; erf is refnet's own (``refnet.support.erf``).
    approximate='tanh':  f(x) = ½x(1 + tanh u),  u = √(2/π)(x + 0.044715x³);
        f'(x) = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²).
    """

    name = "gelu"
    relu_family = True  # He initialization in Dense, as for ReLU
    from_input = True

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def function(self, x: Array, out: Array | None = None) -> Array:
        """y = x·Φ(x) (exact) or ½x(1 + tanh u) (tanh)."""
        if self.approximate == "tanh":
            return np.multiply(0.5 * x, 1 + np.tanh(self._u(x)), out=out)
        return np.multiply(x, self._cdf(x), out=out)

    def gradient(self, x: Array, grad_y: Array) -> Array:
        """grad_x = grad_y·(Φ(x) + x·φ(x)) (exact), or grad_y·f'(x) of the tanh form, at the input x."""
        if self.approximate == "tanh":
            t = np.tanh(self._u(x))
            du = _SQRT_2_OVER_PI * (1 + (3 * _GELU_CUBIC) * x * x)
            return grad_y * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
        density = np.exp(-0.5 * x * x) * _INV_SQRT_2PI
        return grad_y * (self._cdf(x) + x * density)

    @staticmethod
    def _cdf(x: Array) -> Array:
        """Φ(x) = ½(1 + erf(x/√2)), the standard normal distribution function."""
        return 0.5 * (1 + erf(x * _SQRT_HALF))

    @staticmethod
    def _u(x: Array) -> Array:
        """u = √(2/π)(x + 0.044715x³)."""
        return _SQRT_2_OVER_PI * (x + _GELU_CUBIC * x * x * x)

    def get_config(self) -> dict[str, Any]:
        return {"approximate": self.approximate}


class SiLU(Activation):
    """Sigmoid linear unit (swish): f(x) = x·σ(x);  f'(x) = σ(x)·(1 + x·(1 − σ(x))), at the input x."""

    name = "silu"
    relu_family = True  # He initialization in Dense, as for ReLU
    from_input = True

    def function(self, x: Array, out: Array | None = None) -> Array:
        """y = x·σ(x) (σ computed without overflow, as Sigmoid's)."""
        return np.multiply(x, Sigmoid().function(x), out=out)

    def gradient(self, x: Array, grad_y: Array) -> Array:
        """grad_x = grad_y·σ(x)·(1 + x·(1 − σ(x)))."""
        s = Sigmoid().function(x)
        return grad_y * (s * (1 + x * (1 - s)))


ACTIVATIONS.update({cls.name: cls for cls in (GELU, SiLU)})
