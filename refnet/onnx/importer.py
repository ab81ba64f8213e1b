"""Import an ONNX model into refnet, one table entry per ONNX operator.

``load(path)`` reads at most ``max_bytes``, refuses what refnet cannot represent, and turns the
graph's nodes into layers with ``IMPORTERS[op_type]``:

    Gemm(x, B, C)                  Dense: W = alpha·B (transB = 0) or alpha·Bᵀ (transB = 1, the layout
                                   of PyTorch and skl2onnx), b = beta·C (zeros without C)
    MatMul(x, B) [+ Add(·, C)]     Dense: W = B, b = C (zeros without the Add): the pattern of Keras/TensorFlow
    Relu, Sigmoid, Tanh, Softmax(last axis), LeakyRelu(alpha), Max(x, Mul(x, alpha))
                                   the activation, folded into the Dense it follows (else its own layer)
    BatchNormalization             BatchNorm with the running statistics, eps = epsilon, momentum = 1 − momentum
    Dropout                        Dropout(ratio): the identity at inference, as in the file
    Identity, Flatten(axis=1)      nothing: the value passes through (Flatten: of (N, D) only)
    Add, Sum, Mul, Concat(axis)    the merges Add, Multiply, Concatenate(axis) (the model is then a GraphModel)

A chain of one-input layers is returned as a NeuralNetwork, anything else as a GraphModel; the loss
is not part of an ONNX file (``set_loss`` before training). An operator outside the table, a
weight stored as external data, a file over ``max_bytes``, a protobuf that does not parse or a
model the ONNX checker rejects is a ``ModelFileError`` that says which and where.

ONNX stores float attributes (epsilon, momentum, alpha) in float32: each is read as the shortest
decimal that rounds to that float32 (1e-05, not 9.99999974738e-06), the value the exporter was given.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from refnet.base import Array, Layer
from refnet.batchnorm import BatchNorm
from refnet.dropout import Dropout
from refnet.errors import ModelFileError
from refnet.functions import Activation, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from refnet.graph import GraphModel
from refnet.layer import Dense
from refnet.merge import Add, Concatenate, Multiply
from refnet.network import NeuralNetwork
from refnet.onnx.requirement import require_onnx
from refnet.wiring import Input, Node, apply

__all__ = ["IMPORTERS", "MAX_BYTES", "OnnxReader", "load"]

#: The largest file ``load`` reads unless given a larger ``max_bytes``: 256 MiB.
MAX_BYTES = 256 * 2**20
#: ONNX's TensorProto element types refnet computes in.
DTYPES: dict[int, np.dtype[Any]] = {1: np.dtype(np.float32), 11: np.dtype(np.float64)}
#: TensorProto.EXTERNAL: a tensor whose data lies in another file.
EXTERNAL = 1


def decimal_float(value: float) -> Decimal:
    """The shortest decimal that rounds to ``value`` in float32 (how ONNX stores float attributes)."""
    return Decimal(str(np.float32(value)))


class Step:
    """One refnet layer read from the graph: the layer, its input tensors and its output tensor."""

    def __init__(self, layer: Layer, inputs: list[str], output: str, name: str) -> None:
        self.layer, self.inputs, self.output, self.name = layer, inputs, output, name


class OnnxReader:
    """The ONNX graph as the importer walks it: constants, consumers, and the layers read so far."""

    def __init__(self, onnx: Any, model: Any, where: str) -> None:
        self.onnx, self.where = onnx, where
        graph = model.graph
        self.nodes = list(graph.node)
        self.dtype, self.input, self.shape = self._input(graph)
        #: The per-sample shape (without N) of every value read so far, from each layer's ``output_shape``.
        self.shapes: dict[str, tuple[int, ...]] = {self.input: self.shape}
        self.opset = next((int(entry.version) for entry in model.opset_import if entry.domain in ("", "ai.onnx")), 0)
        self.output = self._output(graph)
        self.constants: dict[str, Array] = {tensor.name: self.array(tensor) for tensor in graph.initializer}
        self.consumers: dict[str, list[int]] = {}
        for index, node in enumerate(self.nodes):
            for name in node.input:
                self.consumers.setdefault(name, []).append(index)
        #: Indices of nodes already read as part of an earlier layer (the Add after a MatMul, an activation).
        self.absorbed: set[int] = set()
        #: Tensors that are another tensor (Identity, Flatten of (N, D)).
        self.aliases: dict[str, str] = {}
        self.steps: list[Step] = []

    # -- the graph's boundary --------------------------------------------------------------
    def _input(self, graph: Any) -> tuple[np.dtype[Any], str, tuple[int, ...]]:
        constants = {tensor.name for tensor in graph.initializer}
        inputs = [value for value in graph.input if value.name not in constants]  # old files list weights too
        if len(inputs) != 1:
            raise ModelFileError(f"{self.where}: refnet models take one input, this graph takes {len(inputs)}")
        (value,) = inputs
        tensor = value.type.tensor_type
        dtype = DTYPES.get(int(tensor.elem_type))
        if dtype is None:
            raise ModelFileError(f"{self.where}: input {value.name!r} must be float or double (element type 1 or 11)")
        dims = list(tensor.shape.dim)
        if len(dims) < 2 or any(dim.dim_value <= 0 for dim in dims[1:]):
            raise ModelFileError(
                f"{self.where}: input {value.name!r} must have shape (N, features) or (N, ..., features) with every "
                "axis after N fixed"
            )
        return dtype, value.name, tuple(int(dim.dim_value) for dim in dims[1:])

    def _output(self, graph: Any) -> str:
        if len(graph.output) != 1:
            raise ModelFileError(f"{self.where}: refnet models have one output, this graph has {len(graph.output)}")
        return str(graph.output[0].name)

    def array(self, tensor: Any) -> Array:
        """A tensor's values in the model's dtype (finite), or ModelFileError."""
        try:
            array = self.onnx.numpy_helper.to_array(tensor)
        except Exception as exc:  # a protobuf whose data does not match its dims
            raise ModelFileError(f"{self.where}: tensor {tensor.name!r} cannot be read: {exc}") from exc
        if array.dtype.kind == "f":
            if not np.isfinite(array).all():
                raise ModelFileError(f"{self.where}: tensor {tensor.name!r} holds inf or NaN")
            return array.astype(self.dtype)
        return np.asarray(array)

    # -- what a handler asks ---------------------------------------------------------------
    def value(self, name: str) -> str:
        """The tensor a layer input ``name`` stands for (through Identity and friends); not a constant."""
        while name in self.aliases:
            name = self.aliases[name]
        if name in self.constants:
            raise ValueError(f"input {name!r} is a constant where refnet needs the data flowing through the model")
        return name

    def is_constant(self, name: str) -> bool:
        return name in self.constants

    def constant(self, name: str) -> Array:
        if name not in self.constants:
            raise ValueError(f"input {name!r} must be a constant (an initializer or a Constant node)")
        return self.constants[name]

    def scalar(self, name: str) -> float:
        """A constant of one element as a float (a float32 one as the shortest decimal that rounds to it)."""
        value = self.constant(name)
        if value.size != 1:
            raise ValueError(f"input {name!r} must hold one number, got shape {value.shape}")
        number = float(value.reshape(()))
        return float(decimal_float(number)) if value.dtype == np.float32 else number

    def sole_consumer(self, tensor: str) -> tuple[int, Any] | None:
        """The one node reading ``tensor`` (which is not the graph's output), or None."""
        readers = self.consumers.get(tensor, [])
        if len(readers) != 1 or tensor == self.output:
            return None
        return readers[0], self.nodes[readers[0]]

    def rank(self, name: str) -> int:
        """The number of axes of value ``name``, N included."""
        return 1 + len(self.shapes[self.value(name)])

    def add(self, layer: Layer, inputs: list[str], output: str, node: Any) -> None:
        """The step ``layer(inputs) -> output``, its output shape from the layer (ShapeError if it cannot take them)."""
        values = [self.value(name) for name in inputs]
        shapes = [self.shapes[name] for name in values]
        self.shapes[output] = layer.merged_shape(shapes) if layer.multiple_inputs else layer.output_shape(shapes[0])
        self.steps.append(Step(layer, values, output, str(node.name)))

    def attributes(self, node: Any, defaults: dict[str, Any]) -> dict[str, Any]:
        """The node's attributes over ``defaults``; an attribute refnet does not know is refused."""
        values = dict(defaults)
        for attribute in node.attribute:
            if attribute.name not in defaults:
                raise ValueError(f"attribute {attribute.name!r} is not supported")
            values[attribute.name] = self.onnx.helper.get_attribute_value(attribute)
        return values

    # -- the model ---------------------------------------------------------------------------
    def read(self) -> NeuralNetwork:
        for index, node in enumerate(self.nodes):
            if index in self.absorbed:
                continue
            where = f"{self.where}: node {node.name!r} ({node.op_type})"
            if node.domain not in ("", "ai.onnx"):
                raise ModelFileError(
                    f"{where}: operator domain {node.domain!r} is not ONNX's own; refnet reads ai.onnx"
                )
            handler = IMPORTERS.get(node.op_type)
            if handler is None:
                known = ", ".join(sorted(IMPORTERS))
                raise ModelFileError(
                    f"{where}: refnet has no layer for the ONNX operator {node.op_type}; it reads {known}"
                )
            try:
                handler(self, index, node)
            except (ValueError, TypeError) as exc:
                raise ModelFileError(f"{where}: {exc}") from exc
        try:
            return self._model()
        except (ValueError, TypeError) as exc:
            raise ModelFileError(f"{self.where}: {exc}") from exc

    def _model(self) -> NeuralNetwork:
        output = self.value(self.output)
        if not self.steps or output == self.input:
            raise ValueError("the model computes nothing refnet can hold (its output is its input)")
        chained = all(
            step.inputs == [self.input if position == 0 else self.steps[position - 1].output]
            for position, step in enumerate(self.steps)
        )
        if chained and output == self.steps[-1].output:
            return NeuralNetwork([step.layer for step in self.steps], input_shape=self.shape)
        nodes: dict[str, Node] = {self.input: Input(self.shape, name="input")}
        names = [step.name for step in self.steps]
        for step in self.steps:
            node = apply(step.layer, [nodes[name] for name in step.inputs])
            if step.name and names.count(step.name) == 1 and step.name != "input":
                node.name = step.name
            nodes[step.output] = node
        return GraphModel(nodes[self.input], nodes[output])


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


SIMPLE_ACTIVATIONS: dict[str, type[Activation]] = {"Relu": ReLU, "Sigmoid": Sigmoid, "Tanh": Tanh}


def import_activation(reader: OnnxReader, index: int, node: Any) -> None:
    """A stand-alone activation layer (one that follows no Dense)."""
    found = activation_at(reader, index, node)
    if found is None:
        raise ValueError("this Mul is neither a merge of two values nor part of max(x, alpha·x)")
    activation, spanned, output = found
    reader.absorbed.update(spanned)
    reader.add(activation, [node.input[0] if not reader.is_constant(node.input[0]) else node.input[1]], output, node)


def add_dense(reader: OnnxReader, node: Any, x: str, W: Array, b: Array, z: str) -> None:
    """Dense(W, b) from x to z, with the activation that alone reads z folded in."""
    activation: Activation | None = None
    n_in, n_out = W.shape
    reader.shapes[z] = (*reader.shapes[reader.value(x)][:-1], n_out)  # what an activation reading z is given
    readers = [] if z == reader.output else reader.consumers.get(z, [])
    if readers:  # one node (Relu, ...), or the two of max(z, alpha·z): Mul and Max
        found = activation_at(reader, readers[0], reader.nodes[readers[0]])
        if found is not None and sorted(found[1]) == sorted(readers):
            activation, spanned, z = found
            reader.absorbed.update(spanned)
    dense = Dense(n_in, n_out, activation, weight_init=lambda shape, rng, dtype: W, seed=0, dtype=reader.dtype)
    np.copyto(dense.params["b"], b)
    reader.add(dense, [x], z, node)


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
    "Mul": import_mul,
    "BatchNormalization": import_batchnorm,
    "Dropout": import_dropout,
    "Identity": import_identity,
    "Flatten": import_flatten,
    "Constant": import_constant,
    "Add": merge(Add),
    "Sum": merge(Add, two_or_more=False),
    "Concat": merge(Concatenate),
}


