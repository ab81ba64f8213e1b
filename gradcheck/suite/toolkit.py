"""The learner's toolkit (issue 22) against its textbook formulas, gradients and closed forms.

The references here are written from the formulas in plain Python (``math``, lists, one element at
a time), as in ``gradcheck.suite.textbook``, and the derivatives in terms of the input z:

- ELU(alpha):  f = z if z > 0 else alpha·(e^z − 1);            f' = 1 if z > 0 else alpha·e^z  (alpha at 0)
- SELU:        f = λ·z if z > 0 else λ·α·(e^z − 1);            f' = λ if z > 0 else λ·α·e^z    (λ·α at 0)
               with PyTorch's α = 1.6732632423543772, λ = 1.0507009873554805
- Softplus:    f = log(1 + e^z) (as z + log(1 + e^(−z)) for z > 0); f' = σ(z)
- MAE:         mean |ŷ − y|;              dL/dŷ = sign(ŷ − y)/size, 0 at 0
- Huber(δ):    mean of ½d² (|d| <= δ), δ(|d| − ½δ) (else);     dL/dŷ = clip(d, −δ, δ)/size
- MulticlassHinge(m): (1/N) Σ_n Σ_{j≠y} max(0, s_j − s_y + m); a term counts where it is > 0
- RMSProp, constant g:  v_t = (1 − ρᵗ)·g², so step t is lr·g/(√(1 − ρᵗ)·|g| + ε)
  any sequence:         v_t = Σ_k (1 − ρ)·ρ^(t−k)·g_k²;  momentum b_t = Σ_k μ^(t−k)·g_k/(√v_k + ε)
- AdaGrad, constant g:  G_t = t·g², so step t is lr·g/(√t·|g| + ε);  any sequence: G_t = Σ_k g_k²
- Adam amsgrad:         v̂_t = max_{k<=t} v_k / (1 − β2ᵗ) with v_k the (uncorrected) second moment
- initializers: the same Generator's draws scaled by the formula (he_uniform: −a + 2a·U, a = √(6/fan_in);
  glorot_normal: Z·√(2/(fan_in + fan_out)); lecun_normal: Z·√(1/fan_in)), their moments over a large
  draw, and orthogonal: Gram–Schmidt of the same normal draw (R's diagonal positive), WᵀW = I;
- linear_warmup(W, cosine_decay(E)): lr0·(f + (1 − f)·e/W) for e < W, then the cosine from e − W;
- freezing: every optimizer leaves a frozen layer's θ at θ₀, and clips by the live layers' norm alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gradcheck.checks import check_layer, check_loss
from gradcheck.core.kinks import draw_away, push_from_zero
from gradcheck.core.lines import Array
from gradcheck.core.results import CheckResult, Report
from gradcheck.core.tolerances import DEFAULT_TOLERANCES, Tolerances
from gradcheck.core.values import compare
from gradcheck.suite import textbook
from gradcheck.suite.cases import Runner, seed_from
from gradcheck.suite.optim import OptimizerFactory, ParameterHolder, adam_steps, run_steps
from gradcheck.suite.references import ValueCheck, rows, runner, vector
from gradcheck.suite.references import loss as loss_reference
from gradcheck.suite.stateful import drive_scheduler
from refnet.callbacks import LearningRateScheduler, Schedule, cosine_decay, linear_warmup
from refnet.functions import ELU, SELU, Activation, Softplus
from refnet.initializers import glorot_normal, he_uniform, lecun_normal, orthogonal
from refnet.layer import Dense
from refnet.losses import MAE, Huber, Loss, MulticlassHinge
from refnet.optimizers import SGD, AdaGrad, Adam, Optimizer, RMSProp

Matrix = textbook.Matrix
Scalar = Callable[[float], float]

#: SELU's constants as PyTorch writes them (the contract's), not read from refnet.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

# -- textbook formulas ------------------------------------------------------------------------


def elu(alpha: float) -> tuple[Scalar, Scalar]:
    """(f, f') of ELU: z or alpha·(e^z − 1);  1 or alpha·e^z (the left branch at 0)."""
    return (lambda z: z if z > 0 else alpha * (math.exp(z) - 1.0)), (lambda z: 1.0 if z > 0 else alpha * math.exp(z))


def selu() -> tuple[Scalar, Scalar]:
    """(f, f') of SELU: λ·z or λ·α·(e^z − 1);  λ or λ·α·e^z (the left branch at 0)."""
    lam, alpha = SELU_SCALE, SELU_ALPHA
    return (
        (lambda z: lam * z if z > 0 else lam * alpha * (math.exp(z) - 1.0)),
        (lambda z: lam if z > 0 else lam * alpha * math.exp(z)),
    )


def softplus() -> tuple[Scalar, Scalar]:
    """(f, f') of softplus: log(1 + e^z), for z > 0 written z + log(1 + e^(−z)) (no overflow);  σ(z)."""
    return (lambda z: z + math.log1p(math.exp(-z)) if z > 0 else math.log1p(math.exp(z))), textbook.sigmoid


def elementwise(f: Scalar, z: Matrix) -> Matrix:
    return [[f(value) for value in row] for row in z]


def times(grad_y: Matrix, derivative: Scalar, z: Matrix) -> Matrix:
    """grad_y·f'(z), elementwise."""
    return [[g * derivative(v) for v, g in zip(row, grow, strict=True)] for row, grow in zip(z, grad_y, strict=True)]


def mae(y_pred: Matrix, y: Matrix) -> float:
    terms = [abs(p - t) for pr, tr in zip(y_pred, y, strict=True) for p, t in zip(pr, tr, strict=True)]
    return sum(terms) / len(terms)


def mae_gradient(y_pred: Matrix, y: Matrix) -> Matrix:
    size = len(y_pred) * len(y_pred[0])
    return [
        [textbook.sign(p - t) / size for p, t in zip(pr, tr, strict=True)] for pr, tr in zip(y_pred, y, strict=True)
    ]


def huber(delta: float) -> tuple[Callable[[Matrix, Matrix], float], Callable[[Matrix, Matrix], Matrix]]:
    """(value, gradient) of the mean Huber loss with threshold delta."""

    def term(d: float) -> float:
        return 0.5 * d * d if abs(d) <= delta else delta * (abs(d) - 0.5 * delta)

    def slope(d: float) -> float:
        return d if abs(d) <= delta else delta * textbook.sign(d)

    def value(y_pred: Matrix, y: Matrix) -> float:
        terms = [term(p - t) for pr, tr in zip(y_pred, y, strict=True) for p, t in zip(pr, tr, strict=True)]
        return sum(terms) / len(terms)

    def gradient(y_pred: Matrix, y: Matrix) -> Matrix:
        size = len(y_pred) * len(y_pred[0])
        return [[slope(p - t) / size for p, t in zip(pr, tr, strict=True)] for pr, tr in zip(y_pred, y, strict=True)]

    return value, gradient


def hinge(margin: float) -> tuple[Callable[[Matrix, Matrix], float], Callable[[Matrix, Matrix], Matrix]]:
    """(value, gradient) of cs231n's SVM loss, from one-hot target rows (the label is the row's 1)."""

    def value(s: Matrix, y: Matrix) -> float:
        total = 0.0
        for row, target in zip(s, y, strict=True):
            label = textbook.argmax(target)
            total += sum(max(0.0, row[j] - row[label] + margin) for j in range(len(row)) if j != label)
        return total / len(s)

    def gradient(s: Matrix, y: Matrix) -> Matrix:
        grads = []
        for row, target in zip(s, y, strict=True):
            label = textbook.argmax(target)
            grad = [0.0] * len(row)
            for j in range(len(row)):
                if j != label and row[j] - row[label] + margin > 0:
                    grad[j] += 1.0 / len(s)
                    grad[label] -= 1.0 / len(s)
            grads.append(grad)
        return grads

    return value, gradient


# -- activations: values, and gradients alone and inside Dense --------------------------------

ACTIVATIONS: dict[str, tuple[type[Activation], Callable[[], tuple[Scalar, Scalar]]]] = {
    "elu": (ELU, lambda: elu(1.0)),
    "selu": (SELU, selu),
    "softplus": (Softplus, softplus),
}


def activation_values(make: Callable[[], Activation], formulas: tuple[Scalar, Scalar]) -> ValueCheck:
    """y = f(x) and grad_x = grad_y·f'(x) at random x and at 0, ±30, ±1000 (f' at 0: the left branch)."""
    f, derivative = formulas

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        layer = make()
        x, grad_y = 1.5 * rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
        x[0] = [0.0, -30.0, 30.0, -1000.0, 1000.0]
        y = layer.forward(x.copy())
        grad_x = layer.backward(grad_y)
        y_out = layer.function(x.copy(), out=np.empty_like(x))
        in_place = x.copy()
        layer.function(in_place, out=in_place)  # Dense's path: z overwritten by y
        expected_y, expected_grad = elementwise(f, rows(x)), times(rows(grad_y), derivative, rows(x))
        return [
            compare("y", expected_y, y, tol, "y = f(x)"),
            compare("grad_x", expected_grad, grad_x, tol, "grad_x = grad_y·f'(x)"),
            compare("function(x, out)", expected_y, y_out, tol, "f(x) into a buffer"),
            compare("function(x, out=x)", expected_y, in_place, tol, "f(x) over x itself"),
        ]

    return check


def named(name: str) -> Callable[[], str]:
    """The activation by its name, as Dense takes it."""
    return lambda: name


def dense_values(activation: Callable[[], str | Activation], formulas: tuple[Scalar, Scalar]) -> ValueCheck:
    """Dense(4, 3, activation()): y, grad_x, dW, db (x's first row 0, so z = b there, b_0 = 0: the kink)."""
    f, derivative = formulas

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        layer = Dense(4, 3, activation(), 0.02, 0.05, rng=rng)
        layer.params["b"][:] = 0.5 * rng.standard_normal(3)
        layer.params["b"][0] = 0.0
        x, grad_y = rng.standard_normal((3, 4)), rng.standard_normal((3, 3))
        x[0] = 0.0
        W, b = rows(layer.params["W"]), vector(layer.params["b"])
        z = textbook.affine(rows(x), W, b)
        y = layer.forward(x.copy())
        grad_x = layer.backward(grad_y)
        ref_grad_x, dW, db = textbook.dense_backward(rows(x), W, times(rows(grad_y), derivative, z), 0.02, 0.05)
        return [
            compare("y", elementwise(f, z), y, tol, "y = f(x·W + b)"),
            compare("grad_x", ref_grad_x, grad_x, tol, "grad_x = (grad_y·f'(z))·Wᵀ"),
            compare("W", dW, layer.grads["W"], tol, "dW = xᵀ·grad_z + l1·sign(W) + l2·W"),
            compare("b", db, layer.grads["b"], tol, "db = Σ_n grad_z"),
        ]

    return check


def dense_gradients(name: str) -> Runner:
    """Dense(4, 3, name) by central differences, x drawn so that every pre-activation is off the kink at 0."""

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        layer = Dense(4, 3, name, 0.0, 0.05, rng=rng)
        layer.params["b"][:] = 0.1 * rng.standard_normal(3)
        W, b = layer.params["W"], layer.params["b"]
        x = draw_away(lambda: rng.standard_normal((5, 4)), lambda x: float(np.abs(x @ W + b).min()), tol.kink_margin)
        return check_layer(layer, x, seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run


def activation_gradients(make: Callable[[], Activation]) -> Runner:
    """The activation alone at x (4, 5), pushed off 0 (SELU's kink)."""

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        x = push_from_zero(1.5 * rng.standard_normal((4, 5)), tol.kink_margin)
        return check_layer(make(), x, seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run


# -- losses ---------------------------------------------------------------------------------


def regression_away(rng: np.random.Generator) -> tuple[Array, Array]:
    """(ŷ, y) of shape (5, 3) with |ŷ − y| >= 0.05 (MAE's kink at 0), errors around ±1 (Huber's both sides)."""
    y = rng.standard_normal((5, 3))
    d = rng.uniform(0.05, 2.5, (5, 3)) * rng.choice([-1.0, 1.0], (5, 3))
    return y + d, y


def regression_special(rng: np.random.Generator) -> tuple[Array, Array]:
    """(ŷ, y) with errors exactly 0 (MAE: gradient 0) and exactly ±1 (Huber's branches meet), others random."""
    y_pred, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    y_pred[0] = y[0] + [0.0, 1.0, -1.0]
    return y_pred, y


def scores_away(rng: np.random.Generator) -> tuple[Array, Array]:
    """Scores (6, 4) and labels (6,) with every s_j − s_y + 1 at least 0.05 from 0 (the hinge's kinks)."""
    labels = rng.integers(0, 4, size=6)

    def distance(s: Array) -> float:
        margins = s - s[np.arange(6), labels][:, None] + 1.0
        margins[np.arange(6), labels] = np.inf
        return float(np.abs(margins).min())

    return draw_away(lambda: 1.5 * rng.standard_normal((6, 4)), distance, 0.05), labels


def scores_special(rng: np.random.Generator) -> tuple[Array, Array]:
    """Random scores with a term exactly at 0 (s_j − s_y + 1 = 0: not counted) and a tie in a row."""
    s, labels = 1.5 * rng.standard_normal((6, 4)), rng.integers(0, 4, size=6)
    labels[0] = 0
    s[0] = [2.0, 1.0, 1.5, -3.0]  # s_1 − s_0 + 1 = 0 exactly
    return s, labels


def loss_gradients(make: Callable[[], Loss], draw: Callable[[np.random.Generator], tuple[Array, Any]]) -> Runner:
    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        y_pred, y_true = draw(rng)
        return check_loss(make(), y_pred, y_true, seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run


# -- optimizers against closed forms ----------------------------------------------------------


def rmsprop_steps(theta0: Array, gradients: Array, lr: float, rho: float, eps: float, mu: float) -> Array:
    """θ after each step from the closed-form mean square v_t = Σ_k (1 − ρ)·ρ^(t−k)·g_k² (momentum: b_t)."""
    theta, buffer, thetas = theta0.copy(), np.zeros_like(theta0), []
    for t in range(1, len(gradients) + 1):
        weights = (1 - rho) * rho ** np.arange(t - 1, -1, -1.0)
        v = weights @ gradients[:t] ** 2
        direction = gradients[t - 1] / (np.sqrt(v) + eps)
        buffer = mu * buffer + direction if mu else direction
        theta = theta - lr * buffer
        thetas.append(theta)
    return np.array(thetas)


def amsgrad_steps(theta0: Array, gradients: Array, lr: float, beta1: float, beta2: float, eps: float) -> Array:
    """θ after each step with v̂_t = max_{k<=t} v_k / (1 − β2ᵗ), v_k from the closed-form sums."""
    theta, thetas, v_max = theta0.copy(), [], np.zeros_like(theta0)
    for t in range(1, len(gradients) + 1):
        weights1 = (1 - beta1) * beta1 ** np.arange(t - 1, -1, -1.0)
        weights2 = (1 - beta2) * beta2 ** np.arange(t - 1, -1, -1.0)
        m_hat = weights1 @ gradients[:t] / (1 - beta1**t)
        v_max = np.maximum(v_max, weights2 @ gradients[:t] ** 2)
        theta = theta - lr * m_hat / (np.sqrt(v_max / (1 - beta2**t)) + eps)
        thetas.append(theta)
    return np.array(thetas)


def adagrad_steps(theta0: Array, gradients: Array, lr: float, eps: float) -> Array:
    """θ after each step with G_t = Σ_{k<=t} g_k²."""
    G = np.cumsum(gradients**2, axis=0)
    return theta0 - lr * np.cumsum(gradients / (np.sqrt(G) + eps), axis=0)


CONSTANT_G = np.array([0.5, -2.0, 1e-3, -3e-6, 40.0])
THETA0 = np.array([1.0, -0.5, 0.2, 3.0, -1.0])


def moves(optimizer: Optimizer, gradients: list[Array], theta0: Array = THETA0) -> Array:
    """θ_{t−1} − θ_t for each step of ``optimizer`` on one parameter."""
    thetas = run_steps(optimizer, [ParameterHolder(W=theta0)], [[g] for g in gradients])[0]
    return -np.diff(np.vstack([theta0, thetas]), axis=0)


def rmsprop_constant(
    rng: np.random.Generator, tol: Tolerances, rmsprop: OptimizerFactory = RMSProp
) -> list[CheckResult]:
    """Constant g: v_t = (1 − ρᵗ)·g², so step t moves θ by lr·g/(√(1 − ρᵗ)·|g| + ε); and g near ε."""
    lr, rho, eps, steps = 0.01, 0.9, 1e-8, 25
    t = np.arange(1, steps + 1, dtype=np.float64)[:, None]
    expected = lr * CONSTANT_G / (np.sqrt(1 - rho**t) * np.abs(CONSTANT_G) + eps)
    small = np.array([1e-8, -1e-8, 3e-8, 2e-9, -5e-7])
    first = lr * small / (math.sqrt(1 - rho) * np.abs(small) + eps)
    return [
        compare(
            "constant g",
            expected,
            moves(rmsprop(lr, rho=rho, epsilon=eps), [CONSTANT_G] * steps),
            tol,
            "Δθ_t = lr·g/(√(1 − ρᵗ)·|g| + ε)",
            component="RMSProp",
            steps=True,
        ),
        compare(
            "g near ε",
            first[None, :],
            moves(rmsprop(lr, rho=rho, epsilon=eps), [small]),
            tol,
            "Δθ₁ = lr·g/(√(1 − ρ)·|g| + ε): ε outside the root",
            component="RMSProp",
            steps=True,
        ),
    ]


def rmsprop_sequence(momentum: float) -> Callable[..., list[CheckResult]]:
    """A changing gradient over 6 steps (and, with momentum, the buffer's closed form)."""

    def check(rng: np.random.Generator, tol: Tolerances, rmsprop: OptimizerFactory = RMSProp) -> list[CheckResult]:
        lr, rho, eps = 0.01, 0.95, 1e-8
        gradients = rng.standard_normal((6, 5)) * [1.0, 10.0, 0.1, 3.0, 1e-3]
        actual = run_steps(
            rmsprop(lr, rho=rho, epsilon=eps, momentum=momentum), [ParameterHolder(W=THETA0)], [[g] for g in gradients]
        )[0]
        expected = rmsprop_steps(THETA0, gradients, lr, rho, eps, momentum)
        formula = "v_t = Σ(1 − ρ)ρ^(t−k)g_k²" + (", b_t = Σμ^(t−k)g_k/(√v_k + ε)" if momentum else "")
        return [
            compare(f"sequence, momentum {momentum:g}", expected, actual, tol, formula, component="RMSProp", steps=True)
        ]

    return check


def adagrad_constant(
    rng: np.random.Generator, tol: Tolerances, adagrad: OptimizerFactory = AdaGrad
) -> list[CheckResult]:
    """Constant g: G_t = t·g², so step t moves θ by exactly lr·g/(√t·|g| + ε)."""
    lr, eps, steps = 0.1, 1e-10, 25
    t = np.arange(1, steps + 1, dtype=np.float64)[:, None]
    expected = lr * CONSTANT_G / (np.sqrt(t) * np.abs(CONSTANT_G) + eps)
    actual = moves(adagrad(lr, epsilon=eps), [CONSTANT_G] * steps)
    return [compare("constant g", expected, actual, tol, "Δθ_t = lr·g/(√t·|g| + ε)", component="AdaGrad", steps=True)]


def adagrad_sequence(
    rng: np.random.Generator, tol: Tolerances, adagrad: OptimizerFactory = AdaGrad
) -> list[CheckResult]:
    """A changing gradient over 6 steps: G_t = Σ g_k²; and a gradient near ε (ε outside the root)."""
    lr, eps = 0.05, 1e-10
    gradients = rng.standard_normal((6, 5)) * [1.0, 10.0, 0.1, 3.0, 1e-3]
    actual = run_steps(adagrad(lr, epsilon=eps), [ParameterHolder(W=THETA0)], [[g] for g in gradients])[0]
    small = np.array([1e-10, -1e-10, 3e-10, 2e-11, -5e-9])
    return [
        compare(
            "sequence",
            adagrad_steps(THETA0, gradients, lr, eps),
            actual,
            tol,
            "G_t = Σ g_k²",
            component="AdaGrad",
            steps=True,
        ),
        compare(
            "g near ε",
            (lr * small / (np.abs(small) + eps))[None, :],
            moves(adagrad(lr, epsilon=eps), [small]),
            tol,
            "Δθ₁ = lr·g/(|g| + ε)",
            component="AdaGrad",
            steps=True,
        ),
    ]


def amsgrad(rng: np.random.Generator, tol: Tolerances, adam: OptimizerFactory = Adam) -> list[CheckResult]:
    """Large gradients, then small: v falls but v̂ keeps its maximum; constant g: every step lr·g/(|g| + ε)."""
    lr, beta1, beta2, eps = 0.01, 0.9, 0.99, 1e-8
    scale = np.array([[10.0], [10.0], [0.1], [0.1], [0.1], [0.1], [5.0], [0.1]])
    gradients = scale * rng.standard_normal((8, 5))
    actual = run_steps(
        adam(lr, beta1, beta2, eps, amsgrad=True), [ParameterHolder(W=THETA0)], [[g] for g in gradients]
    )[0]
    constant = moves(adam(lr, epsilon=eps, amsgrad=True), [CONSTANT_G] * 10)
    return [
        compare(
            "amsgrad, falling gradients",
            amsgrad_steps(THETA0, gradients, lr, beta1, beta2, eps),
            actual,
            tol,
            "v̂_t = max_k v_k/(1 − β2ᵗ)",
            component="Adam",
            steps=True,
        ),
        compare(
            "amsgrad, constant g",
            np.tile(lr * CONSTANT_G / (np.abs(CONSTANT_G) + eps), (10, 1)),
            constant,
            tol,
            "Δθ = lr·g/(|g| + ε) (v rises: its maximum is v)",
            component="Adam",
            steps=True,
        ),
    ]


def check_toolkit_optimizers(
    rmsprop: OptimizerFactory = RMSProp,
    adagrad: OptimizerFactory = AdaGrad,
    adam: OptimizerFactory = Adam,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> Report:
    """Every closed-form check of RMSProp, AdaGrad and amsgrad, for the given classes (or factories)."""
    start, rng = time.perf_counter(), np.random.default_rng(0)
    results = rmsprop_constant(rng, tolerances, rmsprop)
    results += rmsprop_sequence(0.0)(rng, tolerances, rmsprop) + rmsprop_sequence(0.9)(rng, tolerances, rmsprop)
    results += adagrad_constant(rng, tolerances, adagrad) + adagrad_sequence(rng, tolerances, adagrad)
    results += amsgrad(rng, tolerances, adam)
    return Report(results, time.perf_counter() - start)


NEW_OPTIMIZERS: dict[str, tuple[Callable[..., Optimizer], Callable[[Array, Array], Array]]] = {
    "RMSProp": (lambda **kw: RMSProp(0.01, rho=0.9, **kw), lambda th, g: rmsprop_steps(th, g, 0.01, 0.9, 1e-8, 0.0)),
    "RMSProp, momentum": (
        lambda **kw: RMSProp(0.01, rho=0.9, momentum=0.8, **kw),
        lambda th, g: rmsprop_steps(th, g, 0.01, 0.9, 1e-8, 0.8),
    ),
    "AdaGrad": (lambda **kw: AdaGrad(0.05, **kw), lambda th, g: adagrad_steps(th, g, 0.05, 1e-10)),
    "Adam, amsgrad": (
        lambda **kw: Adam(0.01, beta2=0.99, amsgrad=True, **kw),
        lambda th, g: amsgrad_steps(th, g, 0.01, 0.9, 0.99, 1e-8),
    ),
}


def several_layers_resumed(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
    """Three layers stepped at once (one packed buffer) for 4 steps, the state carried to a new optimizer
    (``state_arrays`` → ``load_state_arrays``, as a saved and loaded run) after step 2: each array its own
    closed-form sequence."""
    shapes = [(3, 2), (2,), (4, 1)]
    thetas0 = [rng.standard_normal(shape) for shape in shapes]
    gradients = [[rng.standard_normal(shape) for shape in shapes] for _ in range(4)]
    per_layer = [np.array([step[k].ravel() for step in gradients]) for k in range(len(shapes))]
    results = []
    for name, (make, closed_form) in NEW_OPTIMIZERS.items():
        layers = [ParameterHolder(W=theta) for theta in thetas0]
        first = make()
        early = run_steps(first, layers, gradients[:2])
        carried = make()
        carried.load_state_arrays(list(layers), first.state_arrays(list(layers)))
        late = run_steps(carried, layers, gradients[2:])
        actual = np.hstack([np.concatenate([a, b]).reshape(4, -1) for a, b in zip(early, late, strict=True)])
        expected = np.hstack([closed_form(th.ravel(), g) for th, g in zip(thetas0, per_layer, strict=True)])
        results.append(
            compare("three layers, state carried after step 2", expected, actual, tol, name, component=name, steps=True)
        )
    return results


def clipping(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
    """clip_norm on the new optimizers: over three steps of norms above, below and above it, each
    optimizer follows its closed form on g·min(1, clip/‖g‖)."""
    clip = 1.0
    gradients = [3.0 * rng.standard_normal(5), 0.1 * rng.standard_normal(5), 5.0 * rng.standard_normal(5)]
    clipped = np.array([g * min(1.0, clip / math.sqrt(float(g @ g))) for g in gradients])
    results = []
    for name, (make, closed_form) in NEW_OPTIMIZERS.items():
        actual = run_steps(make(clip_norm=clip), [ParameterHolder(W=THETA0)], [[g] for g in gradients])[0]
        results.append(
            compare(
                "clip_norm", closed_form(THETA0, clipped), actual, tol, "on g·min(1, c/‖g‖)", component=name, steps=True
            )
        )
    return results


def frozen_layer(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
    """Freezing: a frozen layer (``trainable = False``) beside a live one, 3 steps with clip_norm = 1. The frozen
    layer's θ stays θ₀ exactly, though its (stale) gradient is huge; the live one follows its closed form on
    g·min(1, 1/‖g‖) with ‖g‖ its own norm alone (the clip norm leaves the frozen layer out)."""
    theta_frozen, theta_live = rng.standard_normal(4), rng.standard_normal(5)
    gradients = [[1e3 * rng.standard_normal(4), 2.0 * rng.standard_normal(5)] for _ in range(3)]
    clipped = np.array([g * min(1.0, 1.0 / math.sqrt(float(g @ g))) for _, g in gradients])
    optimizers: dict[str, tuple[Callable[..., Optimizer], Callable[[Array, Array], Array]]] = {
        "SGD": (lambda **kw: SGD(0.1, **kw), lambda th, g: th - 0.1 * np.cumsum(g, axis=0)),
        "Adam": (lambda **kw: Adam(0.01, **kw), lambda th, g: adam_steps(th, g, 0.01, 0.9, 0.999, 1e-8)),
        **NEW_OPTIMIZERS,
    }
    results = []
    for name, (make, closed_form) in optimizers.items():
        frozen, live = ParameterHolder(W=theta_frozen), ParameterHolder(W=theta_live)
        frozen.trainable = False
        actual_frozen, actual_live = run_steps(make(clip_norm=1.0), [frozen, live], gradients)
        results.append(
            compare(
                "frozen layer",
                np.tile(theta_frozen, (3, 1)),
                actual_frozen,
                tol,
                "θ_t = θ₀",
                component=name,
                steps=True,
            )
        )
        results.append(
            compare(
                "live layer beside it",
                closed_form(theta_live, clipped),
                actual_live,
                tol,
                "clip by its own ‖g‖",
                component=name,
                steps=True,
            )
        )
    return results


# -- initializers -----------------------------------------------------------------------------

SHAPE = (300, 200)


def initializer_values(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
    """Each initializer against the same Generator's draws scaled by its formula, and its moments."""
    seed = int(rng.integers(2**31))
    fan_in, fan_out = SHAPE
    limit = math.sqrt(6.0 / fan_in)
    uniform = np.random.default_rng(seed).random(SHAPE)
    normal = np.random.default_rng(seed).standard_normal(SHAPE)
    draws = {
        "he_uniform": (he_uniform, -limit + 2.0 * limit * uniform, 2.0 / fan_in, "−a + 2a·U, a = √(6/fan_in)"),
        "glorot_normal": (
            glorot_normal,
            normal * math.sqrt(2.0 / (fan_in + fan_out)),
            2.0 / (fan_in + fan_out),
            "Z·√(2/(fan_in + fan_out))",
        ),
        "lecun_normal": (lecun_normal, normal * math.sqrt(1.0 / fan_in), 1.0 / fan_in, "Z·√(1/fan_in)"),
    }
    results = []
    for name, (init, expected, variance, formula) in draws.items():
        W = init(SHAPE, np.random.default_rng(seed), np.dtype(np.float64))
        results.append(compare(f"{name} values", expected, W, tol, formula))
        results.append(moments(name, W, variance))
    return results


def moments(name: str, W: Array, variance: float) -> CheckResult:
    """The sample variance of W (its mean taken as 0) is the formula's within 6 standard errors."""
    values = W.ravel()
    measured = float(values @ values) / values.size
    kurtosis = float((values**4).mean()) / measured**2  # 3 for a normal, 1.8 for a uniform
    allowed = 6.0 * variance * math.sqrt((kurtosis - 1.0) / values.size)
    passed = abs(measured - variance) <= allowed
    return CheckResult(
        component="",
        tensor=f"{name} variance",
        index=f"{values.size} draws",
        analytic=variance,
        numerical=measured,
        abs_error=abs(measured - variance),
        rel_error=abs(measured - variance) / variance,
        tolerance=allowed,
        verdict="pass" if passed else "fail",
        method="reference",
        checked=int(values.size),
        message=f"{name}: variance {measured:.6g} for the formula's {variance:.6g} (6 standard errors: {allowed:.2g})",
    )


def gram_schmidt(A: Matrix) -> Matrix:
    """The columns of A orthonormalized in order (classical Gram–Schmidt, twice for rounding): Q of A = Q·R
    with R's diagonal positive."""
    rows_, cols = len(A), len(A[0])
    Q: list[list[float]] = []  # columns
    for j in range(cols):
        column = [A[i][j] for i in range(rows_)]
        for _ in range(2):
            for q in Q:
                dot = sum(a * b for a, b in zip(q, column, strict=True))
                column = [c - dot * b for c, b in zip(column, q, strict=True)]
        norm = math.sqrt(sum(c * c for c in column))
        Q.append([c / norm for c in column])
    return [[Q[j][i] for j in range(cols)] for i in range(rows_)]


def orthogonal_values(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
    """orthogonal on (7, 4), (4, 7) and (5, 5): Gram–Schmidt of the same (max, min) normal draw (transposed
    for a wide W), and WᵀW = I or W·Wᵀ = I."""
    seed = int(rng.integers(2**31))
    results = []
    for shape in ((7, 4), (4, 7), (5, 5)):
        A = rows(np.random.default_rng(seed).standard_normal((max(shape), min(shape))))
        Q = gram_schmidt(A)
        expected = Q if shape[0] >= shape[1] else [list(column) for column in zip(*Q, strict=True)]
        W = orthogonal(shape, np.random.default_rng(seed), np.dtype(np.float64))
        gram = W.T @ W if shape[0] >= shape[1] else W @ W.T
        results.append(compare(f"orthogonal {shape}", expected, W, tol, "Gram–Schmidt of A ~ N(0, 1), diag(R) > 0"))
        identity = np.eye(min(shape)).tolist()
        results.append(compare(f"orthogonal {shape} gram", identity, gram, tol, "WᵀW = I (or W·Wᵀ)"))
    return results


# -- the warm-up schedule ----------------------------------------------------------------------


def warmup_formula(epoch: int, lr0: float) -> float:
    """4 warm-up epochs from 0.25·lr0, then cosine_decay(8, min_lr=0.01) counted from epoch 4."""
    if epoch < 4:
        return lr0 * (0.25 + 0.75 * epoch / 4)
    return 0.01 + (lr0 - 0.01) * (1 + math.cos(math.pi * min(epoch - 4, 8) / 8)) / 2


def make_warmup() -> Schedule:
    return linear_warmup(4, cosine_decay(8, min_lr=0.01), start_factor=0.25)


def warmup(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
    """linear_warmup(4, cosine_decay(8)) for epochs 0..14: as a function, and as LearningRateScheduler sets it."""
    lr0 = 0.2
    expected = np.array([warmup_formula(epoch, lr0) for epoch in range(15)])
    plain = linear_warmup(3)
    halved = linear_warmup(3, lambda epoch, lr0: 0.5 * lr0 * 0.9**epoch)
    set_rates, logged = drive_scheduler(LearningRateScheduler(make_warmup()), lr0)
    return [
        compare(
            "schedule(epoch, lr0)",
            expected,
            np.array([make_warmup()(epoch, lr0) for epoch in range(15)]),
            tol,
            "lr0·(f + (1 − f)·e/W), then the cosine from e − W",
            component="linear_warmup",
            steps=True,
        ),
        compare(
            "without a schedule after",
            np.array([lr0 * (0.1 + 0.9 * e / 3) if e < 3 else lr0 for e in range(6)]),
            np.array([plain(e, lr0) for e in range(6)]),
            tol,
            "lr0·(0.1 + 0.9·e/3), then lr0",
            component="linear_warmup",
            steps=True,
        ),
        compare(
            "then a schedule that starts at lr0/2",
            np.array([lr0 * (0.1 + 0.9 * e / 3) if e < 3 else 0.5 * lr0 * 0.9 ** (e - 3) for e in range(6)]),
            np.array([halved(e, lr0) for e in range(6)]),
            tol,
            "the warm-up ends at e = W − 1: from e = W on, the schedule's own rate",
            component="linear_warmup",
            steps=True,
        ),
        compare(
            "through LearningRateScheduler",
            np.vstack([expected, expected]),
            np.vstack([set_rates, logged]),
            tol,
            "optimizer.learning_rate and logs['lr']",
            component="linear_warmup",
            steps=True,
        ),
    ]


# -- the catalog's checks -----------------------------------------------------------------------


def timed(check: Callable[[np.random.Generator, Tolerances], list[CheckResult]]) -> Runner:
    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        start = time.perf_counter()
        return Report(check(rng, tol), time.perf_counter() - start)

    return run


CHECKS: list[tuple[str, tuple[type, ...], Runner]] = [
    *((f"Dense[{name}]", (Dense,), dense_gradients(name)) for name in ACTIVATIONS),
    *((make.__name__, (make,), activation_gradients(make)) for make, _ in ACTIVATIONS.values()),
    *(
        (f"Dense[{name}] reference", (Dense,), runner(dense_values(named(name), formulas())))
        for name, (_, formulas) in ACTIVATIONS.items()
    ),
    # alpha != 1: ELU's derivative jumps at 0 (1 on the right, alpha on the left), so the kink's side shows
    ("ELU[alpha 0.5]", (ELU,), activation_gradients(lambda: ELU(0.5))),
    ("ELU[alpha 0.5] reference", (ELU,), runner(activation_values(lambda: ELU(0.5), elu(0.5)))),
    ("Dense[ELU(alpha 0.5)] reference", (Dense, ELU), runner(dense_values(lambda: ELU(0.5), elu(0.5)))),
    *(
        (f"{make.__name__} reference", (make,), runner(activation_values(make, formulas())))
        for make, formulas in ACTIVATIONS.values()
    ),
    ("MAE", (MAE,), loss_gradients(MAE, regression_away)),
    ("Huber[delta 1]", (Huber,), loss_gradients(Huber, regression_away)),
    ("Huber[delta 0.3]", (Huber,), loss_gradients(lambda: Huber(0.3), regression_away)),
    ("MulticlassHinge", (MulticlassHinge,), loss_gradients(MulticlassHinge, scores_away)),
    ("MAE reference", (MAE,), runner(loss_reference(MAE, regression_special, (mae, mae_gradient)))),
    ("Huber[delta 1] reference", (Huber,), runner(loss_reference(Huber, regression_special, huber(1.0)))),
    (
        "Huber[delta 0.3] reference",
        (Huber,),
        runner(loss_reference(lambda: Huber(0.3), regression_special, huber(0.3))),
    ),
    (
        "MulticlassHinge reference",
        (MulticlassHinge,),
        runner(loss_reference(MulticlassHinge, scores_special, hinge(1.0), textbook.class_accuracy)),
    ),
    (
        "MulticlassHinge[margin 0.5] reference",
        (MulticlassHinge,),
        runner(loss_reference(lambda: MulticlassHinge(0.5), scores_away, hinge(0.5), textbook.class_accuracy)),
    ),
    ("RMSProp[constant gradient]", (RMSProp,), timed(rmsprop_constant)),
    ("RMSProp[sequence]", (RMSProp,), timed(rmsprop_sequence(0.0))),
    ("RMSProp[momentum, sequence]", (RMSProp,), timed(rmsprop_sequence(0.9))),
    ("AdaGrad[constant gradient]", (AdaGrad,), timed(adagrad_constant)),
    ("AdaGrad[sequence]", (AdaGrad,), timed(adagrad_sequence)),
    ("Adam[amsgrad]", (Adam,), timed(amsgrad)),
    ("RMSProp, AdaGrad, amsgrad[state carried]", (RMSProp, AdaGrad, Adam), timed(several_layers_resumed)),
    ("clip_norm[RMSProp, AdaGrad, amsgrad]", (RMSProp, AdaGrad, Adam), timed(clipping)),
    ("freezing[every optimizer leaves a frozen layer as it is]", (SGD, Adam, RMSProp, AdaGrad), timed(frozen_layer)),
    ("initializers[he_uniform, glorot_normal, lecun_normal]", (), timed(initializer_values)),
    ("initializers[orthogonal]", (), timed(orthogonal_values)),
    ("schedule[linear_warmup → cosine_decay]", (LearningRateScheduler,), timed(warmup)),
]
