"""copy.deepcopy and pickle: a trained network's copy continues exactly like the original.

The copy carries everything the next steps read: parameters, BatchNorm running statistics,
the optimizer state (Adam's t, m, v; SGD's velocity), the network's and each Dropout's
Generator. Training the copy and the original on the same data gives bitwise the same
arrays, and neither run touches the other.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from refnet import (
    MSE,
    SGD,
    Adam,
    BatchNorm,
    CrossEntropy,
    Dense,
    Dropout,
    NeuralNetwork,
    Optimizer,
)
from refnet.graph import Add, Concatenate, GraphModel, Input


def plain(dtype: Any = np.float64) -> NeuralNetwork:
    layers = [
        Dense(4, 8, "relu", l2_lambda=1e-3, seed=1, dtype=dtype),
        BatchNorm(8, dtype=dtype),
        Dropout(0.3, seed=2),
        Dense(8, 3, seed=3, dtype=dtype),
    ]
    return NeuralNetwork(layers, CrossEntropy(), seed=4)


def graph(dtype: Any = np.float64) -> NeuralNetwork:
    x = Input(4)
    h = Dense(4, 6, "tanh", seed=11, dtype=dtype)(x)
    skip = Add()(h, Dense(6, 6, seed=12, dtype=dtype)(Dropout(0.2, seed=13)(h)))
    both = Concatenate()(skip, BatchNorm(4, dtype=dtype)(x))
    return GraphModel(x, Dense(10, 3, seed=14, dtype=dtype)(both), loss=CrossEntropy(), seed=15)


def data() -> tuple[NDArray[Any], NDArray[Any]]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(36, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)


def pickled(obj: Any) -> Any:
    return pickle.loads(pickle.dumps(obj))


PROTOCOLS: dict[str, Callable[[Any], Any]] = {"deepcopy": copy.deepcopy, "pickle": pickled}
OPTIMIZERS: dict[str, Callable[[], Optimizer]] = {
    "adam": lambda: Adam(0.01, weight_decay=1e-3),
    "sgd-nesterov": lambda: SGD(0.05, momentum=0.9, nesterov=True),
}
MODELS: dict[str, Callable[[Any], NeuralNetwork]] = {"plain": plain, "graph": graph}


def assert_bitwise_equal(a: NeuralNetwork, b: NeuralNetwork) -> None:
    arrays_a, arrays_b = a.get_arrays(), b.get_arrays()
    assert arrays_a.keys() == arrays_b.keys()
    for key in arrays_a:
        assert arrays_a[key].dtype == arrays_b[key].dtype, key
        assert arrays_a[key].tobytes() == arrays_b[key].tobytes(), key


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_copy_of_a_trained_network_continues_bitwise_like_the_original(
    protocol: str, optimizer: str, model: str, dtype: Any
) -> None:
    X, Y = data()
    original = MODELS[model](dtype)
    original.train(X, Y, epochs=2, optimizer=OPTIMIZERS[optimizer](), batch_size=8)
    duplicate = PROTOCOLS[protocol](original)
    assert type(duplicate) is type(original)
    assert_bitwise_equal(duplicate, original)
    original.train(X, Y, epochs=2, batch_size=8)  # with the optimizer kept from the first run
    before = original.get_arrays()
    duplicate.train(X, Y, epochs=2, batch_size=8)
    assert_bitwise_equal(duplicate, original)
    after = original.get_arrays()
    assert all(after[key].tobytes() == before[key].tobytes() for key in before), "training the copy moved the original"
    np.testing.assert_array_equal(duplicate.predict(X), original.predict(X))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_copied_optimizer_state_belongs_to_the_copied_layers(protocol: str) -> None:
    X, Y = data()
    original = plain()
    original.train(X, Y, epochs=1, optimizer=Adam(0.01), batch_size=8)
    duplicate = PROTOCOLS[protocol](original)
    assert original.optimizer is not None and duplicate.optimizer is not None
    assert duplicate.optimizer is not original.optimizer
    saved = original.optimizer.state_arrays(original.layers)
    copied = duplicate.optimizer.state_arrays(duplicate.layers)
    assert saved.keys() == copied.keys() and any(key.endswith(".m") for key in saved)
    for key in saved:
        np.testing.assert_array_equal(copied[key], saved[key], err_msg=key)
    # No state was carried over to the original's layers, and none shares memory with them.
    assert duplicate.optimizer.state_arrays(original.layers) == {}
    for key, value in duplicate.optimizer.state_arrays(duplicate.layers).items():
        assert value.ndim == 0 or not np.shares_memory(value, saved[key])


def test_a_copy_restarted_from_adam_t_0_would_be_caught() -> None:
    # The property the tests above rely on: losing the Adam state changes the next steps.
    X, Y = data()
    original = plain()
    original.train(X, Y, epochs=2, optimizer=Adam(0.01), batch_size=8)
    restarted = copy.deepcopy(original)
    restarted.optimizer = Adam(0.01)
    original.train(X, Y, epochs=1, batch_size=8)
    restarted.train(X, Y, epochs=1, batch_size=8)
    assert original.get_arrays()["0.W"].tobytes() != restarted.get_arrays()["0.W"].tobytes()


def test_an_untrained_network_and_single_components_survive_pickle_and_deepcopy() -> None:
    X, _ = data()
    for protocol in PROTOCOLS.values():
        net = NeuralNetwork([Dense(4, 3, seed=0)], MSE(), seed=1)
        duplicate = protocol(net)
        np.testing.assert_array_equal(duplicate.predict(X), net.predict(X))
        dropout = Dropout(0.5, seed=3)
        twin = protocol(dropout)
        np.testing.assert_array_equal(twin.forward(X), dropout.forward(X))  # the same next mask
        optimizer = protocol(Adam(0.02, beta1=0.8))
        assert repr(optimizer) == repr(Adam(0.02, beta1=0.8))


def test_a_layer_built_with_a_lambda_initializer_pickles_and_its_copy_keeps_its_weights() -> None:
    layer = Dense(3, 3, weight_init=lambda shape, rng, dtype: rng.normal(size=shape).astype(dtype))
    copied = pickled(layer)
    np.testing.assert_array_equal(copied.params["W"], layer.params["W"])
    NeuralNetwork([copied], seed=0)  # a copy is a model of its own: no network seed redraws it
    np.testing.assert_array_equal(copied.params["W"], layer.params["W"])
