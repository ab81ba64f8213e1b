"""refnet.onnx.export: every exported layer, and the models built from them, compute in onnxruntime (CPU provider)
and in ONNX's reference evaluator what they compute in refnet, and come back through refnet.onnx.load predicting
bitwise the same and training on.

Agreement is the relative difference max|y_runtime − y_refnet| / max|y_refnet| over a batch: at most 1e-12 in
float64 and 1e-5 in float32. These are different implementations of the same formulas (onnxruntime's kernels,
the evaluator's NumPy), so the bound is a tolerance, not a rounding-level comparison of refnet with itself.
Run as a script, this file prints the table layer × (export, import, ORT, reference evaluator) with the largest
relative difference of each: ``PYTHONPATH=$PWD python tests/test_onnx.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
# Through importorskip, whose modules are typed Any: mypy checks these tests the same with and without the extra.
ReferenceEvaluator = pytest.importorskip("onnx.reference").ReferenceEvaluator

import refnet.onnx  # noqa: E402
from refnet import (  # noqa: E402
    ELU,
    MSE,
    SELU,
    Adam,
    BatchNorm,
    BinaryCrossEntropy,
    CrossEntropy,
    Dense,
    Dropout,
    Embedding,
    GraphModel,
    Identity,
    Input,
    LeakyReLU,
    NeuralNetwork,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from refnet.graph import Add, Concatenate, Multiply  # noqa: E402

#: The bound on the relative difference between refnet and a runtime, by dtype.
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}
DTYPES = [np.float64, np.float32]
ROWS = 64


def relative_difference(y: np.ndarray, reference: np.ndarray) -> float:
    """max|y − reference| / max|reference|, in float64."""
    y, reference = np.asarray(y, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    return float(np.abs(y - reference).max() / np.abs(reference).max())


def randomized(net: NeuralNetwork, seed: int) -> NeuralNetwork:
    """``net`` with nonzero biases, and BatchNorm scales, shifts and running statistics away from 1 and 0."""
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        if isinstance(layer, Dense):
            layer.params["b"][...] = rng.normal(0.0, 0.5, layer.params["b"].shape)
        if isinstance(layer, BatchNorm):
            D = layer.num_features
            layer.params["gamma"][...] = rng.uniform(0.5, 1.5, D)
            layer.params["beta"][...] = rng.normal(0.0, 0.5, D)
            layer.state["running_mean"][...] = rng.normal(0.0, 0.5, D)
            layer.state["running_var"][...] = rng.uniform(0.5, 2.0, D)
    return net


def stack(*layers: Callable[[Any], Any], input_shape: tuple[int, ...] | None = None) -> Callable[[Any], NeuralNetwork]:
    """A builder of NeuralNetwork(layers) in a dtype; each layer is built by ``layer(dtype)``."""
    return lambda dtype: NeuralNetwork([make(dtype) for make in layers], CrossEntropy(), input_shape=input_shape)


def dense(n_in: int, n_out: int, activation: Any = None, seed: int = 0) -> Callable[[Any], Dense]:
    return lambda dtype: Dense(n_in, n_out, activation, seed=seed, dtype=dtype)


def merged(merge: Callable[[], Any], branches: int = 2) -> Callable[[Any], GraphModel]:
    """x -> ``branches`` Dense layers -> merge -> Dense: a graph around one merge."""

    def build(dtype: Any) -> GraphModel:
        x = Input(5)
        paths = [Dense(5, 4, ("tanh", "sigmoid", None)[i % 3], seed=i, dtype=dtype)(x) for i in range(branches)]
        y = merge()(*paths)
        width = 4 * branches if merge is Concatenate else 4
        return GraphModel(x, Dense(width, 3, seed=9, dtype=dtype)(y), loss=CrossEntropy())

    return build


def residual(dtype: Any) -> GraphModel:
    """x -> Dense(relu) -> Dense -> Add(x, ·) -> ReLU -> BatchNorm -> Dense: a residual block."""
    x = Input(5)
    h = Dense(5, 5, seed=2, dtype=dtype)(Dense(5, 5, "relu", seed=1, dtype=dtype)(x))
    y = BatchNorm(5, dtype=dtype)(ReLU()(Add()(x, h)))
    return GraphModel(x, Dense(5, 3, seed=3, dtype=dtype)(y), loss=CrossEntropy())


def sequence_concatenate(dtype: Any) -> GraphModel:
    """(N, 6, 5) -> two Dense along the last axis -> Concatenate(axis=1) of positions -> (N, 12, 4) -> Dense."""
    x = Input((6, 5))
    a, b = Dense(5, 4, seed=1, dtype=dtype)(x), Dense(5, 4, "relu", seed=2, dtype=dtype)(x)
    return GraphModel(x, Dense(4, 3, seed=3, dtype=dtype)(Concatenate(axis=1)(a, b)), loss=CrossEntropy())


def bce_logits(dtype: Any) -> NeuralNetwork:
    return NeuralNetwork([Dense(5, 8, "relu", seed=1, dtype=dtype), Dense(8, 2, seed=2, dtype=dtype)],
                         BinaryCrossEntropy(from_logits=True))  # fmt: skip


#: name -> (builder by dtype, export with proba=True?). The first rows are one layer each (after a Dense where
#: the layer does not fix the width); the last are models built from them.
CASES: dict[str, tuple[Callable[[Any], NeuralNetwork], bool]] = {
    "Dense": (stack(dense(5, 4)), False),
    "Dense(relu)": (stack(dense(5, 4, "relu")), False),
    "Dense(sigmoid)": (stack(dense(5, 4, "sigmoid")), False),
    "Dense(tanh)": (stack(dense(5, 4, "tanh")), False),
    "Dense(softmax)": (stack(dense(5, 4, "softmax")), False),
    "Dense(leaky_relu 0.01)": (stack(dense(5, 4, "leaky_relu")), False),
    "Dense(leaky_relu 0.25)": (stack(dense(5, 4, LeakyReLU(0.25))), False),
    "Identity": (stack(dense(5, 4), lambda dtype: Identity()), False),
    "ReLU": (stack(dense(5, 4), lambda dtype: ReLU()), False),
    "Sigmoid": (stack(dense(5, 4), lambda dtype: Sigmoid()), False),
    "Tanh": (stack(dense(5, 4), lambda dtype: Tanh()), False),
    "Softmax": (stack(dense(5, 4), lambda dtype: Softmax()), False),
    "LeakyReLU(0.2)": (stack(dense(5, 4), lambda dtype: LeakyReLU(0.2)), False),
    "ELU": (stack(dense(5, 4), lambda dtype: ELU()), False),
    "Dense(elu)": (stack(dense(5, 4, "elu")), False),
    "SELU": (stack(dense(5, 4), lambda dtype: SELU()), False),
    "Softplus": (stack(dense(5, 4), lambda dtype: Softplus()), False),
    "Dropout": (stack(dense(5, 4), lambda dtype: Dropout(0.3, seed=0)), False),
    "BatchNorm": (stack(dense(5, 4), lambda dtype: BatchNorm(4, dtype=dtype)), False),
    "Add": (merged(Add), False),
    "Add of 3": (merged(Add, 3), False),
    "Multiply": (merged(Multiply), False),
    "Concatenate": (merged(Concatenate), False),
    "MLP": (stack(dense(5, 16, "relu", 1), dense(16, 16, "tanh", 2), dense(16, 3, None, 3)), False),
    "BatchNorm MLP": (
        stack(
            dense(5, 16, None, 1),
            lambda dtype: BatchNorm(16, dtype=dtype),
            lambda dtype: ReLU(),
            lambda dtype: Dropout(0.2, seed=0),
            dense(16, 3, None, 2),
        ),
        False,
    ),
    "residual graph": (residual, False),
    "Dense on (N, T, D)": (stack(dense(5, 4, "tanh", 1), dense(4, 3, None, 2), input_shape=(6, 5)), False),
    "Concatenate(axis=1) on (N, T, D)": (sequence_concatenate, False),
    "sequence MLP, predict_proba": (stack(dense(5, 8, "relu", 1), dense(8, 3, None, 2), input_shape=(6, 5)), True),
    "Embedding": (stack(lambda dtype: Embedding(11, 5, seed=4, dtype=dtype), input_shape=(6,)), False),
    "Embedding language model, predict_proba": (
        stack(
            lambda dtype: Embedding(11, 5, seed=4, dtype=dtype),
            dense(5, 8, "tanh", 1),
            dense(8, 11, None, 2),
            input_shape=(6,),
        ),
        True,
    ),
    "MLP, predict_proba (softmax)": (stack(dense(5, 16, "relu", 1), dense(16, 3, None, 2)), True),
    "MLP, predict_proba (sigmoid)": (bce_logits, True),
}


#: Selu's alpha and gamma are float attributes, which ONNX stores in float32: a runtime computes with SELU's
#: constants rounded to float32 (relative error up to 6e-8), which bounds its float64 agreement with refnet.
FLOAT32_CONSTANTS = {"SELU": {np.float64: 1e-7, np.float32: 1e-5}}
#: The cases whose operator onnxruntime's CPU provider runs in float32 only (the reference evaluator runs both).
NO_FLOAT64_KERNEL = {"ELU": "Elu", "Dense(elu)": "Elu", "SELU": "Selu", "Softplus": "Softplus"}


def built(name: str, dtype: Any) -> tuple[NeuralNetwork, np.ndarray, np.ndarray]:
    """(model, X, what refnet computes for X: predict, or predict_proba for a proba case)."""
    build, proba = CASES[name]
    net = randomized(build(dtype), seed=len(name))
    shape = net.input_node.shape if isinstance(net, GraphModel) else net.input_shape or (net.in_features,)
    rng = np.random.default_rng(7)
    first = net.layers[0]
    if isinstance(first, Embedding):  # integer ids, every one of the table's rows in range
        X = rng.integers(0, first.num_embeddings, (ROWS, *shape))
    else:
        X = rng.normal(0.0, 1.0, (ROWS, *shape)).astype(dtype)
    return net, X, net.predict_proba(X) if proba else net.predict(X)


def exported(name: str, dtype: Any, folder: Path) -> tuple[NeuralNetwork, np.ndarray, np.ndarray, Path]:
    net, X, y = built(name, dtype)
    path = folder / "model.onnx"
    refnet.onnx.export(net, path, proba=CASES[name][1])
    return net, X, y, path


def run_onnxruntime(path: Path, X: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"X": X})[0]


def run_reference(path: Path, X: np.ndarray) -> np.ndarray:
    return ReferenceEvaluator(str(path)).run(None, {"X": X})[0]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", CASES)
def test_onnxruntime_computes_what_refnet_predicts(name: str, dtype: Any, tmp_path: Path) -> None:
    _, X, y, path = exported(name, dtype, tmp_path)
    if dtype == np.float64 and name in NO_FLOAT64_KERNEL:
        with pytest.raises(ort.capi.onnxruntime_pybind11_state.NotImplemented):
            run_onnxruntime(path, X)
        pytest.skip(f"onnxruntime has no float64 kernel for {NO_FLOAT64_KERNEL[name]}")
    y_runtime = run_onnxruntime(path, X)
    assert y_runtime.dtype == dtype and y_runtime.shape == y.shape and y.dtype == dtype
    assert relative_difference(y_runtime, y) <= FLOAT32_CONSTANTS.get(name, TOLERANCE)[dtype]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", CASES)
def test_the_reference_evaluator_computes_what_refnet_predicts(name: str, dtype: Any, tmp_path: Path) -> None:
    _, X, y, path = exported(name, dtype, tmp_path)
    y_reference = run_reference(path, X)
    assert y_reference.dtype == dtype and y_reference.shape == y.shape
    assert relative_difference(y_reference, y) <= FLOAT32_CONSTANTS.get(name, TOLERANCE)[dtype]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", [name for name, (_, proba) in CASES.items() if not proba])
def test_export_then_load_predicts_bitwise_the_same(name: str, dtype: Any, tmp_path: Path) -> None:
    net, X, y, path = exported(name, dtype, tmp_path)
    loaded = refnet.onnx.load(path)
    assert type(loaded) is type(net)
    assert loaded.dtype == dtype
    assert np.array_equal(loaded.predict(X), y)


@pytest.mark.parametrize("name", ["MLP", "BatchNorm MLP", "residual graph"])
def test_a_loaded_model_trains_on_exactly_as_the_original(name: str, tmp_path: Path) -> None:
    """The loaded model and the original take the same steps: bitwise the same parameters after training.

    (Dropout's masks come from each model's own generator, so the BatchNorm MLP trains with p = 0 here.)
    """
    net, X, _, path = exported(name, np.float64, tmp_path)
    for layer in net.layers:
        if isinstance(layer, Dropout):
            layer.p = 0.0
    loaded = refnet.onnx.load(path)
    for layer in loaded.layers:
        if isinstance(layer, Dropout):
            layer.p = 0.0
    loaded.set_loss(CrossEntropy())
    labels = np.random.default_rng(3).integers(0, 3, ROWS)
    before = net.evaluate(X, labels)["loss"]
    for model in (net, loaded):
        model.train(X, labels, epochs=5, optimizer=Adam(0.01), batch_size=None, shuffle=False)
    assert net.evaluate(X, labels)["loss"] < before
    for original, copy in zip(net.layers, loaded.layers, strict=True):
        for key, value in original.params.items():
            assert np.array_equal(copy.params[key], value), (type(original).__name__, key)
        for key, value in original.state.items():
            assert np.array_equal(copy.state[key], value), (type(original).__name__, key)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_the_exported_model_passes_the_full_checker_in_its_dtype(dtype: Any, tmp_path: Path) -> None:
    _, _, _, path = exported("BatchNorm MLP", dtype, tmp_path)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    element = onnx.TensorProto.DOUBLE if dtype == np.float64 else onnx.TensorProto.FLOAT
    (x,), (y,) = model.graph.input, model.graph.output
    assert (x.name, x.type.tensor_type.elem_type, y.name, y.type.tensor_type.elem_type) == ("X", element, "Y", element)
    assert [dim.dim_value for dim in x.type.tensor_type.shape.dim] == [0, 5]  # (N, 5): N symbolic
    assert {tensor.data_type for tensor in model.graph.initializer} == {element}


def test_layers_become_the_onnx_operators_the_docstring_names(tmp_path: Path) -> None:
    _, _, _, path = exported("Dense on (N, T, D)", np.float64, tmp_path)
    model = onnx.load(str(path))
    assert [node.op_type for node in model.graph.node] == ["MatMul", "Add", "Tanh", "MatMul", "Add"]  # Gemm: rows only
    assert [dim.dim_param or dim.dim_value for dim in model.graph.input[0].type.tensor_type.shape.dim] == ["N", 6, 5]
    _, _, _, path = exported("Concatenate(axis=1) on (N, T, D)", np.float64, tmp_path)
    (concat,) = [node for node in onnx.load(str(path)).graph.node if node.op_type == "Concat"]
    assert onnx.helper.get_attribute_value(concat.attribute[0]) == 1
    _, _, _, path = exported("BatchNorm MLP", np.float64, tmp_path)
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert ops == ["Gemm", "BatchNormalization", "Relu", "Dropout", "Gemm"]
    _, _, _, path = exported("residual graph", np.float64, tmp_path)
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert ops == ["Gemm", "Relu", "Gemm", "Add", "Relu", "BatchNormalization", "Gemm"]


def test_batchnorm_keeps_its_running_statistics_epsilon_and_momentum(tmp_path: Path) -> None:
    net, _, _, path = exported("BatchNorm", np.float64, tmp_path)
    model = onnx.load(str(path))
    (node,) = [node for node in model.graph.node if node.op_type == "BatchNormalization"]
    settings = {attribute.name: onnx.helper.get_attribute_value(attribute) for attribute in node.attribute}
    assert settings == {"epsilon": pytest.approx(1e-5, rel=1e-7), "momentum": pytest.approx(0.9, rel=1e-7)}
    weights = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    layer = net.layers[1]
    assert np.array_equal(weights[node.input[3]], layer.state["running_mean"])
    assert np.array_equal(weights[node.input[4]], layer.state["running_var"])
    (loaded,) = [layer for layer in refnet.onnx.load(path).layers if isinstance(layer, BatchNorm)]
    assert (loaded.eps, loaded.momentum) == (1e-5, 0.1)  # exactly: the float32 attributes read as decimals


def test_leaky_relu_is_exact_in_float64_whatever_alpha_is(tmp_path: Path) -> None:
    """ONNX stores LeakyRelu's alpha in float32: a float64 alpha it cannot hold is written as max(x, alpha·x)."""
    _, _, _, path = exported("Dense(leaky_relu 0.01)", np.float64, tmp_path)
    assert [node.op_type for node in onnx.load(str(path)).graph.node] == ["Gemm", "Mul", "Max"]
    _, _, _, path = exported("Dense(leaky_relu 0.25)", np.float64, tmp_path)
    assert [node.op_type for node in onnx.load(str(path)).graph.node] == ["Gemm", "LeakyRelu"]
    _, _, _, path = exported("Dense(leaky_relu 0.01)", np.float32, tmp_path)
    assert [node.op_type for node in onnx.load(str(path)).graph.node] == ["Gemm", "LeakyRelu"]
    (layer,) = refnet.onnx.load(path).layers
    assert isinstance(layer, Dense) and isinstance(layer.activation, LeakyReLU) and layer.activation.alpha == 0.01


