"""A whole training step (forward + loss + backward + update) against the floor.

Three MLPs (small 64-32-10 at batch 32, medium 784-256-128-10 at 128, large
1024-1024-1024-10 at 256), float32 and float64, SGD and Adam. The yardstick is the
*floor* (``harness.Floor``), timed in the same rounds: the minimal GEMMs of the step
(``X@W`` and ``Xᵀ@G`` for every layer, ``G@Wᵀ`` for every layer but the first, whose
input gradient nobody reads) plus a copy of the bytes the update cannot avoid moving
(SGD: θ, g read and θ written; Adam: θ, g, m, v read and θ, m, v written). No NumPy
implementation of the same step does less work; the element-wise work, the loss and the
Python overhead come on top.

Two paths are timed:

- ``core``: ``refnet.training.train_step`` -- exactly what ``train`` runs for every batch:
  forward, loss, backward, the inf/NaN check of the loss and gradients, and the guarded
  optimizer step. ``train`` validates X and Y once per call, not per batch, so its batches
  skip ``compute_gradients``' input checks; this is the number the targets refer to.
- ``public``: ``net.compute_gradients(X, y)`` + ``optimizer.step(net.layers)``, the public
  per-batch API: it also validates X (an isfinite pass), turns labels into one-hot rows,
  and checks the loss and gradients for inf/NaN. Its extra cost is the validation overhead.
"""

from __future__ import annotations

from typing import Any

import harness
import numpy as np
import pytest

from refnet.training import train_step

ROUNDS = {"small": 100, "medium": 40, "large": 15}
#: Consecutive steps timed as one block (see harness.run): the small MLP's step is short enough for caches to matter.
REPEAT = {"small": 20, "medium": 3, "large": 1}


@pytest.mark.parametrize("path", ["core", "public"])
@pytest.mark.parametrize("optimizer_name", list(harness.OPTIMIZERS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mlp", list(harness.MLPS))
def test_training_step(benchmark: Any, mlp: str, dtype: str, optimizer_name: str, path: str) -> None:
    widths, batch = harness.MLPS[mlp]
    setup = harness.step_setup(mlp, dtype, optimizer_name)
    net, X, y, target, optimizer, guard = setup.net, setup.X, setup.y, setup.target, setup.optimizer, setup.guard

    def core_step() -> None:
        assert train_step(net, guard, X, target)[2] is None

    def public_step() -> None:
        net.compute_gradients(X, y)
        optimizer.step(net.layers)

    shapes = harness.layer_shapes(widths, batch)
    benchmark.group = f"training step {mlp}"
    harness.run(
        benchmark,
        core_step if path == "core" else public_step,
        harness.Floor(widths, batch, dtype, optimizer_name),
        n_rounds=ROUNDS[mlp],
        repeat=REPEAT[mlp],
        bound_name="floor",
        flops=harness.floor_flops(shapes),
        samples=batch,
        mlp=mlp,
        dtype=dtype,
        optimizer=optimizer_name,
        path=path,
        parameters=net.parameter_count(),
    )
    for layer in net.layers:  # the step keeps the dtype: no silent float64 upcast
        for array in (*layer.params.values(), *layer.grads.values()):
            assert array.dtype == np.dtype(dtype)
