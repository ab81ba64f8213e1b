"""Weight initializers: He normal for the ReLU family, Glorot uniform otherwise (LeCun normal for SELU).

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


# -- the learner's toolkit (issue 22) -----------------------------------------------------------


def he_uniform(shape: tuple[int, int], rng: np.random.Generator, dtype: np.dtype[Any]) -> NDArray[Any]:
    """W ~ Uniform(-a, a) with a = sqrt(6 / fan_in): variance 2 / fan_in, as He normal (He et al., 2015)."""
    limit = np.sqrt(6.0 / shape[0])
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def glorot_normal(shape: tuple[int, int], rng: np.random.Generator, dtype: np.dtype[Any]) -> NDArray[Any]:
    """W ~ Normal(0, std²) with std = sqrt(2 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = shape
    return (rng.standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


def lecun_normal(shape: tuple[int, int], rng: np.random.Generator, dtype: np.dtype[Any]) -> NDArray[Any]:
    """W ~ Normal(0, std²) with std = sqrt(1 / fan_in) (LeCun et al., 1998; what SELU needs)."""
    return (rng.standard_normal(shape) * np.sqrt(1.0 / shape[0])).astype(dtype)


def orthogonal(shape: tuple[int, int], rng: np.random.Generator, dtype: np.dtype[Any]) -> NDArray[Any]:
    """A (semi-)orthogonal W (Saxe et al., 2014), as PyTorch's ``orthogonal_`` with gain 1:

    A ~ Normal(0, 1) of shape (max, min) of the two sides;  A = Q·R;  Q ← Q·sign(diag(R)) (a uniform
    draw over the orthogonal matrices);  W = Q, or Qᵀ when fan_in < fan_out. So WᵀW = I (fan_in >= fan_out)
    or W·Wᵀ = I (fan_in < fan_out).
    """
    rows, cols = shape
    A = rng.standard_normal((max(rows, cols), min(rows, cols)))
    Q, R = np.linalg.qr(A)
    Q *= np.sign(np.diag(R))
    return (Q if rows >= cols else Q.T).astype(dtype)


INITIALIZERS.update(
    {"he_uniform": he_uniform, "glorot_normal": glorot_normal, "lecun_normal": lecun_normal, "orthogonal": orthogonal}
)
