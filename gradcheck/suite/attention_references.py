"""The sequence components against the textbook: LayerNorm, attention, positions, GELU, SiLU, the block.

Two halves:

- the textbook formulas in plain Python (floats, lists, ``math``; one element at a time, as
  ``gradcheck.suite.textbook``): a sequence is a list of T rows of E floats, a batch a list of N
  sequences. Derivatives by the chain rule, written independently of refnet's compact forms:
  LayerNorm through its mean and variance, the softmax through its full Jacobian
  y_k(δ_kj − y_j), GELU from ``math.erf``, the projections by ``textbook.dense_backward``;
- the catalog's checks: each component's values (forward and every gradient) against these
  references, and its gradients against central differences (``gradcheck.checks.check_layer``,
  the networks through ``check_network``): causal and not, 1, 2 and 4 heads, LayerNorm on (N, D)
  and on (N, T, D), GELU exact and tanh, SiLU, inside Dense and on their own, and the whole
  pre-LN transformer block (a GraphModel) with its loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from gradcheck.checks import check_layer
from gradcheck.core.lines import Array
from gradcheck.core.results import CheckResult, Report, Verdict
from gradcheck.core.tolerances import Tolerances
from gradcheck.core.values import compare
from gradcheck.network_check import check_network
from gradcheck.suite import textbook
from gradcheck.suite.cases import Runner, seed_from
from gradcheck.suite.references import rows, runner, vector
from refnet.attention import MultiHeadAttention, attention_forward, causal_mask
from refnet.functions import GELU, Activation, SiLU
from refnet.graph import GraphModel, Input
from refnet.layer import Dense
from refnet.layernorm import LayerNorm
from refnet.losses import MSE
from refnet.positional import PositionalEmbedding
from refnet.support.erf import erf
from refnet.transformer import tiny_gpt, transformer_block

Matrix = textbook.Matrix
Vector = textbook.Vector
Batch = list[Matrix]  # N sequences of T rows of E floats
ValueCheck = Callable[[np.random.Generator, Tolerances], list[CheckResult]]

#: The contract's constant (SPEC §6), which the references use rather than reading it from refnet.
LAYERNORM_EPS = 1e-5


# == the textbook, in plain Python ============================================================


def gelu(x: float) -> float:
    """x·Φ(x), Φ(x) = ½(1 + erf(x/√2)) (``math.erf``)."""
    return x * 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def gelu_derivative(x: float) -> float:
    """Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π)."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0))) + x * math.exp(-x * x / 2.0) / math.sqrt(2.0 * math.pi)


def gelu_tanh(x: float) -> float:
    """½x(1 + tanh(√(2/π)(x + 0.044715x³)))."""
    return 0.5 * x * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def gelu_tanh_derivative(x: float) -> float:
    """d/dx of ``gelu_tanh`` by the product and chain rules."""
    t = math.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3))
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * math.sqrt(2.0 / math.pi) * (1.0 + 3 * 0.044715 * x**2)


def silu(x: float) -> float:
    """x·σ(x)."""
    return x * textbook.sigmoid(x)


def silu_derivative(x: float) -> float:
    """σ(x) + x·σ(x)(1 − σ(x))."""
    s = textbook.sigmoid(x)
    return s + x * s * (1.0 - s)


ELEMENTWISE: dict[str, tuple[textbook.Scalar, textbook.Scalar]] = {
    "gelu": (gelu, gelu_derivative),
    "gelu_tanh": (gelu_tanh, gelu_tanh_derivative),
    "silu": (silu, silu_derivative),
}


def layernorm_row(x: Vector, gamma: Vector, beta: Vector, eps: float) -> Vector:
    """y_j = gamma_j·(x_j − mu)/√(var + eps) + beta_j, mu and var (biased) over the row's D features."""
    D = len(x)
    mu = sum(x) / D
    var = sum((v - mu) ** 2 for v in x) / D
    return [gamma[j] * (x[j] - mu) / math.sqrt(var + eps) + beta[j] for j in range(D)]


