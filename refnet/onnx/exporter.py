"""Export a refnet model to ONNX, one table entry per layer class.

``export(model, path)`` walks the model's layers (a NeuralNetwork's in order, a GraphModel's
nodes in graph order) and writes the ONNX nodes of each with ``EXPORTERS[type(layer)]``:

    Dense(act)      Gemm(x, W, b) on rows (N, in), MatMul(x, W) + Add(·, b) on (N, ..., in); then the
                    activation's node                             W: (in, out), so transB = 0
    ReLU, Tanh, ... Relu, Tanh, Sigmoid, Softmax(axis=-1), Identity, Elu(alpha), Selu, Softplus
    LeakyReLU       LeakyRelu(alpha) where alpha is exact in float32 (ONNX stores float attributes
                    in float32), else Max(x, Mul(x, alpha)) with alpha a tensor of the model's dtype
    Dropout         Dropout(x, ratio) without training_mode: the identity at inference; ratio keeps p
    BatchNorm       BatchNormalization(x, gamma, beta, running_mean, running_var), epsilon = eps,
                    momentum = 1 − momentum (ONNX weighs the running value, refnet the batch's)
    Add, Multiply   a chain of binary Add / Mul in refnet's order: (x_1 + x_2) + x_3 ...
    Concatenate     Concat(axis), the same axis (both count the batch axis N as 0)
    Embedding       Gather(W, ids, axis=0); X holds int64 ids then
    Conv2D(act)     Conv(x, W, b, kernel_shape, strides, pads = [ph, pw, ph, pw]): the same (O, C, kh, kw)
                    cross-correlation; then the activation's node
    MaxPool2D       MaxPool(kernel_shape, strides), AveragePool(..., count_include_pad = 0): refnet's pools
    AvgPool2D       have no padding and drop the windows that overhang, as ONNX's ceil_mode = 0
    Flatten         Flatten(axis = 1): (N, d1, d2, ...) -> (N, d1·d2·...) in C order
    BatchNorm2D     BatchNormalization of (N, C, H, W) with the running statistics, as BatchNorm
    LayerNorm       LayerNormalization(x, gamma, beta, axis = -1, epsilon = eps) (opset 17 on)
    GELU            the formula in elementary operators (see ``export_gelu``), so it runs at every opset
    SiLU            Mul(x, Sigmoid(x))
    PositionalEmbedding  Add(x, Gather(P, positions 0 … T−1)): the whole table P is kept (max_length rows)
    MultiHeadAttention   its formula in MatMul, Add, Reshape, Transpose, Mul(1/√d), Softmax(axis=-1) and, when
                    causal, Where(mask, S, lowest) with the (T, T) lower-triangle mask (see ``export_attention``)
    RNN, LSTM, GRU  Transpose to time-major (T, N, D), then ONNX's RNN / LSTM / GRU with its gate order (LSTM
                    i, o, f, c; GRU z, r, h with linear_before_reset = 1, PyTorch's GRU) and bias [Wb | Rb], then
                    Squeeze and Transpose of Y back to (N, T, H), or Squeeze of Y_h (N, H) without
                    return_sequences (onnxruntime runs only layout = 0, time-major)

A new layer is one function ``(graph, layer, inputs, prefix) -> output name`` and one entry in
EXPORTERS; ``graph.shapes[name]`` is the per-sample shape of a tensor, for a layer whose nodes depend on
it. Every model passes ``onnx.checker.check_model(full_check=True)`` before it is written.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from refnet.attention import BIASES, WEIGHTS, MultiHeadAttention, causal_mask
from refnet.base import Array, Layer
from refnet.batchnorm import BatchNorm
from refnet.batchnorm2d import BatchNorm2D
from refnet.conv import Conv2D
from refnet.dropout import Dropout
from refnet.embedding import Embedding
from refnet.functions import (
    ELU,
    GELU,
    SELU,
    SELU_ALPHA,
    SELU_SCALE,
    Activation,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from refnet.graph import GraphModel
from refnet.layer import Dense
from refnet.layernorm import LayerNorm
from refnet.losses import BinaryCrossEntropy, CrossEntropy
from refnet.merge import Add, Concatenate, Multiply
from refnet.network import NeuralNetwork
from refnet.onnx.requirement import require_onnx
from refnet.pooling import AvgPool2D, Flatten, MaxPool2D
from refnet.positional import PositionalEmbedding
from refnet.recurrent import GRU, LSTM, RNN, Recurrent
from refnet.wiring import sample_shape

__all__ = [
    "DEFAULT_OPSET",
    "EXPORTERS",
    "GATE_ORDER",
    "GELU_CHAINS",
    "MIN_OPSET",
    "SILU_CHAIN",
    "Chain",
    "OnnxGraph",
    "export",
]

#: The opset written unless asked otherwise: every onnxruntime since 1.13 runs it.
DEFAULT_OPSET = 17
#: The oldest opset refnet writes: Softmax acts on one axis (not a flattened 2-D view) from 13 on.
MIN_OPSET = 13


class OnnxGraph:
    """The ONNX graph being written: its nodes, its initializers (the weights) and unique names.

    A node's name is also the name of its output tensor (ONNX keeps the two apart), e.g.
    ``dense_1/Gemm``; a weight is named after its layer, e.g. ``dense_1/W``.
    """

    def __init__(self, onnx: Any, dtype: np.dtype[Any], opset: int = DEFAULT_OPSET) -> None:
        self.onnx = onnx
        self.dtype = dtype
        self.opset = opset
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        #: The per-sample shape (without N) of every tensor a layer outputs, and of X.
        self.shapes: dict[str, tuple[int, ...]] = {}
        self._taken = {"X", "Y"}

    def fresh(self, base: str) -> str:
        """``base``, or ``base_2``, ``base_3``, ... when it is taken."""
        name, count = base, 1
        while name in self._taken:
            count += 1
            name = f"{base}_{count}"
        self._taken.add(name)
        return name

    def constant(self, base: str, value: Array) -> str:
        """An initializer holding ``value`` in the model's dtype; returns its name."""
        name = self.fresh(base)
        array = np.array(value, dtype=self.dtype, order="C")  # ascontiguousarray would make a scalar 1-D
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def integers(self, base: str, values: Sequence[int]) -> str:
        """An int64 initializer holding ``values`` (the axes of a Squeeze, the shape of a Reshape, positions)."""
        name = self.fresh(base)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.array(values, dtype=np.int64), name))
        return name

    def booleans(self, base: str, values: Array) -> str:
        """A bool initializer holding ``values`` (the causal mask of attention)."""
        name = self.fresh(base)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.array(values, dtype=bool), name))
        return name

    def node(self, op_type: str, inputs: Sequence[str], prefix: str, **attributes: Any) -> str:
        """Append the node ``op_type(inputs)``; returns the name of its one output."""
        return self.node_output(op_type, inputs, prefix, 0, 1, **attributes)

    def node_output(
        self, op_type: str, inputs: Sequence[str], prefix: str, which: int, count: int, **attributes: Any
    ) -> str:
        """Append ``op_type(inputs)`` with ``count`` outputs of which only output ``which`` is written (and named)."""
        name = self.fresh(f"{prefix}/{op_type}")
        outputs = [name if index == which else "" for index in range(count)]
        while outputs[-1] == "":
            outputs.pop()  # ONNX leaves trailing optional outputs out
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), outputs, name=name, **attributes))
        return name

    def rename_output(self, tensor: str, name: str) -> None:
        """Let the node writing ``tensor`` write ``name`` instead (the graph's output is called Y)."""
        for node in self.nodes:
            for index, output in enumerate(node.output):
                if output == tensor:
                    node.output[index] = name


