"""The sequence components' textbook formulas in plain Python: floats, lists and ``math``, one element at a time.

The references ``gradcheck.suite.sequences`` compares refnet's Embedding, RNN, LSTM and GRU with. Written
from the formulas (SPEC section 6), not from refnet: no NumPy, no refnet import; the recurrences are
scalar loops over t = 1 … T, each unit's pre-activation summed term by term. A sequence is a list of
time steps, each a list of rows (so x[t][n][i]); a matrix is a list of rows. ``n`` counts samples, ``t``
time steps, ``i`` input features, ``j``/``k`` hidden units, ``v`` ids, ``e`` embedding columns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gradcheck.suite.textbook import Matrix, sigmoid

#: Integer ids of any shape, flattened: one id per position p.
Ids = Sequence[int]


def embedding(ids: Ids, W: Matrix) -> Matrix:
    """y_p = W[ids_p]: one row of W per position p (a copy)."""
    return [list(W[v]) for v in ids]


def embedding_backward(ids: Ids, grad_y: Matrix, rows: int) -> Matrix:
    """dW_ve = Σ_p [ids_p = v]·grad_y_pe: every position adds its row into its id's row (repeats accumulate)."""
    width = len(grad_y[0]) if grad_y else 0
    dW = [[0.0] * width for _ in range(rows)]
    for p, v in enumerate(ids):
        for e in range(width):
            dW[v][e] += grad_y[p][e]
    return dW


#: A batch of sequences, batch first: x[n][t][i].
Sequences = list[list[list[float]]]


def column(x: Sequence[float], W: Matrix, j: int) -> float:
    """Σ_i x_i·W_ij: one unit's share of x @ W, term by term."""
    return sum(x[i] * W[i][j] for i in range(len(x)))


#: An initial state, one row per sequence: h_0[n][j] (or c_0[n][j]); None means zeros.
State = Matrix | None


def start(state: State, sample: int, H: int) -> list[float]:
    """The initial state's row for ``sample``, or H zeros."""
    return [0.0] * H if state is None else list(state[sample])


def rnn(x: Sequences, W_x: Matrix, W_h: Matrix, b: Sequence[float], h_0: State = None) -> Sequences:
    """h[n][t] for t = 1 … T: h_t,j = tanh(b_j + Σ_i x_t,i·W_x,ij + Σ_k h_{t−1},k·W_h,kj), h_0 given or 0."""
    H = len(W_h)
    out = []
    for sample, sequence in enumerate(x):
        h, states = start(h_0, sample, H), []
        for x_t in sequence:
            h = [math.tanh(b[j] + column(x_t, W_x, j) + column(h, W_h, j)) for j in range(H)]
            states.append(h)
        out.append(states)
    return out


def lstm(
    x: Sequences, W_x: Matrix, W_h: Matrix, b: Sequence[float], h_0: State = None, c_0: State = None
) -> tuple[Sequences, Sequences]:
    """(h[n][t], c[n][t]) for t = 1 … T, unit by unit, gates in the order [i, f, g, o]:

    z_q = b_q + Σ_i x_t,i·W_x,iq + Σ_k h_{t−1},k·W_h,kq for q = 0 … 4H − 1;
    i_j = σ(z_j), f_j = σ(z_{H+j}), g_j = tanh(z_{2H+j}), o_j = σ(z_{3H+j});
    c_t,j = f_j·c_{t−1},j + i_j·g_j;  h_t,j = o_j·tanh(c_t,j);  h_0, c_0 given or 0.
    """
    H = len(W_h)
    hs, cs = [], []
    for sample, sequence in enumerate(x):
        h, c, h_states, c_states = start(h_0, sample, H), start(c_0, sample, H), [], []
        for x_t in sequence:
            z = [b[q] + column(x_t, W_x, q) + column(h, W_h, q) for q in range(4 * H)]
            c = [sigmoid(z[H + j]) * c[j] + sigmoid(z[j]) * math.tanh(z[2 * H + j]) for j in range(H)]
            h = [sigmoid(z[3 * H + j]) * math.tanh(c[j]) for j in range(H)]
            h_states.append(h)
            c_states.append(c)
        hs.append(h_states)
        cs.append(c_states)
    return hs, cs


def gru(
    x: Sequences, W_x: Matrix, W_h: Matrix, b_x: Sequence[float], b_h: Sequence[float], h_0: State = None
) -> Sequences:
    """h[n][t] for t = 1 … T, unit by unit, PyTorch's GRU with blocks [r, z, n]:

    a_q = b_x,q + Σ_i x_t,i·W_x,iq;  u_q = b_h,q + Σ_k h_{t−1},k·W_h,kq  for q = 0 … 3H − 1;
    r_j = σ(a_j + u_j), z_j = σ(a_{H+j} + u_{H+j}), n_j = tanh(a_{2H+j} + r_j·u_{2H+j});
    h_t,j = (1 − z_j)·n_j + z_j·h_{t−1},j;  h_0 given or 0.
    """
    H = len(W_h)
    out = []
    for sample, sequence in enumerate(x):
        h, states = start(h_0, sample, H), []
        for x_t in sequence:
            a = [b_x[q] + column(x_t, W_x, q) for q in range(3 * H)]
            u = [b_h[q] + column(h, W_h, q) for q in range(3 * H)]
            r = [sigmoid(a[j] + u[j]) for j in range(H)]
            z = [sigmoid(a[H + j] + u[H + j]) for j in range(H)]
            n = [math.tanh(a[2 * H + j] + r[j] * u[2 * H + j]) for j in range(H)]
            h = [(1.0 - z[j]) * n[j] + z[j] * h[j] for j in range(H)]
            states.append(h)
        out.append(states)
    return out
