"""Custom layers as users write them, in plain NumPy (no refnet), each with an optional classic bug.

Every class takes ``dtype`` (float64 or float32: parameters, outputs and gradients in it) and
``bug`` (None for the correct layer, else the name of one mistake it knows how to make). None
of them subclasses refnet's Layer: gradcheck sees them only through forward/backward and the
params/grads dicts. ``Configurable`` adds get_config/from_config with a dtype, the one thing
gradcheck needs to rebuild a float32 layer in float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Array = Any


class Linear:
    """y = x @ W + b; W (in, out), b (out,). grad_x = grad_y @ Wᵀ, dW = xᵀ @ grad_y, db = Σ_n grad_y."""

    bugs: tuple[str, ...] = (
        "missing transpose",
        "accumulate",
        "bias sum over wrong axis",
        "one element",
        "stale input",
    )

    def __init__(self, n_in: int, n_out: int, dtype: Any = np.float64, bug: str | None = None, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.n_in, self.n_out, self.bug = n_in, n_out, bug
        self.params = {
            "W": (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype),
            "b": (0.1 * rng.standard_normal(n_out)).astype(dtype),
        }
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        self.x: Array = None

    def forward(self, x: Array) -> Array:
        if self.bug != "stale input" or self.x is None:  # the stale one keeps the first x it ever saw
            self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, grad_y: Array) -> Array:
        W = self.params["W"]
        dW, db = self.x.T @ grad_y, grad_y.sum(axis=0)
        if self.bug == "accumulate":
            self.grads["W"] += dW
            self.grads["b"] += db
        else:
            self.grads["W"], self.grads["b"] = dW, db
        if self.bug == "bias sum over wrong axis":
            self.grads["b"] = grad_y.sum(axis=1)
        if self.bug == "one element":  # one element of a large dW off by 1 %
            self.grads["W"] = dW.copy()
            self.grads["W"][3, 5] *= 1.01
        return grad_y @ (W if self.bug == "missing transpose" else W.T)


class Cube:
    """y = x³ (no parameters). grad_x = 3x²·grad_y."""

    bugs = ("sign", "stale input")

    def __init__(self, dtype: Any = np.float64, bug: str | None = None) -> None:
        self.dtype, self.bug = dtype, bug
        self.x: Array = None

    def forward(self, x: Array) -> Array:
        x = np.asarray(x, dtype=self.dtype)  # computes in its dtype, whatever it is given
        if self.bug != "stale input" or self.x is None:
            self.x = x
        return x**3

    def backward(self, grad_y: Array) -> Array:
        sign = -1.0 if self.bug == "sign" else 1.0
        return sign * 3 * self.x**2 * grad_y


class RowMean:
    """y = mean over the features of each row, (N, D) -> (N, 1). grad_x = grad_y / D broadcast."""

    bugs = ("forgotten 1/N",)

    def __init__(self, dtype: Any = np.float64, bug: str | None = None) -> None:
        self.dtype, self.bug = dtype, bug
        self.width = 0

    def forward(self, x: Array) -> Array:
        x = np.asarray(x, dtype=self.dtype)
        self.width = x.shape[1]
        return x.mean(axis=1, keepdims=True)

    def backward(self, grad_y: Array) -> Array:
        scale = 1.0 if self.bug == "forgotten 1/N" else 1.0 / self.width
        return np.repeat(grad_y * scale, self.width, axis=1).astype(self.dtype)


class Leaky:
    """y = x for x > 0, alpha·x otherwise (a kink at 0). grad_x = grad_y·(1 or alpha)."""

    bugs = ("negative inputs",)

    def __init__(self, alpha: float = 0.1, dtype: Any = np.float64, bug: str | None = None) -> None:
        self.alpha, self.dtype, self.bug = alpha, dtype, bug
        self.x: Array = None

    def forward(self, x: Array) -> Array:
        self.x = np.asarray(x, dtype=self.dtype)
        return np.where(self.x > 0, self.x, self.alpha * self.x)

    def backward(self, grad_y: Array) -> Array:
        negative_slope = 1.0 if self.bug == "negative inputs" else self.alpha  # the bug: wrong only for x < 0
        return grad_y * np.where(self.x > 0, 1.0, negative_slope).astype(self.dtype)


class ScaledAbs:
    """y = |x|·w, w (D,) (a kink at x = 0). grad_x = sign(x)·w·grad_y, dw = Σ_n |x|·grad_y."""

    bugs = ("small relative error",)

    def __init__(self, width: int, dtype: Any = np.float64, bug: str | None = None, seed: int = 0) -> None:
        self.params = {"w": np.random.default_rng(seed).uniform(0.5, 1.5, width).astype(dtype)}
        self.grads: dict[str, Array] = {}
        self.bug = bug

    def forward(self, x: Array) -> Array:
        self.x = x
        return np.abs(x) * self.params["w"]

    def backward(self, grad_y: Array) -> Array:
        factor = 1.01 if self.bug == "small relative error" else 1.0
        self.grads = {"w": (np.abs(self.x) * grad_y).sum(axis=0)}
        return factor * np.sign(self.x) * self.params["w"] * grad_y


class SinGate:
    """y = x·sin(a·x), a (D,). grad_x = (sin(a·x) + a·x·cos(a·x))·grad_y, da = Σ_n x²·cos(a·x)·grad_y."""

    bugs = ("missing product-rule term", "small relative error")

    def __init__(self, width: int, dtype: Any = np.float64, bug: str | None = None, seed: int = 0) -> None:
        self.params = {"a": np.random.default_rng(seed).uniform(0.5, 1.5, width).astype(dtype)}
        self.grads: dict[str, Array] = {}
        self.bug = bug

    def forward(self, x: Array) -> Array:
        self.x = x
        return x * np.sin(self.params["a"] * x)

    def backward(self, grad_y: Array) -> Array:
        a, x = self.params["a"], self.x
        self.grads = {"a": (x**2 * np.cos(a * x) * grad_y).sum(axis=0)}
        local = a * x * np.cos(a * x)
        if self.bug != "missing product-rule term":
            local = local + np.sin(a * x)
        if self.bug == "small relative error":
            local = local * 1.01
        return local * grad_y


class Normalize:
    """Layer normalization over the features: y = (x − μ)/√(σ² + eps)·g, per row.

    grad_x = (g·grad_y − mean(g·grad_y) − x̂·mean(g·grad_y·x̂)) / √(σ² + eps), dg = Σ_n x̂·grad_y.
    """

    bugs = ("mean term dropped",)

    def __init__(self, width: int, dtype: Any = np.float64, bug: str | None = None, seed: int = 0) -> None:
        self.params = {"g": np.random.default_rng(seed).uniform(0.5, 1.5, width).astype(dtype)}
        self.grads: dict[str, Array] = {}
        self.bug, self.eps = bug, 1e-2  # 1/√(σ² + eps) ≤ 10: a nearly constant row stays decidable in float32

    def forward(self, x: Array) -> Array:
        mu = x.mean(axis=1, keepdims=True)
        self.inv = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=1, keepdims=True) + self.eps)
        self.x_hat = (x - mu) * self.inv
        return self.x_hat * self.params["g"]

    def backward(self, grad_y: Array) -> Array:
        g_dy = grad_y * self.params["g"]
        self.grads = {"g": (self.x_hat * grad_y).sum(axis=0)}
        mean_term = 0.0 if self.bug == "mean term dropped" else g_dy.mean(axis=1, keepdims=True)
        return (g_dy - mean_term - self.x_hat * (g_dy * self.x_hat).mean(axis=1, keepdims=True)) * self.inv


class WeightDecay(Linear):
    """Linear with a penalty (lam/2)·ΣW² that backward must add to dW as lam·W."""

    bugs = ("penalty gradient missing",)

    lam = 0.5

    def penalty(self) -> float:
        return float(0.5 * self.lam * np.sum(self.params["W"].astype(np.float64) ** 2))

    def backward(self, grad_y: Array) -> Array:
        grad_x = super().backward(grad_y)
        if self.bug != "penalty gradient missing":
            self.grads["W"] = self.grads["W"] + self.lam * self.params["W"]
        return grad_x


class Configurable(SinGate):
    """SinGate with get_config/from_config and a dtype in the config: gradcheck rebuilds it in float64."""

    def __init__(self, width: int, dtype: Any = np.float64, bug: str | None = None, seed: int = 0) -> None:
        super().__init__(width, dtype, bug, seed)
        self.width, self.seed = width, seed

    def get_config(self) -> dict[str, Any]:
        dtype = str(self.params["a"].dtype)
        return {"width": self.width, "dtype": dtype, "bug": self.bug, "seed": self.seed}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Configurable:
        return cls(**config)


def sin_matmul(x: Array, W: Array) -> Array:
    """A plain forward function: y = sin(x @ W)."""
    return np.sin(x @ W)


def sin_matmul_vjp(grad_y: Array, x: Array, W: Array) -> tuple[Array, dict[str, Array]]:
    """Its vector-Jacobian product: grad_z = grad_y·cos(x @ W); grad_x = grad_z @ Wᵀ, dW = xᵀ @ grad_z."""
    grad_z = grad_y * np.cos(x @ W)
    return grad_z @ W.T, {"W": x.T @ grad_z}


def sin_matmul_vjp_no_transpose(grad_y: Array, x: Array, W: Array) -> tuple[Array, dict[str, Array]]:
    """The vjp with the classic bug: grad_x = grad_z @ W (W square, so the shapes still fit)."""
    grad_z = grad_y * np.cos(x @ W)
    return grad_z @ W, {"W": x.T @ grad_z}