#: How one layer becomes ONNX nodes: (graph, layer, its input tensors, a name prefix) -> its output tensor.
ExportFunction = Callable[[OnnxGraph, Any, list[str], str], str]


def export_dense(graph: OnnxGraph, layer: Dense, inputs: list[str], prefix: str) -> str:
    """z = x @ W + b: Gemm(x, W, b) on rows, MatMul then Add on (N, ..., in);  y = act(z) (no node for the identity)."""
    W = graph.constant(f"{prefix}/W", layer.params["W"])
    b = graph.constant(f"{prefix}/b", layer.params["b"])
    if len(graph.shapes[inputs[0]]) == 1:
        z = graph.node("Gemm", [inputs[0], W, b], prefix)
    else:  # Gemm takes matrices only
        z = graph.node("Add", [graph.node("MatMul", [inputs[0], W], prefix), b], prefix)
    return then_activation(graph, layer.activation, z, prefix)


def then_activation(graph: OnnxGraph, activation: Activation, z: str, prefix: str) -> str:
    """y = act(z) for the activation inside a layer (Dense, ...): its own export, no node for the identity."""
    if type(activation) is Identity:
        return z
    return exporter_for(activation, f"the activation of {prefix}")(graph, activation, [z], prefix)


def elementwise(op_type: str) -> ExportFunction:
    """The export of an activation that is one ONNX operator without attributes (Relu, Tanh, ...)."""

    def export_activation(graph: OnnxGraph, layer: Activation, inputs: list[str], prefix: str) -> str:
        return graph.node(op_type, inputs, prefix)

    return export_activation


