"""Import an ONNX model into refnet, one table entry per ONNX operator.

``load(path)`` reads at most ``max_bytes``, refuses what refnet cannot represent, and turns the
graph's nodes into layers with ``IMPORTERS[op_type]``:

    Gemm(x, B, C)                  Dense: W = alpha·B (transB = 0) or alpha·Bᵀ (transB = 1, the layout
                                   of PyTorch and skl2onnx), b = beta·C (zeros without C)
    MatMul(x, B) [+ Add(·, C)]     Dense: W = B, b = C (zeros without the Add): the pattern of Keras/TensorFlow
    Relu, Sigmoid, Tanh, Softmax(last axis), LeakyRelu(alpha), Max(x, Mul(x, alpha)), Elu, Selu, Softplus
                                   the activation, folded into the Dense it follows (else its own layer)
    BatchNormalization             BatchNorm with the running statistics, eps = epsilon, momentum = 1 − momentum
    Dropout                        Dropout(ratio): the identity at inference, as in the file
    Gather(W, ids, axis=0)         Embedding holding W, where ids is the model's integer input
    Identity, Flatten(axis=1)      nothing: the value passes through (Flatten: of (N, D) only; likewise a
    Cast, Reshape                  Cast to the model's own type, a Reshape of (N, D) to (−1, D))
    Add, Sum, Mul, Concat(axis)    the merges Add, Multiply, Concatenate(axis) (the model is then a GraphModel)

A chain of one-input layers is returned as a NeuralNetwork, anything else as a GraphModel; the loss
is not part of an ONNX file (``set_loss`` before training). An operator outside the table, a
weight stored as external data, a file over ``max_bytes``, a protobuf that does not parse or a
model the ONNX checker rejects is a ``ModelFileError`` that says which and where.

Reading the file and walking its graph is ``refnet.onnx.reader``'s; this module holds the table.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from refnet.base import Array, Layer
from refnet.batchnorm import BatchNorm
from refnet.dropout import Dropout
from refnet.embedding import Embedding
from refnet.functions import (
    ELU,
    SELU,
    SELU_ALPHA,
    SELU_SCALE,
    Activation,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from refnet.layer import Dense
from refnet.merge import Add, Concatenate, Multiply
from refnet.network import NeuralNetwork
from refnet.onnx.reader import DTYPES, MAX_BYTES, OnnxReader, decimal_float, read_model
from refnet.onnx.requirement import require_onnx

__all__ = ["IMPORTERS", "MAX_BYTES", "load"]


# -- the table: ONNX operator -> how it becomes refnet layers --------------------------------
#: (reader, the node's index, the node) -> nothing; the handler adds steps or aliases to the reader.
ImportFunction = Callable[[OnnxReader, int, Any], None]


def activation_at(reader: OnnxReader, index: int, node: Any) -> tuple[Activation, list[int], str] | None:
    """The activation that starts at ``node``: (activation, the nodes it spans, its output), or None.

    One node (Relu, Sigmoid, Tanh, Softmax over the last axis, LeakyRelu), or max(x, alpha·x)
    written as Max(x, Mul(x, alpha)) with alpha a scalar constant.
    """
    op = node.op_type
    output = str(node.output[0]) if node.output else ""
    if op in SIMPLE_ACTIVATIONS:
        reader.attributes(node, {})
        return SIMPLE_ACTIVATIONS[op](), [index], output
    if op == "Softmax":
        rank = reader.rank(node.input[0])
        axis = reader.attributes(node, {"axis": -1 if reader.opset >= 13 else 1})["axis"]
        # Before opset 13 Softmax flattens the axes from ``axis`` on: the last axis alone only when axis is the last.
        if axis != rank - 1 and not (axis == -1 and reader.opset >= 13):
            raise ValueError(f"Softmax over axis {axis} of a rank-{rank} value: refnet's acts on the last axis")
        return Softmax(), [index], output
    if op == "Elu":
        return ELU(float(decimal_float(reader.attributes(node, {"alpha": 1.0})["alpha"]))), [index], output
    if op == "Selu":
        settings = reader.attributes(node, {"alpha": SELU_ALPHA, "gamma": SELU_SCALE})
        if (np.float32(settings["alpha"]), np.float32(settings["gamma"])) != (
            np.float32(SELU_ALPHA),
            np.float32(SELU_SCALE),
        ):
            raise ValueError("Selu with other constants than SELU's (Klambauer et al.'s, ONNX's defaults)")
        return SELU(), [index], output
    if op == "LeakyRelu":
        alpha = reader.attributes(node, {"alpha": 0.01})["alpha"]
        return LeakyReLU(float(decimal_float(alpha))), [index], output
    if op == "Mul" and len(node.input) == 2:
        x, alpha = node.input
        if reader.is_constant(x):
            x, alpha = alpha, x
        if not reader.is_constant(alpha) or reader.constant(alpha).size != 1:
            return None
        following = reader.sole_consumer(output)
        if following is None or following[1].op_type != "Max" or sorted(following[1].input) != sorted([x, output]):
            return None
        return LeakyReLU(reader.scalar(alpha)), [index, following[0]], str(following[1].output[0])
    return None


SIMPLE_ACTIVATIONS: dict[str, type[Activation]] = {"Relu": ReLU, "Sigmoid": Sigmoid, "Tanh": Tanh, "Softplus": Softplus}


def import_activation(reader: OnnxReader, index: int, node: Any) -> None:
    """A stand-alone activation layer (one that follows no Dense)."""
    found = activation_at(reader, index, node)
    if found is None:
        raise ValueError("this Mul is neither a merge of two values nor part of max(x, alpha·x)")
    activation, spanned, output = found
    reader.absorbed.update(spanned)
    reader.add(activation, [node.input[0] if not reader.is_constant(node.input[0]) else node.input[1]], output, node)


def add_with_activation(
    reader: OnnxReader, node: Any, make: Callable[[Activation | None], Layer], x: str, z: str
) -> None:
    """The layer ``make(activation)`` from x to z, with the activation that alone reads z folded in (Dense, ...)."""
    layer = make(None)
    reader.shapes[z] = layer.output_shape(reader.shapes[reader.value(x)])  # what an activation reading z is given
    readers = [] if z == reader.output else reader.consumers.get(z, [])
    if readers:  # one node (Relu, ...), or the two of max(z, alpha·z): Mul and Max
        found = activation_at(reader, readers[0], reader.nodes[readers[0]])
        if found is not None and sorted(found[1]) == sorted(readers):
            activation, spanned, z = found
            reader.absorbed.update(spanned)
            layer = make(activation)
    reader.add(layer, [x], z, node)


def add_dense(reader: OnnxReader, node: Any, x: str, W: Array, b: Array, z: str) -> None:
    """Dense(W, b) from x to z, with the activation that alone reads z folded in."""

    def dense(activation: Activation | None) -> Dense:
        n_in, n_out = W.shape
        layer = Dense(n_in, n_out, activation, weight_init=lambda shape, rng, dtype: W, seed=0, dtype=reader.dtype)
        np.copyto(layer.params["b"], b)
        return layer

    add_with_activation(reader, node, dense, x, z)


def bias(reader: OnnxReader, name: str | None, width: int) -> Array:
    """A bias of shape (), (1,), (width,) or (1, width) as (width,); zeros without one."""
    if name is None or name == "":
        return np.zeros(width, dtype=reader.dtype)
    C = reader.constant(name)
    if C.shape not in ((), (1,), (width,), (1, width)):
        raise ValueError(f"bias {name!r} has shape {C.shape}, expected ({width},)")
    return np.broadcast_to(C.reshape(-1), (width,)).copy()


def import_gemm(reader: OnnxReader, index: int, node: Any) -> None:
    """Y = alpha·(x @ op(B)) + beta·C as Dense: W = alpha·op(B), b = beta·C."""
    settings = reader.attributes(node, {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0})
    if reader.rank(node.input[0]) != 2:
        raise ValueError("Gemm takes rows (N, D)")
    if settings["transA"]:
        raise ValueError("transA = 1 (a transposed batch) is not a Dense layer")
    B = reader.constant(node.input[1])
    if B.ndim != 2:
        raise ValueError(f"weights {node.input[1]!r} must be 2-D, got shape {B.shape}")
    W = B.T if settings["transB"] else B
    alpha, beta = float(decimal_float(settings["alpha"])), float(decimal_float(settings["beta"]))
    W = np.ascontiguousarray(W if alpha == 1.0 else alpha * W)
    b = bias(reader, node.input[2] if len(node.input) > 2 else None, W.shape[1])
    add_dense(reader, node, node.input[0], W, b if beta == 1.0 else beta * b, str(node.output[0]))


def import_matmul(reader: OnnxReader, index: int, node: Any) -> None:
    """x @ B, with the Add of a constant bias that alone follows it, as Dense."""
    reader.attributes(node, {})
    W = reader.constant(node.input[1])
    if W.ndim != 2:
        raise ValueError(f"weights {node.input[1]!r} must be 2-D, got shape {W.shape}")
    z = str(node.output[0])
    b = bias(reader, None, W.shape[1])
    following = reader.sole_consumer(z)
    if following is not None and following[1].op_type == "Add":
        others = [name for name in following[1].input if name != z]
        if len(others) == 1 and reader.is_constant(others[0]):
            b = bias(reader, others[0], W.shape[1])
            reader.absorbed.add(following[0])
            z = str(following[1].output[0])
    add_dense(reader, node, node.input[0], np.ascontiguousarray(W), b, z)


def import_batchnorm(reader: OnnxReader, index: int, node: Any) -> None:
    """BatchNorm(D, eps = epsilon, momentum = 1 − momentum) holding scale, B, mean, var."""
    settings = reader.attributes(node, {"epsilon": 1e-5, "momentum": 0.9, "training_mode": 0, "spatial": 1})
    if settings["training_mode"] or not settings["spatial"] or len(node.output) > 1:
        raise ValueError("only inference-mode BatchNormalization (one output, spatial) is a refnet BatchNorm")
    if reader.rank(node.input[0]) != 2:
        raise ValueError("BatchNormalization of a value that is not rows (N, D): refnet's BatchNorm takes rows")
    gamma, beta, mean, var = (reader.constant(name) for name in node.input[1:5])
    momentum = float(1 - decimal_float(settings["momentum"]))
    layer = BatchNorm(gamma.size, eps=float(decimal_float(settings["epsilon"])), momentum=momentum, dtype=reader.dtype)
    for target, value in zip((layer.params["gamma"], layer.params["beta"]), (gamma, beta), strict=True):
        np.copyto(target, value.reshape(-1))
    np.copyto(layer.state["running_mean"], mean.reshape(-1))
    np.copyto(layer.state["running_var"], var.reshape(-1))
    problem = layer.state_problem()
    if problem is not None:
        raise ValueError(problem)
    reader.add(layer, [node.input[0]], str(node.output[0]), node)


def import_dropout(reader: OnnxReader, index: int, node: Any) -> None:
    """Dropout(p = ratio), the identity at inference; training_mode must be absent or false."""
    settings = reader.attributes(node, {"ratio": 0.5, "seed": 0})  # opset < 12: ratio is an attribute
    inputs = [*node.input, "", ""]
    ratio = reader.scalar(inputs[1]) if inputs[1] else float(decimal_float(settings["ratio"]))
    if inputs[2] and reader.scalar(inputs[2]):
        raise ValueError("training_mode is true: refnet reads a model for inference")
    if len(node.output) > 1 and reader.consumers.get(node.output[1]):
        raise ValueError("the dropout mask is read by another node")
    reader.add(Dropout(ratio), [node.input[0]], str(node.output[0]), node)


def import_gather(reader: OnnxReader, index: int, node: Any) -> None:
    """Gather(W, ids, axis=0) of the model's integer input: Embedding(V, E) holding W (PyTorch's nn.Embedding)."""
    if reader.attributes(node, {"axis": 0})["axis"] != 0:
        raise ValueError("only Gather along axis 0 (rows of a table) is an Embedding")
    W = reader.constant(node.input[0])
    if W.ndim != 2 or not reader.ids or reader.value(node.input[1]) != reader.input:
        raise ValueError("only a Gather of rows of a 2-D table by the model's integer input is an Embedding")
    layer = Embedding(*W.shape, seed=0, dtype=reader.dtype)
    np.copyto(layer.params["W"], W)
    reader.add(layer, [node.input[1]], str(node.output[0]), node)


def import_identity(reader: OnnxReader, index: int, node: Any) -> None:
    """y = x: no layer."""
    reader.attributes(node, {})
    reader.aliases[str(node.output[0])] = reader.value(node.input[0])


def import_flatten(reader: OnnxReader, index: int, node: Any) -> None:
    """Flatten(axis = 1) of (N, D) is (N, D): no layer."""
    if reader.attributes(node, {"axis": 1})["axis"] != 1:
        raise ValueError("only Flatten(axis=1) keeps the batch axis")
    if reader.rank(node.input[0]) != 2:
        raise ValueError("Flatten of a value that is not rows (N, D): refnet has no Flatten layer yet")
    reader.aliases[str(node.output[0])] = reader.value(node.input[0])


def import_cast(reader: OnnxReader, index: int, node: Any) -> None:
    """A Cast to the model's own element type (skl2onnx casts its input) is no layer; any other is refused."""
    settings = reader.attributes(node, {"to": 0, "saturate": 1})
    if DTYPES.get(int(settings["to"])) != reader.dtype:
        raise ValueError(f"Cast to element type {settings['to']}: refnet computes in {reader.dtype} throughout")
    reader.aliases[str(node.output[0])] = reader.value(node.input[0])


