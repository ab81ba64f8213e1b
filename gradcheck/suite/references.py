"""Values against the textbook: every forward, loss, penalty and output against ``gradcheck.suite.textbook``.

A gradient check proves that each backward matches its own forward. A mistake the two share
(an output scaled by 1.01, BatchNorm evaluating with +mean, a penalty off by a constant, a
network that scales what ``predict`` returns) leaves them consistent, and only an independent
reference sees it. Each check here runs a refnet component on small inputs and compares what
it returns with the same quantity computed by ``gradcheck.suite.textbook``, the formulas in plain
Python, element by element:

- activations, Dense, Dropout (with the mask it drew), BatchNorm (training and evaluation),
  merges, Neuron: the forward value and, from a random grad_y, the backward values;
- every loss: the value, its gradient, the fused ``value_and_gradient``, the accuracy;
- the elastic-net penalty and its gradient (sign(0) = 0 at exact zeros, which a finite
  difference cannot check);
- whole networks and a graph: ``predict``, ``forward`` in training, ``compute_gradients``'s
  value, ``evaluate`` (loss and accuracy) and ``penalty``.

Inputs include the points a finite difference must avoid: ReLU at exactly 0, probabilities
clipped at 0 and 1, logits of ±1000, ties at a threshold. Values agree when
|reference − refnet| <= closed_atol + closed_rtol·max(|reference|, |refnet|, s), s the largest
|reference| in the tensor (rounding only: the two differ in summation order).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gradcheck.core.lines import Array
from gradcheck.core.results import CheckResult, Report, Verdict, relative_error
from gradcheck.core.tolerances import Tolerances
from gradcheck.core.values import compare
from gradcheck.suite import textbook
from gradcheck.suite.cases import ACTIVATIONS, Runner
from refnet.base import Layer
from refnet.batchnorm import BatchNorm
from refnet.dropout import Dropout
from refnet.functions import Activation, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from refnet.graph import GraphModel, Input
from refnet.layer import Dense
from refnet.losses import MSE, BinaryCrossEntropy, CrossEntropy, Loss
from refnet.merge import Add, Concatenate, Merge, Multiply
from refnet.network import NeuralNetwork
from refnet.neuron import Neuron
from refnet.regularizers import ElasticNet

Matrix = textbook.Matrix
#: A value check: from the check's Generator and tolerances, its results (``runner`` makes it a catalog ``Runner``).
ValueCheck = Callable[[np.random.Generator, Tolerances], list[CheckResult]]

#: The contract's constants (SPEC §3), which the references use rather than reading them from refnet.
BATCHNORM_EPS = 1e-5
BATCHNORM_MOMENTUM = 0.1
BCE_EPS = 1e-7


def runner(check: ValueCheck) -> Runner:
    """A reference check as a catalog runner (it never sweeps: there is no step to sweep)."""

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        start = time.perf_counter()
        results = check(rng, tol)
        return Report(results, time.perf_counter() - start)

    return run


def rows(array: Any) -> Matrix:
    """A 2-D array as a list of rows of Python floats."""
    return [[float(value) for value in row] for row in np.asarray(array, dtype=np.float64)]


def vector(array: Any) -> list[float]:
    return [float(value) for value in np.asarray(array, dtype=np.float64).ravel()]


def activation_name(activation: Activation) -> tuple[str, float]:
    """The textbook name and alpha of an activation object."""
    return activation.name, float(getattr(activation, "alpha", 0.0))


# -- layers ---------------------------------------------------------------------------------


def special_inputs(rng: np.random.Generator) -> Array:
    """(4, 5): random values and the points a finite difference avoids (0, ±30, ±1000)."""
    x = 1.5 * rng.standard_normal((4, 5))
    x[0] = [0.0, -30.0, 30.0, -1000.0, 1000.0]
    return x


def activation(make: Callable[[], Activation]) -> ValueCheck:
    """y = f(x) and grad_x = grad_y·f'(x), f' at x (0 at ReLU's kink, alpha at LeakyReLU's).

    As a layer, and through ``function`` (with a separate ``out`` buffer; Dense passes its own
    pre-activation as ``out``, that path is Dense's check) and ``gradient``.
    """

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        layer = make()
        name, alpha = activation_name(layer)
        x, grad_y = special_inputs(rng), rng.standard_normal((4, 5))
        y = layer.forward(x.copy())
        grad_x = layer.backward(grad_y)
        y_out = layer.function(x.copy(), out=np.empty_like(x))
        grad_out = layer.gradient(y_out.copy(), grad_y.copy())
        expected_y = textbook.activation_forward(name, rows(x), alpha)
        expected_grad = textbook.activation_backward(name, rows(x), rows(grad_y), alpha)
        return [
            compare("y", expected_y, y, tol, "y = f(x)"),
            compare("grad_x", expected_grad, grad_x, tol, "grad_x = grad_y·f'(x)"),
            compare("function(x, out)", expected_y, y_out, tol, "f(x) into a buffer"),
            compare("gradient(y, grad_y)", expected_grad, grad_out, tol, "grad_y·f'(x) from y"),
        ]

    return check


def dense(name: str, l1: float = 0.0, l2: float = 0.0) -> ValueCheck:
    """Dense(4, 3, name): y, grad_x, dW, db and the penalty, on a batch of 3 after one of 5 rows.

    The first batch's backward is run and discarded: Dense keeps a work buffer for grad_z, and
    a layer sees batches of different sizes (the last, partial batch of an epoch).
    """

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        layer = Dense(4, 3, name, l1, l2, rng=rng)
        layer.params["b"][:] = 0.5 * rng.standard_normal(3)
        layer.params["b"][0] = 0.0
        layer.backward(rng.standard_normal(layer.forward(rng.standard_normal((5, 4))).shape))
        x, grad_y = rng.standard_normal((3, 4)), rng.standard_normal((3, 3))
        x[0] = 0.0  # z = b there: with b_0 = 0, ReLU's kink exactly
        W, b = rows(layer.params["W"]), vector(layer.params["b"])
        alpha = activation_name(layer.activation)[1]
        z = textbook.affine(rows(x), W, b)
        y = layer.forward(x.copy())
        grad_x = layer.backward(grad_y)
        grad_z = textbook.activation_backward(name, z, rows(grad_y), alpha)
        ref_grad_x, dW, db = textbook.dense_backward(rows(x), W, grad_z, l1, l2)
        return [
            compare("y", textbook.activation_forward(name, z, alpha), y, tol, "y = f(x·W + b)"),
            compare("grad_x", ref_grad_x, grad_x, tol, "grad_x = (grad_y·f'(z))·Wᵀ"),
            compare("W", dW, layer.grads["W"], tol, "dW = xᵀ·grad_z + l1·sign(W) + l2·W"),
            compare("b", db, layer.grads["b"], tol, "db = Σ_n grad_z"),
            compare("penalty", textbook.penalty(W, l1, l2), layer.penalty(), tol, "l1·Σ|W| + (l2/2)·ΣW²"),
        ]

    return check


def dropout(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
    """Dropout(0.3): the mask is 0 or 1/(1 − p); y = x·mask, grad_x = grad_y·mask; identity in evaluation."""
    p = 0.3
    layer = Dropout(p, rng=np.random.default_rng(int(rng.integers(2**31))))
    x, grad_y = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    y = layer.forward(x.copy(), training=True)
    grad_x = layer.backward(grad_y)
    mask = layer.scaled_mask if layer.scaled_mask is not None else np.ones_like(x)
    keep = kept(mask)
    results = [
        compare("mask", textbook.dropout([[1.0] * 5 for _ in range(6)], keep, p), mask, tol, "mask = keep/(1 − p)"),
        compare("y", textbook.dropout(rows(x), keep, p), y, tol, "y = x·keep/(1 − p)"),
        compare("grad_x", textbook.dropout(rows(grad_y), keep, p), grad_x, tol, "grad_x = grad_y·keep/(1 − p)"),
    ]
    y_eval = layer.forward(x.copy(), training=False)
    grad_eval = layer.backward(grad_y)
    results += [
        compare("y (eval)", rows(x), y_eval, tol, "y = x in evaluation"),
        compare("grad_x (eval)", rows(grad_y), grad_eval, tol, "grad_x = grad_y in evaluation"),
        drop_rate(layer, p),
    ]
    return results


def kept(scaled_mask: Array) -> list[list[bool]]:
    """Which units a Dropout mask keeps (its non-zero entries): the draw, not its scale."""
    return [[value != 0 for value in row] for row in scaled_mask.tolist()]


def drop_rate(layer: Dropout, p: float, size: int = 1_000_000) -> CheckResult:
    """The fraction of zeros over ``size`` units is p within 5 standard deviations √(p(1 − p)/size)."""
    dropped = float(np.mean(layer.forward(np.ones((size // 1000, 1000)), training=True) == 0.0))
    allowed = 5.0 * math.sqrt(p * (1.0 - p) / size)
    verdict: Verdict = "pass" if abs(dropped - p) <= allowed else "fail"
    message = f"a unit is dropped with probability p = {p}: {dropped:.5f} of {size} units dropped"
    return CheckResult(
        component="",
        tensor="drop rate",
        index=f"{size} units",
        analytic=p,
        numerical=dropped,
        abs_error=abs(dropped - p),
        rel_error=relative_error(p, dropped),
        tolerance=allowed,
        verdict=verdict,
        method="reference",
        checked=size,
        message=message,
    )


def batchnorm_results(
    y_ref: Any,
    y: Array,
    grad_x_ref: Any,
    grad_x: Array,
    dgamma: list[float],
    dbeta: list[float],
    layer: Layer,
    tol: Tolerances,
    where: str,
    training: bool,
    summed_over: str,
) -> list[CheckResult]:
    """The four comparisons of a batch-norm value check (BatchNorm's and BatchNorm2D's): y, grad_x, dgamma, dbeta.

    ``summed_over`` names the axes the parameter gradients sum over ("n" for rows, "n,h,w" for images).
    """
    return [
        compare("y", y_ref, y, tol, f"y = gamma·(x − mean)/√(var + 1e-5) + beta, {where}"),
        compare(
            "grad_x",
            grad_x_ref,
            grad_x,
            tol,
            "grad_x by the chain rule"
            + (" through mean and var" if training else ": grad_y·gamma/√(running_var + eps)"),
        ),
        compare("gamma", dgamma, layer.grads["gamma"], tol, f"dgamma = Σ_{summed_over} grad_y·xhat"),
        compare("beta", dbeta, layer.grads["beta"], tol, f"dbeta = Σ_{summed_over} grad_y"),
    ]


def batchnorm(training: bool) -> ValueCheck:
    """BatchNorm(4) with the contract's eps = 1e-5: y and the backward, with batch or running statistics."""

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        layer = BatchNorm(4)
        layer.params["gamma"][:] = rng.uniform(0.5, 1.5, 4)
        layer.params["beta"][:] = rng.standard_normal(4)
        layer.state["running_mean"][:] = rng.standard_normal(4)
        layer.state["running_var"][:] = rng.uniform(0.5, 2.0, 4)
        gamma, beta = vector(layer.params["gamma"]), vector(layer.params["beta"])
        mean, var = vector(layer.state["running_mean"]), vector(layer.state["running_var"])
        x = rng.standard_normal((6, 4)) * rng.uniform(0.5, 3.0, 4) + rng.standard_normal(4)
        grad_y = rng.standard_normal((6, 4))
        y = layer.forward(x.copy(), training=training)
        grad_x = layer.backward(grad_y)
        X, G = rows(x), rows(grad_y)
        if training:
            mean, var = textbook.column_mean(X), textbook.column_variance(X)
            ref_grad_x, dgamma, dbeta = textbook.batchnorm_backward(X, gamma, G, BATCHNORM_EPS)
            where = "batch mean and biased variance"
        else:
            std = [math.sqrt(v + BATCHNORM_EPS) for v in var]
            ref_grad_x = [[g * gamma[j] / std[j] for j, g in enumerate(row)] for row in G]
            xhat = [[(row[j] - mean[j]) / std[j] for j in range(4)] for row in X]
            dgamma = [sum(G[n][j] * xhat[n][j] for n in range(6)) for j in range(4)]
            dbeta = [sum(G[n][j] for n in range(6)) for j in range(4)]
            where = "running mean and variance"
        y_ref = textbook.batchnorm(X, gamma, beta, mean, var, BATCHNORM_EPS)
        return batchnorm_results(y_ref, y, ref_grad_x, grad_x, dgamma, dbeta, layer, tol, where, training, "n")

    return check


def merge(make: Callable[[], Merge], widths: Sequence[int]) -> ValueCheck:
    """A merge of inputs (5, width): y and the gradient sent back to every input."""

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        layer = make()
        xs = [rng.standard_normal((5, width)) for width in widths]
        X = [rows(x) for x in xs]
        y = layer.forward_many([x.copy() for x in xs])
        grad_y = rng.standard_normal(y.shape)
        G = rows(grad_y)
        grads = layer.backward_many(grad_y)
        if isinstance(layer, Concatenate):
            expected = [[value for k in range(len(X)) for value in X[k][n]] for n in range(5)]
            bounds = np.cumsum([0, *widths]).tolist()
            grad_refs = [[G[n][bounds[k] : bounds[k + 1]] for n in range(5)] for k in range(len(X))]
        elif isinstance(layer, Multiply):
            expected = [[math.prod(X[k][n][j] for k in range(len(X))) for j in range(widths[0])] for n in range(5)]
            grad_refs = [
                [
                    [G[n][j] * math.prod(X[m][n][j] for m in range(len(X)) if m != k) for j in range(widths[0])]
                    for n in range(5)
                ]
                for k in range(len(X))
            ]
        else:
            expected = [[sum(X[k][n][j] for k in range(len(X))) for j in range(widths[0])] for n in range(5)]
            grad_refs = [G for _ in X]
        results = [compare("y", expected, y, tol, f"y = {type(layer).__name__.lower()} of the inputs")]
        results += [
            compare(f"grad_x{k}", grad_refs[k], grads[k], tol, "the gradient of input k") for k in range(len(X))
        ]
        return results

    return check


def neuron(name: str) -> ValueCheck:
    """Neuron(4, name): y = f(x·w + b) and the backward, w and b included."""

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        layer = Neuron(4, name, bias=float(rng.standard_normal()), rng=rng)
        x, grad_y = rng.standard_normal((5, 4)), rng.standard_normal((5, 1))
        w, b = vector(layer.params["w"]), float(layer.params["b"][0])
        y = layer.forward(x.copy())
        grad_x = layer.backward(grad_y)
        z = textbook.affine(rows(x), [[wi] for wi in w], [b])
        grad_z = textbook.activation_backward(name, z, rows(grad_y))
        ref_grad_x, dw, db = textbook.dense_backward(rows(x), [[wi] for wi in w], grad_z)
        return [
            compare("y", textbook.activation_forward(name, z), y, tol, "y = f(Σ_i w_i·x_i + b)"),
            compare("grad_x", ref_grad_x, grad_x, tol, "grad_x = dL/dz·w"),
            compare("w", [row[0] for row in dw], layer.grads["w"], tol, "dw = Σ_n dL/dz·x"),
            compare("b", db, layer.grads["b"], tol, "db = Σ_n dL/dz"),
        ]

    return check


# -- losses and penalties ------------------------------------------------------------------


LossReference = tuple[Callable[[Matrix, Matrix], float], Callable[[Matrix, Matrix], Matrix]]


def loss(
    make: Callable[[], Loss],
    draw: Callable[[np.random.Generator], tuple[Array, Any]],
    reference: LossReference,
    accuracy: Callable[[Matrix, Matrix], float] | None = None,
) -> ValueCheck:
    """forward's value, backward's gradient, the fused value_and_gradient, and the accuracy."""

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        component = make()
        y_pred, y_true = draw(rng)
        target = component.prepare_target(y_true, y_pred.shape, y_pred.dtype)
        value_of, gradient_of = reference
        value, gradient = value_of(rows(y_pred), rows(target)), gradient_of(rows(y_pred), rows(target))
        forward = component.forward(y_pred.copy(), y_true)
        backward = component.backward()
        fused_value, fused_gradient = component.value_and_gradient(y_pred.copy(), target.copy())
        results = [
            compare("value", value, forward, tol, "forward(y_pred, y_true)"),
            compare("gradient", gradient, backward, tol, "backward()"),
            compare("value (fused)", value, fused_value, tol, "value_and_gradient(...)[0]"),
            compare("gradient (fused)", gradient, fused_gradient, tol, "value_and_gradient(...)[1]"),
        ]
        if accuracy is not None:
            refnet_accuracy = component.accuracy(y_pred, target)
            results.append(compare("accuracy", accuracy(rows(y_pred), rows(target)), refnet_accuracy, tol, "accuracy"))
        return results

    return check


def regression(rng: np.random.Generator) -> tuple[Array, Array]:
    return rng.standard_normal((5, 3)), rng.standard_normal((5, 3))


def large_logits(rng: np.random.Generator) -> Array:
    """Logits (6, 4) whose first row would overflow exp without the max shift."""
    z = 2.0 * rng.standard_normal((6, 4))
    z[0] = [1000.0, -1000.0, 0.0, 5.0]
    return z


def labels(rng: np.random.Generator) -> tuple[Array, Array]:
    return large_logits(rng), rng.integers(0, 4, size=6)


def probabilities(rng: np.random.Generator) -> tuple[Array, Array]:
    return large_logits(rng), rng.dirichlet(np.ones(4), size=6)


def binary_probabilities(rng: np.random.Generator) -> tuple[Array, Array]:
    """Probabilities with clipped points (0, 1, 1e-9, 1 − 1e-9); soft targets in [0, 1].

    Rows 2 and 3 sit at the accuracy's thresholds, each a hit that a threshold moved by a hair
    (or ``>`` for ``>=``) turns into a miss: p = 0.5 with y = 0, p = 0.502 with y = 1,
    y = 0.5 with p = 0.1, y = 0.502 with p = 0.9.
    """
    p = rng.uniform(0.05, 0.95, size=(6, 2))
    p[0], p[1], p[2], p[3] = [0.0, 1.0], [1e-9, 1.0 - 1e-9], [0.5, 0.502], [0.1, 0.9]
    y = rng.uniform(0.0, 1.0, size=(6, 2))
    y[0], y[1], y[2], y[3] = [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.5, 0.502]
    return p, y


def binary_logits(rng: np.random.Generator) -> tuple[Array, Array]:
    """Logits with ±1000; 0 with y = 0 and 0.005 with y = 1, hits on either side of the 0 threshold."""
    z = 3.0 * rng.standard_normal((6, 2))
    z[0], z[1] = [1000.0, -1000.0], [0.0, 0.005]
    y = rng.integers(0, 2, size=(6, 2)).astype(np.float64)
    y[1] = [0.0, 1.0]
    return z, y


def bce_accuracy(threshold: float) -> Callable[[Matrix, Matrix], float]:
    return lambda p, y: textbook.binary_accuracy(p, y, threshold)


def bce_probabilities_reference(eps: float = BCE_EPS) -> LossReference:
    return (
        lambda p, y: textbook.binary_cross_entropy(p, y, eps),
        lambda p, y: textbook.binary_cross_entropy_gradient(p, y, eps),
    )


def elastic_net(l1: float, l2: float) -> ValueCheck:
    """penalty(W), gradient(W) and add_gradient onto an existing gradient, W with exact zeros."""

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        regularizer = ElasticNet(l1, l2)
        W = rng.standard_normal((4, 3))
        W[0, :2] = 0.0
        start = rng.standard_normal((4, 3))
        accumulated = start.copy()
        regularizer.add_gradient(W, accumulated)
        gradient = textbook.penalty_gradient(rows(W), l1, l2)
        return [
            compare("penalty", textbook.penalty(rows(W), l1, l2), regularizer.penalty(W), tol, "l1·Σ|W| + (l2/2)·ΣW²"),
            compare("gradient", gradient, regularizer.gradient(W), tol, "l1·sign(W) + l2·W, sign(0) = 0"),
            compare(
                "add_gradient",
                [[s + g for s, g in zip(sr, gr, strict=True)] for sr, gr in zip(rows(start), gradient, strict=True)],
                accumulated,
                tol,
                "grad_W + l1·sign(W) + l2·W",
            ),
        ]

    return check


# -- whole models ---------------------------------------------------------------------------


def layer_forward(layer: Layer, x: Matrix, training: bool) -> Matrix:
    """The textbook forward of one refnet layer, from its public parameters and state.

    In training, Dropout uses the mask the layer drew (read after refnet's forward) and BatchNorm
    the batch statistics; in evaluation, the identity and the running statistics.
    """
    if isinstance(layer, Dense):
        name, alpha = activation_name(layer.activation)
        z = textbook.affine(x, rows(layer.params["W"]), vector(layer.params["b"]))
        return textbook.activation_forward(name, z, alpha)
    if isinstance(layer, BatchNorm):
        gamma, beta = vector(layer.params["gamma"]), vector(layer.params["beta"])
        if training:
            mean, var = textbook.column_mean(x), textbook.column_variance(x)
        else:
            mean, var = vector(layer.state["running_mean"]), vector(layer.state["running_var"])
        return textbook.batchnorm(x, gamma, beta, mean, var, BATCHNORM_EPS)
    if isinstance(layer, Dropout):
        if not training or layer.scaled_mask is None:
            return x
        return textbook.dropout(x, kept(layer.scaled_mask), layer.p)
    if isinstance(layer, Activation):
        name, alpha = activation_name(layer)
        return textbook.activation_forward(name, x, alpha)
    raise TypeError(f"no textbook forward for {type(layer).__name__}")


def data_loss(loss: Loss, y_pred: Matrix, target: Matrix) -> float:
    """The textbook value of refnet's loss object."""
    if isinstance(loss, MSE):
        return textbook.mse(y_pred, target)
    if isinstance(loss, CrossEntropy):
        return textbook.cross_entropy(y_pred, target)
    if isinstance(loss, BinaryCrossEntropy):
        if loss.from_logits:
            return textbook.binary_cross_entropy_logits(y_pred, target)
        return textbook.binary_cross_entropy(y_pred, target, BCE_EPS)
    raise TypeError(f"no textbook value for {type(loss).__name__}")


def accuracy_of(loss: Loss, y_pred: Matrix, target: Matrix) -> float | None:
    if isinstance(loss, CrossEntropy):
        return textbook.class_accuracy(y_pred, target)
    if isinstance(loss, BinaryCrossEntropy):
        return textbook.binary_accuracy(y_pred, target, 0.0 if loss.from_logits else 0.5)
    return None


def total_penalty(layers: Sequence[Layer]) -> float:
    """Σ over Dense layers of l1·Σ|W| + (l2/2)·ΣW²."""
    return sum(
        textbook.penalty(rows(layer.params["W"]), layer.regularizer.l1_lambda, layer.regularizer.l2_lambda)
        for layer in layers
        if isinstance(layer, Dense)
    )


Forward = Callable[[Matrix, bool], Matrix]


def sequential_forward(network: NeuralNetwork) -> Forward:
    def forward(x: Matrix, training: bool) -> Matrix:
        for layer in network.layers:
            x = layer_forward(layer, x, training)
        return x

    return forward


def model(
    build: Callable[[np.random.Generator], tuple[NeuralNetwork, Forward]],
    draw_y: Callable[[np.random.Generator, int], Array],
    batch_rows: int,
) -> ValueCheck:
    """predict, forward (training), compute_gradients, evaluate and penalty against the layers' textbook forwards."""

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        network, reference = build(rng)
        for layer in network.layers:
            if isinstance(layer, BatchNorm):
                layer.state["running_mean"][:] = rng.standard_normal(layer.num_features)
                layer.state["running_var"][:] = rng.uniform(0.5, 2.0, layer.num_features)
        assert network.in_features is not None and network.loss is not None
        X, Y = rng.standard_normal((batch_rows, network.in_features)), draw_y(rng, batch_rows)
        out = network.output_features()
        assert out is not None
        target = rows(network.loss.prepare_target(Y, (batch_rows, out), np.dtype(np.float64)))
        penalty = total_penalty(network.layers)
        evaluation = reference(rows(X), False)
        results = [
            compare("predict", evaluation, network.predict(X), tol, "the layers' textbook forwards, evaluation"),
            compare("forward", evaluation, network.forward(X), tol, "forward(X) is evaluation by default"),
            compare("penalty", penalty, network.penalty(), tol, "Σ_layers l1·Σ|W| + (l2/2)·ΣW²"),
        ]
        evaluated = network.evaluate(X, Y)
        results.append(
            compare(
                "evaluate loss",
                data_loss(network.loss, evaluation, target) + penalty,
                evaluated["loss"],
                tol,
                "loss(predict(X), Y) + penalties",
            )
        )
        expected_accuracy = accuracy_of(network.loss, evaluation, target)
        if expected_accuracy is not None:
            results.append(
                compare(
                    "evaluate accuracy",
                    expected_accuracy,
                    evaluated.get("accuracy", math.nan),
                    tol,
                    "accuracy of predict(X)",
                )
            )
        trained = network.forward(X, training=True)  # draws a Dropout mask, uses batch statistics
        results.append(
            compare(
                "forward (training)", reference(rows(X), True), trained, tol, "the layers' textbook forwards, training"
            )
        )
        value = network.compute_gradients(X, Y)  # a training forward of its own: read the new mask after it
        expected = data_loss(network.loss, reference(rows(X), True), target) + penalty
        results.append(compare("compute_gradients", expected, value, tol, "loss(forward(X, training), Y) + penalties"))
        return results

    return check


def classifier(rng: np.random.Generator) -> tuple[NeuralNetwork, Forward]:
    """Dense(tanh, L1+L2) → BatchNorm → Dropout → Dense(L2), cross-entropy on labels."""
    network = NeuralNetwork(
        [
            Dense(4, 6, "tanh", l1_lambda=0.01, l2_lambda=0.05, rng=rng),
            BatchNorm(6),
            Dropout(0.25, seed=int(rng.integers(2**31))),
            Dense(6, 3, l2_lambda=0.1, rng=rng),
        ],
        CrossEntropy(),
    )
    return network, sequential_forward(network)


def binary_classifier(rng: np.random.Generator) -> tuple[NeuralNetwork, Forward]:
    """Dense(leaky_relu, L1) → Dense(sigmoid), binary cross-entropy on probabilities."""
    network = NeuralNetwork(
        [Dense(3, 5, "leaky_relu", l1_lambda=0.02, rng=rng), Dense(5, 2, "sigmoid", rng=rng)], BinaryCrossEntropy()
    )
    return network, sequential_forward(network)


def logits_classifier(rng: np.random.Generator) -> tuple[NeuralNetwork, Forward]:
    """Dense(relu) → Dense, binary cross-entropy on logits."""
    network = NeuralNetwork(
        [Dense(3, 5, "relu", rng=rng), Dense(5, 2, l2_lambda=0.05, rng=rng)], BinaryCrossEntropy(from_logits=True)
    )
    return network, sequential_forward(network)


def residual_graph(rng: np.random.Generator) -> tuple[NeuralNetwork, Forward]:
    """x → h = Dense(tanh)(x) → r = Add(x, Dense(h)) → Dense(r), MSE (a GraphModel)."""
    x = Input(4)
    first, second, last = (
        Dense(4, 6, "tanh", l2_lambda=0.05, rng=rng),
        Dense(6, 4, l1_lambda=0.01, rng=rng),
        Dense(4, 2, rng=rng),
    )
    graph = GraphModel(x, last(Add()(x, second(first(x)))), MSE())

    def forward(X: Matrix, training: bool) -> Matrix:
        h = layer_forward(second, layer_forward(first, X, training), training)
        residual = [[a + b for a, b in zip(xr, hr, strict=True)] for xr, hr in zip(X, h, strict=True)]
        return layer_forward(last, residual, training)

    return graph, forward


def labels_of(rng: np.random.Generator, n: int) -> Array:
    return rng.integers(0, 3, n)


def binary_targets(rng: np.random.Generator, n: int) -> Array:
    return rng.integers(0, 2, size=(n, 2)).astype(np.float64)


def regression_targets(rng: np.random.Generator, n: int) -> Array:
    return rng.standard_normal((n, 2))


# -- the catalog's reference checks -----------------------------------------------------------


CHECKS: list[tuple[str, tuple[type, ...], Runner]] = [
    *(
        (f"Dense[{name}] reference", (Dense,), runner(dense(name, 0.02, 0.05) if name != "identity" else dense(name)))
        for name in ACTIVATIONS
    ),
    ("Identity reference", (Identity,), runner(activation(Identity))),
    ("ReLU reference", (ReLU,), runner(activation(ReLU))),
    ("LeakyReLU reference", (LeakyReLU,), runner(activation(lambda: LeakyReLU(0.1)))),
    ("Sigmoid reference", (Sigmoid,), runner(activation(Sigmoid))),
    ("Tanh reference", (Tanh,), runner(activation(Tanh))),
    ("Softmax reference", (Softmax,), runner(activation(Softmax))),
    ("Dropout reference", (Dropout,), runner(dropout)),
    ("BatchNorm[train] reference", (BatchNorm,), runner(batchnorm(training=True))),
    ("BatchNorm[eval] reference", (BatchNorm,), runner(batchnorm(training=False))),
    ("Add reference", (Add, Merge), runner(merge(Add, (4, 4, 4)))),
    ("Multiply reference", (Multiply, Merge), runner(merge(Multiply, (4, 4, 4)))),
    ("Concatenate reference", (Concatenate,), runner(merge(Concatenate, (2, 3, 1)))),
    ("Neuron[sigmoid] reference", (Neuron,), runner(neuron("sigmoid"))),
    ("Neuron[relu] reference", (Neuron,), runner(neuron("relu"))),
    ("MSE reference", (MSE,), runner(loss(MSE, regression, (textbook.mse, textbook.mse_gradient)))),
    (
        "CrossEntropy[labels] reference",
        (CrossEntropy,),
        runner(
            loss(
                CrossEntropy, labels, (textbook.cross_entropy, textbook.cross_entropy_gradient), textbook.class_accuracy
            )
        ),
    ),
    (
        "CrossEntropy[probabilities] reference",
        (CrossEntropy,),
        runner(
            loss(
                CrossEntropy,
                probabilities,
                (textbook.cross_entropy, textbook.cross_entropy_gradient),
                textbook.class_accuracy,
            )
        ),
    ),
    (
        "BinaryCrossEntropy[probabilities, clipped] reference",
        (BinaryCrossEntropy,),
        runner(loss(BinaryCrossEntropy, binary_probabilities, bce_probabilities_reference(), bce_accuracy(0.5))),
    ),
    (
        "BinaryCrossEntropy[eps 1e-20, below float64's spacing at 1] reference",
        (BinaryCrossEntropy,),
        runner(
            loss(
                lambda: BinaryCrossEntropy(eps=1e-20),
                binary_probabilities,
                bce_probabilities_reference(1e-20),
                bce_accuracy(0.5),
            )
        ),
    ),
    (
        "BinaryCrossEntropy[from_logits] reference",
        (BinaryCrossEntropy,),
        runner(
            loss(
                lambda: BinaryCrossEntropy(from_logits=True),
                binary_logits,
                (textbook.binary_cross_entropy_logits, textbook.binary_cross_entropy_logits_gradient),
                bce_accuracy(0.0),
            )
        ),
    ),
    ("ElasticNet[L1] reference", (ElasticNet,), runner(elastic_net(0.05, 0.0))),
    ("ElasticNet[L2] reference", (ElasticNet,), runner(elastic_net(0.0, 0.1))),
    ("ElasticNet[L1+L2] reference", (ElasticNet,), runner(elastic_net(0.03, 0.2))),
    ("ElasticNet[none] reference", (ElasticNet,), runner(elastic_net(0.0, 0.0))),
    ("Network[tanh→BN→dropout, CE] reference", (NeuralNetwork,), runner(model(classifier, labels_of, 8))),
    ("Network[leaky→sigmoid, BCE] reference", (NeuralNetwork,), runner(model(binary_classifier, binary_targets, 7))),
    (
        "Network[relu→linear, BCE logits] reference",
        (NeuralNetwork,),
        runner(model(logits_classifier, binary_targets, 7)),
    ),
    ("GraphModel[residual, MSE] reference", (GraphModel,), runner(model(residual_graph, regression_targets, 6))),
]
