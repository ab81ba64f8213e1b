"""The convolutional layers in the catalog: gradients, values against the textbook, running statistics.

- gradients (``check_layer``, central differences in float64) of Conv2D (x, W, b; strides and
  paddings that leave rows or columns of x unread; ReLU pre-activations drawn away from 0;
  float32 rebuilt in float64), MaxPool2D (every window's values apart, so no tie, the kink of a
  max, is near), AvgPool2D, Flatten and BatchNorm2D (training and evaluation);
- values against ``gradcheck.suite.conv_textbook``, the formulas in plain loops: every forward and
  backward, MaxPool2D with exact ties (the gradient goes to the first maximum, row-major), the
  penalty, and the unread rows and columns (their gradient is exactly 0);
- BatchNorm2D's running statistics over batches of several sizes against their closed form, with
  the unbiased variance over M = N·H·W values, then their use in evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from gradcheck.checks import check_layer
from gradcheck.core.kinks import draw_away, push_from_zero
from gradcheck.core.lines import Array
from gradcheck.core.results import CheckResult, Report
from gradcheck.core.tolerances import Tolerances
from gradcheck.core.values import compare
from gradcheck.network_check import check_network
from gradcheck.suite import conv_textbook as book
from gradcheck.suite import textbook
from gradcheck.suite.cases import Runner, seed_from
from gradcheck.suite.references import (
    BATCHNORM_EPS,
    BATCHNORM_MOMENTUM,
    ValueCheck,
    batchnorm_results,
    runner,
    vector,
)
from refnet.base import Layer
from refnet.batchnorm2d import BatchNorm2D
from refnet.conv import Conv2D, im2col
from refnet.functions import Tanh
from refnet.graph import GraphModel, Input
from refnet.layer import Dense
from refnet.losses import MSE, CrossEntropy
from refnet.merge import Add
from refnet.network import NeuralNetwork
from refnet.pooling import AvgPool2D, Flatten, MaxPool2D

Pair = tuple[int, int]


def nested(array: Any) -> Any:
    """An array as nested lists of Python floats (any rank)."""
    return np.asarray(array, dtype=np.float64).tolist()


def distinct(rng: np.random.Generator, shape: tuple[int, ...], spread: float = 4.0) -> Array:
    """Values of ``shape`` spread evenly over [−spread/2, spread/2) in a random order: any two are
    at least spread/size apart, so no window of a max pool is near a tie (its kink)."""
    size = int(np.prod(shape))
    return (rng.permutation(size).reshape(shape) / size - 0.5) * spread


def conv_layer(rng: np.random.Generator, config: dict[str, Any]) -> Conv2D:
    """A Conv2D of ``config`` with weights from ``rng`` and a random bias."""
    layer = Conv2D(**config, rng=rng)
    layer.params["b"][:] = 0.3 * rng.standard_normal(layer.out_channels)
    return layer


def pre_activation_distance(layer: Conv2D) -> Callable[[Array], float]:
    """x ↦ the smallest |z| of the layer's pre-activations (the ReLU kink is at z = 0)."""

    def distance(x: Array) -> float:
        twin = Conv2D(**{**layer.get_config(), "activation": None})
        twin.params["W"][...] = layer.params["W"]
        twin.params["b"][...] = layer.params["b"]
        return float(np.abs(twin.forward(x)).min())

    return distance


# -- gradients ----------------------------------------------------------------------------------