def import_reshape(reader: OnnxReader, index: int, node: Any) -> None:
    """A Reshape of (N, D) to (−1, D) or (0, D) keeps the value (skl2onnx ends a regressor with one): no layer."""
    reader.attributes(node, {"allowzero": 0})
    target = reader.constant(node.input[1])
    shape = reader.shapes[reader.value(node.input[0])]
    if len(shape) != 1 or target.shape != (2,) or int(target[0]) not in (-1, 0) or int(target[1]) != shape[0]:
        raise ValueError(
            f"Reshape of (N, {', '.join(map(str, shape))}) to {target.tolist()}: refnet reads one that keeps (N, D)"
        )
    reader.aliases[str(node.output[0])] = reader.value(node.input[0])


def import_constant(reader: OnnxReader, index: int, node: Any) -> None:
    """A constant tensor, read like an initializer."""
    if [attribute.name for attribute in node.attribute] != ["value"]:
        raise ValueError("only a Constant given by a tensor 'value' is read")
    reader.constants[str(node.output[0])] = reader.array(node.attribute[0].t)


def merge(layer: type[Layer], two_or_more: bool = True) -> ImportFunction:
    """The import of an operator on two or more values as the merge ``layer``."""

    def import_merge(reader: OnnxReader, index: int, node: Any) -> None:
        settings: dict[str, Any] = {}
        if layer is Concatenate:
            axis = reader.attributes(node, {"axis": 1})["axis"]
            if axis in (0, -reader.rank(node.input[0])):
                raise ValueError("Concat along the batch axis has no refnet layer")
            settings = {"axis": axis}
        else:
            reader.attributes(node, {})
        if len(node.input) == 1 and not two_or_more:
            reader.aliases[str(node.output[0])] = reader.value(node.input[0])
            return
        if any(reader.is_constant(name) for name in node.input):
            raise ValueError(f"{node.op_type} with a constant operand has no refnet layer (a bias follows a MatMul)")
        reader.add(layer(**settings), list(node.input), str(node.output[0]), node)

    return import_merge