def export_embedding(graph: OnnxGraph, layer: Embedding, inputs: list[str], prefix: str) -> str:
    """y = W[ids] = Gather(W, ids, axis=0): a row of W for each id (X is then int64)."""
    return graph.node("Gather", [graph.constant(f"{prefix}/W", layer.params["W"]), inputs[0]], prefix, axis=0)


def export_softmax(graph: OnnxGraph, layer: Softmax, inputs: list[str], prefix: str) -> str:
    """Softmax over the last axis."""
    return graph.node("Softmax", inputs, prefix, axis=-1)


def export_leaky_relu(graph: OnnxGraph, layer: LeakyReLU, inputs: list[str], prefix: str) -> str:
    """LeakyRelu(alpha) where alpha is exact in float32 or the model is float32; otherwise
    max(x, alpha·x) as Max(x, Mul(x, alpha)), the formula refnet computes, with alpha in float64."""
    alpha = layer.alpha
    if graph.dtype == np.float32 or float(np.float32(alpha)) == alpha:
        return graph.node("LeakyRelu", inputs, prefix, alpha=alpha)
    scaled = graph.node("Mul", [inputs[0], graph.constant(f"{prefix}/alpha", np.array(alpha))], prefix)
    return graph.node("Max", [inputs[0], scaled], prefix)


def export_elu(graph: OnnxGraph, layer: ELU, inputs: list[str], prefix: str) -> str:
    """Elu(alpha): x for x > 0, alpha·(e^x − 1) elsewhere."""
    return graph.node("Elu", inputs, prefix, alpha=layer.alpha)


def export_selu(graph: OnnxGraph, layer: SELU, inputs: list[str], prefix: str) -> str:
    """Selu(alpha, gamma = scale), PyTorch's constants (ONNX stores them in float32, as its own defaults)."""
    return graph.node("Selu", inputs, prefix, alpha=SELU_ALPHA, gamma=SELU_SCALE)


def export_dropout(graph: OnnxGraph, layer: Dropout, inputs: list[str], prefix: str) -> str:
    """Dropout(x, ratio = p) with training_mode absent (false): y = x, as refnet's evaluation."""
    return graph.node("Dropout", [inputs[0], graph.constant(f"{prefix}/ratio", np.array(layer.p))], prefix)


def export_batchnorm(graph: OnnxGraph, layer: BatchNorm | BatchNorm2D, inputs: list[str], prefix: str) -> str:
    """y = gamma·(x − running_mean)/sqrt(running_var + eps) + beta, with the running statistics."""
    arrays = [layer.params["gamma"], layer.params["beta"], layer.state["running_mean"], layer.state["running_var"]]
    names = [graph.constant(f"{prefix}/{key}", value) for key, value in zip(BATCHNORM_INPUTS, arrays, strict=True)]
    return graph.node(
        "BatchNormalization", [inputs[0], *names], prefix, epsilon=layer.eps, momentum=1.0 - layer.momentum
    )


#: BatchNormalization's inputs after x, by refnet's names.
BATCHNORM_INPUTS = ("gamma", "beta", "running_mean", "running_var")


