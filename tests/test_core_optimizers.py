"""Optimizer updates against their formulas, written out here with scalar loops.

Gradients are set by hand on a layer's ``grads``, so each test controls exactly what the
optimizer sees; the reference runs the textbook recurrence element by element in Python floats.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from refnet import SGD, Adam, Dense

SETTINGS = settings(max_examples=30, deadline=None)
seeds = st.integers(0, 2**32 - 1)


def layer_with(W: NDArray[Any], dtype: type = np.float64) -> Dense:
    layer = Dense(W.shape[0], W.shape[1], dtype=dtype)
    layer.params["W"][:] = W
    return layer


def run(optimizer: SGD | Adam, layer: Dense, gradients: list[NDArray[Any]]) -> list[NDArray[Any]]:
    """Apply one step per gradient (bias gradient zero); return W after each step."""
    history = []
    for grad in gradients:
        layer.grads["W"][:] = grad
        layer.grads["b"][:] = 0.0
        optimizer.step([layer])
        history.append(layer.params["W"].copy())
    return history


def reference_adam(
    theta: float, grads: list[float], lr: float, b1: float, b2: float, eps: float, wd: float
) -> list[float]:
    """Kingma & Ba, Algorithm 1 (ε outside the root), decoupled weight decay first."""
    m = v = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        theta = theta * (1 - lr * wd)
        theta = theta - lr * m_hat / (math.sqrt(v_hat) + eps)
        out.append(theta)
    return out


@SETTINGS
@given(seeds, st.floats(1e-4, 0.5), st.floats(0.0, 0.99), st.floats(0.0, 0.9999), st.sampled_from([0.0, 0.01, 0.1]))
def test_adam_first_steps_match_the_formula(seed: int, lr: float, b1: float, b2: float, wd: float) -> None:
    rng = np.random.default_rng(seed)
    W0 = rng.normal(size=(3, 2))
    grads = [rng.normal(scale=s, size=(3, 2)) for s in (1.0, 0.1, 10.0, 1e-3)]
    history = run(Adam(lr, beta1=b1, beta2=b2, epsilon=1e-8, weight_decay=wd), layer_with(W0), grads)
    for index in np.ndindex(W0.shape):
        expected = reference_adam(float(W0[index]), [float(g[index]) for g in grads], lr, b1, b2, 1e-8, wd)
        actual = [W[index] for W in history]
        np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-12)


def test_adam_first_step_moves_each_weight_by_lr_against_the_gradient_sign() -> None:
    # t = 1: m̂ = g and v̂ = g², so the step is lr·g/(|g| + ε).
    W0 = np.array([[1.0, -1.0], [0.5, 2.0]])
    g = np.array([[3.0, -0.2], [1e-3, -50.0]])
    (W1,) = run(Adam(0.1, epsilon=1e-8), layer_with(W0), [g])
    np.testing.assert_allclose(W1, W0 - 0.1 * g / (np.abs(g) + 1e-8), rtol=1e-12)


def test_adam_epsilon_is_outside_the_square_root() -> None:
    # With g = 1e-8 and ε = 1e-8 the first step is lr·g/(g + ε) = lr/2; inside the root it would be ≈ lr·1e-4.
    (W1,) = run(Adam(1.0, epsilon=1e-8), layer_with(np.zeros((1, 1))), [np.full((1, 1), 1e-8)])
    assert W1[0, 0] == pytest.approx(-0.5, rel=1e-6)


@SETTINGS
@given(seeds, st.floats(1e-4, 0.5))
def test_sgd_without_momentum_steps_by_lr_times_gradient(seed: int, lr: float) -> None:
    rng = np.random.default_rng(seed)
    W0 = rng.normal(size=(2, 3))
    grads = [rng.normal(size=(2, 3)) for _ in range(3)]
    history = run(SGD(lr), layer_with(W0), grads)
    expected = W0.copy()
    for W, g in zip(history, grads):
        expected = expected - lr * g
        np.testing.assert_allclose(W, expected, rtol=1e-12, atol=1e-14)


def reference_momentum(theta: float, grads: list[float], lr: float, mu: float, nesterov: bool) -> list[float]:
    """v ← μ·v + g;  θ ← θ − lr·v;  nesterov: θ ← θ − lr·(g + μ·v)."""
    v = 0.0
    out = []
    for g in grads:
        v = mu * v + g
        theta = theta - lr * (g + mu * v if nesterov else v)
        out.append(theta)
    return out


@SETTINGS
@given(seeds, st.floats(1e-4, 0.5), st.floats(0.01, 0.99), st.booleans())
def test_sgd_momentum_and_nesterov_match_the_formula(seed: int, lr: float, mu: float, nesterov: bool) -> None:
    rng = np.random.default_rng(seed)
    W0 = rng.normal(size=(2, 2))
    grads = [rng.normal(size=(2, 2)) for _ in range(4)]
    history = run(SGD(lr, momentum=mu, nesterov=nesterov), layer_with(W0), grads)
    for index in np.ndindex(W0.shape):
        expected = reference_momentum(float(W0[index]), [float(g[index]) for g in grads], lr, mu, nesterov)
        np.testing.assert_allclose([W[index] for W in history], expected, rtol=1e-11, atol=1e-13)


def test_sgd_on_a_quadratic_follows_the_closed_form() -> None:
    # L = ½·a·θ²  ⇒  g = a·θ  ⇒  θ_t = (1 − lr·a)ᵗ·θ₀.
    a, lr, theta0 = 2.0, 0.1, 3.0
    layer = layer_with(np.full((1, 1), theta0))
    optimizer = SGD(lr)
    for t in range(1, 6):
        layer.grads["W"][:] = a * layer.params["W"]
        optimizer.step([layer])
        assert layer.params["W"][0, 0] == pytest.approx((1 - lr * a) ** t * theta0, rel=1e-12)


@pytest.mark.parametrize("make", [lambda: Adam(0.1), lambda: SGD(0.1, momentum=0.9)], ids=["adam", "momentum"])
def test_each_layer_has_its_own_optimizer_state(make: object) -> None:
    """Stepping two layers together equals stepping each with its own fresh optimizer."""
    rng = np.random.default_rng(0)
    W_a, W_b = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    grads_a = [rng.normal(size=(2, 2)) for _ in range(3)]
    grads_b = [rng.normal(size=(2, 2)) * 100 for _ in range(3)]
    shared = make()  # type: ignore[operator]
    a, b = layer_with(W_a), layer_with(W_b)
    for g_a, g_b in zip(grads_a, grads_b):
        a.grads["W"][:], b.grads["W"][:] = g_a, g_b
        a.grads["b"][:] = b.grads["b"][:] = 0
        shared.step([a, b])
    alone_a = run(make(), layer_with(W_a), grads_a)[-1]  # type: ignore[operator]
    alone_b = run(make(), layer_with(W_b), grads_b)[-1]  # type: ignore[operator]
    np.testing.assert_array_equal(a.params["W"], alone_a)
    np.testing.assert_array_equal(b.params["W"], alone_b)


def test_a_layer_not_stepped_keeps_its_adam_step_count() -> None:
    """Adam's t counts the steps of each parameter, not of the optimizer."""
    optimizer = Adam(0.1)
    busy, idle = layer_with(np.ones((1, 1))), layer_with(np.ones((1, 1)))
    for layer in (busy, idle):
        layer.grads["W"][:] = 1.0
    for _ in range(3):
        optimizer.step([busy])
    optimizer.step([idle])
    # idle's first step: m̂ = g, v̂ = g², so exactly lr·g/(|g| + ε).
    assert idle.params["W"][0, 0] == pytest.approx(1.0 - 0.1 / (1.0 + 1e-8), rel=1e-12)
    assert optimizer.state_for(idle, "W")["t"] == 1
    assert optimizer.state_for(busy, "W")["t"] == 3
