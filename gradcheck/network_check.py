"""Check a whole network: every layer's grads and dL/dX against L = compute_gradients(X, Y).

L is the data loss plus every layer's penalty, as ``compute_gradients`` returns it; dL/dθ are
the layers' grads it leaves, dL/dX what the network's backward returns for the loss gradient.
A second backward for the same forward must change nothing (``gradcheck.repeat``). The network
is driven through its seam (``network.core``: ``prepare``, ``forward``, ``loss``) and ``backward``,
and its state and random generators are put back before every evaluation. A frozen layer's
parameters (``trainable = False``) are not checked: training computes no gradient for them, by
design; the gradient that flows through the frozen layer is, in dL/dX and the layers below it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from gradcheck.adapters import float_array
from gradcheck.checks import run_targets, take_snapshot
from gradcheck.core.guard import ComponentError, error_result, running
from gradcheck.core.lines import Array, Target
from gradcheck.core.results import CheckResult, Report
from gradcheck.core.tolerances import Tolerances, tolerances_for
from gradcheck.repeat import repeat_failures_of
from refnet.network import NeuralNetwork


def check_network(
    network: NeuralNetwork,
    X: Any,
    Y: Any,
    *,
    seed: int = 0,
    tolerances: Tolerances | None = None,
    sweep: bool = False,
    name: str | None = None,
) -> Report:
    """Check every layer's grads and dL/dX against L = ``network.compute_gradients(X, Y)`` (penalties included).

    dL/dX is what the network's backward returns for the loss gradient: the sum over every
    path from the input, so a graph that overwrites instead of summing at a fan-out fails.
    A second backward for the same forward must leave grad_X and every grads[θ] unchanged.
    A float32 network is checked in float32 (``tolerances_for``). A frozen layer's parameters are
    left out (no gradient is computed for them); its input gradient is checked through the others.
    """
    name = name or type(network).__name__
    dtype = network.dtype
    ids = np.asarray(X).dtype.kind in "iu" and takes_ids(network)
    X = np.asarray(X) if ids else float_array(X, "X").astype(dtype)  # ids stay integers: they have no gradient
    if dtype != np.float64:
        name = f"{name} ({dtype})"
    start = time.perf_counter()
    try:
        report = network_report(network, X, Y, seed, tolerances or tolerances_for(dtype), sweep, name)
    except ComponentError as exc:
        report = Report([error_result(name, "-", exc)])
    report.seconds = time.perf_counter() - start
    return report


def network_report(
    network: NeuralNetwork, X: Array, Y: Any, seed: int, tolerances: Tolerances, sweep: bool, name: str
) -> Report:
    """check_network's work once the arguments are validated (raises ComponentError from the checked code)."""
    snapshot = take_snapshot(network.layers)
    with running(f"{name}.compute_gradients at the check point"):
        network.compute_gradients(X, Y)
    grads = [{key: value.copy() for key, value in layer.grads.items()} for layer in network.layers]
    snapshot.restore()
    with running(f"{name}'s backward at the check point"):
        grad_X, repeat_failures = input_gradient(network, X, Y, grads, name)

    def loss() -> float:
        snapshot.restore()
        return network.compute_gradients(X, Y)

    targets = [] if grad_X is None else [Target(name, "X", X, grad_X, loss)]
    targets += [
        Target(name, f"layers[{i}].{key}", layer.params[key], grads[i][key], loss)
        for i, layer in enumerate(network.layers)
        if layer.trainable  # frozen: training computes no dL/dθ (see the module docstring)
        for key in layer.params
    ]
    try:
        report = run_targets(targets, tolerances, seed, sweep)
    finally:
        snapshot.restore()
        # leave the grads as compute_gradients left them for the caller's own inspection
        for layer, saved in zip(network.layers, grads, strict=True):
            for key, value in saved.items():
                np.copyto(layer.grads[key], value)
    report.results += repeat_failures
    return report


def takes_ids(network: NeuralNetwork) -> bool:
    """Whether the network's input is integer ids (an Embedding takes it): X is not differentiated then."""
    graph_input = getattr(network, "input_node", None)
    if graph_input is not None:
        return any(consumer.layer is not None and consumer.layer.takes_ids for consumer in graph_input.consumers)
    return bool(network.layers) and network.layers[0].takes_ids


def input_gradient(
    network: NeuralNetwork, X: Array, Y: Any, grads: list[dict[str, Array]], name: str
) -> tuple[Array | None, list[CheckResult]]:
    """dL/dX from the network's own backward (the steps of compute_gradients), and repeat failures.

    One forward, grad_y = dloss/dy_pred, then backward(grad_y) twice: the first returns
    grad_X; the second must return it again and leave every layer's grads as ``grads``.
    grad_X is None for a network whose input is integer ids (they have no gradient).
    """
    X_checked, target = network.core.prepare(X, Y)
    loss = network.core.loss
    y_pred = loss.check_prediction(network.core.forward(X_checked, training=True))
    grad_y = loss.value_and_gradient(y_pred, target)[1]
    first, second = network.backward(grad_y), network.backward(grad_y)
    pairs = []
    grad_X = None
    if first is not None or second is not None:
        grad_X = np.array(first, dtype=np.float64)
        pairs.append(("X", grad_X, np.array(second, dtype=np.float64)))
    pairs += [
        (f"layers[{i}].{key}", saved[key], layer.grads[key])
        for i, (layer, saved) in enumerate(zip(network.layers, grads, strict=True))
        for key in saved
    ]
    return grad_X, repeat_failures_of(name, pairs)
