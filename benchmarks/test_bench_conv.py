"""A CNN training step against its floor (and PyTorch eager), and the memory of a CNN epoch.

Two CNNs, float32 and float64, SGD (lr 0.01), one ``train_step`` (forward, loss, backward, the
inf/NaN check, the update) per call:

- ``digits``: examples/digits_cnn.py's network on (1, 8, 8) images, batch 32:
  Conv2D(1→16, 3x3, pad 1, relu) → MaxPool 2 → Conv2D(16→32, 3x3, pad 1, relu) → MaxPool 2 → Flatten → Dense(128→10);
- ``cifar``: (3, 32, 32) images, batch 64: Conv2D(3→16, 3x3, pad 1, relu) → MaxPool 2
  → Conv2D(16→32, 3x3, pad 1, relu) → MaxPool 2 → Flatten → Dense(2048→10).

The floor (``ConvFloor``), timed in the same rounds: the matrix products of the im2col form
(per Conv2D: W_mat @ cols, grad_z_cols @ colsᵀ, and W_matᵀ @ grad_z_cols but for the first layer,
whose input gradient nobody reads; per Dense: X@W, Xᵀ@G, G@Wᵀ but for a first layer) into
preallocated outputs, plus one pass over the bytes im2col must move (a copy of every Conv2D's
cols: K·M elements read and written). The pooling, the activations, the loss and the update
come on top. The PyTorch peer (``test_cnn_step_against_torch``, run by ``nox -s peers``) is the
same network from the same weights, eager on the CPU with the same threads (2).

``test_cnn_epoch_memory``: the peak traced memory of an epoch against the theoretical need,
epoch after epoch (as test_bench_memory.py). The need: parameters, gradients, the input batch
and every layer's output (the activations backward reads), and the im2col work space of the
method: the largest Conv2D's cols and its gradient (one layer's at a time).
"""

from __future__ import annotations

import math
from typing import Any

import harness
import numpy as np
import pytest

from refnet import SGD, Conv2D, CrossEntropy, Dense, Flatten, MaxPool2D, NeuralNetwork
from refnet.training import StepGuard, train_step

#: name -> (input shape (C, H, W), batch, [(in_channels, out_channels)] of the 3x3 convolutions, classes)
CNNS: dict[str, tuple[tuple[int, int, int], int, list[tuple[int, int]], int]] = {
    "digits": ((1, 8, 8), 32, [(1, 16), (16, 32)], 10),
    "cifar": ((3, 32, 32), 64, [(3, 16), (16, 32)], 10),
}
ROUNDS = {"digits": 60, "cifar": 20}
REPEAT = {"digits": 10, "cifar": 1}
THREADS = 2


def make_cnn(name: str, dtype: Any, seed: int = 0) -> NeuralNetwork:
    """Conv2D 3x3 (padding 1, relu) → MaxPool 2, per pair of channels; Flatten → Dense to the classes."""
    (C, H, W), _, convs, classes = CNNS[name]
    layers: list[Any] = []
    for in_channels, out_channels in convs:
        layers += [Conv2D(in_channels, out_channels, 3, padding=1, activation="relu", dtype=dtype), MaxPool2D(2)]
        H, W = H // 2, W // 2
    layers += [Flatten(), Dense(convs[-1][1] * H * W, classes, dtype=dtype)]
    return NeuralNetwork(layers, CrossEntropy(), seed=seed, input_shape=(C, *CNNS[name][0][1:]))


def make_images(name: str, dtype: Any, batches: int = 1, seed: int = 1) -> tuple[Any, Any]:
    shape, batch, _, classes = CNNS[name]
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch * batches, *shape)).astype(dtype), rng.integers(0, classes, batch * batches)


def products(net: NeuralNetwork, batch: int) -> list[tuple[bool, int, int, int, bool]]:
    """(is a Conv2D, O, K, M, first layer) of every product: a Conv2D's z_cols = W_mat @ cols is (O, K) @ (K, M),
    M = N·H_out·W_out; a Dense's z = x @ W is the same product transposed, (out, in) by (in, N)."""
    shape: tuple[int, ...] = net.input_shape or ()
    found = []
    for index, layer in enumerate(net.layers):
        out = layer.output_shape(shape)
        if isinstance(layer, Conv2D):
            found.append((True, layer.out_channels, layer.params["W"][0].size, batch * out[1] * out[2], index == 0))
        elif isinstance(layer, Dense):
            found.append((False, layer.out, layer.in_features, batch, index == 0))
        shape = out
    return found


class ConvFloor:
    """The GEMMs of the step in im2col form, then one copy of every Conv2D's cols (K·M elements, read and written)."""

    def __init__(self, net: NeuralNetwork, batch: int, dtype: Any) -> None:
        rng = np.random.default_rng(0)
        self.operands = []
        for _, O, K, M, first in products(net, batch):
            W, cols, G = (rng.standard_normal(shape).astype(dtype) for shape in ((O, K), (K, M), (O, M)))
            Z, dW = np.empty((O, M), dtype), np.empty((O, K), dtype)
            dcols = None if first else np.empty((K, M), dtype)
            self.operands.append((W, cols, G, Z, dW, dcols))
        cols_elements = sum(K * M for conv, _, K, M, _ in products(net, batch) if conv)
        self.copy = harness.CopyBound(2 * cols_elements * np.dtype(dtype).itemsize)
        self.flops = sum(2 * O * K * M * (2 if first else 3) for _, O, K, M, first in products(net, batch))

    def __call__(self) -> None:
        for W, cols, G, Z, dW, dcols in self.operands:
            np.matmul(W, cols, out=Z)
            np.matmul(G, cols.T, out=dW)
            if dcols is not None:
                np.matmul(W.T, G, out=dcols)
        self.copy()


