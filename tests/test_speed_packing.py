"""One flat buffer per dtype (refnet.support.packing): the optimizers give bitwise the numbers of the per-array update.

SGD and Adam update every parameter of one dtype in one pass over flat buffers; each
layer's params/grads entries and each parameter's optimizer state become views of them.
These tests hold the packed update to the plain per-array one, and check that anything
replacing an array (a load, a copy, a user) is seen and packed again.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from refnet import SGD, Adam, CrossEntropy, Dense, Dropout, NeuralNetwork
from refnet.base import Layer

DTYPES = [np.float32, np.float64]
OPTIMIZERS = {
    "sgd": lambda cls: cls(0.05),
    "momentum": lambda cls: cls(0.05, momentum=0.9),
    "nesterov": lambda cls: cls(0.05, momentum=0.9, nesterov=True),
    "adam": lambda cls: cls(0.01),
    "adamw_clipped": lambda cls: cls(0.01, weight_decay=0.1, clip_norm=0.5),
}


class PerArraySGD(SGD):
    elementwise = False  # never packed: the plain update, one array at a time


class PerArrayAdam(Adam):
    elementwise = False


def make(name: str, packed: bool):
    base = SGD if name in ("sgd", "momentum", "nesterov") else Adam
    cls = base if packed else {SGD: PerArraySGD, Adam: PerArrayAdam}[base]
    return OPTIMIZERS[name](cls)


def network(dtype, seed: int = 0) -> NeuralNetwork:
    layers = [
        Dense(6, 8, "relu", seed=seed, dtype=dtype),
        Dense(8, 5, "tanh", l2_lambda=0.01, seed=seed + 1, dtype=dtype),
    ]
    return NeuralNetwork([*layers, Dense(5, 3, seed=seed + 2, dtype=dtype)], CrossEntropy(), seed=seed)


def data(dtype):
    rng = np.random.default_rng(7)
    return rng.standard_normal((40, 6)).astype(dtype), rng.integers(0, 3, 40)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_packed_training_is_bitwise_the_per_array_training(name, dtype) -> None:
    X, y = data(dtype)
    packed_net, plain_net = network(dtype), network(dtype)
    packed, plain = make(name, True), make(name, False)
    packed_net.train(X, y, epochs=3, optimizer=packed, batch_size=8)
    plain_net.train(X, y, epochs=3, optimizer=plain, batch_size=8)
    for a, b in zip(packed_net.layers, plain_net.layers, strict=True):
        for key in a.params:
            np.testing.assert_array_equal(a.params[key], b.params[key])
            assert a.params[key].dtype == dtype
    packed_state, plain_state = packed.state_arrays(packed_net.layers), plain.state_arrays(plain_net.layers)
    assert packed_state.keys() == plain_state.keys()
    for key, value in packed_state.items():
        np.testing.assert_array_equal(value, plain_state[key])


def test_packing_makes_views_of_one_buffer_with_the_same_values() -> None:
    net = network(np.float64)
    before = net.get_arrays()
    optimizer = Adam(0.01)
    optimizer.pack(net.layers)
    (unit,) = optimizer.pack(net.layers)  # one dtype: one buffer
    for layer in net.layers:
        for key in layer.params:
            assert layer.params[key].base is unit.theta
            assert layer.grads[key].base is unit.grad
    for key, value in net.get_arrays().items():
        np.testing.assert_array_equal(value, before[key])
    X, y = data(np.float64)
    net.compute_gradients(X, y)
    optimizer.step(net.layers)
    for layer in net.layers:  # the state the step created is per parameter, in the buffers too
        state = optimizer.state_for(layer, "W")
        assert state["t"] == 1 and state["m"].shape == layer.params["W"].shape and state["m"].base is unit.state["m"]


def test_a_replaced_array_is_seen_and_packed_again() -> None:
    X, y = data(np.float64)
    packed_net, plain_net = network(np.float64), network(np.float64)
    packed, plain = Adam(0.01), PerArrayAdam(0.01)
    for net, optimizer in ((packed_net, packed), (plain_net, plain)):
        net.train(X, y, epochs=1, optimizer=optimizer, batch_size=8)
        first = net.layers[0]
        first.params["W"] = first.params["W"] * 0.5  # a user replaces an array between runs
        first.grads["b"] = np.zeros_like(first.grads["b"])
        net.train(X, y, epochs=1, optimizer=optimizer, batch_size=8)
    for a, b in zip(packed_net.layers, plain_net.layers, strict=True):
        for key in a.params:
            np.testing.assert_array_equal(a.params[key], b.params[key])


def test_loaded_optimizer_state_is_used_after_packing() -> None:
    """load_state_arrays into an optimizer that already packed: the loaded values count, not the buffers."""
    X, y = data(np.float32)
    net, optimizer = network(np.float32), Adam(0.01)
    net.train(X, y, epochs=1, optimizer=optimizer, batch_size=8, shuffle=False)
    saved_state, saved_arrays = optimizer.state_arrays(net.layers), net.get_arrays()
    twin = copy.deepcopy(net)
    net.train(X, y, epochs=1, optimizer=optimizer, batch_size=8, shuffle=False)
    optimizer.load_state_arrays(net.layers, saved_state)  # back to the end of epoch 1
    net.set_arrays(saved_arrays)
    net.train(X, y, epochs=1, optimizer=optimizer, batch_size=8, shuffle=False)
    restored = Adam(0.01)
    restored.load_state_arrays(twin.layers, saved_state)
    twin.train(X, y, epochs=1, optimizer=restored, batch_size=8, shuffle=False)
    for a, b in zip(net.layers, twin.layers, strict=True):
        for key in a.params:
            np.testing.assert_array_equal(a.params[key], b.params[key])


def test_a_copied_network_trains_on_its_own_arrays() -> None:
    X, y = data(np.float64)
    net, optimizer = network(np.float64), SGD(0.1, momentum=0.9)
    net.train(X, y, epochs=1, optimizer=optimizer, batch_size=8)
    twin = copy.deepcopy(net)
    frozen = twin.get_arrays()
    net.train(X, y, epochs=1, optimizer=optimizer, batch_size=8)
    for key, value in twin.get_arrays().items():  # the copy shares no buffer with the original
        np.testing.assert_array_equal(value, frozen[key])
    twin.train(X, y, epochs=1, optimizer=SGD(0.1), batch_size=8)
    assert not np.array_equal(twin.get_arrays()["0.W"], frozen["0.W"])


class OwnReference(Layer):
    """A layer that keeps its own reference to its weight (``self.w``) and computes with it."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.w = np.ones(width)
        self.params = {"w": self.w, "c": np.zeros(width)}
        self.grads = {"w": np.zeros(width), "c": np.zeros(width)}

    def forward(self, x, training=True):
        self.x = x
        return x * self.w + self.params["c"]

    def backward(self, grad_y):
        np.sum(grad_y * self.x, axis=0, out=self.grads["w"])
        np.sum(grad_y, axis=0, out=self.grads["c"])
        return grad_y * self.w


