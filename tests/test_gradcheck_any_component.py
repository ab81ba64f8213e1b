"""The Python API on anyone's code: duck-typed layers and losses, plain functions, float32 in float64 or
in its own precision, inconclusive when precision cannot decide, errors of the checked code as results."""

from __future__ import annotations

import signal
import time
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from gradcheck import (
    FLOAT32_TOLERANCES,
    Functions,
    check_component,
    check_layer,
    check_loss,
    check_network,
)
from gradcheck.core.guard import CheckTimeout, can_time_out, time_limit
from gradcheck.core.lines import Target, element_lines
from gradcheck.core.noise import rounding_noise
from refnet import MSE, BatchNorm, Dense, Dropout, NeuralNetwork

Array = Any


class CastTanh:
    """y = tanh(x) computed in float32 whatever x is: the issue's parameter-free float32 layer."""

    def __init__(self, factor: float = 1.0, offset: float = 0.0) -> None:
        self.factor, self.offset = factor, offset

    def forward(self, x: Array) -> Array:
        self.y = np.tanh(np.asarray(x, dtype=np.float32))
        return self.y + np.float32(self.offset)

    def backward(self, grad_y: Array) -> Array:
        return (self.factor * grad_y * (1 - self.y**2)).astype(np.float32)


class HalfSquare:
    """A loss written without refnet: L = ½·Σ(y_pred − y_true)², dL/dy_pred = y_pred − y_true."""

    def __init__(self, factor: float = 1.0) -> None:
        self.factor = factor

    def forward(self, y_pred: Array, y_true: Array) -> float:
        self.diff = y_pred - y_true
        return float(0.5 * np.sum(self.diff**2))

    def backward(self) -> Array:
        return self.factor * self.diff


def x(seed: int = 0, shape: tuple[int, int] = (5, 4)) -> NDArray[Any]:
    return np.random.default_rng(seed).standard_normal(shape)


def test_a_parameter_free_layer_computing_in_float32_passes_and_its_wrong_backward_fails() -> None:
    for seed in range(10):
        (right,) = check_layer(CastTanh(), x(seed), seed=seed).results
        assert right.passed and right.component == "CastTanh (float32)", right
        (wrong,) = check_layer(CastTanh(factor=1.01), x(seed), seed=seed).results
        assert wrong.verdict == "fail", wrong


def test_float32_rounding_is_measured_at_the_step_used_not_at_steps_float32_erases() -> None:
    layer, point = CastTanh(), x().astype(np.float32)
    upstream = np.random.default_rng(1).standard_normal((5, 4))
    layer.forward(point)
    target = Target("t", "x", point, layer.backward(upstream), lambda: float(np.sum(upstream * layer.forward(point))))
    line = next(element_lines(target))
    noise = rounding_noise(line, line(0.0), FLOAT32_TOLERANCES.step, FLOAT32_TOLERANCES)
    assert 1e-9 < noise < 1e-5  # float32 rounding of O(1) values, not zero and not eps64


def test_the_rounding_noise_does_not_depend_on_the_analytic_gradient() -> None:
    point = x()

    def line(scale: float) -> Any:
        target = Target("t", "x", point, scale * np.cos(point), lambda: float(np.sin(point).sum()) + 1e4)
        return next(element_lines(target))

    tol, base = FLOAT32_TOLERANCES, line(1.0)(0.0)
    assert rounding_noise(line(1.0), base, 1e-6, tol) == rounding_noise(line(100.0), base, 1e-6, tol)


def test_a_badly_wrong_gradient_with_a_large_loss_fails_with_no_inflated_allowance() -> None:
    # the old noise estimate |phi(δ) − phi(0) − δ·analytic| grew with the error of the analytic value itself
    class Wrong(CastTanh):
        def forward(self, x: Array) -> Array:
            self.y = np.tanh(x)
            return self.y + 1e4

        def backward(self, grad_y: Array) -> Array:
            return 100.0 * grad_y * (1 - self.y**2)

    (result,) = check_layer(Wrong(), x()).results
    assert result.verdict == "fail"
    assert result.tolerance <= 10 * (1e-7 + 1e-5 * max(abs(result.analytic), abs(result.numerical)))


def test_what_float32_cannot_decide_is_inconclusive_with_the_reason_and_what_to_do() -> None:
    # y = tanh(x) + 1e3 in float32 keeps ~4 significant digits of tanh(x): no step resolves 1e-3
    (result,) = check_layer(CastTanh(offset=1e3), x()).results
    assert result.verdict == "inconclusive" and not result.passed
    assert "float32" in result.message and "get_config()" in result.message


def test_refnet_float32_layers_are_rebuilt_in_float64_with_the_same_parameters() -> None:
    layer = Dense(4, 3, "tanh", dtype=np.float32, seed=0)
    before = layer.params["W"].copy()
    report = check_layer(layer, x())
    assert report.passed and {r.component for r in report.results} == {"Dense (float32, rebuilt in float64)"}
    assert np.array_equal(layer.params["W"], before) and layer.params["W"].dtype == np.float32
    norm = BatchNorm(4, dtype=np.float32)
    assert check_layer(norm, x()).passed


