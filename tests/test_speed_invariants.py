"""The speed work keeps the math: blocked updates, work buffers and fused losses change no result.

Each optimization in refnet's hot path (cache-blocked optimizer updates, the Dense grad_z
work buffer, activation gradients written into ``out``, the fused loss value and
gradient, the dot-product finiteness check) is checked here against the plain formula.
"""

from __future__ import annotations

from typing import Any, TypedDict

import numpy as np
import pytest
from numpy.typing import NDArray

from gradcheck.suite.optim import ParameterHolder
from gradcheck.suite.stateful import RebindingMomentum
from refnet import MSE, SGD, Adam, BinaryCrossEntropy, CrossEntropy, Dense, NeuralNetwork
from refnet.functions import ACTIVATIONS
from refnet.support.packing import ParamState

DTYPES = [np.float32, np.float64]


def reference_sgd(theta, grads, lr, mu, nesterov):
    velocity = np.zeros_like(theta)
    for g in grads:
        if mu == 0:
            theta = theta - lr * g
            continue
        velocity = mu * velocity + g
        theta = theta - lr * (g + mu * velocity) if nesterov else theta - lr * velocity
    return theta


def reference_adam(theta, grads, lr, beta1, beta2, eps, wd):
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        theta = theta * (1 - lr * wd) - lr * m_hat / (np.sqrt(v_hat) + eps)
    return theta


# Sizes below and above one block of the blocked update (256 KiB: 32768 float64 or
# 65536 float32 elements), and a ragged last block.
SHAPES = [(3,), (7, 5), (300, 400), (513, 257)]


class Tolerances(TypedDict):
    rtol: float
    atol: float


def tolerances(dtype: type) -> Tolerances:
    """float64: a few roundings of numbers of order 1 (a float32 intermediate, ~1e-7, fails);
    float32: a few float32 roundings (eps 1.2e-7) over 4-5 steps."""
    return {"rtol": 1e-12, "atol": 1e-13} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-6}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("momentum", "nesterov"), [(0.0, False), (0.9, False), (0.9, True)])
