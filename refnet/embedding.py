"""Embedding: integer ids to rows of a learned table.

Forward, for integer ids of shape (N, ...) (each in 0 … V − 1):
    y = W[ids]                      W: (V, E), y: (N, ..., E)
i.e. y[n, …, :] = W[ids[n, …], :], a row lookup (the product of a one-hot row with W).

Backward, given grad_y = dL/dy of shape (N, ..., E):
    dW[v, :] = Σ over every position p with ids[p] = v of grad_y[p, :]        (V, E)
Rows of repeated ids ACCUMULATE: an id seen at three positions gets the sum of three rows.
``np.add.at`` adds at repeated indices; ``dW[ids] = grad_y`` (or ``+=``) would keep only one
of them: the classic overwrite bug, which gradcheck's repeated-ids check catches.
The ids are integers, not a function of any parameter: they have no gradient (backward returns None).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from refnet.base import Array, Layer, Shape
from refnet.errors import ShapeError
from refnet.support.checks import as_array, check_dtype, check_int, make_rng

__all__ = ["Embedding"]


class Embedding(Layer):
    """y = W[ids]: each integer id in 0 … num_embeddings − 1 picks a row of W.

    Args:
        num_embeddings: V, the number of ids (the vocabulary size).
        embedding_dim: E, the width of each row.
        rng, seed: where the initial W comes from (a Generator, or a seed for one).
        dtype: float64 (default) or float32; W, outputs and gradients keep it.

    W starts as N(0, 1) draws (PyTorch's ``nn.Embedding``). Ids must be an integer array: a float
    array is a TypeError even when it holds whole numbers, and −1 or an id >= num_embeddings a ValueError.
    """

    #: The network hands this layer integer ids as they are (no float cast): see ``check_ids``.
    takes_ids = True

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        *,
        rng: np.random.Generator | None = None,
        seed: int | None = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        self.num_embeddings = check_int(num_embeddings, "num_embeddings")
        self.embedding_dim = check_int(embedding_dim, "embedding_dim")
        resolved = check_dtype(dtype)
        W = self._initial_weights(make_rng(rng, seed, "Embedding"), resolved)
        self.params = {"W": W}
        self.grads = {"W": np.zeros_like(W)}
        self.remember_draw(rng, seed)  # a network seed redraws W if no rng or seed chose it (adopt_rng)
        self._ids: Array | None = None

    def _initial_weights(self, rng: np.random.Generator, dtype: np.dtype[Any]) -> Array:
        """W ~ N(0, 1), shape (num_embeddings, embedding_dim)."""
        return rng.standard_normal((self.num_embeddings, self.embedding_dim)).astype(dtype)

    # -- the math ---------------------------------------------------------------------------
    def forward(self, ids: Array, training: bool = True) -> Array:
        """y = W[ids].  Shapes: ids (N, ...) integers -> y (N, ..., E). Caches ids."""
        self._ids = ids
        return self.params["W"][ids]

    def backward(self, grad_y: Array) -> None:  # type: ignore[override]  # ids have no gradient
        """dW = 0;  dW[ids[p]] += grad_y[p] for every position p (repeated ids accumulate).

        Shapes: grad_y (N, ..., E) -> dW (V, E). Returns None: the ids have no gradient.
        """
        assert self._ids is not None  # set by forward (the interface checks the order)
        ids, dW = self._ids, self.grads["W"]
        dW.fill(0.0)  # in place: the optimizer may hold views of grads
        np.add.at(dW, ids, grad_y)
        return None

    # -- the boundary -----------------------------------------------------------------------
    def check_ids(self, ids: Any, name: str = "Embedding: ids") -> Array:
        """``ids`` as an integer array of shape (N, ...), every id in 0 … num_embeddings − 1, else raise.

        A float array is a TypeError even if its values are whole numbers (a float id is a bug
        upstream: a one-hot matrix, a normalized feature); a negative id (−1 is a padding value
        elsewhere, and NumPy would read it as the last row) or one >= num_embeddings a ValueError.
        """
        where = name
        array = as_array(ids, where)
        if array.dtype.kind not in "iu":
            raise TypeError(
                f"{where} must be an array of integer ids, got dtype {array.dtype} "
                "(convert whole-number floats with ids.astype(np.int64) if that is what they are)"
            )
        if array.ndim == 0 or array.shape[0] == 0:
            raise ShapeError(f"{where} must have shape (N, ...) with N >= 1, got shape {array.shape}")
        if array.size:
            low, high = int(array.min()), int(array.max())
            if low < 0 or high >= self.num_embeddings:
                bad = low if low < 0 else high
                at = tuple(int(i) for i in np.argwhere(array == bad)[0])
                raise ValueError(
                    f"{where} must lie in 0 … {self.num_embeddings - 1} (num_embeddings = {self.num_embeddings}), "
                    f"got {bad} at index {at}"
                )
        return array

    @property
    def in_features(self) -> None:
        """None: ids have no feature axis."""
        return None

    def output_features(self, in_features: int | None) -> int:
        """E, whatever comes in (the ids' last axis is not a feature axis)."""
        return self.embedding_dim

    def output_shape(self, shape: Shape) -> Shape:
        """Per sample: ids of shape (...) give (..., E)."""
        return (*shape, self.embedding_dim)

    # -- bookkeeping: a network seed taking over, copies, config ------------------------------
    def redraw(self, rng: np.random.Generator) -> None:
        """W drawn again from ``rng``: a network seed taking over."""
        W = self.params["W"]
        np.copyto(W, self._initial_weights(rng, W.dtype))

    def get_config(self) -> dict[str, Any]:
        return {
            "num_embeddings": self.num_embeddings,
            "embedding_dim": self.embedding_dim,
            "dtype": str(self.params["W"].dtype),
        }

    @classmethod
    def array_shapes(cls, config: dict[str, Any]) -> tuple[dict[str, Shape], dict[str, Shape]]:
        """W: (num_embeddings, embedding_dim); no state."""
        V = check_int(config.get("num_embeddings"), "num_embeddings")
        E = check_int(config.get("embedding_dim"), "embedding_dim")
        return {"W": (V, E)}, {}
