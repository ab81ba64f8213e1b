"""Weight initializers: He normal for the ReLU family, Glorot uniform otherwise.

Each takes the weight shape (fan_in, fan_out), a Generator and a dtype, and draws from the
Generator only, so the same seed always gives the same weights.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

Initializer = Callable[[tuple[int, int], np.random.Generator, np.dtype[Any]], NDArray[Any]]


def he_normal(shape: tuple[int, int], rng: np.random.Generator, dtype: np.dtype[Any]) -> NDArray[Any]:
    """W ~ Normal(0, std²) with std = sqrt(2 / fan_in) (He et al., 2015)."""
    fan_in = shape[0]
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def glorot_uniform(shape: tuple[int, int], rng: np.random.Generator, dtype: np.dtype[Any]) -> NDArray[Any]:
    """W ~ Uniform(-a, a) with a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = shape
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


INITIALIZERS: dict[str, Initializer] = {"he_normal": he_normal, "glorot_uniform": glorot_uniform}
