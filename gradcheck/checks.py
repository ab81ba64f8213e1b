"""Check one component: a layer, a loss, a regularizer or a whole network.

Each function builds the scalar L whose gradient the component claims to compute, lets the
engine compare, and returns a ``Report`` (one result per tensor):

- layer:       L = Σ grad_y·y + penalty(), grad_y a fixed random upstream gradient, so
               dL/dx = backward(grad_y) and dL/dθ = grads[θ] for every parameter θ;
- loss:        L = loss.forward(y_pred, y_true), dL/dy_pred = loss.backward();
- regularizer: L = penalty(W), dL/dW = gradient(W);
- network:     L = compute_gradients(X, Y) (data loss + penalties), dL/dθ = every layer's grads,
               dL/dX = what the network's backward returns.

Layers and networks are also run backward twice (``gradcheck.repeat``); a loss's fused
``value_and_gradient`` value must equal ``forward``.

Randomness is held fixed: before every forward, each ``numpy.random.Generator`` a layer
holds (e.g. Dropout's ``rng``) is put back in the state it had, so every evaluation draws
the same mask; a layer's ``state`` arrays (BatchNorm running statistics) are restored too.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from gradcheck.engine import check_target
from gradcheck.lines import Array, Target
from gradcheck.repeat import repeat_failures_of
from gradcheck.results import CheckResult, Report, Verdict, relative_error
from gradcheck.sweep import apply_sweep
from gradcheck.tolerances import DEFAULT_TOLERANCES, Tolerances
from refnet.base import Layer
from refnet.losses import Loss
from refnet.network import NeuralNetwork
from refnet.numerics import Snapshot
from refnet.regularizers import ElasticNet


def take_snapshot(layers: Iterable[Layer]) -> Snapshot:
    """The layers' state arrays and random generators, to put back after each evaluation of the loss."""
    layers = list(layers)
    generators = [rng for rng in (layer.generator() for layer in layers) if rng is not None]
    return Snapshot([array for layer in layers for array in layer.state.values()], generators)


def require_float64(layers: Iterable[Layer], owner: str) -> None:
    """gradcheck works in float64: refuse parameters of any other dtype with a clear message."""
    for layer in layers:
        for key, value in layer.params.items():
            if value.dtype != np.float64:
                raise ValueError(
                    f"{owner}: parameter {key!r} of {type(layer).__name__} is {value.dtype}; "
                    "gradcheck runs in float64, so build the component with dtype=np.float64"
                )


def run_targets(targets: list[Target], tolerances: Tolerances, seed: int, sweep: bool) -> Report:
    """Check each target (and sweep its failing lines, or its worst, if asked); time the whole."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    report = Report()
    for target in targets:
        result, outcomes = check_target(target, tolerances, rng)
        report.results.append(apply_sweep(result, outcomes, tolerances) if sweep and outcomes else result)
    report.seconds = time.perf_counter() - start
    return report


def check_layer(
    layer: Layer,
    x: Any,
    *,
    grad_y: Any = None,
    training: bool = True,
    seed: int = 0,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
    sweep: bool = False,
    name: str | None = None,
) -> Report:
    """Check dL/dx and dL/dθ of ``layer`` at input ``x`` (N, in), with L = Σ grad_y·y + penalty.

    ``grad_y`` defaults to a standard-normal upstream gradient drawn from ``seed``. For a
    layer with several inputs (a ``refnet.graph.Merge``: Add, Multiply, Concatenate), ``x``
    is the list of inputs, used through ``forward_many``/``backward_many``; each is checked.
    """
    name = name or type(layer).__name__
    require_float64([layer], name)
    many = layer.multiple_inputs
    xs = [np.array(value, dtype=np.float64) for value in (x if many else [x])]

    def forward() -> Array:
        return layer.forward_many(xs, training) if many else layer.forward(xs[0], training)

    def backward(upstream: Array) -> list[Array]:
        grads_x = layer.backward_many(upstream) if many else [layer.backward(upstream)]
        return [np.array(grad, dtype=np.float64) for grad in grads_x]

    snapshot = take_snapshot([layer])
    y = forward()
    rng = np.random.default_rng(seed)
    upstream = rng.standard_normal(y.shape) if grad_y is None else np.array(grad_y, dtype=np.float64)
    grads_x = backward(upstream)
    grads = {key: value.copy() for key, value in layer.grads.items()}
    repeated = backward(upstream)
    repeat_failures = repeat_failures_of(name, zip(labels(xs, many), grads_x, repeated, strict=True))
    repeat_failures += repeat_failures_of(name, ((key, grads[key], layer.grads[key]) for key in grads))

    def loss() -> float:
        snapshot.restore()
        return float(np.sum(upstream * forward())) + layer.penalty()

    zipped = zip(labels(xs, many), xs, grads_x, strict=True)
    targets = [Target(name, label, value, grad, loss) for label, value, grad in zipped]
    targets += [Target(name, key, layer.params[key], grads[key], loss) for key in layer.params]
    try:
        report = run_targets(targets, tolerances, seed, sweep)
    finally:
        snapshot.restore()
    report.results += repeat_failures
    return report


def labels(xs: list[Array], many: bool) -> list[str]:
    """The names of a layer's inputs: "x", or "x0", "x1", ... for a merge layer."""
    return [f"x{i}" for i in range(len(xs))] if many else ["x"]