def import_mul(reader: OnnxReader, index: int, node: Any) -> None:
    """max(x, alpha·x) (LeakyReLU), or the product of two values (Multiply)."""
    if any(reader.is_constant(name) for name in node.input):
        import_activation(reader, index, node)
    else:
        merge(Multiply)(reader, index, node)


#: ONNX operator -> its import.
IMPORTERS: dict[str, ImportFunction] = {
    "Gemm": import_gemm,
    "MatMul": import_matmul,
    "Relu": import_activation,
    "Sigmoid": import_activation,
    "Tanh": import_activation,
    "Softmax": import_activation,
    "LeakyRelu": import_activation,
    "Elu": import_activation,
    "Selu": import_activation,
    "Softplus": import_activation,
    "Mul": import_mul,
    "BatchNormalization": import_batchnorm,
    "Dropout": import_dropout,
    "Gather": import_gather,
    "Identity": import_identity,
    "Flatten": import_flatten,
    "Constant": import_constant,
    "Cast": import_cast,
    "Reshape": import_reshape,
    "Add": merge(Add),
    "Sum": merge(Add, two_or_more=False),
    "Concat": merge(Concatenate),
}


def load(path: str | os.PathLike[str], *, output: str | None = None, max_bytes: int = MAX_BYTES) -> NeuralNetwork:
    """The refnet model (NeuralNetwork or GraphModel) an ONNX file holds; it predicts what the file computes.

    ``output`` names the graph output to compute when there are several (a skl2onnx classifier's
    ``probabilities`` beside its ``label``): only the nodes it depends on are read.

    Refused with ModelFileError: a file over ``max_bytes`` (checked before reading), one that
    does not parse or that the ONNX checker rejects, weights stored as external data, an operator
    or attribute outside what refnet represents (the message names the operator and the node).
    """
    onnx = require_onnx()
    model = read_model(onnx, Path(path), max_bytes)
    return OnnxReader(onnx, model, str(path), output).read(IMPORTERS)