def chain(op_type: str) -> ExportFunction:
    """The export of a merge as binary nodes in refnet's order: op(op(x_1, x_2), x_3) ..."""

    def export_merge(graph: OnnxGraph, layer: Layer, inputs: list[str], prefix: str) -> str:
        y = graph.node(op_type, inputs[:2], prefix)
        for x in inputs[2:]:
            y = graph.node(op_type, [y, x], prefix)
        return y

    return export_merge


def export_concatenate(graph: OnnxGraph, layer: Concatenate, inputs: list[str], prefix: str) -> str:
    """Concat along ``axis`` (N is axis 0 in both)."""
    return graph.node("Concat", inputs, prefix, axis=layer.axis)


def export_conv2d(graph: OnnxGraph, layer: Conv2D, inputs: list[str], prefix: str) -> str:
    """z = Conv(x, W, b) with the kernel, the strides and the same zero padding on both sides;  y = act(z)."""
    (ph, pw), W, b = layer.padding, layer.params["W"], layer.params["b"]
    z = graph.node(
        "Conv",
        [inputs[0], graph.constant(f"{prefix}/W", W), graph.constant(f"{prefix}/b", b)],
        prefix,
        kernel_shape=list(layer.kernel_size),
        strides=list(layer.stride),
        pads=[ph, pw, ph, pw],
    )
    return then_activation(graph, layer.activation, z, prefix)


def pool(op_type: str, **attributes: Any) -> ExportFunction:
    """The export of a pool: ``op_type`` with the kernel and the strides, no padding, floor division (ceil_mode 0)."""

    def export_pool(graph: OnnxGraph, layer: MaxPool2D | AvgPool2D, inputs: list[str], prefix: str) -> str:
        return graph.node(
            op_type, inputs, prefix, kernel_shape=list(layer.kernel_size), strides=list(layer.stride), **attributes
        )

    return export_pool


def export_flatten(graph: OnnxGraph, layer: Flatten, inputs: list[str], prefix: str) -> str:
    """Flatten(axis = 1): every axis after N into one, in C order."""
    return graph.node("Flatten", inputs, prefix, axis=1)


def export_layernorm(graph: OnnxGraph, layer: LayerNorm, inputs: list[str], prefix: str) -> str:
    """y = gamma·(x − mean)/sqrt(var + eps) + beta over the last axis: LayerNormalization, an operator of opset 17."""
    if graph.opset < 17:
        raise ValueError(f"refnet.onnx.export: {prefix} is a LayerNorm, whose LayerNormalization needs opset >= 17")
    gamma = graph.constant(f"{prefix}/gamma", layer.params["gamma"])
    beta = graph.constant(f"{prefix}/beta", layer.params["beta"])
    return graph.node("LayerNormalization", [inputs[0], gamma, beta], prefix, axis=-1, epsilon=layer.eps)


#: An activation as a chain of operators, each step (operator, its other operand): a number is a constant of
#: the model's dtype, "x" the activation's input, None no operand.
Chain = tuple[tuple[str, float | str | None], ...]
#: GELU's constants, as refnet.functions.GELU computes them: √½, √(2/π) and the cubic term's 0.044715.
GELU_CONSTANTS = {"sqrt_half": float(np.sqrt(0.5)), "sqrt_2_over_pi": float(np.sqrt(2.0 / np.pi)), "cubic": 0.044715}
#: GELU's formulas as chains of elementary operators. Written out rather than as ONNX's
#: Gelu (opset 20): the default opset is 17, and onnxruntime runs neither Gelu(exact) nor Erf in float64 anyway.
GELU_CHAINS: dict[str, Chain] = {
    # x·Φ(x) = x·(½(1 + erf(x·√½)))
    "none": (("Mul", GELU_CONSTANTS["sqrt_half"]), ("Erf", None), ("Add", 1.0), ("Mul", 0.5), ("Mul", "x")),
    # ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³), as x·(½(1 + tanh u))
    "tanh": (
        ("Mul", "x"),
        ("Mul", "x"),
        ("Mul", GELU_CONSTANTS["cubic"]),
        ("Add", "x"),
        ("Mul", GELU_CONSTANTS["sqrt_2_over_pi"]),
        ("Tanh", None),
        ("Add", 1.0),
        ("Mul", 0.5),
        ("Mul", "x"),
    ),
}
#: The activations written as a chain of that kind: SiLU's x·σ(x).
SILU_CHAIN: Chain = (("Sigmoid", None), ("Mul", "x"))


