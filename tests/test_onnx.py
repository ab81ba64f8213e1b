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

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
# Through importorskip, whose modules are typed Any: mypy checks these tests the same with and without the extra.
ReferenceEvaluator = pytest.importorskip("onnx.reference").ReferenceEvaluator
OpRun = pytest.importorskip("onnx.reference.op_run").OpRun

from helpers import relative_difference  # noqa: E402

import refnet.onnx  # noqa: E402
from refnet import (  # noqa: E402
    ELU,
    GELU,
    GRU,
    LSTM,
    MSE,
    RNN,
    SELU,
    Adam,
    AvgPool2D,
    BatchNorm,
    BatchNorm2D,
    BinaryCrossEntropy,
    Conv2D,
    CrossEntropy,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GraphModel,
    Identity,
    Input,
    LayerNorm,
    LeakyReLU,
    MaxPool2D,
    MultiHeadAttention,
    NeuralNetwork,
    PositionalEmbedding,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from refnet.graph import Add, Concatenate, Multiply  # noqa: E402
from refnet.transformer import tiny_gpt  # noqa: E402

#: The bound on the relative difference between refnet and a runtime, by dtype.
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}
DTYPES = [np.float64, np.float32]
ROWS = 64


def randomized(net: NeuralNetwork, seed: int) -> NeuralNetwork:
    """``net`` with nonzero biases, and BatchNorm scales, shifts and running statistics away from 1 and 0."""
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        if isinstance(layer, (Dense, Conv2D)):
            layer.params["b"][...] = rng.normal(0.0, 0.5, layer.params["b"].shape)
        if isinstance(layer, MultiHeadAttention):
            for name in ("b_q", "b_k", "b_v", "b_o"):
                layer.params[name][...] = rng.normal(0.0, 0.5, layer.embed_dim)
        if isinstance(layer, LayerNorm):
            layer.params["gamma"][...] = rng.uniform(0.5, 1.5, layer.num_features)
            layer.params["beta"][...] = rng.normal(0.0, 0.5, layer.num_features)
        if isinstance(layer, (BatchNorm, BatchNorm2D)):
            D = layer.params["gamma"].size
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


#: The per-sample shape of the CNN cases' images: (C, H, W).
IMAGE = (2, 7, 7)


def bn2d(dtype: Any) -> BatchNorm2D:
    """A BatchNorm2D of IMAGE's channels: what puts a parameter-free layer after it in the case's dtype."""
    return BatchNorm2D(IMAGE[0], dtype=dtype)


def conv(C: int, O: int, kernel: Any, stride: Any = 1, padding: Any = 0, activation: Any = None, seed: int = 0) -> Any:
    return lambda dtype: Conv2D(C, O, kernel, stride, padding, activation, seed=seed, dtype=dtype)


def attention(E: int, H: int, causal: bool) -> Any:
    return lambda dtype: MultiHeadAttention(E, H, causal, seed=E + H, dtype=dtype)


