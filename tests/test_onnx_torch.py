"""A model PyTorch exported (tests/data/torch_cnn.onnx, written by tools/torch_fixture.py with torch, by hand)
loads into refnet, which then serves as the hand-written reference for it: refnet's predictions agree with
onnxruntime's, the reference evaluator's and PyTorch's own, and refnet's gradients (its own backward) with the
gradients torch.autograd computed, stored beside the file (tests/data/torch_cnn.npz). No torch is needed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
# Through importorskip, whose modules are typed Any: mypy checks these tests the same with and without the extra.
ReferenceEvaluator = pytest.importorskip("onnx.reference").ReferenceEvaluator

from helpers import relative_difference  # noqa: E402

import refnet.onnx  # noqa: E402
from refnet import Conv2D, CrossEntropy, Dense, Flatten, MaxPool2D  # noqa: E402

DATA = Path(__file__).parent / "data"
MODEL = DATA / "torch_cnn.onnx"


def fixture() -> dict[str, NDArray[Any]]:
    with np.load(DATA / "torch_cnn.npz") as arrays:
        return {name: arrays[name] for name in arrays.files}


def test_the_pytorch_cnn_loads_as_refnet_layers_and_predicts_what_every_runtime_and_pytorch_compute() -> None:
    net = refnet.onnx.load(MODEL)
    assert [type(layer) for layer in net.layers] == [Conv2D, MaxPool2D, Flatten, Dense, Dense]
    data = fixture()
    X = data["X"]
    y = net.predict(X)
    assert y.dtype == np.float32
    session = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    for other in (
        data["logits"],
        session.run(None, {"input": X})[0],
        ReferenceEvaluator(str(MODEL)).run(None, {"input": X})[0],
    ):
        assert relative_difference(y, other) <= 1e-5


def test_refnets_backward_gives_the_gradients_pytorch_computed() -> None:
    net = refnet.onnx.load(MODEL)
    net.set_loss(CrossEntropy())
    data = fixture()
    loss = net.compute_gradients(data["X"], data["labels"])
    assert abs(loss - float(data["loss"])) <= 1e-5 * abs(float(data["loss"]))
    conv, _, _, hidden, output = net.layers
    pairs = [
        (conv.grads["W"], data["grad_0.weight"]),  # (O, C, kh, kw) in both
        (conv.grads["b"], data["grad_0.bias"]),
        (hidden.grads["W"], data["grad_4.weight"].T),  # nn.Linear keeps (out, in), refnet's Dense (in, out)
        (hidden.grads["b"], data["grad_4.bias"]),
        (output.grads["W"], data["grad_6.weight"].T),
        (output.grads["b"], data["grad_6.bias"]),
    ]
    for refnet_gradient, torch_gradient in pairs:
        assert refnet_gradient.shape == torch_gradient.shape
        assert relative_difference(refnet_gradient, torch_gradient) <= 1e-5
