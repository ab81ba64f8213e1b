"""Import an ONNX model into refnet, one table entry per ONNX operator.

``load(path)`` reads at most ``max_bytes``, refuses what refnet cannot represent, and turns the
graph's nodes into layers with ``IMPORTERS[op_type]``:

    Gemm(x, B, C)                  Dense: W = alpha·B (transB = 0) or alpha·Bᵀ (transB = 1, the layout
                                   of PyTorch and skl2onnx), b = beta·C (zeros without C)
    MatMul(x, B) [+ Add(·, C)]     Dense: W = B, b = C (zeros without the Add): the pattern of Keras/TensorFlow
    Relu, Sigmoid, Tanh, Softmax(last axis), LeakyRelu(alpha), Max(x, Mul(x, alpha)), Elu, Selu, Softplus
                                   the activation, folded into the Dense it follows (else its own layer)
    BatchNormalization             BatchNorm (of rows (N, D)) or BatchNorm2D (of images (N, C, H, W)) with the
                                   running statistics, eps = epsilon, momentum = 1 − momentum
    Conv                           Conv2D: 2-D, one group, no dilation, the same padding on both sides;
                                   the activation that alone follows it folded in
    MaxPool, AveragePool           MaxPool2D, AvgPool2D: no padding, ceil_mode = 0, no dilation
    Flatten(axis=1) of (N, C, H, W)  Flatten
    LayerNormalization(axis=-1)    LayerNorm(eps = epsilon) holding the scale and the bias
    the chains of GELU and SiLU    GELU (exact or tanh) and SiLU, as refnet.onnx.export writes them (GELU_CHAINS)
    Gelu (opset 20)                GELU(approximate)
    Add(x, Gather(P, [0 … T−1]))   PositionalEmbedding(max_length = P's rows) holding P
    the attention subgraph         MultiHeadAttention (causal when a Where applies the lower-triangle mask), as
                                   refnet.onnx.export writes it (refnet.onnx.import_attention)
    Transpose(perm=[1, 0, 2]) -> RNN / LSTM / GRU -> Squeeze -> Transpose (Y), or -> Squeeze (Y_h)
                                   RNN, LSTM, GRU (return_sequences True, or False for Y_h): the batch-first
                                   sequence made time-major around the operator, as refnet.onnx.export and
                                   torch.onnx.export write it; forward, default activations, no initial state,
                                   GRU with linear_before_reset = 1 (PyTorch's); the gates back in refnet's order
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
    LeakyReLU,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from refnet.layer import Dense
from refnet.layernorm import LayerNorm
from refnet.merge import Add, Concatenate, Multiply
from refnet.network import NeuralNetwork
from refnet.onnx.exporter import GATE_ORDER, GELU_CHAINS, SILU_CHAIN, Chain
from refnet.onnx.import_attention import attention_at, positional_at
from refnet.onnx.reader import DTYPES, MAX_BYTES, OnnxReader, decimal_float, read_model
from refnet.onnx.requirement import require_onnx
from refnet.pooling import AvgPool2D, Flatten, MaxPool2D
from refnet.recurrent import GRU, LSTM, RNN, Recurrent

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
    for make, chain in CHAINS:
        found = chain_at(reader, index, node, chain)
        if found is not None:
            return make(), *found
    if op == "Gelu":
        approximate = reader.attributes(node, {"approximate": b"none"})["approximate"]
        return GELU(approximate.decode() if isinstance(approximate, bytes) else approximate), [index], output
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


def chain_at(reader: OnnxReader, index: int, node: Any, chain: Chain) -> tuple[list[int], str] | None:
    """(the nodes, the output) of ``chain`` (refnet.onnx.exporter's GELU_CHAINS, SILU_CHAIN) starting at node, or None.

    Each step reads the previous step's output (the first: x) and its operand: x, or a scalar constant equal to
    the number in the model's dtype, or nothing; every output but the last is read by the next step alone.
    """
    inputs = [name for name in node.input if not reader.is_constant(name)]
    if not inputs:
        return None
    x, previous, spanned = inputs[0], inputs[0], []
    step_index, step = index, node
    for position, (op_type, operand) in enumerate(chain):
        if step.op_type != op_type or list(step.attribute):
            return None
        others = list(step.input)
        if previous not in others:
            return None
        others.remove(previous)
        if operand is None:
            matches = not others
        elif operand == "x":
            matches = others == [x]
        else:
            matches = (
                len(others) == 1
                and reader.is_constant(others[0])
                and reader.constant(others[0]).size == 1
                and reader.constant(others[0]).reshape(()) == reader.dtype.type(operand)
            )
        if not matches:
            return None
        spanned.append(step_index)
        previous = str(step.output[0])
        if position + 1 < len(chain):
            following = reader.sole_consumer(previous)
            if following is None:
                return None
            step_index, step = following
    return spanned, previous


#: The activations refnet.onnx.export writes as chains of elementary operators, tried before one-node activations.
CHAINS: list[tuple[Callable[[], Activation], Chain]] = [
    (lambda: GELU("none"), GELU_CHAINS["none"]),
    (lambda: GELU("tanh"), GELU_CHAINS["tanh"]),
    (SiLU, SILU_CHAIN),
]

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
        if found is not None and set(readers) <= set(found[1]):
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
    """x @ B, with the Add of a constant bias that alone follows it, as Dense; or the start of attention."""
    reader.attributes(node, {})
    attention = attention_at(reader, index, node)
    if attention is not None:
        layer, y, spanned = attention
        reader.absorbed.update(spanned)
        reader.add(layer, [node.input[0]], y, node)
        return
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
    rank = reader.rank(node.input[0])
    if rank not in (2, 4):
        raise ValueError(
            "BatchNormalization of a value that is neither rows (N, D) nor images (N, C, H, W): refnet's BatchNorm "
            "takes rows, its BatchNorm2D images"
        )
    gamma, beta, mean, var = (reader.constant(name) for name in node.input[1:5])
    momentum = float(1 - decimal_float(settings["momentum"]))
    kind = BatchNorm if rank == 2 else BatchNorm2D
    layer = kind(gamma.size, eps=float(decimal_float(settings["epsilon"])), momentum=momentum, dtype=reader.dtype)
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
    """Gather(W, ids, axis=0) of the model's integer input: Embedding(V, E) holding W (PyTorch's nn.Embedding);
    Gather(P, [0 … T−1]) added to x: PositionalEmbedding holding P."""
    if reader.attributes(node, {"axis": 0})["axis"] != 0:
        raise ValueError("only Gather along axis 0 (rows of a table) is an Embedding")
    positional = positional_at(reader, index, node)
    if positional is not None:
        table, x, y, add = positional
        reader.absorbed.add(add)
        reader.add(table, [x], y, node)
        return
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
    """Flatten(axis = 1) of (N, D) is (N, D): no layer; of (N, d1, d2, ...) a Flatten layer."""
    if reader.attributes(node, {"axis": 1})["axis"] != 1:
        raise ValueError("only Flatten(axis=1) keeps the batch axis")
    if reader.rank(node.input[0]) == 2:
        reader.aliases[str(node.output[0])] = reader.value(node.input[0])
    else:
        reader.add(Flatten(), [node.input[0]], str(node.output[0]), node)


def window_settings(reader: OnnxReader, node: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    """The attributes of a Conv or a pool over 2-D images (``pads`` as [ph, pw]), refusing what refnet's layers
    do not do: auto_pad, dilation, different padding on the two sides of an axis."""
    settings = reader.attributes(
        node,
        {"auto_pad": b"NOTSET", "kernel_shape": [], "strides": [1, 1], "pads": [0, 0, 0, 0], "dilations": [1, 1],
         **defaults},
    )  # fmt: skip
    if reader.rank(node.input[0]) != 4:
        raise ValueError(f"{node.op_type} of a value that is not images (N, C, H, W): refnet's layers are 2-D")
    if settings["auto_pad"] not in (b"NOTSET", "NOTSET"):
        raise ValueError(f"auto_pad = {settings['auto_pad']!r}: refnet reads explicit pads only")
    if list(settings["dilations"]) != [1, 1]:
        raise ValueError(f"dilations {list(settings['dilations'])}: refnet's layers have no dilation")
    pads = list(settings["pads"])
    if pads[:2] != pads[2:]:
        raise ValueError(f"pads {pads}: refnet pads both sides of an axis alike (pads = [ph, pw, ph, pw])")
    return {**settings, "pads": pads[:2], "kernel_shape": list(settings["kernel_shape"]),
            "strides": list(settings["strides"])}  # fmt: skip


def import_conv(reader: OnnxReader, index: int, node: Any) -> None:
    """Conv(x, W, b) of images, one group: Conv2D holding W (O, C, kh, kw) and b, the activation after it folded in."""
    settings = window_settings(reader, node, {"group": 1})
    if settings["group"] != 1:
        raise ValueError("group > 1 (a grouped or depthwise convolution) is not a refnet Conv2D")
    W = reader.constant(node.input[1])
    if W.ndim != 4 or (settings["kernel_shape"] and settings["kernel_shape"] != list(W.shape[2:])):
        raise ValueError(f"weights {node.input[1]!r} must be (O, C, kh, kw) matching kernel_shape, got {W.shape}")
    b = bias(reader, node.input[2] if len(node.input) > 2 else None, W.shape[0])

    def conv(activation: Activation | None) -> Conv2D:
        O, C, kh, kw = W.shape
        stride, padding = tuple(settings["strides"]), tuple(settings["pads"])
        layer = Conv2D(C, O, (kh, kw), stride, padding, activation, seed=0, dtype=reader.dtype)
        np.copyto(layer.params["W"], W)
        np.copyto(layer.params["b"], b)
        return layer

    add_with_activation(reader, node, conv, node.input[0], str(node.output[0]))


def pool(layer: type[MaxPool2D | AvgPool2D], defaults: dict[str, Any]) -> ImportFunction:
    """The import of MaxPool or AveragePool as ``layer``: no padding, windows that overhang dropped (ceil_mode 0)."""

    def import_pool(reader: OnnxReader, index: int, node: Any) -> None:
        settings = window_settings(reader, node, {"ceil_mode": 0, **defaults})
        if settings["pads"] != [0, 0]:
            raise ValueError(f"pads {settings['pads']}: refnet's pools do not pad")
        if settings["ceil_mode"]:
            raise ValueError("ceil_mode = 1: refnet's pools drop the windows that overhang")
        if settings.get("storage_order", 0):
            raise ValueError("storage_order = 1 (column-major indices) is not read")
        if len(node.output) > 1 and reader.consumers.get(node.output[1]):
            raise ValueError("the indices of the maxima are read by another node")
        kernel, stride = tuple(settings["kernel_shape"]), tuple(settings["strides"])
        reader.add(layer(kernel, stride), [node.input[0]], str(node.output[0]), node)

    return import_pool


RECURRENT: dict[str, type[Recurrent]] = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}
#: Each recurrent operator's default activations (what refnet's layers compute).
DEFAULT_ACTIVATIONS = {"RNN": ["Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}


def squeezed_axes(reader: OnnxReader, node: Any) -> list[int]:
    """The axes a Squeeze removes: its second input (opset 13 on) or its ``axes`` attribute."""
    settings = reader.attributes(node, {"axes": None})
    if len(node.input) > 1 and node.input[1]:
        return [int(axis) for axis in reader.constant(node.input[1]).reshape(-1)]
    return [] if settings["axes"] is None else [int(axis) for axis in settings["axes"]]


def import_transpose(reader: OnnxReader, index: int, node: Any) -> None:
    """Transpose(perm=[1, 0, 2]) of (N, T, D) into RNN/LSTM/GRU, and what turns its output back: a recurrent layer."""
    perm = list(reader.attributes(node, {"perm": None})["perm"] or [])
    following = reader.sole_consumer(str(node.output[0]))
    if perm != [1, 0, 2] or reader.rank(node.input[0]) != 3 or following is None:
        raise ValueError(
            f"Transpose(perm={perm}): refnet reads a Transpose only as the (N, T, D) -> (T, N, D) before a recurrent "
            "operator (perm [1, 0, 2])"
        )
    position, recurrent = following
    if recurrent.op_type not in RECURRENT or list(recurrent.input[:1]) != [node.output[0]]:
        raise ValueError("refnet reads Transpose(perm=[1, 0, 2]) only as the input of an RNN, LSTM or GRU")
    layer, output, spanned = recurrent_layer(reader, recurrent)
    reader.absorbed.update([position, *spanned])
    reader.add(layer, [node.input[0]], output, node)


def recurrent_layer(reader: OnnxReader, node: Any) -> tuple[Recurrent, str, list[int]]:
    """The refnet layer of an RNN/LSTM/GRU node reading the time-major sequence, its output and the nodes after it."""
    op = node.op_type
    settings = reader.attributes(
        node,
        {"hidden_size": 0, "direction": b"forward", "activations": None, "linear_before_reset": 0, "layout": 0,
         "clip": None, "input_forget": 0, "activation_alpha": None, "activation_beta": None},
    )  # fmt: skip
    where = f"{op} as a refnet {op}"
    if settings["direction"] not in (b"forward", "forward") or settings["layout"] or settings["input_forget"]:
        raise ValueError(f"{where}: only direction = forward, layout = 0 and input_forget = 0 are read")
    if settings["clip"] is not None or settings["activation_alpha"] or settings["activation_beta"]:
        raise ValueError(f"{where}: clip and activation parameters are not read")
    activations = [a.decode() if isinstance(a, bytes) else a for a in settings["activations"] or []]
    if activations and activations != DEFAULT_ACTIVATIONS[op]:
        raise ValueError(f"{where}: activations {activations}, refnet's are {DEFAULT_ACTIVATIONS[op]}")
    if op == "GRU" and not settings["linear_before_reset"]:
        raise ValueError("GRU with linear_before_reset = 0: refnet's GRU is PyTorch's, linear_before_reset = 1")
    inputs = [*node.input, *[""] * 8]
    if any(inputs[4:6]) or any(inputs[7:8]):
        raise ValueError(f"{where}: sequence_lens, an initial state and peepholes are not read (h_0 = 0)")
    W, R = reader.constant(inputs[1]), reader.constant(inputs[2])
    H = int(settings["hidden_size"]) or R.shape[-1]
    kind = RECURRENT[op]
    k = kind.blocks
    if W.ndim != 3 or W.shape[:2] != (1, k * H) or R.shape != (1, k * H, H):
        raise ValueError(f"{where}: W must be (1, {k * H}, D) and R (1, {k * H}, {H}), got {W.shape} and {R.shape}")
    B = reader.constant(inputs[3]) if inputs[3] else np.zeros((1, 2 * k * H), dtype=reader.dtype)
    if B.shape != (1, 2 * k * H):
        raise ValueError(f"{where}: B must be (1, {2 * k * H}), got {B.shape}")
    return_sequences, output, spanned = recurrent_output(reader, node)
    layer = kind(W.shape[2], H, return_sequences, seed=0, dtype=reader.dtype)
    order = np.argsort(GATE_ORDER[kind])  # refnet's block j is ONNX's block order[j]

    def refnet_gates(M: Array) -> Array:
        return np.concatenate([M[..., j * H : (j + 1) * H] for j in order], axis=-1)

    np.copyto(layer.params["W_x"], refnet_gates(W[0].T))
    np.copyto(layer.params["W_h"], refnet_gates(R[0].T))
    Wb, Rb = B[0, : k * H], B[0, k * H :]
    if kind is GRU:
        np.copyto(layer.params["b_x"], refnet_gates(Wb))
        np.copyto(layer.params["b_h"], refnet_gates(Rb))
    else:
        np.copyto(layer.params["b"], refnet_gates(Wb + Rb))
    return layer, output, spanned


def recurrent_output(reader: OnnxReader, node: Any) -> tuple[bool, str, list[int]]:
    """(return_sequences, the output, the nodes spanned): Y -> Squeeze(axis 1) -> Transpose(perm [1, 0, 2]) is every
    h_t as (N, T, H); Y_h -> Squeeze(axis 0) is h_T as (N, H)."""
    outputs = [*node.output, "", ""]
    used = [bool(name) and (name == reader.output or bool(reader.consumers.get(name))) for name in outputs[:3]]
    if used[2:] and used[2]:
        raise ValueError(f"{node.op_type}'s Y_c is read by another node: refnet's LSTM outputs h only")
    if used[0] == used[1]:
        raise ValueError(f"refnet reads either Y (every h_t) or Y_h (the last) of {node.op_type}, not both or neither")
    squeeze = reader.sole_consumer(outputs[0] if used[0] else outputs[1])
    if (
        squeeze is None
        or squeeze[1].op_type != "Squeeze"
        or squeezed_axes(reader, squeeze[1]) != ([1] if used[0] else [0])
    ):
        raise ValueError(f"{node.op_type}'s output must be read by a Squeeze of its direction axis alone")
    if used[1]:
        return False, str(squeeze[1].output[0]), [squeeze[0]]
    transpose = reader.sole_consumer(str(squeeze[1].output[0]))
    if (
        transpose is None
        or transpose[1].op_type != "Transpose"
        or list(reader.attributes(transpose[1], {"perm": None})["perm"] or []) != [1, 0, 2]
    ):
        raise ValueError(f"{node.op_type}'s sequence (T, N, H) must be turned back by Transpose(perm=[1, 0, 2])")
    return True, str(transpose[1].output[0]), [squeeze[0], transpose[0]]


def import_time_major(reader: OnnxReader, index: int, node: Any) -> None:
    """An RNN/LSTM/GRU not after Transpose(perm=[1, 0, 2]): it reads (T, N, D), which is not refnet's layout."""
    raise ValueError(
        f"{node.op_type} reads time-major sequences (T, N, D); refnet reads it after a Transpose(perm=[1, 0, 2]) of "
        "a batch-first (N, T, D) input"
    )


