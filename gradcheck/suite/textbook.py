"""The textbook formulas in plain Python: floats, lists and ``math``, one element at a time.

These are the references ``gradcheck.suite.references`` and ``gradcheck.suite.stateful`` compare refnet's
vectorised NumPy code with. They are written from the formulas, not from refnet: no NumPy, no
refnet import, no in-place tricks, the derivatives in terms of the input z (refnet writes them
in terms of the output y), the BatchNorm backward by the chain rule through mean and variance
(refnet uses the compact form). A matrix is a list of rows; ``n`` counts rows (samples), ``i``
input features, ``j`` output features.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

Matrix = list[list[float]]
Vector = list[float]
Scalar = Callable[[float], float]


def sign(w: float) -> float:
    """+1, −1, or 0 at 0."""
    return 1.0 if w > 0 else -1.0 if w < 0 else 0.0


def sigmoid(z: float) -> float:
    """σ(z) = 1 / (1 + e^(−z)); for z < 0 written e^z / (1 + e^z), which never overflows."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def log_sigmoid(z: float) -> float:
    """log σ(z) = −log(1 + e^(−z)), written z − log(1 + e^z) for z < 0 (no overflow)."""
    return -math.log1p(math.exp(-z)) if z >= 0 else z - math.log1p(math.exp(z))


def elementwise(name: str, alpha: float = 0.0) -> tuple[Scalar, Scalar]:
    """(f, f') of an elementwise activation, both as functions of the input z."""
    if name == "identity":
        return (lambda z: z), (lambda z: 1.0)
    if name == "relu":  # f'(0) = 0 by convention
        return (lambda z: z if z > 0 else 0.0), (lambda z: 1.0 if z > 0 else 0.0)
    if name == "leaky_relu":  # f'(0) = alpha
        return (lambda z: z if z > 0 else alpha * z), (lambda z: 1.0 if z > 0 else alpha)
    if name == "sigmoid":
        return sigmoid, (lambda z: sigmoid(z) * (1.0 - sigmoid(z)))
    if name == "tanh":
        return math.tanh, (lambda z: 1.0 - math.tanh(z) ** 2)
    raise ValueError(f"no elementwise textbook formula for {name!r}")


def softmax(row: Sequence[float]) -> Vector:
    """softmax(z)_j = e^(z_j − m) / Σ_k e^(z_k − m), m = max_k z_k (the same value, without overflow)."""
    m = max(row)
    exps = [math.exp(z - m) for z in row]
    total = sum(exps)
    return [e / total for e in exps]


def softmax_vjp(row: Sequence[float], grad_y: Sequence[float]) -> Vector:
    """grad_z_j = Σ_k grad_y_k · ∂y_k/∂z_j with the Jacobian ∂y_k/∂z_j = y_k·(δ_kj − y_j)."""
    y = softmax(row)
    width = len(row)
    return [sum(grad_y[k] * y[k] * ((1.0 if k == j else 0.0) - y[j]) for k in range(width)) for j in range(width)]


def activation_forward(name: str, z: Matrix, alpha: float = 0.0) -> Matrix:
    """y = f(z), elementwise, or row by row for softmax."""
    if name == "softmax":
        return [softmax(row) for row in z]
    f = elementwise(name, alpha)[0]
    return [[f(value) for value in row] for row in z]


def activation_backward(name: str, z: Matrix, grad_y: Matrix, alpha: float = 0.0) -> Matrix:
    """grad_z = grad_y · f'(z), elementwise, or the softmax Jacobian-vector product row by row."""
    if name == "softmax":
        return [softmax_vjp(row, grad_row) for row, grad_row in zip(z, grad_y, strict=True)]
    derivative = elementwise(name, alpha)[1]
    return [
        [g * derivative(value) for value, g in zip(row, grad_row, strict=True)]
        for row, grad_row in zip(z, grad_y, strict=True)
    ]


def affine(x: Matrix, W: Matrix, b: Vector) -> Matrix:
    """z_nj = Σ_i x_ni·W_ij + b_j."""
    return [[b[j] + sum(x_n[i] * W[i][j] for i in range(len(W))) for j in range(len(b))] for x_n in x]


def penalty(W: Matrix, l1: float, l2: float) -> float:
    """l1·Σ|W_ij| + (l2/2)·Σ W_ij²."""
    return sum(l1 * abs(w) + 0.5 * l2 * w * w for row in W for w in row)


def penalty_gradient(W: Matrix, l1: float, l2: float) -> Matrix:
    """∂penalty/∂W_ij = l1·sign(W_ij) + l2·W_ij, sign(0) = 0."""
    return [[l1 * sign(w) + l2 * w for w in row] for row in W]


