"""Forward values of every activation and loss, against formulas written out here with ``math``.

The reference implementations below loop over elements with the textbook definitions, so
they share no code (and no vectorization trick) with refnet.
"""

from __future__ import annotations

import math
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from refnet import MSE, BinaryCrossEntropy, CrossEntropy, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh

SETTINGS = settings(max_examples=40, deadline=None)


def matrices(low: float = -30.0, high: float = 30.0, min_cols: int = 1) -> st.SearchStrategy[NDArray[Any]]:
    """float64 matrices of shape (1..6, min_cols..5) with values in [low, high]."""
    shapes = hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6).filter(lambda s: s[1] >= min_cols)
    return hnp.arrays(np.float64, shapes, elements=st.floats(low, high, allow_nan=False, allow_infinity=False))


def elementwise(function: object, x: NDArray[Any]) -> NDArray[Any]:
    return np.array([[function(value) for value in row] for row in x])  # type: ignore[operator]


def reference_sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value)) if value >= 0 else math.exp(value) / (1.0 + math.exp(value))


@SETTINGS
@given(matrices())
def test_identity_returns_its_input(x: NDArray[Any]) -> None:
    np.testing.assert_array_equal(Identity().forward(x), x)


@SETTINGS
@given(matrices())
def test_relu_is_max_of_x_and_zero(x: NDArray[Any]) -> None:
    expected = elementwise(lambda v: v if v > 0 else 0.0, x)
    np.testing.assert_array_equal(ReLU().forward(x), expected)


@SETTINGS
@given(matrices(), st.floats(0.0, 0.99))
def test_leaky_relu_scales_negatives_by_alpha(x: NDArray[Any], alpha: float) -> None:
    expected = elementwise(lambda v: v if v > 0 else alpha * v, x)
    np.testing.assert_allclose(LeakyReLU(alpha).forward(x), expected, rtol=1e-15, atol=0)


@SETTINGS
@given(matrices())
def test_sigmoid_is_one_over_one_plus_exp_minus_x(x: NDArray[Any]) -> None:
    np.testing.assert_allclose(Sigmoid().forward(x), elementwise(reference_sigmoid, x), rtol=1e-14, atol=1e-300)


@SETTINGS
@given(matrices())
def test_tanh_is_the_hyperbolic_tangent(x: NDArray[Any]) -> None:
    expected = elementwise(lambda v: (math.exp(2 * v) - 1) / (math.exp(2 * v) + 1), x)
    np.testing.assert_allclose(Tanh().forward(x), expected, rtol=1e-12, atol=1e-15)


@SETTINGS
@given(matrices(min_cols=1))
def test_softmax_rows_are_exp_over_sum_of_exp(x: NDArray[Any]) -> None:
    expected = []
    for row in x:
        exps = [math.exp(v) for v in row]
        expected.append([e / sum(exps) for e in exps])
    y = Softmax().forward(x)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-14)


@SETTINGS
@given(st.data(), matrices(-10, 10))
def test_mse_is_mean_of_squared_differences(data: st.DataObject, y_pred: NDArray[Any]) -> None:
    y_true = data.draw(hnp.arrays(np.float64, y_pred.shape, elements=st.floats(-10, 10)))
    squares = [(p - t) ** 2 for p, t in zip(y_pred.ravel(), y_true.ravel())]
    assert MSE().forward(y_pred, y_true) == pytest.approx(sum(squares) / len(squares), rel=1e-12, abs=1e-300)


def reference_cross_entropy(logits: NDArray[Any], target_rows: list[list[float]]) -> float:
    """−(1/N) Σ_n Σ_c y_nc · log(exp(z_nc) / Σ_k exp(z_nk)), with the max subtracted for math.exp."""
    total = 0.0
    for row, target in zip(logits, target_rows):
        top = max(row)
        log_norm = top + math.log(sum(math.exp(v - top) for v in row))
        total -= sum(t * (v - log_norm) for v, t in zip(row, target))
    return total / len(logits)


