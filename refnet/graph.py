"""Computational graphs: networks that branch and merge (skip connections, concatenation).

No autodiff here either: every node is a layer with a hand-written forward and backward.
The graph only does two things:

- it orders the nodes (topologically), so forward runs each node after its inputs and
  backward runs them in reverse;
- at fan-out, where one value feeds several consumers, it *sums* the gradients that flow
  back along each path: if y = f(x) and z = g(x), then dL/dx = dL/dy·dy/dx + dL/dz·dz/dx.

Build a graph functionally, then wrap it in a ``GraphModel``::

    x = Input(64)
    h = Dense(64, 64, activation="relu")(x)
    y = Add()(x, Dense(64, 64)(h))          # a residual block: y = x + F(x)
    model = GraphModel(x, Dense(64, 10)(y), loss=CrossEntropy())

The merge layers (``Add``, ``Concatenate``, ``Multiply``) live in ``refnet.merge``.
``GraphModel`` is a ``NeuralNetwork``: it trains, predicts, evaluates, summarizes, saves
and loads with the very same code; only the forward and backward passes differ.

A layer instance can be used once per graph: its cache holds one forward, and sharing
weights between two uses would need gradients accumulated from both. Using one twice is
refused with a clear error; create two layers instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from refnet.base import Array, Layer, Shape
from refnet.errors import ShapeError
from refnet.losses import Loss
from refnet.merge import Add, Concatenate, Merge, Multiply  # re-exported: refnet.graph is where users find them
from refnet.network import NeuralNetwork, parameter_cell
from refnet.wiring import GraphError, Input, Node, apply, topological_order

__all__ = ["Add", "Concatenate", "GraphError", "GraphModel", "Input", "Merge", "Multiply", "Node", "apply"]


def dot_text(text: str) -> str:
    """``text`` as it may stand inside a quoted DOT label, shown as written.

    Every backslash is doubled, so none forms an escape sequence (``\\N``, ``\\l``) or escapes
    the closing quote; every double quote is escaped; characters that are not printable
    (newlines, tabs, control codes) become ``?``. (The result must not be the last thing
    before the closing quote if it may end in a backslash: DOT reads ``\\\\"`` as ``\\`` + ``\\"``.)
    """
    printable = "".join(char if char.isprintable() else "?" for char in text)
    return printable.replace("\\", "\\\\").replace('"', '\\"')


def _index(value: Any, count: int, what: str) -> int:
    """``value`` if it is an int in [0, count), for a position read from a saved graph config."""
    if type(value) is not int:
        raise TypeError(f"{what} must be given by an integer index, got {type(value).__name__}")
    if not 0 <= value < count:
        raise ValueError(f"{what} index {value} is out of range (0 to {count - 1})")
    return value


class GraphModel(NeuralNetwork):
    """A network whose layers form a directed acyclic graph from one input to one output.

    Args:
        inputs: the ``Input`` node.
        outputs: the output node; every node must lie on a path from inputs to outputs.
        loss, rng, seed: as for ``NeuralNetwork``.

    Raises ``GraphError`` (a ValueError) at construction for a cycle, a branch that does not
    reach the output, or an output that depends on a different input node.
    """

    def __init__(
        self,
        inputs: Node,
        outputs: Node,
        loss: Loss | None = None,
        *,
        rng: np.random.Generator | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(loss=loss, rng=rng, seed=seed)
        if not isinstance(inputs, Node) or inputs.layer is not None:
            raise TypeError("inputs must be the graph's Input(...) node")
        if not isinstance(outputs, Node):
            raise TypeError(f"outputs must be a graph node, got {type(outputs).__name__}")
        order = topological_order(outputs)
        for node in order:
            if node.layer is None and node is not inputs:
                raise GraphError(
                    f"the output depends on input node {node.label()!r}, which is not the model's input: "
                    "feed the model's Input node to that branch"
                )
        if inputs not in order:
            raise GraphError("the output does not depend on the given input node")
        self._name_nodes(order)
        members = {id(node) for node in order}
        for node in order:
            dead = [consumer for consumer in node.consumers if id(consumer) not in members]
            if dead:
                raise GraphError(
                    f"node {dead[0].label()!r} (fed by {node.name!r}) is not connected to the output: "
                    "use it in the output's computation or remove it"
                )
        layers = [node.layer for node in order if node.layer is not None]
        dtypes = {str(layer.dtype) for layer in layers if layer.dtype is not None}
        if len(dtypes) > 1:
            raise GraphError(f"the graph mixes parameter dtypes {sorted(dtypes)}: build every layer with one dtype")
        self.nodes = order
        self.input_node, self.output_node = inputs, outputs
        self.input_shape = inputs.shape
        for layer in layers:  # in graph order, so a seeded graph is reproducible
            self._seed_layer(layer)
        self.layers = layers

    @staticmethod
    def _name_nodes(order: list[Node]) -> None:
        taken = {node.name for node in order if node.name is not None}
        for index, node in enumerate(order):
            if node.name is None:
                base = "input" if node.layer is None else type(node.layer).__name__.lower()
                name = f"{base}_{index}"
                while name in taken:
                    name += "_"
                node.name = name
                taken.add(name)

    @property
    def in_features(self) -> int:
        return self.input_node.width

    def output_features(self) -> int:
        return self.output_node.width

    def output_shape(self, shape: Sequence[int] | None = None) -> Shape:
        """The per-sample output shape for X of per-sample ``shape`` (default: the Input node's).

        The graph's shapes were checked when it was built; X may differ from the Input's shape
        where the layers allow it (a shorter sequence), so its shape runs through every node again.
        """
        if shape is None:
            return self.output_node.shape
        shapes: dict[int, Shape] = {id(self.input_node): tuple(shape)}
        for node in self.nodes:
            layer = node.layer
            if layer is None:
                continue
            given = [shapes[id(source)] for source in node.inputs]
            try:
                shapes[id(node)] = layer.merged_shape(given) if layer.multiple_inputs else layer.output_shape(given[0])
            except ShapeError as error:
                raise ShapeError(f"node {node.name!r} ({type(layer).__name__}): {error}") from None
        return shapes[id(self.output_node)]

    def add(self, layer: Layer) -> NeuralNetwork:
        raise TypeError("a GraphModel is built from nodes: call layers on nodes instead of add()")

    def _forward_arrays(self, X: Array, training: bool) -> Array:
        """Each node after its inputs, from the Input node's value X."""
        values: dict[int, Array] = {id(self.input_node): X}
        for node in self.nodes:
            layer = node.layer
            if layer is None:
                continue
            args = [values[id(source)] for source in node.inputs]
            if layer.multiple_inputs:
                values[id(node)] = layer.forward_many_unchecked(args, training)
            else:
                values[id(node)] = layer.forward_unchecked(args[0], training)
        return values[id(self.output_node)]

    def backward(self, grad_y: Array) -> Array | None:
        """Reverse topological order; gradients arriving at a node from several consumers are summed.

        Returns dL/dX, or None when X is integer ids (an Embedding takes the Input): ids have no gradient.
        """
        return self._backpropagate(grad_y, input_gradient=True)

    def _backward_params(self, grad_y: Array) -> None:
        """Every layer's grads as ``backward`` fills them, without dL/dX (what training runs).

        A layer fed by the Input node alone skips its input gradient (``Layer.backward_params``).
        """
        self._backpropagate(grad_y, input_gradient=False)

    def _backpropagate(self, grad_y: Array, input_gradient: bool) -> Array | None:
        grads: dict[int, Array] = {id(self.output_node): grad_y}
        for node in reversed(self.nodes):
            layer = node.layer
            if layer is None:
                continue
            grad_y = grads.pop(id(node))
            if not input_gradient and not layer.multiple_inputs and node.inputs[0] is self.input_node:
                layer.backward_params(grad_y, checked=False)
                continue
            input_grads: list[Array | None] = []  # None from an Embedding: ids have no gradient
            if layer.multiple_inputs:
                input_grads += layer.backward_many_unchecked(grad_y)
            else:
                input_grads.append(layer.backward_unchecked(grad_y))
            for source, grad_x in zip(node.inputs, input_grads, strict=True):
                if grad_x is None:  # the source is ids (an Embedding's input): nothing flows back
                    continue
                key = id(source)
                grads[key] = grads[key] + grad_x if key in grads else grad_x
        return grads.get(id(self.input_node))

    def __str__(self) -> str:
        """The ``summary()`` table: the nodes with their layer, inputs, output shape and parameter count."""
        rows = [("node", "layer", "inputs", "output shape", "params")]
        for node in self.nodes:
            layer = node.layer
            rows.append(
                (
                    str(node.name),
                    "Input" if layer is None else repr(layer),
                    ", ".join(str(source.name) for source in node.inputs) or "-",
                    node.shape_text(),
                    "0" if layer is None else parameter_cell(layer),
                )
            )
        return self._summary_table(rows)

    def to_dot(self) -> str:
        """The graph in Graphviz DOT: render with ``dot -Tpng model.dot -o model.png``.

        The nodes are identified as ``n0``, ``n1``, ... in graph order; their names (which a
        loaded file may set to anything) appear only inside the quoted labels, escaped by
        ``dot_text``, so no name can end a string or add a statement.
        """
        ids = {id(node): f"n{index}" for index, node in enumerate(self.nodes)}
        lines = ["digraph refnet {", "  rankdir=TB;", '  node [shape=box, fontname="monospace"];']
        for node in self.nodes:
            title = "Input" if node.layer is None else repr(node.layer)
            # "\\n" is DOT's line break in a label; the last line is always ours, never a name.
            label = "\\n".join(dot_text(line) for line in (str(node.name), title, node.shape_text()))
            lines.append(f'  {ids[id(node)]} [label="{label}"];')
        for node in self.nodes:
            lines.extend(f"  {ids[id(source)]} -> {ids[id(node)]};" for source in node.inputs)
        lines.append("}")
        return "\n".join(lines) + "\n"

    # -- saving: the JSON config records the edges ---------------------------------
    def graph_config(self) -> dict[str, Any]:
        """Nodes in order, each with its layer's index in ``layers`` (None for the input) and its inputs."""
        position = {id(node): index for index, node in enumerate(self.nodes)}
        layer_index = {id(layer): index for index, layer in enumerate(self.layers)}
        return {
            "nodes": [
                {
                    "name": node.name,
                    "layer": None if node.layer is None else layer_index[id(node.layer)],
                    "inputs": [position[id(source)] for source in node.inputs],
                    "shape": list(node.shape),
                }
                for node in self.nodes
            ],
            "output": position[id(self.output_node)],
        }

    @classmethod
    def from_graph_config(cls, layers: list[Layer], config: dict[str, Any], loss: Loss | None = None) -> GraphModel:
        """Rebuild the graph from ``graph_config()`` and the layers in the same order.

        The config may come from a file: every index must be an int naming an earlier node
        (or a layer), every name a string; anything else is a TypeError or ValueError.
        """
        nodes: list[Node] = []
        for entry in config["nodes"]:
            name = entry["name"]
            if not isinstance(name, str):
                raise TypeError(f"a node name must be a string, got {type(name).__name__}")
            sources = [nodes[_index(i, len(nodes), "an input")] for i in entry["inputs"]]
            if entry["layer"] is None:  # files before sequences and images stored the width alone
                node = Input(entry["shape"] if "shape" in entry else entry["width"], name=name)
            else:
                node = apply(layers[_index(entry["layer"], len(layers), "a layer")], sources)
                node.name = name
            nodes.append(node)
        inputs = [node for node in nodes if node.layer is None]
        if len(inputs) != 1:
            raise GraphError(f"a saved graph must have exactly one input node, found {len(inputs)}")
        return cls(inputs[0], nodes[_index(config["output"], len(nodes), "the output")], loss=loss)
