"""Conv2D: a 2-D convolution over images of shape (N, C, H, W), cross-correlation as in PyTorch.

Forward, for x of shape (N, C, H, W), W of shape (O, C, kh, kw), b of shape (O,):
    x_pad = x with ph rows and pw columns of zeros on each side     (N, C, H + 2·ph, W + 2·pw)
    z[n,o,i,j] = b[o] + Σ_{c,p,q} W[o,c,p,q] · x_pad[n, c, i·sh + p, j·sw + q]          (N, O, H_out, W_out)
    y = act(z)
    H_out = ⌊(H + 2·ph − kh)/sh⌋ + 1,  W_out = ⌊(W + 2·pw − kw)/sw⌋ + 1

The sum over (c, p, q) is one matrix product once every patch is laid out as a column (im2col):
    cols[(c,p,q), (n,i,j)] = x_pad[n, c, i·sh + p, j·sw + q]      (K, M),  K = C·kh·kw,  M = N·H_out·W_out
    z_cols = W_mat @ cols + b                                     (O, M),  W_mat = W.reshape(O, K)
so a convolution is a Dense layer applied to every patch, and its backward is Dense's:

Backward, given grad_y = dL/dy of shape (N, O, H_out, W_out), grad_z = grad_y·act'(z):
    db[o]       = Σ_{n,i,j} grad_z[n,o,i,j]                                       (O,)
    dW[o,c,p,q] = Σ_{n,i,j} grad_z[n,o,i,j] · x_pad[n,c,i·sh+p,j·sw+q]            (O, C, kh, kw)
                  dW_mat = grad_z_cols @ cols.T   (+ l1·sign(W) + l2·W)
    grad_x_pad[n,c,i·sh+p,j·sw+q] += Σ_o grad_z[n,o,i,j] · W[o,c,p,q]   for every (i, j) and (p, q)
                  grad_cols = W_mat.T @ grad_z_cols, then col2im adds each patch's column back
                  where the patch was read from: the transpose of im2col
    grad_x = grad_x_pad without its padding                                       (N, C, H, W)

``im2col`` and ``col2im`` are the machinery the pooling layers share (``refnet.pooling``).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from refnet.base import Array, Layer, Shape
from refnet.errors import ShapeError
from refnet.functions import ACTIVATIONS, Activation, activation_from_config, get_activation
from refnet.regularizers import ElasticNet
from refnet.support.buffers import Buffers
from refnet.support.checks import as_array, cast_finite, check_dtype, check_finite, check_int, make_rng

__all__ = ["Conv2D", "col2im", "im2col", "output_size"]

Pair = tuple[int, int]

# -- the machinery: im2col (every window, one column each) and its transpose col2im ------------


def im2col(x: Array, kernel: Pair, stride: Pair) -> Array:
    """cols[c,p,q,n,i,j] = x[n, c, i·sh + p, j·sw + q]: the windows of x, one copy per kernel offset (p, q).

    Shapes: x (N, C, H, W) -> cols (C, kh, kw, N, H_out, W_out), H_out = ⌊(H − kh)/sh⌋ + 1;
    ``cols.reshape(C·kh·kw, N·H_out·W_out)`` has one window per column.
    """
    N, C, H, W = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    H_out, W_out = output_size(H, kh, sh), output_size(W, kw, sw)
    cols = np.empty((C, kh, kw, N, H_out, W_out), dtype=x.dtype)
    for p in range(kh):
        for q in range(kw):
            cols[:, p, q] = x[:, :, p : p + sh * H_out : sh, q : q + sw * W_out : sw].transpose(1, 0, 2, 3)
    return cols


def col2im(cols: Array, shape: Shape, stride: Pair) -> Array:
    """The transpose of ``im2col``: grad_x[n, c, i·sh + p, j·sw + q] += cols[c,p,q,n,i,j].

    Each element of x receives the sum over every window it belongs to (windows overlap when
    the stride is smaller than the kernel). Shapes: cols (C, kh, kw, N, H_out, W_out) -> ``shape`` (N, C, H, W),
    summed channel-first (the layout of cols, so every addition runs along memory) and returned as a view.
    """
    _, kh, kw, _, H_out, W_out = cols.shape
    N, C, H, W = shape
    sh, sw = stride
    grad_x = np.zeros((C, N, H, W), dtype=cols.dtype)
    for p in range(kh):
        for q in range(kw):
            grad_x[:, :, p : p + sh * H_out : sh, q : q + sw * W_out : sw] += cols[:, p, q]
    return grad_x.transpose(1, 0, 2, 3)


def output_size(size: int, kernel: int, stride: int, padding: int = 0) -> int:
    """⌊(size + 2·padding − kernel)/stride⌋ + 1: how many windows fit along one axis."""
    return (size + 2 * padding - kernel) // stride + 1


# -- validation at the boundary ---------------------------------------------------------------


def as_pair(value: Any, name: str, *, minimum: int = 1) -> Pair:
    """An int or a pair of ints (each >= ``minimum``) as a pair (height, width); else a clear error."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (height, width), got {value!r}")
        return check_int(value[0], f"{name}[0]", minimum=minimum), check_int(value[1], f"{name}[1]", minimum=minimum)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int or a pair of ints (height, width), got {type(value).__name__}")
    number = check_int(value, name, minimum=minimum)
    return number, number