def import_layernorm(reader: OnnxReader, index: int, node: Any) -> None:
    """LayerNormalization(x, scale, B) over the last axis: LayerNorm(eps = epsilon) holding gamma = scale, beta = B."""
    settings = reader.attributes(node, {"axis": -1, "epsilon": 1e-5, "stash_type": 1})
    rank = reader.rank(node.input[0])
    if settings["axis"] not in (-1, rank - 1):
        raise ValueError(f"LayerNormalization over the axes from {settings['axis']} on: refnet's normalizes the last")
    if len(node.output) > 1 and any(reader.consumers.get(name) for name in node.output[1:]):
        raise ValueError("the mean or the inverse standard deviation is read by another node")
    gamma = reader.constant(node.input[1])
    width = reader.shapes[reader.value(node.input[0])][-1]
    layer = LayerNorm(width, eps=float(decimal_float(settings["epsilon"])), dtype=reader.dtype)
    np.copyto(layer.params["gamma"], np.broadcast_to(gamma.reshape(-1), (width,)))
    np.copyto(layer.params["beta"], bias(reader, node.input[2] if len(node.input) > 2 else None, width))
    reader.add(layer, [node.input[0]], str(node.output[0]), node)


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
    if any(reader.is_constant(name) for name in node.input) or activation_at(reader, index, node) is not None:
        import_activation(reader, index, node)  # max(x, alpha·x), or the Mul(x, x) that starts GELU's tanh form
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
    "Conv": import_conv,
    "MaxPool": pool(MaxPool2D, {"storage_order": 0}),
    "AveragePool": pool(AvgPool2D, {"count_include_pad": 0}),
    "LayerNormalization": import_layernorm,
    "Gelu": import_activation,
    "Transpose": import_transpose,
    "RNN": import_time_major,
    "LSTM": import_time_major,
    "GRU": import_time_major,
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