def check_loss(
    loss: Loss,
    y_pred: Any,
    y_true: Any,
    *,
    seed: int = 0,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
    sweep: bool = False,
    name: str | None = None,
) -> Report:
    """Check dL/dy_pred = ``loss.backward()`` for L = ``loss.forward(y_pred, y_true)``.

    The fused ``value_and_gradient(y_pred, target)`` that training calls is checked as a
    second tensor, ``y_pred (fused)``: its gradient against its own value.
    """
    name = name or type(loss).__name__
    y_pred = np.array(y_pred, dtype=np.float64)
    value = float(loss.forward(y_pred, y_true))
    gradient = np.array(loss.backward(), dtype=np.float64)
    forward_backward = Target(name, "y_pred", y_pred, gradient, lambda: loss.forward(y_pred, y_true))
    fused_at = y_pred.copy()
    prepared = loss.prepare_target(y_true, fused_at.shape, fused_at.dtype)
    fused_value, fused_gradient = loss.value_and_gradient(fused_at, prepared)
    fused = Target(
        name, "y_pred (fused)", fused_at, np.array(fused_gradient, dtype=np.float64),
        lambda: loss.value_and_gradient(fused_at, prepared)[0],
    )  # fmt: skip
    report = run_targets([forward_backward, fused], tolerances, seed, sweep)
    report.results.append(same_value(name, value, float(fused_value), tolerances))
    return report


def same_value(name: str, value: float, fused_value: float, tol: Tolerances) -> CheckResult:
    """A result for the fused value against forward(): training minimizes one, evaluate() reports the other.

    They must agree to rounding: |fused − forward| <= closed_atol + closed_rtol·max(|fused|, |forward|).
    """
    error, allowed = abs(fused_value - value), tol.closed_allowed(max(abs(value), abs(fused_value)))
    verdict: Verdict = "pass" if error <= allowed else "fail"
    message = "value_and_gradient(...)[0] equals forward(...)" if verdict == "pass" else (
        f"value_and_gradient gives {fused_value:.6g} but forward gives {value:.6g}: training and evaluate disagree"
    )  # fmt: skip
    return CheckResult(
        name, "value (fused)", "()", value, fused_value, error, relative_error(value, fused_value), allowed,
        verdict, "value", message=message,
    )  # fmt: skip


def check_regularizer(
    regularizer: ElasticNet,
    W: Any,
    *,
    seed: int = 0,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
    sweep: bool = False,
    name: str | None = None,
) -> Report:
    """Check d penalty/dW = ``regularizer.gradient(W)``."""
    name = name or type(regularizer).__name__
    W = np.array(W, dtype=np.float64)
    gradient = np.array(regularizer.gradient(W), dtype=np.float64)
    target = Target(name, "W", W, gradient, lambda: regularizer.penalty(W))
    return run_targets([target], tolerances, seed, sweep)


def check_network(
    network: NeuralNetwork,
    X: Any,
    Y: Any,
    *,
    seed: int = 0,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
    sweep: bool = False,
    name: str | None = None,
) -> Report:
    """Check every layer's grads and dL/dX against L = ``network.compute_gradients(X, Y)`` (penalties included).

    dL/dX is what the network's backward returns for the loss gradient: the sum over every
    path from the input, so a graph that overwrites instead of summing at a fan-out fails.
    A second backward for the same forward must leave grad_X and every grads[θ] unchanged.
    """
    name = name or type(network).__name__
    require_float64(network.layers, name)
    X = np.array(X, dtype=np.float64)
    snapshot = take_snapshot(network.layers)
    network.compute_gradients(X, Y)
    grads = [{key: value.copy() for key, value in layer.grads.items()} for layer in network.layers]
    snapshot.restore()
    grad_X, repeat_failures = input_gradient(network, X, Y, grads, name)

    def loss() -> float:
        snapshot.restore()
        return network.compute_gradients(X, Y)

    targets = [Target(name, "X", X, grad_X, loss)]
    targets += [
        Target(name, f"layers[{i}].{key}", layer.params[key], grads[i][key], loss)
        for i, layer in enumerate(network.layers)
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


def input_gradient(
    network: NeuralNetwork, X: Array, Y: Any, grads: list[dict[str, Array]], name: str
) -> tuple[Array, list[CheckResult]]:
    """dL/dX from the network's own backward (the steps of compute_gradients), and repeat failures.

    One forward, grad_y = dloss/dy_pred, then backward(grad_y) twice: the first returns
    grad_X; the second must return it again and leave every layer's grads as ``grads``.
    """
    X_checked, target = network.prepare(X, Y)
    loss = network.require_loss()
    y_pred = loss.check_prediction(network.forward_prepared(X_checked, training=True))
    grad_y = loss.value_and_gradient(y_pred, target)[1]
    grad_X = np.array(network.backward(grad_y), dtype=np.float64)
    again = np.array(network.backward(grad_y), dtype=np.float64)
    pairs = [("X", grad_X, again)]
    pairs += [
        (f"layers[{i}].{key}", saved[key], layer.grads[key])
        for i, (layer, saved) in enumerate(zip(network.layers, grads, strict=True))
        for key in saved
    ]
    return grad_X, repeat_failures_of(name, pairs)
