"""Analytic gradients of every layer, activation, loss and penalty against central differences.

Each test builds a scalar L whose gradient the component claims to compute and compares
every element with ``central_difference`` (tests/helpers.py), in float64. Inputs are kept
away from the kinks (ReLU and LeakyReLU at 0, |W| at 0), where a derivative does not exist.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import assert_gradient_close, central_difference, projection_loss
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from refnet import (
    MSE,
    BinaryCrossEntropy,
    CrossEntropy,
    Dense,
    ElasticNet,
    Identity,
    LeakyReLU,
    NeuralNetwork,
    Neuron,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)

SETTINGS = settings(max_examples=25, deadline=None)
ACTIVATIONS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "softmax"]
KINKED = {"relu", "leaky_relu"}

sizes = st.integers(1, 5)
seeds = st.integers(0, 2**32 - 1)


def away_from_zero(values: NDArray[Any], margin: float = 1e-3) -> bool:
    return bool(np.all(np.abs(values) > margin))


@SETTINGS
@given(st.sampled_from(ACTIVATIONS), sizes, sizes, sizes, seeds, st.floats(0, 0.1), st.floats(0, 0.1))
def test_dense_backward_is_the_gradient_of_a_projection_of_its_output(
    activation: str, N: int, n_in: int, n_out: int, seed: int, l1: float, l2: float
) -> None:
    rng = np.random.default_rng(seed)
    layer = Dense(n_in, n_out, activation, l1_lambda=l1, l2_lambda=l2, seed=seed)
    layer.params["b"][:] = rng.normal(size=n_out)
    x = rng.normal(size=(N, n_in))
    G = rng.normal(size=(N, n_out))
    if activation in KINKED:
        assume(away_from_zero(x @ layer.params["W"] + layer.params["b"]))
    if l1:
        assume(away_from_zero(layer.params["W"]))

    def L() -> float:
        return projection_loss(layer.forward(x), G) + layer.penalty()

    layer.forward(x)
    grad_x = layer.backward(G)
    assert_gradient_close(grad_x, central_difference(L, x))
    for name, param in layer.params.items():
        assert_gradient_close(layer.grads[name], central_difference(L, param))


@SETTINGS
@given(st.sampled_from([Identity, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax]), sizes, sizes, seeds)
def test_standalone_activation_backward_is_the_gradient_of_its_forward(cls: type, N: int, D: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=3.0, size=(N, D))
    if cls in (ReLU, LeakyReLU):
        assume(away_from_zero(x))
    G = rng.normal(size=(N, D))
    activation = cls()
    activation.forward(x)
    grad_x = activation.backward(G)
    assert_gradient_close(grad_x, central_difference(lambda: projection_loss(cls().forward(x), G), x))


def test_leaky_relu_gradient_uses_alpha_for_negative_inputs() -> None:
    activation = LeakyReLU(alpha=0.2)
    activation.forward(np.array([[-2.0, 3.0]]))
    np.testing.assert_array_equal(activation.backward(np.array([[1.0, 1.0]])), [[0.2, 1.0]])


def test_relu_derivative_is_zero_at_zero() -> None:
    activation = ReLU()
    activation.forward(np.zeros((1, 3)))
    np.testing.assert_array_equal(activation.backward(np.ones((1, 3))), np.zeros((1, 3)))


def loss_cases(rng: np.random.Generator, N: int, C: int) -> list[tuple[object, NDArray[Any], NDArray[Any]]]:
    labels = rng.integers(0, C, size=N)
    probs = rng.uniform(0.05, 0.95, size=(N, C))
    return [
        (MSE(), rng.normal(size=(N, C)), rng.normal(size=(N, C))),
        (CrossEntropy(), rng.normal(scale=3, size=(N, C)), labels),
        (CrossEntropy(), rng.normal(scale=3, size=(N, C)), np.eye(C)[labels]),
        (CrossEntropy(), rng.normal(scale=3, size=(N, C)), probs / probs.sum(axis=1, keepdims=True)),
        (BinaryCrossEntropy(), probs, rng.uniform(0, 1, size=(N, C))),
        (BinaryCrossEntropy(from_logits=True), rng.normal(scale=3, size=(N, C)), rng.uniform(0, 1, size=(N, C))),
    ]


@SETTINGS
@given(st.integers(0, 5), sizes, st.integers(2, 5), seeds)
def test_loss_backward_is_the_gradient_of_its_forward(case: int, N: int, C: int, seed: int) -> None:
    loss, y_pred, y_true = loss_cases(np.random.default_rng(seed), N, C)[case]
    value = loss.forward(y_pred, y_true)  # type: ignore[attr-defined]
    grad = loss.backward()  # type: ignore[attr-defined]
    assert grad.shape == y_pred.shape
    numeric = central_difference(lambda: loss.forward(y_pred, y_true), y_pred)  # type: ignore[attr-defined]
    assert_gradient_close(grad, numeric)
    assert loss.forward(y_pred, y_true) == value  # type: ignore[attr-defined]


@SETTINGS
@given(sizes, sizes, st.floats(0, 1), st.floats(0, 1), seeds)
def test_elastic_net_gradient_is_the_gradient_of_its_penalty(
    n_in: int, n_out: int, l1: float, l2: float, seed: int
) -> None:
    W = np.random.default_rng(seed).normal(size=(n_in, n_out))
    assume(away_from_zero(W))
    penalty = ElasticNet(l1, l2)
    assert_gradient_close(penalty.gradient(W), central_difference(lambda: penalty.penalty(W), W))


def test_elastic_net_penalty_and_gradient_match_the_formula() -> None:
    W = np.array([[1.5, -2.0], [0.0, 0.5]])
    penalty = ElasticNet(l1_lambda=0.3, l2_lambda=0.2)
    assert penalty.penalty(W) == pytest.approx(0.3 * (1.5 + 2.0 + 0.0 + 0.5) + 0.1 * (2.25 + 4.0 + 0.0 + 0.25))
    np.testing.assert_allclose(penalty.gradient(W), 0.3 * np.array([[1, -1], [0, 1]]) + 0.2 * W)


@SETTINGS
@given(st.sampled_from(["tanh", "sigmoid", "identity", "relu"]), sizes, st.integers(1, 4), seeds, st.booleans())
def test_network_gradients_are_the_gradient_of_the_reported_total_loss(
    activation: str, N: int, hidden: int, seed: int, classify: bool
) -> None:
    rng = np.random.default_rng(seed)
    loss = CrossEntropy() if classify else MSE()
    out = 3 if classify else 2
    net = NeuralNetwork(
        [Dense(3, hidden, activation, l1_lambda=0.01, l2_lambda=0.02, seed=seed), Dense(hidden, out, l2_lambda=0.05)],
        loss,
    )
    for layer in net.layers:
        layer.params["b"][:] = rng.normal(size=layer.params["b"].shape)
    X = rng.normal(size=(N, 3))
    Y = rng.integers(0, out, size=N) if classify else rng.normal(size=(N, out))
    assume(away_from_zero(net.layers[0].params["W"]))
    if activation == "relu":
        first = net.layers[0]
        assume(away_from_zero(X @ first.params["W"] + first.params["b"]))
    net.compute_gradients(X, Y)
    analytic = [{name: grad.copy() for name, grad in layer.grads.items()} for layer in net.layers]
    for layer, grads in zip(net.layers, analytic):
        for name, param in layer.params.items():
            assert_gradient_close(grads[name], central_difference(lambda: net.compute_gradients(X, Y), param))


def test_backward_twice_gives_the_same_gradients() -> None:
    layer = Dense(3, 2, "tanh", l2_lambda=0.1, seed=0)
    x, G = np.ones((4, 3)), np.full((4, 2), 0.5)
    layer.forward(x)
    first = layer.backward(G), {k: v.copy() for k, v in layer.grads.items()}
    second = layer.backward(G), layer.grads
    np.testing.assert_array_equal(first[0], second[0])
    for name in layer.grads:
        np.testing.assert_array_equal(first[1][name], second[1][name])


@SETTINGS
@given(st.sampled_from(["sigmoid", "tanh", "identity", "relu"]), sizes, sizes, seeds)
def test_one_output_dense_equals_neuron_with_the_same_weights(activation: str, N: int, n_in: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w, b = rng.normal(size=n_in), float(rng.normal())
    neuron = Neuron(n_in, activation, weights=w, bias=b)
    dense = Dense(n_in, 1, activation)
    dense.params["W"][:, 0] = w
    dense.params["b"][0] = b
    x = rng.normal(size=(N, n_in))
    G = rng.normal(size=(N, 1))
    y_neuron, y_dense = neuron.forward(x), dense.forward(x)
    assert y_neuron.shape == y_dense.shape == (N, 1)
    np.testing.assert_allclose(y_neuron, y_dense, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(neuron.backward(G), dense.backward(G), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(neuron.grads["w"], dense.grads["W"][:, 0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(neuron.grads["b"], dense.grads["b"], rtol=1e-12, atol=1e-14)


def test_neuron_train_is_plain_gradient_descent_on_the_mean_squared_error() -> None:
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(6, 3)), rng.uniform(size=6)
    w, b, lr = rng.normal(size=3), 0.2, 0.5
    losses = Neuron(3, "sigmoid", weights=w, bias=b).train(X, y, epochs=5, learning_rate=lr)
    expected = []
    for _ in range(5):
        p = 1 / (1 + np.exp(-(X @ w + b)))
        expected.append(np.mean((p - y) ** 2))
        grad_z = 2 * (p - y) / len(y) * p * (1 - p)
        w, b = w - lr * X.T @ grad_z, b - lr * grad_z.sum()
    np.testing.assert_allclose(losses, expected, rtol=1e-12)