def check_image_shape(layer: object, shape: Shape, channels: int | None = None) -> None:
    """Refuse a per-sample shape (without N) that is not (C, H, W), or (channels, H, W) when given."""
    got = f"(N, {', '.join(map(str, shape))})"
    if len(shape) != 3:
        wanted = "(N, C, H, W)" + (f" = (N, {channels}, H, W)" if channels is not None else "")
        hint = f"; flat rows of pixels are images once reshaped: X.reshape(N, {channels or 'C'}, H, W)"
        raise ShapeError(f"{layer!r} takes images of shape {wanted}, got {got}" + (hint if len(shape) == 1 else ""))
    if channels is not None and shape[0] != channels:
        raise ShapeError(f"{layer!r} expects {channels} channels (axis 1), got inputs of shape {got}")


def check_fits(layer: object, size: Pair, kernel: Pair, padding: Pair = (0, 0)) -> None:
    """Refuse an input smaller than the kernel (after padding): no window fits, the output would be empty."""
    padded = (size[0] + 2 * padding[0], size[1] + 2 * padding[1])
    if padded[0] < kernel[0] or padded[1] < kernel[1]:
        what = "padded input" if any(padding) else "input"
        raise ShapeError(
            f"{type(layer).__name__}: the kernel {kernel[0]}x{kernel[1]} is larger than the {what} "
            f"{padded[0]}x{padded[1]} (height x width): the output would have size 0"
        )


# -- the layer --------------------------------------------------------------------------------


