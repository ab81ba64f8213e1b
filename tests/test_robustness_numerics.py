"""Numerical extremes: saturating activations and the cross-entropies stay finite and quiet.

Logits reach ±1000 in float64 and ±100 in float32 (where exp overflows at ~88), and
probabilities are exactly 0 and 1. Warnings are errors for the whole suite (pyproject's
``filterwarnings``); on top, ``np.errstate`` makes overflow, invalid operations and division
by zero raise, so a result that is finite only by luck still fails.
"""

from __future__ import annotations

import math
from typing import Any, Literal, TypedDict

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from refnet import BinaryCrossEntropy, CrossEntropy, Dense, NeuralNetwork, Sigmoid, Softmax, Tanh

SETTINGS = settings(max_examples=40, deadline=None)


class Raise(TypedDict):
    over: Literal["raise"]
    invalid: Literal["raise"]
    divide: Literal["raise"]


RAISE: Raise = {"over": "raise", "invalid": "raise", "divide": "raise"}
DTYPES: list[type[np.floating[Any]]] = [np.float64, np.float32]
LIMITS = {np.float64: 1000.0, np.float32: 100.0}


@st.composite
def extreme_logits(draw: st.DrawFn, min_cols: int = 1) -> NDArray[Any]:
    """A (1..5, min_cols..5) matrix in float64 or float32 with values anywhere in ±limit, often at the ends."""
    dtype = draw(st.sampled_from(DTYPES))
    limit = LIMITS[dtype]
    width: Literal[32, 64] = 64 if dtype is np.float64 else 32
    values = st.one_of(st.sampled_from([-limit, limit, 0.0]), st.floats(-limit, limit, width=width))
    shape = draw(st.tuples(st.integers(1, 5), st.integers(min_cols, 5)))
    return draw(hnp.arrays(dtype, shape, elements=values))


def all_finite(*arrays: NDArray[Any]) -> bool:
    return all(bool(np.isfinite(array).all()) for array in arrays)


@SETTINGS
@given(extreme_logits())
def test_sigmoid_saturates_finitely_without_floating_point_errors(x: NDArray[Any]) -> None:
    activation = Sigmoid()
    with np.errstate(**RAISE):
        y = activation.forward(x)
        grad_x = activation.backward(np.ones_like(x))
    assert y.dtype == grad_x.dtype == x.dtype
    assert all_finite(y, grad_x)
    assert np.all((y >= 0) & (y <= 1))
    assert np.all((grad_x >= 0) & (grad_x <= 0.25))


def test_sigmoid_reaches_exactly_0_and_1_for_large_logits() -> None:
    with np.errstate(**RAISE):
        y = Sigmoid().forward(np.array([[-1e4, -1000.0, 1000.0, 1e4]]))
    np.testing.assert_array_equal(y, [[0.0, 0.0, 1.0, 1.0]])


@SETTINGS
@given(extreme_logits())
def test_tanh_saturates_finitely_without_floating_point_errors(x: NDArray[Any]) -> None:
    activation = Tanh()
    with np.errstate(**RAISE):
        y = activation.forward(x)
        grad_x = activation.backward(np.ones_like(x))
    assert all_finite(y, grad_x)
    assert np.all(np.abs(y) <= 1) and np.all((grad_x >= 0) & (grad_x <= 1))


@SETTINGS
@given(extreme_logits(min_cols=2))
def test_softmax_of_extreme_logits_is_a_finite_distribution(x: NDArray[Any]) -> None:
    activation = Softmax()
    with np.errstate(**RAISE):
        y = activation.forward(x)
        grad_x = activation.backward(np.ones_like(x))
    assert all_finite(y, grad_x)
    assert np.all((y >= 0) & (y <= 1))
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    # softmax's Jacobian has the all-ones vector in its left null space: a constant grad_y gives 0.
    np.testing.assert_allclose(grad_x, 0.0, atol=1e-6)


@SETTINGS
@given(st.data(), extreme_logits(min_cols=2))
def test_cross_entropy_of_extreme_logits_is_finite_with_finite_gradient(data: st.DataObject, z: NDArray[Any]) -> None:
    N, C = z.shape
    labels = np.array(data.draw(st.lists(st.integers(0, C - 1), min_size=N, max_size=N)))
    loss = CrossEntropy()
    with np.errstate(**RAISE):
        value = loss.forward(z, labels)
        grad = loss.backward()
    assert math.isfinite(value) and value >= 0
    # The worst case is the label's logit at −limit and another at +limit: 2·limit nats.
    assert value <= 2 * LIMITS[z.dtype.type] + math.log(C) + 1e-3
    assert all_finite(grad) and grad.dtype == z.dtype
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-6)


def test_cross_entropy_at_plus_minus_1000_has_the_exact_limits() -> None:
    z = np.array([[1000.0, -1000.0], [1000.0, -1000.0]])
    loss = CrossEntropy()
    with np.errstate(**RAISE):
        value = loss.forward(z, np.array([0, 1]))
        grad = loss.backward()
    assert value == pytest.approx((0.0 + 2000.0) / 2)
    np.testing.assert_allclose(grad, [[0.0, 0.0], [0.5, -0.5]], atol=1e-300)


