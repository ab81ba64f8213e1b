"""Reading an ONNX file for the importer: bounded in size, checked, and walked node by node.

``read_model(path, max_bytes)`` reads at most ``max_bytes`` (the size is checked before reading), parses
the protobuf, refuses weights stored as external data and lets the ONNX checker judge the rest.
``OnnxReader`` holds the graph while ``refnet.onnx.importer``'s table turns its nodes into layers:
the constants, who reads each value, the shape of each value, and the steps (layers) read so far.

ONNX stores float attributes (epsilon, momentum, alpha) in float32: ``decimal_float`` reads each as the
shortest decimal that rounds to that float32 (1e-05, not 9.99999974738e-06), the value the exporter was given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from refnet.base import Array, Layer
from refnet.errors import ModelFileError
from refnet.graph import GraphModel
from refnet.network import NeuralNetwork
from refnet.wiring import Input, Node, apply

__all__ = ["MAX_BYTES", "OnnxReader", "Step", "decimal_float", "read_model"]

#: The largest file ``load`` reads unless given a larger ``max_bytes``: 256 MiB.
MAX_BYTES = 256 * 2**20
#: ONNX's TensorProto element types refnet computes in.
DTYPES: dict[int, np.dtype[Any]] = {1: np.dtype(np.float32), 11: np.dtype(np.float64)}
#: ONNX's integer element types an input of ids may have (an Embedding reads it): int32, int64.
ID_TYPES = (6, 7)
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

    def __init__(self, onnx: Any, model: Any, where: str, output: str | None = None) -> None:
        self.onnx, self.where = onnx, where
        graph = model.graph
        self.output = self._output(graph, output)
        self.nodes = self._needed(graph, self.output)
        self.dtype = self._dtype(graph)
        self.input, self.shape, self.ids = self._input(graph)
        #: The per-sample shape (without N) of every value read so far, from each layer's ``output_shape``.
        self.shapes: dict[str, tuple[int, ...]] = {self.input: self.shape}
        self.opset = next((int(entry.version) for entry in model.opset_import if entry.domain in ("", "ai.onnx")), 0)
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
    def _dtype(self, graph: Any) -> np.dtype[Any]:
        """The model's dtype: its output's element type, float or double."""
        (value,) = [value for value in graph.output if value.name == self.output]
        dtype = DTYPES.get(int(value.type.tensor_type.elem_type))
        if dtype is None:
            raise ModelFileError(f"{self.where}: output {value.name!r} must be float or double (element type 1 or 11)")
        return dtype

    def _input(self, graph: Any) -> tuple[str, tuple[int, ...], bool]:
        """The input's name, its per-sample shape, and whether it holds integer ids (for an Embedding)."""
        constants = {tensor.name for tensor in graph.initializer}
        inputs = [value for value in graph.input if value.name not in constants]  # old files list weights too
        if len(inputs) != 1:
            raise ModelFileError(f"{self.where}: refnet models take one input, this graph takes {len(inputs)}")
        (value,) = inputs
        tensor = value.type.tensor_type
        ids = int(tensor.elem_type) in ID_TYPES
        if DTYPES.get(int(tensor.elem_type)) != self.dtype and not ids:
            raise ModelFileError(
                f"{self.where}: input {value.name!r} must be of the output's type ({self.dtype}) or int64 ids"
            )
        dims = list(tensor.shape.dim)
        if len(dims) < 1 + (not ids) or any(dim.dim_value <= 0 for dim in dims[1:]):
            raise ModelFileError(
                f"{self.where}: input {value.name!r} must have shape (N, features) or (N, ..., features) with every "
                "axis after N fixed"
            )
        return value.name, tuple(int(dim.dim_value) for dim in dims[1:]), ids

    def _output(self, graph: Any, output: str | None) -> str:
        names = [str(value.name) for value in graph.output]
        if output is None and len(names) == 1:
            return names[0]
        if output is None or output not in names:
            given = "" if output is None else f"{output!r} is not one of them; "
            raise ModelFileError(
                f"{self.where}: the graph has the outputs {names}: {given}pass output= the one refnet should compute"
            )
        return output

    @staticmethod
    def _needed(graph: Any, output: str) -> list[Any]:
        """The nodes ``output`` depends on, in the graph's order (the other outputs' nodes are left out)."""
        producer = {name: index for index, node in enumerate(graph.node) for name in node.output}
        needed: set[int] = set()
        pending = [output]
        while pending:
            index = producer.get(pending.pop())
            if index is not None and index not in needed:
                needed.add(index)
                pending.extend(graph.node[index].input)
        return [node for index, node in enumerate(graph.node) if index in needed]

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
    def read(self, importers: Mapping[str, Callable[[OnnxReader, int, Any], None]]) -> NeuralNetwork:
        """The model: each node not yet absorbed handed to ``importers[op_type]``, then the steps wired."""
        for index, node in enumerate(self.nodes):
            if index in self.absorbed:
                continue
            where = f"{self.where}: node {node.name!r} ({node.op_type})"
            if node.domain not in ("", "ai.onnx"):
                raise ModelFileError(
                    f"{where}: operator domain {node.domain!r} is not ONNX's own; refnet reads ai.onnx"
                )
            handler = importers.get(node.op_type)
            if handler is None:
                known = ", ".join(sorted(importers))
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


def read_model(onnx: Any, path: Path, max_bytes: int) -> Any:
    """The checked ``onnx.ModelProto`` in ``path``, read in memory bounded by ``max_bytes``; else ModelFileError."""
    return _parse(onnx, _read_bounded(path, max_bytes), str(path))


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
