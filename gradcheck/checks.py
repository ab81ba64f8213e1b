"""Check one component: a layer, a loss, a regularizer or a whole network.

Each function builds the scalar L whose gradient the component claims to compute, lets the
engine compare, and returns a ``Report`` (one result per tensor):

- layer:       L = Σ grad_y·y + penalty(), grad_y a fixed random upstream gradient, so
               dL/dx = backward(grad_y) and dL/dθ = grads[θ] for every parameter θ;
- loss:        L = loss.forward(y_pred, y_true), dL/dy_pred = loss.backward();
- regularizer: L = penalty(W), dL/dW = gradient(W);
- network:     L = compute_gradients(X, Y) (data loss + penalties), dL/dθ = every layer's grads.

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
from gradcheck.results import CheckResult, Report
from gradcheck.sweep import apply_sweep
from gradcheck.tolerances import DEFAULT_TOLERANCES, Tolerances
from refnet.base import Layer
from refnet.graph import Merge
from refnet.losses import Loss
from refnet.network import NeuralNetwork
from refnet.regularizers import ElasticNet


class Snapshot:
    """The random-generator states and ``state`` arrays of some layers, to put back at will."""

    def __init__(self, layers: Iterable[Layer]) -> None:
        self.layers = list(layers)
        self.generators = [
            (generator, generator.bit_generator.state)
            for layer in self.layers
            for generator in vars(layer).values()
            if isinstance(generator, np.random.Generator)
        ]
        self.arrays = [(value, value.copy()) for layer in self.layers for value in layer.state.values()]

    def restore(self) -> None:
        """Put every generator and state array back as it was when the snapshot was taken."""
        for generator, state in self.generators:
            generator.bit_generator.state = state
        for value, saved in self.arrays:
            np.copyto(value, saved)


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
    """Check each target (and sweep its worst line if asked); time the whole."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    report = Report()
    for target in targets:
        result, line = check_target(target, tolerances, rng)
        report.results.append(apply_sweep(result, line, tolerances) if sweep and line is not None else result)
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
    many = isinstance(layer, Merge)
    xs = [np.array(value, dtype=np.float64) for value in (x if many else [x])]

    def forward() -> Array:
        return layer.forward_many(xs, training) if isinstance(layer, Merge) else layer.forward(xs[0], training)

    def backward(upstream: Array) -> list[Array]:
        grads_x = layer.backward_many(upstream) if isinstance(layer, Merge) else [layer.backward(upstream)]
        return [np.array(grad, dtype=np.float64) for grad in grads_x]

    snapshot = Snapshot([layer])
    y = forward()
    rng = np.random.default_rng(seed)
    upstream = rng.standard_normal(y.shape) if grad_y is None else np.array(grad_y, dtype=np.float64)
    grads_x = backward(upstream)
    grads = {key: value.copy() for key, value in layer.grads.items()}
    repeated = backward(upstream)

    def loss() -> float:
        snapshot.restore()
        return float(np.sum(upstream * forward())) + layer.penalty()

    labels = [f"x{i}" for i in range(len(xs))] if many else ["x"]
    targets = [Target(name, label, value, grad, loss) for label, value, grad in zip(labels, xs, grads_x, strict=True)]
    targets += [Target(name, key, layer.params[key], grads[key], loss) for key in layer.params]
    try:
        report = run_targets(targets, tolerances, seed, sweep)
    finally:
        snapshot.restore()
    for label, first, second in zip(labels, grads_x, repeated, strict=True):
        if not np.array_equal(first, second):
            report.results.append(_repeat_failure(name, label, first, second))
    return report


def _repeat_failure(name: str, label: str, first: Array, second: Array) -> CheckResult:
    """A failing result: a second backward for the same forward returned something else."""
    index = np.unravel_index(int(np.argmax(np.abs(first - second))), first.shape)
    a, n = float(first[index]), float(second[index])
    return CheckResult(
        name, f"{label} (backward twice)", str(tuple(int(i) for i in index)), a, n, abs(a - n), 0.0, 0.0, "fail",
        "repeat", message="a second backward for the same forward gave a different grad_x",
    )  # fmt: skip


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
    loss.forward(y_pred, y_true)
    gradient = np.array(loss.backward(), dtype=np.float64)
    forward_backward = Target(name, "y_pred", y_pred, gradient, lambda: loss.forward(y_pred, y_true))
    fused_at = y_pred.copy()
    prepared = loss.prepare_target(y_true, fused_at.shape, fused_at.dtype)
    fused_gradient = np.array(loss.value_and_gradient(fused_at, prepared)[1], dtype=np.float64)
    fused = Target(
        name, "y_pred (fused)", fused_at, fused_gradient, lambda: loss.value_and_gradient(fused_at, prepared)[0]
    )
    return run_targets([forward_backward, fused], tolerances, seed, sweep)


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
    """Check every layer's grads against L = ``network.compute_gradients(X, Y)`` (penalties included)."""
    name = name or type(network).__name__
    require_float64(network.layers, name)
    snapshot = Snapshot(network.layers)
    network.compute_gradients(X, Y)
    grads = [{key: value.copy() for key, value in layer.grads.items()} for layer in network.layers]

    def loss() -> float:
        snapshot.restore()
        return network.compute_gradients(X, Y)

    targets = [
        Target(name, f"layers[{i}].{key}", layer.params[key], grads[i][key], loss)
        for i, layer in enumerate(network.layers)
        for key in layer.params
    ]
    try:
        return run_targets(targets, tolerances, seed, sweep)
    finally:
        snapshot.restore()
        # leave the grads as compute_gradients left them for the caller's own inspection
        for layer, saved in zip(network.layers, grads, strict=True):
            for key, value in saved.items():
                np.copyto(layer.grads[key], value)