def recurrent(kind: Any, D: int, H: int, sequences: bool) -> Any:
    return lambda dtype: kind(D, H, sequences, seed=D + H, dtype=dtype)


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
    # -- issue 19's CNN layers, on images (N, C, H, W)
    "Conv2D": (stack(conv(2, 3, 3), input_shape=IMAGE), False),
    "Conv2D(relu), stride 2, padding 1": (stack(conv(2, 4, 3, 2, 1, "relu"), input_shape=IMAGE), False),
    "Conv2D(tanh), kernel 2x3, stride (2, 1), padding (0, 2)": (
        stack(conv(2, 3, (2, 3), (2, 1), (0, 2), "tanh"), input_shape=IMAGE),
        False,
    ),
    "MaxPool2D": (stack(bn2d, lambda dtype: MaxPool2D(2), input_shape=IMAGE), False),
    "MaxPool2D(3, stride 2)": (stack(bn2d, lambda dtype: MaxPool2D(3, 2), input_shape=IMAGE), False),
    "AvgPool2D": (stack(bn2d, lambda dtype: AvgPool2D(2), input_shape=IMAGE), False),
    "AvgPool2D(3, stride 2)": (stack(bn2d, lambda dtype: AvgPool2D(3, 2), input_shape=IMAGE), False),
    "Flatten": (stack(lambda dtype: Flatten(), dense(2 * 7 * 7, 3), input_shape=IMAGE), False),
    "BatchNorm2D": (stack(lambda dtype: BatchNorm2D(2, dtype=dtype), input_shape=IMAGE), False),
    "CNN": (
        stack(
            conv(2, 4, 3, 1, 1, "relu"),
            lambda dtype: MaxPool2D(2),
            lambda dtype: BatchNorm2D(4, dtype=dtype),
            lambda dtype: Flatten(),
            dense(4 * 3 * 3, 3, None, 5),
            input_shape=IMAGE,
        ),
        False,
    ),
    "CNN, predict_proba": (
        stack(
            conv(2, 3, 3, 2, 0, "gelu"),
            lambda dtype: AvgPool2D(2, 1),
            lambda dtype: Flatten(),
            dense(3 * 2 * 2, 3, None, 5),
            input_shape=IMAGE,
        ),
        True,
    ),
    # -- issue 21/22's norms and activations
    "LayerNorm": (stack(dense(5, 4), lambda dtype: LayerNorm(4, dtype=dtype)), False),
    "LayerNorm on (N, T, D)": (stack(lambda dtype: LayerNorm(5, dtype=dtype), input_shape=(6, 5)), False),
    "GELU": (stack(dense(5, 4), lambda dtype: GELU()), False),
    "GELU(tanh)": (stack(dense(5, 4), lambda dtype: GELU("tanh")), False),
    "Dense(gelu)": (stack(dense(5, 4, "gelu")), False),
    "Dense(gelu tanh)": (stack(dense(5, 4, GELU("tanh"))), False),
    "SiLU": (stack(dense(5, 4), lambda dtype: SiLU()), False),
    "Dense(silu)": (stack(dense(5, 4, "silu")), False),
    "LayerNorm GELU MLP": (
        stack(
            dense(5, 16, "relu", 1),
            lambda dtype: LayerNorm(16, dtype=dtype),
            dense(16, 8, "silu", 2),
            lambda dtype: GELU("tanh"),
            dense(8, 3, None, 3),
        ),
        False,
    ),
    # -- issue 21's attention and positions, on sequences (N, T, E)
    "PositionalEmbedding": (
        stack(lambda dtype: PositionalEmbedding(9, 6, seed=3, dtype=dtype), input_shape=(5, 6)),
        False,
    ),
    "MultiHeadAttention": (stack(attention(6, 2, False), input_shape=(5, 6)), False),
    "MultiHeadAttention(causal)": (stack(attention(6, 3, True), input_shape=(5, 6)), False),
    "tiny GPT": (lambda dtype: tiny_gpt(11, 6, 8, 2, 2, seed=0, dtype=dtype), False),
    "tiny GPT, predict_proba": (lambda dtype: tiny_gpt(11, 6, 8, 2, 1, seed=1, dtype=dtype), True),
    # -- issue 20's recurrent layers, on sequences (N, T, D)
    **{
        f"{kind.__name__}{'' if sequences else ', last h only'}": (
            stack(recurrent(kind, 5, 4, sequences), input_shape=(6, 5)),
            False,
        )
        for kind in (RNN, LSTM, GRU)
        for sequences in (True, False)
    },
    "LSTM language model": (
        stack(
            lambda dtype: Embedding(11, 5, seed=4, dtype=dtype),
            recurrent(LSTM, 5, 8, True),
            dense(8, 11, None, 2),
            input_shape=(6,),
        ),
        False,
    ),
    "GRU classifier, predict_proba": (
        stack(recurrent(GRU, 5, 8, True), recurrent(RNN, 8, 6, False), dense(6, 3, None, 2), input_shape=(6, 5)),
        True,
    ),
}


