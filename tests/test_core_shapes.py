"""Shapes and dtypes for random sizes: float64 and float32 end to end, with no silent upcast."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refnet import (
    MSE,
    SGD,
    Adam,
    BinaryCrossEntropy,
    CrossEntropy,
    Dense,
    Identity,
    LeakyReLU,
    NeuralNetwork,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)

SETTINGS = settings(max_examples=25, deadline=None)
DTYPES = [np.float64, np.float32]
ACTIVATIONS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "softmax"]
sizes = st.integers(1, 7)
seeds = st.integers(0, 2**32 - 1)


@SETTINGS
@given(st.sampled_from(DTYPES), st.sampled_from(ACTIVATIONS), sizes, sizes, sizes, seeds)
def test_dense_shapes_and_dtype_follow_the_layer(
    dtype: type[np.floating[Any]], activation: str, N: int, n_in: int, n_out: int, seed: int
) -> None:
    layer = Dense(n_in, n_out, activation, l1_lambda=0.01, l2_lambda=0.01, seed=seed, dtype=dtype)
    assert layer.params["W"].shape == (n_in, n_out) and layer.params["b"].shape == (n_out,)
    x = np.random.default_rng(seed).normal(size=(N, n_in)).astype(dtype)
    y = layer.forward(x)
    grad_x = layer.backward(np.ones((N, n_out), dtype=dtype))
    assert y.shape == (N, n_out) and grad_x.shape == (N, n_in)
    for array in (y, grad_x, *layer.params.values(), *layer.grads.values()):
        assert array.dtype == dtype
    assert layer.grads.keys() == layer.params.keys()
    for name in layer.params:
        assert layer.grads[name].shape == layer.params[name].shape


@SETTINGS
@given(st.sampled_from([Identity, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax]), st.sampled_from(DTYPES), sizes, sizes)
def test_activations_keep_shape_and_dtype(cls: type, dtype: type[np.floating[Any]], N: int, D: int) -> None:
    x = np.linspace(-3, 3, N * D).reshape(N, D).astype(dtype)
    activation = cls()
    y = activation.forward(x)
    grad_x = activation.backward(np.ones_like(x))
    assert y.shape == grad_x.shape == (N, D)
    assert y.dtype == grad_x.dtype == dtype


@SETTINGS
@given(st.sampled_from(DTYPES), sizes, st.integers(2, 5), seeds)
def test_losses_return_gradients_in_the_prediction_dtype(dtype: type, N: int, C: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cases = [
        (MSE(), rng.normal(size=(N, C)), rng.normal(size=(N, C))),
        (CrossEntropy(), rng.normal(size=(N, C)), rng.integers(0, C, size=N)),
        (BinaryCrossEntropy(), rng.uniform(0.1, 0.9, size=(N, C)), rng.integers(0, 2, size=(N, C))),
        (BinaryCrossEntropy(from_logits=True), rng.normal(size=(N, C)), rng.integers(0, 2, size=(N, C))),
    ]
    for loss, y_pred, y_true in cases:
        value = loss.forward(y_pred.astype(dtype), y_true)
        grad = loss.backward()
        assert isinstance(value, float)
        assert grad.shape == (N, C) and grad.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make_optimizer", [lambda: Adam(0.01, weight_decay=0.01), lambda: SGD(0.1, momentum=0.9)])
def test_training_keeps_the_network_dtype_end_to_end(dtype: type, make_optimizer: object) -> None:
    """Outputs, parameters, gradients and optimizer state all stay in the network dtype."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 4))  # float64 data: converted at the boundary, never upcasting the model
    Y = rng.integers(0, 3, size=16)
    net = NeuralNetwork(
        [Dense(4, 5, "relu", l2_lambda=0.01, seed=1, dtype=dtype), Dense(5, 3, seed=2, dtype=dtype)], CrossEntropy()
    )
    optimizer = make_optimizer()  # type: ignore[operator]
    net.train(X, Y, epochs=2, optimizer=optimizer, batch_size=5)
    assert net.dtype == dtype
    assert net.predict(X).dtype == dtype
    assert net.forward(X.astype(np.float32)).dtype == dtype
    for layer in net.layers:
        for name in layer.params:
            assert layer.params[name].dtype == dtype
            assert layer.grads[name].dtype == dtype
            for slot in optimizer.state_for(layer, name).values():
                if isinstance(slot, np.ndarray):
                    assert slot.dtype == dtype


def test_float32_network_forward_matches_float64_to_float32_precision() -> None:
    rng = np.random.default_rng(3)
    net64 = NeuralNetwork([Dense(4, 6, "tanh", seed=0), Dense(6, 2, "sigmoid", seed=1)])
    net32 = NeuralNetwork(
        [Dense(4, 6, "tanh", seed=0, dtype=np.float32), Dense(6, 2, "sigmoid", seed=1, dtype=np.float32)]
    )
    X = rng.normal(size=(10, 4))
    np.testing.assert_allclose(net32.predict(X), net64.predict(X), rtol=1e-5, atol=1e-6)


@SETTINGS
@given(st.lists(sizes, min_size=2, max_size=4), sizes, seeds)
def test_network_output_width_is_the_last_layer_width(widths: list[int], N: int, seed: int) -> None:
    net = NeuralNetwork([Dense(a, b, "tanh", seed=seed) for a, b in itertools.pairwise(widths)])
    assert net.in_features == widths[0]
    assert net.output_features() == widths[-1]
    assert net.predict(np.zeros((N, widths[0]))).shape == (N, widths[-1])