def write_chain(graph: OnnxGraph, chain: Chain, x: str, prefix: str) -> str:
    """The nodes of ``chain`` from x: each step reads the previous step's output and its operand."""
    y = x
    for op_type, operand in chain:
        if operand is None:
            y = graph.node(op_type, [y], prefix)
        else:
            other = x if operand == "x" else graph.constant(f"{prefix}/{op_type.lower()}", np.array(operand))
            y = graph.node(op_type, [y, other], prefix)
    return y


def export_gelu(graph: OnnxGraph, layer: GELU, inputs: list[str], prefix: str) -> str:
    """GELU(approximate) as the chain GELU_CHAINS[approximate] of Mul, Add, Erf or Tanh."""
    return write_chain(graph, GELU_CHAINS[layer.approximate], inputs[0], prefix)


def export_silu(graph: OnnxGraph, layer: SiLU, inputs: list[str], prefix: str) -> str:
    """x·σ(x) as Mul(Sigmoid(x), x)."""
    return write_chain(graph, SILU_CHAIN, inputs[0], prefix)


def export_positional(graph: OnnxGraph, layer: PositionalEmbedding, inputs: list[str], prefix: str) -> str:
    """y = x + P[:T] as Add(x, Gather(P, [0, 1, …, T − 1])): the table keeps all its max_length rows."""
    T = graph.shapes[inputs[0]][0]
    rows = graph.node("Gather", [graph.constant(f"{prefix}/P", layer.params["P"]), graph.integers(
        f"{prefix}/positions", list(range(T)))], prefix, axis=0)  # fmt: skip
    return graph.node("Add", [inputs[0], rows], prefix)


def export_attention(graph: OnnxGraph, layer: MultiHeadAttention, inputs: list[str], prefix: str) -> str:
    """y = concat_h(softmax(Q_h K_hᵀ/√d + M) V_h) @ W_o + b_o, in the order refnet computes it:

        Q = x @ W_q + b_q (MatMul, Add)  -> Reshape (N, T, H, d) -> Transpose (N, H, T, d); V alike
        K = x @ W_k + b_k                -> Reshape (N, T, H, d) -> Transpose (N, H, d, T): K_hᵀ
        S = (Q @ K_hᵀ)·(1/√d) (MatMul, Mul);  causal: Where(mask, S, lowest), mask the (T, T) lower triangle
        A = Softmax(S, axis=-1);  Z = A @ V (MatMul) -> Transpose (N, T, H, d) -> Reshape (N, T, E)
        y = Z @ W_o + b_o (MatMul, Add)

    refnet masks with −∞; ONNX's file holds the dtype's lowest finite number instead (weights refnet's
    importer reads must be finite): either way exp(S − max) of a masked score is exactly 0.
    """
    (T, E), H = graph.shapes[inputs[0]], layer.num_heads
    d = E // H
    W_q, W_k, W_v, W_o = (graph.constant(f"{prefix}/{name}", layer.params[name]) for name in WEIGHTS)
    b_q, b_k, b_v, b_o = (graph.constant(f"{prefix}/{name}", layer.params[name]) for name in BIASES)
    split = graph.integers(f"{prefix}/split_heads", [0, T, H, d])  # 0: N as it is

    def heads(W: str, b: str, perm: list[int]) -> str:
        projection = graph.node("Add", [graph.node("MatMul", [inputs[0], W], prefix), b], prefix)
        return graph.node("Transpose", [graph.node("Reshape", [projection, split], prefix)], prefix, perm=perm)

    Q, K_T, V = heads(W_q, b_q, [0, 2, 1, 3]), heads(W_k, b_k, [0, 2, 3, 1]), heads(W_v, b_v, [0, 2, 1, 3])
    S = graph.node("Mul", [graph.node("MatMul", [Q, K_T], prefix), graph.constant(f"{prefix}/scale",
                   np.array(graph.dtype.type(1.0 / np.sqrt(d))))], prefix)  # fmt: skip
    if layer.causal:
        lowest = graph.constant(f"{prefix}/lowest", np.array(np.finfo(graph.dtype).min))
        S = graph.node("Where", [graph.booleans(f"{prefix}/causal_mask", causal_mask(T)), S, lowest], prefix)
    Z = graph.node("MatMul", [graph.node("Softmax", [S], prefix, axis=-1), V], prefix)
    merged = graph.node("Reshape", [graph.node("Transpose", [Z], prefix, perm=[0, 2, 1, 3]),
                                    graph.integers(f"{prefix}/merge_heads", [0, T, E])], prefix)  # fmt: skip
    return graph.node("Add", [graph.node("MatMul", [merged, W_o], prefix), b_o], prefix)


