"""Determinism: randomness flows only through seeds and Generators, never the global np.random state."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from refnet import MSE, SGD, Adam, BatchNorm, CrossEntropy, Dense, Dropout, NeuralNetwork
from refnet.graph import Concatenate, GraphModel, Input

SETTINGS = settings(max_examples=10, deadline=None)


def build_and_train(seed: int | None, *, layer_seeds: bool = True) -> dict[str, NDArray[Any]]:
    """A network using every source of randomness: init, dropout masks, shuffling, the validation split.

    With ``layer_seeds=False`` only the network gets the seed: the seed rule must make its
    layers reproducible too. It does not touch the global ``np.random`` state: the tests
    set it (or watch it) around the call.
    """
    data = np.random.default_rng(99)
    X, labels = data.normal(size=(30, 4)), data.integers(0, 3, size=30)

    def s(offset: int) -> int | None:
        return None if seed is None or not layer_seeds else seed + offset

    net = NeuralNetwork(
        [Dense(4, 6, "relu", seed=s(0)), BatchNorm(6), Dropout(0.4, seed=s(1)), Dense(6, 3, seed=s(2))],
        CrossEntropy(),
        seed=None if seed is None else seed + 3,
    )
    net.train(X, labels, epochs=2, optimizer=Adam(0.01), batch_size=4, validation_split=0.2)
    return net.get_arrays()


@SETTINGS
@given(st.integers(0, 2**31), st.integers(0, 2**31), st.integers(0, 2**31), st.booleans())
def test_same_seed_is_bitwise_identical_whatever_the_global_state(
    seed: int, global_a: int, global_b: int, layer_seeds: bool
) -> None:
    np.random.seed(global_a)  # noqa: NPY002 - refnet must not read this
    first = build_and_train(seed, layer_seeds=layer_seeds)
    np.random.seed(global_b)  # noqa: NPY002
    second = build_and_train(seed, layer_seeds=layer_seeds)
    for key in first:
        assert first[key].tobytes() == second[key].tobytes(), key


@SETTINGS
@given(st.integers(0, 2**31), st.booleans())
def test_a_different_seed_gives_different_parameters(seed: int, layer_seeds: bool) -> None:
    first = build_and_train(seed, layer_seeds=layer_seeds)
    second = build_and_train(seed + 1, layer_seeds=layer_seeds)
    assert any(first[key].tobytes() != second[key].tobytes() for key in first)


def test_building_and_training_never_draw_from_the_global_random_state() -> None:
    # Nothing re-seeds the global state between the two snapshots: a single number drawn
    # from it anywhere (an unseeded initializer, a mask, a shuffle) moves its position.
    np.random.seed(5)  # noqa: NPY002
    before = np.random.get_state(legacy=True)  # noqa: NPY002
    build_and_train(seed=None)  # unseeded: fresh OS entropy, still not the global state
    build_and_train(seed=3)
    build_and_train(seed=3, layer_seeds=False)
    after = np.random.get_state(legacy=True)  # noqa: NPY002
    assert isinstance(before, tuple) and isinstance(after, tuple)  # (name, keys, pos, has_gauss, cached_gaussian)
    assert after[0] == before[0]
    np.testing.assert_array_equal(after[1], before[1])
    assert after[2:] == before[2:], "a number was drawn from the global np.random stream"


def test_an_explicit_generator_is_used_as_given() -> None:
    def weights(rng: np.random.Generator) -> NDArray[Any]:
        return Dense(5, 5, rng=rng).params["W"]

    np.testing.assert_array_equal(weights(np.random.default_rng(11)), weights(np.random.default_rng(11)))
    shared = np.random.default_rng(11)
    first, second = weights(shared), weights(shared)  # one stream: the second layer draws the next numbers
    assert not np.array_equal(first, second)


def test_unseeded_components_differ_between_runs() -> None:
    """Without a seed, each component draws fresh OS entropy (not a fixed default seed)."""
    assert not np.array_equal(Dense(8, 8).params["W"], Dense(8, 8).params["W"])
    assert not np.array_equal(NeuralNetwork().rng.permutation(50), NeuralNetwork().rng.permutation(50))


# -- the network seed rule ----------------------------------------------------------------


def test_a_network_seed_drives_the_initial_weights_and_masks_of_unseeded_layers() -> None:
    def network(seed: int) -> NeuralNetwork:
        return NeuralNetwork([Dense(5, 5, "relu"), Dropout(0.5), Dense(5, 2)], seed=seed)

    first, second, other = network(7), network(7), network(8)
    X = np.ones((4, 5))
    for a, b in zip(first.layers, second.layers, strict=True):
        for name in a.params:
            assert a.params[name].tobytes() == b.params[name].tobytes()
    assert first.forward(X, training=True).tobytes() == second.forward(X, training=True).tobytes()  # same masks
    assert first.layers[0].params["W"].tobytes() != other.layers[0].params["W"].tobytes()
    # each layer has its own stream: two layers of one shape do not repeat each other's draws
    twins = NeuralNetwork([Dense(5, 5), Dense(5, 5)], seed=7)
    assert twins.layers[0].params["W"].tobytes() != twins.layers[1].params["W"].tobytes()


def test_without_a_network_seed_unseeded_layers_stay_unseeded() -> None:
    first, second = NeuralNetwork([Dense(8, 8)]), NeuralNetwork([Dense(8, 8)], rng=np.random.default_rng(0))
    third = NeuralNetwork([Dense(8, 8)], rng=np.random.default_rng(0))
    assert not np.array_equal(first.layers[0].params["W"], second.layers[0].params["W"])
    assert not np.array_equal(second.layers[0].params["W"], third.layers[0].params["W"])


def test_a_layers_own_seed_or_generator_wins_over_the_network_seed() -> None:
    alone = Dense(4, 4, seed=3).params["W"]
    for network_seed in (0, 1):
        net = NeuralNetwork([Dense(4, 4, seed=3), Dropout(0.5, rng=np.random.default_rng(9))], seed=network_seed)
        np.testing.assert_array_equal(net.layers[0].params["W"], alone)
        np.testing.assert_array_equal(
            net.layers[1].forward(np.ones((3, 4))), Dropout(0.5, seed=9).forward(np.ones((3, 4)))
        )


def test_weights_changed_before_joining_a_seeded_network_are_kept() -> None:
    by_hand = Dense(3, 2)
    by_hand.params["W"][...] = 0.25
    trained = NeuralNetwork([Dense(3, 2)], MSE())
    trained.train(np.ones((4, 3)), np.zeros((4, 2)), epochs=2, optimizer=SGD(0.1))
    learned = trained.layers[0].params["W"].copy()
    NeuralNetwork([by_hand], seed=0)
    NeuralNetwork([trained.layers[0]], seed=0)  # e.g. reusing a trained layer in a new model
    np.testing.assert_array_equal(by_hand.params["W"], 0.25)
    np.testing.assert_array_equal(trained.layers[0].params["W"], learned)


def test_a_layer_adopts_one_network_seed_only() -> None:
    layer = Dense(3, 3)
    NeuralNetwork([layer], seed=0)
    adopted = layer.params["W"].copy()
    NeuralNetwork([layer], seed=1)
    np.testing.assert_array_equal(layer.params["W"], adopted)
    np.testing.assert_array_equal(adopted, NeuralNetwork([Dense(3, 3)], seed=0).layers[0].params["W"])


def test_a_user_initializer_draws_from_the_network_seed_too() -> None:
    def init(shape: tuple[int, int], rng: np.random.Generator, dtype: np.dtype[Any]) -> NDArray[Any]:
        return rng.uniform(-1, 1, size=shape).astype(dtype)

    def weights(seed: int) -> NDArray[Any]:
        return NeuralNetwork([Dense(3, 3, weight_init=init)], seed=seed).layers[0].params["W"]

    np.testing.assert_array_equal(weights(5), weights(5))
    assert not np.array_equal(weights(5), weights(6))


def test_a_seeded_graph_model_is_reproducible_with_unseeded_layers() -> None:
    def graph(seed: int) -> GraphModel:
        x = Input(3)
        h = Dense(3, 4, "tanh")(x)
        return GraphModel(x, Dense(8, 2)(Concatenate()(h, Dropout(0.5)(h))), loss=MSE(), seed=seed)

    X, Y = np.random.default_rng(0).normal(size=(6, 3)), np.zeros((6, 2))
    first, second = graph(4), graph(4)
    first.train(X, Y, epochs=2, optimizer=Adam(0.01), batch_size=2)
    second.train(X, Y, epochs=2, optimizer=Adam(0.01), batch_size=2)
    for key, value in first.get_arrays().items():
        assert value.tobytes() == second.get_arrays()[key].tobytes(), key
