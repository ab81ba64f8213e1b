"""Batches with more axes than (N, features): sequences (N, T, D) and images (N, C, H, W).

Dense, the activations and Dropout act on the last axis and treat every leading axis as
batch; CrossEntropy classifies every position of (N, ..., C) logits; networks and graphs
check the shapes of X, and of the layers' outputs, through ``output_shape``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from gradcheck import check_layer, check_loss, check_network
from refnet import (
    MSE,
    Activation,
    Adam,
    Add,
    BatchNorm,
    Concatenate,
    CrossEntropy,
    Dense,
    Dropout,
    GraphModel,
    Input,
    NeuralNetwork,
    ReLU,
    Tanh,
)
from refnet.errors import ShapeError

RNG = np.random.default_rng(7)


def test_dense_on_a_sequence_is_dense_on_each_position() -> None:
    layer = Dense(4, 3, activation="tanh", seed=1)
    x = RNG.standard_normal((2, 5, 4))
    y = layer.forward(x)
    assert y.shape == (2, 5, 3)
    W, b = layer.params["W"], layer.params["b"]
    for n in range(2):
        for t in range(5):
            assert np.allclose(y[n, t], np.tanh(x[n, t] @ W + b), rtol=1e-12, atol=0)


def test_dense_gradients_on_a_sequence_sum_over_every_position() -> None:
    layer = Dense(4, 3, activation="sigmoid", l2_lambda=0.1, seed=2)
    report = check_layer(layer, RNG.standard_normal((3, 6, 4)))
    assert report.passed, report


def test_dense_weight_gradient_is_the_sum_of_the_per_position_gradients() -> None:
    layer = Dense(3, 2, seed=3)
    x, grad_y = RNG.standard_normal((2, 4, 3)), RNG.standard_normal((2, 4, 2))
    layer.forward(x)
    grad_x = layer.backward(grad_y)
    expected_W = sum(np.outer(x[n, t], grad_y[n, t]) for n in range(2) for t in range(4))
    assert np.allclose(layer.grads["W"], expected_W, rtol=1e-12, atol=1e-15)
    assert np.allclose(layer.grads["b"], grad_y.sum(axis=(0, 1)), rtol=1e-12, atol=1e-15)
    assert grad_x.shape == x.shape


@pytest.mark.parametrize("layer", [ReLU(), Tanh(), Dropout(0.3, seed=0)], ids=["relu", "tanh", "dropout"])
def test_parameter_free_layers_act_elementwise_on_any_batch_shape(layer: object) -> None:
    x = RNG.standard_normal((2, 3, 4, 5)) + 0.05  # kept from ReLU's kink at 0 by the draw (no exact zeros)
    report = check_layer(layer, x)
    assert report.passed, report


def test_cross_entropy_on_a_sequence_is_the_mean_over_every_position() -> None:
    logits, labels = RNG.standard_normal((2, 3, 4)), RNG.integers(0, 4, size=(2, 3))
    value = CrossEntropy().forward(logits, labels)
    per_position = [
        -(logits[n, t, labels[n, t]] - np.log(np.exp(logits[n, t]).sum())) for n in range(2) for t in range(3)
    ]
    assert value == pytest.approx(np.mean(per_position), rel=1e-12)
    assert check_loss(CrossEntropy(), logits, labels).passed
    one_hot = np.eye(4)[labels]
    assert CrossEntropy().forward(logits, one_hot) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    ("labels", "pattern"),
    [
        (
            np.zeros((2,), dtype=int),
            r"for logits of shape \(2, 3, 4\), y_true must be integer labels of shape \(2, 3\)",
        ),
        (np.zeros((2, 4), dtype=int), r"labels must have shape \(2, 3\) for logits of shape \(2, 3, 4\)"),
        (np.zeros((2, 3, 4, 1)), r"integer labels of shape \(2, 3\) or probability rows of shape \(2, 3, 4\)"),
    ],
)
def test_cross_entropy_names_the_label_shape_sequence_logits_need(labels: NDArray[Any], pattern: str) -> None:
    with pytest.raises(ShapeError, match=pattern):
        CrossEntropy().forward(np.zeros((2, 3, 4)), labels)


def test_a_network_trains_on_sequences_with_per_position_labels() -> None:
    net = NeuralNetwork([Dense(3, 8, activation="tanh"), Dense(8, 4)], CrossEntropy(), seed=0)
    X = RNG.standard_normal((6, 5, 3))
    Y = (X @ RNG.standard_normal((3, 4))).argmax(axis=-1)  # a class per position that a model can learn
    assert check_network(net, X, Y).passed
    before = net.evaluate(X, Y)["loss"]
    net.train(X, Y, epochs=30, batch_size=None, optimizer=Adam(0.05))
    after = net.evaluate(X, Y)
    assert after["loss"] < 0.5 * before
    assert 0.0 <= after["accuracy"] <= 1.0
    probabilities = net.predict_proba(X)
    assert probabilities.shape == (6, 5, 4)
    assert np.allclose(probabilities.sum(axis=-1), 1.0, rtol=0, atol=1e-12)


def test_the_network_names_the_layer_a_shape_does_not_fit() -> None:
    net = NeuralNetwork([Dense(3, 8), Dense(8, 2)], MSE())
    with pytest.raises(
        ShapeError,
        match=r"layer 0 \(Dense\): .*expects 3 input features \(the last axis\), got inputs of shape \(N, 5, 4\)",
    ):
        net.predict(np.zeros((2, 5, 4)))


def test_input_shape_checks_every_layer_as_it_is_added_and_shows_in_the_summary() -> None:
    net = NeuralNetwork(input_shape=(5, 3))
    net.add(Dense(3, 8))
    assert net.output_shape() == (5, 8)
    with pytest.raises(
        ShapeError, match=r"layer 1 \(Dense\) expects 4 input features, but the previous layer outputs 8"
    ):
        net.add(Dense(4, 2))
    with pytest.raises(
        ShapeError,
        match=r"layer 1 \(BatchNorm\): BatchNorm normalizes rows of shape \(N, 8\), got inputs of shape \(N, 5, 8\)",
    ):
        net.add(BatchNorm(8))
    net.add(Dense(8, 2))
    text = str(net)
    assert "(N, 5, 8)" in text and "(N, 5, 2)" in text


def test_a_graph_takes_sequence_nodes_and_joins_them_along_an_axis() -> None:
    x = Input((4, 3))
    a, b = Dense(3, 2, activation="tanh")(x), Dense(3, 5)(x)
    joined = Concatenate()(a, b)
    assert joined.shape == (4, 7)
    stacked = Concatenate(axis=1)(Dense(7, 3)(joined), Dense(7, 3)(joined))
    assert stacked.shape == (8, 3)
    model = GraphModel(x, Dense(3, 1)(stacked), MSE(), seed=0)
    X = RNG.standard_normal((2, 4, 3))
    assert model.predict(X).shape == (2, 8, 1)
    assert model.output_shape((6, 3)) == (12, 1)  # a shorter or longer sequence runs through the same graph
    assert check_network(model, X, RNG.standard_normal((2, 8, 1))).passed
    with pytest.raises(ShapeError, match=r"Concatenate\(axis=1\) needs inputs of equal shape except along that axis"):
        Concatenate(axis=1)(Dense(7, 3)(joined), Dense(7, 2)(joined))


def test_a_graph_with_sequence_nodes_saves_and_loads(tmp_path: object) -> None:
    from pathlib import Path

    x = Input((4, 3))
    model = GraphModel(x, Dense(3, 2)(Concatenate(axis=1)(Dense(3, 3)(x), Dense(3, 3)(x))), MSE(), seed=0)
    path = Path(str(tmp_path)) / "seq.npz"
    model.save(path)
    loaded = GraphModel.load(path)
    assert isinstance(loaded, GraphModel) and loaded.input_node.shape == (4, 3)
    X = RNG.standard_normal((2, 4, 3))
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_concatenate_refuses_the_batch_axis() -> None:
    with pytest.raises(ValueError, match="axis 0 is the batch axis"):
        Concatenate(axis=0)


class Square(Activation):
    """f(x) = x², f'(x) = 2x: a derivative written in terms of the input (from_input)."""

    name = "square_for_tests"
    from_input = True

    def function(self, x: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        return np.multiply(x, x, out=out)

    def gradient(self, y: NDArray[Any], grad_y: NDArray[Any]) -> NDArray[Any]:
        x = y  # from_input: the first argument is the activation's input
        return grad_y * 2 * x


def test_an_activation_written_in_its_input_gets_its_input_in_dense_and_as_a_layer() -> None:
    x = RNG.standard_normal((4, 3)) + 2.0  # x² is not one-to-one around 0: y alone could not give 2x
    assert check_layer(Dense(3, 2, activation=Square(), seed=0), x).passed
    assert check_layer(Square(), x).passed


def test_an_embedding_first_network_or_graph_takes_ids_and_returns_no_input_gradient() -> None:
    from refnet import Embedding

    ids = RNG.integers(0, 7, size=(4, 5))
    Y = RNG.integers(0, 3, size=(4, 5))
    net = NeuralNetwork([Embedding(7, 4, seed=0), Dense(4, 3)], CrossEntropy(), seed=0)
    net.compute_gradients(ids, Y)
    assert net.backward(np.ones((4, 5, 3))) is None
    assert check_network(net, ids, Y).passed
    x = Input(5)
    tokens = Embedding(7, 4, seed=1)(x)
    model = GraphModel(x, Dense(4, 3)(Add()(tokens, Dense(4, 4)(tokens))), CrossEntropy(), seed=0)
    model.compute_gradients(ids, Y)
    assert model.backward(np.ones((4, 5, 3))) is None
    assert check_network(model, ids, Y).passed
    with pytest.raises(TypeError, match=r"X must be an array of integer ids, got dtype float64"):
        model.predict(ids.astype(float))
