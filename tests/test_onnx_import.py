"""refnet.onnx.load: ONNX graphs in the shapes other exporters write become refnet models that compute what
onnxruntime and the reference evaluator compute; what refnet cannot represent is refused, saying what and where.

No PyTorch, Keras or scikit-learn here: each graph is built with onnx.helper node by node, as those exporters
lay it out (torch.onnx.export: Flatten, Gemm with transB = 1, ``/fc1/Gemm`` names; tf2onnx: MatMul + Add;
skl2onnx: MatMul + Add with two outputs for a classifier).
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
TensorProto, helper, numpy_helper = onnx.TensorProto, onnx.helper, onnx.numpy_helper
# Through importorskip, whose modules are typed Any: mypy checks these tests the same with and without the extra.
ReferenceEvaluator = pytest.importorskip("onnx.reference").ReferenceEvaluator

from helpers import relative_difference  # noqa: E402

import refnet.onnx  # noqa: E402
from refnet import (  # noqa: E402
    Adam,
    BatchNorm,
    CrossEntropy,
    Dense,
    Dropout,
    Embedding,
    GraphModel,
    NeuralNetwork,
    Softmax,
)
from refnet.errors import ModelFileError  # noqa: E402
from refnet.graph import Add  # noqa: E402

ELEMENT = {np.float32: TensorProto.FLOAT, np.float64: TensorProto.DOUBLE}
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}


def write(
    folder: Path,
    nodes: list[Any],
    weights: dict[str, NDArray[Any]],
    n_in: int,
    n_out: int,
    dtype: Any = np.float32,
    opset: int = 17,
    input_name: str = "input",
    output_name: str = "output",
) -> Path:
    """A one-input, one-output ONNX model of ``nodes`` (batch dimension named as PyTorch names it)."""
    element = ELEMENT[dtype]
    graph = helper.make_graph(
        nodes,
        "main_graph",
        [helper.make_tensor_value_info(input_name, element, ["batch_size", n_in])],
        [helper.make_tensor_value_info(output_name, element, ["batch_size", n_out])],
        initializer=[numpy_helper.from_array(np.asarray(value), name) for name, value in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    model.producer_name = "pytorch"
    path = folder / "model.onnx"
    onnx.save(model, str(path))
    return path


def runtimes(path: Path, X: NDArray[Any], input_name: str = "input") -> tuple[NDArray[Any], NDArray[Any]]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {input_name: X})[0], ReferenceEvaluator(str(path)).run(None, {input_name: X})[0]


def torch_mlp(folder: Path, dtype: Any = np.float32) -> tuple[Path, dict[str, NDArray[Any]]]:
    """nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)) as torch.onnx.export writes it."""
    rng = np.random.default_rng(0)
    weights = {
        "1.weight": rng.normal(0, 0.5, (8, 4)).astype(dtype),  # PyTorch's (out, in), hence transB = 1
        "1.bias": rng.normal(0, 0.5, 8).astype(dtype),
        "3.weight": rng.normal(0, 0.5, (3, 8)).astype(dtype),
        "3.bias": rng.normal(0, 0.5, 3).astype(dtype),
    }
    nodes = [
        helper.make_node("Flatten", ["input"], ["/0/Flatten_output_0"], name="/0/Flatten", axis=1),
        helper.make_node(
            "Gemm",
            ["/0/Flatten_output_0", "1.weight", "1.bias"],
            ["/1/Gemm_output_0"],
            name="/1/Gemm",
            alpha=1.0,
            beta=1.0,
            transB=1,
        ),
        helper.make_node("Relu", ["/1/Gemm_output_0"], ["/2/Relu_output_0"], name="/2/Relu"),
        helper.make_node(
            "Gemm",
            ["/2/Relu_output_0", "3.weight", "3.bias"],
            ["output"],
            name="/3/Gemm",
            alpha=1.0,
            beta=1.0,
            transB=1,
        ),
    ]
    return write(folder, nodes, weights, 4, 3, dtype), weights


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_a_pytorch_mlp_loads_as_the_network_it_is(dtype: Any, tmp_path: Path) -> None:
    path, weights = torch_mlp(tmp_path, dtype)
    net = refnet.onnx.load(path)
    assert type(net) is NeuralNetwork and [repr(layer) for layer in net.layers] == [
        "Dense(4, 8, activation='relu')",
        "Dense(8, 3, activation='identity')",
    ]
    assert np.array_equal(net.layers[0].params["W"], weights["1.weight"].T)
    X = np.random.default_rng(1).normal(0, 1, (32, 4)).astype(dtype)
    # the formula written out: relu(x @ W1ᵀ + b1) @ W2ᵀ + b2
    formula = np.maximum(X @ weights["1.weight"].T + weights["1.bias"], 0) @ weights["3.weight"].T + weights["3.bias"]
    y = net.predict(X)
    assert y.dtype == dtype
    for other in (formula, *runtimes(path, X)):
        assert relative_difference(y, other) <= TOLERANCE[dtype]


def test_a_keras_style_matmul_add_softmax_classifier_loads_with_the_softmax_folded(tmp_path: Path) -> None:
    """tf2onnx writes Dense as MatMul(x, W) + Add(·, b) with W (in, out), and a softmax output."""
    rng = np.random.default_rng(2)
    weights = {
        "sequential/dense/MatMul/ReadVariableOp:0": rng.normal(0, 0.5, (6, 5)),
        "sequential/dense/BiasAdd/ReadVariableOp:0": rng.normal(0, 0.5, 5),
        "sequential/dense_1/MatMul/ReadVariableOp:0": rng.normal(0, 0.5, (5, 4)),
        "sequential/dense_1/BiasAdd/ReadVariableOp:0": rng.normal(0, 0.5, (1, 4)),  # a (1, out) bias too
    }
    names = list(weights)
    nodes = [
        helper.make_node("MatMul", ["dense_input", names[0]], ["m0"], name="sequential/dense/MatMul"),
        helper.make_node("Add", ["m0", names[1]], ["a0"], name="sequential/dense/BiasAdd"),
        helper.make_node("Tanh", ["a0"], ["t0"], name="sequential/dense/Tanh"),
        helper.make_node("MatMul", ["t0", names[2]], ["m1"], name="sequential/dense_1/MatMul"),
        helper.make_node("Add", ["m1", names[3]], ["a1"], name="sequential/dense_1/BiasAdd"),
        helper.make_node("Softmax", ["a1"], ["dense_1"], name="sequential/dense_1/Softmax", axis=-1),
    ]
    path = write(tmp_path, nodes, weights, 6, 4, np.float64, input_name="dense_input", output_name="dense_1")
    net = refnet.onnx.load(path)
    assert [repr(layer) for layer in net.layers] == [
        "Dense(6, 5, activation='tanh')",
        "Dense(5, 4, activation='softmax')",
    ]
    X = np.random.default_rng(3).normal(0, 1, (20, 6))
    for other in runtimes(path, X, "dense_input"):
        assert relative_difference(net.predict(X), other) <= 1e-12


def test_a_pytorch_batchnorm_mlp_loads_with_its_running_statistics(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    weights = {
        "fc.weight": rng.normal(0, 0.5, (5, 3)),
        "fc.bias": rng.normal(0, 0.5, 5),
        "bn.weight": rng.uniform(0.5, 1.5, 5),
        "bn.bias": rng.normal(0, 0.5, 5),
        "bn.running_mean": rng.normal(0, 0.5, 5),
        "bn.running_var": rng.uniform(0.5, 2.0, 5),
    }
    nodes = [
        helper.make_node("Gemm", ["input", "fc.weight", "fc.bias"], ["g"], name="/fc/Gemm", transB=1),
        helper.make_node(
            "BatchNormalization",
            ["g", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"],
            ["b"],
            name="/bn/BatchNormalization",
            epsilon=1e-5,
            momentum=0.9,
        ),
        helper.make_node("Relu", ["b"], ["output"], name="/relu/Relu"),
    ]
    path = write(tmp_path, nodes, weights, 3, 5, np.float64)
    net = refnet.onnx.load(path)
    _, batchnorm, _ = net.layers
    assert isinstance(batchnorm, BatchNorm) and (batchnorm.eps, batchnorm.momentum) == (1e-5, 0.1)
    assert np.array_equal(batchnorm.state["running_var"], weights["bn.running_var"])
    X = np.random.default_rng(5).normal(0, 1, (16, 3))
    z = X @ weights["fc.weight"].T + weights["fc.bias"]
    formula = np.maximum(
        (z - weights["bn.running_mean"]) / np.sqrt(weights["bn.running_var"] + 1e-5) * weights["bn.weight"]
        + weights["bn.bias"],
        0,
    )
    for other in (formula, *runtimes(path, X)):
        # onnxruntime and the evaluator use epsilon as stored, in float32: 1e-5 to 2.5e-13 (see test_onnx.py)
        assert relative_difference(net.predict(X), other) <= 1e-12


def test_a_residual_block_loads_as_a_graph_model_that_trains(tmp_path: Path) -> None:
    """y = x + W2ᵀ·relu(W1ᵀ·x): an Add of two values is a merge, so the model is a GraphModel."""
    rng = np.random.default_rng(6)
    weights = {"w1": rng.normal(0, 0.5, (4, 4)), "w2": rng.normal(0, 0.5, (4, 4)), "head": rng.normal(0, 0.5, (4, 2))}
    nodes = [
        helper.make_node("MatMul", ["input", "w1"], ["h"], name="/block/fc1/MatMul"),
        helper.make_node("Relu", ["h"], ["r"], name="/block/relu/Relu"),
        helper.make_node("MatMul", ["r", "w2"], ["f"], name="/block/fc2/MatMul"),
        helper.make_node("Add", ["input", "f"], ["s"], name="/block/Add"),
        helper.make_node("MatMul", ["s", "head"], ["output"], name="/head/MatMul"),
    ]
    path = write(tmp_path, nodes, weights, 4, 2, np.float64)
    net = refnet.onnx.load(path)
    assert type(net) is GraphModel
    assert [type(layer) for layer in net.layers] == [Dense, Dense, Add, Dense]
    assert [node.name for node in net.nodes] == ["input", "/block/fc1/MatMul", "/block/fc2/MatMul", "/block/Add",
                                                 "/head/MatMul"]  # fmt: skip
    X = np.random.default_rng(7).normal(0, 1, (16, 4))
    formula = (X + np.maximum(X @ weights["w1"], 0) @ weights["w2"]) @ weights["head"]
    for other in (formula, *runtimes(path, X)):
        assert relative_difference(net.predict(X), other) <= 1e-12
    net.set_loss(CrossEntropy())
    labels = np.random.default_rng(8).integers(0, 2, 16)
    before = net.evaluate(X, labels)["loss"]
    net.train(X, labels, epochs=20, optimizer=Adam(0.05), batch_size=None)
    assert net.evaluate(X, labels)["loss"] < before


def test_a_sequence_model_matmul_add_softmax_on_n_t_d_loads_with_its_input_shape(tmp_path: Path) -> None:
    """MatMul + Add act on the last axis of (N, T, D): a Dense on every position, then Softmax and Concat there."""
    rng = np.random.default_rng(9)
    weights = {"w": rng.normal(0, 0.5, (4, 6)), "b": rng.normal(0, 0.5, 6)}
    nodes = [
        helper.make_node("MatMul", ["input", "w"], ["m"], name="fc/MatMul"),
        helper.make_node("Add", ["m", "b"], ["a"], name="fc/Add"),
        helper.make_node("Softmax", ["a"], ["s"], name="softmax", axis=2),
        helper.make_node("Concat", ["s", "a"], ["output"], name="concat", axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input", TensorProto.DOUBLE, ["N", 5, 4])],
        [helper.make_tensor_value_info("output", TensorProto.DOUBLE, ["N", 5, 12])],
        initializer=[numpy_helper.from_array(value, name) for name, value in weights.items()],
    )
    path = tmp_path / "seq.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    net = refnet.onnx.load(path)
    assert type(net) is GraphModel and net.input_node.shape == (5, 4)
    assert [repr(layer) for layer in net.layers][:2] == ["Dense(4, 6, activation='identity')", "Softmax()"]
    X = rng.normal(0, 1, (7, 5, 4))
    a = X @ weights["w"] + weights["b"]
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    formula = np.concatenate([e / e.sum(axis=-1, keepdims=True), a], axis=-1)
    for other in (formula, *runtimes(path, X)):
        assert relative_difference(net.predict(X), other) <= 1e-12


def test_dropout_identity_and_flatten_load_as_what_they_do_at_inference(tmp_path: Path) -> None:
    weights = {"w": np.eye(3), "ratio": np.array(0.25)}
    nodes = [
        helper.make_node("Identity", ["input"], ["i"], name="copy"),
        helper.make_node("Flatten", ["i"], ["f"], name="flat"),
        helper.make_node("MatMul", ["f", "w"], ["m"], name="fc"),
        helper.make_node("Dropout", ["m", "ratio"], ["output"], name="drop"),
    ]
    net = refnet.onnx.load(write(tmp_path, nodes, weights, 3, 3, np.float64))
    dense, dropout = net.layers
    assert isinstance(dense, Dense) and isinstance(dropout, Dropout) and dropout.p == 0.25


@settings(max_examples=15, deadline=None)
@given(
    n_in=st.integers(1, 7),
    n_out=st.integers(1, 7),
    trans_b=st.sampled_from([0, 1]),
    alpha=st.sampled_from([1.0, 0.5, 2.0]),
    beta=st.sampled_from([1.0, 0.25]),
    with_bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_any_gemm_loads_as_a_dense_computing_what_onnxruntime_computes(
    n_in: int, n_out: int, trans_b: int, alpha: float, beta: float, with_bias: bool, seed: int, tmp_path_factory: Any
) -> None:
    rng = np.random.default_rng(seed)
    B = rng.normal(0, 1, (n_out, n_in) if trans_b else (n_in, n_out))
    weights = {"B": B, **({"C": rng.normal(0, 1, n_out)} if with_bias else {})}
    inputs = ["input", "B", *(["C"] if with_bias else [])]
    node = helper.make_node("Gemm", inputs, ["output"], name="gemm", transB=trans_b, alpha=alpha, beta=beta)
    path = write(tmp_path_factory.mktemp("gemm"), [node], weights, n_in, n_out, np.float64)
    (dense,) = refnet.onnx.load(path).layers
    X = rng.normal(0, 1, (9, n_in))
    y = dense.forward(X, training=False)
    formula = alpha * (X @ (B.T if trans_b else B)) + (beta * weights["C"] if with_bias else 0.0)
    for other in (formula, *runtimes(path, X)):
        assert relative_difference(y, other) <= 1e-12


# -- refusals: what refnet cannot represent, and files it will not read ------------------------------------------
def test_an_operator_refnet_has_no_layer_for_is_refused_naming_it_and_its_node(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Gemm", ["input", "w"], ["g"], name="/fc/Gemm"),
        helper.make_node("HardSigmoid", ["g"], ["output"], name="/act/HardSigmoid"),
    ]
    path = write(tmp_path, nodes, {"w": np.ones((3, 3), np.float32)}, 3, 3)
    with pytest.raises(
        ModelFileError,
        match=r"node '/act/HardSigmoid' \(HardSigmoid\): refnet has no layer for the ONNX operator HardSigmoid",
    ):
        refnet.onnx.load(path)


@pytest.mark.parametrize(
    ("node", "weights", "message"),
    [
        (helper.make_node("Gemm", ["input", "w"], ["output"], name="g", transA=1), {"w": np.ones((3, 3))}, "transA"),
        (helper.make_node("Softmax", ["input"], ["output"], name="s", axis=0), {}, "Softmax over axis 0"),
        (helper.make_node("Add", ["input", "c"], ["output"], name="a"), {"c": np.ones(3)}, "constant operand"),
        (helper.make_node("Flatten", ["input"], ["output"], name="f", axis=0), {}, r"Flatten\(axis=1\)"),
    ],
    ids=["transA", "softmax-axis", "add-constant", "flatten-axis"],
)
def test_a_node_outside_what_refnet_represents_is_refused_naming_the_node(
    node: Any, weights: dict[str, NDArray[Any]], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ModelFileError, match=rf"node '{node.name}' \({node.op_type}\): .*{message}"):
        refnet.onnx.load(write(tmp_path, [node], weights, 3, 3, np.float64))


def test_weights_that_are_not_finite_and_unknown_attributes_are_refused(tmp_path: Path) -> None:
    node = helper.make_node("Gemm", ["input", "w"], ["output"], name="g")
    with pytest.raises(ModelFileError, match="tensor 'w' holds inf or NaN"):
        refnet.onnx.load(write(tmp_path, [node], {"w": np.full((3, 3), np.nan)}, 3, 3, np.float64))
    node = helper.make_node("Relu", ["input"], ["output"], name="r", extra=1)
    with pytest.raises(ModelFileError, match="(?s)not a valid ONNX model: Unrecognized attribute: extra .*Name: r"):
        refnet.onnx.load(write(tmp_path, [node], {}, 3, 3, np.float64))


def test_a_training_mode_batchnorm_is_refused(tmp_path: Path) -> None:
    arrays: dict[str, NDArray[Any]] = {name: np.ones(3) for name in ("s", "b", "m", "v")}
    outputs = ["output", "new_mean", "new_var"]
    node = helper.make_node("BatchNormalization", ["input", *arrays], outputs, name="bn", training_mode=1)
    with pytest.raises(ModelFileError, match="node 'bn' .*only inference-mode BatchNormalization"):
        refnet.onnx.load(write(tmp_path, [node], arrays, 3, 3, np.float64, opset=15))


def test_an_operator_of_another_domain_is_refused(tmp_path: Path) -> None:
    node = helper.make_node("FusedGemm", ["input"], ["output"], name="fused", domain="com.microsoft")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    onnx.save(helper.make_model(graph, opset_imports=opsets, ir_version=8), str(tmp_path / "m.onnx"))
    with pytest.raises(ModelFileError, match="node 'fused' .*domain 'com.microsoft' is not ONNX's own"):
        refnet.onnx.load(tmp_path / "m.onnx")


def test_a_model_that_is_not_one_input_to_one_output_of_floats_is_refused(tmp_path: Path) -> None:
    """Several outputs need output= (see the skl2onnx test); an input must be floats (N, ...) with fixed axes."""
    nodes = [helper.make_node("Relu", ["input"], ["output"], name="r"), helper.make_node("Relu", ["input"], ["p"])]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 3]) for name in ("output", "p")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(tmp_path / "a"))
    with pytest.raises(ModelFileError, match=r"the graph has the outputs \['output', 'p'\]: pass output="):
        refnet.onnx.load(tmp_path / "a")
    with pytest.raises(ModelFileError, match="'q' is not one of them"):
        refnet.onnx.load(tmp_path / "a", output="q")
    for element, shape, message in [
        (TensorProto.INT64, ["N", 3], "must be float or double"),
        (TensorProto.FLOAT, [3], r"shape \(N, features\)"),
        (TensorProto.FLOAT, ["N", "features"], "every axis after N fixed"),
    ]:
        graph = helper.make_graph(
            [helper.make_node("Identity", ["input"], ["output"])],
            "g",
            [helper.make_tensor_value_info("input", element, shape)],
            [helper.make_tensor_value_info("output", element, shape)],
        )
        onnx.save(
            helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(tmp_path / "b")
        )
        with pytest.raises(ModelFileError, match=message):
            refnet.onnx.load(tmp_path / "b")


def test_weights_stored_as_external_data_are_refused_without_reading_them(tmp_path: Path) -> None:
    path, _ = torch_mlp(tmp_path)
    model = onnx.load(str(path))
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)  # fmt: skip
    (tmp_path / "weights.bin").unlink()  # refnet must refuse before it would look for the data
    with pytest.raises(ModelFileError, match="tensor '1.weight' is stored as external data"):
        refnet.onnx.load(path)


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path, _ = torch_mlp(tmp_path)
    with pytest.raises(ModelFileError, match="over the limit of 100 bytes"):
        refnet.onnx.load(path, max_bytes=100)
    huge = tmp_path / "huge.onnx"
    with open(huge, "wb") as handle:  # a sparse file: 1 GiB on paper, nothing on disk
        handle.truncate(2**30)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=r"1,073,741,824 bytes, over the limit of 268,435,456 bytes"):
            refnet.onnx.load(huge)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20
    with pytest.raises(ValueError, match="max_bytes must be a positive int"):
        refnet.onnx.load(path, max_bytes=0)


def test_a_malformed_protobuf_is_refused_clearly_in_bounded_memory(tmp_path: Path) -> None:
    path, _ = torch_mlp(tmp_path)
    data = path.read_bytes()
    cases = {
        "garbage": b"\xff" * 64,
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "text": b"this is not a model\n",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ModelFileError, match=r"is not (an|a valid) ONNX model"):
            refnet.onnx.load(tmp_path / name)
    # A tensor whose dims promise 10¹² values but whose data holds 3: refused, nothing that size allocated.
    lying = TensorProto(name="w", data_type=TensorProto.DOUBLE, dims=[10**6, 10**6], double_data=[1.0, 2.0, 3.0])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "w"], ["output"], name="fc")],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.DOUBLE, ["N", 10**6])],
        [helper.make_tensor_value_info("output", TensorProto.DOUBLE, ["N", 10**6])],
        initializer=[lying],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    (tmp_path / "lying").write_bytes(model.SerializeToString())
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError):
            refnet.onnx.load(tmp_path / "lying")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**24
    with pytest.raises(ModelFileError, match="no ONNX file"):
        refnet.onnx.load(tmp_path / "missing.onnx")


def test_a_softmax_layer_alone_after_a_merge_stays_a_layer(tmp_path: Path) -> None:
    """An activation that follows no Dense is a layer of its own."""
    nodes = [
        helper.make_node("MatMul", ["input", "w"], ["a"], name="fa"),
        helper.make_node("Add", ["a", "input"], ["s"], name="sum"),
        helper.make_node("Softmax", ["s"], ["output"], name="softmax"),
    ]
    net = refnet.onnx.load(write(tmp_path, nodes, {"w": np.eye(3)}, 3, 3, np.float64))
    assert [type(layer) for layer in net.layers] == [Dense, Add, Softmax]


def test_a_loaded_models_backward_is_the_gradient_of_what_onnxruntime_computes(tmp_path: Path) -> None:
    """refnet as the reference for someone else's model: its hand-written backward through the loaded layers gives
    dL/dX, L = Σ G ⊙ f(X), equal to central differences of the ONNX file's f run by onnxruntime."""
    rng = np.random.default_rng(11)
    weights = {"w1": rng.normal(0, 0.5, (6, 4)), "b1": rng.normal(0, 0.5, 6), "w2": rng.normal(0, 0.5, (2, 6))}
    nodes = [
        helper.make_node("Gemm", ["input", "w1", "b1"], ["h"], name="/fc1/Gemm", transB=1),
        helper.make_node("Tanh", ["h"], ["t"], name="/act/Tanh"),
        helper.make_node("Gemm", ["t", "w2"], ["output"], name="/fc2/Gemm", transB=1),
    ]
    path = write(tmp_path, nodes, weights, 4, 2, np.float64)
    net = refnet.onnx.load(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    X, G = rng.normal(0, 1, (3, 4)), rng.normal(0, 1, (3, 2))
    net.forward(X)
    grad_X = net.backward(G)
    assert grad_X is not None
    h = 1e-5
    numerical = np.zeros_like(X)
    for index in np.ndindex(*X.shape):
        step = np.zeros_like(X)
        step[index] = h
        up, down = (session.run(None, {"input": X + sign * step})[0] for sign in (1, -1))
        numerical[index] = float((G * (up - down)).sum() / (2 * h))
    assert relative_difference(grad_X, numerical) <= 1e-8  # the central difference's own error is O(h²)


def sklearn_mlp(folder: Path, classifier: bool) -> tuple[Path, dict[str, NDArray[Any]]]:
    """MLPRegressor / MLPClassifier(zipmap=False) as skl2onnx converts them: Cast of the input, MatMul + Add of a
    (1, n) intercept per layer, the activation (Identity for a regressor's output), then Reshape(−1, 1) for a
    regressor; ArgMax, ArrayFeatureExtractor (ai.onnx.ml) and Reshape for a classifier's label output."""
    rng = np.random.default_rng(12)
    n_out = 3 if classifier else 1
    weights: dict[str, NDArray[Any]] = {
        "coefficient": rng.normal(0, 0.5, (4, 5)).astype(np.float32),
        "intercepts": rng.normal(0, 0.5, (1, 5)).astype(np.float32),
        "coefficient1": rng.normal(0, 0.5, (5, n_out)).astype(np.float32),
        "intercepts1": rng.normal(0, 0.5, (1, n_out)).astype(np.float32),
        "shape_tensor": np.array([-1, 1], dtype=np.int64),
    }
    nodes = [
        helper.make_node("Cast", ["X"], ["cast_input"], name="Cast", to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["cast_input", "coefficient"], ["mul_result"], name="MatMul"),
        helper.make_node("Add", ["mul_result", "intercepts"], ["add_result"], name="Add"),
        helper.make_node("Relu", ["add_result"], ["next_activations"], name="Relu"),
        helper.make_node("MatMul", ["next_activations", "coefficient1"], ["mul_result1"], name="MatMul1"),
        helper.make_node("Add", ["mul_result1", "intercepts1"], ["add_result1"], name="Add1"),
    ]
    outputs = [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])]
    opsets = [helper.make_opsetid("", 15)]
    if classifier:
        weights["classes"] = np.array([0, 1, 2], dtype=np.int64)
        del weights["shape_tensor"]
        nodes += [
            helper.make_node("Softmax", ["add_result1"], ["probabilities"], name="Softmax", axis=-1),
            helper.make_node("ArgMax", ["probabilities"], ["argmax_output"], name="ArgMax", axis=1),
            helper.make_node(
                "ArrayFeatureExtractor", ["classes", "argmax_output"], ["label"], name="AFE", domain="ai.onnx.ml"
            ),
        ]
        outputs = [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None, 1]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3]),
        ]
        opsets.append(helper.make_opsetid("ai.onnx.ml", 1))
    else:
        nodes += [
            helper.make_node("Identity", ["add_result1"], ["out_activations_result"], name="Identity"),
            helper.make_node("Reshape", ["out_activations_result", "shape_tensor"], ["variable"], name="Reshape"),
        ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        outputs,
        initializer=[numpy_helper.from_array(value, name) for name, value in weights.items()],
    )
    path = folder / "sklearn.onnx"
    onnx.save(helper.make_model(graph, opset_imports=opsets, ir_version=8), str(path))
    return path, weights


