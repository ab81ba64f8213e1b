"""Recurrent layers: one training step (forward, backward through time, Adam) against its floor.

LSTM, GRU and RNN at batch 32, T = 64, D = 64, H = 128, float32 and float64; the floor is the
step's matrix products timed in the same rounds (``recurrent_harness.RecurrentFloor``). The
issue's target for the LSTM: step <= 2x the floor. PyTorch's nn.LSTM/GRU/RNN peer rows are in
``test_bench_torch.py`` (``nox -s peers``).
"""

from __future__ import annotations

from typing import Any

import harness
import numpy as np
import pytest
import recurrent_harness as rh

ROUNDS = 15
#: The issue's target: an LSTM step within twice its matrix products.
FLOOR_TARGET = {"lstm": 2.0}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cell", list(rh.CELLS))
def test_recurrent_step(benchmark: Any, cell: str, dtype: str) -> None:
    setup = rh.step_setup(cell, dtype)
    floor = rh.RecurrentFloor(setup.layer.blocks, dtype)
    benchmark.group = f"recurrent {cell}"
    harness.run(
        benchmark,
        setup.step,
        floor,
        n_rounds=ROUNDS,
        bound_name="floor",
        cell=cell,
        dtype=dtype,
        shape=f"N={rh.N} T={rh.T} D={rh.D} H={rh.H}",
        floor_target=FLOOR_TARGET.get(cell),
    )
    assert all(value.dtype == np.dtype(dtype) for value in setup.layer.grads.values())
    assert np.isfinite(setup.layer.forward(setup.x)).all()
