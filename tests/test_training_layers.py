"""Dropout and BatchNorm behave as SPEC section 3 says (their gradchecks live in gradcheck/)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import central_difference
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from refnet import MSE, Adam, BatchNorm, Dense, Dropout, NeuralNetwork, ShapeError

# -- Dropout -------------------------------------------------------------------------------


def test_dropout_drops_a_fraction_p_and_scales_the_rest_by_one_over_keep() -> None:
    p = 0.3
    x = np.ones((400, 500))
    y = Dropout(p, seed=0).forward(x, training=True)
    dropped = np.mean(y == 0)
    # 200 000 Bernoulli draws: the standard error of the fraction is about 0.001.
    assert abs(dropped - p) < 5 * np.sqrt(p * (1 - p) / x.size)
    assert np.all(y[y != 0] == 1 / (1 - p))
    assert abs(y.mean() - 1.0) < 0.01  # inverted dropout keeps E[y] = x


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 8),
    cols=st.integers(1, 8),
    p=st.floats(0.0, 0.95),
    seed=st.integers(0, 2**32 - 1),
)
def test_dropout_output_is_zero_or_scaled_input_and_backward_uses_the_same_mask(
    rows: int, cols: int, p: float, seed: int
) -> None:
    x = np.random.default_rng(seed).normal(size=(rows, cols)) + 5.0  # never 0
    layer = Dropout(p, seed=seed)
    y = layer.forward(x, training=True)
    kept = y != 0
    np.testing.assert_array_equal(y[kept], x[kept] * (1 / (1 - p)))
    grad_y = np.full_like(x, 2.0)
    grad_x = layer.backward(grad_y)
    np.testing.assert_array_equal(grad_x != 0, kept)
    np.testing.assert_array_equal(grad_x[kept], 2.0 * (1 / (1 - p)))


def test_dropout_is_the_identity_in_evaluation_and_with_p_zero() -> None:
    x = np.random.default_rng(1).normal(size=(5, 7))
    layer = Dropout(0.5, seed=0)
    np.testing.assert_array_equal(layer.forward(x, training=False), x)
    grad_y = np.random.default_rng(2).normal(size=(5, 7))
    np.testing.assert_array_equal(layer.backward(grad_y), grad_y)
    np.testing.assert_array_equal(Dropout(0.0, seed=0).forward(x, training=True), x)


def test_dropout_masks_are_determined_by_the_seed() -> None:
    x = np.ones((20, 30))
    first = [Dropout(0.5, seed=7).forward(x) for _ in range(2)]
    np.testing.assert_array_equal(first[0], first[1])
    layer = Dropout(0.5, seed=7)
    a, b = layer.forward(x), layer.forward(x)
    np.testing.assert_array_equal(a, first[0])
    assert not np.array_equal(a, b), "each training forward draws a fresh mask"
    assert not np.array_equal(Dropout(0.5, seed=8).forward(x), a)


def test_dropout_draws_from_the_generator_it_is_given() -> None:
    x = np.ones((10, 10))
    y = Dropout(0.4, rng=np.random.default_rng(3)).forward(x)
    expected_keep = np.random.default_rng(3).random((10, 10)) >= 0.4
    np.testing.assert_array_equal(y != 0, expected_keep)


def test_dropout_keeps_float32() -> None:
    x = np.ones((4, 6), dtype=np.float32)
    layer = Dropout(0.5, seed=0)
    assert layer.forward(x).dtype == np.float32
    assert layer.backward(np.ones_like(x)).dtype == np.float32


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan")])
def test_dropout_refuses_p_outside_zero_one(p: float) -> None:
    with pytest.raises(ValueError, match="p must"):
        Dropout(p)


def test_network_with_dropout_predicts_deterministically() -> None:
    net = NeuralNetwork([Dense(3, 16, "relu", seed=0), Dropout(0.5, seed=1), Dense(16, 1, seed=2)], MSE())
    X = np.random.default_rng(0).normal(size=(10, 3))
    np.testing.assert_array_equal(net.predict(X), net.predict(X))
    assert not np.array_equal(net.forward(X, training=True), net.forward(X, training=True))


# -- BatchNorm -----------------------------------------------------------------------------


def _batch(seed: int = 0, shape: tuple[int, int] = (16, 4)) -> NDArray[Any]:
    rng = np.random.default_rng(seed)
    return rng.normal(loc=rng.uniform(-3, 3, shape[1]), scale=rng.uniform(0.5, 4, shape[1]), size=shape)


def test_batchnorm_training_output_has_zero_mean_and_unit_variance_per_feature() -> None:
    x = _batch()
    y = BatchNorm(4).forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-12)
    var = x.var(axis=0)
    np.testing.assert_allclose(y.var(axis=0), var / (var + 1e-5), rtol=1e-12)


def test_batchnorm_applies_gamma_and_beta_to_the_normalized_input() -> None:
    x = _batch(1)
    layer = BatchNorm(4)
    layer.params["gamma"][...] = [0.5, 2.0, -1.0, 3.0]
    layer.params["beta"][...] = [1.0, -2.0, 0.0, 0.25]
    xhat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-5)
    np.testing.assert_allclose(layer.forward(x), xhat * layer.params["gamma"] + layer.params["beta"], rtol=1e-12)


def test_batchnorm_running_statistics_follow_the_spec_formula_with_unbiased_variance() -> None:
    layer = BatchNorm(4)
    running_mean, running_var = np.zeros(4), np.ones(4)
    for seed in range(3):
        x = _batch(seed)
        layer.forward(x, training=True)
        running_mean = (1 - 0.1) * running_mean + 0.1 * x.mean(axis=0)
        running_var = (1 - 0.1) * running_var + 0.1 * x.var(axis=0, ddof=1)
        np.testing.assert_allclose(layer.state["running_mean"], running_mean, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(layer.state["running_var"], running_var, rtol=1e-13)


def test_batchnorm_evaluation_uses_running_statistics_and_does_not_update_them() -> None:
    layer = BatchNorm(3, eps=1e-3)
    layer.state["running_mean"][...] = [1.0, -2.0, 0.5]
    layer.state["running_var"][...] = [4.0, 0.25, 1.0]
    layer.params["gamma"][...] = [2.0, 1.0, 0.5]
    x = _batch(2, (5, 3))
    expected = (x - [1.0, -2.0, 0.5]) / np.sqrt(np.array([4.0, 0.25, 1.0]) + 1e-3) * [2.0, 1.0, 0.5]
    np.testing.assert_allclose(layer.forward(x, training=False), expected, rtol=1e-13)
    np.testing.assert_array_equal(layer.state["running_mean"], [1.0, -2.0, 0.5])
    # in evaluation the statistics are constants: grad_x = grad_y·gamma/sqrt(running_var + eps)
    grad_y = np.ones((5, 3))
    np.testing.assert_allclose(layer.backward(grad_y), grad_y * [2.0, 1.0, 0.5] / np.sqrt([4.001, 0.251, 1.001]))
    # and one row is fine in evaluation
    np.testing.assert_allclose(layer.forward(x[:1], training=False), expected[:1], rtol=1e-13)


def test_batchnorm_training_needs_two_rows() -> None:
    with pytest.raises(ShapeError, match="at least 2"):
        BatchNorm(3).forward(np.ones((1, 3)), training=True)


def test_batchnorm_training_backward_matches_central_differences() -> None:
    rng = np.random.default_rng(4)
    x = _batch(4, (6, 3))
    weights = rng.normal(size=(6, 3))  # L = Σ weights·y, so dL/dy = weights
    layer = BatchNorm(3)
    layer.params["gamma"][...] = rng.uniform(0.5, 2.0, 3)
    layer.params["beta"][...] = rng.normal(size=3)

    def loss() -> float:
        return float(np.sum(weights * layer.forward(x, training=True)))

    layer.forward(x, training=True)
    grad_x = layer.backward(weights)
    np.testing.assert_allclose(grad_x, central_difference(loss, x), rtol=1e-6, atol=1e-8)
    for name in ("gamma", "beta"):
        np.testing.assert_allclose(
            layer.grads[name], central_difference(loss, layer.params[name]), rtol=1e-6, atol=1e-8
        )


def test_batchnorm_keeps_float32() -> None:
    layer = BatchNorm(4, dtype=np.float32)
    x = _batch().astype(np.float32)
    assert layer.forward(x).dtype == np.float32
    assert layer.backward(np.ones_like(x)).dtype == np.float32
    assert layer.state["running_var"].dtype == np.float32


def test_batchnorm_is_never_regularized() -> None:
    net = NeuralNetwork([Dense(4, 4, l2_lambda=0.5, seed=0), BatchNorm(4), Dense(4, 1, seed=1)], MSE(), seed=0)
    net.layers[1].params["gamma"][...] = 10.0
    W = net.layers[0].params["W"]
    assert net.penalty() == pytest.approx(0.25 * np.sum(W * W))
    assert net.layers[1].penalty() == 0.0
    X, Y = _batch(5, (8, 4)), np.zeros((8, 1))
    net.compute_gradients(X, Y)
    # gamma's gradient is the data gradient only: Σ grad_y·xhat, with no l2·gamma term
    layer = net.layers[1]
    assert isinstance(layer, BatchNorm)
    h = X @ net.layers[0].params["W"] + net.layers[0].params["b"]  # the BatchNorm's input (identity Dense)
    xhat = (h - h.mean(axis=0)) / np.sqrt(h.var(axis=0) + layer.eps)
    grad_y = net.layers[2].params["W"].T * (2 * (net.forward(X, training=True) - Y) / 8)
    np.testing.assert_allclose(layer.grads["gamma"], np.sum(grad_y * xhat, axis=0), rtol=1e-10)


def test_network_with_batchnorm_trains_and_moves_its_running_statistics() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(loc=5.0, scale=3.0, size=(64, 2))
    Y = X @ [[1.0], [-2.0]]
    net = NeuralNetwork([Dense(2, 8, "relu", seed=0), BatchNorm(8), Dense(8, 1, seed=1)], MSE(), seed=0)
    history = net.train(X, Y, epochs=40, optimizer=Adam(0.05), batch_size=16)
    assert history["loss"][-1] < history["loss"][0] / 10
    assert not np.allclose(net.layers[1].state["running_mean"], 0.0)
