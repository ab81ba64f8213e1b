"""Graph wiring: the nodes a graph is built from, and applying a layer to them.

``Input(shape)`` makes the first node (``Input(64)`` for rows of 64 features, ``Input((1, 8, 8))``
for images, ``Input((T, E))`` for sequences); calling a layer on nodes (``Dense(64, 32)(x)``,
``Add()(a, b)``) calls ``apply``, which checks the shapes now, rather than at the first
forward, and records the edge. ``topological_order`` orders the nodes an output depends on.
``GraphModel`` (in ``refnet.graph``) runs them.

This module sits beside the Layer interface: it knows layers only by what the interface
promises (``multiple_inputs``, ``output_shape``, ``merged_shape``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from refnet.errors import ShapeError
from refnet.support.checks import check_int

if TYPE_CHECKING:
    from refnet.base import Layer

__all__ = ["GraphError", "Input", "Node", "apply", "topological_order"]


class GraphError(ValueError):
    """The graph is malformed: a cycle, a dead branch, a wrong input, a reused layer."""


class Node:
    """A value in a graph: the output of ``layer`` applied to ``inputs``, a batch of shape (N, *shape).

    Users do not build nodes directly: ``Input(shape)`` makes the first one and calling a
    layer on nodes (``Dense(...)(node)``, ``Add()(a, b)``) makes the rest.
    """

    def __init__(
        self, layer: Layer | None, inputs: tuple[Node, ...], shape: tuple[int, ...], name: str | None = None
    ) -> None:
        self.layer = layer
        self.inputs = inputs
        #: The per-sample shape (without the batch axis N).
        self.shape = shape
        self.name = name
        #: Nodes that take this one as an input (used to find dead branches).
        self.consumers: list[Node] = []

    def label(self) -> str:
        """The node's name, or a description when it has none yet."""
        if self.name is not None:
            return self.name
        return "input" if self.layer is None else type(self.layer).__name__

    @property
    def width(self) -> int:
        """The size of the last axis (the features of a row, the channels-last width of anything else)."""
        return self.shape[-1]

    def shape_text(self) -> str:
        """The batch shape as text, ``(N, 8, 8)``."""
        return "(" + ", ".join(["N", *map(str, self.shape)]) + ")"

    def __repr__(self) -> str:
        return f"Node({self.label()!r}, shape={self.shape_text()})"


def Input(shape: int | Sequence[int], name: str | None = None) -> Node:
    """The input node of a graph: a batch of shape (N, features) for an int, (N, *shape) for a tuple."""
    return Node(None, (), sample_shape(shape, "Input shape"), name)


def sample_shape(shape: Any, name: str) -> tuple[int, ...]:
    """``shape`` (an int or a sequence of ints >= 1) as a per-sample shape tuple."""
    if not isinstance(shape, (tuple, list)):
        return (check_int(shape, name),)
    if not shape:
        raise TypeError(f"{name} must be an int or a non-empty tuple of ints, got {shape!r}")
    return tuple(check_int(size, name) for size in shape)


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
        try:
            shape = layer.merged_shape([node.shape for node in inputs])
        except ShapeError as error:
            given = ", ".join(f"{node.label()!r}: {node.shape_text()}" for node in inputs)
            raise ShapeError(f"{error} (inputs {given})") from None
    else:
        if len(inputs) != 1:
            raise TypeError(f"{type(layer).__name__} takes one input node, got {len(inputs)}")
        try:
            shape = layer.output_shape(inputs[0].shape)
        except ShapeError as error:
            raise ShapeError(f"{error} (at node {inputs[0].label()!r})") from None
    result = Node(layer, tuple(inputs), shape)
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
