"""Argument validation shared by the public entry points (private).

The math modules stay free of defensive clutter: the public methods call these once,
at the boundary, and raise an exception a learner can act on.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from refnet.errors import ShapeError
from refnet.support.numerics import all_finite

FloatArray = NDArray[np.floating[Any]]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_dtype(dtype: DTypeLike, name: str = "dtype") -> np.dtype[Any]:
    """Return ``np.dtype(dtype)`` if it is float32 or float64, else raise ``ValueError``."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from exc
    if resolved not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got {resolved}")
    return resolved


def as_array(value: Any, name: str) -> NDArray[Any]:
    """Turn ``value`` into a plain numeric ndarray or raise ``TypeError`` saying what it was.

    A masked array is refused: its mask says some entries are missing, and computing with
    the values underneath would silently use them. Other ndarray subclasses (``np.matrix``,
    whose ``*`` is a matrix product, ``np.memmap``) are viewed as plain ndarrays, so every
    formula behaves as written.
    """
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a masked array, and refnet cannot tell what its masked entries should be: "
            "fill them first (masked.filled(value)) or drop those rows"
        )
    if isinstance(value, np.ndarray):
        array = value if type(value) is np.ndarray else value.view(np.ndarray)
    else:
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as exc:  # ragged nested lists and the like
            raise TypeError(f"{name} must be a numeric array, got {type(value).__name__}: {exc}") from exc
    if array.dtype.kind == "c":
        raise TypeError(f"{name} must be real, got an array of dtype {array.dtype}")
    # Integers and floats only: bool, str, object, datetime and timedelta are refused.
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a numeric array, got an array of dtype {array.dtype}")
    return array


def cast_finite(array: NDArray[Any], dtype: np.dtype[Any], name: str) -> NDArray[Any]:
    """``array`` converted to ``dtype``, refusing values too large for it (e.g. 1e300 in float32).

    A finite value that overflows in the conversion is a ``ValueError`` instead of NumPy's
    overflow warning and a silent inf (values that were already inf or NaN stay as they are).
    """
    if array.dtype == dtype:
        return array
    with np.errstate(over="ignore"):
        converted = array.astype(dtype)
    overflowed = ~np.isfinite(converted) & np.isfinite(array)
    if overflowed.any():
        largest = np.abs(array[overflowed]).max()
        raise ValueError(
            f"{name} has values too large for {dtype} (largest magnitude {largest:g}, "
            f"limit {np.finfo(dtype).max:g}); rescale the data, e.g. standardize it"
        )
    return converted


def check_finite(array: NDArray[Any], name: str) -> None:
    """Raise ``ValueError`` naming the first non-finite entry of ``array``."""
    if np.issubdtype(array.dtype, np.integer):
        return
    if array.flags.c_contiguous and all_finite(array):  # the common case, without a boolean array as large as X
        return
    finite = np.isfinite(array)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        index = tuple(int(i) for i in bad)
        count = int(array.size - np.count_nonzero(finite))
        raise ValueError(
            f"{name} contains {count} non-finite value(s) (NaN or inf); the first is "
            f"{array[index]} at index {index}. Clean or impute the data before using it."
        )


def as_features(
    X: Any, name: str, dtype: np.dtype[Any], n_features: int | None, expected_by: str = "the network"
) -> FloatArray:
    """Validate a batch ``X`` of shape (N, n_features) and return it in ``dtype``.

    Integers are converted; float32 and float64 are converted to the network's dtype
    explicitly here, so no layer ever upcasts silently. ``expected_by`` names who fixes
    ``n_features`` in the error message (e.g. ``"layer 0 (Dense)"``).
    """
    array = as_array(X, name)
    if array.ndim != 2:
        hint = " (a single sample needs shape (1, features): use X.reshape(1, -1))" if array.ndim == 1 else ""
        raise ShapeError(f"{name} must be 2-D with shape (N, features), got shape {array.shape}{hint}")
    if array.shape[0] == 0:
        raise ShapeError(f"{name} is empty: got shape {array.shape}, need at least one row")
    if n_features is not None and array.shape[1] != n_features:
        raise ShapeError(
            f"{name} has {array.shape[1]} features (columns) but {expected_by} expects {n_features}: "
            f"got shape {array.shape}"
        )
    check_finite(array, name)
    return cast_finite(array, dtype, name)


def check_positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """Return ``float(value)`` if it is a finite number > 0 (or >= 0), else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    number = float(value)
    ok = number >= 0 if allow_zero else number > 0
    if not (np.isfinite(number) and ok):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return number


def check_unit_interval(value: Any, name: str) -> float:
    """Return ``float(value)`` if it lies in [0, 1), else raise ``ValueError``."""
    number = check_positive(value, name, allow_zero=True)
    if number >= 1.0:
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
    return number


def check_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an int >= ``minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def make_rng(rng: np.random.Generator | None, seed: int | None, owner: str) -> np.random.Generator:
    """The Generator a component draws from: ``rng`` if given, else one made from ``seed``.

    With neither, a fresh Generator seeded from the OS: never the global ``np.random`` state.
    """
    if rng is not None and seed is not None:
        raise ValueError(f"{owner}: pass either rng or seed, not both")
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"{owner}: rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    if seed is not None:
        check_int(seed, f"{owner}: seed", minimum=0)
    return np.random.default_rng(seed)


def as_batch(X: Any, name: str, dtype: np.dtype[Any]) -> FloatArray:
    """Validate a batch ``X`` of shape (N, ...) with N >= 1 and return it in ``dtype``.

    The values are checked here, once (finite, representable in ``dtype``); the shape beyond
    N is the layers' to check (``Layer.output_shape``), as the network does right after.
    """
    array = as_array(X, name)
    if array.ndim < 2:
        hint = " (a single sample needs shape (1, features): use X.reshape(1, -1))" if array.ndim == 1 else ""
        raise ShapeError(
            f"{name} must have a batch axis and a feature axis, (N, features), got shape {array.shape}{hint}"
        )
    if array.shape[0] == 0 or array.size == 0:
        raise ShapeError(f"{name} is empty: got shape {array.shape}, need at least one row and one feature")
    check_finite(array, name)
    return cast_finite(array, dtype, name)


def as_ids(X: Any, name: str, count: int) -> NDArray[np.intp]:
    """Validate integer ids of shape (N, ...) in [0, count) (an Embedding's input) and return them as intp.

    Only integer arrays are ids: a float array is a TypeError even when it holds whole numbers
    (a float input reaching an embedding is almost always a mistake upstream).
    """
    array = as_array(X, name)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integer ids (an int array), got an array of dtype {array.dtype}")
    if array.ndim < 1 or array.shape[0] == 0 or array.size == 0:
        raise ShapeError(f"{name} must be ids of shape (N, ...) with N >= 1, got shape {array.shape}")
    low, high = int(array.min()), int(array.max())
    if low < 0 or high >= count:
        bad = low if low < 0 else high
        raise ValueError(f"{name} holds id {bad}, out of range for {count} embeddings (valid ids: 0 to {count - 1})")
    return array.astype(np.intp, copy=False)
