"""``gradcheck.core.values.compare``: the one judgement of a value against its reference or closed form.

The numbers below are chosen against the default tolerances (closed_atol 1e-15, closed_rtol 1e-9),
so that each assertion sits on the side of a boundary the rule defines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from gradcheck.core.tolerances import DEFAULT_TOLERANCES
from gradcheck.core.values import compare

TOL = DEFAULT_TOLERANCES


def test_equal_values_pass_and_the_count_is_every_element() -> None:
    result = compare("y", [[1.0, 2.0], [3.0, 4.0]], np.array([[1.0, 2.0], [3.0, 4.0]]), TOL, "y = f(x)")
    assert result.verdict == "pass" and result.checked == 4
    assert result.method == "reference" and result.message == "y = f(x): equal to rounding"


def test_the_worst_element_is_reported_with_both_values() -> None:
    expected = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    actual = expected.copy()
    actual[1, 2] += 1e-3  # far outside the allowance
    actual[0, 0] += 1e-8  # outside too, but by less
    result = compare("y", expected, actual, TOL, "y = f(x)", component="Layer")
    assert result.verdict == "fail" and result.index == "(1, 2)" and result.component == "Layer"
    assert (result.analytic, result.numerical) == (6.0, 6.0 + 1e-3)
    assert "at (1, 2) the reference gives 6, the checked code 6.001" in result.message


def test_a_value_is_allowed_rounding_of_its_arrays_largest_magnitude() -> None:
    # An error of 5e-10 at an element of size 1e-3 is 0.5 of what 1e-9 · 1.0 (the array's largest) allows,
    # and 500 times what the element's own magnitude allows: a value passes, a history fails.
    expected = np.array([[1.0, 1e-3]])
    actual = expected + np.array([[0.0, 5e-10]])
    value = compare("y", expected, actual, TOL, "y")
    history = compare("θ", expected, actual, TOL, "θ_t", steps=True)
    assert value.verdict == "pass" and value.tolerance == TOL.closed_atol + TOL.closed_rtol * 1.0
    assert history.verdict == "fail" and history.index == "step 1, [1]"
    assert history.tolerance == TOL.closed_atol + TOL.closed_rtol * float(actual[0, 1])  # the larger of its two


def test_a_history_names_the_step_and_the_method() -> None:
    expected = np.array([[1.0, 2.0], [0.5, 1.0], [0.25, 0.5]])
    actual = expected.copy()
    actual[2, 1] *= 1 + 1e-6
    result = compare("θ", expected, actual, TOL, "θ_t = θ₀/2ᵗ", component="SGD", steps=True)
    assert result.verdict == "fail" and result.method == "closed form" and result.index == "step 3, [1]"
    # one step given as a vector or as a row is the same history
    assert compare("θ", expected[0], expected[:1], TOL, "θ₁", steps=True).verdict == "pass"


def test_a_shape_mismatch_and_a_nan_fail() -> None:
    shape = compare("y", np.zeros((2, 3)), np.zeros((3, 2)), TOL, "y")
    assert shape.verdict == "fail" and shape.index == "shape"
    assert "gives shape (3, 2), the reference (2, 3)" in shape.message
    nan = compare("y", [1.0, 2.0], [1.0, np.nan], TOL, "y")
    assert nan.verdict == "fail" and nan.index == "(1,)"


def test_a_scalar_is_indexed_as_the_empty_tuple() -> None:
    assert compare("L", 2.0, 2.0, TOL, "L").index == "()"
    assert compare("L", 2.0, 2.5, TOL, "L").verdict == "fail"


def test_gradcheck_defines_compare_once() -> None:
    package = Path(__file__).resolve().parents[1] / "gradcheck"
    definitions = [
        f"{path.relative_to(package)}:{node.lineno}"
        for path in sorted(package.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and "compare" in node.name
    ]
    assert definitions == ["core/values.py:31"], definitions
