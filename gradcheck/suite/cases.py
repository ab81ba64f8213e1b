"""Builders for the catalog's checks: each draws a component and its inputs, then checks it.

A builder returns a ``Runner``: given a Generator (the check's own, made from the run's seed
and the check's name), the tolerances and whether to sweep, it returns a ``Report``. Points
are drawn away from known kinks by ``kink_margin``: ReLU-family pre-activations, weights
under an L1 penalty; probabilities for BinaryCrossEntropy lie in [0.05, 0.95], far from its
clip points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from gradcheck.checks import check_layer, check_loss, check_regularizer
from gradcheck.core.kinks import draw_away, push_from_zero
from gradcheck.core.lines import Array
from gradcheck.core.results import Report
from gradcheck.core.tolerances import Tolerances
from gradcheck.network_check import check_network
from refnet.base import Layer
from refnet.batchnorm import BatchNorm
from refnet.dropout import Dropout
from refnet.functions import Activation
from refnet.graph import GraphModel, Merge, Node
from refnet.layer import Dense
from refnet.losses import Loss
from refnet.network import NeuralNetwork
from refnet.neuron import Neuron
from refnet.regularizers import ElasticNet

#: A catalog check's work: from its Generator, the tolerances and whether to sweep, its report.
Runner = Callable[[np.random.Generator, Tolerances, bool], Report]
#: The activations by the names Dense takes, each checked inside Dense and on its own.
ACTIVATIONS = ("identity", "relu", "leaky_relu", "sigmoid", "tanh", "softmax")


def seed_from(rng: np.random.Generator) -> int:
    """A seed for the engine's own draws (upstream gradient, directions), from the check's Generator."""
    return int(rng.integers(2**31))


def relu_distance(layers: Sequence[Layer]) -> Callable[[Array], float]:
    """x ↦ the smallest |pre-activation| of any ReLU-family unit when ``layers`` run on x."""

    def distance(x: Array) -> float:
        nearest = np.inf
        for layer in layers:
            if isinstance(layer, Dense) and layer.activation.relu_family:
                z = x @ layer.params["W"] + layer.params["b"]
                nearest = min(nearest, float(np.abs(z).min()))
            x = layer.forward(x, training=True)
        return float(nearest)

    return distance


def dense(activation: str, l1: float = 0.0, l2: float = 0.0, shape: tuple[int, int, int] = (5, 4, 3)) -> Runner:
    """Dense(in, out, activation, l1, l2) with a random bias, at x of shape (N, in)."""
    n, d_in, d_out = shape

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        layer = Dense(d_in, d_out, activation, l1, l2, rng=rng)
        layer.params["b"][:] = 0.1 * rng.standard_normal(d_out)
        if l1:
            push_from_zero(layer.params["W"], tol.kink_margin)
        x = draw_away(lambda: rng.standard_normal((n, d_in)), relu_distance([layer]), tol.kink_margin)
        return check_layer(layer, x, seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run


def activation(make: Callable[[], Activation]) -> Runner:
    """A stand-alone activation layer at x of shape (4, 5), x kept away from 0 (the ReLU kink)."""

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        x = push_from_zero(1.5 * rng.standard_normal((4, 5)), tol.kink_margin)
        return check_layer(make(), x, seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run


def loss(make: Callable[[], Loss], draw: Callable[[np.random.Generator], tuple[Array, Array]]) -> Runner:
    """A loss at (y_pred, y_true) = draw(rng)."""

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        y_pred, y_true = draw(rng)
        return check_loss(make(), y_pred, y_true, seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run


def regression(rng: np.random.Generator) -> tuple[Array, Array]:
    """Predictions and targets, both standard normal, (5, 3)."""
    return rng.standard_normal((5, 3)), rng.standard_normal((5, 3))


def labels(rng: np.random.Generator) -> tuple[Array, Array]:
    """Logits (6, 4) and integer labels (6,)."""
    return 2.0 * rng.standard_normal((6, 4)), rng.integers(0, 4, size=6)


def one_hot(rng: np.random.Generator) -> tuple[Array, Array]:
    """Logits (6, 4) and one-hot rows (6, 4)."""
    return 2.0 * rng.standard_normal((6, 4)), np.eye(4)[rng.integers(0, 4, size=6)]


def probabilities(rng: np.random.Generator) -> tuple[Array, Array]:
    """Logits (6, 4) and probability rows (6, 4) from a Dirichlet distribution."""
    return 2.0 * rng.standard_normal((6, 4)), rng.dirichlet(np.ones(4), size=6)


def binary_probabilities(rng: np.random.Generator) -> tuple[Array, Array]:
    """Probabilities in [0.05, 0.95] (far from the clip points) and soft targets in [0, 1], (6, 2)."""
    return rng.uniform(0.05, 0.95, size=(6, 2)), rng.uniform(0.0, 1.0, size=(6, 2))


def binary_logits(rng: np.random.Generator) -> tuple[Array, Array]:
    """Logits (6, 2) and 0/1 targets (6, 2)."""
    return 3.0 * rng.standard_normal((6, 2)), rng.integers(0, 2, size=(6, 2)).astype(np.float64)


def elastic_net(l1: float, l2: float) -> Runner:
    """ElasticNet(l1, l2) on W of shape (4, 3), W kept away from 0 (the L1 kink)."""

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        W = push_from_zero(rng.standard_normal((4, 3)), tol.kink_margin)
        return check_regularizer(ElasticNet(l1, l2), W, seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run


def dropout(training: bool) -> Runner:
    """Dropout(p=0.3) at x (6, 5): the mask is held fixed across evaluations (training mode)."""

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        layer = Dropout(0.3, seed=seed_from(rng))
        x = rng.standard_normal((6, 5))
        return check_layer(layer, x, training=training, seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run


def batchnorm(training: bool) -> Runner:
    """BatchNorm(4) with random gamma, beta (and running statistics) at x (6, 4) with offsets."""

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        layer = BatchNorm(4)
        layer.params["gamma"][:] = rng.uniform(0.5, 1.5, 4)
        layer.params["beta"][:] = rng.standard_normal(4)
        layer.state["running_mean"][:] = rng.standard_normal(4)
        layer.state["running_var"][:] = rng.uniform(0.5, 2.0, 4)
        x = rng.standard_normal((6, 4)) * rng.uniform(0.5, 3.0, 4) + rng.standard_normal(4)
        return check_layer(layer, x, training=training, seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run


def neuron(activation_name: str) -> Runner:
    """The single Neuron(4, activation) with a random bias at x (5, 4)."""

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        layer = Neuron(4, activation_name, bias=float(rng.standard_normal()), rng=rng)
        w, b = layer.params["w"], layer.params["b"]
        distance = (lambda x: float(np.abs(x @ w + b).min())) if layer.activation.relu_family else (lambda x: np.inf)
        x = draw_away(lambda: rng.standard_normal((5, 4)), distance, tol.kink_margin)
        return check_layer(layer, x, seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run


def network(
    build: Callable[[np.random.Generator], list[Layer]],
    make_loss: Callable[[], Loss],
    draw_y: Callable[[np.random.Generator, int], Array],
    rows: int,
) -> Runner:
    """A NeuralNetwork of ``build(rng)`` through ``compute_gradients``, penalties included."""

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        layers = build(rng)
        for layer in layers:
            if isinstance(layer, Dense) and layer.regularizer.l1_lambda:
                push_from_zero(layer.params["W"], tol.kink_margin)
        width = layers[0].in_features
        assert width is not None
        X = draw_away(lambda: rng.standard_normal((rows, width)), relu_distance(layers), tol.kink_margin)
        net = NeuralNetwork(layers, make_loss())
        return check_network(net, X, draw_y(rng, rows), seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run


def merge(make: Callable[[], Merge], widths: tuple[int, ...]) -> Runner:
    """A merge layer (Add, Multiply, Concatenate) on inputs of shapes (5, width) for each width."""

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        xs = [rng.standard_normal((5, width)) for width in widths]
        return check_layer(make(), xs, seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run


def graph(
    build: Callable[[np.random.Generator], tuple[Node, Node]],
    make_loss: Callable[[], Loss],
    draw_y: Callable[[np.random.Generator, int], Array],
    rows: int,
) -> Runner:
    """A GraphModel(inputs, outputs) of ``build(rng)`` through ``compute_gradients``.

    The graphs use smooth activations only (the ReLU kinks are the sequential networks' job),
    so any input is far from a kink.
    """

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        inputs, outputs = build(rng)
        model = GraphModel(inputs, outputs, make_loss())
        for layer in model.layers:
            if isinstance(layer, Dense) and layer.regularizer.l1_lambda:
                push_from_zero(layer.params["W"], tol.kink_margin)
        X = rng.standard_normal((rows, model.in_features))
        return check_network(model, X, draw_y(rng, rows), seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run