def test_predict_proba_appends_softmax_or_sigmoid(tmp_path: Path) -> None:
    _, _, _, path = exported("MLP, predict_proba (softmax)", np.float64, tmp_path)
    assert [node.op_type for node in onnx.load(str(path)).graph.node][-1] == "Softmax"
    _, _, _, path = exported("MLP, predict_proba (sigmoid)", np.float64, tmp_path)
    assert [node.op_type for node in onnx.load(str(path)).graph.node][-1] == "Sigmoid"
    net = NeuralNetwork([Dense(5, 1, "sigmoid", seed=0)], BinaryCrossEntropy())  # outputs already probabilities
    model = refnet.onnx.export(net, tmp_path / "p.onnx", proba=True)
    assert [node.op_type for node in model.graph.node] == ["Gemm", "Sigmoid"]


def test_an_embedding_reads_int64_ids_and_a_loaded_one_trains_on(tmp_path: Path) -> None:
    net, X, _, path = exported("Embedding language model, predict_proba", np.float64, tmp_path)
    model = onnx.load(str(path))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert model.graph.node[0].op_type == "Gather"
    refnet.onnx.export(net, tmp_path / "logits.onnx")
    loaded = refnet.onnx.load(tmp_path / "logits.onnx")
    assert isinstance(loaded.layers[0], Embedding) and np.array_equal(loaded.predict(X), net.predict(X))
    loaded.set_loss(CrossEntropy())
    targets = np.roll(X, -1, axis=1)  # next id at every position
    for model_ in (net, loaded):
        model_.train(X, targets, epochs=3, optimizer=Adam(0.01), batch_size=None, shuffle=False)
    for original, copy in zip(net.layers, loaded.layers, strict=True):
        for key, value in original.params.items():
            assert np.array_equal(copy.params[key], value)


