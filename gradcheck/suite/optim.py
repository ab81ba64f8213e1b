"""Optimizer checks against closed forms: no finite differences, only exact sequences.

A tiny ``ParameterHolder`` layer holds parameters and hand-set gradients, so
``optimizer.step([layer])`` can be driven step by step and compared with:

Adam (β1, β2, ε, lr; m̂_t, v̂_t the bias-corrected moments of the gradients g_1..g_t):
- constant g:   m̂_t = g and v̂_t = g² exactly, so every step is   Δθ = lr·g/(|g| + ε);
- first step:   m̂_1 = g_1, v̂_1 = g_1²:                             Δθ = lr·g_1/(|g_1| + ε);
- g near ε:     ε outside the root gives lr·g/(|g| + ε) = lr/2 at g = ε, whereas
                ε inside, lr·g/√(g² + ε), would give ≈ lr·1e-4;
- any sequence: m̂_t = Σ_k (1−β1)·β1^(t−k)·g_k / (1 − β1ᵗ), v̂_t likewise with g², β2;
                this tells bias correction on from off, t from t ± 1, β1 from β2;
- two layers:   each follows its own sequence (state per layer and parameter, own t);
- AdamW, g = 0: θ_t = θ_0·(1 − lr·wd)ᵗ.
SGD (lr, μ):
- on ½·a·θ² (g = a·θ):     θ_t = (1 − lr·a)ᵗ·θ_0;
- momentum, constant g:    v_k = g·(1 − μᵏ)/(1 − μ),  θ_t = θ_0 − lr·Σ_k v_k
                           = θ_0 − lr·g/(1 − μ)·(t − μ(1 − μᵗ)/(1 − μ));
- Nesterov, constant g:    θ_t = θ_0 − lr·(t·g + μ·Σ_k v_k);
- zero gradient:           θ unchanged, with or without momentum.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gradcheck.core.lines import Array
from gradcheck.core.results import CheckResult, Report
from gradcheck.core.tolerances import DEFAULT_TOLERANCES, Tolerances
from gradcheck.core.values import compare
from refnet.base import Layer
from refnet.optimizers import SGD, Adam, Optimizer

OptimizerFactory = Callable[..., Optimizer]


class ParameterHolder(Layer):
    """A stand-in layer that only holds parameters (copies; float64 unless given a float array) and their gradients."""

    def __init__(self, **params: Any) -> None:
        super().__init__()
        arrays = {key: np.array(value) for key, value in params.items()}
        self.params = {key: a if a.dtype.kind == "f" else a.astype(np.float64) for key, a in arrays.items()}
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}


def run_steps(optimizer: Optimizer, layers: list[ParameterHolder], gradients: list[list[Array]]) -> list[Array]:
    """Set each layer's grads["W"] from ``gradients[step][layer]`` and step; return θ after each step, per layer."""
    history: list[list[Array]] = [[] for _ in layers]
    for step_gradients in gradients:
        for layer, gradient in zip(layers, step_gradients, strict=True):
            np.copyto(layer.grads["W"], gradient)
        optimizer.step(layers)
        for record, layer in zip(history, layers, strict=True):
            record.append(layer.params["W"].copy())
    return [np.array(record) for record in history]