def test_a_layer_keeping_its_own_reference_is_not_packed() -> None:
    layer = OwnReference(3)
    optimizer = SGD(0.5)
    layer.forward(np.ones((2, 3)))
    layer.backward(np.ones((2, 3)))
    optimizer.step([layer])
    assert layer.params["w"] is layer.w  # still the array the layer computes with
    np.testing.assert_array_equal(layer.w, np.zeros(3))  # 1 − 0.5·2


def test_parameters_with_different_adam_steps_are_updated_each_by_its_own_t() -> None:
    """A layer that joins after some steps has t = 0: its update must not use the others' t."""
    rng = np.random.default_rng(3)
    a, b = Dense(3, 2, seed=0), Dense(2, 2, seed=1)
    plain_a, plain_b = copy.deepcopy(a), copy.deepcopy(b)
    packed, plain = Adam(0.01), PerArrayAdam(0.01)
    schedule = [[0], [0], [1], [0, 1], [0, 1]]  # a steps twice, b once alone: then t differs but both have m, v
    for indices in schedule:
        layers = [(a, b)[i] for i in indices]
        plain_layers = [(plain_a, plain_b)[i] for i in indices]
        for layer, twin in zip(layers, plain_layers, strict=True):
            for key in layer.grads:
                layer.grads[key][...] = twin.grads[key][...] = rng.standard_normal(layer.grads[key].shape)
        packed.step(layers)
        plain.step(plain_layers)
    for layer, twin in ((a, plain_a), (b, plain_b)):
        for key in layer.params:
            np.testing.assert_array_equal(layer.params[key], twin.params[key])
    assert packed.state_for(a, "W")["t"] == 4 and packed.state_for(b, "W")["t"] == 3


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_state_bound_is_the_largest_magnitude_of_the_state(name) -> None:
    """Measured as max(max x, −min x), without a temporary |x|: the same number as max |x|."""
    X, y = data(np.float64)
    net, optimizer = network(np.float64), make(name, True)
    net.train(X, y, epochs=2, optimizer=optimizer, batch_size=8)
    slot = "velocity" if name == "momentum" else "m"
    expected = max(
        float(np.abs(optimizer.state_for(layer, key)[slot]).max()) for layer in net.layers for key in layer.params
    )
    assert optimizer.state_bound(net.layers) == expected > 0