@SETTINGS
@given(st.data(), matrices(-20, 20, min_cols=2))
def test_cross_entropy_with_int_labels_is_mean_negative_log_softmax(data: st.DataObject, logits: NDArray[Any]) -> None:
    N, C = logits.shape
    labels = np.array(data.draw(st.lists(st.integers(0, C - 1), min_size=N, max_size=N)))
    one_hot = [[1.0 if c == label else 0.0 for c in range(C)] for label in labels]
    expected = reference_cross_entropy(logits, one_hot)
    assert CrossEntropy().forward(logits, labels) == pytest.approx(expected, rel=1e-10, abs=1e-12)


@SETTINGS
@given(st.data(), matrices(-20, 20, min_cols=2))
def test_cross_entropy_with_probability_rows_matches_formula(data: st.DataObject, logits: NDArray[Any]) -> None:
    weights = data.draw(hnp.arrays(np.float64, logits.shape, elements=st.floats(0.01, 1.0)))
    rows = (weights / weights.sum(axis=1, keepdims=True)).tolist()
    expected = reference_cross_entropy(logits, rows)
    assert CrossEntropy().forward(logits, np.array(rows)) == pytest.approx(expected, rel=1e-10, abs=1e-12)


@SETTINGS
@given(st.data(), matrices(-20, 20, min_cols=2))
def test_cross_entropy_int_labels_and_one_hot_agree(data: st.DataObject, logits: NDArray[Any]) -> None:
    N, C = logits.shape
    labels = np.array(data.draw(st.lists(st.integers(0, C - 1), min_size=N, max_size=N)))
    one_hot = np.eye(C)[labels]
    loss_labels, loss_one_hot = CrossEntropy(), CrossEntropy()
    assert loss_labels.forward(logits, labels) == loss_one_hot.forward(logits, one_hot)
    np.testing.assert_array_equal(loss_labels.backward(), loss_one_hot.backward())


@SETTINGS
@given(st.data(), matrices(0.001, 0.999))
def test_binary_cross_entropy_on_probabilities_matches_formula(data: st.DataObject, p: NDArray[Any]) -> None:
    y = data.draw(hnp.arrays(np.float64, p.shape, elements=st.floats(0, 1)))
    terms = [t * math.log(q) + (1 - t) * math.log(1 - q) for q, t in zip(p.ravel(), y.ravel())]
    expected = -sum(terms) / len(terms)
    assert BinaryCrossEntropy().forward(p, y) == pytest.approx(expected, rel=1e-10, abs=1e-12)


@SETTINGS
@given(st.data(), matrices(-30, 30))
def test_binary_cross_entropy_from_logits_equals_bce_of_sigmoid(data: st.DataObject, z: NDArray[Any]) -> None:
    y = data.draw(hnp.arrays(np.float64, z.shape, elements=st.floats(0, 1)))
    terms = []
    for logit, t in zip(z.ravel(), y.ravel()):
        # log σ(z) = −log(1 + e^{−z}),  log(1 − σ(z)) = −log(1 + e^{z}), each evaluated where it cannot overflow.
        log_p = -math.log1p(math.exp(-logit)) if logit >= 0 else logit - math.log1p(math.exp(logit))
        log_1mp = -logit - math.log1p(math.exp(-logit)) if logit >= 0 else -math.log1p(math.exp(logit))
        terms.append(t * log_p + (1 - t) * log_1mp)
    expected = -sum(terms) / len(terms)
    assert BinaryCrossEntropy(from_logits=True).forward(z, y) == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_binary_cross_entropy_clips_probabilities_at_eps() -> None:
    eps = 1e-7
    p = np.array([[0.0, 1.0]])
    y = np.array([[1.0, 0.0]])
    # Both terms are the worst case −log(eps) once p is clipped to [eps, 1 − eps].
    expected = -(math.log(eps) + math.log1p(-(1 - eps))) / 2
    assert BinaryCrossEntropy(eps=eps).forward(p, y) == pytest.approx(expected, rel=1e-9)