def adam_steps(theta0: Array, gradients: Array, lr: float, beta1: float, beta2: float, eps: float) -> Array:
    """θ after each step, from the closed-form moments m̂_t, v̂_t of the sequence g_1..g_t."""
    theta, thetas = theta0.copy(), []
    for t in range(1, len(gradients) + 1):
        weights1 = (1 - beta1) * beta1 ** np.arange(t - 1, -1, -1.0)
        weights2 = (1 - beta2) * beta2 ** np.arange(t - 1, -1, -1.0)
        m_hat = weights1 @ gradients[:t] / (1 - beta1**t)
        v_hat = weights2 @ gradients[:t] ** 2 / (1 - beta2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        thetas.append(theta)
    return np.array(thetas)


def adam_constant_gradient(adam: OptimizerFactory = Adam, tol: Tolerances = DEFAULT_TOLERANCES) -> CheckResult:
    """Constant g: every Adam step is exactly lr·g/(|g| + ε)."""
    lr, eps, steps = 0.01, 1e-8, 25
    g = np.array([0.5, -2.0, 1e-3, -3e-6, 40.0])
    layer = ParameterHolder(W=[1.0, -0.5, 0.2, 3.0, -1.0])
    thetas = run_steps(adam(learning_rate=lr, epsilon=eps), [layer], [[g]] * steps)[0]
    moves = -np.diff(np.vstack([[1.0, -0.5, 0.2, 3.0, -1.0], thetas]), axis=0)
    expected = np.tile(lr * g / (np.abs(g) + eps), (steps, 1))
    return compare("constant g", expected, moves, tol, "Δθ = lr·g/(|g|+ε) at every step", component="Adam", steps=True)


def adam_first_step(adam: OptimizerFactory = Adam, tol: Tolerances = DEFAULT_TOLERANCES) -> CheckResult:
    """The first step, for any betas: θ_1 = θ_0 − lr·g/(|g| + ε)."""
    lr, eps = 0.003, 1e-8
    theta0 = np.array([0.3, -1.2, 2.0, 0.0, 5.0, -0.7])
    g = np.array([1.5, -0.02, 7.0, 2e-7, -300.0, 0.4])
    layer = ParameterHolder(W=theta0)
    optimizer = adam(learning_rate=lr, beta1=0.8, beta2=0.99, epsilon=eps)
    theta1 = run_steps(optimizer, [layer], [[g]])[0]
    return compare(
        "first step",
        theta0 - lr * g / (np.abs(g) + eps),
        theta1,
        tol,
        "θ₁ = θ₀ − lr·g/(|g|+ε)",
        component="Adam",
        steps=True,
    )


def adam_epsilon_outside_root(adam: OptimizerFactory = Adam, tol: Tolerances = DEFAULT_TOLERANCES) -> CheckResult:
    """A gradient near ε: lr·g/(|g| + ε) (ε outside the root), not lr·g/√(g² + ε)."""
    lr, eps = 0.01, 1e-8
    g = np.array([1e-8, -1e-8, 3e-8, 2e-9, -5e-7])
    layer = ParameterHolder(W=np.ones(5))
    theta1 = run_steps(adam(learning_rate=lr, epsilon=eps), [layer], [[g]])[0]
    return compare(
        "g near ε",
        1 - lr * g / (np.abs(g) + eps),
        theta1,
        tol,
        "θ₁ = θ₀ − lr·g/(|g|+ε), g ≈ ε",
        component="Adam",
        steps=True,
    )


def adam_bias_correction(adam: OptimizerFactory = Adam, tol: Tolerances = DEFAULT_TOLERANCES) -> CheckResult:
    """A changing gradient: θ_t from the closed-form bias-corrected moments (β1 = 0.9, β2 = 0.999)."""
    lr, beta1, beta2, eps = 0.01, 0.9, 0.999, 1e-8
    theta0 = np.array([0.5, -1.0, 2.0, 0.1])
    gradients = np.array([[1.0, -2.0, 0.3, 0.0], [-0.5, 1.0, 0.3, 2.0], [2.0, 0.5, -0.1, 1.0], [0.1, 0.1, 3.0, -1.0]])
    layer = ParameterHolder(W=theta0)
    optimizer = adam(learning_rate=lr, beta1=beta1, beta2=beta2, epsilon=eps)
    thetas = run_steps(optimizer, [layer], [[g] for g in gradients])[0]
    expected = adam_steps(theta0, gradients, lr, beta1, beta2, eps)
    return compare(
        "bias correction", expected, thetas, tol, "m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ)", component="Adam", steps=True
    )


def adam_per_layer_state(adam: OptimizerFactory = Adam, tol: Tolerances = DEFAULT_TOLERANCES) -> CheckResult:
    """Two layers with a parameter of the same name: each follows its own sequence and its own t.

    Layer A is stepped alone twice, then both layers three times (A reaches t = 5, B t = 3).
    """
    lr, beta1, beta2, eps = 0.02, 0.9, 0.999, 1e-8
    rng = np.random.default_rng(7)
    theta_a, theta_b = np.array([1.0, -1.0, 0.5]), np.array([-2.0, 0.3, 0.0])
    grads_a, grads_b = rng.standard_normal((5, 3)), 10.0 * rng.standard_normal((3, 3))
    a, b = ParameterHolder(W=theta_a), ParameterHolder(W=theta_b)
    optimizer = adam(learning_rate=lr, beta1=beta1, beta2=beta2, epsilon=eps)
    alone = run_steps(optimizer, [a], [[g] for g in grads_a[:2]])[0]
    together = run_steps(optimizer, [a, b], [[ga, gb] for ga, gb in zip(grads_a[2:], grads_b, strict=True)])
    actual = np.hstack([np.vstack([alone, together[0]]), np.vstack([np.tile(theta_b, (2, 1)), together[1]])])
    expected_a = adam_steps(theta_a, grads_a, lr, beta1, beta2, eps)
    expected_b = np.vstack([np.tile(theta_b, (2, 1)), adam_steps(theta_b, grads_b, lr, beta1, beta2, eps)])
    expected = np.hstack([expected_a, expected_b])
    return compare(
        "per-layer state", expected, actual, tol, "two layers, own moments and own t", component="Adam", steps=True
    )


def adamw_zero_gradient(adam: OptimizerFactory = Adam, tol: Tolerances = DEFAULT_TOLERANCES) -> CheckResult:
    """AdamW with g = 0: θ_t = θ_0·(1 − lr·wd)ᵗ."""
    lr, wd, steps = 0.01, 0.1, 30
    theta0 = np.array([1.0, -2.0, 0.25, 7.0])
    layer = ParameterHolder(W=theta0)
    thetas = run_steps(adam(learning_rate=lr, weight_decay=wd), [layer], [[np.zeros(4)]] * steps)[0]
    expected = theta0 * (1 - lr * wd) ** np.arange(1, steps + 1)[:, None]
    return compare("AdamW, g = 0", expected, thetas, tol, "θ_t = θ₀(1 − lr·wd)ᵗ", component="Adam", steps=True)


def sgd_quadratic(sgd: OptimizerFactory = SGD, tol: Tolerances = DEFAULT_TOLERANCES) -> CheckResult:
    """SGD on ½·a·θ² (g = a·θ): θ_t = (1 − lr·a)ᵗ·θ_0."""
    lr, steps = 0.05, 30
    a, theta0 = np.array([0.5, 2.0, 10.0, 30.0]), np.array([1.0, -3.0, 0.5, 2.0])
    layer, optimizer, thetas = ParameterHolder(W=theta0), sgd(learning_rate=lr), []
    for _ in range(steps):
        np.copyto(layer.grads["W"], a * layer.params["W"])
        optimizer.step([layer])
        thetas.append(layer.params["W"].copy())
    expected = (1 - lr * a) ** np.arange(1, steps + 1)[:, None] * theta0
    return compare("½·a·θ²", expected, np.array(thetas), tol, "θ_t = (1 − lr·a)ᵗ·θ₀", component="SGD", steps=True)


def _momentum_sums(mu: float, steps: int) -> Array:
    """Σ_{k=1..t} (1 − μᵏ)/(1 − μ) = (t − μ(1 − μᵗ)/(1 − μ))/(1 − μ) for t = 1..steps."""
    t = np.arange(1, steps + 1, dtype=np.float64)
    return (t - mu * (1 - mu**t) / (1 - mu)) / (1 - mu)


def sgd_momentum(sgd: OptimizerFactory = SGD, tol: Tolerances = DEFAULT_TOLERANCES) -> CheckResult:
    """Momentum on a constant g: θ_t = θ_0 − lr·g·Σ_k (1 − μᵏ)/(1 − μ)."""
    lr, mu, steps = 0.1, 0.9, 20
    g, theta0 = np.array([1.0, -0.5, 3.0]), np.array([0.0, 1.0, -2.0])
    thetas = run_steps(sgd(learning_rate=lr, momentum=mu), [ParameterHolder(W=theta0)], [[g]] * steps)[0]
    expected = theta0 - lr * _momentum_sums(mu, steps)[:, None] * g
    return compare("momentum", expected, thetas, tol, "θ_t = θ₀ − lr·g·Σ(1−μᵏ)/(1−μ)", component="SGD", steps=True)


def sgd_nesterov(sgd: OptimizerFactory = SGD, tol: Tolerances = DEFAULT_TOLERANCES) -> CheckResult:
    """Nesterov on a constant g: θ_t = θ_0 − lr·(t·g + μ·g·Σ_k (1 − μᵏ)/(1 − μ))."""
    lr, mu, steps = 0.1, 0.9, 20
    g, theta0 = np.array([1.0, -0.5, 3.0]), np.array([0.0, 1.0, -2.0])
    optimizer = sgd(learning_rate=lr, momentum=mu, nesterov=True)
    thetas = run_steps(optimizer, [ParameterHolder(W=theta0)], [[g]] * steps)[0]
    t = np.arange(1, steps + 1, dtype=np.float64)
    expected = theta0 - lr * (t + mu * _momentum_sums(mu, steps))[:, None] * g
    return compare("nesterov", expected, thetas, tol, "θ_t = θ₀ − lr·(t·g + μ·Σv_k)", component="SGD", steps=True)


def sgd_zero_gradient(sgd: OptimizerFactory = SGD, tol: Tolerances = DEFAULT_TOLERANCES) -> CheckResult:
    """g = 0 leaves θ unchanged: plain, momentum and Nesterov SGD, ten steps each."""
    theta0 = np.array([1.0, -2.0, 0.5])
    variants = [{}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True}]
    runs = [
        run_steps(sgd(learning_rate=0.1, **kwargs), [ParameterHolder(W=theta0)], [[np.zeros(3)]] * 10)[0]
        for kwargs in variants
    ]
    return compare("g = 0", np.tile(theta0, (10, 3)), np.hstack(runs), tol, "θ_t = θ₀", component="SGD", steps=True)


ClosedFormCheck = Callable[[OptimizerFactory, Tolerances], CheckResult]

ADAM_CHECKS: dict[str, ClosedFormCheck] = {
    "constant gradient": adam_constant_gradient,
    "first step": adam_first_step,
    "epsilon outside root": adam_epsilon_outside_root,
    "bias correction": adam_bias_correction,
    "per-layer state": adam_per_layer_state,
    "AdamW zero gradient": adamw_zero_gradient,
}
SGD_CHECKS: dict[str, ClosedFormCheck] = {
    "quadratic": sgd_quadratic,
    "momentum": sgd_momentum,
    "nesterov": sgd_nesterov,
    "zero gradient": sgd_zero_gradient,
}


def check_optimizers(
    sgd: OptimizerFactory = SGD, adam: OptimizerFactory = Adam, tolerances: Tolerances = DEFAULT_TOLERANCES
) -> Report:
    """Every closed-form check, for the given SGD and Adam classes (or factories)."""
    start = time.perf_counter()
    results = [check(adam, tolerances) for check in ADAM_CHECKS.values()]
    results += [check(sgd, tolerances) for check in SGD_CHECKS.values()]
    return Report(results, time.perf_counter() - start)