def test_a_pickled_optimizer_does_not_carry_its_packing() -> None:
    """The flat buffers are a cache: a copy packs its own arrays again, so they are not pickled twice."""
    import pickle

    rng = np.random.default_rng(8)
    X, y = rng.standard_normal((16, 100)), rng.integers(0, 3, 16)
    net = NeuralNetwork([Dense(100, 200, "relu", seed=0), Dense(200, 3, seed=1)], CrossEntropy(), seed=0)
    optimizer = Adam(0.01)
    net.train(X, y, epochs=1, optimizer=optimizer, batch_size=8)
    arrays = 4 * 8 * net.parameter_count()  # params, grads, m and v in float64: the rest is small
    assert len(pickle.dumps((net, optimizer))) < 1.5 * arrays
    copy_net, copy_optimizer = pickle.loads(pickle.dumps((net, optimizer)))
    net.train(X, y, epochs=1, optimizer=optimizer, batch_size=8, shuffle=False)
    copy_net.train(X, y, epochs=1, optimizer=copy_optimizer, batch_size=8, shuffle=False)
    for a, b in zip(net.layers, copy_net.layers, strict=True):
        for key in a.params:
            np.testing.assert_array_equal(a.params[key], b.params[key])


def test_the_plan_is_kept_from_step_to_step_with_a_parameter_free_layer_between() -> None:
    """A layer without parameters (Dropout) has no optimizer state: the plan still holds, so a step packs nothing
    again (the same buffers) and the parameters stay views of them."""
    X, y = data(np.float64)
    layers = [Dense(6, 8, "relu", seed=0), Dropout(0.2, seed=1), Dense(8, 3, seed=2)]
    net = NeuralNetwork(layers, CrossEntropy(), seed=0)
    optimizer = Adam(0.01)
    net.compute_gradients(X, y)
    optimizer.step(net.layers)
    (unit,) = optimizer.pack(net.layers)
    for _ in range(3):
        net.compute_gradients(X, y)
        optimizer.step(net.layers)
        assert optimizer.pack(net.layers) == [unit]
    assert all(layer.params[key].base is unit.theta for layer in (layers[0], layers[2]) for key in layer.params)


def test_a_state_dropped_for_one_layer_is_seen_and_packed_again() -> None:
    """restore_state_arrays puts new state dicts in place: the plan is made again from them."""
    X, y = data(np.float64)
    net = network(np.float64)
    optimizer = Adam(0.01)
    net.compute_gradients(X, y)
    optimizer.step(net.layers)
    (unit,) = optimizer.pack(net.layers)
    saved = optimizer.state_arrays(net.layers)
    optimizer.restore_state_arrays(net.layers, saved)
    (again,) = optimizer.pack(net.layers)
    assert again is not unit
    assert all(optimizer.state_for(layer, "W")["m"].base is again.state["m"] for layer in net.layers)


def test_hyper_parameters_are_converted_once_per_dtype_and_again_when_they_change() -> None:
    optimizer = Adam(learning_rate=1e-3)
    theta32, theta64 = np.zeros(3, np.float32), np.zeros(3)
    first = optimizer.in_dtype_of(theta32, optimizer.learning_rate, optimizer.beta1)
    assert [type(value) for value in first] == [np.float32, np.float32]
    assert optimizer.in_dtype_of(theta32, optimizer.learning_rate, optimizer.beta1) is first
    assert [type(value) for value in optimizer.in_dtype_of(theta64, 1e-3, 0.9)] == [np.float64, np.float64]
    assert optimizer.in_dtype_of(theta32, 1e-3, 0.9) is first  # float64's conversion left float32's alone
    optimizer.set_learning_rate(2e-3)
    changed = optimizer.in_dtype_of(theta32, optimizer.learning_rate, optimizer.beta1)
    assert changed is not first and changed[0] == np.float32(2e-3)
    assert copy.deepcopy(optimizer).in_dtype_of(theta32, 2e-3, 0.9) == changed
