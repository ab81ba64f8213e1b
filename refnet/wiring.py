"""Graph wiring: the nodes a graph is built from, and applying a layer to them.

``Input(features)`` makes the first node; calling a layer on nodes (``Dense(64, 32)(x)``,
``Add()(a, b)``) calls ``apply``, which checks the widths now, rather than at the first
forward, and records the edge. ``topological_order`` orders the nodes an output depends on.
``GraphModel`` (in ``refnet.graph``) runs them.

This module sits beside the Layer interface: it knows layers only by what the interface
promises (``multiple_inputs``, ``in_features``, ``output_features``, ``merged_width``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from refnet.errors import ShapeError
from refnet.support.checks import check_int

if TYPE_CHECKING:
    from refnet.base import Layer

__all__ = ["GraphError", "Input", "Node", "apply", "topological_order"]


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
    used = getattr(layer, "graph_node", None)
    if used is not None:
        raise GraphError(
            f"this {type(layer).__name__} is already used in a graph (at node {used.label()!r}); "
            "a layer can be used once: create a second layer instead of sharing weights"
        )
    if layer.multiple_inputs:
        if len(inputs) < 2:
            raise TypeError(f"{type(layer).__name__} merges at least 2 nodes, got {len(inputs)}")
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
    layer.graph_node = result
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
