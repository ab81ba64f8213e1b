"""The convolutional layers' textbook formulas in plain Python: nested lists, one element at a time.

The references ``gradcheck.suite.conv_references`` compares refnet's Conv2D, pools, Flatten and
BatchNorm2D with. Written from the formulas of the contract (SPEC §6), not from refnet: no NumPy,
no refnet import, no im2col; every sum is a loop over its indices, and each backward is the
chain rule taken one term at a time (each term of the forward sum sends its share back to the
elements it read). An image batch is ``x[n][c][h][w]``; a kernel is ``W[o][c][p][q]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gradcheck.suite import textbook

Images = list[list[list[list[float]]]]
Kernel = list[list[list[list[float]]]]
Vector = list[float]
Pair = tuple[int, int]


def zeros(N: int, C: int, H: int, W: int) -> Images:
    return [[[[0.0] * W for _ in range(H)] for _ in range(C)] for _ in range(N)]


def shape(x: Sequence[Sequence[Sequence[Sequence[float]]]]) -> tuple[int, int, int, int]:
    return len(x), len(x[0]), len(x[0][0]), len(x[0][0][0])


def padded(x: Images, padding: Pair) -> Images:
    """x_pad[n][c][h + ph][w + pw] = x[n][c][h][w], zeros in the ph rows and pw columns around each image."""
    N, C, H, W = shape(x)
    ph, pw = padding
    out = zeros(N, C, H + 2 * ph, W + 2 * pw)
    for n in range(N):
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    out[n][c][h + ph][w + pw] = x[n][c][h][w]
    return out


def out_size(size: int, kernel: int, stride: int, padding: int = 0) -> int:
    """⌊(size + 2·padding − kernel)/stride⌋ + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def conv2d(x: Images, W: Kernel, b: Vector, stride: Pair, padding: Pair) -> Images:
    """z[n][o][i][j] = b[o] + Σ_c Σ_p Σ_q W[o][c][p][q]·x_pad[n][c][i·sh + p][j·sw + q]."""
    N, C, H, Wd = shape(x)
    O, _, kh, kw = shape(W)
    (sh, sw), (ph, pw) = stride, padding
    x_pad = padded(x, padding)
    H_out, W_out = out_size(H, kh, sh, ph), out_size(Wd, kw, sw, pw)
    z = zeros(N, O, H_out, W_out)
    for n in range(N):
        for o in range(O):
            for i in range(H_out):
                for j in range(W_out):
                    total = b[o]
                    for c in range(C):
                        for p in range(kh):
                            for q in range(kw):
                                total += W[o][c][p][q] * x_pad[n][c][i * sh + p][j * sw + q]
                    z[n][o][i][j] = total
    return z


def conv2d_backward(
    x: Images, W: Kernel, grad_z: Images, stride: Pair, padding: Pair, l1: float = 0.0, l2: float = 0.0
) -> tuple[Images, Kernel, Vector]:
    """(grad_x, dW, db) of z = conv2d(x, W, b) given grad_z = dL/dz; dW includes the penalty's gradient.

    Each term W[o][c][p][q]·x_pad[n][c][i·sh + p][j·sw + q] of z[n][o][i][j] sends grad_z[n][o][i][j]
    times its other factor to each factor: to dW[o][c][p][q] and to x_pad's element (which, in the
    padding, belongs to no element of x); db[o] sums grad_z[n][o][i][j].
    """
    N, C, H, Wd = shape(x)
    O, _, kh, kw = shape(W)
    (sh, sw), (ph, pw) = stride, padding
    x_pad = padded(x, padding)
    _, _, H_out, W_out = shape(grad_z)
    grad_x = zeros(N, C, H, Wd)
    dW = [[[[l1 * textbook.sign(w) + l2 * w for w in row] for row in plane] for plane in kernel] for kernel in W]
    db = [0.0] * O
    for n in range(N):
        for o in range(O):
            for i in range(H_out):
                for j in range(W_out):
                    g = grad_z[n][o][i][j]
                    db[o] += g
                    for c in range(C):
                        for p in range(kh):
                            for q in range(kw):
                                h, w = i * sh + p - ph, j * sw + q - pw  # where x_pad's element sits in x
                                dW[o][c][p][q] += g * x_pad[n][c][i * sh + p][j * sw + q]
                                if 0 <= h < H and 0 <= w < Wd:
                                    grad_x[n][c][h][w] += g * W[o][c][p][q]
    return grad_x, dW, db


def elementwise(values: Images, f: textbook.Scalar) -> Images:
    """f applied to every element."""
    return [[[[f(v) for v in row] for row in plane] for plane in image] for image in values]


def times(a: Images, b: Images) -> Images:
    """The elementwise product a·b."""
    return [
        [
            [[u * v for u, v in zip(ra, rb, strict=True)] for ra, rb in zip(pa, pb, strict=True)]
            for pa, pb in zip(ia, ib, strict=True)
        ]
        for ia, ib in zip(a, b, strict=True)
    ]


def penalty(W: Kernel, l1: float, l2: float) -> float:
    """l1·Σ|W| + (l2/2)·ΣW² over every element of the kernel."""
    return sum(l1 * abs(w) + 0.5 * l2 * w * w for kernel in W for plane in kernel for row in plane for w in row)


