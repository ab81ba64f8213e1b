"""A battery of custom layers written without refnet: every classic bug is caught, in float64 and
float32, and every correct layer passes (kinked, float32 and duck-typed ones included).

The layers live in ``tests/custom_layers.py``; they only have forward/backward and params/grads
dicts (or are a pair of plain functions). float32 ones are checked in their own precision, except
``Configurable``, which gradcheck rebuilds in float64 from its config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from custom_layers import (
    Configurable,
    Cube,
    Leaky,
    Linear,
    Normalize,
    RowMean,
    ScaledAbs,
    SinGate,
    WeightDecay,
    sin_matmul,
    sin_matmul_vjp,
    sin_matmul_vjp_no_transpose,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from gradcheck import Functions, Report, check_component
from gradcheck.testing import assert_gradients, layer_inputs

DTYPES = [np.float64, np.float32]
Maker = Callable[[Any, "str | None"], Any]

#: name -> (make(dtype, bug), input width)
LAYERS: dict[str, tuple[Maker, int]] = {
    "Linear": (lambda dtype, bug: Linear(4, 4, dtype, bug), 4),
    "Linear 100x100": (lambda dtype, bug: Linear(100, 100, dtype, bug), 100),
    "Cube": (lambda dtype, bug: Cube(dtype, bug), 3),
    "RowMean": (lambda dtype, bug: RowMean(dtype, bug), 5),
    "Leaky": (lambda dtype, bug: Leaky(0.1, dtype, bug), 4),
    "ScaledAbs": (lambda dtype, bug: ScaledAbs(4, dtype, bug), 4),
    "SinGate": (lambda dtype, bug: SinGate(4, dtype, bug), 4),
    "Normalize": (lambda dtype, bug: Normalize(5, dtype, bug), 5),
    "WeightDecay": (lambda dtype, bug: WeightDecay(3, 4, dtype, bug), 3),
    "Configurable": (lambda dtype, bug: Configurable(4, dtype, bug), 4),
    "functions": (
        lambda dtype, bug: Functions(
            sin_matmul,
            sin_matmul_vjp_no_transpose if bug == "missing transpose" else sin_matmul_vjp,
            {"W": np.random.default_rng(0).standard_normal((4, 4)).astype(dtype)},
        ),
        4,
    ),
}

#: (layer, bug, the tensors it must fail)
BUGS = [
    ("Linear", "missing transpose", {"x"}),
    ("Linear", "accumulate", {"W", "b"}),
    ("Linear", "bias sum over wrong axis", {"b"}),
    ("Linear", "stale input", {"W"}),
    ("Linear 100x100", "one element", {"W"}),
    ("Cube", "sign", {"x"}),
    ("Cube", "stale input", {"x"}),
    ("RowMean", "forgotten 1/N", {"x"}),
    ("Leaky", "negative inputs", {"x"}),
    ("ScaledAbs", "small relative error", {"x"}),
    ("SinGate", "missing product-rule term", {"x"}),
    ("SinGate", "small relative error", {"x"}),
    ("Normalize", "mean term dropped", {"x"}),
    ("WeightDecay", "penalty gradient missing", {"W"}),
    ("Configurable", "small relative error", {"x"}),
    ("functions", "missing transpose", {"x"}),
]


def point(width: int, seed: int, rows: int = 6) -> NDArray[Any]:
    """x ~ N(0, 1) of shape (rows, width), kept 0.05 from 0 (the kinks of Leaky and ScaledAbs)."""
    x = np.random.default_rng(seed).standard_normal((rows, width))
    return np.where(np.abs(x) < 0.05, np.copysign(0.05, x), x)


def check(name: str, dtype: Any, bug: str | None, seed: int = 0) -> Report:
    make, width = LAYERS[name]
    return check_component(make(dtype, bug), (point(width, seed),), seed=seed)


def failing_tensors(report: Report) -> set[str]:
    return {result.tensor.removesuffix(" (backward twice)") for result in report.failures}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize(("name", "bug", "tensors"), BUGS, ids=[f"{name}: {bug}" for name, bug, _ in BUGS])
def test_a_classic_bug_is_caught_as_a_confident_failure(name: str, bug: str, tensors: set[str], dtype: Any) -> None:
    report = check(name, dtype, bug)
    assert failing_tensors(report) == tensors, report.table()
    assert {result.verdict for result in report.failures} == {"fail"}, report.table()


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_the_correct_layer_passes(name: str, dtype: Any) -> None:
    for seed in range(3):
        report = check(name, dtype, None, seed)
        assert report.passed, report.table()


def test_float32_layers_are_checked_in_float32_unless_they_can_be_rebuilt_in_float64() -> None:
    assert {result.component for result in check("SinGate", np.float32, None).results} == {"SinGate (float32)"}
    assert {result.component for result in check("Cube", np.float32, None).results} == {"Cube (float32)"}
    rebuilt = {result.component for result in check("Configurable", np.float32, None).results}
    assert rebuilt == {"Configurable (float32, rebuilt in float64)"}


def test_float32_is_checked_with_float32_tolerances_not_float64_ones() -> None:
    (result,) = check("Cube", np.float32, None).results
    assert result.passed and result.rel_error > 1e-6  # float64's rtol (1e-5) would be out of reach at times


@settings(max_examples=15, deadline=None)
@given(data=st.data(), name=st.sampled_from(["Cube", "Leaky", "ScaledAbs", "SinGate", "Normalize"]))
def test_correct_layers_pass_at_any_drawn_point_in_either_precision(data: st.DataObject, name: str) -> None:
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    make, width = LAYERS[name]
    layer = make(dtype, None)
    x = data.draw(layer_inputs(layer, width=width, rows=(2, 6), kinks=(0.0,), margin=0.05), label="x")
    assert_gradients(layer, x, seed=data.draw(st.integers(0, 2**16), label="seed"))


def test_assert_gradients_raises_with_the_table_and_the_reason() -> None:
    make, width = LAYERS["Cube"]
    with pytest.raises(AssertionError) as info:
        assert_gradients(make(np.float64, "sign"), point(width, 0))
    message = str(info.value)
    assert "abs tol" in message and "FAIL" in message and "disagree; worst at" in message


def test_assert_gradients_returns_the_report_of_a_pass() -> None:
    make, width = LAYERS["SinGate"]
    report = assert_gradients(make(np.float64, None), point(width, 0))
    assert report.passed and {result.tensor for result in report.results} == {"x", "a"}
