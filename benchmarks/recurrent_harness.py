"""What the recurrent benchmarks share: the layer step, its floor, and PyTorch's twin of the layer.

One **step** of a recurrent layer is what training runs for it as a network's first layer: forward
over the whole sequence, backward through time with ``backward_params`` (the parameters' gradients,
no dL/dx: nobody reads it) from a fixed upstream gradient, and an Adam update. Shapes: batch N = 32,
T = 64 steps, D = 64 inputs, H = 128 hidden units (the issue's).

The **floor** is the step's matrix products, on preallocated operands and outputs, timed in the
same rounds: forward X @ W_x (TN × D × kH) once and h_{t−1} @ W_h (N × H × kH) at every step;
backward dz_t @ W_hᵀ (N × kH × H) at every step but the first, and the two weight sums Xᵀ @ dZ
(D × TN × kH) and H_prevᵀ @ dZ (H × TN × kH); then a copy of the bytes Adam's update moves (7 arrays
of the parameters' size). No elementwise work: the gates, tanh, the products are what refnet pays above it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from harness import UPDATE_ARRAYS, CopyBound
from numpy.typing import DTypeLike, NDArray

from refnet import GRU, LSTM, RNN, Adam
from refnet.recurrent import Recurrent

Array = NDArray[Any]

N, T, D, H = 32, 64, 64, 128
#: cell name -> (refnet class, PyTorch's nn class name)
CELLS: dict[str, tuple[type[Recurrent], str]] = {"lstm": (LSTM, "LSTM"), "gru": (GRU, "GRU"), "rnn": (RNN, "RNN")}


class RecurrentFloor:
    """The matrix products of one step of a recurrent layer with k gate blocks, then the update's copy."""

    def __init__(self, blocks: int, dtype: DTypeLike) -> None:
        rng = np.random.default_rng(0)
        k = blocks

        def draw(*shape: int) -> Array:
            return rng.standard_normal(shape).astype(dtype)

        self.X, self.W_x, self.W_h = draw(T * N, D), draw(D, k * H), draw(H, k * H)
        self.h, self.dz, self.H_prev, self.dZ = draw(N, H), draw(N, k * H), draw(T * N, H), draw(T * N, k * H)
        self.A, self.z, self.dh = np.empty((T * N, k * H), dtype), np.empty((N, k * H), dtype), np.empty((N, H), dtype)
        self.dW_x, self.dW_h = np.empty((D, k * H), dtype), np.empty((H, k * H), dtype)
        parameters = (D + H + 2) * k * H
        self.copy = CopyBound(UPDATE_ARRAYS["adam"] * parameters * np.dtype(dtype).itemsize)
        self.gemm_samples: list[float] = []
        self.copy_samples: list[float] = []

    def __call__(self) -> None:
        start = time.perf_counter()
        np.matmul(self.X, self.W_x, out=self.A)
        for _ in range(T):
            np.matmul(self.h, self.W_h, out=self.z)
        for _ in range(T - 1):
            np.matmul(self.dz, self.W_h.T, out=self.dh)
        np.matmul(self.X.T, self.dZ, out=self.dW_x)
        np.matmul(self.H_prev.T, self.dZ, out=self.dW_h)
        middle = time.perf_counter()
        self.copy()
        self.gemm_samples.append(middle - start)
        self.copy_samples.append(time.perf_counter() - middle)


@dataclass
class StepSetup:
    layer: Recurrent
    optimizer: Adam
    x: Array
    grad_y: Array

    def step(self) -> None:
        """forward, backward through time (parameters only), Adam."""
        self.layer.forward(self.x)
        self.layer.backward_params(self.grad_y)
        self.optimizer.step([self.layer])


def step_setup(cell: str, dtype: str) -> StepSetup:
    """A layer of ``cell`` (D = 64 → H = 128), a batch x (32, 64, 64), an upstream gradient, Adam (lr 1e-3)."""
    cls = CELLS[cell][0]
    rng = np.random.default_rng(1)
    layer = cls(D, H, seed=0, dtype=dtype)
    x = rng.standard_normal((N, T, D)).astype(dtype)
    grad_y = (rng.standard_normal((N, T, H)) / (N * T)).astype(dtype)
    return StepSetup(layer, Adam(learning_rate=1e-3), x, grad_y)


def torch_twin(layer: Recurrent, torch: Any) -> Any:
    """PyTorch's layer (batch first) with ``layer``'s weights: W transposed; b as bias_ih (bias_hh 0; GRU: both)."""
    name = next(torch_name for cls, torch_name in CELLS.values() if isinstance(layer, cls))
    W_x = layer.params["W_x"]
    module = getattr(torch.nn, name)(
        layer.input_size, layer.hidden_size, batch_first=True, dtype=torch.from_numpy(W_x).dtype
    )
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(W_x.T.copy()))
        module.weight_hh_l0.copy_(torch.from_numpy(layer.params["W_h"].T.copy()))
        if isinstance(layer, GRU):
            module.bias_ih_l0.copy_(torch.from_numpy(layer.params["b_x"]))
            module.bias_hh_l0.copy_(torch.from_numpy(layer.params["b_h"]))
        else:
            module.bias_ih_l0.copy_(torch.from_numpy(layer.params["b"]))
            module.bias_hh_l0.zero_()
    return module
