"""What every benchmark shares: the MLPs, the bounds, and how a ratio is recorded.

Each benchmark times refnet with pytest-benchmark and, *in the same rounds*, a bound that
no NumPy implementation can beat, with the same timer (``time.perf_counter``) and the same
statistics (min and median over the rounds):

- the **GEMM bound**: the bare matrix products of the same shapes (per Dense layer
  ``X @ W`` forward, ``X.T @ G`` and ``G @ W.T`` backward) into preallocated ``out=``
  buffers;
- the **memory bound**: ``np.copyto`` of as many bytes as the ideal fused operation reads
  plus writes (a copy of B/2 bytes moves B bytes).

The bound runs in pytest-benchmark's ``setup`` hook, which is called (untimed) before every
round, so refnet and the bound alternate round by round and see the same machine load. The
ratio refnet / bound goes into ``extra_info`` and makes a report comparable across
machines; ``summary.py`` prints it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from refnet import CrossEntropy, Dense, NeuralNetwork

Array = NDArray[Any]

#: name -> (layer widths, batch size)
MLPS: dict[str, tuple[tuple[int, ...], int]] = {
    "small": ((64, 32, 10), 32),
    "medium": ((784, 256, 128, 10), 128),
    "large": ((1024, 1024, 1024, 10), 256),
}

#: Set by ``--quick`` (conftest.py): a smoke run with few rounds and without the large MLP.
QUICK = False


def rounds(full: int) -> int:
    """Rounds for a benchmark: ``full``, or a tenth of it (at least 3) with ``--quick``."""
    return max(3, full // 10) if QUICK else full


def layer_shapes(widths: tuple[int, ...], batch: int) -> list[tuple[int, int, int]]:
    """(N, in, out) of every Dense layer of an MLP."""
    return [(batch, n_in, n_out) for n_in, n_out in itertools.pairwise(widths)]


def gemm_flops(shapes: list[tuple[int, int, int]], forward: bool = True, backward: bool = True) -> int:
    """Floating-point operations of the products: 2·N·in·out each."""
    per_product = sum(2 * n * n_in * n_out for n, n_in, n_out in shapes)
    return per_product * (int(forward) + 2 * int(backward))


def make_mlp(widths: tuple[int, ...], dtype: DTypeLike, seed: int = 0, l2_lambda: float = 0.0) -> NeuralNetwork:
    """ReLU hidden layers, a linear output and softmax cross-entropy."""
    layers = [
        Dense(
            n_in,
            n_out,
            "relu" if index < len(widths) - 2 else None,
            l2_lambda=l2_lambda,
            seed=seed + index,
            dtype=dtype,
        )
        for index, (n_in, n_out) in enumerate(itertools.pairwise(widths))
    ]
    return NeuralNetwork(layers, CrossEntropy(), seed=seed)


def make_batch(widths: tuple[int, ...], batch: int, dtype: DTypeLike, seed: int = 1) -> tuple[Array, Array]:
    """A random input batch and integer labels."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, widths[0])).astype(dtype), rng.integers(0, widths[-1], batch)


class GemmBound:
    """The bare GEMMs of some Dense layers, on preallocated operands and outputs."""

    def __init__(
        self, shapes: list[tuple[int, int, int]], dtype: DTypeLike, *, forward: bool = True, backward: bool = True
    ) -> None:
        rng = np.random.default_rng(0)
        self.forward, self.backward = forward, backward
        self.operands = []
        for n, n_in, n_out in shapes:
            X, W, G = (rng.standard_normal(shape).astype(dtype) for shape in ((n, n_in), (n_in, n_out), (n, n_out)))
            Z, dW, dX = (np.empty(shape, dtype) for shape in ((n, n_out), (n_in, n_out), (n, n_in)))
            self.operands.append((X, W, G, Z, dW, dX))

    def __call__(self) -> None:
        for X, W, G, Z, dW, dX in self.operands:
            if self.forward:
                np.matmul(X, W, out=Z)
            if self.backward:
                np.matmul(X.T, G, out=dW)
                np.matmul(G, W.T, out=dX)