def test_a_sklearn_mlp_regressor_loads_through_its_cast_and_reshape(tmp_path: Path) -> None:
    path, weights = sklearn_mlp(tmp_path, classifier=False)
    net = refnet.onnx.load(path)
    assert [repr(layer) for layer in net.layers] == [
        "Dense(4, 5, activation='relu')",
        "Dense(5, 1, activation='identity')",
    ]
    X = np.random.default_rng(13).normal(0, 1, (10, 4)).astype(np.float32)
    hidden = np.maximum(X @ weights["coefficient"] + weights["intercepts"], 0)
    formula = hidden @ weights["coefficient1"] + weights["intercepts1"]
    for other in (formula, *runtimes(path, X, "X")):
        assert relative_difference(net.predict(X), other) <= 1e-5


def test_a_sklearn_mlp_classifier_loads_its_probabilities_output(tmp_path: Path) -> None:
    """The label output (ArgMax, ai.onnx.ml's ArrayFeatureExtractor) is not read: only what probabilities needs."""
    path, _ = sklearn_mlp(tmp_path, classifier=True)
    net = refnet.onnx.load(path, output="probabilities")
    assert [repr(layer) for layer in net.layers][-1] == "Dense(5, 3, activation='softmax')"
    X = np.random.default_rng(14).normal(0, 1, (10, 4)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    label, probabilities = session.run(None, {"X": X})
    assert relative_difference(net.predict(X), probabilities) <= 1e-5
    assert np.array_equal(net.predict(X).argmax(axis=1), label.reshape(-1))
    with pytest.raises(ModelFileError, match="output 'label' must be float or double"):
        refnet.onnx.load(path, output="label")


def test_a_cast_to_another_type_and_a_reshape_that_changes_the_shape_are_refused(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Cast", ["input"], ["double"], name="cast", to=TensorProto.DOUBLE),
        helper.make_node("Cast", ["double"], ["output"], name="back", to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(tmp_path / "c"))
    with pytest.raises(ModelFileError, match="node 'cast' .*Cast to element type 11: refnet computes in float32"):
        refnet.onnx.load(tmp_path / "c")
    node = helper.make_node("Reshape", ["input", "shape"], ["output"], name="reshape")
    with pytest.raises(ModelFileError, match=r"node 'reshape' .*Reshape of \(N, 4\) to \[-1, 2\]"):
        refnet.onnx.load(write(tmp_path, [node], {"shape": np.array([-1, 2])}, 4, 2, np.float64))


def test_a_pytorch_embedding_loads_as_an_embedding_of_int64_ids(tmp_path: Path) -> None:
    """nn.Sequential(nn.Embedding(7, 3), nn.Linear(3, 2)) on (batch, 4) ids: Gather(weight, input), then MatMul +
    Add (torch exports a Linear on a 3-D value that way, with the weight transposed into an initializer)."""
    rng = np.random.default_rng(15)
    weights = {
        "0.weight": rng.normal(0, 1, (7, 3)),
        "onnx::MatMul_9": rng.normal(0, 0.5, (3, 2)),
        "1.bias": rng.normal(0, 0.5, 2),
    }
    nodes = [
        helper.make_node("Gather", ["0.weight", "input"], ["/0/Gather_output_0"], name="/0/Gather"),
        helper.make_node("MatMul", ["/0/Gather_output_0", "onnx::MatMul_9"], ["/1/MatMul_output_0"], name="/1/MatMul"),
        helper.make_node("Add", ["1.bias", "/1/MatMul_output_0"], ["output"], name="/1/Add"),
    ]
    graph = helper.make_graph(
        nodes,
        "main_graph",
        [helper.make_tensor_value_info("input", TensorProto.INT64, ["batch_size", 4])],
        [helper.make_tensor_value_info("output", TensorProto.DOUBLE, ["batch_size", 4, 2])],
        initializer=[numpy_helper.from_array(value, name) for name, value in weights.items()],
    )
    path = tmp_path / "embedding.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    net = refnet.onnx.load(path)
    assert [type(layer) for layer in net.layers] == [Embedding, Dense] and net.input_shape == (4,)
    ids = rng.integers(0, 7, (5, 4))
    formula = weights["0.weight"][ids] @ weights["onnx::MatMul_9"] + weights["1.bias"]
    for other in (formula, *runtimes(path, ids)):
        assert relative_difference(net.predict(ids), other) <= 1e-12
    graph.node[0].attribute.append(helper.make_attribute("axis", 1))  # columns: (7, batch, 4) — no Embedding
    del graph.node[1:]
    graph.node[0].output[0] = "output"
    graph.output[0].CopyFrom(helper.make_tensor_value_info("output", TensorProto.DOUBLE, [7, "batch_size", 4]))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    with pytest.raises(ModelFileError, match=r"node '/0/Gather' .*only Gather along axis 0"):
        refnet.onnx.load(path)