def layernorm_row_backward(x: Vector, gamma: Vector, grad_y: Vector, eps: float) -> tuple[Vector, Vector, Vector]:
    """(grad_x, dgamma, dbeta) of one row, by the chain rule through mu and var:

    dxhat = grad_y·gamma;  dvar = Σ_j dxhat_j·(x_j − mu)·(−½)(var + eps)^(−3/2)
    dmu = Σ_j −dxhat_j/√(var + eps) + dvar·Σ_j −2(x_j − mu)/D
    grad_x_j = dxhat_j/√(var + eps) + dvar·2(x_j − mu)/D + dmu/D
    """
    D = len(x)
    mu = sum(x) / D
    var = sum((v - mu) ** 2 for v in x) / D
    std = math.sqrt(var + eps)
    dxhat = [grad_y[j] * gamma[j] for j in range(D)]
    dvar = sum(dxhat[j] * (x[j] - mu) for j in range(D)) * -0.5 * (var + eps) ** -1.5
    dmu = sum(-dxhat[j] / std for j in range(D)) + dvar * sum(-2.0 * (x[j] - mu) for j in range(D)) / D
    grad_x = [dxhat[j] / std + dvar * 2.0 * (x[j] - mu) / D + dmu / D for j in range(D)]
    dgamma = [grad_y[j] * (x[j] - mu) / std for j in range(D)]
    return grad_x, dgamma, list(grad_y)


LayerNormBackward = Callable[[Matrix], tuple[Matrix, Vector, Vector]]


def layernorm(x: Matrix, gamma: Vector, beta: Vector, eps: float) -> tuple[Matrix, LayerNormBackward]:
    """LayerNorm of every row, and its backward: grad_y -> (grad_x, dgamma, dbeta), summed over rows."""

    def backward(grad_y: Matrix) -> tuple[Matrix, Vector, Vector]:
        grad_x, dgamma, dbeta = [], [0.0] * len(gamma), [0.0] * len(gamma)
        for row, grad_row in zip(x, grad_y, strict=True):
            gx, dg, db = layernorm_row_backward(row, gamma, grad_row, eps)
            grad_x.append(gx)
            dgamma = [a + b for a, b in zip(dgamma, dg, strict=True)]
            dbeta = [a + b for a, b in zip(dbeta, db, strict=True)]
        return grad_x, dgamma, dbeta

    return [layernorm_row(row, gamma, beta, eps) for row in x], backward


def columns(x: Matrix, start: int, stop: int) -> Matrix:
    """The columns start … stop − 1 of every row (one head's features)."""
    return [row[start:stop] for row in x]


def head_attention(q: Matrix, k: Matrix, v: Matrix, causal: bool) -> tuple[Matrix, Matrix]:
    """One head of one sequence: (z, a) with s_ts = Σ_j q_tj·k_sj/√d for s <= t (all s if not causal),
    a_t = softmax(s_t) over the keys it may see (0 for the others), z_t = Σ_s a_ts·v_s."""
    T, d = len(q), len(q[0])
    a, z = [], []
    for t in range(T):
        seen = range(t + 1) if causal else range(T)
        scores = [sum(q[t][j] * k[s][j] for j in range(d)) / math.sqrt(d) for s in seen]
        weights = textbook.softmax(scores) + [0.0] * (T - len(scores))
        a.append(weights)
        z.append([sum(weights[s] * v[s][j] for s in range(T)) for j in range(len(v[0]))])
    return z, a


