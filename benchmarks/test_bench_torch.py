"""Peer comparison: PyTorch eager on the CPU, the same training step, in the same rounds.

Run by ``nox -s peers`` (the only place PyTorch is installed); skipped when torch is not
importable. Same MLPs as ``test_bench_training.py`` (small 64-32-10 at batch 32, medium
784-256-128-10 at 128, large 1024-1024-1024-10 at 256; ReLU hidden layers, a linear
output, softmax cross-entropy on integer labels, mean over the batch), same initial
weights, float32 and float64, SGD (lr 0.01) and Adam (lr 1e-3, PyTorch's default
implementation), PyTorch limited to 2 threads (``torch.set_num_threads(2)``), the input
batch not requiring a gradient. One PyTorch step is ``zero_grad``, forward, ``cross_entropy``,
``backward``, ``step`` -- what its training loops run per batch.

Timed round by round: refnet's ``train_step`` (pytest-benchmark's timer), then in the
untimed setup hook the floor (``harness.Floor``) and the PyTorch step, so all three see
the same machine load. Recorded: refnet / floor, refnet / PyTorch, PyTorch / floor; and, to tell the
BLAS from the library, PyTorch's own matrix products of the same shapes (``TorchGemm``, same rounds):
NumPy's GEMMs / PyTorch's, and each step minus its library's GEMMs (the time outside the products).
"""

from __future__ import annotations

from typing import Any

import harness
import numpy as np
import pytest
import recurrent_harness as rh

from refnet.network import NeuralNetwork
from refnet.training import train_step

torch = pytest.importorskip("torch")

THREADS = 2
ROUNDS = {"small": 100, "medium": 40, "large": 15}
#: Consecutive steps timed as one block (see harness.run): the small MLP's step is short enough for caches to matter.
REPEAT = {"small": 20, "medium": 3, "large": 1}
TORCH_OPTIMIZERS = {
    "sgd": lambda params: torch.optim.SGD(params, lr=0.01),
    "adam": lambda params: torch.optim.Adam(params, lr=1e-3),
}


