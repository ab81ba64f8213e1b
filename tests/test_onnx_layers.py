"""refnet.onnx.load of the CNN, normalization, activation, attention and recurrent operators as other exporters
write them (graphs built with onnx.helper node by node, no PyTorch): each becomes the refnet layer that computes
what onnxruntime and the reference evaluator compute, and what refnet cannot represent is refused naming the
operator's node and the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
TensorProto, helper, numpy_helper = onnx.TensorProto, onnx.helper, onnx.numpy_helper
# Through importorskip, whose modules are typed Any: mypy checks these tests the same with and without the extra.
ReferenceEvaluator = pytest.importorskip("onnx.reference").ReferenceEvaluator

from helpers import relative_difference  # noqa: E402

import refnet.onnx  # noqa: E402
from refnet import GELU, AvgPool2D, Conv2D, Flatten, LayerNorm, MaxPool2D  # noqa: E402
from refnet.errors import ModelFileError  # noqa: E402
from refnet.recurrent import Recurrent  # noqa: E402

ELEMENT = {np.float32: TensorProto.FLOAT, np.float64: TensorProto.DOUBLE}


def write(
    folder: Path,
    nodes: list[Any],
    weights: dict[str, NDArray[Any]],
    shape: tuple[int, ...],
    dtype: Any = np.float32,
    opset: int = 17,
    output_rank: int | None = None,
) -> Path:
    """A model of ``nodes`` from input (batch, *shape) to output (rank ``output_rank``, the input's by default;
    its axes named, their sizes left to inference), with PyTorch's names."""
    rank = 1 + len(shape) if output_rank is None else output_rank
    element = ELEMENT[dtype]
    graph = helper.make_graph(
        nodes,
        "main_graph",
        [helper.make_tensor_value_info("input", element, ["batch_size", *shape])],
        [helper.make_tensor_value_info("output", element, ["batch_size", *(f"d{i}" for i in range(1, rank))])],
        initializer=[numpy_helper.from_array(np.asarray(value), name) for name, value in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=9)
    path = folder / "model.onnx"
    onnx.save(model, str(path))
    return path


def runtimes(path: Path, X: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": X})[0], ReferenceEvaluator(str(path)).run(None, {"input": X})[0]


def test_a_pytorch_style_cnn_loads_as_conv_pool_flatten_and_computes_what_the_runtimes_compute(tmp_path: Path) -> None:
    """nn.Conv2d(2, 4, 3, padding=1) -> ReLU -> MaxPool2d(2) -> AvgPool2d(2, 1) -> Flatten -> Linear, as exported."""
    rng = np.random.default_rng(0)
    weights = {
        "conv.weight": rng.normal(0, 0.5, (4, 2, 3, 3)).astype(np.float32),
        "conv.bias": rng.normal(0, 0.5, 4).astype(np.float32),
        "fc.weight": rng.normal(0, 0.5, (3, 4 * 2 * 2)).astype(np.float32),
        "fc.bias": rng.normal(0, 0.5, 3).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["c"], name="/conv/Conv",
                         dilations=[1, 1], group=1, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="/relu/Relu"),
        helper.make_node("MaxPool", ["r"], ["m"], name="/pool/MaxPool", ceil_mode=0, kernel_shape=[2, 2],
                         pads=[0, 0, 0, 0], strides=[2, 2]),
        helper.make_node("AveragePool", ["m"], ["a"], name="/avg/AveragePool", ceil_mode=0, count_include_pad=1,
                         kernel_shape=[2, 2], pads=[0, 0, 0, 0], strides=[1, 1]),
        helper.make_node("Flatten", ["a"], ["f"], name="/flatten/Flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["output"], name="/fc/Gemm", transB=1),
    ]  # fmt: skip
    path = write(tmp_path, nodes, weights, (2, 6, 6), output_rank=2)
    net = refnet.onnx.load(path)
    conv, maxpool, avgpool, flatten, _ = net.layers
    assert isinstance(conv, Conv2D) and conv.padding == (1, 1) and conv.activation.name == "relu"
    assert isinstance(maxpool, MaxPool2D) and maxpool.kernel_size == (2, 2) and maxpool.stride == (2, 2)
    assert isinstance(avgpool, AvgPool2D) and avgpool.stride == (1, 1) and isinstance(flatten, Flatten)
    X = rng.normal(0, 1, (5, 2, 6, 6)).astype(np.float32)
    for other in runtimes(path, X):
        assert relative_difference(net.predict(X), other) <= 1e-5


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_onnx_gelu_of_opset_20_loads_as_gelu(approximate: str, tmp_path: Path) -> None:
    node = helper.make_node("Gelu", ["input"], ["output"], name="/act/Gelu", approximate=approximate)
    path = write(tmp_path, [node], {}, (6,), np.float32, opset=20)
    (layer,) = refnet.onnx.load(path).layers
    assert isinstance(layer, GELU) and layer.approximate == approximate
    X = np.linspace(-4, 4, 30, dtype=np.float32).reshape(5, 6)
    for other in runtimes(path, X):
        assert relative_difference(layer.forward(X, training=False), other) <= 1e-5


def test_layer_normalization_loads_as_layernorm_with_its_scale_bias_and_epsilon(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    weights = {"scale": rng.uniform(0.5, 1.5, 6), "B": rng.normal(0, 0.5, 6)}
    node = helper.make_node("LayerNormalization", ["input", "scale", "B"], ["output"], name="ln", epsilon=2**-10)
    path = write(tmp_path, [node], weights, (4, 6), np.float64)
    (layer,) = refnet.onnx.load(path).layers
    assert isinstance(layer, LayerNorm) and layer.eps == 2**-10  # exact in float32: the runtimes use it too
    assert np.array_equal(layer.params["gamma"], weights["scale"]) and np.array_equal(
        layer.params["beta"], weights["B"]
    )
    X = rng.normal(0, 1, (3, 4, 6))
    for other in runtimes(path, X):
        assert relative_difference(layer.forward(X, training=False), other) <= 1e-12


CONV = {"w": np.ones((2, 2, 3, 3), np.float32)}


@pytest.mark.parametrize(
    ("node", "weights", "message"),
    [
        (helper.make_node("Conv", ["input", "w"], ["output"], name="c", group=2),
         {"w": np.ones((2, 1, 3, 3), np.float32)}, "group > 1"),
        (helper.make_node("Conv", ["input", "w"], ["output"], name="c", dilations=[2, 2]), CONV, "no dilation"),
        (helper.make_node("Conv", ["input", "w"], ["output"], name="c", pads=[0, 0, 1, 1]), CONV, "both sides"),
        (helper.make_node("Conv", ["input", "w"], ["output"], name="c", auto_pad="SAME_UPPER"), CONV,
         "explicit pads"),
        (helper.make_node("MaxPool", ["input"], ["output"], name="p", kernel_shape=[2, 2], ceil_mode=1), {},
         "ceil_mode"),
        (helper.make_node("AveragePool", ["input"], ["output"], name="p", kernel_shape=[2, 2], pads=[1, 1, 1, 1]),
         {}, "do not pad"),
        (helper.make_node("LayerNormalization", ["input", "g"], ["output"], name="l", axis=1),
         {"g": np.ones((2, 6, 6), np.float32)}, "normalizes the last"),
    ],
    ids=["conv-group", "conv-dilation", "conv-asymmetric-pads", "conv-auto-pad", "pool-ceil", "pool-pads",
         "layernorm-axis"],
)  # fmt: skip
def test_what_refnet_cannot_represent_is_refused_naming_the_node(
    node: Any, weights: dict[str, NDArray[Any]], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ModelFileError, match=rf"node '{node.name}' \({node.op_type}\): .*{message}"):
        refnet.onnx.load(write(tmp_path, [node], weights, (2, 6, 6)))


def recurrent_nodes(op: str, **settings: Any) -> tuple[list[Any], dict[str, NDArray[Any]]]:
    """Transpose -> op -> Squeeze -> Transpose over (N, T = 4, D = 3) with H = 2, as torch.onnx.export writes it."""
    k = {"RNN": 1, "LSTM": 4, "GRU": 3}[op]
    rng = np.random.default_rng(2)
    weights = {
        "W": rng.normal(0, 0.5, (1, 2 * k, 3)).astype(np.float32),
        "R": rng.normal(0, 0.5, (1, 2 * k, 2)).astype(np.float32),
        "B": rng.normal(0, 0.5, (1, 4 * k)).astype(np.float32),
        "axes": np.array([1]),
    }
    nodes = [
        helper.make_node("Transpose", ["input"], ["t"], name="/rnn/Transpose", perm=[1, 0, 2]),
        helper.make_node(op, ["t", "W", "R", "B"], ["y"], name=f"/rnn/{op}", hidden_size=2, **settings),
        helper.make_node("Squeeze", ["y", "axes"], ["s"], name="/rnn/Squeeze"),
        helper.make_node("Transpose", ["s"], ["output"], name="/rnn/Transpose_1", perm=[1, 0, 2]),
    ]
    return nodes, weights


@pytest.mark.parametrize(
    ("op", "settings"), [("RNN", {}), ("LSTM", {}), ("GRU", {"linear_before_reset": 1})], ids=["RNN", "LSTM", "GRU"]
)
def test_a_batch_first_recurrent_operator_loads_as_the_refnet_layer(op: str, settings: Any, tmp_path: Path) -> None:
    nodes, weights = recurrent_nodes(op, **settings)
    path = write(tmp_path, nodes, weights, (4, 3))
    (layer,) = refnet.onnx.load(path).layers
    assert isinstance(layer, Recurrent) and type(layer).__name__ == op and layer.return_sequences
    X = np.random.default_rng(3).normal(0, 1, (5, 4, 3)).astype(np.float32)
    for other in runtimes(path, X):
        assert relative_difference(layer.forward(X, training=False), other) <= 1e-5


@pytest.mark.parametrize(
    ("op", "settings", "message"),
    [
        ("GRU", {}, "linear_before_reset = 0"),
        ("LSTM", {"direction": "reverse"}, "direction = forward"),
        ("RNN", {"activations": ["Relu"]}, r"activations \['Relu'\]"),
        ("LSTM", {"clip": 3.0}, "clip"),
    ],
    ids=["gru-reset-after", "reverse", "relu-rnn", "clip"],
)
def test_a_recurrent_operator_refnet_cannot_represent_is_refused(
    op: str, settings: Any, message: str, tmp_path: Path
) -> None:
    nodes, weights = recurrent_nodes(op, **settings)
    with pytest.raises(ModelFileError, match=rf"node '/rnn/Transpose' \(Transpose\): .*{message}"):
        refnet.onnx.load(write(tmp_path, nodes, weights, (4, 3)))


def test_a_time_major_recurrent_operator_is_refused_saying_the_layout(tmp_path: Path) -> None:
    nodes, weights = recurrent_nodes("LSTM")
    nodes[1].input[0] = "input"
    with pytest.raises(ModelFileError, match=r"node '/rnn/LSTM' \(LSTM\): LSTM reads time-major sequences"):
        refnet.onnx.load(write(tmp_path, nodes[1:], weights, (4, 3)))
