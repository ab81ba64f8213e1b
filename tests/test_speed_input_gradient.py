"""No work for a gradient nobody reads: training never computes dL/dX, and reads the same numbers.

During training (``compute_gradients``, ``train``) the first layer -- in a graph, every layer
fed by the Input node alone -- fills its grads with ``backward_params`` and skips its input
gradient (for Dense, the product grad_z @ W.T). ``backward`` still returns dL/dX when asked.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck import check_layer
from refnet import MSE, SGD, CrossEntropy, Dense, NeuralNetwork
from refnet.graph import Add, Concatenate, GraphModel, Input

ACTIVATIONS = ["relu", "tanh", "sigmoid", None]


class RecordingDense(Dense):
    """A Dense layer that records which backward the network ran: "backward_params" where it
    ran backward without wanting grad_x (``input_grad_needed`` False), else "backward"."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []

    def backward(self, grad_y):
        self.calls.append("backward" if self.input_grad_needed else "backward_params")
        return super().backward(grad_y)


@settings(max_examples=25, deadline=None)
@given(
    activation=st.sampled_from(ACTIVATIONS),
    l1=st.sampled_from([0.0, 0.01]),
    l2=st.sampled_from([0.0, 0.1]),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_dense_backward_params_fills_the_grads_of_backward_bitwise(activation, l1, l2, dtype, seed) -> None:
    rng = np.random.default_rng(seed)
    layer = Dense(5, 4, activation, l1_lambda=l1, l2_lambda=l2, seed=seed, dtype=dtype)
    x = rng.standard_normal((3, 5)).astype(dtype)
    grad_y = rng.standard_normal((3, 4)).astype(dtype)
    layer.forward(x)
    grad_x = layer.backward(grad_y)
    expected = {key: value.copy() for key, value in layer.grads.items()}
    for grad in layer.grads.values():
        grad[...] = np.nan  # backward_params must write every element
    assert layer.backward_params(grad_y) is None  # type: ignore[func-returns-value]
    for key, value in expected.items():
        np.testing.assert_array_equal(layer.grads[key], value)
    np.testing.assert_array_equal(layer.backward(grad_y), grad_x)  # and backward still returns dL/dx


def stack() -> NeuralNetwork:
    layers = [RecordingDense(4, 6, "tanh", seed=1), RecordingDense(6, 5, "relu", seed=2), RecordingDense(5, 3, seed=3)]
    return NeuralNetwork(layers, CrossEntropy(), seed=0)


def recorders(net: NeuralNetwork) -> list[RecordingDense]:
    """The layers of a ``stack()``, each a RecordingDense."""
    layers = [layer for layer in net.layers if isinstance(layer, RecordingDense)]
    assert len(layers) == len(net.layers)
    return layers


def test_training_skips_only_the_first_layers_input_gradient() -> None:
    net = stack()
    X, y = np.random.default_rng(0).standard_normal((8, 4)), np.arange(8) % 3
    net.compute_gradients(X, y)
    assert [layer.calls for layer in recorders(net)] == [["backward_params"], ["backward"], ["backward"]]
    for layer in recorders(net):
        layer.calls.clear()
    net.train(X, y, epochs=2, optimizer=SGD(0.1), batch_size=4)
    assert [layer.calls for layer in recorders(net)] == [["backward_params"] * 4, ["backward"] * 4, ["backward"] * 4]


def test_backward_still_returns_dL_dX_from_the_same_gradients() -> None:
    """compute_gradients (no dL/dX) and an explicit backward (dL/dX) fill bitwise the same grads."""
    net = stack()
    X, y = np.random.default_rng(1).standard_normal((8, 4)), np.arange(8) % 3
    net.compute_gradients(X, y)
    trained = [{key: value.copy() for key, value in layer.grads.items()} for layer in net.layers]
    X_prepared, target = net.core.prepare(X, y)
    loss = net.core.loss
    grad_y = loss.value_and_gradient(net.core.forward(X_prepared, training=True), target)[1]
    grad_X = net.backward(grad_y)
    assert grad_X is not None and grad_X.shape == X.shape
    assert recorders(net)[0].calls[-1] == "backward"
    for layer, saved in zip(net.layers, trained, strict=True):
        for key, value in saved.items():
            np.testing.assert_array_equal(layer.grads[key], value)
    # dL/dX by the chain rule written out: grad_z of the first layer @ W.T
    first = net.layers[0]
    y_first = np.tanh(X @ first.params["W"] + first.params["b"])
    expected = ((1 - y_first**2) * net.layers[1].backward(net.layers[2].backward(grad_y))) @ first.params["W"].T
    np.testing.assert_allclose(grad_X, expected, rtol=1e-12)


def test_graph_layers_fed_by_the_input_skip_their_input_gradient() -> None:
    x = Input(4)
    a = RecordingDense(4, 4, "tanh", seed=1)
    b = RecordingDense(4, 4, "relu", seed=2)
    c = RecordingDense(8, 4, seed=3)
    out = RecordingDense(4, 2, seed=4)
    h = Concatenate()(a(x), b(x))
    model = GraphModel(x, out(Add()(x, c(h))), MSE())  # the Add is fed by the input too: a residual
    X, Y = np.random.default_rng(2).standard_normal((6, 4)), np.random.default_rng(3).standard_normal((6, 2))
    model.compute_gradients(X, Y)
    assert [a.calls, b.calls] == [["backward_params"]] * 2
    assert [c.calls, out.calls] == [["backward"]] * 2
    trained = [{key: value.copy() for key, value in layer.grads.items()} for layer in model.layers]
    X_prepared, target = model.core.prepare(X, Y)
    grad_y = model.core.loss.value_and_gradient(model.core.forward(X_prepared, training=True), target)[1]
    grad_X = model.backward(grad_y)
    assert grad_X is not None and grad_X.shape == X.shape
    assert a.calls[-1] == b.calls[-1] == "backward"
    for layer, saved in zip(model.layers, trained, strict=True):
        for key, value in saved.items():
            np.testing.assert_array_equal(layer.grads[key], value)


class DoubledW(Dense):
    """A subclass that changes the gradient in backward (say, a custom scaling)."""

    def backward(self, grad_y):
        grad_x = super().backward(grad_y)
        self.grads["W"] *= 2.0
        return grad_x


def test_a_dense_subclass_overriding_backward_gets_it_run_as_first_layer() -> None:
    X, Y = np.random.default_rng(5).standard_normal((4, 3)), np.random.default_rng(6).standard_normal((4, 2))
    plain, doubled = NeuralNetwork([Dense(3, 2, seed=0)], MSE()), NeuralNetwork([DoubledW(3, 2, seed=0)], MSE())
    plain.compute_gradients(X, Y)
    doubled.compute_gradients(X, Y)
    np.testing.assert_array_equal(doubled.layers[0].grads["W"], 2.0 * plain.layers[0].grads["W"])


class WrongBackwardParams(Dense):
    """backward is right; backward_params forgets the bias gradient (training would see it, gradcheck must)."""

    def backward_params(self, grad_y, *, checked=True):
        super().backward_params(grad_y, checked=checked)
        self.grads["b"][...] = 0.0


@pytest.mark.parametrize("layer_class", [Dense, WrongBackwardParams])
def test_gradcheck_compares_backward_params_with_backward(layer_class) -> None:
    layer = layer_class(3, 2, "tanh", seed=0)
    report = check_layer(layer, np.random.default_rng(4).standard_normal((5, 3)))
    failing = [result.tensor for result in report.results if result.verdict == "fail"]
    assert failing == ([] if layer_class is Dense else ["b from backward_params (backward twice)"])