def head_attention_backward(
    q: Matrix, k: Matrix, v: Matrix, causal: bool, grad_z: Matrix
) -> tuple[Matrix, Matrix, Matrix]:
    """(dq, dk, dv) of one head by the chain rule: da_ts = Σ_j grad_z_tj·v_sj, through the softmax's
    Jacobian row by row (``textbook.softmax_vjp``) to ds_ts, then dq_t = Σ_s ds_ts·k_s/√d,
    dk_s = Σ_t ds_ts·q_t/√d, dv_s = Σ_t a_ts·grad_z_t."""
    T, d = len(q), len(q[0])
    _, a = head_attention(q, k, v, causal)
    dq = [[0.0] * d for _ in range(T)]
    dk = [[0.0] * d for _ in range(T)]
    dv = [[0.0] * len(v[0]) for _ in range(T)]
    for t in range(T):
        seen = list(range(t + 1) if causal else range(T))
        scores = [sum(q[t][j] * k[s][j] for j in range(d)) / math.sqrt(d) for s in seen]
        da = [sum(grad_z[t][j] * v[s][j] for j in range(len(v[0]))) for s in seen]
        ds = textbook.softmax_vjp(scores, da)
        for index, s in enumerate(seen):
            for j in range(d):
                dq[t][j] += ds[index] * k[s][j] / math.sqrt(d)
                dk[s][j] += ds[index] * q[t][j] / math.sqrt(d)
            for j in range(len(v[0])):
                dv[s][j] += a[t][s] * grad_z[t][j]
    return dq, dk, dv


def add(a: Matrix, b: Matrix) -> Matrix:
    return [[p + q for p, q in zip(ra, rb, strict=True)] for ra, rb in zip(a, b, strict=True)]


def multi_head_attention(
    x: Matrix, weights: dict[str, Matrix], biases: dict[str, Vector], heads: int, causal: bool
) -> tuple[Matrix, Callable[[Matrix], tuple[Matrix, dict[str, Matrix], dict[str, Vector]]]]:
    """One sequence x (T rows of E): y = concat_h(attention of head h) @ W_o + b_o, and its backward
    grad_y -> (grad_x, dW by name, db by name), every projection differentiated by ``textbook.dense_backward``."""
    E = len(x[0])
    d = E // heads
    q = textbook.affine(x, weights["W_q"], biases["b_q"])
    k = textbook.affine(x, weights["W_k"], biases["b_k"])
    v = textbook.affine(x, weights["W_v"], biases["b_v"])
    slices = [(h * d, (h + 1) * d) for h in range(heads)]
    outputs = [head_attention(columns(q, *s), columns(k, *s), columns(v, *s), causal)[0] for s in slices]
    concat = [[value for head in outputs for value in head[t]] for t in range(len(x))]
    y = textbook.affine(concat, weights["W_o"], biases["b_o"])

    def backward(grad_y: Matrix) -> tuple[Matrix, dict[str, Matrix], dict[str, Vector]]:
        grad_concat, dW_o, db_o = textbook.dense_backward(concat, weights["W_o"], grad_y)
        dq, dk, dv = ([[0.0] * E for _ in x] for _ in range(3))
        for start, stop in slices:
            parts = head_attention_backward(
                columns(q, start, stop), columns(k, start, stop), columns(v, start, stop), causal,
                columns(grad_concat, start, stop),
            )  # fmt: skip
            for whole, part in zip((dq, dk, dv), parts, strict=True):
                for t in range(len(x)):
                    whole[t][start:stop] = part[t]
        dW, db = {"W_o": dW_o}, {"b_o": db_o}
        grad_x = [[0.0] * E for _ in x]
        for name, grad in (("q", dq), ("k", dk), ("v", dv)):
            gx, dW[f"W_{name}"], db[f"b_{name}"] = textbook.dense_backward(x, weights[f"W_{name}"], grad)
            grad_x = add(grad_x, gx)
        return grad_x, dW, db

    return y, backward


def sum_rows(batches: Sequence[Matrix]) -> Matrix:
    """Σ_n of N matrices of one shape."""
    total = [[0.0] * len(batches[0][0]) for _ in batches[0]]
    for matrix in batches:
        total = add(total, matrix)
    return total


# == the catalog's checks =====================================================================


def batch_rows(array: Array) -> Batch:
    """An (N, T, E) array as N lists of T rows of Python floats."""
    return [rows(sequence) for sequence in np.asarray(array, dtype=np.float64)]


def attention_layer(rng: np.random.Generator, heads: int, causal: bool, E: int = 8) -> MultiHeadAttention:
    """MultiHeadAttention(E, heads, causal) with random weights and biases (the biases are zero at first)."""
    layer = MultiHeadAttention(E, heads, causal, rng=rng)
    for name, value in layer.params.items():
        value[:] = (0.6 if name.startswith("W") else 0.3) * rng.standard_normal(value.shape)
    return layer


