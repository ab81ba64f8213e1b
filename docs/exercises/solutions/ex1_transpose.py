"""Exercise 1: a linear layer, y = x @ W + b, with a mistake in its backward.

Check it from the repository's root:

    gradcheck --check docs/exercises/ex1_transpose.py:make

It fails. Find the mistake from what gradcheck says (which tensor? which element?), repair it
in this file, and run the command again until every row passes.
"""

import numpy as np


class Linear:
    """y = x @ W + b.  x: (N, D), W: (D, D), b: (D,), y: (N, D)."""

    def __init__(self, width, rng):
        self.params = {"W": rng.standard_normal((width, width)) / np.sqrt(width), "b": np.zeros(width)}
        self.grads = {}

    def forward(self, x):
        self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, grad_y):
        self.grads["W"] = self.x.T @ grad_y
        self.grads["b"] = grad_y.sum(axis=0)
        return grad_y @ self.params["W"].T


def make():
    rng = np.random.default_rng(0)
    return Linear(4, rng), rng.standard_normal((5, 4))
