"""Fixtures shared by the test modules (pytest finds them here; plain helpers live in helpers.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import NetFactory

from refnet import MSE, Dense, NeuralNetwork


def _small_net(features: int = 1, outputs: int = 1, *, seed: int = 0, dtype: Any = np.float64) -> NeuralNetwork:
    """features → 32 tanh units → outputs, MSE: the same seed gives bitwise the same network."""
    hidden = Dense(features, 32, "tanh", seed=seed, dtype=dtype)
    return NeuralNetwork([hidden, Dense(32, outputs, seed=seed + 1, dtype=dtype)], MSE(), seed=seed + 2)


@pytest.fixture
def small_net() -> NetFactory:
    """A factory of small seeded regression networks: ``small_net()``, ``small_net(3, seed=1)``, ..."""
    return _small_net
