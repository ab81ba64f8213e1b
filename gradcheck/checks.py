"""Check one component: a layer, a loss or a regularizer (a whole network: ``gradcheck.network_check``).

Each function builds the scalar L whose gradient the component claims to compute, lets the
engine compare, and returns a ``Report`` (one result per tensor):

- layer:       L = Σ grad_y·y + penalty(), grad_y a fixed random upstream gradient, so
               dL/dx = backward(grad_y) and dL/dθ = grads[θ] for every parameter θ;
- loss:        L = loss.forward(y_pred, y_true), dL/dy_pred = loss.backward();
- regularizer: L = penalty(W), dL/dW = gradient(W);
- network:     L = compute_gradients(X, Y) (data loss + penalties), dL/dθ = every layer's grads,
               dL/dX = what the network's backward returns (``gradcheck.network_check``).

A layer or a loss need not be refnet's: anything with forward/backward (and params/grads
dicts), or a pair of plain functions, is accepted (``gradcheck.adapters``). A float32
component is rebuilt in float64 where it can be, else checked in its own precision
(``gradcheck.precision``). Layers and networks are also run backward twice
(``gradcheck.repeat``), and a layer is run once at another point before the check point (a
stale cache shows); a refnet loss's fused ``value_and_gradient`` value must equal ``forward``.

The check point must be finite (a ``ValueError`` otherwise). Whatever the checked code raises
while it is checked becomes the result of that check, verdict ``error`` (``gradcheck.core.guard``).

Randomness is held fixed: before every forward, each ``numpy.random.Generator`` a layer
holds (e.g. Dropout's ``rng``) is put back in the state it had, so every evaluation draws
the same mask; a layer's ``state`` arrays (BatchNorm running statistics) are restored too.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from gradcheck.adapters import (
    LayerAdapter,
    float_array,
    is_loss_like,
    name_of,
    output_array,
    refuse_non_finite,
    refuse_non_finite_target,
)
from gradcheck.core.engine import check_target
from gradcheck.core.guard import ComponentError, error_result, running
from gradcheck.core.lines import Array, Target
from gradcheck.core.results import CheckResult, Report, Verdict, relative_error
from gradcheck.core.sweep import apply_sweep
from gradcheck.core.tolerances import Tolerances, tolerances_for
from gradcheck.precision import coarsest, rebuilt_in_float64
from gradcheck.repeat import repeat_failures_of
from refnet.losses import Loss
from refnet.regularizers import ElasticNet
from refnet.support.numerics import Snapshot


def take_snapshot(layers: Iterable[Any]) -> Snapshot:
    """The layers' state arrays and random generators, to put back before each evaluation of the loss.

    A refnet layer names its generator (``generator()``); any other object's Generators are
    found among its attributes, and its ``state`` arrays, if it has a ``state`` dict, are kept too.
    """
    arrays: list[Array] = []
    generators: list[np.random.Generator] = []
    for layer in layers:
        state = getattr(layer, "state", {})
        if isinstance(state, Mapping):
            arrays += [value for value in state.values() if isinstance(value, np.ndarray)]
        named = getattr(layer, "generator", None)
        if callable(named):
            generators += [rng for rng in [named()] if isinstance(rng, np.random.Generator)]
        else:
            attributes = getattr(layer, "__dict__", {}).values()
            generators += [value for value in attributes if isinstance(value, np.random.Generator)]
    return Snapshot(arrays, generators)


def run_targets(targets: list[Target], tolerances: Tolerances, seed: int, sweep: bool) -> Report:
    """Check each target (and sweep its failing lines, or its worst, if asked); time the whole.

    A target whose evaluation raises in the checked code gets an ``error`` result.
    """
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    report = Report()
    for target in targets:
        try:
            result, outcomes = check_target(target, tolerances, rng)
            if sweep and outcomes:
                result = apply_sweep(result, outcomes, tolerances)
        except ComponentError as exc:
            result = error_result(target.component, target.name, exc)
        report.results.append(result)
    report.seconds = time.perf_counter() - start
    return report


def renamed(report: Report, component: str) -> Report:
    """``report`` with every result's component set to ``component``."""
    report.results = [replace(result, component=component) for result in report.results]
    return report