def test_input_shape_sets_the_shape_of_x_for_a_network_that_does_not_fix_it(tmp_path: Path) -> None:
    refnet.onnx.export(NeuralNetwork([Tanh()]), tmp_path / "t.onnx", input_shape=(2, 3))
    X = np.linspace(-2.0, 2.0, 24).reshape(4, 2, 3)
    assert relative_difference(run_onnxruntime(tmp_path / "t.onnx", X), np.tanh(X)) <= 1e-12
    assert np.array_equal(refnet.onnx.load(tmp_path / "t.onnx").predict(X), np.tanh(X))


@pytest.mark.parametrize("opset", [13, 15, 17, 21])
def test_every_supported_opset_runs_in_onnxruntime(opset: int, tmp_path: Path) -> None:
    net, X, y = built("BatchNorm MLP", np.float64)
    model = refnet.onnx.export(net, tmp_path / "m.onnx", opset=opset)
    assert [entry.version for entry in model.opset_import] == [opset]
    assert relative_difference(run_onnxruntime(tmp_path / "m.onnx", X), y) <= 1e-12


class Doubled(Tanh):
    """A user's activation: 2·tanh(x). Not one refnet knows how to export."""

    def function(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.multiply(2.0, np.tanh(x), out=out)


def test_a_layer_without_an_export_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"previous")
    with pytest.raises(TypeError, match=r"layer 1 is a Doubled, which has no ONNX export; the layers that export"):
        refnet.onnx.export(NeuralNetwork([Dense(3, 2, seed=0), Doubled()]), path)
    with pytest.raises(TypeError, match=r"the activation of layer0_dense is a Doubled"):
        refnet.onnx.export(NeuralNetwork([Dense(3, 2, Doubled(), seed=0)]), path)
    assert path.read_bytes() == b"previous"  # a failed export leaves what was there
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # and no temporary file


