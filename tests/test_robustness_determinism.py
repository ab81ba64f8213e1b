"""Determinism: randomness flows only through seeds and Generators, never the global np.random state."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from refnet import Adam, BatchNorm, CrossEntropy, Dense, Dropout, NeuralNetwork

SETTINGS = settings(max_examples=10, deadline=None)


def build_and_train(seed: int | None, global_seed: int) -> dict[str, np.ndarray]:
    """A network using every source of randomness: init, dropout masks, shuffling, the validation split."""
    np.random.seed(global_seed)  # noqa: NPY002 - refnet must not read this
    data = np.random.default_rng(99)
    X, labels = data.normal(size=(30, 4)), data.integers(0, 3, size=30)

    def s(offset: int) -> int | None:
        return None if seed is None else seed + offset

    net = NeuralNetwork(
        [Dense(4, 6, "relu", seed=s(0)), BatchNorm(6), Dropout(0.4, seed=s(1)), Dense(6, 3, seed=s(2))],
        CrossEntropy(),
        seed=s(3),
    )
    net.train(X, labels, epochs=2, optimizer=Adam(0.01), batch_size=4, validation_split=0.2)
    return net.get_arrays()


@SETTINGS
@given(st.integers(0, 2**31), st.integers(0, 2**31), st.integers(0, 2**31))
def test_same_seed_is_bitwise_identical_whatever_the_global_state(seed: int, global_a: int, global_b: int) -> None:
    first, second = build_and_train(seed, global_a), build_and_train(seed, global_b)
    for key in first:
        assert first[key].tobytes() == second[key].tobytes(), key


@SETTINGS
@given(st.integers(0, 2**31))
def test_a_different_seed_gives_different_parameters(seed: int) -> None:
    first, second = build_and_train(seed, 0), build_and_train(seed + 1, 0)
    assert any(first[key].tobytes() != second[key].tobytes() for key in first)


def test_training_never_consumes_the_global_random_state() -> None:
    np.random.seed(5)  # noqa: NPY002
    _, key_before, position_before, *_ = np.random.get_state()  # noqa: NPY002
    build_and_train(seed=None, global_seed=5)  # unseeded: fresh OS entropy, still not the global state
    build_and_train(seed=3, global_seed=5)
    _, key_after, position_after, *_ = np.random.get_state()  # noqa: NPY002
    np.testing.assert_array_equal(key_after, key_before)
    assert position_after == position_before  # not a single number drawn from the global stream


def test_an_explicit_generator_is_used_as_given() -> None:
    def weights(rng: np.random.Generator) -> np.ndarray:
        return Dense(5, 5, rng=rng).params["W"]

    np.testing.assert_array_equal(weights(np.random.default_rng(11)), weights(np.random.default_rng(11)))
    shared = np.random.default_rng(11)
    first, second = weights(shared), weights(shared)  # one stream: the second layer draws the next numbers
    assert not np.array_equal(first, second)


def test_unseeded_components_differ_between_runs() -> None:
    """Without a seed, each component draws fresh OS entropy (not a fixed default seed)."""
    assert not np.array_equal(Dense(8, 8).params["W"], Dense(8, 8).params["W"])
    assert not np.array_equal(NeuralNetwork().rng.permutation(50), NeuralNetwork().rng.permutation(50))