def test_a_wrong_float32_refnet_layer_fails_in_its_float64_rebuild() -> None:
    class Wrong(Dense):
        def backward(self, grad_y: Array) -> Array:
            grad_x = super().backward(grad_y)
            self.grads["W"] *= 1.01
            return grad_x

    report = check_layer(Wrong(4, 3, "tanh", dtype=np.float32, seed=0), x())
    assert [result.tensor for result in report.failures] == ["W"]


def test_a_parameter_free_layer_given_float32_input_is_checked_in_float64() -> None:
    (result,) = check_layer(Dropout(0.3, seed=1), x().astype(np.float32)).results
    assert result.passed and result.component == "Dropout" and result.rel_error < 1e-6


def test_a_float32_network_is_checked_in_float32_without_false_alarms() -> None:
    for seed in range(5):
        rng = np.random.default_rng(seed)
        layers = [Dense(3, 5, "tanh", dtype=np.float32, rng=rng), Dense(5, 2, dtype=np.float32, rng=rng)]
        report = check_network(NeuralNetwork(layers, MSE()), rng.standard_normal((6, 3)), rng.standard_normal((6, 2)))
        assert report.passed, report.table()
        assert {result.component for result in report.results} == {"NeuralNetwork (float32)"}


def test_plain_functions_with_float32_parameters_are_checked_in_float64() -> None:
    W = np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32)
    pair = Functions(
        lambda x, W: np.tanh(x @ W),
        lambda gy, x, W: ((gy * (1 - np.tanh(x @ W) ** 2)) @ W.T, {"W": x.T @ (gy * (1 - np.tanh(x @ W) ** 2))}),
        {"W": W},
        name="tanh_layer",
    )
    report = check_component(pair, (x(),))
    assert report.passed and {r.component for r in report.results} == {"tanh_layer (float32, rebuilt in float64)"}


def test_a_vjp_that_forgets_the_parameter_gradients_is_reported_not_raised() -> None:
    pair = Functions(lambda x, w: x * w, lambda gy, x, w: gy * w, {"w": np.ones(4)})
    (result,) = check_component(pair, (x(),)).results
    assert result.verdict == "error" and "vjp must return (grad_x, {name: gradient})" in result.message


def test_a_duck_typed_loss_is_checked_and_its_wrong_gradient_fails() -> None:
    y_pred, y_true = x(1, (4, 3)), x(2, (4, 3))
    assert check_loss(HalfSquare(), y_pred, y_true).passed
    assert not check_loss(HalfSquare(1.01), y_pred, y_true).passed
    assert check_component(HalfSquare(), (y_pred, y_true)).passed


def test_an_exception_of_the_checked_code_is_a_result_naming_where_it_happened() -> None:
    class Fussy(CastTanh):
        def forward(self, x: Array) -> Array:
            if x.shape[0] != 5:
                raise IndexError("batch must be 5")
            return super().forward(x)

    (result,) = check_layer(Fussy(), x(0, (3, 4))).results
    assert result.verdict == "error" and "Fussy.forward at the check point raised IndexError" in result.message


def test_a_non_finite_check_point_is_refused_at_the_api() -> None:
    bad = x()
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match=r"x has a non-finite value \(inf\) at \(1, 2\)"):
        check_layer(CastTanh(), bad)
    layer = Dense(4, 3, seed=0)
    layer.params["W"][0, 0] = np.nan
    with pytest.raises(ValueError, match="params\\['W'\\] has a non-finite value"):
        check_layer(layer, x())


def test_an_object_that_is_not_a_layer_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="is not a layer"):
        check_layer(object(), x())


def test_a_report_printed_from_python_explains_each_result_that_is_not_a_pass() -> None:
    report = check_layer(CastTanh(factor=-1.0), x())
    text = str(report)
    assert text.splitlines()[-1].startswith("  CastTanh (float32) x: 20 of 20 elements disagree; worst at")


@pytest.mark.skipif(not can_time_out(), reason="time limits need SIGALRM in the main thread")
def test_a_time_limit_stops_a_hanging_check_and_gives_back_an_enclosing_timer() -> None:
    class Hanging(CastTanh):
        def forward(self, x: Array) -> Array:
            time.sleep(30)
            return x

    signal.setitimer(signal.ITIMER_REAL, 100.0)  # an enclosing limit, e.g. a test runner's
    try:
        (result,) = check_component(Hanging(), (x(),), timeout=0.2).results
        remaining = signal.getitimer(signal.ITIMER_REAL)[0]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
    assert result.verdict == "error" and "timed out after 0.2 s" in result.message
    assert 90.0 < remaining <= 100.0
    with pytest.raises(CheckTimeout), time_limit(0.05):
        while True:
            pass
