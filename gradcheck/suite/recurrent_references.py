"""The sequence components' textbook formulas in plain Python: floats, lists and ``math``, one element at a time.

The references ``gradcheck.suite.sequences`` compares refnet's Embedding, RNN, LSTM and GRU with. Written
from the formulas (SPEC section 6), not from refnet: no NumPy, no refnet import; the recurrences are
scalar loops over t = 1 … T, each unit's pre-activation summed term by term. A sequence is a list of
time steps, each a list of rows (so x[t][n][i]); a matrix is a list of rows. ``n`` counts samples, ``t``
time steps, ``i`` input features, ``j``/``k`` hidden units, ``v`` ids, ``e`` embedding columns.
"""

from __future__ import annotations

from collections.abc import Sequence

from gradcheck.suite.textbook import Matrix

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