@SETTINGS
@given(st.data(), extreme_logits())
def test_binary_cross_entropy_from_logits_is_finite_at_extremes(data: st.DataObject, z: NDArray[Any]) -> None:
    y = data.draw(hnp.arrays(z.dtype, z.shape, elements=st.sampled_from([0.0, 1.0, 0.5])))
    loss = BinaryCrossEntropy(from_logits=True)
    with np.errstate(**RAISE):
        value = loss.forward(z, y)
        grad = loss.backward()
    assert math.isfinite(value) and value >= 0
    assert value <= LIMITS[z.dtype.type] + math.log(2) + 1e-3  # |z| + log 2 bounds every term
    assert all_finite(grad)
    assert np.all(np.abs(grad) <= 1.0 / z.size + 1e-7)


def test_binary_cross_entropy_from_logits_at_plus_minus_1000_has_the_exact_limits() -> None:
    z = np.array([[1000.0, -1000.0, 1000.0, -1000.0]])
    y = np.array([[1.0, 0.0, 0.0, 1.0]])
    loss = BinaryCrossEntropy(from_logits=True)
    with np.errstate(**RAISE):
        value = loss.forward(z, y)
        grad = loss.backward()
    assert value == pytest.approx((0 + 0 + 1000 + 1000) / 4)
    np.testing.assert_array_equal(grad, [[0.0, 0.0, 0.25, -0.25]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_cross_entropy_on_probabilities_exactly_0_and_1_is_finite(dtype: type[np.floating[Any]]) -> None:
    p = np.array([[0.0, 1.0, 0.0, 1.0, 0.5]], dtype=dtype)
    y = np.array([[0.0, 1.0, 1.0, 0.0, 1.0]], dtype=dtype)
    loss = BinaryCrossEntropy()
    with np.errstate(**RAISE):
        value = loss.forward(p, y)
        grad = loss.backward()
    assert math.isfinite(value) and value > 0
    assert all_finite(grad) and grad.dtype == dtype
    # The gradient at the clip point still has the sign that moves p towards its target.
    assert grad[0, 0] > 0 and grad[0, 1] < 0 and grad[0, 2] < 0 and grad[0, 3] > 0


def bce_at_clip_point(p: float, eps: float) -> tuple[float, float]:
    """The textbook loss −log(p) and its gradient −1/(p(1 − p)) for target 1 at p clipped to [eps, 1 − eps],
    in Python floats: independent of refnet's array code."""
    clipped = min(max(p, eps), 1 - eps)
    return -math.log(clipped), -1 / (clipped * (1 - clipped))


@pytest.mark.parametrize("p", [0.0, 1.1e-7])
def test_binary_cross_entropy_in_float32_clips_at_the_documented_eps(p: float) -> None:
    # float32 cannot hold 1 − 1e-7 exactly, but 1e-7 it can (to 1e-15 relative): the lower clip point
    # is eps itself, not the dtype's epsilon 1.19e-7 (which put the loss 1.1 % and the gradient 16 % off).
    loss = BinaryCrossEntropy()
    value = loss.forward(np.array([[p]], dtype=np.float32), np.array([[1.0]], dtype=np.float32))
    grad = loss.backward()
    expected_value, expected_grad = bce_at_clip_point(float(np.float32(p)), 1e-7)
    assert value == pytest.approx(expected_value, rel=1e-6)
    assert float(grad[0, 0]) == pytest.approx(expected_grad, rel=1e-5)


def test_binary_cross_entropy_in_float64_honours_an_eps_below_the_dtype_epsilon() -> None:
    # 1 − 1e-20 rounds to 1 in float64: the upper clip point becomes the largest float64 below 1, the
    # lower one stays 1e-20 (the loss of p = 0 is −log(1e-20) ≈ 46.05, not −log(2.2e-16) ≈ 36.04).
    loss = BinaryCrossEntropy(eps=1e-20)
    value = loss.forward(np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]]))
    largest_below_one = float(np.nextafter(1.0, 0.0))
    assert value == pytest.approx((-math.log(1e-20) - math.log(1 - largest_below_one)) / 2, rel=1e-12)


@SETTINGS
@given(st.data(), st.sampled_from([np.float64, np.float32]))
def test_binary_cross_entropy_on_any_probabilities_is_finite(
    data: st.DataObject, dtype: type[np.floating[Any]]
) -> None:
    width: Literal[32, 64] = 64 if dtype is np.float64 else 32
    shape = data.draw(st.tuples(st.integers(1, 4), st.integers(1, 4)))
    values = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1, width=width))
    p = data.draw(hnp.arrays(dtype, shape, elements=values))
    y = data.draw(hnp.arrays(dtype, shape, elements=values))
    loss = BinaryCrossEntropy()
    with np.errstate(**RAISE):
        value = loss.forward(p, y)
        grad = loss.backward()
    assert math.isfinite(value) and value >= 0
    assert all_finite(grad)


@SETTINGS
@given(st.sampled_from(["sigmoid", "tanh", "softmax"]), st.sampled_from([np.float64, np.float32]), st.integers(0, 99))
def test_saturated_dense_layers_train_a_step_without_warnings(
    activation: str, dtype: type[np.floating[Any]], seed: int
) -> None:
    """Inputs scaled so the pre-activations reach the hundreds: the network stays finite."""
    rng = np.random.default_rng(seed)
    net = NeuralNetwork(
        [Dense(4, 3, activation, seed=seed, dtype=dtype), Dense(3, 2, seed=seed + 1, dtype=dtype)], CrossEntropy()
    )
    X = rng.normal(scale=LIMITS[dtype] / 2, size=(6, 4))
    labels = rng.integers(0, 2, size=6)
    with np.errstate(**RAISE):
        value = net.compute_gradients(X, labels)
    assert math.isfinite(value)
    assert all(all_finite(*layer.grads.values()) for layer in net.layers)