def attention_values(heads: int, causal: bool) -> ValueCheck:
    """y, grad_x and every parameter's gradient of MultiHeadAttention(8, heads) on x (2, 5, 8), sequence by sequence."""

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        layer = attention_layer(rng, heads, causal)
        x, grad_y = rng.standard_normal((2, 5, 8)), rng.standard_normal((2, 5, 8))
        y = layer.forward(x.copy())
        grad_x = layer.backward(grad_y.copy())
        weights = {name: rows(value) for name, value in layer.params.items() if name.startswith("W")}
        biases = {name: vector(value) for name, value in layer.params.items() if name.startswith("b")}
        expected_y, expected_x, dW, db = [], [], [], []
        for sequence, grad_sequence in zip(batch_rows(x), batch_rows(grad_y), strict=True):
            out, backward = multi_head_attention(sequence, weights, biases, heads, causal)
            gx, dW_n, db_n = backward(grad_sequence)
            expected_y.append(out)
            expected_x.append(gx)
            dW.append(dW_n)
            db.append(db_n)
        mask = "causal" if causal else "no mask"
        results = [
            compare("y", expected_y, y, tol, f"y = concat_h(softmax(Q_h K_hᵀ/√d + M) V_h)·W_o + b_o, {mask}"),
            compare("grad_x", expected_x, grad_x, tol, "grad_x through the projections, the softmax Jacobian"),
        ]
        for name in weights:
            results.append(
                compare(name, sum_rows([part[name] for part in dW]), layer.grads[name], tol, f"d{name} = Σ_n xᵀ·grad")
            )
        offset = float(np.abs(layer.grads["b_q"]).max())
        for name in biases:
            total = [sum(part[name][j] for part in db) for j in range(8)]
            if name == "b_k":
                # db_k is 0 exactly (b_k adds q_t·b_k to a whole row of scores, which softmax ignores): both
                # sides are rounding residue, compared at the scale of db_q, the gradient of the other side of Q Kᵀ
                results.append(
                    compare(name, [v + offset for v in total], layer.grads[name] + offset, tol, "db_k = 0 (+ |db_q|)")
                )
                continue
            results.append(compare(name, total, layer.grads[name], tol, f"d{name} = Σ_n,t grad"))
        return results

    return check