#: Selu's alpha and gamma are float attributes, which ONNX stores in float32: a runtime computes with SELU's
#: constants rounded to float32 (relative error up to 6e-8), which bounds its float64 agreement with refnet.
FLOAT32_CONSTANTS = {"SELU": {np.float64: 1e-7, np.float32: 1e-5}}
#: The reference evaluator computes Erf in float32 (``np.vectorize(math.erf, otypes=["f"])``): exact GELU's
#: float64 agreement is bounded by float32's rounding of erf (about 1e-8), not by 1e-12.
#: (The tiny GPT's feed-forward layers are Dense(gelu).) With its Erf computed in float64 the evaluator agrees to
#: 1e-12: test_with_erf_in_float64_the_reference_evaluator_agrees_with_exact_gelu_to_1e_12.
ERF_CASES = ("GELU", "Dense(gelu)", "CNN, predict_proba", "tiny GPT", "tiny GPT, predict_proba")
FLOAT32_CONSTANTS.update({name: {np.float64: 1e-7, np.float32: 1e-5} for name in ERF_CASES})
#: LayerNormalization's epsilon is a float32 attribute too: the runtimes normalize with float32(1e-5), off by
#: 2.5e-13, which moves y by about 2.5e-13 / (2·(var + eps)) relative, var a row's variance: a row of 4 or 5
#: features can have var ~ 0.05, so 1e-12 is not reached by every batch; 1e-10 bounds var > 0.00125.
FLOAT32_CONSTANTS.update(
    {name: {np.float64: 1e-10, np.float32: 1e-5} for name in ("LayerNorm", "LayerNorm on (N, T, D)")}
)
#: The cases whose operator onnxruntime's CPU provider runs in float32 only (the reference evaluator runs both);
#: onnxruntime's refusal names the operator.
NO_FLOAT64_KERNEL = {
    "ELU": "Elu",
    "Dense(elu)": "Elu",
    "SELU": "Selu",
    "Softplus": "Softplus",
    **{name: "Conv" for name in CASES if name.startswith("Conv2D") or name.startswith("CNN")},
    **{name: "AveragePool" for name in CASES if name.startswith("AvgPool2D")},
    **{name: "Erf" for name in ERF_CASES if name not in ("CNN, predict_proba",)},
    **{
        name: name.split(" ")[0].strip(",") for name in CASES if name.split(" ")[0].strip(",") in ("RNN", "LSTM", "GRU")
    },
    "GRU classifier, predict_proba": "RNN",  # the first of its operators without a float64 kernel
}


def built(name: str, dtype: Any) -> tuple[NeuralNetwork, NDArray[Any], NDArray[Any]]:
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


def exported(name: str, dtype: Any, folder: Path) -> tuple[NeuralNetwork, NDArray[Any], NDArray[Any], Path]:
    net, X, y = built(name, dtype)
    path = folder / "model.onnx"
    refnet.onnx.export(net, path, proba=CASES[name][1])
    return net, X, y, path


def run_onnxruntime(path: Path, X: NDArray[Any]) -> NDArray[Any]:
    """onnxruntime's Y for X on the CPU provider, with its default graph optimizations.

    onnxruntime 1.23 (the newest wheels for Python 3.10; 1.32 does not) fuses x·Sigmoid(x) into its own
    com.microsoft QuickGelu, which has a float32 kernel only: a float64 SiLU the file computes with
    standard operators then fails to load. For that case alone the session is made again with the
    basic optimizations (no fusion into com.microsoft operators), which computes the file as written.
    """
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except ort.capi.onnxruntime_pybind11_state.NotImplemented as error:
        if "QuickGelu" not in str(error):
            raise
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"X": X})[0]


def run_reference(path: Path, X: NDArray[Any], erf_in_float64: bool = False) -> NDArray[Any]:
    """The reference evaluator's Y; with ``erf_in_float64`` its Erf (float32, see ERF_CASES) replaced by math.erf."""
    new_ops = [Erf] if erf_in_float64 else None
    return ReferenceEvaluator(str(path), new_ops=new_ops).run(None, {"X": X})[0]


def erf_in_float64(self: Any, x: NDArray[Any]) -> tuple[NDArray[Any]]:
    """ONNX's Erf, elementwise math.erf in the input's dtype (the evaluator's own rounds to float32)."""
    return (np.vectorize(math.erf, otypes=[x.dtype])(x),)


#: The evaluator's operator class for Erf made from ``erf_in_float64`` (its class name is the operator it replaces).
Erf = type("Erf", (OpRun,), {"op_domain": "", "_run": erf_in_float64})


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", CASES)
def test_onnxruntime_computes_what_refnet_predicts(name: str, dtype: Any, tmp_path: Path) -> None:
    _, X, y, path = exported(name, dtype, tmp_path)
    if dtype == np.float64 and name in NO_FLOAT64_KERNEL:
        state = ort.capi.onnxruntime_pybind11_state
        with pytest.raises((state.NotImplemented, state.RuntimeException), match=NO_FLOAT64_KERNEL[name]):
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


