"""Multi-head self-attention (Vaswani et al., 2017), forward and backward written by hand.

Shapes: N sequences of T tokens, E = embed_dim features, H heads of d = E/H features each.

Forward, for x of shape (N, T, E):
    Q = x @ W_q + b_q,  K = x @ W_k + b_k,  V = x @ W_v + b_v        (N, T, E)  W: (E, E), b: (E,)
    split heads: head h takes columns h·d … (h+1)·d − 1               (N, T, E) -> (N, H, T, d)
    S = Q_h @ K_hᵀ / √d + M                                           (N, H, T, T)  scores
        M = −∞ where query t may not see key s (s > t when causal), else 0
    A = softmax(S) over the keys s (each row minus its max first)     (N, H, T, T)  attention weights
    Z = A @ V_h                                                       (N, H, T, d)
    merge heads: Z -> concat_h Z_h                                    (N, H, T, d) -> (N, T, E)
    y = concat_h(Z_h) @ W_o + b_o                                     (N, T, E)

Backward, from grad_y (N, T, E):
    dW_o = Σ_{n,t} concat(Z)ᵀ grad_y,  db_o = Σ_{n,t} grad_y,  dZ = split(grad_y @ W_oᵀ)
    dA = dZ @ V_hᵀ,  dV_h = Aᵀ @ dZ                                   (N, H, T, T), (N, H, T, d)
    dS = A ⊙ (dA − rowsum(dA ⊙ A))      through the softmax, row by row (the Jacobian y_k(δ_kj − y_j))
    dQ_h = dS @ K_h / √d,  dK_h = dSᵀ @ Q_h / √d                        (N, H, T, d)
    merge dQ, dK, dV; then dW_q = Σ xᵀ dQ, db_q = Σ dQ (and K, V alike)
    grad_x = dQ @ W_qᵀ + dK @ W_kᵀ + dV @ W_vᵀ                          (x feeds all three)

A masked score is −∞, so its weight exp(−∞ − max) is exactly 0: the future never leaks into the
past, bitwise, and dS is 0 there too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from refnet.base import Array, Layer, Shape
from refnet.errors import ShapeError
from refnet.initializers import glorot_uniform
from refnet.support.checks import as_array, check_dtype, check_int, make_rng
from refnet.support.sequences import check_sequence_shape

__all__ = [
    "MultiHeadAttention",
    "attention_backward",
    "attention_forward",
    "causal_mask",
    "merge_heads",
    "split_heads",
]

WEIGHTS = ("W_q", "W_k", "W_v", "W_o")
BIASES = ("b_q", "b_k", "b_v", "b_o")


# -- the math: pure functions of arrays --------------------------------------------------------


def split_heads(X: Array, num_heads: int) -> Array:
    """(N, T, E) -> (N, H, T, d): head h takes the columns h·d … (h+1)·d − 1."""
    N, T, E = X.shape
    return X.reshape(N, T, num_heads, E // num_heads).transpose(0, 2, 1, 3)


def merge_heads(X: Array) -> Array:
    """(N, H, T, d) -> (N, T, E = H·d): concat_h X_h, the inverse of ``split_heads``."""
    N, H, T, d = X.shape
    return X.transpose(0, 2, 1, 3).reshape(N, T, H * d)


def causal_mask(T: int) -> Array:
    """(T, T) booleans: True where query t may see key s, that is s <= t (the lower triangle)."""
    return np.tril(np.ones((T, T), dtype=bool))


def attention_forward(Q: Array, K: Array, V: Array, allowed: Array | None = None) -> tuple[Array, Array]:
    """Scaled dot-product attention: (Z, A) with

    S = Q @ Kᵀ / √d (−∞ where ``allowed`` is False);  A = softmax(S) over the last axis;  Z = A @ V.
    Shapes: Q, K, V (N, H, T, d); allowed broadcasts to (N, H, T, T); A (N, H, T, T); Z (N, H, T, d).
    """
    d = Q.shape[-1]
    S = (Q @ K.swapaxes(-1, -2)) * Q.dtype.type(1.0 / np.sqrt(d))
    if allowed is not None:
        S = np.where(allowed, S, Q.dtype.type(-np.inf))
    S -= S.max(axis=-1, keepdims=True)  # the stable softmax: the largest exponent is 0
    A = np.exp(S, out=S)
    A /= A.sum(axis=-1, keepdims=True)
    return A @ V, A


def attention_backward(Q: Array, K: Array, V: Array, A: Array, grad_Z: Array) -> tuple[Array, Array, Array]:
    """(dQ, dK, dV) of Z = softmax(Q Kᵀ/√d + M) @ V, from grad_Z = dL/dZ:

    dA = grad_Z @ Vᵀ;  dV = Aᵀ @ grad_Z;  dS = A ⊙ (dA − rowsum(dA ⊙ A));
    dQ = dS @ K / √d;  dK = dSᵀ @ Q / √d.
    Shapes: Q, K, V, grad_Z, dQ, dK, dV (N, H, T, d); A, dA, dS (N, H, T, T).
    """
    d = Q.shape[-1]
    dA = grad_Z @ V.swapaxes(-1, -2)
    dV = A.swapaxes(-1, -2) @ grad_Z
    dS = A * (dA - (dA * A).sum(axis=-1, keepdims=True))
    dS *= Q.dtype.type(1.0 / np.sqrt(d))
    return dS @ K, dS.swapaxes(-1, -2) @ Q, dV


# -- the layer: parameters, caches, validation -------------------------------------------------


class MultiHeadAttention(Layer):
    """Self-attention on sequences x (N, T, E), with ``num_heads`` heads of E/num_heads features.

    Args:
        embed_dim: E, the width of x and of the output.
        num_heads: H; E must be divisible by H.
        causal: True to let token t attend only to tokens s <= t (a language model's mask).
        rng, seed: where the initial weights come from (Glorot uniform; biases zero).
        dtype: float64 (default) or float32.

    ``forward(x, training, mask)`` also takes a boolean ``mask`` of shape (T, T) or (N, T, T):
    True where query t may attend to key s (combined with the causal mask when causal).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        causal: bool = False,
        *,
        rng: np.random.Generator | None = None,
        seed: int | None = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        self.embed_dim = check_int(embed_dim, "embed_dim")
        self.num_heads = check_int(num_heads, "num_heads")
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"MultiHeadAttention: embed_dim ({self.embed_dim}) must be divisible by num_heads "
                f"({self.num_heads}): each head takes embed_dim/num_heads features"
            )
        if not isinstance(causal, bool):
            raise TypeError(f"causal must be True or False, got {type(causal).__name__}")
        self.causal = causal
        resolved = check_dtype(dtype)
        E = self.embed_dim
        generator = make_rng(rng, seed, "MultiHeadAttention")
        self.params = {name: glorot_uniform((E, E), generator, resolved) for name in WEIGHTS}
        self.params.update({name: np.zeros(E, dtype=resolved) for name in BIASES})
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        self.remember_draw(rng, seed)  # a network seed redraws the weights if no rng or seed chose them (adopt_rng)
        self._cache: tuple[Array, Array, Array, Array, Array, Array] | None = None

    @property
    def in_features(self) -> int:
        return self.embed_dim

    def output_shape(self, shape: Shape) -> Shape:
        """(T, E) -> (T, E): sequences only."""
        check_sequence_shape(shape, self.embed_dim, self)
        return shape

    def forward(self, x: Array, training: bool = True, mask: Array | None = None) -> Array:
        """y = concat_h(softmax(Q_h K_hᵀ/√d + M) V_h) @ W_o + b_o.  Shapes (N, T, E) -> (N, T, E)."""
        W_q, W_k, W_v, W_o = (self.params[name] for name in WEIGHTS)
        b_q, b_k, b_v, b_o = (self.params[name] for name in BIASES)
        allowed = self._allowed(mask, x.shape)
        N, T, E = x.shape
        rows = x.reshape(N * T, E)  # every token is a row of the projections
        Q = split_heads((rows @ W_q + b_q).reshape(N, T, E), self.num_heads)  # (N, H, T, d)
        K = split_heads((rows @ W_k + b_k).reshape(N, T, E), self.num_heads)
        V = split_heads((rows @ W_v + b_v).reshape(N, T, E), self.num_heads)
        Z, A = attention_forward(Q, K, V, allowed)  # (N, H, T, d), (N, H, T, T)
        Z_rows = merge_heads(Z).reshape(N * T, E)
        self._cache = (rows, Q, K, V, A, Z_rows)
        return (Z_rows @ W_o + b_o).reshape(N, T, E)

    def backward(self, grad_y: Array) -> Array:
        """dW_o = concat(Z)ᵀ grad_y;  dZ = grad_y W_oᵀ;  (dQ, dK, dV) through the attention;
        dW_q = xᵀ dQ, db_q = Σ dQ (K, V alike);  grad_x = dQ W_qᵀ + dK W_kᵀ + dV W_vᵀ.
        Shapes (N, T, E) -> (N, T, E)."""
        assert self._cache is not None  # set by forward (the interface checks the order)
        rows, Q, K, V, A, Z_rows = self._cache
        W_o = self.params["W_o"]
        N, H, T, d = Q.shape
        E = H * d
        grad_rows = grad_y.reshape(N * T, E)
        np.matmul(Z_rows.T, grad_rows, out=self.grads["W_o"])  # in place: the optimizer may hold views of grads
        grad_rows.sum(axis=0, out=self.grads["b_o"])
        grad_Z = split_heads((grad_rows @ W_o.T).reshape(N, T, E), H)  # (N, H, T, d)
        grad_x = None
        head_grads = attention_backward(Q, K, V, A, grad_Z)  # dQ, dK, dV: (N, H, T, d)
        for name, bias, head_grad in zip(WEIGHTS[:3], BIASES[:3], head_grads, strict=True):
            grad_projection = merge_heads(head_grad).reshape(N * T, E)  # dQ, dK, dV as (N·T, E)
            np.matmul(rows.T, grad_projection, out=self.grads[name])
            grad_projection.sum(axis=0, out=self.grads[bias])
            if self.input_grad_needed:
                term = grad_projection @ self.params[name].T
                grad_x = term if grad_x is None else grad_x + term
        if grad_x is None:
            return grad_y  # read by nobody (see Layer.backward_params)
        return grad_x.reshape(N, T, E)

    def _allowed(self, mask: Array | None, shape: tuple[int, ...]) -> Array | None:
        """The (1 or N, 1, T, T) booleans of the keys each query may see, or None for all of them."""
        N, T, _ = shape
        allowed = causal_mask(T) if self.causal else None
        if mask is not None:
            given = as_array(mask, "MultiHeadAttention: mask") if not isinstance(mask, np.ndarray) else mask
            if given.dtype != bool or given.shape not in ((T, T), (N, T, T)):
                raise ShapeError(
                    f"MultiHeadAttention: mask must be booleans of shape ({T}, {T}) or ({N}, {T}, {T}) for x of "
                    f"shape {shape} (True where query t may attend to key s), got {given.dtype} of shape {given.shape}"
                )
            allowed = given if allowed is None else given & allowed
        if allowed is None:
            return None
        if not allowed.any(axis=-1).all():
            raise ValueError("MultiHeadAttention: mask leaves a query with no key to attend to (a row of all False)")
        return allowed.reshape(-1, 1, T, T)

    # -- bookkeeping: a network seed taking over, saving ---------------------------------------
    def redraw(self, rng: np.random.Generator) -> None:
        """W_q, W_k, W_v, W_o drawn again from ``rng`` (the biases stay 0): a network seed taking over."""
        for name in WEIGHTS:
            W = self.params[name]
            np.copyto(W, glorot_uniform((W.shape[0], W.shape[1]), rng, W.dtype))

    @classmethod
    def array_shapes(cls, config: dict[str, Any]) -> tuple[dict[str, Shape], dict[str, Shape]]:
        """W_q, W_k, W_v, W_o: (embed_dim, embed_dim); b_q, b_k, b_v, b_o: (embed_dim,); no state."""
        E = check_int(config.get("embed_dim"), "embed_dim")
        return {**{name: (E, E) for name in WEIGHTS}, **{name: (E,) for name in BIASES}}, {}

    def get_config(self) -> dict[str, Any]:
        return {
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "causal": self.causal,
            "dtype": str(self.params["W_q"].dtype),
        }