def dense_backward(
    x: Matrix, W: Matrix, grad_z: Matrix, l1: float = 0.0, l2: float = 0.0
) -> tuple[Matrix, Matrix, Vector]:
    """(grad_x, dW, db) of z = x·W + b given grad_z = dL/dz; dW includes the penalty's gradient.

    grad_x_ni = Σ_j grad_z_nj·W_ij;  dW_ij = Σ_n x_ni·grad_z_nj + l1·sign(W_ij) + l2·W_ij;  db_j = Σ_n grad_z_nj.
    """
    rows, inputs, outputs = range(len(x)), range(len(W)), range(len(W[0]))
    grad_x = [[sum(grad_z[n][j] * W[i][j] for j in outputs) for i in inputs] for n in rows]
    extra = penalty_gradient(W, l1, l2)
    dW = [[sum(x[n][i] * grad_z[n][j] for n in rows) + extra[i][j] for j in outputs] for i in inputs]
    db = [sum(grad_z[n][j] for n in rows) for j in outputs]
    return grad_x, dW, db


def dropout(x: Matrix, keep: Sequence[Sequence[bool]], p: float) -> Matrix:
    """Inverted dropout with a given mask: y = x·keep/(1 − p) (keep is 1 with probability 1 − p)."""
    return [
        [v / (1.0 - p) if k else 0.0 for v, k in zip(row, kept, strict=True)] for row, kept in zip(x, keep, strict=True)
    ]


def column_mean(x: Matrix) -> Vector:
    """mu_j = (1/N) Σ_n x_nj."""
    return [sum(row[j] for row in x) / len(x) for j in range(len(x[0]))]


def column_variance(x: Matrix, ddof: int = 0) -> Vector:
    """var_j = Σ_n (x_nj − mu_j)² / (N − ddof): biased (ddof 0) or unbiased (ddof 1)."""
    mu = column_mean(x)
    return [sum((row[j] - mu[j]) ** 2 for row in x) / (len(x) - ddof) for j in range(len(mu))]


def batchnorm(x: Matrix, gamma: Vector, beta: Vector, mean: Vector, var: Vector, eps: float) -> Matrix:
    """y_nj = gamma_j·(x_nj − mean_j)/√(var_j + eps) + beta_j."""
    return [[gamma[j] * (row[j] - mean[j]) / math.sqrt(var[j] + eps) + beta[j] for j in range(len(row))] for row in x]


def batchnorm_backward(x: Matrix, gamma: Vector, grad_y: Matrix, eps: float) -> tuple[Matrix, Vector, Vector]:
    """(grad_x, dgamma, dbeta) in training, by the chain rule through mu and var (Ioffe & Szegedy, 2015):

    dxhat = grad_y·gamma;  dvar = Σ_n dxhat·(x − mu)·(−½)(var + eps)^(−3/2)
    dmu = Σ_n −dxhat/√(var + eps) + dvar·Σ_n −2(x − mu)/N
    grad_x = dxhat/√(var + eps) + dvar·2(x − mu)/N + dmu/N;  dgamma = Σ_n grad_y·xhat;  dbeta = Σ_n grad_y
    """
    N, D = len(x), len(x[0])
    mu, var = column_mean(x), column_variance(x)
    grad_x = [[0.0] * D for _ in range(N)]
    dgamma, dbeta = [0.0] * D, [0.0] * D
    for j in range(D):
        std = math.sqrt(var[j] + eps)
        dxhat = [grad_y[n][j] * gamma[j] for n in range(N)]
        dvar = sum(dxhat[n] * (x[n][j] - mu[j]) for n in range(N)) * -0.5 * (var[j] + eps) ** -1.5
        dmu = sum(-dxhat[n] / std for n in range(N)) + dvar * sum(-2.0 * (x[n][j] - mu[j]) for n in range(N)) / N
        for n in range(N):
            grad_x[n][j] = dxhat[n] / std + dvar * 2.0 * (x[n][j] - mu[j]) / N + dmu / N
        dgamma[j] = sum(grad_y[n][j] * (x[n][j] - mu[j]) / std for n in range(N))
        dbeta[j] = sum(grad_y[n][j] for n in range(N))
    return grad_x, dgamma, dbeta


def running_statistics(
    batches: Sequence[Matrix], mean: Vector, var: Vector, momentum: float
) -> tuple[list[Vector], list[Vector]]:
    """After each batch: running ← (1 − momentum)·running + momentum·batch statistic (variance unbiased)."""
    means, variances = [], []
    for x in batches:
        mu, unbiased = column_mean(x), column_variance(x, ddof=1)
        mean = [(1 - momentum) * old + momentum * new for old, new in zip(mean, mu, strict=True)]
        var = [(1 - momentum) * old + momentum * new for old, new in zip(var, unbiased, strict=True)]
        means.append(mean)
        variances.append(var)
    return means, variances


