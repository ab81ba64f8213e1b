"""Bugs that an elementwise comparison at one step does not see, and gradcheck must still catch.

Each test builds a correct component and a corrupted one that slipped past earlier versions
of gradcheck (gradients that accumulate across backward calls, an overwrite at a graph
fan-out, a fused loss value that disagrees with forward, ...): the correct one passes, the
corrupted one is reported as a failure.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gradcheck import DEFAULT_TOLERANCES, check_layer, check_loss, check_network, run_catalog
from gradcheck.checks import run_targets
from gradcheck.core.engine import summarize
from gradcheck.core.lines import Outcome, Target, element_lines
from gradcheck.core.sweep import apply_sweep
from gradcheck.suite.catalog import CATALOG_TOLERANCES
from refnet import MSE, Dense, NeuralNetwork
from refnet.base import Layer
from refnet.graph import GraphModel

Array = Any


class AccumulatingDense(Dense):
    """grads[θ] += the new gradient instead of grads[θ] = it: right once, wrong on the second call."""

    def backward(self, grad_y: Array) -> Array:
        old = {key: value.copy() for key, value in self.grads.items()}
        grad_x = super().backward(grad_y)
        for key in self.grads:
            self.grads[key] += old[key]
        return grad_x


@pytest.mark.parametrize("cls, passes", [(Dense, True), (AccumulatingDense, False)])
def test_parameter_grads_that_accumulate_across_backward_calls_fail_check_layer(cls: type[Dense], passes: bool) -> None:
    x = np.random.default_rng(1).standard_normal((5, 4))
    report = check_layer(cls(4, 3, "tanh", seed=0), x)
    assert report.passed is passes
    if not passes:
        assert {"W (backward twice)", "b (backward twice)"} <= {result.tensor for result in report.failures}


@pytest.mark.parametrize("cls, passes", [(Dense, True), (AccumulatingDense, False)])
def test_parameter_grads_that_accumulate_across_backward_calls_fail_check_network(
    cls: type[Dense], passes: bool
) -> None:
    rng = np.random.default_rng(1)
    network = NeuralNetwork([cls(4, 3, "tanh", seed=0)], MSE())
    report = check_network(network, rng.standard_normal((5, 4)), rng.standard_normal((5, 3)))
    assert report.passed is passes


def overwriting_backward(self: GraphModel, grad_y: Array) -> Array:
    """GraphModel.backward with the fan-out bug: the last consumer's gradient overwrites the others."""
    grads = {id(self.output_node): grad_y}
    for node in reversed(self.nodes):
        layer = node.layer
        if layer is None:
            continue
        grad_y = grads.pop(id(node))
        input_grads = layer.backward_many(grad_y) if layer.multiple_inputs else [layer.backward(grad_y)]
        for source, grad_x in zip(node.inputs, input_grads, strict=True):
            grads[id(source)] = grad_x
    return grads[id(self.input_node)]


def test_graph_catalog_passes_with_the_summing_backward() -> None:
    assert run_catalog(pattern="GraphModel").passed


def test_overwriting_instead_of_summing_at_a_fan_out_fails_the_graph_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(GraphModel, "backward", overwriting_backward)
    report = run_catalog(pattern="GraphModel")
    assert not report.passed
    failed = {(result.component, result.tensor) for result in report.failures}
    # the internal fan-out h is caught through the first Dense's parameters, not only through X
    assert any("internal fan-out" in component and tensor.startswith("layers[0].") for component, tensor in failed)


def test_network_input_gradient_is_checked() -> None:
    report = run_catalog(pattern="GraphModel[residual")
    assert "X" in {result.tensor for result in report.results}


class FusedDoubled(MSE):
    """value_and_gradient returns (2v, 2g): self-consistent, but not the loss forward() reports."""

    def value_and_gradient(self, y_pred: Array, target: Array) -> tuple[float, Array]:
        value, gradient = super().value_and_gradient(y_pred, target)
        return 2.0 * value, 2.0 * gradient


@pytest.mark.parametrize("cls, passes", [(MSE, True), (FusedDoubled, False)])
def test_fused_value_must_equal_forward(cls: type[MSE], passes: bool) -> None:
    rng = np.random.default_rng(0)
    report = check_loss(cls(), rng.standard_normal((5, 3)), rng.standard_normal((5, 3)))
    assert report.passed is passes
    if not passes:
        assert [result.tensor for result in report.failures] == ["value (fused)"]


def dense_with_one_wrong_element(index: tuple[int, int] | None, fraction: float) -> type[Dense]:
    """Dense whose dW is off by ``fraction`` at one element (at the largest |dW| for None)."""

    class OneWrongElement(Dense):
        def backward(self, grad_y: Array) -> Array:
            grad_x = super().backward(grad_y)
            W_grad = self.grads["W"]
            at = np.unravel_index(int(np.argmax(np.abs(W_grad))), W_grad.shape) if index is None else index
            W_grad[at] *= 1.0 + fraction
            return grad_x

    return OneWrongElement