def test_blocked_sgd_matches_the_formula(shape, dtype, momentum, nesterov) -> None:
    rng = np.random.default_rng(0)
    theta0 = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(4)]
    layer, optimizer = ParameterHolder(W=theta0), SGD(0.05, momentum=momentum, nesterov=nesterov)
    for g in grads:
        layer.grads["W"][...] = g
        optimizer.step([layer])
    expected = reference_sgd(theta0.astype(np.float64), [g.astype(np.float64) for g in grads], 0.05, momentum, nesterov)
    assert layer.params["W"].dtype == dtype
    np.testing.assert_allclose(layer.params["W"], expected, **tolerances(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_blocked_adam_matches_the_formula(shape, dtype, weight_decay) -> None:
    rng = np.random.default_rng(1)
    theta0 = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(5)]
    layer, optimizer = ParameterHolder(W=theta0), Adam(0.01, weight_decay=weight_decay)
    for g in grads:
        layer.grads["W"][...] = g
        optimizer.step([layer])
    expected = reference_adam(
        theta0.astype(np.float64), [g.astype(np.float64) for g in grads], 0.01, 0.9, 0.999, 1e-8, weight_decay
    )
    state = optimizer.state_for(layer, "W")
    assert layer.params["W"].dtype == state["m"].dtype == state["v"].dtype == dtype
    np.testing.assert_allclose(layer.params["W"], expected, **tolerances(dtype))


def test_an_update_that_rebinds_its_slot_is_blocked_correctly() -> None:
    # 513·257 float64 elements are four blocks and a ragged fifth: each block's rebound slot is copied back.
    rng = np.random.default_rng(5)
    theta0 = rng.standard_normal((513, 257))
    grads = [rng.standard_normal((513, 257)) for _ in range(3)]
    layer, optimizer = ParameterHolder(W=theta0), RebindingMomentum(0.05, momentum=0.9)
    for g in grads:
        layer.grads["W"][...] = g
        optimizer.step([layer])
    np.testing.assert_allclose(layer.params["W"], reference_sgd(theta0, grads, 0.05, 0.9, False), rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", [lambda: Adam(0.01, weight_decay=0.1), lambda: SGD(0.05, 0.9, nesterov=True)])
def test_the_blocked_step_is_bitwise_the_update_on_the_whole_array(dtype, make) -> None:
    rng = np.random.default_rng(6)
    theta0 = rng.standard_normal((513, 257)).astype(dtype)
    grads = [rng.standard_normal((513, 257)).astype(dtype) for _ in range(3)]
    layer, blocked = ParameterHolder(W=theta0), make()
    whole, theta = make(), theta0.copy()
    state: ParamState = {}
    for g in grads:
        layer.grads["W"][...] = g
        blocked.step([layer])
        whole.start_step(theta, state)
        whole.update(theta, g, state)  # the formula on the whole array at once
    assert layer.params["W"].tobytes() == theta.tobytes()


def test_non_contiguous_parameters_are_updated_in_place() -> None:
    theta = np.asfortranarray(np.arange(600.0).reshape(20, 30))
    layer = ParameterHolder(W=theta)
    layer.params["W"] = theta  # a Fortran-ordered live array: no flat view exists
    layer.grads["W"] = np.asfortranarray(np.ones((20, 30)))
    SGD(0.5).step([layer])
    np.testing.assert_array_equal(theta, np.arange(600.0).reshape(20, 30) - 0.5)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_function_into_out_equals_the_fresh_one(name, dtype) -> None:
    # Dense writes y = f(z) into its own z (``out=z``): the same numbers as a fresh y, and the
    # gradient leaves y and grad_y alone.
    activation = ACTIVATIONS[name]()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 5)).astype(dtype)
    fresh = activation.function(x)
    z = x.copy()
    in_place = activation.function(z, out=z)
    assert in_place.dtype == dtype
    np.testing.assert_array_equal(in_place, fresh)
    y, grad_y = fresh, rng.standard_normal((6, 5)).astype(dtype)
    y_before, grad_y_before = y.copy(), grad_y.copy()
    assert activation.gradient(y, grad_y).dtype == dtype
    assert np.array_equal(y, y_before) and np.array_equal(grad_y, grad_y_before)


def test_relu_gradient_is_grad_y_times_the_step_of_y() -> None:
    y = np.array([[0.0, 2.0, 0.0, 3.5]])
    grad_y = np.array([[1.0, -2.0, 3.0, 4.0]])
    np.testing.assert_array_equal(ACTIVATIONS["relu"]().gradient(y, grad_y), [[0.0, -2.0, 0.0, 4.0]])


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", None])
@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_backward_is_idempotent_and_leaves_its_inputs_alone(activation, dtype) -> None:
    layer = Dense(5, 4, activation, l2_lambda=0.1, seed=0, dtype=dtype)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 5)).astype(dtype)
    grad_y = rng.standard_normal((8, 4)).astype(dtype)
    x_before, grad_y_before = x.copy(), grad_y.copy()
    y = layer.forward(x)
    y_before = y.copy()
    grad_x_first = layer.backward(grad_y)
    grads_first = {key: value.copy() for key, value in layer.grads.items()}
    grad_x_second = layer.backward(grad_y)
    assert grad_x_first is not grad_x_second  # the caller's array is never reused as a buffer
    np.testing.assert_array_equal(grad_x_first, grad_x_second)
    for key, value in layer.grads.items():
        np.testing.assert_array_equal(value, grads_first[key])
        assert value.dtype == dtype
    assert np.array_equal(x, x_before) and np.array_equal(grad_y, grad_y_before) and np.array_equal(y, y_before)


def test_dense_work_buffer_follows_the_batch_size() -> None:
    layer = Dense(3, 2, "relu", seed=0)
    for rows in (4, 7, 4):
        x = np.ones((rows, 3))
        layer.forward(x)
        grad_x = layer.backward(np.ones((rows, 2)))
        assert grad_x.shape == (rows, 3)
        np.testing.assert_allclose(layer.grads["b"], rows * (layer.forward(x)[0] > 0))