#: For each recurrent layer, ONNX's gate blocks as refnet's block indices: LSTM [i, f, g, o] -> ONNX's [i, o, f, c],
#: GRU [r, z, n] -> ONNX's [z, r, h]. The importer reads them back with the inverse permutation.
GATE_ORDER: dict[type[Recurrent], tuple[int, ...]] = {RNN: (0,), LSTM: (0, 3, 1, 2), GRU: (1, 0, 2)}


def onnx_gates(layer: Recurrent, M: Array) -> Array:
    """M's gate blocks of H columns (the last axis) in ONNX's order.  Shapes (..., kH) -> (..., kH)."""
    H = layer.hidden_size
    return np.concatenate([M[..., k * H : (k + 1) * H] for k in GATE_ORDER[type(layer)]], axis=-1)


def export_recurrent(graph: OnnxGraph, layer: Recurrent, inputs: list[str], prefix: str) -> str:
    """ONNX's RNN/LSTM/GRU on the time-major x, with W = W_xᵀ (1, kH, D), R = W_hᵀ (1, kH, H) in ONNX's gate order,
    B = [Wb | Rb] (1, 2kH): [b | 0] (RNN, LSTM, whose b is PyTorch's b_ih + b_hh), [b_x | b_h] (GRU).

    The file starts every sequence from h_0 = 0 (and c_0 = 0): a layer holding an initial state (set, or
    carried by stateful=True) is refused; a stateful layer without one exports what it computes after reset_state.
    """
    if layer.initial_state is not None:
        raise ValueError(
            f"refnet.onnx.export: {prefix} is a {type(layer).__name__} holding an initial state (set_initial_state, or "
            "carried by stateful=True) for a batch of fixed size; the file starts every sequence from zeros: call "
            "reset_state() first"
        )
    params = layer.params
    W = onnx_gates(layer, params["W_x"]).T[np.newaxis]
    R = onnx_gates(layer, params["W_h"]).T[np.newaxis]
    if isinstance(layer, GRU):
        Wb, Rb = onnx_gates(layer, params["b_x"]), onnx_gates(layer, params["b_h"])
    else:
        Wb = onnx_gates(layer, params["b"])
        Rb = np.zeros_like(Wb)
    weights = [graph.constant(f"{prefix}/{name}", value) for name, value in (("W", W), ("R", R))]
    weights.append(graph.constant(f"{prefix}/B", np.concatenate([Wb, Rb])[np.newaxis]))
    settings: dict[str, Any] = {"hidden_size": layer.hidden_size}
    if isinstance(layer, GRU):
        settings["linear_before_reset"] = 1  # r multiplies (h @ R_h + Rb_h), bias included: PyTorch's GRU
    x_time_major = graph.node("Transpose", inputs, prefix, perm=[1, 0, 2])  # (T, N, D)
    op_type = type(layer).__name__
    if layer.return_sequences:  # Y: (T, 1, N, H), every h_t
        Y = graph.node_output(op_type, [x_time_major, *weights], prefix, 0, 1, **settings)
        h = graph.node("Squeeze", [Y, graph.integers(f"{prefix}/axes", [1])], prefix)
        return graph.node("Transpose", [h], prefix, perm=[1, 0, 2])
    Y_h = graph.node_output(op_type, [x_time_major, *weights], prefix, 1, 2, **settings)  # (1, N, H): h_T
    return graph.node("Squeeze", [Y_h, graph.integers(f"{prefix}/axes", [0])], prefix)