@pytest.mark.parametrize("name", ERF_CASES)
def test_with_erf_in_float64_the_reference_evaluator_agrees_with_exact_gelu_to_1e_12(name: str, tmp_path: Path) -> None:
    _, X, y, path = exported(name, np.float64, tmp_path)
    assert relative_difference(run_reference(path, X, erf_in_float64=True), y) <= TOLERANCE[np.float64]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", [name for name, (_, proba) in CASES.items() if not proba])
def test_export_then_load_predicts_bitwise_the_same(name: str, dtype: Any, tmp_path: Path) -> None:
    net, X, y, path = exported(name, dtype, tmp_path)
    loaded = refnet.onnx.load(path)
    assert type(loaded) is type(net)
    assert loaded.dtype == dtype
    assert np.array_equal(loaded.predict(X), y)


@pytest.mark.parametrize("name", ["MLP", "BatchNorm MLP", "residual graph", "CNN", "LayerNorm GELU MLP"])
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


def test_the_cnn_layers_become_conv_pools_and_flatten_with_their_settings(tmp_path: Path) -> None:
    _, _, _, path = exported("CNN", np.float64, tmp_path)
    nodes = onnx.load(str(path)).graph.node
    assert [node.op_type for node in nodes] == ["Conv", "Relu", "MaxPool", "BatchNormalization", "Flatten", "Gemm"]
    settings = [{a.name: onnx.helper.get_attribute_value(a) for a in node.attribute} for node in nodes]
    assert settings[0] == {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1]}
    assert settings[2] == {"kernel_shape": [2, 2], "strides": [2, 2]}
    _, _, _, path = exported("Conv2D(tanh), kernel 2x3, stride (2, 1), padding (0, 2)", np.float64, tmp_path)
    (conv, _) = onnx.load(str(path)).graph.node
    assert {a.name: onnx.helper.get_attribute_value(a) for a in conv.attribute} == {
        "kernel_shape": [2, 3],
        "strides": [2, 1],
        "pads": [0, 2, 0, 2],
    }
    _, _, _, path = exported("AvgPool2D(3, stride 2)", np.float64, tmp_path)
    (_, pool) = onnx.load(str(path)).graph.node
    assert {a.name: onnx.helper.get_attribute_value(a) for a in pool.attribute} == {
        "kernel_shape": [3, 3],
        "strides": [2, 2],
        "count_include_pad": 0,
    }
    (layer,) = [layer for layer in refnet.onnx.load(path).layers if isinstance(layer, AvgPool2D)]
    assert (layer.kernel_size, layer.stride) == ((3, 3), (2, 2))


def test_gelu_and_silu_are_written_as_their_formulas_and_read_back(tmp_path: Path) -> None:
    for name, ops in [
        ("GELU", ["Gemm", "Mul", "Erf", "Add", "Mul", "Mul"]),
        ("GELU(tanh)", ["Gemm", "Mul", "Mul", "Mul", "Add", "Mul", "Tanh", "Add", "Mul", "Mul"]),
        ("SiLU", ["Gemm", "Sigmoid", "Mul"]),
    ]:
        _, _, _, path = exported(name, np.float64, tmp_path)
        assert [node.op_type for node in onnx.load(str(path)).graph.node] == ops
        (dense,) = refnet.onnx.load(path).layers  # the activation folded into the Dense it follows
        assert isinstance(dense, Dense) and type(dense.activation).__name__ == name.split("(")[0]
    (layer,) = refnet.onnx.load(exported("Dense(gelu tanh)", np.float32, tmp_path)[3]).layers
    assert isinstance(layer, Dense) and isinstance(layer.activation, GELU) and layer.activation.approximate == "tanh"


def test_the_reference_evaluators_erf_is_float32_which_bounds_exact_gelu_in_float64() -> None:
    """Why GELU (exact) agrees to 1e-7, not 1e-12, with the reference evaluator in float64 (FLOAT32_CONSTANTS)."""
    import math

    x = np.array([0.3, 1.1], dtype=np.float64)
    node = onnx.helper.make_node("Erf", ["x"], ["y"])
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph([node], "g", [value("x", onnx.TensorProto.DOUBLE, [2])],
                                   [value("y", onnx.TensorProto.DOUBLE, [2])])  # fmt: skip
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    y = ReferenceEvaluator(model).run(None, {"x": x})[0]
    exact = np.array([math.erf(v) for v in x])
    assert np.array_equal(y, exact.astype(np.float32).astype(np.float64)) and not np.array_equal(y, exact)


