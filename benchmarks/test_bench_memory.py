"""Peak traced memory of a training epoch against the theoretical need, epoch after epoch.

Theoretical need of one training step, in bytes of the parameter dtype:

    params + grads + optimizer state (Adam: m and v, 2 × params)
    + cached activations of one batch (the input batch and every layer's output)

The peak is what tracemalloc saw (NumPy reports its array buffers to it) while one epoch
ran, counting from before the network was built: parameters, gradients, optimizer state,
caches, work buffers and every temporary. The data set itself was allocated before
tracing started. Five epochs are traced one by one: flat peaks and a flat live size after
each epoch show that nothing accumulates: the test asserts it.
"""

from __future__ import annotations

import itertools
from typing import Any

import harness
import numpy as np
import pytest

from refnet import Adam

EPOCHS = 5
BATCHES_PER_EPOCH = 8
#: How much the peak or the live size may move between epochs 2 to 5 (the first allocates the
#: optimizer state and the work buffers): a few small Python objects, nothing that scales with the data.
FLAT_BYTES = 4096


def theoretical_bytes(widths: tuple[int, ...], batch: int, dtype: np.dtype[Any]) -> int:
    parameters = sum(n_in * n_out + n_out for n_in, n_out in itertools.pairwise(widths))
    activations = batch * sum(widths)  # input batch + the output of every layer
    return (4 * parameters + activations) * dtype.itemsize  # params, grads, Adam m and v


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mlp", ["medium", "large"])
def test_epoch_memory(benchmark: Any, mlp: str, dtype: str) -> None:
    widths, batch = harness.MLPS[mlp]
    X, y = harness.make_batch(widths, batch * BATCHES_PER_EPOCH, dtype)
    optimizer = Adam(learning_rate=1e-3)

    def epoch(net: Any) -> None:
        net.train(X, y, epochs=1, optimizer=optimizer, batch_size=batch)

    net, peaks, live = harness.traced_epochs(lambda: harness.make_mlp(widths, dtype), epoch, EPOCHS)
    need = theoretical_bytes(widths, batch, np.dtype(dtype))
    # Flat: after the first epoch, nothing accumulates from epoch to epoch.
    assert max(peaks[1:]) - min(peaks[1:]) <= FLAT_BYTES, peaks
    assert max(live[1:]) - min(live[1:]) <= FLAT_BYTES, live
    benchmark.group = "memory"
    # The time of one (untraced) epoch, so that the memory figures travel in the same JSON.
    benchmark.pedantic(lambda: epoch(net), rounds=harness.rounds(5))
    benchmark.extra_info.update({"mlp": mlp, "dtype": dtype, **harness.memory_info(need, peaks, live)})
