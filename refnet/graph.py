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

from refnet._checks import check_int
from refnet.base import Array, Layer
from refnet.errors import ShapeError
from refnet.losses import Loss
from refnet.merge import Add, Concatenate, Merge, Multiply
from refnet.network import NeuralNetwork

__all__ = ["Add", "Concatenate", "GraphError", "GraphModel", "Input", "Merge", "Multiply", "Node", "apply"]


class GraphError(ValueError):
    """The graph is malformed: a cycle, a dead branch, a wrong input, a reused layer."""


class Node:
    """A value in a graph: the output of ``layer`` applied to ``inputs`` (width ``width``).

    Users do not build nodes directly: ``Input(features)`` makes the first one and calling a
    layer on nodes (``Dense(...)(node)``, ``Add()(a, b)``) makes the rest.
    """

    def __init__(self, layer: Layer | None, inputs: tuple[Node, ...], width: int, name: str | None = None) -> None:
        self.layer = layer
        self.inputs = inputs
        self.width = width
        self.name = name
        #: Nodes that take this one as an input (used to find dead branches).
        self.consumers: list[Node] = []

    def label(self) -> str:
        """The node's name, or a description when it has none yet."""
        if self.name is not None:
            return self.name
        return "input" if self.layer is None else type(self.layer).__name__

    def __repr__(self) -> str:
        return f"Node({self.label()!r}, width={self.width})"


def Input(features: int, name: str | None = None) -> Node:
    """The input node of a graph: a batch of shape (N, features)."""
    return Node(None, (), check_int(features, "features"), name)


def apply(layer: Layer, inputs: Sequence[Node]) -> Node:
    """The node ``layer(*inputs)``, with the widths checked now rather than at the first forward."""
    for node in inputs:
        if not isinstance(node, Node):
            raise TypeError(f"{type(layer).__name__} must be called on graph nodes, got {type(node).__name__}")
    used = getattr(layer, "_graph_node", None)
    if used is not None:
        raise GraphError(
            f"this {type(layer).__name__} is already used in a graph (at node {used.label()!r}); "
            "a layer can be used once: create a second layer instead of sharing weights"
        )
    if isinstance(layer, Merge):
        width = layer.merged_width(list(inputs))
    else:
        if len(inputs) != 1:
            raise TypeError(f"{type(layer).__name__} takes one input node, got {len(inputs)}")
        (node,) = inputs
        if layer.in_features is not None and layer.in_features != node.width:
            raise ShapeError(
                f"{layer!r} expects {layer.in_features} input features, but node {node.label()!r} has {node.width}"
            )
        width = layer.output_features(node.width)
    result = Node(layer, tuple(inputs), width)
    layer._graph_node = result  # type: ignore[attr-defined]
    for node in inputs:
        node.consumers.append(result)
    return result


def topological_order(output: Node) -> list[Node]:
    """Every node the output depends on, each after its inputs (depth-first, cycle-checked)."""
    order: list[Node] = []
    state: dict[int, str] = {}  # id(node) -> "open" while on the DFS path, "done" after
    stack: list[tuple[Node, int]] = [(output, 0)]
    while stack:
        node, next_input = stack.pop()
        if next_input == 0:
            if state.get(id(node)) == "done":
                continue
            state[id(node)] = "open"
        if next_input < len(node.inputs):
            stack.append((node, next_input + 1))
            child = node.inputs[next_input]
            if state.get(id(child)) == "open":
                raise GraphError(f"the graph has a cycle through node {child.label()!r}")
            if state.get(id(child)) != "done":
                stack.append((child, 0))
        else:
            state[id(node)] = "done"
            order.append(node)
    return order


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

    def add(self, layer: Layer) -> NeuralNetwork:
        raise TypeError("a GraphModel is built from nodes: call layers on nodes instead of add()")

    def _forward(self, X: Array, training: bool) -> Array:
        values: dict[int, Array] = {id(self.input_node): X}
        for node in self.nodes:
            layer = node.layer
            if layer is None:
                continue
            args = [values[id(source)] for source in node.inputs]
            if isinstance(layer, Merge):
                values[id(node)] = layer.forward_many(args, training)
            else:
                values[id(node)] = layer.forward(args[0], training)
        return values[id(self.output_node)]

    def _backward(self, grad: Array) -> Array:
        """Reverse topological order; gradients arriving at a node from several consumers are summed."""
        grads: dict[int, Array] = {id(self.output_node): grad}
        for node in reversed(self.nodes):
            layer = node.layer
            if layer is None:
                continue
            grad_y = grads.pop(id(node))
            input_grads = layer.backward_many(grad_y) if isinstance(layer, Merge) else [layer.backward(grad_y)]
            for source, grad_x in zip(node.inputs, input_grads, strict=True):
                key = id(source)
                grads[key] = grads[key] + grad_x if key in grads else grad_x
        return grads[id(self.input_node)]

    def summary(self) -> str:
        """A table of the nodes: name, layer, inputs, output shape and parameter count."""
        rows = [("node", "layer", "inputs", "output shape", "params")]
        for node in self.nodes:
            layer = node.layer
            rows.append(
                (
                    str(node.name),
                    "Input" if layer is None else repr(layer),
                    ", ".join(str(source.name) for source in node.inputs) or "-",
                    f"(N, {node.width})",
                    f"{0 if layer is None else layer.parameter_count():,}",
                )
            )
        return self._summary_table(rows)

    def to_dot(self) -> str:
        """The graph in Graphviz DOT: render with ``dot -Tpng model.dot -o model.png``."""
        lines = ["digraph refnet {", "  rankdir=TB;", '  node [shape=box, fontname="monospace"];']
        for node in self.nodes:
            title = "Input" if node.layer is None else repr(node.layer)
            label = f"{node.name}\\n{title}\\n(N, {node.width})".replace('"', '\\"')
            lines.append(f'  "{node.name}" [label="{label}"];')
        for node in self.nodes:
            lines.extend(f'  "{source.name}" -> "{node.name}";' for source in node.inputs)
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
                    "width": node.width,
                }
                for node in self.nodes
            ],
            "output": position[id(self.output_node)],
        }

    @classmethod
    def from_graph_config(cls, layers: list[Layer], config: dict[str, Any], loss: Loss | None = None) -> GraphModel:
        """Rebuild the graph from ``graph_config()`` and the layers in the same order."""
        nodes: list[Node] = []
        for entry in config["nodes"]:
            sources = [nodes[int(i)] for i in entry["inputs"]]
            if entry["layer"] is None:
                node = Input(int(entry["width"]), name=entry["name"])
            else:
                node = apply(layers[int(entry["layer"])], sources)
                node.name = entry["name"]
            nodes.append(node)
        inputs = [node for node in nodes if node.layer is None]
        if len(inputs) != 1:
            raise GraphError(f"a saved graph must have exactly one input node, found {len(inputs)}")
        return cls(inputs[0], nodes[int(config["output"])], loss=loss)