def test_layernorm_needs_opset_17(tmp_path: Path) -> None:
    net, _, _ = built("LayerNorm", np.float64)
    with pytest.raises(ValueError, match="LayerNormalization needs opset >= 17"):
        refnet.onnx.export(net, tmp_path / "m.onnx", opset=16)
    _, _, _, path = exported("LayerNorm", np.float64, tmp_path)
    (node,) = [node for node in onnx.load(str(path)).graph.node if node.op_type == "LayerNormalization"]
    settings = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert settings == {"axis": -1, "epsilon": pytest.approx(1e-5, rel=1e-7)}
    (loaded,) = [layer for layer in refnet.onnx.load(path).layers if isinstance(layer, LayerNorm)]
    assert loaded.eps == 1e-5


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


@pytest.mark.parametrize("name", ["LSTM language model", "GRU classifier, predict_proba", "tiny GPT"])
def test_a_loaded_sequence_model_trains_on_exactly_as_the_original(name: str, tmp_path: Path) -> None:
    net, X, _ = built(name, np.float64)
    refnet.onnx.export(net, tmp_path / "logits.onnx")  # predict's logits, which load reads
    loaded = refnet.onnx.load(tmp_path / "logits.onnx")
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in net.layers]
    loaded.set_loss(CrossEntropy())
    rng = np.random.default_rng(5)
    targets = np.roll(X, -1, axis=1) if isinstance(net.layers[0], Embedding) else rng.integers(0, 3, len(X))
    before = net.evaluate(X, targets)["loss"]
    for model in (net, loaded):
        model.train(X, targets, epochs=3, optimizer=Adam(0.01), batch_size=None, shuffle=False)
    assert net.evaluate(X, targets)["loss"] < before
    for original, copy in zip(net.layers, loaded.layers, strict=True):
        for key, value in original.params.items():
            assert np.array_equal(copy.params[key], value), (type(original).__name__, key)


def test_recurrent_layers_become_onnx_operators_with_onnx_gate_orders(tmp_path: Path) -> None:
    """LSTM's W rows are ONNX's [i, o, f, c] = refnet's blocks [i, o, f, g]; GRU's [z, r, h] = refnet's [z, r, n]."""
    for name, ops in [
        ("LSTM", ["Transpose", "LSTM", "Squeeze", "Transpose"]),
        ("GRU, last h only", ["Transpose", "GRU", "Squeeze"]),
    ]:
        net, _, _, path = exported(name, np.float64, tmp_path)
        model = onnx.load(str(path))
        nodes = list(model.graph.node)
        assert [node.op_type for node in nodes] == ops
        weights = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
        W, R, B = (weights[name] for name in nodes[1].input[1:4])
        layer = net.layers[0]
        assert isinstance(layer, (LSTM, GRU))
        H = layer.hidden_size
        blocks = {"LSTM": (0, 3, 1, 2), "GRU": (1, 0, 2)}[type(layer).__name__]
        for position, block in enumerate(blocks):
            rows = slice(position * H, (position + 1) * H)
            assert np.array_equal(W[0, rows], layer.params["W_x"][:, block * H : (block + 1) * H].T)
            assert np.array_equal(R[0, rows], layer.params["W_h"][:, block * H : (block + 1) * H].T)
        settings = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[1].attribute}
        if isinstance(layer, GRU):
            assert settings == {"hidden_size": H, "linear_before_reset": 1}
            assert np.array_equal(B[0, 3 * H + 0 : 3 * H + H], layer.params["b_h"][H : 2 * H])  # Rb's z block
        else:
            assert settings == {"hidden_size": H} and not B[0, 4 * H :].any()  # Rb = 0: b is b_ih + b_hh


def test_attention_is_written_as_its_formula_with_the_causal_mask_where_causal(tmp_path: Path) -> None:
    projection = ["MatMul", "Add", "Reshape", "Transpose"]
    scores = ["MatMul", "Mul"]
    rest = ["Softmax", "MatMul", "Transpose", "Reshape", "MatMul", "Add"]
    _, _, _, path = exported("MultiHeadAttention", np.float64, tmp_path)
    assert [node.op_type for node in onnx.load(str(path)).graph.node] == [*projection * 3, *scores, *rest]
    net, _, _, path = exported("MultiHeadAttention(causal)", np.float64, tmp_path)
    model = onnx.load(str(path))
    assert [node.op_type for node in model.graph.node] == [*projection * 3, *scores, "Where", *rest]
    weights = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    (where,) = [node for node in model.graph.node if node.op_type == "Where"]
    assert np.array_equal(weights[where.input[0]], np.tril(np.ones((5, 5), dtype=bool)))
    assert weights[where.input[2]] == np.finfo(np.float64).min
    (layer,) = refnet.onnx.load(path).layers
    assert isinstance(layer, MultiHeadAttention) and layer.causal and layer.num_heads == 3
    for key, value in net.layers[0].params.items():
        assert np.array_equal(layer.params[key], value), key