def conv_gradients(config: dict[str, Any], x_shape: tuple[int, int, int, int]) -> Runner:
    """Conv2D(**config) at x of ``x_shape``: dL/dx, dL/dW, dL/db (weights under L1 kept from 0)."""

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        layer = conv_layer(rng, config)
        if config.get("l1_lambda"):
            push_from_zero(layer.params["W"], tol.kink_margin)
        if layer.activation.relu_family:
            x = draw_away(lambda: rng.standard_normal(x_shape), pre_activation_distance(layer), tol.kink_margin)
        else:
            x = rng.standard_normal(x_shape)
        return check_layer(layer, x, seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run


def pool_gradients(make: Callable[[], Any], x_shape: tuple[int, int, int, int]) -> Runner:
    """A pool (or Flatten) at distinct values of ``x_shape``: no window near a tie."""

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        return check_layer(make(), distinct(rng, x_shape), seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run


def batchnorm2d_layer(rng: np.random.Generator, C: int) -> BatchNorm2D:
    """BatchNorm2D(C) with random gamma, beta and running statistics."""
    layer = BatchNorm2D(C)
    layer.params["gamma"][:] = rng.uniform(0.5, 1.5, C)
    layer.params["beta"][:] = rng.standard_normal(C)
    layer.state["running_mean"][:] = rng.standard_normal(C)
    layer.state["running_var"][:] = rng.uniform(0.5, 2.0, C)
    return layer


def offset_images(rng: np.random.Generator, shape: tuple[int, int, int, int]) -> Array:
    """Images whose channels have their own scale and offset (what a batch norm takes out)."""
    C = shape[1]
    return rng.standard_normal(shape) * rng.uniform(0.5, 3.0, (1, C, 1, 1)) + rng.standard_normal((1, C, 1, 1))


def batchnorm2d_gradients(training: bool) -> Runner:
    """BatchNorm2D(3) at images (2, 3, 3, 4): dL/dx, dL/dgamma, dL/dbeta."""

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        layer = batchnorm2d_layer(rng, 3)
        x = offset_images(rng, (2, 3, 3, 4))
        return check_layer(layer, x, training=training, seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run


# -- values against the textbook -----------------------------------------------------------------


def conv_values(config: dict[str, Any], x_shape: tuple[int, int, int, int]) -> ValueCheck:
    """Conv2D(**config): y, grad_x, dW, db and the penalty; a first batch of another size is run and dropped.

    The first image's first row is zero and the first bias 0, so for ReLU some z sit on the kink
    exactly (f'(0) = 0). Rows and columns the strides leave unread get exactly 0 in grad_x.
    """

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        layer = conv_layer(rng, config)
        layer.params["b"][0] = 0.0
        N, C, H, W = x_shape
        layer.backward(rng.standard_normal(layer.forward(rng.standard_normal((N + 1, C, H, W))).shape))
        x = rng.standard_normal(x_shape)
        x[0, :, 0, :] = 0.0
        name = layer.activation.name
        f, derivative = textbook.elementwise(name, float(getattr(layer.activation, "alpha", 0.0)))
        Wk, b = nested(layer.params["W"]), vector(layer.params["b"])
        stride, padding = layer.stride, layer.padding
        l1, l2 = layer.regularizer.l1_lambda, layer.regularizer.l2_lambda
        y = layer.forward(x.copy())
        grad_y = rng.standard_normal(y.shape)
        grad_x = layer.backward(grad_y)
        z = book.conv2d(nested(x), Wk, b, stride, padding)
        grad_z = book.times(nested(grad_y), book.elementwise(z, derivative))
        ref_grad_x, dW, db = book.conv2d_backward(nested(x), Wk, grad_z, stride, padding, l1, l2)
        return [
            compare("y", book.elementwise(z, f), y, tol, "y = f(b[o] + Σ_c,p,q W[o,c,p,q]·x_pad[n,c,i·sh+p,j·sw+q])"),
            compare("grad_x", ref_grad_x, grad_x, tol, "grad_x[n,c,h,w] = Σ over the terms that read it of grad_z·W"),
            compare("W", dW, layer.grads["W"], tol, "dW = Σ_n,i,j grad_z·x_pad + l1·sign(W) + l2·W"),
            compare("b", db, layer.grads["b"], tol, "db[o] = Σ_n,i,j grad_z[n,o,i,j]"),
            compare("penalty", book.penalty(Wk, l1, l2), layer.penalty(), tol, "l1·Σ|W| + (l2/2)·ΣW²"),
        ]

    return check


def pool_values(
    kind: str, kernel: int | Pair, stride: int | Pair | None, x_shape: tuple[int, int, int, int]
) -> ValueCheck:
    """MaxPool2D or AvgPool2D: y and grad_x; max pooling on values with exact ties (rounded to halves)."""

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        layer = MaxPool2D(kernel, stride) if kind == "max" else AvgPool2D(kernel, stride)
        pair_k, pair_s = layer.kernel_size, layer.stride
        layer.backward(np.ones_like(layer.forward(rng.standard_normal((x_shape[0] + 1, *x_shape[1:])))))
        x = np.round(2.0 * rng.standard_normal(x_shape)) / 2.0 if kind == "max" else rng.standard_normal(x_shape)
        if kind == "max":
            x[0, 0] = 1.0  # every window of this channel is one tie
        y = layer.forward(x.copy())
        grad_y = rng.standard_normal(y.shape)
        grad_x = layer.backward(grad_y)
        X, G = nested(x), nested(grad_y)
        if kind == "max":
            expected_y = book.max_pool(X, pair_k, pair_s)[0]
            expected_grad = book.max_pool_backward(X, G, pair_k, pair_s)
            formulas = ("y = max of each window", "grad_x: grad_y at the first maximum of its window (row-major)")
        else:
            expected_y = book.avg_pool(X, pair_k, pair_s)
            expected_grad = book.avg_pool_backward(X, G, pair_k, pair_s)
            formulas = ("y = mean of each window", "grad_x += grad_y/(kh·kw) over every window's elements")
        return [
            compare("y", expected_y, y, tol, formulas[0]),
            compare("grad_x", expected_grad, grad_x, tol, formulas[1]),
        ]

    return check


def flatten_values(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
    """Flatten of (3, 2, 4, 5): y in C order (c, then h, then w), and grad_x its inverse."""
    layer = Flatten()
    x = rng.standard_normal((3, 2, 4, 5))
    y = layer.forward(x.copy())
    grad_y = rng.standard_normal(y.shape)
    grad_x = layer.backward(grad_y)
    return [
        compare("y", book.flatten(nested(x)), y, tol, "y[n, (c·H + h)·W + w] = x[n, c, h, w]"),
        compare(
            "grad_x",
            book.unflatten(nested(grad_y), 2, 4, 5),
            grad_x,
            tol,
            "grad_x[n, c, h, w] = grad_y[n, (c·H + h)·W + w]",
        ),
    ]


def batchnorm2d_values(training: bool) -> ValueCheck:
    """BatchNorm2D(3) with eps = 1e-5 at (2, 3, 3, 4): y and the backward, with batch or running statistics."""

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        layer = batchnorm2d_layer(rng, 3)
        gamma, beta = vector(layer.params["gamma"]), vector(layer.params["beta"])
        mean, var = vector(layer.state["running_mean"]), vector(layer.state["running_var"])
        x, grad_y = offset_images(rng, (2, 3, 3, 4)), rng.standard_normal((2, 3, 3, 4))
        y = layer.forward(x.copy(), training=training)
        grad_x = layer.backward(grad_y)
        X, G = nested(x), nested(grad_y)
        if training:
            mean, var = book.channel_statistics(X)
            ref_grad_x, dgamma, dbeta = book.batchnorm2d_backward(X, gamma, G, BATCHNORM_EPS)
            where = "the batch's mean and biased variance per channel over (n, h, w)"
        else:
            std = [(v + BATCHNORM_EPS) ** 0.5 for v in var]
            ref_grad_x = [
                [[[g * gamma[c] / std[c] for g in row] for row in plane] for c, plane in enumerate(image)]
                for image in G
            ]
            xhat = book.channel_rows(book.batchnorm2d(X, [1.0] * 3, [0.0] * 3, mean, var, BATCHNORM_EPS))
            grad_rows = book.channel_rows(G)
            dgamma = [sum(g[c] * h[c] for g, h in zip(grad_rows, xhat, strict=True)) for c in range(3)]
            dbeta = [sum(g[c] for g in grad_rows) for c in range(3)]
            where = "the running mean and variance"
        y_ref = book.batchnorm2d(X, gamma, beta, mean, var, BATCHNORM_EPS)
        return batchnorm_results(y_ref, y, ref_grad_x, grad_x, dgamma, dbeta, layer, tol, where, training, "n,h,w")

    return check


def batchnorm2d_running(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
    """Training batches of 1, 3 and 2 images (2, 3 and 4 channels of 2x3 .. values): running ← 0.9·running + 0.1·batch,
    the variance unbiased over M = N·H·W; then evaluation with the running statistics."""
    layer = BatchNorm2D(2)
    m = BATCHNORM_MOMENTUM
    layer.params["gamma"][:] = rng.uniform(0.5, 1.5, 2)
    layer.params["beta"][:] = rng.standard_normal(2)
    mean, var = vector(layer.state["running_mean"]), vector(layer.state["running_var"])
    means, variances, ref_means, ref_vars = [], [], [], []
    for N, H, W in ((1, 2, 3), (3, 2, 2), (2, 1, 4)):
        x = offset_images(rng, (N, 2, H, W))
        layer.forward(x.copy(), training=True)
        means.append(layer.state["running_mean"].copy())
        variances.append(layer.state["running_var"].copy())
        batch_mean, unbiased = book.channel_statistics(nested(x), ddof=1)
        mean = [(1 - m) * old + m * new for old, new in zip(mean, batch_mean, strict=True)]
        var = [(1 - m) * old + m * new for old, new in zip(var, unbiased, strict=True)]
        ref_means.append(mean)
        ref_vars.append(var)
    x = rng.standard_normal((2, 2, 3, 3))
    y = layer.forward(x.copy(), training=False)
    gamma, beta = vector(layer.params["gamma"]), vector(layer.params["beta"])
    expected_y = book.batchnorm2d(nested(x), gamma, beta, mean, var, BATCHNORM_EPS)
    return [
        compare("running_mean", ref_means, means, tol, f"running ← {1 - m:g}·running + {m:g}·mean over (n, h, w)"),
        compare(
            "running_var",
            ref_vars,
            variances,
            tol,
            f"running ← {1 - m:g}·running + {m:g}·Σ(x − mean)²/(M − 1), M = N·H·W",
        ),
        compare("y (eval after training)", expected_y, y, tol, "gamma·(x − running_mean)/√(running_var + eps) + beta"),
    ]


# -- whole networks: a CNN stack and a residual CNN block in a graph -----------------------------


def kink_distance(layers: list[Layer]) -> Callable[[Array], float]:
    """x ↦ how near the layers run on x come to a kink: a ReLU Conv2D's smallest |z|, a max pool's
    smallest gap between the largest and the second largest value of a window whose maximum is > 0
    (a window of ReLU zeros is flat, not a kink)."""

    def distance(x: Array) -> float:
        nearest = np.inf
        for layer in layers:
            if isinstance(layer, Conv2D) and layer.activation.relu_family:
                nearest = min(nearest, pre_activation_distance(layer)(x))
            if isinstance(layer, MaxPool2D):
                kh, kw = layer.kernel_size
                windows = np.sort(im2col(x, layer.kernel_size, layer.stride).reshape(x.shape[1], kh * kw, -1), axis=1)
                top, second = windows[:, -1], windows[:, -2]
                nearest = min(nearest, float(np.min(np.where(top > 0, top - second, np.inf))))
            x = layer.forward(x, training=True)
        return float(nearest)

    return distance


def cnn_layers(rng: np.random.Generator) -> list[Layer]:
    """Conv2D(relu, L2) → MaxPool 2 → Conv2D(tanh, L1) → BatchNorm2D → AvgPool 2 → Flatten → Dense."""
    first = conv_layer(rng, {"in_channels": 2, "out_channels": 3, "kernel_size": 3, "padding": 1,
                             "activation": "relu", "l2_lambda": 0.05})  # fmt: skip
    second = conv_layer(rng, {"in_channels": 3, "out_channels": 4, "kernel_size": 2, "activation": "tanh",
                              "l1_lambda": 0.02})  # fmt: skip
    return [first, MaxPool2D(2), second, BatchNorm2D(4), AvgPool2D(2), Flatten(), Dense(4, 3, l2_lambda=0.05, rng=rng)]


def cnn_network(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
    """The CNN stack through compute_gradients at X (4, 2, 6, 6) away from its kinks, CE on labels."""
    layers = cnn_layers(rng)
    push_from_zero(layers[2].params["W"], tol.kink_margin)
    X = draw_away(lambda: rng.standard_normal((4, 2, 6, 6)), kink_distance(layers), tol.kink_margin)
    network = NeuralNetwork(layers, CrossEntropy(), input_shape=(2, 6, 6))
    return check_network(network, X, rng.integers(0, 3, 4), seed=seed_from(rng), tolerances=tol, sweep=sweep)


def residual_block(rng: np.random.Generator) -> GraphModel:
    """x → Conv2D(tanh) → Conv2D → Add(x, ·) → Tanh → Flatten → Dense: x fans out, its gradients are summed."""
    x = Input((2, 4, 4))
    h = conv_layer(rng, {"in_channels": 2, "out_channels": 3, "kernel_size": 3, "padding": 1, "activation": "tanh"})(x)
    branch = conv_layer(rng, {"in_channels": 3, "out_channels": 2, "kernel_size": 3, "padding": 1,
                              "l2_lambda": 0.05})(h)  # fmt: skip
    return GraphModel(x, Dense(32, 2, rng=rng)(Flatten()(Tanh()(Add()(x, branch)))), MSE())


def residual_network(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
    model = residual_block(rng)
    X, Y = rng.standard_normal((3, 2, 4, 4)), rng.standard_normal((3, 2))
    return check_network(model, X, Y, seed=seed_from(rng), tolerances=tol, sweep=sweep)


def textbook_forward(layers: list[Layer], x: Any, training: bool) -> Any:
    """The textbook forward of the CNN layers, one after the other (nested lists throughout)."""
    for layer in layers:
        if isinstance(layer, Conv2D):
            f = textbook.elementwise(layer.activation.name)[0]
            z = book.conv2d(x, nested(layer.params["W"]), vector(layer.params["b"]), layer.stride, layer.padding)
            x = book.elementwise(z, f)
        elif isinstance(layer, MaxPool2D):
            x = book.max_pool(x, layer.kernel_size, layer.stride)[0]
        elif isinstance(layer, AvgPool2D):
            x = book.avg_pool(x, layer.kernel_size, layer.stride)
        elif isinstance(layer, BatchNorm2D):
            if training:
                mean, var = book.channel_statistics(x)
            else:
                mean, var = vector(layer.state["running_mean"]), vector(layer.state["running_var"])
            x = book.batchnorm2d(
                x, vector(layer.params["gamma"]), vector(layer.params["beta"]), mean, var, BATCHNORM_EPS
            )
        elif isinstance(layer, Flatten):
            x = book.flatten(x)
        elif isinstance(layer, Tanh):
            x = book.elementwise(x, math.tanh)
        else:
            assert isinstance(layer, Dense)
            x = textbook.affine(x, nested(layer.params["W"]), vector(layer.params["b"]))
    return x


def cnn_values(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
    """The CNN stack: predict (running statistics), forward in training (batch statistics), the penalty,
    evaluate's loss and compute_gradients' value, each against the layers' textbook forwards."""
    layers = cnn_layers(rng)
    layers[3].state["running_mean"][:] = rng.standard_normal(4)
    layers[3].state["running_var"][:] = rng.uniform(0.5, 2.0, 4)
    network = NeuralNetwork(layers, CrossEntropy(), input_shape=(2, 6, 6))
    X, y = rng.standard_normal((4, 2, 6, 6)), rng.integers(0, 3, 4)
    one_hot = [[1.0 if j == label else 0.0 for j in range(3)] for label in y]
    conv_first, conv_second, dense = layers[0], layers[2], layers[6]
    assert isinstance(conv_first, Conv2D) and isinstance(conv_second, Conv2D) and isinstance(dense, Dense)
    penalty = (
        book.penalty(nested(conv_first.params["W"]), 0.0, 0.05)
        + book.penalty(nested(conv_second.params["W"]), 0.02, 0.0)
        + textbook.penalty(nested(dense.params["W"]), 0.0, 0.05)
    )
    evaluation = textbook_forward(layers, nested(X), training=False)
    results = [
        compare("predict", evaluation, network.predict(X), tol, "the layers' textbook forwards, running statistics"),
        compare("penalty", penalty, network.penalty(), tol, "Σ_layers l1·Σ|W| + (l2/2)·ΣW², the kernels included"),
        compare(
            "evaluate loss",
            textbook.cross_entropy(evaluation, one_hot) + penalty,
            network.evaluate(X, y)["loss"],
            tol,
            "loss(predict(X), y) + penalties",
        ),
    ]
    training = textbook_forward(layers, nested(X), training=True)  # before refnet's training forward moves the state
    results.append(compare("forward (training)", training, network.forward(X, training=True), tol, "batch statistics"))
    value = network.compute_gradients(X, y)
    results.append(
        compare(
            "compute_gradients",
            textbook.cross_entropy(training, one_hot) + penalty,
            value,
            tol,
            "loss(forward(X, training), y) + penalties",
        )
    )
    return results


# -- the catalog's checks ------------------------------------------------------------------------

#: (label, Conv2D config, x shape) of the Conv2D checks: strides 2 that leave the last row and column
#: of x unread, an uneven kernel, stride and padding, and float32.
CONV_CASES: list[tuple[str, dict[str, Any], tuple[int, int, int, int]]] = [
    ("3x3", {"in_channels": 2, "out_channels": 3, "kernel_size": 3}, (2, 2, 5, 5)),
    ("3x3 stride 2, last row and column unread", {"in_channels": 2, "out_channels": 2, "kernel_size": 3, "stride": 2},
     (2, 2, 6, 6)),
    (
        "tanh, 3x3 stride 2 padding 1, L1+L2",
        {"in_channels": 2, "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1, "activation": "tanh",
         "l1_lambda": 0.02, "l2_lambda": 0.05},
        (2, 2, 6, 6),
    ),
    (
        "relu, 3x2 stride (3, 2) padding (1, 0), rows and columns unread",
        {"in_channels": 3, "out_channels": 2, "kernel_size": (3, 2), "stride": (3, 2), "padding": (1, 0),
         "activation": "relu", "l2_lambda": 0.1},
        (2, 3, 6, 7),
    ),
    (
        "sigmoid, 2x2 float32",
        {"in_channels": 1, "out_channels": 2, "kernel_size": 2, "activation": "sigmoid", "dtype": np.float32},
        (3, 1, 4, 4),
    ),
]  # fmt: skip

#: (label, kind, kernel, stride, x shape) of the pool checks: overlapping windows, windows that overhang.
POOL_CASES: list[tuple[str, str, int | Pair, int | Pair | None, tuple[int, int, int, int]]] = [
    ("2x2", "max", 2, None, (2, 2, 4, 4)),
    ("3x3 stride 2, overlapping, last row unread", "max", 3, 2, (2, 2, 6, 7)),
    ("2x3 stride (1, 2), overlapping", "max", (2, 3), (1, 2), (1, 3, 4, 6)),
    ("2x2", "avg", 2, None, (2, 2, 5, 4)),
    ("3x2 stride (2, 1), overlapping", "avg", (3, 2), (2, 1), (2, 2, 6, 5)),
]


def _pool(kind: str, kernel: int | Pair, stride: int | Pair | None) -> Callable[[], Any]:
    return lambda: MaxPool2D(kernel, stride) if kind == "max" else AvgPool2D(kernel, stride)


_POOL_CLASS = {"max": MaxPool2D, "avg": AvgPool2D}

CHECKS: list[tuple[str, tuple[type, ...], Runner]] = [
    *((f"Conv2D[{label}]", (Conv2D,), conv_gradients(config, shape)) for label, config, shape in CONV_CASES),
    *(
        (f"{_POOL_CLASS[kind].__name__}[{label}]", (_POOL_CLASS[kind],), pool_gradients(_pool(kind, k, s), shape))
        for label, kind, k, s, shape in POOL_CASES
    ),
    ("Flatten", (Flatten,), pool_gradients(Flatten, (2, 3, 2, 4))),
    ("BatchNorm2D[train]", (BatchNorm2D,), batchnorm2d_gradients(training=True)),
    ("BatchNorm2D[eval]", (BatchNorm2D,), batchnorm2d_gradients(training=False)),
    *(
        (f"Conv2D[{label}] reference", (Conv2D,), runner(conv_values(config, shape)))
        for label, config, shape in CONV_CASES
        if config.get("dtype") is None
    ),
    *(
        (
            f"{_POOL_CLASS[kind].__name__}[{label}] reference",
            (_POOL_CLASS[kind],),
            runner(pool_values(kind, k, s, shape)),
        )
        for label, kind, k, s, shape in POOL_CASES
    ),
    ("Flatten reference", (Flatten,), runner(flatten_values)),
    ("BatchNorm2D[train] reference", (BatchNorm2D,), runner(batchnorm2d_values(training=True))),
    ("BatchNorm2D[eval] reference", (BatchNorm2D,), runner(batchnorm2d_values(training=False))),
    ("BatchNorm2D running statistics", (BatchNorm2D,), runner(batchnorm2d_running)),
    (
        "Network[conv relu→maxpool→conv tanh→BN2D→avgpool→flatten→dense, CE, L1+L2]",
        (NeuralNetwork, Conv2D, MaxPool2D, BatchNorm2D, AvgPool2D, Flatten),
        cnn_network,
    ),
    ("GraphModel[residual CNN block, conv→conv→Add(x, ·), MSE, L2]", (GraphModel, Conv2D, Add), residual_network),
    ("Network[conv relu→maxpool→conv tanh→BN2D→avgpool→flatten→dense] reference", (NeuralNetwork,), runner(cnn_values)),
]
