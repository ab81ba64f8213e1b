"""What every benchmark shares: the MLPs, the bounds, and how a ratio is recorded.

Each benchmark times refnet with pytest-benchmark and, *in the same rounds*, a bound that
no NumPy implementation can beat, with the same timer (``time.perf_counter``) and the same
statistics (min and median over the rounds):

- the **GEMM bound**: the bare matrix products of the same shapes (per Dense layer
  ``X @ W`` forward, ``X.T @ G`` and ``G @ W.T`` backward) into preallocated ``out=``
  buffers;
- the **memory bound**: ``np.copyto`` of as many bytes as the ideal fused operation reads
  plus writes (a copy of B/2 bytes moves B bytes);
- the **floor** of a training step (``Floor``): the minimal GEMMs (``X @ W`` and ``X.T @ G``
  for every layer, ``G @ W.T`` for every layer but the first, whose input gradient nobody
  reads) plus a copy of the bytes the update cannot avoid moving (SGD reads θ, g and writes
  θ: 3 arrays; Adam reads θ, g, m, v and writes θ, m, v: 7 arrays).

The bound runs in pytest-benchmark's ``setup`` hook, which is called (untimed) before every
round, so refnet and the bound alternate round by round and see the same machine load
(a peer, such as PyTorch, is timed in the same hook). The ratio refnet / bound goes into
``extra_info`` and makes a report comparable across machines; ``summary.py`` prints it.
"""

from __future__ import annotations

import itertools
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median
from types import SimpleNamespace
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from refnet import SGD, Adam, CrossEntropy, Dense, NeuralNetwork
from refnet.optimizers import Optimizer
from refnet.training import StepGuard

Array = NDArray[Any]

#: name -> (layer widths, batch size)
MLPS: dict[str, tuple[tuple[int, ...], int]] = {
    "small": ((64, 32, 10), 32),
    "medium": ((784, 256, 128, 10), 128),
    "large": ((1024, 1024, 1024, 10), 256),
}