#: Layer class -> its export. Looked up by exact class: a subclass may compute something else.
EXPORTERS: dict[type[Layer], ExportFunction] = {
    Dense: export_dense,
    Embedding: export_embedding,
    Identity: elementwise("Identity"),
    ReLU: elementwise("Relu"),
    Sigmoid: elementwise("Sigmoid"),
    Tanh: elementwise("Tanh"),
    Softmax: export_softmax,
    LeakyReLU: export_leaky_relu,
    ELU: export_elu,
    SELU: export_selu,
    Softplus: elementwise("Softplus"),
    Dropout: export_dropout,
    BatchNorm: export_batchnorm,
    Add: chain("Add"),
    Multiply: chain("Mul"),
    Concatenate: export_concatenate,
    Conv2D: export_conv2d,
    MaxPool2D: pool("MaxPool"),
    AvgPool2D: pool("AveragePool", count_include_pad=0),
    Flatten: export_flatten,
    BatchNorm2D: export_batchnorm,
    LayerNorm: export_layernorm,
    GELU: export_gelu,
    SiLU: export_silu,
    PositionalEmbedding: export_positional,
    MultiHeadAttention: export_attention,
    RNN: export_recurrent,
    LSTM: export_recurrent,
    GRU: export_recurrent,
}


def exporter_for(layer: Layer, where: str) -> ExportFunction:
    """EXPORTERS' entry for ``layer``'s class; TypeError naming the layer when there is none."""
    function = EXPORTERS.get(type(layer))
    if function is None:
        known = ", ".join(sorted(cls.__name__ for cls in EXPORTERS))
        raise TypeError(
            f"refnet.onnx.export: {where} is a {type(layer).__name__}, which has no ONNX export; "
            f"the layers that export are {known}"
        )
    return function


def export(
    model: NeuralNetwork,
    path: str | os.PathLike[str],
    opset: int | None = None,
    *,
    proba: bool = False,
    input_shape: int | Sequence[int] | None = None,
) -> Any:
    """Write ``model`` as an ONNX file at ``path``; returns the ``onnx.ModelProto`` written.

    The graph has one input ``X`` of shape (N, *input_shape) and one output ``Y``: what
    ``predict(X)`` returns, or with ``proba=True`` what ``predict_proba(X)`` returns (Softmax
    appended for CrossEntropy, Sigmoid for BinaryCrossEntropy(from_logits=True)). In the model's
    dtype (float32 or float64). ``input_shape`` (per sample, without N) defaults to the model's
    own (``input_shape=`` of a NeuralNetwork, a graph's Input), else (in_features,).
    ``opset`` defaults to DEFAULT_OPSET; 13 to onnx's newest are written. The file is written
    to a temporary name beside ``path`` and renamed: a failed export leaves what was there.
    """
    onnx = require_onnx()
    if not isinstance(model, NeuralNetwork):
        raise TypeError(f"refnet.onnx.export takes a NeuralNetwork or GraphModel, got {type(model).__name__}")
    if not model.layers:
        raise ValueError("refnet.onnx.export: the network has no layers")
    opset = _resolve_opset(onnx, opset)
    graph = OnnxGraph(onnx, model.dtype, opset)
    graph.shapes["X"] = _input_shape(model, input_shape)
    output = _export_graph(graph, model) if isinstance(model, GraphModel) else _export_stack(graph, model)
    graph.shapes["Y"] = graph.shapes[output]
    if proba:
        probability = _probability_op(model)
        if probability is not None:
            output = graph.node(probability, [output], "proba", **({"axis": -1} if probability == "Softmax" else {}))
    graph.rename_output(output, "Y")
    onnx_model = _model(onnx, graph, model, opset)
    onnx.checker.check_model(onnx_model, full_check=True)
    _write_atomically(Path(path), onnx_model.SerializeToString())
    return onnx_model


def _export_stack(graph: OnnxGraph, model: NeuralNetwork) -> str:
    x = "X"
    for index, layer in enumerate(model.layers):
        prefix = f"layer{index}_{type(layer).__name__.lower()}"
        shape = layer.output_shape(graph.shapes[x])
        x = exporter_for(layer, f"layer {index}")(graph, layer, [x], prefix)
        graph.shapes[x] = shape
    return x