class Conv2D(Layer):
    """z = W ⋆ x + b (cross-correlation over (c, p, q)), y = act(z), with optional L1/L2 penalties on W.

    Args:
        in_channels, out_channels: C and O.
        kernel_size: kh, kw (an int or a pair).
        stride: sh, sw (an int or a pair, default 1).
        padding: ph, pw zeros added on each side (an int or a pair, default 0).
        activation: a name (``'relu'``, ``'tanh'``, ...), an activation object, or None (identity).
        l1_lambda, l2_lambda: penalty ``l1·Σ|W| + (l2/2)·ΣW²`` on the weights only.
        weight_init: ``'auto'`` (He normal for the ReLU family, Glorot uniform otherwise),
            ``'he_normal'``, ``'glorot_uniform'`` (fan_in = C·kh·kw, fan_out = O·kh·kw), or a
            callable ``(shape, rng, dtype) -> W`` given the shape (O, C, kh, kw).
        rng, seed: where the initial weights come from (a Generator, or a seed for one).
        dtype: float64 (default) or float32; parameters, outputs and gradients keep it.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Pair,
        stride: int | Pair = 1,
        padding: int | Pair = 0,
        activation: str | Activation | None = None,
        l1_lambda: float = 0.0,
        l2_lambda: float = 0.0,
        *,
        weight_init: str | Any = "auto",
        rng: np.random.Generator | None = None,
        seed: int | None = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels")
        self.out_channels = check_int(out_channels, "out_channels")
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.stride = as_pair(stride, "stride")
        self.padding = as_pair(padding, "padding", minimum=0)
        self.activation = get_activation(activation)
        self.regularizer = ElasticNet(l1_lambda, l2_lambda)
        self.weight_init = self._check_init(weight_init)
        resolved = check_dtype(dtype)
        W = self._initial_weights(make_rng(rng, seed, "Conv2D"), resolved)
        self.params = {"W": W, "b": np.zeros(self.out_channels, dtype=resolved)}
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        self.remember_draw(rng, seed)  # a network seed redraws W if no rng or seed chose it (adopt_rng)
        self._x_pad: Array | None = None  # the last forward's x_pad (N, C, H + 2·ph, W + 2·pw); x without padding
        self._out: Array | None = None  # z if the activation differentiates at its input, else y
        self._buffers = Buffers()  # x_pad, reused from step to step (never returned)

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        """(O, C, kh, kw)."""
        return (self.out_channels, self.in_channels, *self.kernel_size)

    def output_features(self, in_features: int) -> int | None:
        """None: the output's width depends on the input's height and width, not on its last axis alone."""
        return None

    def output_shape(self, shape: Shape) -> Shape:
        """(C, H, W) -> (O, H_out, W_out), H_out = ⌊(H + 2·ph − kh)/sh⌋ + 1 (per sample, without N)."""
        check_image_shape(self, shape, self.in_channels)
        return self.image_shape(shape[1], shape[2])

    def image_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """The per-sample output shape (O, H_out, W_out) for input images of ``height`` x ``width``."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        check_fits(self, (height, width), self.kernel_size, self.padding)
        return self.out_channels, output_size(height, kh, sh, ph), output_size(width, kw, sw, pw)

    def forward(self, x: Array, training: bool = True) -> Array:
        """z[n,o,i,j] = b[o] + Σ_{c,p,q} W[o,c,p,q]·x_pad[n,c,i·sh+p,j·sw+q];  y = act(z).

        Shapes: x (N, C, H, W) -> x_pad (N, C, H + 2·ph, W + 2·pw) -> cols (K, M), K = C·kh·kw,
        M = N·H_out·W_out -> z_cols = W_mat @ cols + b (O, M) -> y (N, O, H_out, W_out). Caches x_pad.
        """
        W, b = self.params["W"], self.params["b"]
        N, C, H, W_in = x.shape
        O, (kh, kw), (sh, sw), (ph, pw) = self.out_channels, self.kernel_size, self.stride, self.padding
        H_out, W_out = output_size(H, kh, sh, ph), output_size(W_in, kw, sw, pw)
        K, M = C * kh * kw, N * H_out * W_out
        x_pad = self._buffers.padded("x_pad", x, ph, pw) if ph or pw else x
        cols = im2col(x_pad, self.kernel_size, self.stride).reshape(K, M)  # column (n, i, j), row (c, p, q)
        z_cols = W.reshape(O, K) @ cols  # Σ over k = (c, p, q): (O, M)
        z_cols += b[:, np.newaxis]
        z = z_cols.reshape(O, N, H_out, W_out).transpose(1, 0, 2, 3)  # (N, O, H_out, W_out), a view
        from_input = getattr(self.activation, "from_input", False)
        y = self.activation.function(z, out=None if from_input else z)
        self._x_pad = x_pad  # backward lays out cols again: x_pad is kh·kw times smaller
        self._out = z if from_input else y
        return y

    def backward(self, grad_y: Array) -> Array:
        """grad_z = grad_y·act'(z);  db = Σ_{n,i,j} grad_z;  dW_mat = grad_z_cols @ cols.T (+ penalty gradient);
        grad_cols = W_mat.T @ grad_z_cols;  grad_x = col2im(grad_cols) without the padding.

        Shapes: grad_y (N, O, H_out, W_out) -> grad_z_cols (O, M) -> grad_cols (K, M) -> grad_x (N, C, H, W).
        Skips grad_x while ``input_grad_needed`` is False.
        """
        assert self._x_pad is not None and self._out is not None  # set by forward (the interface checks the order)
        x_pad, W = self._x_pad, self.params["W"]
        grad_z = self.activation.gradient(self._out, grad_y)
        N, O, H_out, W_out = grad_z.shape
        cols = im2col(x_pad, self.kernel_size, self.stride).reshape(-1, N * H_out * W_out)  # forward's cols (K, M)
        grad_z_cols = grad_z.transpose(1, 0, 2, 3).reshape(O, N * H_out * W_out)  # row o, column (n, i, j)
        grad_z_cols.sum(axis=1, out=self.grads["b"])
        np.matmul(grad_z_cols, cols.T, out=self.grads["W"].reshape(O, -1))  # Σ over (n, i, j); in place
        if self.regularizer.active:
            self.regularizer.add_gradient(W, self.grads["W"])
        if not self.input_grad_needed:
            return grad_z  # read by nobody (see Layer.backward_params)
        grad_cols = W.reshape(O, -1).T @ grad_z_cols  # Σ over o: (K, M)
        C, (kh, kw), (ph, pw) = self.in_channels, self.kernel_size, self.padding
        grad_x_pad = col2im(grad_cols.reshape(C, kh, kw, N, H_out, W_out), x_pad.shape, self.stride)
        return grad_x_pad[:, :, ph : grad_x_pad.shape[2] - ph, pw : grad_x_pad.shape[3] - pw]

    def penalty(self) -> float:
        """l1·Σ|W| + (l2/2)·ΣW² (the bias is not regularized)."""
        return self.regularizer.penalty(self.params["W"]) if self.regularizer.active else 0.0

    # -- bookkeeping: initial weights, a network seed taking over, the config -----------------
    def _check_init(self, weight_init: Any) -> Any:
        if callable(weight_init) or weight_init in ("auto", "he_normal", "glorot_uniform"):
            return weight_init
        valid = ", ".join(repr(name) for name in ("auto", "he_normal", "glorot_uniform"))
        raise ValueError(f"unknown weight_init {weight_init!r}; valid names are {valid}")

    def _initial_weights(self, rng: np.random.Generator, dtype: np.dtype[Any]) -> Array:
        """W (O, C, kh, kw): He normal std √(2/fan_in), or Glorot uniform limit √(6/(fan_in + fan_out)).

        fan_in = C·kh·kw (what one output sums over), fan_out = O·kh·kw (PyTorch's reckoning).
        """
        shape = self.weight_shape
        fan_in = self.in_channels * shape[2] * shape[3]
        fan_out = self.out_channels * shape[2] * shape[3]
        init = self.weight_init
        if init == "auto":
            init = "he_normal" if self.activation.relu_family else "glorot_uniform"
        if init == "he_normal":
            W = rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)
        elif init == "glorot_uniform":
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            W = rng.uniform(-limit, limit, size=shape)
        else:
            W = as_array(init(shape, rng, dtype), "weight_init result")
            if W.shape != shape:
                raise ValueError(f"weight_init returned shape {W.shape}, expected {shape}")
            check_finite(W, "weight_init result")
        return np.array(cast_finite(W, dtype, "weight_init result"), order="C")  # always a copy

    def redraw(self, rng: np.random.Generator) -> None:
        """W drawn again from ``rng`` (b stays 0): a network seed taking over."""
        W = self.params["W"]
        np.copyto(W, self._initial_weights(rng, W.dtype))

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_buffers": Buffers()}  # a copy starts with no work buffers

    def check_saveable(self) -> None:
        """Only the built-in activations can be saved (the config stores the activation by name)."""
        name = getattr(self.activation, "name", None)
        if not isinstance(name, str) or ACTIVATIONS.get(name) is not type(self.activation):
            valid = ", ".join(cls.__name__ for cls in ACTIVATIONS.values())
            raise TypeError(
                f"cannot save a Conv2D with activation {type(self.activation).__name__}: only the built-in "
                f"activations ({valid}) can be saved"
            )

    def get_config(self) -> dict[str, Any]:
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "activation": {"name": self.activation.name, **self.activation.get_config()},
            "l1_lambda": self.regularizer.l1_lambda,
            "l2_lambda": self.regularizer.l2_lambda,
            "dtype": str(self.params["W"].dtype),
        }

    @classmethod
    def array_shapes(cls, config: dict[str, Any]) -> tuple[dict[str, Shape], dict[str, Shape]]:
        """W: (out_channels, in_channels, kh, kw), b: (out_channels,); no state."""
        C = check_int(config.get("in_channels"), "in_channels")
        O = check_int(config.get("out_channels"), "out_channels")
        kh, kw = as_pair(config.get("kernel_size"), "kernel_size")
        return {"W": (O, C, kh, kw), "b": (O,)}, {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Conv2D:
        config = dict(config)
        activation = activation_from_config(config.pop("activation", None), "Conv2D")
        return cls(activation=activation, **config)

    def __repr__(self) -> str:
        extra = ""
        if self.regularizer.active:
            extra = f", l1_lambda={self.regularizer.l1_lambda}, l2_lambda={self.regularizer.l2_lambda}"
        return (
            f"Conv2D({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, activation={self.activation.name!r}{extra})"
        )
