"""Optimizer updates alone against the memory-bandwidth bound measured in the same run.

An ideal fused update reads and writes every array once, per parameter element:

    SGD           read θ, g;        write θ      3 arrays
    SGD momentum  read θ, g, v;     write θ, v   5 arrays
    Adam          read θ, g, m, v;  write θ, m, v 7 arrays

The bound is np.copyto of that many bytes (half read, half written). The fraction of the
bound reached is bound time / update time (1.0 = as fast as a copy of the same bytes).
"""

from __future__ import annotations

from typing import Any

import harness
import numpy as np
import pytest

from refnet import SGD, Adam
from refnet.optimizers import Optimizer

UPDATES: dict[str, tuple[Any, int]] = {
    "sgd": (lambda: SGD(learning_rate=0.01), 3),
    "sgd_momentum": (lambda: SGD(learning_rate=0.01, momentum=0.9), 5),
    "adam": (lambda: Adam(learning_rate=1e-3), 7),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("update", list(UPDATES))
@pytest.mark.parametrize("mlp", ["medium", "large"])
def test_optimizer_update(benchmark: Any, mlp: str, update: str, dtype: str) -> None:
    widths, _ = harness.MLPS[mlp]
    net = harness.make_mlp(widths, dtype)
    rng = np.random.default_rng(2)
    for layer in net.layers:
        for grad in layer.grads.values():
            grad[...] = rng.standard_normal(grad.shape) * 1e-3
    factory, arrays_moved = UPDATES[update]
    optimizer: Optimizer = factory()
    parameters = net.parameter_count()
    nbytes = arrays_moved * parameters * np.dtype(dtype).itemsize
    benchmark.group = f"optimizer update {mlp}"
    info = harness.run(
        benchmark,
        lambda: optimizer.step(net.layers),
        harness.CopyBound(nbytes),
        n_rounds=25 if mlp == "large" else 100,
        bound_name="copy",
        nbytes=nbytes,
        mlp=mlp,
        update=update,
        dtype=dtype,
        parameters=parameters,
    )
    if info:
        info["fraction_of_bound"] = 1.0 / info["ratio_min"]
        benchmark.extra_info["fraction_of_bound"] = info["fraction_of_bound"]
        benchmark.extra_info["fraction_of_bound_median"] = 1.0 / info["ratio_median"]
