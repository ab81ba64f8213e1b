"""Dense forward/backward against the GEMM bound; activations and losses against memory.

Dense (ReLU) on the hidden-layer shapes of the medium and large MLPs. An activation or a
loss does no GEMM: its bound is a copy of the bytes its ideal single loop reads and writes
(forward: read x, write y; backward: read y and grad_y, write grad_x; a loss: read the
predictions and targets, write the gradient), so its ratio is how many passes over memory
(plus call overhead) the NumPy version costs.
"""

from __future__ import annotations

from typing import Any

import harness
import numpy as np
import pytest

from refnet import MSE, BinaryCrossEntropy, CrossEntropy, Dense
from refnet.functions import ACTIVATIONS
from refnet.losses import Loss

DENSE_SHAPES = {"medium": (128, 784, 256), "large": (256, 1024, 1024)}
DTYPES = ["float32", "float64"]


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", list(DENSE_SHAPES))
def test_dense(benchmark: Any, shape: str, dtype: str, direction: str) -> None:
    n, n_in, n_out = DENSE_SHAPES[shape]
    layer = Dense(n_in, n_out, "relu", seed=0, dtype=dtype)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, n_in)).astype(dtype)
    grad_y = rng.standard_normal((n, n_out)).astype(dtype)
    layer.forward(x)
    forward = direction == "forward"
    benchmark.group = f"dense {direction}"
    harness.run(
        benchmark,
        (lambda: layer.forward(x)) if forward else (lambda: layer.backward(grad_y)),
        harness.GemmBound([(n, n_in, n_out)], dtype, forward=forward, backward=not forward),
        n_rounds=60 if shape == "large" else 300,
        bound_name="gemm",
        flops=harness.gemm_flops([(n, n_in, n_out)], forward=forward, backward=not forward),
        samples=n,
        shape=f"{n}x{n_in}->{n_out}",
        dtype=dtype,
        direction=direction,
    )


ACTIVATION_SHAPE = (256, 1024)


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", [name for name in ACTIVATIONS if name != "identity"])
def test_activation(benchmark: Any, name: str, dtype: str, direction: str) -> None:
    activation = ACTIVATIONS[name]()
    rng = np.random.default_rng(1)
    x = rng.standard_normal(ACTIVATION_SHAPE).astype(dtype)
    grad_y = rng.standard_normal(ACTIVATION_SHAPE).astype(dtype)
    y = activation.function(x)
    out = np.empty_like(x)
    forward = direction == "forward"
    arrays_moved = 2 if forward else 3
    nbytes = arrays_moved * x.nbytes
    benchmark.group = f"activation {direction}"
    harness.run(
        benchmark,
        (lambda: activation.function(x, out=out)) if forward else (lambda: activation.gradient(y, grad_y)),
        harness.CopyBound(nbytes),
        n_rounds=300,
        bound_name="copy",
        nbytes=nbytes,
        activation=name,
        dtype=dtype,
        direction=direction,
        shape="x".join(map(str, ACTIVATION_SHAPE)),
    )


LOSSES: dict[str, Any] = {
    "mse": MSE,
    "cross_entropy": CrossEntropy,
    "bce": BinaryCrossEntropy,
    "bce_logits": lambda: BinaryCrossEntropy(from_logits=True),
}
LOSS_SHAPES = {"256x10": (256, 10), "1024x1000": (1024, 1000)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", list(LOSS_SHAPES))
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss(benchmark: Any, name: str, shape: str, dtype: str) -> None:
    """value_and_gradient (what a training step calls) on validated arrays."""
    loss: Loss = LOSSES[name]()
    n, c = LOSS_SHAPES[shape]
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((n, c)).astype(dtype)
    if name == "cross_entropy":
        y_pred, y_true = logits, rng.integers(0, c, n)
    elif name == "bce":
        y_pred, y_true = 1 / (1 + np.exp(-logits)), rng.integers(0, 2, (n, c)).astype(dtype)
    else:
        y_pred, y_true = logits, rng.random((n, c)).astype(dtype)
    y_pred = loss.check_prediction(y_pred)
    target = loss.prepare_target(y_true, y_pred.shape, y_pred.dtype)
    nbytes = 3 * y_pred.nbytes
    benchmark.group = f"loss {shape}"
    harness.run(
        benchmark,
        lambda: loss.value_and_gradient(y_pred, target),
        harness.CopyBound(nbytes),
        n_rounds=300,
        bound_name="copy",
        nbytes=nbytes,
        loss=name,
        dtype=dtype,
        shape=shape,
    )
