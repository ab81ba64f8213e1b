"""Exercise 2: a residual block, y = x + tanh(x @ W), with a mistake in its backward.

x reaches y along two paths: straight through the skip connection, and through tanh(x @ W).

    gradcheck --check docs/exercises/ex2_accumulate.py:make

fails. Repair the backward so that the check passes.
"""

import numpy as np


class ResidualTanh:
    """y = x + tanh(x @ W).  x: (N, D), W: (D, D), y: (N, D)."""

    def __init__(self, width, rng):
        self.params = {"W": rng.standard_normal((width, width)) / np.sqrt(width)}
        self.grads = {}

    def forward(self, x):
        self.x = x
        self.h = np.tanh(x @ self.params["W"])
        return x + self.h

    def backward(self, grad_y):
        grad_z = grad_y * (1 - self.h**2)
        self.grads["W"] = self.x.T @ grad_z
        grad_x = grad_y  # the skip connection's share
        grad_x = grad_x + grad_z @ self.params["W"].T  # plus the tanh branch's share
        return grad_x


def make():
    rng = np.random.default_rng(0)
    return ResidualTanh(3, rng), rng.standard_normal((4, 3))