#: The optimizers every training-step benchmark times (refnet's own and the PyTorch peer alike).
OPTIMIZERS: dict[str, Callable[[], Optimizer]] = {
    "sgd": lambda: SGD(learning_rate=0.01),
    "adam": lambda: Adam(learning_rate=1e-3),
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


@dataclass
class StepSetup:
    """One MLP, its batch (X, y and the prepared target), an optimizer and the step guard ``train`` would use."""

    net: NeuralNetwork
    X: Array
    y: Array
    target: Array
    optimizer: Optimizer
    guard: StepGuard


def step_setup(mlp: str, dtype: DTypeLike, optimizer_name: str) -> StepSetup:
    """What a benchmark of one training step of ``mlp`` needs, built the same way for every benchmark."""
    widths, batch = MLPS[mlp]
    net = make_mlp(widths, dtype)
    X, y = make_batch(widths, batch, dtype)
    optimizer = OPTIMIZERS[optimizer_name]()
    _, target = net.core.prepare(X, y)
    return StepSetup(net, X, y, target, optimizer, StepGuard(net.layers, optimizer, net.dtype))


def floor_flops(shapes: list[tuple[int, int, int]]) -> int:
    """Floating-point operations of a training step's minimal GEMMs (no input gradient for the first layer)."""
    n, n_in, _ = shapes[0]
    return gemm_flops(shapes) - 2 * n * n_in * shapes[0][2]


class GemmBound:
    """The bare GEMMs of some Dense layers, on preallocated operands and outputs.

    ``first_input_gradient=False`` leaves out the first layer's ``G @ W.T`` (a training
    step needs no dL/dX).
    """

    def __init__(
        self,
        shapes: list[tuple[int, int, int]],
        dtype: DTypeLike,
        *,
        forward: bool = True,
        backward: bool = True,
        first_input_gradient: bool = True,
    ) -> None:
        rng = np.random.default_rng(0)
        self.forward, self.backward = forward, backward
        self.operands = []
        for index, (n, n_in, n_out) in enumerate(shapes):
            X, W, G = (rng.standard_normal(shape).astype(dtype) for shape in ((n, n_in), (n_in, n_out), (n, n_out)))
            Z, dW = np.empty((n, n_out), dtype), np.empty((n_in, n_out), dtype)
            dX = np.empty((n, n_in), dtype) if index > 0 or first_input_gradient else None
            self.operands.append((X, W, G, Z, dW, dX))

    def __call__(self) -> None:
        for X, W, G, Z, dW, dX in self.operands:
            if self.forward:
                np.matmul(X, W, out=Z)
            if self.backward:
                np.matmul(X.T, G, out=dW)
                if dX is not None:
                    np.matmul(G, W.T, out=dX)


class CopyBound:
    """np.copyto moving ``nbytes`` in total (nbytes/2 read, nbytes/2 written)."""

    def __init__(self, nbytes: int) -> None:
        self.source = np.ones(max(1, nbytes // 2), dtype=np.uint8)
        self.destination = np.empty_like(self.source)

    def __call__(self) -> None:
        np.copyto(self.destination, self.source)


#: Arrays an ideal fused update reads or writes per parameter (SGD: θ, g, θ; Adam: θ, g, m, v, θ, m, v).
UPDATE_ARRAYS = {"sgd": 3, "adam": 7}


class Floor:
    """The floor of a training step: the minimal GEMMs, then a copy of the update's unavoidable bytes.

    Each call times its two parts too (``gemm_samples``, ``copy_samples``), so a report can
    say which one dominates.
    """

    def __init__(self, widths: tuple[int, ...], batch: int, dtype: DTypeLike, optimizer: str) -> None:
        self.shapes = layer_shapes(widths, batch)
        self.gemm = GemmBound(self.shapes, dtype, first_input_gradient=False)
        parameters = sum(n_in * n_out + n_out for _, n_in, n_out in self.shapes)
        self.copy = CopyBound(UPDATE_ARRAYS[optimizer] * parameters * np.dtype(dtype).itemsize)
        self.gemm_samples: list[float] = []
        self.copy_samples: list[float] = []

    def __call__(self) -> None:
        start = time.perf_counter()
        self.gemm()
        middle = time.perf_counter()
        self.copy()
        self.gemm_samples.append(middle - start)
        self.copy_samples.append(time.perf_counter() - middle)


def traced_epochs(
    build: Callable[[], NeuralNetwork], train_epoch: Callable[[NeuralNetwork], object], epochs: int
) -> tuple[NeuralNetwork, list[int], list[int]]:
    """Build a network and train it ``epochs`` times for one epoch under tracemalloc, counting from
    before it is built (parameters, gradients, optimizer state, caches, buffers, temporaries).

    Returns the network, the peak traced bytes of each epoch and the live traced bytes after each.
    """
    peaks, live = [], []
    tracemalloc.start()
    try:
        net = build()
        for _ in range(epochs):
            tracemalloc.reset_peak()
            train_epoch(net)
            current, peak = tracemalloc.get_traced_memory()
            peaks.append(peak)
            live.append(current)
    finally:
        tracemalloc.stop()
    return net, peaks, live


def memory_info(need: int, peaks: list[int], live: list[int]) -> dict[str, Any]:
    """What a memory benchmark records beside its time: the need, each epoch's peak and live bytes, ratio, growth."""
    return {
        "bound": "theoretical memory",
        "theoretical_bytes": need,
        "peak_bytes_per_epoch": peaks,
        "live_bytes_after_epoch": live,
        "peak_ratio": max(peaks) / need,
        "peak_growth_bytes": peaks[-1] - peaks[1],
        "live_growth_bytes": live[-1] - live[1],
    }


def repeated(function: Callable[[], object], times: int) -> Callable[[], object]:
    """``function`` called ``times`` times in a row."""

    def block() -> None:
        for _ in range(times):
            function()

    return function if times == 1 else block


@dataclass
class Interleaved:
    """Times ``bound`` (and each peer) each time pytest-benchmark calls its (untimed) ``setup`` hook."""

    bound: Callable[[], object]
    warmup: int
    peers: dict[str, Callable[[], object]] = field(default_factory=dict)
    samples: list[float] = field(default_factory=list)
    peer_samples: dict[str, list[float]] = field(default_factory=dict)

    def __call__(self) -> None:
        start = time.perf_counter()
        self.bound()
        self.samples.append(time.perf_counter() - start)
        for name, peer in self.peers.items():
            start = time.perf_counter()
            peer()
            self.peer_samples.setdefault(name, []).append(time.perf_counter() - start)

    @property
    def timed(self) -> list[float]:
        return self.samples[self.warmup :]

    def peer_timed(self, name: str) -> list[float]:
        return self.peer_samples[name][self.warmup :]


def run(
    benchmark: Any,
    target: Callable[[], object],
    bound: Callable[[], object],
    *,
    peers: dict[str, Callable[[], object]] | None = None,
    repeat: int = 1,
    n_rounds: int,
    bound_name: str,
    warmup: int = 2,
    flops: int | None = None,
    samples: int | None = None,
    nbytes: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Benchmark ``target`` against ``bound`` (and ``peers``), alternating round by round; fill extra_info.

    For every peer, extra_info gets ``{name}_min_s``, ``{name}_median_s`` and ``ratio_to_{name}_min``
    (target time / peer time); for a ``Floor`` bound, the times of its GEMM and copy parts.

    ``repeat`` > 1 times blocks of that many consecutive calls of each (target, bound, peers)
    and reports seconds per call: a training loop runs one library's steps back to back, with
    its own data and code in the CPU caches, whereas a single call right after another
    library's evicted them pays for refilling them (twice the time of a small MLP's step).
    pytest-benchmark's own statistics are per block. Returns the extra_info dict (empty when
    pytest-benchmark is disabled).
    """
    timed_target, timed_bound = repeated(target, repeat), repeated(bound, repeat)
    timed_peers = {name: repeated(peer, repeat) for name, peer in (peers or {}).items()}
    interleaved = Interleaved(timed_bound, warmup, timed_peers)
    benchmark.pedantic(timed_target, setup=interleaved, rounds=rounds(n_rounds), warmup_rounds=warmup, iterations=1)
    if benchmark.stats is None:  # --benchmark-disable
        return {}
    block = benchmark.stats.stats
    stats = SimpleNamespace(min=block.min / repeat, median=block.median / repeat)
    bound_min, bound_median = min(interleaved.timed) / repeat, median(interleaved.timed) / repeat
    info: dict[str, Any] = {
        "bound": bound_name,
        "bound_min_s": bound_min,
        "bound_median_s": bound_median,
        "ratio_min": stats.min / bound_min,
        "ratio_median": stats.median / bound_median,
        "refnet_min_s": stats.min,
        "refnet_median_s": stats.median,
    }
    if isinstance(bound, Floor):  # its parts, per call
        info["floor_gemm_min_s"] = min(bound.gemm_samples[warmup * repeat :])
        info["floor_copy_min_s"] = min(bound.copy_samples[warmup * repeat :])
    info["repeat"] = repeat
    for name in interleaved.peers:
        peer_min = min(interleaved.peer_timed(name)) / repeat
        peer_median = median(interleaved.peer_timed(name)) / repeat
        info[f"{name}_min_s"], info[f"{name}_median_s"] = peer_min, peer_median
        info[f"ratio_to_{name}_min"] = stats.min / peer_min
        info[f"ratio_to_{name}_median"] = stats.median / peer_median
        info[f"{name}_to_bound_min"] = peer_min / bound_min
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