def mse(y_pred: Matrix, y: Matrix) -> float:
    """(1/(N·C)) Σ_nc (ŷ_nc − y_nc)²."""
    terms = [(p - t) ** 2 for p_row, t_row in zip(y_pred, y, strict=True) for p, t in zip(p_row, t_row, strict=True)]
    return sum(terms) / len(terms)


def mse_gradient(y_pred: Matrix, y: Matrix) -> Matrix:
    """∂L/∂ŷ_nc = 2(ŷ_nc − y_nc)/(N·C)."""
    size = len(y_pred) * len(y_pred[0])
    return [
        [2.0 * (p - t) / size for p, t in zip(p_row, t_row, strict=True)]
        for p_row, t_row in zip(y_pred, y, strict=True)
    ]


def cross_entropy(z: Matrix, y: Matrix) -> float:
    """−(1/N) Σ_n Σ_c y_nc·log softmax(z_n)_c, with log softmax(z)_c = z_c − m − log Σ_k e^(z_k − m)."""
    total = 0.0
    for row, target in zip(z, y, strict=True):
        m = max(row)
        log_sum = m + math.log(sum(math.exp(v - m) for v in row))
        total -= sum(t * (v - log_sum) for v, t in zip(row, target, strict=True))
    return total / len(z)


def cross_entropy_gradient(z: Matrix, y: Matrix) -> Matrix:
    """∂L/∂z_nc = (softmax(z_n)_c − y_nc)/N."""
    return [
        [(p - t) / len(z) for p, t in zip(softmax(row), target, strict=True)] for row, target in zip(z, y, strict=True)
    ]


def clip(p: float, eps: float) -> float:
    """p clipped to [eps, 1 − eps]; where 1 − eps rounds to 1 (eps below 1.1e-16), to the largest float below 1."""
    return min(max(p, eps), 1.0 - eps, math.nextafter(1.0, 0.0))


def binary_cross_entropy(p: Matrix, y: Matrix, eps: float) -> float:
    """−mean(y·log p + (1 − y)·log(1 − p)), p clipped to [eps, 1 − eps]."""
    terms = [
        t * math.log(clip(q, eps)) + (1 - t) * math.log(1 - clip(q, eps))
        for q_row, t_row in zip(p, y, strict=True)
        for q, t in zip(q_row, t_row, strict=True)
    ]
    return -sum(terms) / len(terms)


def binary_cross_entropy_gradient(p: Matrix, y: Matrix, eps: float) -> Matrix:
    """(q − y)/(q(1 − q))/size at q = clip(p): exact inside the clip, the clip point's gradient outside."""
    size = len(p) * len(p[0])
    return [
        [(clip(q, eps) - t) / (clip(q, eps) * (1 - clip(q, eps))) / size for q, t in zip(q_row, t_row, strict=True)]
        for q_row, t_row in zip(p, y, strict=True)
    ]


def binary_cross_entropy_logits(z: Matrix, y: Matrix) -> float:
    """−mean(y·log σ(z) + (1 − y)·log(1 − σ(z))), with log(1 − σ(z)) = log σ(−z)."""
    terms = [
        t * log_sigmoid(v) + (1 - t) * log_sigmoid(-v)
        for z_row, t_row in zip(z, y, strict=True)
        for v, t in zip(z_row, t_row, strict=True)
    ]
    return -sum(terms) / len(terms)


def binary_cross_entropy_logits_gradient(z: Matrix, y: Matrix) -> Matrix:
    """∂L/∂z = (σ(z) − y)/size."""
    size = len(z) * len(z[0])
    return [
        [(sigmoid(v) - t) / size for v, t in zip(z_row, t_row, strict=True)] for z_row, t_row in zip(z, y, strict=True)
    ]


def argmax(row: Sequence[float]) -> int:
    """The index of the first largest entry."""
    best = 0
    for index, value in enumerate(row):
        if value > row[best]:
            best = index
    return best


def class_accuracy(z: Matrix, y: Matrix) -> float:
    """Fraction of rows whose largest prediction is the target's largest entry."""
    return sum(argmax(row) == argmax(target) for row, target in zip(z, y, strict=True)) / len(z)


def binary_accuracy(p: Matrix, y: Matrix, threshold: float) -> float:
    """Fraction of elements with (p > threshold) equal to (y > 0.5)."""
    hits = [
        (q > threshold) == (t > 0.5)
        for q_row, t_row in zip(p, y, strict=True)
        for q, t in zip(q_row, t_row, strict=True)
    ]
    return sum(hits) / len(hits)
