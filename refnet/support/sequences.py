"""Shape checks for layers that take (N, ..., D) arrays: LayerNorm, attention, positions (private).

Like ``check_layer_input``: only the shape is checked (no pass over the values) and the array is
cast to the layer's dtype; the network checks values once, at its boundary.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from refnet.errors import ShapeError
from refnet.support.checks import as_array, cast_finite


def check_last_axis(
    x: Any,
    width: int,
    dtype: np.dtype[Any],
    layer: object,
    *,
    name: str = "x",
    ndim: int | None = None,
    shape: tuple[int, ...] | None = None,
) -> NDArray[Any]:
    """``x`` as an array (N, ..., width) in ``dtype``: at least 2 axes (exactly ``ndim`` if given), of
    ``shape`` if given, none of them empty; a ``ShapeError`` naming the layer otherwise."""
    owner = type(layer).__name__
    if type(x) is not np.ndarray or x.dtype.kind not in "iuf":  # lists, subclasses, bad dtypes
        x = as_array(x, f"{owner}: {name}")
    if shape is not None and x.shape != shape:
        raise ShapeError(f"{owner}: {name} must have shape {shape}, got {x.shape}")
    if ndim is not None and x.ndim != ndim:
        layout = "(N, T, " + str(width) + ")" if ndim == 3 else f"{ndim} axes ending in {width}"
        raise ShapeError(f"{owner}: {name} must be {ndim}-D with shape {layout}, got shape {x.shape}")
    if x.ndim < 2 or x.shape[-1] != width:
        raise ShapeError(f"{owner}: {name} must have shape (N, ..., {width}), got {x.shape}")
    if x.size == 0:
        raise ShapeError(f"{owner}: {name} is empty: got shape {x.shape}")
    return x if x.dtype == dtype else cast_finite(x, dtype, f"{owner}: {name}")
