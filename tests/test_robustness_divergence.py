"""Divergence: a non-finite loss stops training with TrainingDivergedError, losing nothing.

A callback snapshots the parameters and the optimizer state after every successful step
(``on_batch_end``); when training diverges, the network and its optimizer must equal the
last snapshot bit for bit, and the error must name the epoch and batch and suggest a
smaller learning rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from refnet import (
    MSE,
    SGD,
    Adam,
    BatchNorm,
    Callback,
    CrossEntropy,
    Dense,
    NeuralNetwork,
    NonFiniteError,
    Optimizer,
    TrainingDivergedError,
)


class Snapshot(Callback):
    """Copies of every parameter and optimizer slot after each successful batch."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch = -1
        self.position: tuple[int, int] | None = None
        self.params: dict[str, NDArray[Any]] = {}
        self.state: dict[str, NDArray[Any]] = {}

    def on_epoch_begin(self, epoch: int) -> None:
        self.epoch = epoch

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        assert self.network is not None and self.optimizer is not None
        self.position = (self.epoch, batch)
        self.params = self.network.get_arrays()
        self.state = optimizer_state(self.optimizer, self.network)


def optimizer_state(optimizer: Optimizer, network: NeuralNetwork) -> dict[str, NDArray[Any]]:
    return {key: np.copy(value) for key, value in optimizer.state_arrays(network.layers).items()}


def exploding_network() -> tuple[NeuralNetwork, NDArray[Any], NDArray[Any]]:
    rng = np.random.default_rng(0)
    net = NeuralNetwork([Dense(3, 8, seed=1), Dense(8, 1, seed=2)], MSE(), seed=3)
    X = rng.normal(scale=10.0, size=(64, 3))
    return net, X, X.sum(axis=1)


@pytest.mark.parametrize(
    "optimizer",
    [SGD(0.5, momentum=0.9), SGD(0.3, momentum=0.5, nesterov=True), Adam(1e100)],
    ids=["momentum", "nesterov", "adam"],
)
def test_divergence_raises_naming_epoch_and_batch_and_keeps_the_last_finite_state(optimizer: Optimizer) -> None:
    net, X, Y = exploding_network()
    snapshot = Snapshot()
    with pytest.raises(TrainingDivergedError, match=r"at epoch \d+, batch \d+.*smaller learning rate") as caught:
        net.train(X, Y, epochs=50, optimizer=optimizer, batch_size=16, callbacks=[snapshot])
    error = caught.value
    assert f"epoch {error.epoch}, batch {error.batch}" in str(error)
    assert snapshot.position is not None, "the test needs at least one good step before divergence"
    # The failing batch comes right after the last snapshot (in the same epoch or the next one's first).
    assert (error.epoch, error.batch) in {
        (snapshot.position[0], snapshot.position[1] + 1),
        (snapshot.position[0] + 1, 0),
    }

    arrays = net.get_arrays()
    assert arrays.keys() == snapshot.params.keys()
    for key, value in arrays.items():
        assert np.isfinite(value).all(), key
        assert value.tobytes() == snapshot.params[key].tobytes(), key
    state = optimizer_state(optimizer, net)
    assert state.keys() == snapshot.state.keys() and state
    for key, value in state.items():
        np.testing.assert_array_equal(value, snapshot.state[key], err_msg=key)


def test_divergence_is_also_a_value_error_and_the_model_still_predicts() -> None:
    net, X, Y = exploding_network()
    with pytest.raises(ValueError, match=r"training diverged: the loss became (inf|nan)"):
        net.train(X, Y, epochs=50, optimizer=SGD(0.5, momentum=0.9), batch_size=16)
    assert np.isfinite(net.predict(np.ones((2, 3)))).all()


def test_divergence_on_the_very_first_batch_leaves_the_initial_parameters() -> None:
    net = NeuralNetwork([Dense(2, 2, seed=0)], MSE())
    before = net.get_arrays()
    # Finite inputs whose squared error overflows float64 on the first forward.
    X = np.full((4, 2), 1e200)
    with pytest.raises(TrainingDivergedError, match=r"at epoch 0, batch 0") as caught:
        net.train(X, np.zeros((4, 2)), epochs=3, optimizer=SGD(0.1))
    assert (caught.value.epoch, caught.value.batch) == (0, 0)
    for key, value in net.get_arrays().items():
        np.testing.assert_array_equal(value, before[key])


@settings(max_examples=15, deadline=None)
@given(st.floats(1e1, 1e6), st.integers(0, 2**16), st.sampled_from([1, 5, 16]))
def test_any_huge_learning_rate_either_trains_finitely_or_diverges_cleanly(lr: float, seed: int, batch: int) -> None:
    rng = np.random.default_rng(seed)
    net = NeuralNetwork([Dense(4, 6, "tanh", seed=seed), Dense(6, 3, seed=seed + 1)], CrossEntropy(), seed=seed)
    X, labels = rng.normal(scale=5, size=(20, 4)), rng.integers(0, 3, size=20)
    snapshot = Snapshot()
    initial = net.get_arrays()
    try:
        history = net.train(
            X, labels, epochs=5, optimizer=SGD(lr, momentum=0.9), batch_size=batch, callbacks=[snapshot]
        )
    except TrainingDivergedError:
        # the parameters after the last successful step, or the initial ones if the first step failed
        expected = snapshot.params or initial
        for key, value in net.get_arrays().items():
            assert value.tobytes() == expected[key].tobytes(), key
    else:
        assert np.isfinite(history["loss"]).all()
    for value in net.get_arrays().values():
        assert np.isfinite(value).all()


def test_compute_gradients_reports_an_overflowing_loss_as_non_finite_error() -> None:
    net = NeuralNetwork([Dense(2, 1, seed=0)], MSE())
    with pytest.raises(NonFiniteError, match=r"the loss, a gradient .* is not finite.*largest magnitude 1e\+200"):
        net.compute_gradients(np.full((3, 2), 1e200), np.zeros(3))


def test_an_overflowing_forward_leaves_batchnorm_running_statistics_untouched() -> None:
    """The batch variance of 1e299-sized inputs overflows: refused, and the running statistics are restored."""
    net = NeuralNetwork([Dense(1, 2, seed=0), BatchNorm(2), Dense(2, 1, seed=1)], MSE())
    net.train(np.linspace(-1, 1, 8).reshape(-1, 1), np.zeros(8), epochs=2, optimizer=SGD(0.01), batch_size=4)
    before = net.get_arrays()
    X = np.array([[1e299], [-1e299]])
    with pytest.raises(NonFiniteError, match=r"running statistics"):
        net.compute_gradients(X, np.zeros(2))
    with pytest.raises(NonFiniteError, match=r"running statistics"):
        net.forward(X, training=True)
    for key, value in net.get_arrays().items():
        assert value.tobytes() == before[key].tobytes(), key