def check_layer(
    layer: Any,
    x: Any,
    *,
    grad_y: Any = None,
    training: bool = True,
    seed: int = 0,
    tolerances: Tolerances | None = None,
    sweep: bool = False,
    name: str | None = None,
) -> Report:
    """Check dL/dx and dL/dθ of ``layer`` at input ``x`` (N, in), with L = Σ grad_y·y + penalty.

    A layer's ``backward_params`` (what training runs on the first layer), if it has one, must
    fill the same grads as ``backward``.

    ``layer`` is a refnet layer, any object with forward/backward (and params/grads), or
    ``Functions(forward, vjp, params)``. ``grad_y`` defaults to a standard-normal upstream
    gradient drawn from ``seed``. For a layer with several inputs (``forward_many``/
    ``backward_many``: refnet's Add, Multiply, Concatenate), ``x`` is the list of inputs; each
    is checked. ``tolerances`` default to those of the precision the layer computes in.
    """
    adapter = LayerAdapter(layer)
    name = name or name_of(layer)
    xs = [float_array(value, "x") for value in (x if adapter.many else [x])]
    for key, value in adapter.params.items():
        refuse_non_finite(value, f"{name}.params[{key!r}]")
    upstream = None if grad_y is None else float_array(grad_y, "grad_y")
    dtype = coarsest(adapter.params.values())
    if dtype != np.float64:
        rebuilt = rebuilt_in_float64(layer)
        if rebuilt is not None:
            report = check_layer(
                rebuilt, x, grad_y=grad_y, training=training, seed=seed, tolerances=tolerances, sweep=sweep, name=name
            )
            return renamed(report, f"{name} ({dtype}, rebuilt in float64)")
    start = time.perf_counter()
    try:
        report = layer_report(adapter, xs, upstream, training, seed, tolerances, sweep, name)
    except ComponentError as exc:
        report = Report([error_result(name, "-", exc)])
    report.seconds = time.perf_counter() - start
    return report


def layer_report(
    adapter: LayerAdapter,
    xs: list[Array],
    upstream: Array | None,
    training: bool,
    seed: int,
    tolerances: Tolerances | None,
    sweep: bool,
    name: str,
) -> Report:
    """check_layer's work once the arguments are validated (raises ComponentError from the checked code)."""
    dtype = coarsest(adapter.params.values())
    xs = [value.astype(dtype) for value in xs]  # float64 unless float32 parameters could not be rebuilt
    snapshot = take_snapshot([adapter.component])
    warm_up(adapter, xs, training)
    snapshot.restore()
    with running(f"{name}.forward at the check point"):
        y = adapter.forward(xs, training)
    if dtype == np.float64 and coarsest([y]) != np.float64:  # computes in a lower precision inside
        dtype = coarsest([y])
        xs = [value.astype(dtype) for value in xs]
        snapshot.restore()
        with running(f"{name}.forward at the check point"):
            y = adapter.forward(xs, training)
    if not np.all(np.isfinite(y)):
        return Report([error_result(name, "y", "forward returned non-finite values at the (finite) check point")])
    tol = tolerances or tolerances_for(dtype)
    if dtype != np.float64:
        name = f"{name} ({dtype})"
    if upstream is None:
        upstream = np.random.default_rng(seed).standard_normal(y.shape).astype(y.dtype)
    elif upstream.shape != y.shape:
        raise ValueError(f"grad_y has shape {upstream.shape} but {name}'s output y has shape {y.shape}")
    with running(f"{name}.backward at the check point"):
        grads_x = adapter.backward(upstream)
        grads = adapter.grads()
    with running(f"{name}.backward, called a second time for the same forward"):
        repeated = adapter.backward(upstream)
        again = adapter.grads()
    labels = [f"x{i}" for i in range(len(xs))] if adapter.many else ["x"]
    if len(grads_x) != len(xs):
        message = f"backward returned {len(grads_x)} input gradients for {len(xs)} inputs"
        return Report([error_result(name, "x", message)])
    repeat_failures = repeat_failures_of(name, zip(labels, grads_x, repeated, strict=True))
    pairs = [(key, first, again[key]) for key, first in grads.items()]
    repeat_failures += repeat_failures_of(name, ((key, a, b) for key, a, b in pairs if a is not None and b is not None))
    backward_params = getattr(adapter.component, "backward_params", None)
    if not adapter.many and callable(backward_params):  # what training runs on a first layer: the same grads
        with running(f"{name}.backward_params for the same forward"):
            backward_params(upstream)
            filled = adapter.grads()
        pairs = [(f"{key} from backward_params", first, filled[key]) for key, first in grads.items()]
        repeat_failures += repeat_failures_of(name, ((k, a, b) for k, a, b in pairs if a is not None and b is not None))

    weights = upstream.astype(np.float64)  # L is summed in float64 whatever y's dtype: only y's own rounding counts

    def loss() -> float:
        snapshot.restore()
        return float(np.sum(weights * adapter.forward(xs, training).astype(np.float64))) + adapter.penalty()

    targets = [Target(name, label, value, grad, loss) for label, value, grad in zip(labels, xs, grads_x, strict=True)]
    missing = [key for key, gradient in grads.items() if gradient is None]
    targets += [
        Target(name, key, adapter.params[key], gradient, loss)
        for key, gradient in grads.items()
        if gradient is not None
    ]
    try:
        report = run_targets(targets, tol, seed, sweep)
    finally:
        snapshot.restore()
    report.results += [error_result(name, key, f"backward left no gradient for {key!r} in grads") for key in missing]
    report.results += repeat_failures
    return report


def warm_up(adapter: LayerAdapter, xs: list[Array], training: bool) -> None:
    """One forward and backward at another point, x/2, before the check point's.

    A layer that keeps a stale cache (the first x it ever saw, a gradient from an earlier call)
    then shows it at the check point. Whatever this raises is ignored: only the check point is judged.
    """
    with contextlib.suppress(Exception):
        y = adapter.forward([0.5 * x for x in xs], training)
        adapter.backward(np.ones_like(y))


