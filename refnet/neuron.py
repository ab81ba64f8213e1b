"""A single artificial neuron, written to be read.

A neuron takes n inputs x_1..x_n, weighs them, adds a bias and applies an activation:

    z = w_1·x_1 + ... + w_n·x_n + b = x @ w + b
    y = f(z)

Learning means nudging w and b against the gradient of a loss. With the chain rule,
for one sample and dL/dy = grad_y:

    dL/dz = grad_y · f'(z)
    dL/dw = dL/dz · x          (each weight's share is the input it multiplied)
    dL/db = dL/dz
    dL/dx = dL/dz · w

For a batch, the per-sample gradients of w and b are summed (the loss's 1/N is already in
grad_y). A Neuron computes exactly what a ``Dense(n, 1)`` layer with the same weights
computes: it is that layer with one output, spelled out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refnet.base import Array, Layer, Shape
from refnet.errors import ShapeError
from refnet.functions import ACTIVATIONS, Activation, get_activation
from refnet.support.checks import as_array, as_features, check_finite, check_int, check_positive, make_rng


class Neuron(Layer):
    """One neuron: y = f(x @ w + b), for x of shape (N, n_inputs), y of shape (N, 1).

    Args:
        n_inputs: number of inputs.
        activation: a name or an activation object (default ``'sigmoid'``).
        weights, bias: initial values; by default w ~ Uniform(−a, a), a = sqrt(6/(n+1))
            (Glorot uniform for one output) and b = 0.
        rng, seed: where random initial weights come from.
    """

    def __init__(
        self,
        n_inputs: int,
        activation: str | Activation | None = "sigmoid",
        *,
        weights: Any = None,
        bias: float = 0.0,
        rng: np.random.Generator | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.n_inputs = check_int(n_inputs, "n_inputs")
        self.activation = get_activation(activation)
        if weights is None:
            limit = np.sqrt(6.0 / (self.n_inputs + 1))
            w = make_rng(rng, seed, "Neuron").uniform(-limit, limit, size=self.n_inputs)
        else:
            w = as_array(weights, "weights").astype(np.float64).reshape(-1)
            if w.shape != (self.n_inputs,):
                raise ShapeError(f"weights must have {self.n_inputs} entries, got {w.size}")
            check_finite(w, "weights")
        b = as_array(bias, "bias").astype(np.float64)
        if b.ndim != 0:
            raise ShapeError(f"bias must be a single number, got shape {b.shape}")
        check_finite(b.reshape(1), "bias")
        self.params = {"w": w, "b": b.reshape(1)}
        self.grads = {"w": np.zeros_like(w), "b": np.zeros(1)}
        self._x: Array | None = None
        self._y: Array | None = None

    @property
    def in_features(self) -> int:
        return self.n_inputs

    def output_features(self, in_features: int) -> int:
        return 1

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """(n_inputs,) -> (1,): a neuron takes rows (N, n_inputs)."""
        if len(shape) != 1:
            raise ShapeError(f"Neuron takes rows of shape (N, {self.n_inputs}), got inputs of shape (N, {shape})")
        return super().output_shape(shape)

    def forward(self, x: Array, training: bool = True) -> Array:
        """z = x @ w + b;  y = f(z).  x: (N, n_inputs) -> y: (N, 1)."""
        z = x @ self.params["w"] + self.params["b"][0]  # weighted sum, one number per sample
        z = z.reshape(-1, 1)
        y = self.activation.function(z)
        # f'(z) is written in terms of y for most activations, of z itself for gelu and silu.
        self._x, self._y = x, (z if self.activation.from_input else y)
        return y

    def backward(self, grad_y: Array) -> Array:
        """dL/dz = grad_y·f'(z);  dw = x.T @ dL/dz;  db = Σ dL/dz;  grad_x = dL/dz · w."""
        assert self._x is not None and self._y is not None  # set by forward (the interface checks the order)
        grad_z = self.activation.gradient(self._y, grad_y)[:, 0]  # (N,)
        self.grads["w"][:] = self._x.T @ grad_z
        self.grads["b"][0] = grad_z.sum()
        return np.outer(grad_z, self.params["w"])

    def train(self, X: Any, y: Any, epochs: int = 100, learning_rate: float = 0.1) -> list[float]:
        """Plain gradient descent on the mean squared error; returns the loss per epoch.

        Each epoch: predict, measure L = mean((y_hat − y)²), backpropagate
        dL/dy_hat = 2(y_hat − y)/N, and step w ← w − lr·dw, b ← b − lr·db.
        """
        epochs = check_int(epochs, "epochs")
        lr = check_positive(learning_rate, "learning_rate")
        X = as_features(X, "X", np.dtype(np.float64), self.n_inputs)
        target = as_array(y, "y").astype(np.float64).reshape(-1, 1)
        check_finite(target, "y")
        if len(target) != len(X):
            raise ShapeError(f"X has {len(X)} rows but y has {len(target)}")
        losses = []
        for _ in range(epochs):
            y_hat = self.forward(X)
            error = y_hat - target
            losses.append(float(np.mean(error**2)))
            self.backward(2.0 * error / len(X))
            self.params["w"] -= lr * self.grads["w"]
            self.params["b"] -= lr * self.grads["b"]
        return losses

    def get_config(self) -> dict[str, Any]:
        return {"n_inputs": self.n_inputs, "activation": self.activation.name}

    def check_saveable(self) -> None:
        """The config names the activation only: a user's activation class, or one with settings
        (LeakyReLU's slope), would load back as a different neuron, so only plain built-ins save."""
        if ACTIVATIONS.get(self.activation.name) is not type(self.activation) or self.activation.get_config():
            raise TypeError(
                f"cannot save a Neuron with activation {self.activation!r}: only the built-in activations "
                f"without settings ({', '.join(ACTIVATIONS)}) can be saved"
            )

    @classmethod
    def array_shapes(cls, config: dict[str, Any]) -> tuple[dict[str, Shape], dict[str, Shape]]:
        """w: (n_inputs,), b: (1,); no state."""
        return {"w": (check_int(config.get("n_inputs"), "n_inputs"),), "b": (1,)}, {}