def test_bad_arguments_are_refused_at_the_boundary(tmp_path: Path) -> None:
    net = NeuralNetwork([Dense(3, 2, seed=0)], MSE())
    path = tmp_path / "m.onnx"
    with pytest.raises(TypeError, match="needs a classification loss .* the model has the loss MSE"):
        refnet.onnx.export(net, path, proba=True)
    with pytest.raises(ValueError, match="opset must be between 13 and"):
        refnet.onnx.export(net, path, opset=12)
    with pytest.raises(TypeError, match="opset must be an int"):
        refnet.onnx.export(net, path, opset="17")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="takes a NeuralNetwork or GraphModel, got Dense"):
        refnet.onnx.export(Dense(3, 2), path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no layers"):
        refnet.onnx.export(NeuralNetwork(), path)
    with pytest.raises(ValueError, match="does not fix the shape of X; pass input_shape="):
        refnet.onnx.export(NeuralNetwork([ReLU()]), path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        refnet.onnx.export(net, tmp_path / "missing" / "m.onnx")
    assert not path.exists()


def measure(name: str, dtype: Any, folder: Path) -> dict[str, Any]:
    """One row of the agreement table: the operators written, the largest relative differences, the round trip."""
    _, X, y, path = exported(name, dtype, folder)
    row: dict[str, Any] = {"ops": [node.op_type for node in onnx.load(str(path)).graph.node]}
    no_kernel = dtype == np.float64 and name in NO_FLOAT64_KERNEL
    row["ort"] = float("nan") if no_kernel else relative_difference(run_onnxruntime(path, X), y)
    row["reference"] = relative_difference(run_reference(path, X), y)
    row["import"] = "-" if CASES[name][1] else bool(np.array_equal(refnet.onnx.load(path).predict(X), y))
    return row


def agreement_table() -> str:
    """The markdown table of every case in both dtypes (what the script prints)."""
    import tempfile

    lines = [
        "| layer / model | exported as (float64) | load predicts bitwise the same | ORT float64 | ORT float32 "
        "| reference float64 | reference float32 |",
        "|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        for name in CASES:
            rows = {dtype: measure(name, dtype, Path(folder)) for dtype in DTYPES}
            same = {"True": "yes", "False": "NO", "-": "-"}[
                "/".join(sorted({str(row["import"]) for row in rows.values()}))
            ]
            cells = [f"{rows[dtype][key]:.1e}" for key in ("ort", "reference") for dtype in DTYPES]
            ops = ", ".join(rows[np.float64]["ops"])
            lines.append(f"| {name} | {ops} | {same} | {' | '.join(cells)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}, numpy {np.__version__}")
    print(agreement_table())