def load(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> NeuralNetwork:
    """The refnet model (NeuralNetwork or GraphModel) an ONNX file holds; it predicts what the file computes.

    Refused with ModelFileError: a file over ``max_bytes`` (checked before reading), one that
    does not parse or that the ONNX checker rejects, weights stored as external data, an operator
    or attribute outside what refnet represents (the message names the operator and the node).
    """
    onnx = require_onnx()
    where = str(path)
    model = _parse(onnx, _read_bounded(Path(path), max_bytes), where)
    return OnnxReader(onnx, model, where).read()


def _read_bounded(path: Path, max_bytes: int) -> bytes:
    if type(max_bytes) is not int or max_bytes <= 0:
        raise ValueError(f"max_bytes must be a positive int, got {max_bytes!r}")
    if not path.is_file():
        raise ModelFileError(f"no ONNX file at {path}")
    size = path.stat().st_size
    limit = f"the limit of {max_bytes:,} bytes: pass a larger max_bytes="
    if size > max_bytes:
        raise ModelFileError(f"{path} is {size:,} bytes, over {limit}")
    with open(path, "rb") as handle:
        data = handle.read(size + 1)  # read(n) allocates n bytes: the file's size, not the limit
    if len(data) > max_bytes:  # the file grew since
        raise ModelFileError(f"{path} is over {limit}")
    return data


def _parse(onnx: Any, data: bytes, where: str) -> Any:
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # google.protobuf's DecodeError, whose module is onnx's business
        raise ModelFileError(f"{where} is not an ONNX model: the protobuf does not parse ({exc})") from exc
    graph = model.graph
    tensors = [*graph.initializer, *(a.t for node in graph.node for a in node.attribute if a.HasField("t"))]
    for tensor in tensors:
        if tensor.data_location == EXTERNAL or len(tensor.external_data):
            raise ModelFileError(
                f"{where}: tensor {tensor.name!r} is stored as external data, which refnet does not read: "
                "save the model in one file (onnx.save_model(model, path, save_as_external_data=False))"
            )
    if len(graph.sparse_initializer):
        raise ModelFileError(f"{where}: sparse initializers are not read")
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # onnx.checker.ValidationError, shape inference's InferenceError
        raise ModelFileError(f"{where} is not a valid ONNX model: {exc}") from exc
    return model