class CopyBound:
    """np.copyto moving ``nbytes`` in total (nbytes/2 read, nbytes/2 written)."""

    def __init__(self, nbytes: int) -> None:
        self.source = np.ones(max(1, nbytes // 2), dtype=np.uint8)
        self.destination = np.empty_like(self.source)

    def __call__(self) -> None:
        np.copyto(self.destination, self.source)


@dataclass
class Interleaved:
    """Times ``bound`` each time pytest-benchmark calls its (untimed) ``setup`` hook."""

    bound: Callable[[], None]
    warmup: int
    samples: list[float] = field(default_factory=list)

    def __call__(self) -> None:
        start = time.perf_counter()
        self.bound()
        self.samples.append(time.perf_counter() - start)

    @property
    def timed(self) -> list[float]:
        return self.samples[self.warmup :]


def run(
    benchmark: Any,
    target: Callable[[], object],
    bound: Callable[[], None],
    *,
    n_rounds: int,
    bound_name: str,
    warmup: int = 2,
    flops: int | None = None,
    samples: int | None = None,
    nbytes: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Benchmark ``target`` against ``bound``, alternating round by round; fill extra_info.

    Returns the extra_info dict (empty when pytest-benchmark is disabled).
    """
    interleaved = Interleaved(bound, warmup)
    benchmark.pedantic(target, setup=interleaved, rounds=rounds(n_rounds), warmup_rounds=warmup, iterations=1)
    if benchmark.stats is None:  # --benchmark-disable
        return {}
    stats = benchmark.stats.stats
    bound_min, bound_median = min(interleaved.timed), median(interleaved.timed)
    info: dict[str, Any] = {
        "bound": bound_name,
        "bound_min_s": bound_min,
        "bound_median_s": bound_median,
        "ratio_min": stats.min / bound_min,
        "ratio_median": stats.median / bound_median,
    }
    if flops is not None:
        info["refnet_gflops"] = flops / stats.min / 1e9
        info["bound_gflops"] = flops / bound_min / 1e9
    if samples is not None:
        info["samples_per_s"] = samples / stats.min
    if nbytes is not None:
        info["bytes"] = nbytes
        info["refnet_gb_per_s"] = nbytes / stats.min / 1e9
        info["bound_gb_per_s"] = nbytes / bound_min / 1e9
    info.update(extra)
    benchmark.extra_info.update(info)
    return info


def min_time(function: Callable[[], object], n_rounds: int) -> float:
    """The fastest of ``n_rounds`` calls, by time.perf_counter (for code outside pytest-benchmark)."""
    best = float("inf")
    for _ in range(n_rounds):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


class MinimalNumpyMLP:
    """The leanest hand-written NumPy training step for the same MLP: a floor for refnet.

    No classes per layer, no validation, no buffers kept between steps: the textbook
    formulas written inline (ReLU hidden layers, softmax cross-entropy on one-hot targets,
    SGD ``W -= lr·dW`` or Adam in the usual NumPy form). What it costs above the GEMM
    bound is what *any* NumPy implementation pays for the element-wise work, the update
    and the Python/NumPy call overhead.
    """

    def __init__(self, widths: tuple[int, ...], dtype: DTypeLike, optimizer: str) -> None:
        rng = np.random.default_rng(0)
        self.dtype = np.dtype(dtype)
        self.params = []
        for n_in, n_out in itertools.pairwise(widths):
            W = (rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(dtype)
            self.params.append([W, np.zeros(n_out, dtype)])
        self.moments = [[np.zeros_like(p) for p in layer for _ in range(2)] for layer in self.params]
        self.optimizer = optimizer
        self.t = 0

    def step(self, X: Array, T: Array) -> float:
        activations = [X]
        for index, (W, b) in enumerate(self.params):
            z = activations[-1] @ W
            z += b
            if index < len(self.params) - 1:
                np.maximum(z, 0, out=z)
            activations.append(z)
        logits = activations.pop()
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sums = exp.sum(axis=1, keepdims=True)
        loss = -float(np.vdot(T, shifted - np.log(sums))) / len(X)
        grad = exp / sums
        grad -= T
        grad *= self.dtype.type(1.0 / len(X))
        grads = []
        for index in range(len(self.params) - 1, -1, -1):
            W, _ = self.params[index]
            x = activations[index]
            grads.append((x.T @ grad, grad.sum(axis=0)))
            grad = grad @ W.T
            if index > 0:
                grad *= x > 0
        grads.reverse()
        self.update(grads)
        return loss

    def update(self, grads: list[tuple[Array, Array]]) -> None:
        cast = self.dtype.type
        if self.optimizer == "sgd":
            for (W, b), (dW, db) in zip(self.params, grads, strict=True):
                W -= cast(0.01) * dW
                b -= cast(0.01) * db
            return
        self.t += 1
        lr_t = cast(1e-3 * np.sqrt(1 - 0.999**self.t) / (1 - 0.9**self.t))
        for layer, moments, layer_grads in zip(self.params, self.moments, grads, strict=True):
            for p, m, v, g in zip(layer, moments[0::2], moments[1::2], layer_grads, strict=True):
                m *= cast(0.9)
                m += cast(0.1) * g
                v *= cast(0.999)
                v += cast(0.001) * g * g
                p -= lr_t * m / (np.sqrt(v) + cast(1e-8))


def alternating_min_ratio(numerator: Callable[[], object], denominator: Callable[[], object], n_rounds: int) -> float:
    """min time of ``numerator`` / min time of ``denominator``, timed in alternation."""
    best_numerator = best_denominator = float("inf")
    for _ in range(rounds(n_rounds)):
        start = time.perf_counter()
        numerator()
        middle = time.perf_counter()
        denominator()
        end = time.perf_counter()
        best_numerator = min(best_numerator, middle - start)
        best_denominator = min(best_denominator, end - middle)
    return best_numerator / best_denominator
