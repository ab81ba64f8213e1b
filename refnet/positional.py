"""A learned positional embedding: a table of one vector per position, added to the tokens' vectors.

Attention alone does not know the order of the tokens (permuting them permutes its output), so a
language model adds to token t's embedding a vector P_t that the network learns:

Forward, for x of shape (N, T, E):   y[n, t] = x[n, t] + P[t]         P: (max_length, E), T <= max_length
Backward, from grad_y (N, T, E):     grad_x = grad_y;   dP[t] = Σ_n grad_y[n, t] (t < T),  dP[t] = 0 (t >= T)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from refnet.base import Array, Layer, Shape
from refnet.errors import ShapeError
from refnet.support.checks import check_dtype, check_int, make_rng
from refnet.support.sequences import check_sequence_shape


class PositionalEmbedding(Layer):
    """y = x + P[:T] for sequences x (N, T, E); the table P (max_length, E) is learned.

    Args:
        max_length: the longest sequence the table covers (a longer one is a ValueError).
        embed_dim: E, the width of x.
        rng, seed: where the initial table comes from: P ~ N(0, 1), as PyTorch's nn.Embedding.
        dtype: float64 (default) or float32.
    """

    def __init__(
        self,
        max_length: int,
        embed_dim: int,
        *,
        rng: np.random.Generator | None = None,
        seed: int | None = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        self.max_length = check_int(max_length, "max_length")
        self.embed_dim = check_int(embed_dim, "embed_dim")
        resolved = check_dtype(dtype)
        generator = make_rng(rng, seed, "PositionalEmbedding")
        self.params = {"P": generator.standard_normal((self.max_length, self.embed_dim)).astype(resolved)}
        self.grads = {"P": np.zeros_like(self.params["P"])}
        self.remember_draw(rng, seed)  # a network seed redraws P if no rng or seed chose it (adopt_rng)
        self._shape: tuple[int, ...] | None = None

    @property
    def in_features(self) -> int:
        return self.embed_dim

    def output_shape(self, shape: Shape) -> Shape:
        """(T, E) -> (T, E), for T <= max_length."""
        check_sequence_shape(shape, self.embed_dim, self)
        self._check_length(shape[0])
        return shape

    def _check_length(self, T: int) -> None:
        if self.max_length < T:
            raise ShapeError(
                f"PositionalEmbedding: the sequences have {T} positions but the table covers max_length = "
                f"{self.max_length}: build it with max_length >= {T}, or cut the sequences"
            )

    def forward(self, x: Array, training: bool = True) -> Array:
        """y[n, t] = x[n, t] + P[t].  Shapes (N, T, E) -> (N, T, E)."""
        P = self.params["P"]
        T = x.shape[1]
        self._shape = x.shape
        return x + P[:T]

    def backward(self, grad_y: Array) -> Array:
        """grad_x = grad_y;  dP[t] = Σ_n grad_y[n, t] for t < T, 0 beyond.  Shapes (N, T, E) -> (N, T, E)."""
        assert self._shape is not None  # set by forward (the interface checks the order)
        T = self._shape[1]
        dP = self.grads["P"]
        grad_y.sum(axis=0, out=dP[:T])  # in place: the optimizer may hold views of grads
        dP[T:] = 0.0
        return grad_y

    def redraw(self, rng: np.random.Generator) -> None:
        """P drawn again from ``rng``: a network seed taking over."""
        P = self.params["P"]
        np.copyto(P, rng.standard_normal(P.shape).astype(P.dtype))

    @classmethod
    def array_shapes(cls, config: dict[str, Any]) -> tuple[dict[str, Shape], dict[str, Shape]]:
        """P: (max_length, embed_dim); no state."""
        T = check_int(config.get("max_length"), "max_length")
        E = check_int(config.get("embed_dim"), "embed_dim")
        return {"P": (T, E)}, {}

    def get_config(self) -> dict[str, Any]:
        return {"max_length": self.max_length, "embed_dim": self.embed_dim, "dtype": str(self.params["P"].dtype)}
