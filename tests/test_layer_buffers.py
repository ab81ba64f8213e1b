"""The work buffers the image layers reuse from step to step (refnet.support.buffers) never alias what a caller
or a later backward holds: layers that reuse them compute what fresh layers compute, call after call, and an
array a call returned stays as it was after later calls. MaxPool2D keeps each window's first maximum (an index)
instead of the windows."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import numpy as np
import pytest

from refnet import Conv2D, CrossEntropy, Dense, Flatten, MaxPool2D, NeuralNetwork
from refnet.pooling import first_maximum
from refnet.support.buffers import Buffers

DTYPES = [np.float64, np.float32]


def conv_pool(dtype: Any, seed: int = 0) -> list[Any]:
    return [Conv2D(2, 3, 3, stride=1, padding=1, activation="relu", seed=seed, dtype=dtype), MaxPool2D(2)]


def run(layers: list[Any], x: Any, grad: Any) -> tuple[Any, Any, Any]:
    """y, grad_x and dW of the stack (Conv2D, MaxPool2D) for one batch."""
    y = layers[1].forward(layers[0].forward(x))
    grad_x = layers[0].backward(layers[1].backward(grad))
    return y, grad_x, layers[0].grads["W"].copy()


@pytest.mark.parametrize("dtype", DTYPES)
def test_reused_buffers_give_what_fresh_layers_give_batch_after_batch(dtype: Any) -> None:
    rng = np.random.default_rng(1)
    reused = conv_pool(dtype)
    for N in (4, 4, 2, 4):  # the same shape twice (a buffer reused), then another (reallocated), then back
        x = rng.standard_normal((N, 2, 6, 6)).astype(dtype)
        grad = rng.standard_normal((N, 3, 3, 3)).astype(dtype)
        for got, expected in zip(run(reused, x, grad), run(conv_pool(dtype), x, grad), strict=True):
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_forwards_then_backward_uses_the_last_forward(dtype: Any) -> None:
    rng = np.random.default_rng(2)
    x1, x2 = rng.standard_normal((2, 4, 2, 6, 6)).astype(dtype)
    grad = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    layers = conv_pool(dtype)
    layers[1].forward(layers[0].forward(x1))
    _, grad_x, dW = run(layers, x2, grad)
    _, expected_grad_x, expected_dW = run(conv_pool(dtype), x2, grad)
    np.testing.assert_array_equal(grad_x, expected_grad_x)
    np.testing.assert_array_equal(dW, expected_dW)


def test_returned_arrays_are_not_overwritten_by_later_calls() -> None:
    rng = np.random.default_rng(3)
    layers = conv_pool(np.float64)
    x1, x2 = rng.standard_normal((2, 4, 2, 6, 6))
    x1_as_given = x1.copy()
    g1, g2 = rng.standard_normal((2, 4, 3, 3, 3))
    conv_y, conv_grad_x = layers[0].forward(x1), layers[0].backward(rng.standard_normal((4, 3, 6, 6)))
    y1, grad_x1, _ = run(layers, x1, g1)
    kept = [array.copy() for array in (conv_y, conv_grad_x, y1, grad_x1)]
    run(layers, x2, g2)
    for array, copy_ in zip((conv_y, conv_grad_x, y1, grad_x1), kept, strict=True):
        np.testing.assert_array_equal(array, copy_)
    np.testing.assert_array_equal(x1, x1_as_given)  # the padded copy is the layer's own


def test_copies_of_a_layer_compute_on_their_own() -> None:
    rng = np.random.default_rng(5)
    layers = conv_pool(np.float64)
    x, other = rng.standard_normal((2, 4, 2, 6, 6))
    grad = rng.standard_normal((4, 3, 3, 3))
    layers[1].forward(layers[0].forward(x))
    for twin in (copy.deepcopy(layers), pickle.loads(pickle.dumps(layers))):
        twin[1].forward(twin[0].forward(other))  # the twin's buffers are its own: the layers' stay as x left them
    grad_x = layers[0].backward(layers[1].backward(grad))
    _, expected, _ = run(conv_pool(np.float64), x, grad)
    np.testing.assert_array_equal(grad_x, expected)


def test_the_padded_buffer_is_reused_reallocated_on_a_new_shape_and_keeps_its_border_zero() -> None:
    buffers = Buffers()
    ones = np.ones((1, 1, 2, 2))
    first = buffers.padded("x_pad", ones, 1, 2)
    second = buffers.padded("x_pad", 5 * ones, 1, 2)
    assert second is first
    expected = np.zeros((1, 1, 4, 6))
    expected[:, :, 1:3, 2:4] = 5.0
    np.testing.assert_array_equal(second, expected)
    assert buffers.padded("x_pad", np.ones((2, 1, 2, 2)), 1, 2).shape == (2, 1, 4, 6)
    assert buffers.padded("x_pad", np.ones((2, 1, 2, 2), np.float32), 1, 2).dtype == np.float32
    assert buffers.padded("other", ones, 1, 2) is not buffers.padded("x_pad", ones, 1, 2)
    buffers.clear()
    assert buffers.padded("x_pad", ones, 1, 2) is not first


def test_first_maximum_takes_the_first_of_ties_in_row_major_order_and_none_for_nan() -> None:
    windows = np.array([[1.0, 3.0, 3.0, 2.0], [4.0, 4.0, 4.0, 4.0], [0.0, -1.0, -2.0, 0.0], [np.nan, 1, 2, 3]])
    windows = windows.T.reshape(1, 4, 1, 4, 1)  # (C, kh·kw, N, H_out, W_out): four windows of four
    y = windows.max(axis=1)
    first = first_maximum(windows, y)  # (1, 4, 1, 4, 1)
    expected = np.zeros((4, 4), dtype=bool)  # window, k
    expected[0, 1] = expected[1, 0] = expected[2, 0] = True  # the NaN window has none
    np.testing.assert_array_equal(first[0, :, 0, :, 0].T, expected)


def test_a_cnn_trains_the_same_with_buffers_as_fresh_layers_each_step() -> None:
    rng = np.random.default_rng(6)
    X, labels = rng.standard_normal((8, 2, 6, 6)), rng.integers(0, 3, 8)

    def net() -> NeuralNetwork:
        return NeuralNetwork([*conv_pool(np.float64), Flatten(), Dense(27, 3, seed=1)], CrossEntropy(), seed=0)

    reused, reference = net(), net()
    for _ in range(3):
        loss = reused.compute_gradients(X, labels)
        fresh = copy.deepcopy(reference)  # a copy starts without buffers
        assert fresh.compute_gradients(X, labels) == loss
        for layer, other in zip(reused.layers, fresh.layers, strict=True):
            for key in layer.grads:
                np.testing.assert_array_equal(layer.grads[key], other.grads[key])
                layer.params[key] -= 0.1 * layer.grads[key]
                other.params[key] -= 0.1 * other.grads[key]
        reference = fresh