@pytest.mark.parametrize("index", [(3, 5), None])
@pytest.mark.parametrize("fraction, passes", [(0.0, True), (0.01, False), (-0.01, False)])
def test_one_element_of_a_large_weight_off_by_one_percent_fails(
    index: tuple[int, int] | None, fraction: float, passes: bool
) -> None:
    x = np.random.default_rng(0).standard_normal((8, 100))
    report = check_layer(dense_with_one_wrong_element(index, fraction)(100, 100, "sigmoid", seed=0), x)
    assert {result.tensor: result.passed for result in report.results} == {"x": True, "W": passes, "b": True}


def test_large_tensors_are_also_checked_at_their_largest_elements() -> None:
    report = check_layer(Dense(100, 100, "tanh", seed=0), np.random.default_rng(0).standard_normal((8, 100)))
    W = next(result for result in report.results if result.tensor == "W")
    assert W.method == "projection"
    tol = DEFAULT_TOLERANCES
    # every projection, every one of the largest elements and every random sample is one checked line
    assert W.checked == tol.directions + tol.largest_elements + tol.sampled_elements


class CubicOffByOneHundredth(Layer):
    """y = k·x³ with grad_x = grad_y·(3k·x² + Δ), Δ = k·1e-6 = 0.01 (0.3 % at x = 0.01).

    The central difference is 3k·x² + k·h²: at h = √(Δ/k) = 1e-3 truncation cancels Δ exactly,
    a sweep step, so the sweep's smallest error is rounding; below it the error is Δ again.
    """

    k = 1e4

    def forward(self, x: Array, training: bool = True) -> Array:
        self.x = np.asarray(x, dtype=np.float64)
        return self.k * self.x**3

    def backward(self, grad_y: Array) -> Array:
        return grad_y * (3 * self.k * self.x**2 + self.k * 1e-6)


def test_sweep_fails_a_wrong_gradient_whose_truncation_dips_to_zero() -> None:
    (result,) = check_layer(CubicOffByOneHundredth(), np.array([[0.01]]), grad_y=np.ones((1, 1)), sweep=True).results
    assert min(result.sweep_errors) < 1e-12  # the lucky cancellation is on the grid
    assert result.verdict == "fail" and "flattens" in result.message


def test_sweep_of_one_element_never_clears_another_failing_element() -> None:
    # apply_sweep sweeps every element the plain check failed, not only the worst: here the worst
    # failure is a right element, which the sweep clears; the milder failure, scaled by 0.99, is just as wrong
    x = np.array([0.3, -0.5, 0.7, 1.1])
    gradient = np.cos(x)
    gradient[2] *= 0.99
    target = Target("sin", "x", x, gradient, lambda: float(np.sin(x).sum()))
    lines = list(element_lines(target))
    outcomes = [
        Outcome(lines[0], 0.0, 1.0, 0.01, "fail"),
        Outcome(lines[1], lines[1].analytic, 0.0, 0.01, "pass"),
        Outcome(lines[2], 0.0, 0.02, 0.01, "fail"),
        Outcome(lines[3], lines[3].analytic, 0.0, 0.01, "pass"),
    ]
    plain = summarize(target, outcomes, "elementwise", DEFAULT_TOLERANCES)
    assert plain.verdict == "fail" and plain.index == "(0,)"
    swept = apply_sweep(plain, outcomes, DEFAULT_TOLERANCES)
    assert swept.verdict == "fail" and "sweep at (2,)" in swept.message
    right = Target("sin", "x", x, np.cos(x), lambda: float(np.sin(x).sum()))
    right_outcomes = [Outcome(line, 0.0, 1.0, 0.01, "fail") for line in element_lines(right)]
    assert apply_sweep(plain, right_outcomes, DEFAULT_TOLERANCES).verdict == "pass"


def shifted_tanh(offset: float, error: float) -> Layer:
    """y = tanh(x) + offset; grad_x = grad_y·(1 − tanh²x), plus ``error`` at element (0, 0)."""

    class ShiftedTanh(Layer):
        def forward(self, x: Array, training: bool = True) -> Array:
            self.x = x
            return np.tanh(x) + offset

        def backward(self, grad_y: Array) -> Array:
            grad_x = grad_y * (1 - np.tanh(self.x) ** 2)
            grad_x[0, 0] += error
            return grad_x

    return ShiftedTanh()


@pytest.mark.parametrize("offset", [1e3, 1e4])
def test_a_large_constant_offset_in_the_loss_is_rounding_not_a_failure_or_a_kink(offset: float) -> None:
    for seed in range(40):  # seed 22 once passed a wrong element off as a kink at offset 1e4
        x = np.random.default_rng(seed).standard_normal((4, 5))
        assert check_layer(shifted_tanh(offset, 0.0), x, seed=seed).passed
        (wrong,) = check_layer(shifted_tanh(offset, 3e-4), x, seed=seed).results
        assert wrong.verdict == "fail" and wrong.kinks == 0 and wrong.index == "(0, 0)"


def test_the_catalog_accepts_no_kink_because_its_points_are_drawn_away_from_them() -> None:
    x = np.array([0.5, -0.7, 0.0, 1.2, -0.3])  # one element exactly on ReLU's kink
    target = Target("relu", "x", x, (x > 0).astype(float), lambda: float(np.maximum(x, 0.0).sum()))
    assert run_targets([target], DEFAULT_TOLERANCES, 0, sweep=False).results[0].verdict == "pass"
    assert run_targets([target], CATALOG_TOLERANCES, 0, sweep=False).results[0].verdict == "kink"