def torch_model(net: NeuralNetwork) -> Any:
    """The same MLP in PyTorch, starting from refnet's weights (torch keeps W transposed)."""
    modules: list[Any] = []
    for index, layer in enumerate(net.layers):
        W, b = layer.params["W"], layer.params["b"]
        linear = torch.nn.Linear(*W.shape, dtype=torch.from_numpy(W).dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
        modules.append(linear)
        if index < len(net.layers) - 1:
            modules.append(torch.nn.ReLU())
    return torch.nn.Sequential(*modules)


class TorchGemm:
    """PyTorch's matrix products of the floor's shapes (``harness.GemmBound``), in torch's own layout (a
    Linear keeps W as (out, in)), preallocated ``out=`` tensors: forward ``X @ Wᵀ``, backward ``Gᵀ @ X`` and,
    for every layer but the first (whose input needs no gradient), ``G @ W``. Timed beside NumPy's, it
    tells the two BLAS apart from the two libraries' time outside the matrix products."""

    def __init__(self, shapes: list[tuple[int, int, int]], dtype: str) -> None:
        generator = torch.Generator().manual_seed(0)
        kind = getattr(torch, dtype)
        self.operands = []
        for index, (n, n_in, n_out) in enumerate(shapes):
            X, W, G = (
                torch.randn(shape, generator=generator, dtype=kind) for shape in ((n, n_in), (n_out, n_in), (n, n_out))
            )
            Z, dW = torch.empty((n, n_out), dtype=kind), torch.empty((n_out, n_in), dtype=kind)
            dX = torch.empty((n, n_in), dtype=kind) if index > 0 else None
            self.operands.append((X, W, G, Z, dW, dX))

    def __call__(self) -> None:
        for X, W, G, Z, dW, dX in self.operands:
            torch.matmul(X, W.T, out=Z)
            torch.matmul(G.T, X, out=dW)
            if dX is not None:
                torch.matmul(G, W, out=dX)


def outside_products(info: dict[str, Any]) -> dict[str, float]:
    """NumPy's GEMMs / PyTorch's (the BLAS alone), and each step minus its own library's GEMMs (min over rounds)."""
    if not info:
        return {}
    refnet_outside = info["refnet_min_s"] - info["floor_gemm_min_s"]
    torch_outside = info["torch_min_s"] - info["torch_gemm_min_s"]
    return {
        "gemm_numpy_to_torch_min": info["floor_gemm_min_s"] / info["torch_gemm_min_s"],
        "refnet_outside_gemm_min_s": refnet_outside,
        "torch_outside_gemm_min_s": torch_outside,
        "outside_gemm_refnet_to_torch_min": refnet_outside / torch_outside,
    }


@pytest.mark.parametrize("optimizer_name", list(harness.OPTIMIZERS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mlp", list(harness.MLPS))
def test_step_against_torch(benchmark: Any, mlp: str, dtype: str, optimizer_name: str) -> None:
    torch.set_num_threads(THREADS)
    widths, batch = harness.MLPS[mlp]
    setup = harness.step_setup(mlp, dtype, optimizer_name)
    net, X, y, target, guard = setup.net, setup.X, setup.y, setup.target, setup.guard

    model = torch_model(net)
    torch_optimizer = TORCH_OPTIMIZERS[optimizer_name](model.parameters())
    X_torch, y_torch = torch.from_numpy(X), torch.from_numpy(y).long()
    with torch.no_grad():  # the same network computes the same loss
        torch_loss = float(torch.nn.functional.cross_entropy(model(X_torch), y_torch))
    refnet_loss = net.compute_gradients(X, y)
    assert torch_loss == pytest.approx(refnet_loss, rel=1e-4 if dtype == "float32" else 1e-10)

    def refnet_step() -> None:
        assert train_step(net, guard, X, target)[2] is None

    def torch_step() -> None:
        torch_optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X_torch), y_torch)
        loss.backward()
        torch_optimizer.step()

    benchmark.group = f"peers {mlp}"
    info = harness.run(
        benchmark,
        refnet_step,
        harness.Floor(widths, batch, dtype, optimizer_name),
        peers={"torch": torch_step, "torch_gemm": TorchGemm(harness.layer_shapes(widths, batch), dtype)},
        n_rounds=ROUNDS[mlp],
        repeat=REPEAT[mlp],
        bound_name="floor",
        mlp=mlp,
        dtype=dtype,
        optimizer=optimizer_name,
        torch_version=torch.__version__,
        torch_threads=torch.get_num_threads(),
    )
    benchmark.extra_info.update(outside_products(info))
    assert all(param.dtype == getattr(torch, dtype) for param in model.parameters())
    assert np.isfinite(net.evaluate(X, y)["loss"])


# -- recurrent layers (issue 20): nn.LSTM / nn.GRU / nn.RNN against refnet's, same weights and batch ---------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cell", list(rh.CELLS))
def test_recurrent_step_against_torch(benchmark: Any, cell: str, dtype: str) -> None:
    """One step (forward, backward through time from a fixed upstream gradient, Adam) of refnet's layer and
    PyTorch's (batch first, x not requiring a gradient), in the same rounds, with the floor."""
    torch.set_num_threads(THREADS)
    setup = rh.step_setup(cell, dtype)
    module = rh.torch_twin(setup.layer, torch)
    x_torch, grad_torch = torch.from_numpy(setup.x), torch.from_numpy(setup.grad_y)
    with torch.no_grad():  # the same layer gives the same output
        expected = module(x_torch)[0].numpy()
    np.testing.assert_allclose(setup.layer.forward(setup.x), expected, atol=1e-5 if dtype == "float32" else 1e-12)
    torch_optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)

    def torch_step() -> None:
        torch_optimizer.zero_grad()
        module(x_torch)[0].backward(grad_torch)
        torch_optimizer.step()

    benchmark.group = f"peers recurrent {cell}"
    harness.run(
        benchmark,
        setup.step,
        rh.RecurrentFloor(setup.layer.blocks, dtype),
        peers={"torch": torch_step},
        n_rounds=15,
        bound_name="floor",
        cell=cell,
        dtype=dtype,
        shape=f"N={rh.N} T={rh.T} D={rh.D} H={rh.H}",
        torch_version=torch.__version__,
        torch_threads=torch.get_num_threads(),
    )