def _export_graph(graph: OnnxGraph, model: GraphModel) -> str:
    tensors: dict[int, str] = {id(model.input_node): "X"}
    for node in model.nodes:
        if node.layer is None:
            continue
        inputs = [tensors[id(source)] for source in node.inputs]
        shapes = [graph.shapes[name] for name in inputs]
        layer, prefix = node.layer, str(node.name)
        shape = layer.merged_shape(shapes) if layer.multiple_inputs else layer.output_shape(shapes[0])
        tensors[id(node)] = exporter_for(layer, f"node {prefix!r}")(graph, layer, inputs, prefix)
        graph.shapes[tensors[id(node)]] = shape
    return tensors[id(model.output_node)]


def _takes_ids(model: NeuralNetwork) -> bool:
    """True when X holds integer ids: the layer that reads X is an Embedding (``takes_ids``)."""
    if isinstance(model, GraphModel):
        return any(getattr(node.layer, "takes_ids", False) for node in model.input_node.consumers)
    return bool(getattr(model.layers[0], "takes_ids", False))


def _input_shape(model: NeuralNetwork, input_shape: int | Sequence[int] | None) -> tuple[int, ...]:
    """The per-sample shape of X: the one given, the model's own, or (in_features,)."""
    if input_shape is not None:
        return sample_shape(input_shape, "input_shape")
    if isinstance(model, GraphModel):
        return model.input_node.shape
    if model.input_shape is not None:
        return model.input_shape
    if model.in_features is None:
        raise ValueError("refnet.onnx.export: the network does not fix the shape of X; pass input_shape=")
    return (model.in_features,)


def _probability_op(model: NeuralNetwork) -> str | None:
    """The operator turning the outputs into ``predict_proba``'s probabilities (None: they are already)."""
    loss = model.loss
    if isinstance(loss, CrossEntropy):
        return "Softmax"
    if isinstance(loss, BinaryCrossEntropy):
        return "Sigmoid" if loss.from_logits else None
    what = "no loss" if loss is None else f"the loss {type(loss).__name__}"
    raise TypeError(
        f"refnet.onnx.export(proba=True) needs a classification loss (CrossEntropy or BinaryCrossEntropy); "
        f"the model has {what}"
    )


def _resolve_opset(onnx: Any, opset: int | None) -> int:
    if opset is None:
        return DEFAULT_OPSET
    if type(opset) is not int:
        raise TypeError(f"opset must be an int, got {type(opset).__name__}")
    newest = int(onnx.defs.onnx_opset_version())
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must be between {MIN_OPSET} and {newest} (this onnx's newest), got {opset}")
    return opset


def _model(onnx: Any, graph: OnnxGraph, model: NeuralNetwork, opset: int) -> Any:
    helper = onnx.helper
    element = helper.np_dtype_to_tensor_dtype(graph.dtype)
    ids = helper.np_dtype_to_tensor_dtype(np.dtype(np.int64))
    inputs = [helper.make_tensor_value_info("X", ids if _takes_ids(model) else element, ["N", *graph.shapes["X"]])]
    outputs = [helper.make_tensor_value_info("Y", element, ["N", *graph.shapes["Y"]])]
    onnx_graph = helper.make_graph(graph.nodes, "refnet", inputs, outputs, initializer=graph.initializers)
    opsets = [helper.make_opsetid("", opset)]
    return helper.make_model(
        onnx_graph,
        opset_imports=opsets,
        ir_version=helper.find_min_ir_version_for(opsets),
        producer_name="refnet",
        doc_string=f"{type(model).__name__} exported by refnet",
    )


def _write_atomically(path: Path, data: bytes) -> None:
    """``data`` into a temporary file beside ``path``, fsynced, then renamed over it."""
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot export to {path}: the folder {path.parent} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"cannot export to {path}: it is a folder; give a file name such as model.onnx")
    temporary = path.parent / f".refnet-onnx-{secrets.token_hex(8)}.tmp"
    try:
        with open(temporary, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
