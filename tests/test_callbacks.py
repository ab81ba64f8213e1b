"""Callbacks: hook order, EarlyStopping, LearningRateScheduler, ModelCheckpoint, TerminateOnNaN, clip_norm."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import NetFactory
from numpy.typing import NDArray

from refnet import (
    MSE,
    SGD,
    Adam,
    BatchNorm,
    Callback,
    CrossEntropy,
    Dense,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    NeuralNetwork,
    TerminateOnNaN,
    TrainingDivergedError,
    cosine_decay,
    exponential_decay,
    step_decay,
)
from refnet.callbacks import Logs


def regression(n: int = 40, seed: int = 0) -> tuple[NDArray[Any], NDArray[Any]]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 1))
    return X, np.sin(2 * X) + 0.3 * rng.normal(size=(n, 1))


class Recorder(Callback):
    """Records every hook call and a copy of the arrays at the end of every epoch."""

    def __init__(self, name: str = "recorder", calls: list[str] | None = None) -> None:
        super().__init__()
        self.name = name
        self.calls = calls if calls is not None else []
        self.snapshots: list[dict[str, NDArray[Any]]] = []
        self.batch_lrs: list[float] = []
        self.epoch_logs: list[Logs] = []

    def on_train_begin(self) -> None:
        self.calls.append(f"{self.name}:train_begin")

    def on_epoch_begin(self, epoch: int) -> None:
        self.calls.append(f"{self.name}:epoch_begin {epoch}")

    def on_batch_end(self, batch: int, logs: Logs) -> None:
        self.calls.append(f"{self.name}:batch_end {batch}")
        assert self.optimizer is not None
        self.batch_lrs.append(self.optimizer.learning_rate)

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        self.calls.append(f"{self.name}:epoch_end {epoch}")
        assert self.network is not None
        self.snapshots.append(self.network.get_arrays())
        self.epoch_logs.append(dict(logs))

    def on_train_end(self) -> None:
        self.calls.append(f"{self.name}:train_end")


class Scripted(Callback):
    """Puts a scripted value under ``key`` into the epoch logs (runs before the callbacks after it)."""

    def __init__(self, key: str, values: list[float]) -> None:
        super().__init__()
        self.key, self.values = key, values

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        logs[self.key] = self.values[epoch]


def assert_arrays_equal(a: dict[str, NDArray[Any]], b: dict[str, NDArray[Any]]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# -- hooks ---------------------------------------------------------------------------------


def test_hooks_are_called_in_the_documented_order(small_net: NetFactory) -> None:
    X, Y = regression(10)
    calls: list[str] = []
    first, second = Recorder("a", calls), Recorder("b", calls)
    small_net().train(X, Y, epochs=2, optimizer=SGD(0.01), batch_size=4, callbacks=[first, second])
    expected = ["a:train_begin", "b:train_begin"]
    for epoch in range(2):
        expected += [f"a:epoch_begin {epoch}", f"b:epoch_begin {epoch}"]
        for batch in range(3):  # 10 rows in batches of 4: 4, 4, 2
            expected += [f"a:batch_end {batch}", f"b:batch_end {batch}"]
        expected += [f"a:epoch_end {epoch}", f"b:epoch_end {epoch}"]
    expected += ["a:train_end", "b:train_end"]
    assert calls == expected


def test_callbacks_are_bound_to_the_network_and_optimizer_before_training(small_net: NetFactory) -> None:
    X, Y = regression(10)
    net, optimizer, recorder = small_net(), SGD(0.01), Recorder()
    net.train(X, Y, epochs=1, optimizer=optimizer, callbacks=[recorder])
    assert recorder.network is net and recorder.optimizer is optimizer


def test_history_records_what_callbacks_add_to_the_epoch_logs(small_net: NetFactory) -> None:
    X, Y = regression(10)
    history = small_net().train(X, Y, epochs=3, optimizer=SGD(0.01), callbacks=[Scripted("score", [3.0, 2.0, 1.0])])
    assert history["score"] == [3.0, 2.0, 1.0]
    assert history.epochs == [0, 1, 2]


def test_callbacks_must_be_callback_objects_in_a_list(small_net: NetFactory) -> None:
    X, Y = regression(10)
    with pytest.raises(TypeError, match="Callback"):
        small_net().train(X, Y, epochs=1, optimizer=SGD(0.01), callbacks=[print])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="list"):
        small_net().train(X, Y, epochs=1, optimizer=SGD(0.01), callbacks=EarlyStopping())  # type: ignore[arg-type]


# -- EarlyStopping -------------------------------------------------------------------------


def test_early_stopping_stops_after_patience_and_restores_the_best_epoch_exactly(small_net: NetFactory) -> None:
    X, Y = regression(10)
    recorder = Recorder()
    scores = [5.0, 4.0, 3.0, 3.5, 3.2, 4.0, 5.0, 1.0, 1.0, 1.0]
    stopper = EarlyStopping(monitor="score", patience=3)
    history = small_net().train(
        X, Y, epochs=10, optimizer=Adam(0.01), callbacks=[Scripted("score", scores), stopper, recorder]
    )
    assert stopper.best_epoch == 2 and stopper.best == 3.0
    assert stopper.stopped_epoch == 5  # epochs 3, 4, 5 did not improve on 3.0
    assert history.epochs == [0, 1, 2, 3, 4, 5]
    assert history.stopped_reason is not None and "early stopping" in history.stopped_reason
    assert recorder.network is not None
    assert_arrays_equal(recorder.network.get_arrays(), recorder.snapshots[2])


def test_early_stopping_on_a_real_validation_loss_restores_the_parameters_of_its_minimum() -> None:
    X, Y = regression(16, seed=0)
    Xv, Yv = regression(200, seed=1)
    net = NeuralNetwork([Dense(1, 64, "tanh", seed=0), Dense(64, 1, seed=1)], MSE(), seed=2)
    recorder, stopper = Recorder(), EarlyStopping(patience=5)
    history = net.train(X, Y, epochs=300, optimizer=Adam(0.03), validation_data=(Xv, Yv), callbacks=[stopper, recorder])
    best = int(np.argmin(history["val_loss"]))
    assert stopper.best_epoch == best
    assert len(history.epochs) == best + 6 < 300, "16 noisy points overfit: training stops early"
    assert_arrays_equal(net.get_arrays(), recorder.snapshots[best])
    assert net.evaluate(Xv, Yv)["loss"] == pytest.approx(min(history["val_loss"]), rel=1e-12)


def test_early_stopping_without_restore_keeps_the_last_parameters(small_net: NetFactory) -> None:
    X, Y = regression(10)
    recorder = Recorder()
    net = small_net()
    net.train(
        X,
        Y,
        epochs=10,
        optimizer=Adam(0.01),
        callbacks=[
            Scripted("score", [1.0, 2.0, 3.0] + [0.0] * 7),
            EarlyStopping("score", 1, restore_best_weights=False),
            recorder,
        ],
    )
    assert len(recorder.snapshots) == 2
    assert_arrays_equal(net.get_arrays(), recorder.snapshots[-1])


def test_early_stopping_mode_max_and_min_delta(small_net: NetFactory) -> None:
    X, Y = regression(10)
    stopper = EarlyStopping("val_accuracy", patience=2, min_delta=0.05)
    assert stopper.mode == "max"
    scores = [0.5, 0.53, 0.54, 0.9, 0.9, 0.9]  # +0.03 and +0.04 are below min_delta: no improvement
    small_net().train(X, Y, epochs=6, optimizer=SGD(0.01), callbacks=[Scripted("val_accuracy", scores), stopper])
    assert (stopper.best_epoch, stopper.best, stopper.stopped_epoch) == (0, 0.5, 2)


def test_early_stopping_with_a_missing_monitor_names_the_available_keys(small_net: NetFactory) -> None:
    X, Y = regression(10)
    with pytest.raises(ValueError, match=r"val_loss.*\['loss'\]"):
        small_net().train(X, Y, epochs=2, optimizer=SGD(0.01), callbacks=[EarlyStopping()])


# -- LearningRateScheduler -----------------------------------------------------------------

LR0 = 0.1
SCHEDULES = {
    "step": (step_decay(drop=0.5, every=2), lambda e: LR0 * 0.5 ** (e // 2)),
    "exponential": (exponential_decay(rate=0.9), lambda e: LR0 * 0.9**e),
    "cosine": (
        cosine_decay(epochs=4, min_lr=0.01),
        lambda e: 0.01 + (LR0 - 0.01) * (1 + math.cos(math.pi * min(e, 4) / 4)) / 2,
    ),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedules_set_the_learning_rate_of_every_epoch_as_documented(name: str, small_net: NetFactory) -> None:
    schedule, formula = SCHEDULES[name]
    X, Y = regression(12)
    recorder = Recorder()
    history = small_net().train(
        X, Y, epochs=6, optimizer=SGD(LR0), batch_size=4, callbacks=[LearningRateScheduler(schedule), recorder]
    )
    expected = [formula(epoch) for epoch in range(6)]
    assert recorder.batch_lrs == [lr for lr in expected for _ in range(3)]
    assert history["lr"] == expected


def test_the_built_in_schedules_take_their_documented_values() -> None:
    assert [step_decay(0.5, 3)(e, 1.0) for e in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    assert exponential_decay(0.5)(3, 2.0) == 0.25
    cosine = cosine_decay(10, min_lr=0.1)
    assert cosine(0, 1.0) == 1.0
    assert cosine(5, 1.0) == pytest.approx(0.55)
    assert cosine(10, 1.0) == pytest.approx(0.1) and cosine(50, 1.0) == pytest.approx(0.1)


def test_the_scheduled_learning_rate_is_the_one_the_optimizer_uses(small_net: NetFactory) -> None:
    X, Y = regression(12)
    recorder = Recorder()
    frozen = LearningRateScheduler(lambda epoch, lr0: lr0 if epoch == 0 else 0.0)
    small_net().train(X, Y, epochs=3, optimizer=SGD(0.1), callbacks=[frozen, recorder])
    assert not np.array_equal(recorder.snapshots[0]["0.W"], small_net().layers[0].params["W"])
    assert_arrays_equal(recorder.snapshots[0], recorder.snapshots[2])  # lr 0 from epoch 1 on


def test_scheduler_refuses_a_non_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        LearningRateScheduler(0.1)  # type: ignore[arg-type]


# -- ModelCheckpoint -----------------------------------------------------------------------


def test_checkpoint_file_holds_the_model_of_the_best_epoch(tmp_path: Path) -> None:
    X, Y = regression(16, seed=0)
    Xv, Yv = regression(100, seed=1)
    path = tmp_path / "best.npz"
    recorder, checkpoint = Recorder(), ModelCheckpoint(path)
    net = NeuralNetwork([Dense(1, 64, "tanh", seed=0), Dense(64, 1, seed=1)], MSE(), seed=2)
    history = net.train(
        X, Y, epochs=80, optimizer=Adam(0.03), validation_data=(Xv, Yv), callbacks=[checkpoint, recorder]
    )
    best = int(np.argmin(history["val_loss"]))
    assert best < 79, "the validation loss rose again, so the file is not simply the last model"
    running_min = np.minimum.accumulate(history["val_loss"])
    improving = [0] + [e for e in range(1, 80) if history["val_loss"][e] < running_min[e - 1]]
    assert checkpoint.saved_epochs == improving
    loaded = NeuralNetwork.load(path)
    assert_arrays_equal(loaded.get_arrays(), recorder.snapshots[best])
    assert loaded.evaluate(Xv, Yv)["loss"] == pytest.approx(history["val_loss"][best], rel=1e-12)


def test_checkpoint_can_save_every_epoch_with_the_optimizer(tmp_path: Path, small_net: NetFactory) -> None:
    X, Y = regression(10)
    path = tmp_path / "last.npz"
    checkpoint = ModelCheckpoint(path, save_best_only=False, include_optimizer=True)
    net = small_net()
    net.train(X, Y, epochs=3, optimizer=Adam(0.01), callbacks=[checkpoint])
    assert checkpoint.saved_epochs == [0, 1, 2]
    loaded = NeuralNetwork.load(path)
    assert isinstance(loaded.optimizer, Adam)
    assert_arrays_equal(loaded.get_arrays(), net.get_arrays())


def test_checkpoint_into_a_missing_folder_fails_before_training(tmp_path: Path, small_net: NetFactory) -> None:
    X, Y = regression(10)
    net = small_net()
    before = net.get_arrays()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        net.train(X, Y, epochs=2, optimizer=SGD(0.1), callbacks=[ModelCheckpoint(tmp_path / "no" / "m.npz")])
    assert_arrays_equal(net.get_arrays(), before)


# -- TerminateOnNaN and divergence ---------------------------------------------------------


def diverging() -> tuple[NeuralNetwork, NDArray[Any], NDArray[Any]]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 3)) * 100
    Y = rng.normal(size=(32, 1)) * 1e6
    net = NeuralNetwork(
        [Dense(3, 8, "relu", seed=0), BatchNorm(8), Dense(8, 8, "relu", seed=1), Dense(8, 1, seed=2)], MSE(), seed=3
    )
    return net, X, Y


def test_terminate_on_nan_stops_quietly_with_the_last_finite_parameters() -> None:
    net, X, Y = diverging()
    recorder = Recorder()
    history = net.train(X, Y, epochs=50, optimizer=SGD(0.5), batch_size=8, callbacks=[TerminateOnNaN(), recorder])
    assert history.stopped_reason == "non-finite loss"
    assert len(history.epochs) < 50
    assert "recorder:train_end" in recorder.calls
    assert all(np.isfinite(value).all() for value in net.get_arrays().values()), "BatchNorm statistics included"


def test_without_terminate_on_nan_divergence_raises_and_keeps_finite_parameters() -> None:
    net, X, Y = diverging()
    with pytest.raises(TrainingDivergedError) as caught:
        net.train(X, Y, epochs=50, optimizer=SGD(0.5), batch_size=8)
    assert caught.value.epoch < 50
    assert all(np.isfinite(value).all() for value in net.get_arrays().values())


# -- gradient clipping ---------------------------------------------------------------------


def test_clip_norm_scales_the_step_to_the_global_norm(small_net: NetFactory) -> None:
    X, Y = regression(20)
    Y = Y * 100  # a large gradient
    net, reference = small_net(), small_net()
    reference.compute_gradients(X, Y)
    gradient = {f"{i}.{k}": g.copy() for i, layer in enumerate(reference.layers) for k, g in layer.grads.items()}
    norm = math.sqrt(sum(float(np.sum(g * g)) for g in gradient.values()))
    assert norm > 1.0
    before = net.get_arrays()
    net.train(X, Y, epochs=1, optimizer=SGD(0.01, clip_norm=1.0), batch_size=None)  # one step, on the gradient above
    after = net.get_arrays()
    for key, g in gradient.items():  # θ ← θ − lr·g·(clip_norm / ‖g‖)
        np.testing.assert_allclose(before[key] - after[key], 0.01 * g / norm, rtol=1e-10, atol=1e-15)


def test_clip_norm_leaves_small_gradients_alone(small_net: NetFactory) -> None:
    X, Y = regression(20)
    clipped, plain = small_net(), small_net()
    clipped.train(X, Y, epochs=3, optimizer=SGD(0.01, clip_norm=1e6))
    plain.train(X, Y, epochs=3, optimizer=SGD(0.01))
    assert_arrays_equal(clipped.get_arrays(), plain.get_arrays())


def test_callbacks_see_accuracy_for_classification() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    labels = (X[:, 0] > 0).astype(int)
    recorder = Recorder()
    net = NeuralNetwork([Dense(2, 2, seed=0)], CrossEntropy(), seed=1)
    net.train(X, labels, epochs=2, optimizer=SGD(0.1), validation_data=(X, labels), callbacks=[recorder])
    assert set(recorder.epoch_logs[0]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
