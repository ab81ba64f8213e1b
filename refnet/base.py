"""The Layer interface every refnet layer implements.

A layer maps a batch x of shape (N, in_features) to y of shape (N, out_features):

- ``forward(x, training=True) -> y`` caches what ``backward`` needs;
- ``backward(grad_y) -> grad_x`` fills ``grads`` (same keys and shapes as ``params``) and
  returns dL/dx. Calling it twice for the same forward gives the same result: gradients
  are overwritten, never accumulated;
- ``penalty()`` is the layer's regularization term, already part of the reported loss.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from refnet.errors import CallOrderError

Array = NDArray[Any]


class Layer:
    """Base class of all layers. Subclasses override ``forward`` and ``backward``."""

    def __init__(self) -> None:
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        #: Non-trainable arrays saved with the model (e.g. BatchNorm running statistics).
        self.state: dict[str, Array] = {}

    def forward(self, x: Array, training: bool = True) -> Array:
        """y = f(x); caches what backward needs. Shapes (N, in) -> (N, out)."""
        raise NotImplementedError

    def backward(self, grad_y: Array) -> Array:
        """grad_x = dL/dx from grad_y = dL/dy; fills ``grads``. Shapes (N, out) -> (N, in)."""
        raise NotImplementedError

    def penalty(self) -> float:
        """The regularization penalty this layer adds to the loss (0.0 when none)."""
        return 0.0

    @property
    def in_features(self) -> int | None:
        """Number of input features, or None for layers that accept any width."""
        return None

    def output_features(self, in_features: int) -> int:
        """Number of output features for ``in_features`` inputs (same width by default)."""
        return in_features

    @property
    def dtype(self) -> np.dtype[Any] | None:
        """The dtype of the parameters, or None for a layer without parameters."""
        for value in self.params.values():
            return value.dtype
        return None

    def get_config(self) -> dict[str, Any]:
        """Hyper-parameters that rebuild this layer with ``from_config`` (JSON-serializable)."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """Rebuild a layer from ``get_config()``; parameters are loaded separately."""
        return cls(**config)

    def parameter_count(self) -> int:
        """Total number of trainable scalars."""
        return sum(int(value.size) for value in self.params.values())

    def _require_forward(self, cached: object) -> None:
        if cached is None:
            raise CallOrderError(f"{type(self).__name__}.backward called before forward: call forward(x) first")

    def __call__(self, node: Any) -> Any:
        """Apply this layer to a graph node: ``h = Dense(64, 32)(x)`` (see ``refnet.graph``)."""
        from refnet.graph import apply

        return apply(self, (node,))

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({args})"
