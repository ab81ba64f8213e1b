"""Reading attention and positional embeddings back from ONNX: the subgraphs refnet.onnx.export writes for them.

ONNX's default domain has no attention operator before opset 23, so refnet.onnx.export writes
MultiHeadAttention as its formula (``refnet.onnx.exporter.export_attention``):

    for Q, K, V:  MatMul(x, W) -> Add(b) -> Reshape [0, T, H, d] -> Transpose [0, 2, 1, 3] (K: [0, 2, 3, 1])
    MatMul(Q, K_hᵀ) -> Mul(1/√d) [-> Where(mask, S, a large negative number)] -> Softmax(axis=-1)
    MatMul(A, V) -> Transpose [0, 2, 1, 3] -> Reshape [0, T, E] -> MatMul(W_o) -> Add(b_o)

``attention_at`` matches that subgraph from the first projection's MatMul, and ``positional_at``
Add(x, Gather(P, [0, 1, …, T − 1])). A match spans its nodes (the reader skips them); anything
else is left to the other importers, which refuse what is not theirs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refnet.attention import BIASES, WEIGHTS, MultiHeadAttention, causal_mask
from refnet.base import Array
from refnet.onnx.reader import OnnxReader
from refnet.positional import PositionalEmbedding

__all__ = ["attention_at", "positional_at"]


def follow(reader: OnnxReader, tensor: str, op_type: str) -> tuple[int, Any] | None:
    """The one node reading ``tensor``, if it is an ``op_type``; else None."""
    following = reader.sole_consumer(tensor)
    return following if following is not None and following[1].op_type == op_type else None


def other_input(node: Any, known: str) -> str:
    """The input of a two-input node that is not ``known``."""
    others = [name for name in node.input if name != known]
    return others[0] if len(others) == 1 else ""


def constant_equal(reader: OnnxReader, name: str, value: Array) -> bool:
    """True when ``name`` is a constant equal to ``value`` (shape and values)."""
    if not reader.is_constant(name):
        return False
    array = reader.constant(name)
    return array.shape == np.shape(value) and bool(np.array_equal(array, value))


def perm(reader: OnnxReader, node: Any) -> list[int]:
    return list(reader.attributes(node, {"perm": None})["perm"] or [])


def heads_of(reader: OnnxReader, index: int, node: Any, T: int) -> dict[str, Any] | None:
    """One projection: MatMul(x, W) -> Add(b) -> Reshape [0, T, H, d] -> Transpose; its W, b, H, perm, nodes, output."""
    if node.op_type != "MatMul" or not reader.is_constant(node.input[1]):
        return None
    W = reader.constant(node.input[1])
    add = follow(reader, str(node.output[0]), "Add")
    if W.ndim != 2 or W.shape[0] != W.shape[1] or add is None:
        return None
    b_name = other_input(add[1], str(node.output[0]))
    reshape = follow(reader, str(add[1].output[0]), "Reshape")
    if not reader.is_constant(b_name) or reader.constant(b_name).shape != (W.shape[1],) or reshape is None:
        return None
    shape = reader.constant(reshape[1].input[1]) if reader.is_constant(reshape[1].input[1]) else np.zeros(0)
    transpose = follow(reader, str(reshape[1].output[0]), "Transpose")
    if shape.shape != (4,) or int(shape[0]) not in (0, -1) or int(shape[1]) != T or transpose is None:
        return None
    H, d = int(shape[2]), int(shape[3])
    if H * d != W.shape[1] or list(reshape[1].attribute):
        return None
    return {
        "W": W,
        "b": reader.constant(b_name),
        "H": H,
        "perm": perm(reader, transpose[1]),
        "nodes": [index, add[0], reshape[0], transpose[0]],
        "output": str(transpose[1].output[0]),
    }


def attention_at(reader: OnnxReader, index: int, node: Any) -> tuple[MultiHeadAttention, str, list[int]] | None:
    """The MultiHeadAttention whose Q, K or V projection starts at ``node``: (layer, output, nodes), or None."""
    x = str(node.input[0])
    shape = reader.shapes.get(reader.value(x)) if not reader.is_constant(x) else None
    if shape is None or len(shape) != 2:
        return None
    T, E = shape
    projections = [heads_of(reader, i, reader.nodes[i], T) for i in sorted(set(reader.consumers.get(x, [])))]
    found = [p for p in projections if p is not None]
    keys = [p for p in found if p["perm"] == [0, 2, 3, 1]]
    if len(keys) != 1:
        return None
    K = keys[0]
    scores = follow(reader, K["output"], "MatMul")
    if scores is None or scores[1].input[1] != K["output"]:
        return None
    queries = [p for p in found if p["output"] == scores[1].input[0] and p["perm"] == [0, 2, 1, 3]]
    if len(queries) != 1:
        return None
    Q = queries[0]
    H, d = Q["H"], E // Q["H"]
    scale = follow(reader, str(scores[1].output[0]), "Mul")
    factor = np.array(reader.dtype.type(1.0 / np.sqrt(d)))
    if scale is None or not constant_equal(reader, other_input(scale[1], str(scores[1].output[0])), factor):
        return None
    spanned = [scores[0], scale[0]]
    S, causal = str(scale[1].output[0]), False
    where = follow(reader, S, "Where")
    if where is not None:
        mask, values, lowest = where[1].input
        if values != S or not constant_equal(reader, mask, causal_mask(T)) or not reader.is_constant(lowest):
            return None
        if reader.constant(lowest).size != 1 or float(reader.constant(lowest).reshape(())) > -1e30:
            return None  # a masked score must weigh exactly 0 after the softmax
        spanned.append(where[0])
        S, causal = str(where[1].output[0]), True
    softmax = follow(reader, S, "Softmax")
    if softmax is None or reader.attributes(softmax[1], {"axis": -1})["axis"] not in (-1, 3):
        return None
    weighted = follow(reader, str(softmax[1].output[0]), "MatMul")
    if weighted is None or weighted[1].input[0] != softmax[1].output[0]:
        return None
    values_ = [p for p in found if p["output"] == weighted[1].input[1] and p["perm"] == [0, 2, 1, 3]]
    merged = follow(reader, str(weighted[1].output[0]), "Transpose")
    if len(values_) != 1 or merged is None or perm(reader, merged[1]) != [0, 2, 1, 3]:
        return None
    V = values_[0]
    reshape = follow(reader, str(merged[1].output[0]), "Reshape")
    if reshape is None or not reader.is_constant(reshape[1].input[1]):
        return None
    target = reader.constant(reshape[1].input[1])
    if target.shape != (3,) or int(target[0]) not in (0, -1) or [int(target[1]), int(target[2])] != [T, E]:
        return None
    output = heads_of_output(reader, reshape, E)
    if output is None or {Q["H"], K["H"], V["H"]} != {H}:
        return None
    W_o, b_o, out_nodes, y = output
    spanned += [softmax[0], weighted[0], merged[0], reshape[0], *out_nodes]
    layer = MultiHeadAttention(E, H, causal, seed=0, dtype=reader.dtype)
    for name, value in zip(
        (*WEIGHTS, *BIASES), (Q["W"], K["W"], V["W"], W_o, Q["b"], K["b"], V["b"], b_o), strict=True
    ):
        np.copyto(layer.params[name], value)
    return layer, y, [*Q["nodes"], *K["nodes"], *V["nodes"], *spanned]


def heads_of_output(reader: OnnxReader, reshape: tuple[int, Any], E: int) -> tuple[Array, Array, list[int], str] | None:
    """The output projection after the merged heads: MatMul(W_o) -> Add(b_o); (W_o, b_o, its nodes, y), or None."""
    matmul = follow(reader, str(reshape[1].output[0]), "MatMul")
    if (
        matmul is None
        or not reader.is_constant(matmul[1].input[1])
        or reader.constant(matmul[1].input[1]).shape
        != (
            E,
            E,
        )
    ):
        return None
    add = follow(reader, str(matmul[1].output[0]), "Add")
    if add is None:
        return None
    b_name = other_input(add[1], str(matmul[1].output[0]))
    if not reader.is_constant(b_name) or reader.constant(b_name).shape != (E,):
        return None
    return reader.constant(matmul[1].input[1]), reader.constant(b_name), [matmul[0], add[0]], str(add[1].output[0])


def positional_at(reader: OnnxReader, index: int, node: Any) -> tuple[PositionalEmbedding, str, str, int] | None:
    """Gather(P, [0, 1, …, T − 1]) read by Add(x, ·): (PositionalEmbedding holding P, x, y, the Add's index) or None."""
    if not reader.is_constant(node.input[0]) or not reader.is_constant(node.input[1]):
        return None
    P, positions = reader.constant(node.input[0]), reader.constant(node.input[1])
    add = follow(reader, str(node.output[0]), "Add")
    if P.ndim != 2 or positions.ndim != 1 or add is None or positions.size > P.shape[0]:
        return None
    if not np.array_equal(positions, np.arange(positions.size)):
        return None
    x = other_input(add[1], str(node.output[0]))
    if not x or reader.is_constant(x) or reader.shapes.get(reader.value(x)) != (positions.size, P.shape[1]):
        return None
    layer = PositionalEmbedding(*P.shape, seed=0, dtype=reader.dtype)
    np.copyto(layer.params["P"], P)
    return layer, x, str(add[1].output[0]), add[0]