def max_pool(x: Images, kernel: Pair, stride: Pair) -> tuple[Images, list[list[list[list[Pair]]]]]:
    """(y, grad routing) of max pooling: y[n][c][i][j] = max over the window at (i·sh, j·sw).

    The second value is the backward for an upstream gradient of ones per window, as the
    positions: ``first[n][c][i][j] = (h, w)`` of the window's first maximum, scanning the
    window row by row (p first, then q) and moving only on a strictly larger value.
    """
    N, C, H, W = shape(x)
    (kh, kw), (sh, sw) = kernel, stride
    H_out, W_out = out_size(H, kh, sh), out_size(W, kw, sw)
    y = zeros(N, C, H_out, W_out)
    first = [[[[(-1, -1)] * W_out for _ in range(H_out)] for _ in range(C)] for _ in range(N)]
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    best, where = -math.inf, (-1, -1)
                    for p in range(kh):
                        for q in range(kw):
                            value = x[n][c][i * sh + p][j * sw + q]
                            if value > best:
                                best, where = value, (i * sh + p, j * sw + q)
                    y[n][c][i][j] = best
                    first[n][c][i][j] = where
    return y, first


def max_pool_backward(x: Images, grad_y: Images, kernel: Pair, stride: Pair) -> Images:
    """grad_x[n][c][h][w] = Σ of grad_y[n][c][i][j] over the windows whose first maximum is (h, w)."""
    N, C, H, W = shape(x)
    _, first = max_pool(x, kernel, stride)
    grad_x = zeros(N, C, H, W)
    _, _, H_out, W_out = shape(grad_y)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    h, w = first[n][c][i][j]
                    grad_x[n][c][h][w] += grad_y[n][c][i][j]
    return grad_x


def avg_pool(x: Images, kernel: Pair, stride: Pair) -> Images:
    """y[n][c][i][j] = (1/(kh·kw)) Σ_p Σ_q x[n][c][i·sh + p][j·sw + q]."""
    N, C, H, W = shape(x)
    (kh, kw), (sh, sw) = kernel, stride
    H_out, W_out = out_size(H, kh, sh), out_size(W, kw, sw)
    y = zeros(N, C, H_out, W_out)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = [x[n][c][i * sh + p][j * sw + q] for p in range(kh) for q in range(kw)]
                    y[n][c][i][j] = sum(window) / (kh * kw)
    return y


def avg_pool_backward(x: Images, grad_y: Images, kernel: Pair, stride: Pair) -> Images:
    """grad_x[n][c][i·sh + p][j·sw + q] += grad_y[n][c][i][j]/(kh·kw) for every window and (p, q)."""
    N, C, H, W = shape(x)
    (kh, kw), (sh, sw) = kernel, stride
    _, _, H_out, W_out = shape(grad_y)
    grad_x = zeros(N, C, H, W)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    for p in range(kh):
                        for q in range(kw):
                            grad_x[n][c][i * sh + p][j * sw + q] += grad_y[n][c][i][j] / (kh * kw)
    return grad_x


def flatten(x: Images) -> list[list[float]]:
    """y[n] = the values of x[n] with c slowest, then h, then w (C order, ``torch.flatten(x, 1)``)."""
    return [[v for plane in image for row in plane for v in row] for image in x]


def unflatten(rows: list[list[float]], C: int, H: int, W: int) -> Images:
    """The inverse of ``flatten``: x[n][c][h][w] = rows[n][(c·H + h)·W + w]."""
    return [[[[row[(c * H + h) * W + w] for w in range(W)] for h in range(H)] for c in range(C)] for row in rows]


def channel_rows(x: Images) -> list[list[float]]:
    """The matrix whose column c lists every value of channel c: one row per (n, h, w)."""
    N, C, H, W = shape(x)
    return [[x[n][c][h][w] for c in range(C)] for n in range(N) for h in range(H) for w in range(W)]


def from_channel_rows(rows: list[list[float]], N: int, C: int, H: int, W: int) -> Images:
    """The inverse of ``channel_rows``: row (n·H + h)·W + w, column c."""
    return [[[[rows[(n * H + h) * W + w][c] for w in range(W)] for h in range(H)] for c in range(C)] for n in range(N)]


def batchnorm2d(x: Images, gamma: Vector, beta: Vector, mean: Vector, var: Vector, eps: float) -> Images:
    """y[n][c][h][w] = gamma[c]·(x[n][c][h][w] − mean[c])/√(var[c] + eps) + beta[c]."""
    return [
        [
            [[gamma[c] * (v - mean[c]) / math.sqrt(var[c] + eps) + beta[c] for v in row] for row in plane]
            for c, plane in enumerate(image)
        ]
        for image in x
    ]


def channel_statistics(x: Images, ddof: int = 0) -> tuple[Vector, Vector]:
    """Per channel c, over its M = N·H·W values: the mean and Σ(v − mean)²/(M − ddof)."""
    N, C, H, W = shape(x)
    means, variances = [], []
    for c in range(C):
        values = [x[n][c][h][w] for n in range(N) for h in range(H) for w in range(W)]
        mean = sum(values) / len(values)
        means.append(mean)
        variances.append(sum((v - mean) ** 2 for v in values) / (len(values) - ddof))
    return means, variances


def batchnorm2d_backward(x: Images, gamma: Vector, grad_y: Images, eps: float) -> tuple[Images, Vector, Vector]:
    """(grad_x, dgamma, dbeta) in training: BatchNorm's chain rule through mean and var, per channel
    over its M = N·H·W values (``textbook.batchnorm_backward`` on the channels' columns)."""
    N, C, H, W = shape(x)
    grad_rows, dgamma, dbeta = textbook.batchnorm_backward(channel_rows(x), gamma, channel_rows(grad_y), eps)
    return from_channel_rows(grad_rows, N, C, H, W), dgamma, dbeta