def huge_scores(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
    """Scores of several hundred: the softmax must take each row's max off before exp (e^700 overflows)."""
    Q, K = 30.0 * rng.standard_normal((1, 2, 4, 3)), 30.0 * rng.standard_normal((1, 2, 4, 3))
    V = rng.standard_normal((1, 2, 4, 3))
    with np.errstate(over="ignore", invalid="ignore"):
        Z, A = attention_forward(Q, K, V, causal_mask(4))
    expected_a, expected_z = [], []
    for h in range(2):
        z, a = head_attention(rows(Q[0, h]), rows(K[0, h]), rows(V[0, h]), causal=True)
        expected_a.append(a)
        expected_z.append(z)
    return [
        compare("A", expected_a, A[0], tol, "A = softmax(Q Kᵀ/√d + M) with scores of ±700: stable"),
        compare("Z", expected_z, Z[0], tol, "Z = A V"),
    ]


def layernorm_layer(rng: np.random.Generator, D: int) -> LayerNorm:
    layer = LayerNorm(D)
    layer.params["gamma"][:] = rng.uniform(0.5, 1.5, D)
    layer.params["beta"][:] = rng.standard_normal(D)
    return layer


def layernorm_input(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    """Rows with offsets and scales of their own (LayerNorm removes them)."""
    row_shape = (*shape[:-1], 1)
    return rng.standard_normal(shape) * rng.uniform(0.5, 3.0, row_shape) + rng.standard_normal(row_shape)


def layernorm_values(shape: tuple[int, ...]) -> ValueCheck:
    """LayerNorm(D) with eps = 1e-5 on x of ``shape`` (N, D) or (N, T, D): y, grad_x, dgamma, dbeta."""

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        D = shape[-1]
        layer = layernorm_layer(rng, D)
        x, grad_y = layernorm_input(rng, shape), rng.standard_normal(shape)
        y = layer.forward(x.copy())
        grad_x = layer.backward(grad_y.copy())
        flat_x, flat_g = rows(x.reshape(-1, D)), rows(grad_y.reshape(-1, D))
        gamma, beta = vector(layer.params["gamma"]), vector(layer.params["beta"])
        expected, backward = layernorm(flat_x, gamma, beta, LAYERNORM_EPS)
        ref_x, dgamma, dbeta = backward(flat_g)
        return [
            compare("y", expected, y.reshape(-1, D), tol, "y = gamma·(x − mean_d)/√(var_d + 1e-5) + beta, per row"),
            compare("grad_x", ref_x, grad_x.reshape(-1, D), tol, "grad_x by the chain rule through mean and var"),
            compare("gamma", dgamma, layer.grads["gamma"], tol, "dgamma = Σ_rows grad_y·xhat"),
            compare("beta", dbeta, layer.grads["beta"], tol, "dbeta = Σ_rows grad_y"),
        ]

    return check


def positional_values(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
    """PositionalEmbedding(6, 4) on x (3, 5, 4): y = x + P[t]; grad_x = grad_y; dP[t] = Σ_n grad_y (0 for t >= 5)."""
    layer = PositionalEmbedding(6, 4, rng=rng)
    x, grad_y = rng.standard_normal((3, 5, 4)), rng.standard_normal((3, 5, 4))
    layer.grads["P"][:] = 1.0  # a stale gradient the backward must overwrite, past T too
    y = layer.forward(x.copy())
    grad_x = layer.backward(grad_y.copy())
    P = rows(layer.params["P"])
    X, G = batch_rows(x), batch_rows(grad_y)
    expected = [[[X[n][t][j] + P[t][j] for j in range(4)] for t in range(5)] for n in range(3)]
    dP = [[sum(G[n][t][j] for n in range(3)) if t < 5 else 0.0 for j in range(4)] for t in range(6)]
    return [
        compare("y", expected, y, tol, "y[n, t] = x[n, t] + P[t]"),
        compare("grad_x", G, grad_x, tol, "grad_x = grad_y"),
        compare("P", dP, layer.grads["P"], tol, "dP[t] = Σ_n grad_y[n, t], 0 for t >= T"),
    ]


def elementwise_values(make: Callable[[], Activation], name: str) -> ValueCheck:
    """y = f(x), grad_x = grad_y·f'(x) of GELU/SiLU on sequences x (2, 3, 5) with 0, ±6, ±30 and ±1000, as a
    layer, through ``function``/``gradient`` (which takes the input x) and inside Dense (at its z)."""
    f, derivative = ELEMENTWISE[name]

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        layer = make()
        x, grad_y = 2.0 * rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 3, 5))
        x[0, 0] = [0.0, -6.0, 6.0, -30.0, 30.0]
        x[0, 1, :2] = [-1000.0, 1000.0]
        y = layer.forward(x.copy())
        grad_x = layer.backward(grad_y.copy())
        X, G = rows(x.reshape(-1, 5)), rows(grad_y.reshape(-1, 5))
        expected_y = [[f(v) for v in row] for row in X]
        expected_grad = [[g * derivative(v) for v, g in zip(r, gr, strict=True)] for r, gr in zip(X, G, strict=True)]
        dense = Dense(5, 4, make(), rng=rng)
        dense.params["b"][:] = 0.3 * rng.standard_normal(4)
        grad_dense = rng.standard_normal((2, 3, 4))
        dense_y = dense.forward(x.copy() / 10)
        dense_grad_x = dense.backward(grad_dense.copy())
        W, b = rows(dense.params["W"]), vector(dense.params["b"])
        z = textbook.affine(rows(x.reshape(-1, 5) / 10), W, b)
        grad_z = [
            [g * derivative(v) for v, g in zip(r, gr, strict=True)]
            for r, gr in zip(z, rows(grad_dense.reshape(-1, 4)), strict=True)
        ]
        ref_grad_x, dW, db = textbook.dense_backward(rows(x.reshape(-1, 5) / 10), W, grad_z)
        return [
            compare("y", expected_y, y.reshape(-1, 5), tol, f"y = {name}(x)"),
            compare("grad_x", expected_grad, grad_x.reshape(-1, 5), tol, f"grad_x = grad_y·{name}'(x)"),
            compare("function(x, out)", expected_y, layer.function(x, out=np.empty_like(x)).reshape(-1, 5), tol, "f"),
            compare("gradient(x, grad_y)", expected_grad, layer.gradient(x, grad_y).reshape(-1, 5), tol, "from x"),
            compare("Dense y", [[f(v) for v in r] for r in z], dense_y.reshape(-1, 4), tol, f"{name}(x·W + b)"),
            compare("Dense grad_x", ref_grad_x, dense_grad_x.reshape(-1, 5), tol, f"(grad_y·{name}'(z))·Wᵀ"),
            compare("Dense W", dW, dense.grads["W"], tol, f"dW = Σ xᵀ·(grad_y·{name}'(z))"),
            compare("Dense b", db, dense.grads["b"], tol, f"db = Σ grad_y·{name}'(z)"),
        ]

    return check


def block_model(rng: np.random.Generator, causal: bool) -> GraphModel:
    """The pre-LN block on (T, E) = (3, 4) with 2 heads and F = 6, MSE, every parameter random."""
    x = Input((3, 4))
    model = GraphModel(x, transformer_block(x, 2, causal=causal, ffn_dim=6, rng=rng), MSE())
    for layer in model.layers:
        for name, value in layer.params.items():
            if isinstance(layer, LayerNorm):
                value[:] = (1.0 if name == "gamma" else 0.0) + 0.3 * rng.standard_normal(value.shape)
            else:
                value[:] = 0.5 * rng.standard_normal(value.shape) / math.sqrt(value.shape[0])
    return model


def block_reference(model: GraphModel, x: Matrix) -> Matrix:
    """The textbook block on one sequence: a = x + MHA(LN(x)); y = a + gelu(LN(a)·W1 + b1)·W2 + b2."""
    ln1, attention, _, ln2, hidden, out, _ = model.layers
    assert isinstance(attention, MultiHeadAttention) and isinstance(hidden, Dense) and isinstance(out, Dense)

    def norm(layer: object, rows_: Matrix) -> Matrix:
        assert isinstance(layer, LayerNorm)
        return layernorm(rows_, vector(layer.params["gamma"]), vector(layer.params["beta"]), LAYERNORM_EPS)[0]

    weights = {name: rows(value) for name, value in attention.params.items() if name.startswith("W")}
    biases = {name: vector(value) for name, value in attention.params.items() if name.startswith("b")}
    a = add(x, multi_head_attention(norm(ln1, x), weights, biases, attention.num_heads, attention.causal)[0])
    z = textbook.affine(norm(ln2, a), rows(hidden.params["W"]), vector(hidden.params["b"]))
    h = [[gelu(value) for value in row] for row in z]
    return add(a, textbook.affine(h, rows(out.params["W"]), vector(out.params["b"])))


def block_values(causal: bool) -> ValueCheck:
    """predict and compute_gradients' loss of the block against the textbook block, sequence by sequence."""

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        model = block_model(rng, causal)
        X, Y = rng.standard_normal((3, 3, 4)), rng.standard_normal((3, 3, 4))
        expected = [block_reference(model, sequence) for sequence in batch_rows(X)]
        flat = [row for sequence in expected for row in sequence]
        loss = textbook.mse(flat, rows(Y.reshape(-1, 4)))
        return [
            compare("predict", expected, model.predict(X), tol, "a = x + MHA(LN(x)); y = a + FFN(LN(a))"),
            compare("compute_gradients", loss, model.compute_gradients(X, Y), tol, "MSE of the textbook block"),
        ]

    return check


def block_gradients(causal: bool) -> Runner:
    """The whole block through ``compute_gradients``: dL/dX and every parameter of its seven nodes."""

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        model = block_model(rng, causal)
        X, Y = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
        return check_network(model, X, Y, seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run


def gpt_gradients(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
    """A one-block tiny GPT (V = 5, T = 4, E = 4, 2 heads, F = 6) on ids, CrossEntropy on every position."""
    model = tiny_gpt(5, 4, 4, 2, 1, ffn_dim=6, rng=rng)
    ids, labels = rng.integers(0, 5, (2, 4)), rng.integers(0, 5, (2, 4))
    return check_network(model, ids, labels, seed=seed_from(rng), tolerances=tol, sweep=sweep)


#: The contract of refnet's erf: within this relative error of ``math.erf`` everywhere.
ERF_RTOL = 1e-15


def erf_values(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
    """refnet's erf (GELU's Φ) against ``math.erf``, to 1e-15 relative, element by element: on [−7, 7], at the
    grid points of its Taylor series and halfway between them (where its series is longest), and near 0."""
    x = np.concatenate(
        [
            rng.uniform(-7.0, 7.0, 2000),
            np.arange(-200, 201) / 32,
            np.arange(-200, 200) / 32 + 1 / 64 - 1e-12,
            rng.standard_normal(200) * 1e-3,
            rng.standard_normal(50) * 1e-200,
        ]
    )
    expected = np.array([math.erf(value) for value in x])
    actual = erf(x)
    relative = np.abs(actual - expected) / np.maximum(np.abs(expected), np.finfo(np.float64).tiny)
    worst = int(np.argmax(relative))
    verdict: Verdict = "pass" if float(relative[worst]) <= ERF_RTOL else "fail"
    return [
        CheckResult(
            component="",
            tensor="erf(x)",
            index=f"x = {x[worst]!r}",
            analytic=float(expected[worst]),
            numerical=float(actual[worst]),
            abs_error=float(abs(actual[worst] - expected[worst])),
            rel_error=float(relative[worst]),
            tolerance=ERF_RTOL * abs(float(expected[worst])),
            verdict=verdict,
            method="reference",
            checked=int(x.size),
            message=f"refnet's erf against math.erf, within {ERF_RTOL:g} relative at every point",
        ),
        erf_float32(rng),
    ]


def erf_float32(rng: np.random.Generator) -> CheckResult:
    """float32 in, float32 out (GELU's Φ in a float32 network): within float32's rounding of ``math.erf``."""
    x = rng.uniform(-4.0, 4.0, 500).astype(np.float32)
    expected = np.array([math.erf(float(value)) for value in x])
    actual = erf(x)
    relative = np.abs(actual.astype(np.float64) - expected) / np.maximum(np.abs(expected), np.finfo(np.float32).tiny)
    worst = int(np.argmax(relative))
    tolerance = float(np.finfo(np.float32).eps)  # rounding to float32 costs at most half of it
    kept = actual.dtype == np.float32
    return CheckResult(
        component="",
        tensor="erf(x), x float32",
        index=f"x = {float(x[worst])!r}",
        analytic=float(expected[worst]),
        numerical=float(actual[worst]),
        abs_error=float(abs(float(actual[worst]) - expected[worst])),
        rel_error=float(relative[worst]),
        tolerance=tolerance * abs(float(expected[worst])),
        verdict="pass" if kept and float(relative[worst]) <= tolerance else "fail",
        method="reference",
        checked=int(x.size),
        message=f"float32 in gives float32 out (got {actual.dtype}), within float32's epsilon of math.erf",
    )


# -- gradients by central differences -----------------------------------------------------------


def gradients(make: Callable[[np.random.Generator], object], shape: tuple[int, ...], scale: float = 1.0) -> Runner:
    """check_layer of ``make(rng)`` at x of ``shape`` (standard normal times ``scale``)."""

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        layer = make(rng)
        x = scale * rng.standard_normal(shape)
        return check_layer(layer, x, seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run


def layernorm_gradients(shape: tuple[int, ...]) -> Runner:
    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        layer = layernorm_layer(rng, shape[-1])
        return check_layer(layer, layernorm_input(rng, shape), seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run


def positional_layer(rng: np.random.Generator) -> PositionalEmbedding:
    return PositionalEmbedding(6, 4, rng=rng)


def dense_sequences(make: Callable[[], Activation]) -> Runner:
    """Dense(4, 3, make()) with a random bias on x (2, 3, 4): differentiated at z, its input."""

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        layer = Dense(4, 3, make(), rng=rng)
        layer.params["b"][:] = 0.1 * rng.standard_normal(3)
        return check_layer(
            layer, 1.5 * rng.standard_normal((2, 3, 4)), seed=seed_from(rng), tolerances=tol, sweep=sweep
        )

    return run


def timed(check: ValueCheck) -> Runner:
    """A value check as a catalog runner (``references.runner``)."""
    return runner(check)


CHECKS: list[tuple[str, tuple[type, ...], Runner]] = [
    *(
        (
            f"MultiHeadAttention[{heads} head{'s' if heads > 1 else ''}{', causal' if causal else ''}]",
            (MultiHeadAttention,),
            gradients(partial(attention_layer, heads=heads, causal=causal, E=4), (2, 5, 4)),
        )
        for heads in (1, 2, 4)
        for causal in (False, True)
    ),
    *(
        (
            f"MultiHeadAttention[{heads} head{'s' if heads > 1 else ''}{', causal' if causal else ''}] reference",
            (MultiHeadAttention,),
            timed(attention_values(heads, causal)),
        )
        for heads in (1, 2, 4)
        for causal in (False, True)
    ),
    ("MultiHeadAttention[huge scores] reference", (), timed(huge_scores)),  # attention_forward, the layer's math
    ("LayerNorm[(N, D)]", (LayerNorm,), layernorm_gradients((5, 6))),
    ("LayerNorm[(N, T, D)]", (LayerNorm,), layernorm_gradients((2, 4, 6))),
    ("LayerNorm[(N, D)] reference", (LayerNorm,), timed(layernorm_values((5, 6)))),
    ("LayerNorm[(N, T, D)] reference", (LayerNorm,), timed(layernorm_values((2, 4, 6)))),
    ("PositionalEmbedding", (PositionalEmbedding,), gradients(positional_layer, (3, 5, 4))),  # T ≠ E
    ("PositionalEmbedding reference", (PositionalEmbedding,), timed(positional_values)),
    ("GELU", (GELU,), gradients(lambda rng: GELU(), (2, 3, 5), scale=2.0)),
    ("GELU[tanh]", (GELU,), gradients(lambda rng: GELU("tanh"), (2, 3, 5), scale=2.0)),
    ("SiLU", (SiLU,), gradients(lambda rng: SiLU(), (2, 3, 5), scale=2.0)),
    ("GELU reference", (GELU,), timed(elementwise_values(GELU, "gelu"))),
    ("GELU[erf] reference", (), timed(erf_values)),  # refnet.support.erf, which GELU calls
    ("GELU[tanh] reference", (GELU,), timed(elementwise_values(lambda: GELU("tanh"), "gelu_tanh"))),
    ("SiLU reference", (SiLU,), timed(elementwise_values(SiLU, "silu"))),
    ("Dense[gelu] on (N, T, D)", (Dense, GELU), dense_sequences(GELU)),
    ("Dense[gelu, tanh] on (N, T, D)", (Dense, GELU), dense_sequences(lambda: GELU("tanh"))),
    ("Dense[silu] on (N, T, D)", (Dense, SiLU), dense_sequences(SiLU)),
    ("TransformerBlock[pre-LN, causal, MSE]", (GraphModel, MultiHeadAttention, LayerNorm), block_gradients(True)),
    ("TransformerBlock[pre-LN, causal] reference", (GraphModel,), timed(block_values(True))),
    ("TinyGPT[1 block, CE on every position]", (GraphModel, PositionalEmbedding), gpt_gradients),
    ("TransformerBlock[pre-LN, not causal] reference", (GraphModel,), timed(block_values(False))),
]
