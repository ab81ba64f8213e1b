"""gradcheck's numerical engine: relative error, elementwise and projection checks, kinks, sweeps."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from gradcheck import DEFAULT_TOLERANCES, Tolerances, check_layer, relative_error
from gradcheck.checks import run_targets
from gradcheck.core.engine import check_target
from gradcheck.core.kinks import draw_away, push_from_zero
from gradcheck.core.lines import Target
from gradcheck.core.sweep import sweep_line
from refnet import Dense, Identity, ReLU, Tanh


def sine_target(x: NDArray[Any], scale: float = 1.0) -> Target:
    """L = Σ sin(x), with the analytic gradient cos(x) multiplied by ``scale`` (1 is right)."""
    return Target("sin", "x", x, scale * np.cos(x), lambda: float(np.sin(x).sum()))


def test_relative_error_is_zero_when_both_are_zero_and_symmetric() -> None:
    assert relative_error(0.0, 0.0) == 0.0
    assert relative_error(1.0, 1.01) == pytest.approx(0.01 / 1.01)
    assert relative_error(1.01, 1.0) == relative_error(1.0, 1.01)
    assert relative_error(0.0, 1e-9) == 1.0


def test_tolerances_live_in_one_dataclass_with_the_documented_defaults() -> None:
    tol = DEFAULT_TOLERANCES
    assert (tol.rtol, tol.atol, tol.step) == (1e-5, 1e-7, 1e-6)
    assert tol.allowed(2.0) == pytest.approx(1e-7 + 2e-5)
    assert len(tol.sweep_steps) == 15 and tol.sweep_steps[0] == pytest.approx(0.1)
    assert tol.sweep_steps[-1] == pytest.approx(1e-8)


def test_right_gradient_passes_elementwise() -> None:
    x = np.random.default_rng(0).standard_normal((3, 4)) * 3
    result, _ = check_target(sine_target(x), DEFAULT_TOLERANCES, np.random.default_rng(0))
    assert result.verdict == "pass" and result.method == "elementwise" and result.checked == 12
    assert result.rel_error < 1e-7


def test_gradient_scaled_by_1_01_fails_and_names_the_worst_element() -> None:
    x = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
    result, _ = check_target(sine_target(x, 1.01), DEFAULT_TOLERANCES, np.random.default_rng(0))
    assert result.verdict == "fail"
    # cos is largest where |x| is smallest: the worst element is one of the two nearest 0.
    assert result.index in {"(0, 2)", "(1, 0)"}
    assert result.rel_error == pytest.approx(0.01 / 1.01, rel=1e-4)
    assert result.abs_error > result.tolerance


def test_large_tensor_is_checked_by_random_projections_and_still_catches_a_scaled_gradient() -> None:
    x = np.random.default_rng(1).standard_normal((20, 10))
    tol = DEFAULT_TOLERANCES
    good, _ = check_target(sine_target(x), tol, np.random.default_rng(2))
    bad, _ = check_target(sine_target(x, 1.01), tol, np.random.default_rng(2))
    lines = tol.directions + tol.largest_elements + tol.sampled_elements
    assert good.method == "projection" and good.checked == lines and good.verdict == "pass"
    assert bad.verdict == "fail" and f"{lines} of {lines} directions and sampled elements disagree" in bad.message


def test_the_check_leaves_the_tensor_exactly_as_it_was() -> None:
    x = np.random.default_rng(3).standard_normal((4, 4))
    before = x.copy()
    check_target(sine_target(x), DEFAULT_TOLERANCES, np.random.default_rng(0))
    assert np.array_equal(x, before)


def test_gradient_of_the_wrong_shape_is_a_failure_naming_both_shapes() -> None:
    x = np.ones((2, 3))
    target = Target("shape", "x", x, np.ones((3, 2)), lambda: float(x.sum()))
    result, outcomes = check_target(target, DEFAULT_TOLERANCES, np.random.default_rng(0))
    assert result.verdict == "fail" and outcomes == []
    assert "(3, 2)" in result.message and "(2, 3)" in result.message


def test_nan_gradient_is_a_failure() -> None:
    x = np.ones((2, 2))
    target = Target("nan", "x", x, np.full((2, 2), np.nan), lambda: float(x.sum()))
    result, _ = check_target(target, DEFAULT_TOLERANCES, np.random.default_rng(0))
    assert result.verdict == "fail"


# -- kinks ---------------------------------------------------------------------------------


def test_relu_at_a_few_exact_zeros_reports_kinks_but_passes() -> None:
    x = np.array([[0.0, 1.0, -2.0, 0.5], [1.5, -0.3, 0.7, -1.1]])
    report = check_layer(ReLU(), x)
    (result,) = report.results
    assert result.verdict == "pass" and result.kinks == 1
    assert "kink" in result.message


def test_relu_where_kinks_dominate_is_not_a_pass() -> None:
    x = np.array([[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, -1.0, 0.0]])
    report = check_layer(ReLU(), x)
    assert report.results[0].verdict == "kink" and not report.passed


def test_a_sign_flipped_relu_at_a_kink_is_a_failure_not_a_kink() -> None:
    class FlippedReLU(ReLU):
        def gradient(self, y: Any, grad_y: Any, out: Any = None) -> Any:
            return -super().gradient(y, grad_y)

    x = np.array([[0.0, 1.0, -2.0, 0.5]])
    assert check_layer(FlippedReLU(), x, grad_y=np.ones((1, 4))).results[0].verdict == "fail"


def test_relu_of_a_weight_at_zero_is_a_kink_whose_central_difference_is_half_the_jump() -> None:
    W = np.array([0.0, 0.0, 0.0, 2.0])
    target = Target("relu", "W", W, (W > 0).astype(float), lambda: float(np.maximum(W, 0).sum()))
    result, _ = check_target(target, DEFAULT_TOLERANCES, np.random.default_rng(0))
    assert result.kinks == 3 and result.verdict == "kink"


def test_abs_at_zero_passes_because_its_central_difference_is_the_subgradient_zero() -> None:
    W = np.array([0.0, -1.0, 2.0])
    target = Target("abs", "W", W, np.sign(W), lambda: float(np.abs(W).sum()))
    result, _ = check_target(target, DEFAULT_TOLERANCES, np.random.default_rng(0))
    assert result.verdict == "pass" and result.kinks == 0


def test_push_from_zero_moves_only_the_entries_inside_the_margin() -> None:
    values = np.array([0.0, -1e-5, 2e-4, 0.5, -0.3])
    push_from_zero(values, 1e-3)
    assert np.array_equal(values, [1e-3, -1e-3, 1e-3, 0.5, -0.3])


def test_draw_away_redraws_until_far_enough_and_gives_up_with_a_message() -> None:
    draws = iter([0.0, 1e-5, 0.4])
    assert draw_away(lambda: next(draws), abs, 1e-3) == 0.4
    with pytest.raises(RuntimeError, match="no check point"):
        draw_away(lambda: 0.0, abs, 1e-3, attempts=3)


# -- convergence order ----------------------------------------------------------------------


def tanh_report(scale: float, seed: int = 0) -> Any:
    class ScaledTanh(Tanh):
        def gradient(self, y: Any, grad_y: Any, out: Any = None) -> Any:
            return scale * super().gradient(y, grad_y)

    x = np.random.default_rng(seed).standard_normal((3, 4))
    return check_layer(ScaledTanh(), x, sweep=True)


def test_sweep_of_a_right_gradient_shows_slope_two() -> None:
    (result,) = tanh_report(1.0).results
    assert result.verdict == "pass"
    assert result.slope is not None and 1.8 < result.slope < 2.2
    assert len(result.sweep_errors) == len(DEFAULT_TOLERANCES.sweep_steps)


def test_sweep_of_a_wrong_gradient_is_flat_and_fails() -> None:
    (result,) = tanh_report(1.01).results
    assert result.verdict == "fail"
    assert result.slope is not None and abs(result.slope) < 0.5
    errors = np.array(result.sweep_errors)
    assert errors[-6:].max() / errors[-6:].min() < 3  # flat over the small steps


def test_sweep_of_a_linear_function_is_exact_and_passes_without_a_slope() -> None:
    (result,) = check_layer(Identity(), np.ones((2, 3)), sweep=True).results
    assert result.verdict == "pass" and result.slope is None
    assert max(result.sweep_errors) < 1e-6


def test_sweep_line_needs_no_step_from_the_caller() -> None:
    x = np.random.default_rng(5).standard_normal((2, 2))
    _, outcomes = check_target(sine_target(x), DEFAULT_TOLERANCES, np.random.default_rng(0))
    sweep = sweep_line(outcomes[0].line, Tolerances(step=1e-1))  # a bad step does not matter to the sweep
    assert sweep.verdict == "pass" and sweep.slope is not None and sweep.slope > 1.5


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([1.01, 0.99, -1.0, 0.0]))
def test_sweep_rejects_wrong_gradients_for_any_point(seed: int, scale: float) -> None:
    x = np.random.default_rng(seed).uniform(-1.2, 1.2, (2, 3))
    report = run_targets([sine_target(x, scale)], DEFAULT_TOLERANCES, seed, sweep=True)
    assert report.results[0].verdict == "fail"


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_dense_tanh_sweep_passes_for_any_point(seed: int) -> None:
    rng = np.random.default_rng(seed)
    report = check_layer(Dense(3, 2, "tanh", rng=rng), rng.standard_normal((4, 3)), seed=seed, sweep=True)
    assert report.passed, report.table()


def test_every_result_in_gradcheck_is_built_with_keywords() -> None:
    import ast
    from pathlib import Path

    positional = [
        f"{path.name}:{node.lineno}"
        for path in sorted((Path(__file__).resolve().parent.parent / "gradcheck").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "CheckResult" and node.args
    ]
    assert positional == []