def step_of(net: NeuralNetwork, X: Any, y: Any) -> Any:
    optimizer = SGD(learning_rate=0.01)
    _, target = net.core.prepare(X, y)
    guard = StepGuard(net.layers, optimizer, net.dtype)

    def step() -> None:
        assert train_step(net, guard, X, target)[2] is None

    return step


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cnn", list(CNNS))
def test_cnn_step(benchmark: Any, cnn: str, dtype: str) -> None:
    net = make_cnn(cnn, dtype)
    X, y = make_images(cnn, dtype)
    batch = CNNS[cnn][1]
    floor = ConvFloor(net, batch, dtype)
    benchmark.group = f"cnn step {cnn}"
    harness.run(
        benchmark,
        step_of(net, X, y),
        floor,
        n_rounds=ROUNDS[cnn],
        repeat=REPEAT[cnn],
        bound_name="floor",
        flops=floor.flops,
        samples=batch,
        cnn=cnn,
        dtype=dtype,
        optimizer="sgd",
    )
    for layer in net.layers:  # float32 end to end
        for array in (*layer.params.values(), *layer.grads.values()):
            assert array.dtype == np.dtype(dtype)


def torch_cnn(net: NeuralNetwork) -> Any:
    """The same CNN in PyTorch, from refnet's weights (Conv2D's W moves unchanged, Dense's W transposed)."""
    torch = pytest.importorskip("torch")
    modules: list[Any] = []
    for layer in net.layers:
        if isinstance(layer, Conv2D):
            W, b = layer.params["W"], layer.params["b"]
            conv = torch.nn.Conv2d(layer.in_channels, layer.out_channels, 3, padding=1, dtype=torch.from_numpy(W).dtype)
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(W))
                conv.bias.copy_(torch.from_numpy(b))
            modules += [conv, torch.nn.ReLU()]
        elif isinstance(layer, MaxPool2D):
            modules.append(torch.nn.MaxPool2d(2))
        elif isinstance(layer, Flatten):
            modules.append(torch.nn.Flatten())
        else:
            W, b = layer.params["W"], layer.params["b"]
            linear = torch.nn.Linear(*W.shape, dtype=torch.from_numpy(W).dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W.T.copy()))
                linear.bias.copy_(torch.from_numpy(b))
            modules.append(linear)
    return torch.nn.Sequential(*modules)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cnn", list(CNNS))
def test_cnn_step_against_torch(benchmark: Any, cnn: str, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(THREADS)
    net = make_cnn(cnn, dtype)
    X, y = make_images(cnn, dtype)
    model = torch_cnn(net)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    X_torch, y_torch = torch.from_numpy(X), torch.from_numpy(y).long()
    with torch.no_grad():  # the same network computes the same loss
        torch_loss = float(torch.nn.functional.cross_entropy(model(X_torch), y_torch))
    assert torch_loss == pytest.approx(net.compute_gradients(X, y), rel=1e-4 if dtype == "float32" else 1e-10)

    def torch_step() -> None:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(X_torch), y_torch).backward()
        optimizer.step()

    benchmark.group = f"peers cnn {cnn}"
    harness.run(
        benchmark,
        step_of(net, X, y),
        ConvFloor(net, CNNS[cnn][1], dtype),
        peers={"torch": torch_step},
        n_rounds=ROUNDS[cnn],
        repeat=REPEAT[cnn],
        bound_name="floor",
        cnn=cnn,
        dtype=dtype,
        optimizer="sgd",
        torch_version=torch.__version__,
        torch_threads=torch.get_num_threads(),
    )


EPOCHS = 5
BATCHES_PER_EPOCH = 6
FLAT_BYTES = 4096


def theoretical_bytes(net: NeuralNetwork, batch: int, dtype: Any) -> int:
    """params + grads + the input batch and every layer's output + the largest Conv2D's cols and their gradient."""
    itemsize = np.dtype(dtype).itemsize
    shape: tuple[int, ...] = net.input_shape or ()
    activations, work = math.prod(shape) * batch, 0
    for layer in net.layers:
        out = layer.output_shape(shape)
        activations += math.prod(out) * batch
        if isinstance(layer, Conv2D):
            work = max(work, 2 * layer.params["W"][0].size * batch * out[1] * out[2])
        shape = out
    return (2 * net.parameter_count() + activations + work) * itemsize


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cnn", list(CNNS))
def test_cnn_epoch_memory(benchmark: Any, cnn: str, dtype: str) -> None:
    X, y = make_images(cnn, dtype, BATCHES_PER_EPOCH)
    batch = CNNS[cnn][1]
    optimizer = SGD(learning_rate=0.01)

    def epoch(net: Any) -> None:
        net.train(X, y, epochs=1, optimizer=optimizer, batch_size=batch, verbose=0)

    net, peaks, live = harness.traced_epochs(lambda: make_cnn(cnn, dtype), epoch, EPOCHS)
    need = theoretical_bytes(net, batch, dtype)
    assert max(peaks[1:]) - min(peaks[1:]) <= FLAT_BYTES, peaks
    assert max(live[1:]) - min(live[1:]) <= FLAT_BYTES, live
    benchmark.group = "cnn memory"
    benchmark.pedantic(lambda: epoch(net), rounds=harness.rounds(5))
    benchmark.extra_info.update({"cnn": cnn, "dtype": dtype, **harness.memory_info(need, peaks, live)})