def test_positional_embedding_keeps_its_whole_table(tmp_path: Path) -> None:
    net, _, _, path = exported("PositionalEmbedding", np.float64, tmp_path)
    model = onnx.load(str(path))
    assert [node.op_type for node in model.graph.node] == ["Gather", "Add"]
    (layer,) = refnet.onnx.load(path).layers
    assert isinstance(layer, PositionalEmbedding) and layer.max_length == 9  # T = 5 positions used, 9 kept
    assert np.array_equal(layer.params["P"], net.layers[0].params["P"])


def test_a_recurrent_layer_holding_an_initial_state_is_refused_and_exports_after_reset_state(tmp_path: Path) -> None:
    layer = LSTM(5, 4, seed=0, stateful=True)
    net = NeuralNetwork([layer], input_shape=(6, 5))
    X = np.random.default_rng(0).normal(0.0, 1.0, (3, 6, 5))
    net.predict(X)  # stateful: the final state is now the next batch's initial state
    with pytest.raises(ValueError, match=r"layer0_lstm is a LSTM holding an initial state .* call reset_state\(\)"):
        refnet.onnx.export(net, tmp_path / "m.onnx")
    layer.reset_state()
    refnet.onnx.export(net, tmp_path / "m.onnx")
    y = net.predict(X)  # from h_0 = 0, as the file computes
    assert relative_difference(run_reference(tmp_path / "m.onnx", X), y) <= 1e-12


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

    def function(self, x: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
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
    """One row of the agreement table: the operators written, the checker, the round trip, the largest differences."""
    _, X, y, path = exported(name, dtype, folder)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)  # export ran it too; a failure here stops the table
    row: dict[str, Any] = {"ops": [node.op_type for node in model.graph.node]}
    no_kernel = dtype == np.float64 and name in NO_FLOAT64_KERNEL
    row["ort"] = f"no kernel ({NO_FLOAT64_KERNEL[name]})" if no_kernel else run_onnxruntime(path, X)
    if not no_kernel:
        row["ort"] = f"{relative_difference(row['ort'], y):.1e}"
    row["reference"] = f"{relative_difference(run_reference(path, X), y):.1e}"
    if name in ERF_CASES and dtype == np.float64:
        row["reference"] += f" ({relative_difference(run_reference(path, X, erf_in_float64=True), y):.1e} Erf f64)"
    row["import"] = "-" if CASES[name][1] else bool(np.array_equal(refnet.onnx.load(path).predict(X), y))
    return row


def operators(ops: list[str]) -> str:
    """The operators of a graph: all of them in order when few, else how many and which."""
    if len(ops) <= 10:
        return ", ".join(ops)
    return f"{len(ops)} nodes: " + ", ".join(dict.fromkeys(ops))


def agreement_table() -> str:
    """The markdown table of every case in both dtypes (what the script prints).

    export: the file passes onnx.checker.check_model(full_check=True); import: refnet.onnx.load of it predicts
    bitwise what the model predicts ("-": a proba export); then the largest relative difference of onnxruntime
    and of the reference evaluator from refnet, in each dtype ("no kernel (Op)": onnxruntime refuses the file,
    naming the operator; "Erf f64": the evaluator with its float32 Erf replaced by math.erf).
    """
    import tempfile

    lines = [
        "| layer / model | exported as (float64) | export | import | ORT float64 | ORT float32 "
        "| reference float64 | reference float32 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        for name in CASES:
            rows = {dtype: measure(name, dtype, Path(folder)) for dtype in DTYPES}
            same = {"True": "yes", "False": "NO", "-": "-"}[
                "/".join(sorted({str(row["import"]) for row in rows.values()}))
            ]
            cells = [rows[dtype][key] for key in ("ort", "reference") for dtype in DTYPES]
            ops = operators(rows[np.float64]["ops"])
            lines.append(f"| {name} | {ops} | yes | {same} | {' | '.join(cells)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}, numpy {np.__version__}")
    print(agreement_table())