def check_loss(
    loss: Any,
    y_pred: Any,
    y_true: Any,
    *,
    seed: int = 0,
    tolerances: Tolerances | None = None,
    sweep: bool = False,
    name: str | None = None,
) -> Report:
    """Check dL/dy_pred = ``loss.backward()`` for L = ``loss.forward(y_pred, y_true)``.

    ``loss`` is a refnet Loss or any object with forward(y_pred, y_true) and backward(). For a
    refnet Loss the fused ``value_and_gradient(y_pred, target)`` that training calls is checked
    as a second tensor, ``y_pred (fused)``: its gradient against its own value.
    """
    if not is_loss_like(loss):
        raise TypeError(f"{type(loss).__name__} is not a loss: gradcheck needs forward(y_pred, y_true) and backward()")
    name = name or name_of(loss)
    y_pred = float_array(y_pred, "y_pred").astype(np.float64)
    refuse_non_finite_target(y_true)
    start = time.perf_counter()
    try:
        report = loss_report(loss, y_pred, y_true, seed, tolerances, sweep, name)
    except ComponentError as exc:
        report = Report([error_result(name, "-", exc)])
    report.seconds = time.perf_counter() - start
    return report


def loss_report(
    loss: Any, y_pred: Array, y_true: Any, seed: int, tolerances: Tolerances | None, sweep: bool, name: str
) -> Report:
    """check_loss's work once the arguments are validated (raises ComponentError from the checked code)."""
    with running(f"{name}.forward at the check point"):
        value = float(loss.forward(y_pred, y_true))
    with running(f"{name}.backward at the check point"):
        gradient = output_array(loss.backward(), "backward")
    dtype = coarsest([gradient])
    if dtype != np.float64:  # computes in a lower precision: perturb y_pred in it
        y_pred, name = y_pred.astype(dtype), f"{name} ({dtype})"
        with running(f"{name}.forward at the check point"):
            value = float(loss.forward(y_pred, y_true))
        with running(f"{name}.backward at the check point"):
            gradient = output_array(loss.backward(), "backward")
    if not np.isfinite(value):
        return Report([error_result(name, "value", "forward returned a non-finite loss at the (finite) check point")])
    tol = tolerances or tolerances_for(dtype)
    targets = [Target(name, "y_pred", y_pred, gradient, lambda: loss.forward(y_pred, y_true))]
    if not isinstance(loss, Loss):
        return run_targets(targets, tol, seed, sweep)
    fused_at = y_pred.copy()
    with running(f"{name}.value_and_gradient at the check point"):
        prepared = loss.prepare_target(y_true, fused_at.shape, fused_at.dtype)
        fused_value, fused_gradient = loss.value_and_gradient(fused_at, prepared)
    targets.append(
        Target(
            name,
            "y_pred (fused)",
            fused_at,
            output_array(fused_gradient, "value_and_gradient"),
            lambda: loss.value_and_gradient(fused_at, prepared)[0],
        )
    )
    report = run_targets(targets, tol, seed, sweep)
    report.results.append(same_value(name, value, float(fused_value), tol))
    return report


def same_value(name: str, value: float, fused_value: float, tol: Tolerances) -> CheckResult:
    """A result for the fused value against forward(): training minimizes one, evaluate() reports the other.

    They must agree to rounding: |fused − forward| <= closed_atol + closed_rtol·max(|fused|, |forward|).
    """
    error, allowed = abs(fused_value - value), tol.closed_allowed(max(abs(value), abs(fused_value)))
    verdict: Verdict = "pass" if error <= allowed else "fail"
    message = (
        "value_and_gradient(...)[0] equals forward(...)"
        if verdict == "pass"
        else (
            f"value_and_gradient gives {fused_value:.6g} but forward gives {value:.6g}: training and evaluate disagree"
        )
    )
    return CheckResult(
        component=name,
        tensor="value (fused)",
        index="()",
        analytic=value,
        numerical=fused_value,
        abs_error=error,
        rel_error=relative_error(value, fused_value),
        tolerance=allowed,
        verdict=verdict,
        method="value",
        message=message,
    )


def check_regularizer(
    regularizer: ElasticNet,
    W: Any,
    *,
    seed: int = 0,
    tolerances: Tolerances | None = None,
    sweep: bool = False,
    name: str | None = None,
) -> Report:
    """Check d penalty/dW = ``regularizer.gradient(W)``."""
    name = name or type(regularizer).__name__
    W = float_array(W, "W").astype(np.float64)
    start = time.perf_counter()
    try:
        with running(f"{name}.gradient at the check point"):
            gradient = output_array(regularizer.gradient(W), "gradient")
        target = Target(name, "W", W, gradient, lambda: regularizer.penalty(W))
        report = run_targets([target], tolerances or tolerances_for(np.float64), seed, sweep)
    except ComponentError as exc:
        report = Report([error_result(name, "-", exc)])
    report.seconds = time.perf_counter() - start
    return report
