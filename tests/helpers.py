"""Small, independent test helpers: a central-difference gradient and array assertions.

These deliberately do not use ``gradcheck`` (a separate verifier): the core tests must stand
on their own, so the numerical gradient here is the textbook formula and nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from refnet import NeuralNetwork

Array = NDArray[Any]
#: What the ``small_net`` fixture (conftest.py) gives: a function building a small seeded network.
NetFactory = Callable[..., NeuralNetwork]


def central_difference(f: Callable[[], float], array: Array, h: float = 1e-6) -> Array:
    """dF/d(array) by central differences: (f(a + h·e_i) − f(a − h·e_i)) / 2h for every i.

    ``array`` is perturbed in place (and restored), so ``f`` must read it: pass a layer's
    live parameter array or an input that ``f`` closes over.
    """
    grad = np.zeros(array.shape, dtype=np.float64)
    for index in np.ndindex(array.shape):
        original = array[index]
        array[index] = original + h
        plus = f()
        array[index] = original - h
        minus = f()
        array[index] = original
        grad[index] = (plus - minus) / (2 * h)
    return grad


def assert_gradient_close(analytic: Array, numeric: Array, rtol: float = 1e-5, atol: float = 1e-7) -> None:
    """Analytic and central-difference gradients agree elementwise (float64 tolerances)."""
    assert analytic.shape == numeric.shape, f"shape {analytic.shape} != {numeric.shape}"
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol)


def assert_layer_gradients_close(layer: Any, x: Array, G: Array) -> None:
    """A layer's backward for L = Σ forward(x)·G agrees with central differences: dL/dx and every parameter's."""

    def loss() -> float:
        return projection_loss(layer.forward(x), G)

    layer.forward(x)
    grad_x = layer.backward(G)
    grads = {name: value.copy() for name, value in layer.grads.items()}
    assert_gradient_close(grad_x, central_difference(loss, x))
    for name, value in layer.params.items():
        assert_gradient_close(grads[name], central_difference(loss, value))


def relative_difference(y: NDArray[Any], reference: NDArray[Any]) -> float:
    """max|y − reference| / max|reference|, in float64: one number for how far y is from the reference."""
    y, reference = np.asarray(y, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    return float(np.abs(y - reference).max() / np.abs(reference).max())


def projection_loss(y: Array, G: Array) -> float:
    """L = Σ y·G: a scalar whose gradient with respect to y is exactly G."""
    return float(np.sum(y * G))


def assert_as_recorded(actual: Array, recorded: Array, err_msg: str = "") -> None:
    """``actual`` is what a fixture in tests/data recorded, to 1e-13 (a float32 array to 1e-6).

    The fixtures hold results computed on one machine (predictions, a resumed training run): their
    last bits depend on the CPU's vector kernels and the NumPy version (NumPy 1's tanh differs), and
    the resumed runs were recorded before Adam was written with m̂ and v̂ (the same numbers in exact
    arithmetic, not in the last bit). A lost or wrong state moves them by far more than 1e-13.
    """
    single = actual.dtype == np.float32
    rtol, atol = (1e-6, 1e-7) if single else (1e-13, 1e-15)
    np.testing.assert_allclose(actual, recorded, rtol=rtol, atol=atol, err_msg=err_msg)