def test_forward_outputs_are_not_overwritten_by_later_calls() -> None:
    net = NeuralNetwork([Dense(3, 4, "relu", seed=0), Dense(4, 2, seed=1)], MSE())
    first = net.predict(np.ones((2, 3)))
    kept = first.copy()
    net.predict(np.zeros((2, 3)))
    net.compute_gradients(np.zeros((2, 3)), np.zeros((2, 2)))
    np.testing.assert_array_equal(first, kept)


def softmax(z: NDArray[Any]) -> NDArray[Any]:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(z: NDArray[Any]) -> NDArray[Any]:
    return 1.0 / (1.0 + np.exp(-z))


# (loss, y_pred, y_true, textbook value, textbook dL/dy_pred), all in float64 (SPEC's table)
LOSS_CASES = [
    (
        MSE(),
        lambda rng: rng.standard_normal((6, 3)),
        lambda rng: rng.standard_normal((6, 3)),
        lambda p, y: np.mean((p - y) ** 2),
        lambda p, y: 2 * (p - y) / p.size,
    ),
    (
        CrossEntropy(),
        lambda rng: rng.standard_normal((6, 4)),
        lambda rng: rng.integers(0, 4, 6),
        lambda z, y: -np.mean(np.log(softmax(z))[np.arange(len(y)), y]),
        lambda z, y: (softmax(z) - np.eye(z.shape[1])[y]) / len(y),
    ),
    (
        BinaryCrossEntropy(),
        lambda rng: rng.uniform(0.05, 0.95, (6, 2)),
        lambda rng: rng.integers(0, 2, (6, 2)),
        lambda p, y: -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)),
        lambda p, y: (p - y) / (p * (1 - p)) / p.size,
    ),
    (
        BinaryCrossEntropy(from_logits=True),
        lambda rng: rng.standard_normal((6, 2)),
        lambda rng: rng.random((6, 2)),
        lambda z, y: np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))),
        lambda z, y: (sigmoid(z) - y) / z.size,
    ),
]


@pytest.mark.parametrize(("loss", "make_pred", "make_true", "value_of", "gradient_of"), LOSS_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_value_and_gradient_equal_the_textbook_formulas(
    loss, make_pred, make_true, value_of, gradient_of, dtype
) -> None:
    rng = np.random.default_rng(5)
    y_pred64, y_true = make_pred(rng), make_true(rng)
    y_pred = y_pred64.astype(dtype)
    target = loss.prepare_target(y_true, y_pred.shape, y_pred.dtype)
    y_pred_before = y_pred.copy()
    value, grad = loss.value_and_gradient(y_pred, target)
    # the separate methods give the very same numbers as the fused one
    assert value == loss.loss(y_pred, target)
    np.testing.assert_array_equal(grad, loss.gradient(y_pred, target))
    # and those are the textbook formulas (float32: rounding of the inputs and the arithmetic)
    tol: Tolerances = {"rtol": 1e-12, "atol": 1e-15} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-7}
    exact = y_pred.astype(np.float64)
    np.testing.assert_allclose(value, value_of(exact, y_true), **tol)
    np.testing.assert_allclose(grad, gradient_of(exact, y_true), **tol)
    assert grad.dtype == dtype
    assert np.array_equal(y_pred, y_pred_before)


@pytest.mark.parametrize("optimizer", [SGD(0.01, momentum=0.9, nesterov=True), Adam(0.01, weight_decay=0.01)])
def test_float32_training_never_upcasts(optimizer) -> None:
    layers = [
        Dense(6, 8, "tanh", seed=0, dtype=np.float32),
        Dense(8, 8, "sigmoid", seed=1, dtype=np.float32),
        Dense(8, 3, seed=2, dtype=np.float32),
    ]
    net = NeuralNetwork(layers, CrossEntropy(), seed=0)
    X = np.random.default_rng(6).standard_normal((10, 6)).astype(np.float32)
    net.train(X, np.arange(10) % 3, epochs=2, optimizer=optimizer, batch_size=4)
    arrays = [array for layer in net.layers for array in (*layer.params.values(), *layer.grads.values())]
    arrays += list(optimizer.state_arrays(net.layers).values())
    assert all(array.dtype == np.float32 for array in arrays if array.ndim)
    assert net.predict(X).dtype == np.float32
