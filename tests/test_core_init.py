"""Initialization statistics (He normal, Glorot uniform) and determinism of seeded training."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from refnet import MSE, SGD, Adam, CrossEntropy, Dense, Dropout, NeuralNetwork, glorot_uniform, he_normal

# 400 × 300 = 120 000 weights: the sample standard deviation is within ~0.2% of the truth
# (σ/√(2n)), so 3% separates the right formula from any plausible wrong one (√(1/fan_in) is 29% off).
FAN_IN, FAN_OUT = 400, 300


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_relu_family_dense_uses_he_normal(activation: str) -> None:
    W = Dense(FAN_IN, FAN_OUT, activation, seed=0).params["W"]
    std = math.sqrt(2.0 / FAN_IN)
    assert W.std() == pytest.approx(std, rel=0.03)
    assert abs(W.mean()) < 4 * std / math.sqrt(W.size)
    # A normal has about 0.27% of its mass beyond 3σ; a uniform has none.
    assert np.mean(np.abs(W) > 3 * std) > 0.001


@pytest.mark.parametrize("activation", [None, "identity", "sigmoid", "tanh", "softmax"])
def test_other_dense_layers_use_glorot_uniform(activation: str | None) -> None:
    W = Dense(FAN_IN, FAN_OUT, activation, seed=0).params["W"]
    limit = math.sqrt(6.0 / (FAN_IN + FAN_OUT))
    assert np.abs(W).max() <= limit
    assert np.abs(W).max() > 0.99 * limit
    assert W.std() == pytest.approx(limit / math.sqrt(3), rel=0.03)  # Var(U(−a, a)) = a²/3
    assert abs(W.mean()) < 4 * limit / math.sqrt(3 * W.size)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_biases_start_at_zero_and_weights_have_the_layer_dtype(dtype: type) -> None:
    layer = Dense(5, 4, "relu", seed=0, dtype=dtype)
    np.testing.assert_array_equal(layer.params["b"], np.zeros(4))
    assert layer.params["W"].dtype == layer.params["b"].dtype == dtype


def test_initializers_draw_only_from_the_given_generator() -> None:
    for init in (he_normal, glorot_uniform):
        first = init((6, 3), np.random.default_rng(5), np.dtype(np.float64))
        second = init((6, 3), np.random.default_rng(5), np.dtype(np.float64))
        np.testing.assert_array_equal(first, second)
        assert not np.array_equal(first, init((6, 3), np.random.default_rng(6), np.dtype(np.float64)))


def train_parameters(seed: int, global_seed: int) -> dict[str, NDArray[Any]]:
    """Build, shuffle-train (with dropout) and return every parameter, seeding only through ``seed``."""
    np.random.seed(global_seed)  # noqa: NPY002 - disturbs the global state on purpose: refnet must ignore it
    data = np.random.default_rng(1234)
    X, Y = data.normal(size=(40, 5)), data.integers(0, 3, size=40)
    net = NeuralNetwork(
        [Dense(5, 8, "relu", seed=seed), Dropout(0.3, seed=seed + 1), Dense(8, 3, seed=seed + 2)],
        CrossEntropy(),
        seed=seed + 3,
    )
    net.train(X, Y, epochs=3, optimizer=Adam(0.01), batch_size=7, validation_split=0.2)
    return net.get_arrays()


def test_same_seed_gives_bitwise_identical_parameters_after_training_whatever_the_global_state() -> None:
    first, second = train_parameters(seed=7, global_seed=1), train_parameters(seed=7, global_seed=2)
    assert first.keys() == second.keys()
    for key in first:
        assert first[key].tobytes() == second[key].tobytes(), key


def test_different_seed_gives_different_parameters() -> None:
    first, second = train_parameters(seed=7, global_seed=1), train_parameters(seed=8, global_seed=1)
    assert any(not np.array_equal(first[key], second[key]) for key in first)


def test_network_seed_alone_changes_the_shuffle_and_so_the_result() -> None:
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(30, 3)), rng.normal(size=(30, 1))

    def trained(network_seed: int) -> NDArray[Any]:
        net = NeuralNetwork([Dense(3, 1, seed=0)], MSE(), seed=network_seed)
        net.train(X, Y, epochs=2, optimizer=SGD(0.05), batch_size=4)
        return net.layers[0].params["W"].copy()

    assert np.array_equal(trained(1), trained(1))
    assert not np.array_equal(trained(1), trained(2))
