"""Defects found in review, each pinned by a test stating the property that now holds."""

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
    Dense,
    Dropout,
    NeuralNetwork,
    ReLU,
    ShapeError,
    Sigmoid,
    Softmax,
    Tanh,
    TerminateOnNaN,
    TrainingDivergedError,
)
from refnet.optimizers import Optimizer
from refnet.training import StepGuard, train_step


def linear_net() -> NeuralNetwork:
    return NeuralNetwork([Dense(3, 1, seed=0)], MSE(), seed=0)


def regression(n: int = 6) -> tuple[NDArray[Any], NDArray[Any]]:
    X = np.random.default_rng(0).standard_normal((n, 3))
    return X, X.sum(axis=1, keepdims=True)


# -- Dropout checks its input and grad_y ---------------------------------------------------


def test_dropout_on_integer_input_scales_by_one_over_keep_probability() -> None:
    # An integer mask used to scale by int(1 / 0.7) = 1, so E[y] was 0.7·x instead of x.
    y = Dropout(0.3, seed=0).forward(np.ones((400, 500), dtype=int))
    assert y.dtype == np.float64
    assert set(np.unique(y)) == {0.0, np.float64(1.0) / np.float64(0.7)}
    assert abs(y.mean() - 1.0) < 0.01


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_keeps_a_float_dtype_through_forward_and_backward(dtype: Any) -> None:
    layer = Dropout(0.5, seed=0)
    assert layer.forward(np.ones((4, 3), dtype=dtype)).dtype == dtype
    assert layer.backward(np.ones((4, 3), dtype=np.float64)).dtype == dtype


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(1, 3), (4, 1), (3, 4), (4, 3, 1)])
def test_dropout_backward_refuses_a_grad_y_of_another_shape(training: bool, shape: tuple[int, ...]) -> None:
    layer = Dropout(0.3, seed=0)
    layer.forward(np.ones((4, 3)), training=training)
    with pytest.raises(ShapeError, match=r"Dropout: grad_y must have shape \(4, 3\)"):
        layer.backward(np.ones(shape))


@pytest.mark.parametrize("x", [np.ones(3), np.float64(2.0), np.array([["a", "b"]])], ids=["1-D", "0-D", "str"])
def test_dropout_forward_refuses_a_non_batch(x: NDArray[Any]) -> None:
    with pytest.raises((ShapeError, TypeError), match="Dropout: x"):
        Dropout(0.3, seed=0).forward(x)


# -- empty batches -------------------------------------------------------------------------

LAYERS = {
    "Softmax": lambda: Softmax(),
    "ReLU": lambda: ReLU(),
    "Sigmoid": lambda: Sigmoid(),
    "Tanh": lambda: Tanh(),
    "Dropout": lambda: Dropout(0.3, seed=0),
    "Dense": lambda: Dense(2, 2, seed=0),
    "BatchNorm": lambda: BatchNorm(2),
}


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(0, 2), (2, 0), (0, 0)])
@pytest.mark.parametrize("name", LAYERS)
def test_layers_refuse_an_empty_batch_with_a_shape_error(name: str, shape: tuple[int, int], training: bool) -> None:
    with pytest.raises(ShapeError, match=rf"{name}: x (is empty|must have shape)"):
        LAYERS[name]().forward(np.ones(shape), training=training)


def test_batchnorm_one_row_message_says_one_row() -> None:
    with pytest.raises(ShapeError, match="at least 2 rows, got 1"):
        BatchNorm(2).forward(np.ones((1, 2)))


# -- train() arguments ---------------------------------------------------------------------


def test_train_accepts_callbacks_none_as_no_callbacks() -> None:
    X, Y = regression()
    history = linear_net().train(X, Y, 2, SGD(0.01), callbacks=None)
    assert history.epochs == [0, 1]


@pytest.mark.parametrize("verbose", [3, 7, -1])
def test_train_refuses_a_verbose_level_other_than_0_1_2(verbose: int) -> None:
    X, Y = regression()
    with pytest.raises(ValueError, match=rf"verbose must be 0 .*1 .*or 2 .*got {verbose}"):
        linear_net().train(X, Y, 1, SGD(0.01), verbose=verbose)


@pytest.mark.parametrize("verbose", ["x", 1.0, None])
def test_train_refuses_a_verbose_that_is_not_an_integer(verbose: Any) -> None:
    X, Y = regression()
    with pytest.raises(TypeError, match="verbose must be 0, 1 or 2"):
        linear_net().train(X, Y, 1, SGD(0.01), verbose=verbose)


@pytest.mark.parametrize("verbose", [False, True, 0, 2, np.int64(0)])
def test_train_accepts_verbose_0_1_2_and_bools(verbose: Any, capsys: pytest.CaptureFixture[str]) -> None:
    X, Y = regression()
    history = linear_net().train(X, Y, 2, SGD(0.01), verbose=verbose)
    assert len(history["loss"]) == 2
    printed = capsys.readouterr().out
    # 0 and False are silent; 1, True and 2 print a line per epoch (not a terminal here)
    assert ("epoch" in printed.lower()) is bool(verbose)


# -- set_arrays keys -----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["zz", "W", "x.W", "7.W", "-1.W", "0."])
def test_set_arrays_refuses_a_malformed_key_naming_it_and_the_expected_form(key: str) -> None:
    with pytest.raises(ValueError, match=rf"key '{key}' is not of the form 'index.name'"):
        linear_net().set_arrays({key: np.ones((3, 1))})


def test_set_arrays_round_trips_get_arrays() -> None:
    net, other = linear_net(), NeuralNetwork([Dense(3, 1, seed=5)], MSE())
    other.set_arrays(net.get_arrays())
    np.testing.assert_array_equal(other.layers[0].params["W"], net.layers[0].params["W"])


# -- optimizer state_arrays ----------------------------------------------------------------


@pytest.mark.parametrize("optimizer", [Adam(0.01), SGD(0.01, momentum=0.9)], ids=["Adam", "SGD momentum"])
def test_optimizer_state_arrays_are_copies_not_the_live_state(optimizer: Any) -> None:
    X, Y = regression()
    net = linear_net()
    net.train(X, Y, 1, optimizer)
    arrays = optimizer.state_arrays(net.layers)
    before = {key: value.copy() for key, value in arrays.items()}
    net.train(X, Y, 1, optimizer)
    for key, value in arrays.items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


# -- a training step that overflows is undone ------------------------------------------------


def overflowing_step_setup(dtype: Any) -> tuple[NeuralNetwork, NDArray[Any], NDArray[Any]]:
    """Finite loss and gradients (even their squares fit in the dtype), but a huge step overflows."""
    big = 1e9 if dtype == np.float32 else 1e50  # gradients ~ big², squares ~ big⁴ < the dtype's max
    X = np.full((8, 3), big, dtype=dtype)
    net = NeuralNetwork([Dense(3, 1, seed=0, dtype=dtype)], MSE(), seed=0)
    return net, X, np.zeros((8, 1), dtype=dtype)


# lr·g overflows for SGD; Adam's step is about lr, so its weight decay 1 − lr·wd overflows instead.
OVERFLOWING = {
    "SGD": lambda: SGD(1e260),
    "SGD momentum": lambda: SGD(1e260, momentum=0.9),
    "SGD nesterov": lambda: SGD(1e260, momentum=0.9, nesterov=True),
    "Adam": lambda: Adam(1e200, weight_decay=1e200),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", OVERFLOWING)
def test_an_overflowing_step_is_undone_parameters_and_optimizer_state_alike(name: str, dtype: Any) -> None:
    # pytest turns RuntimeWarnings into errors: the overflow must stay inside the guard.
    net, X, Y = overflowing_step_setup(dtype)
    optimizer = OVERFLOWING[name]()
    huge, optimizer.learning_rate = optimizer.learning_rate, 1e-300
    net.train(X, Y, 1, optimizer)  # the optimizer has state to restore (Adam's t, m, v; a velocity)
    optimizer.learning_rate = huge
    arrays, state = net.get_arrays(), optimizer.state_arrays(net.layers)
    assert state or name == "SGD"
    with pytest.raises(TrainingDivergedError, match="optimizer step would have made a parameter"):
        net.train(X, Y, 1, optimizer)
    for key, value in net.get_arrays().items():
        np.testing.assert_array_equal(value, arrays[key], err_msg=key)
    restored = optimizer.state_arrays(net.layers)
    assert restored.keys() == state.keys()
    for key, value in restored.items():
        np.testing.assert_array_equal(value, state[key], err_msg=key)


def test_an_overflowing_first_step_leaves_no_optimizer_state() -> None:
    net, X, Y = overflowing_step_setup(np.float32)
    optimizer = Adam(1e200, weight_decay=1e200)
    with pytest.raises(TrainingDivergedError, match="optimizer step"):
        net.train(X, Y, 1, optimizer)
    assert optimizer.state_arrays(net.layers) == {}
    assert all(np.isfinite(value).all() for value in net.get_arrays().values())


def test_terminate_on_nan_stops_quietly_on_an_overflowing_step() -> None:
    net, X, Y = overflowing_step_setup(np.float32)
    arrays = net.get_arrays()
    history = net.train(X, Y, 3, SGD(1e260), callbacks=[TerminateOnNaN()])
    assert history.stopped_reason == "non-finite loss"
    for key, value in net.get_arrays().items():
        np.testing.assert_array_equal(value, arrays[key], err_msg=key)


def guarded_steps(net: NeuralNetwork, optimizer: Optimizer, X: NDArray[Any], Y: NDArray[Any], steps: int) -> StepGuard:
    """``steps`` training steps on (X, Y) through one StepGuard, as ``train`` takes them; returns the guard."""
    X, target = net.core.prepare(X, Y)
    guard = StepGuard(net.layers, optimizer, net.dtype)
    for _ in range(steps):
        train_step(net, guard, X, target)
    return guard


@pytest.mark.parametrize("name", ["SGD", "SGD momentum", "Adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ordinary_training_never_copies_for_the_step_guard(name: str, dtype: Any) -> None:
    # The guard's snapshot is for steps near overflow only; the hot path must not pay for it.
    X, Y = regression(64)
    optimizer = {"SGD": SGD(0.01), "SGD momentum": SGD(0.01, momentum=0.9), "Adam": Adam(0.01)}[name]
    net = NeuralNetwork([Dense(3, 16, "relu", seed=0, dtype=dtype), Dense(16, 1, seed=1, dtype=dtype)], MSE())
    guard = guarded_steps(net, optimizer, X.astype(dtype), Y.astype(dtype), 40)
    assert guard.checked_steps == 0


def test_a_step_near_overflow_is_taken_from_a_snapshot() -> None:
    # The counter the test above reads does count: a step whose bound nears float32's max is checked.
    net, X, Y = _float32_line(perfect_fit=False)
    guard = guarded_steps(net, SGD(learning_rate=1e39), X, Y, 1)
    assert guard.checked_steps == 1


class AfterEachStep(Callback):
    """Copies of the parameters and the optimizer state after every successful step."""

    def __init__(self) -> None:
        super().__init__()
        self.params: dict[str, NDArray[Any]] = {}
        self.state: dict[str, NDArray[Any]] = {}

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        assert self.network is not None and self.optimizer is not None
        self.params = self.network.get_arrays()
        self.state = self.optimizer.state_arrays(self.network.layers)


@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    kind=st.sampled_from(["sgd", "momentum", "nesterov", "adam", "adamw"]),
    lr_exponent=st.floats(-3, 300),
    x_exponent=st.floats(-2, 30),
    seed=st.integers(0, 2**16),
)
def test_any_learning_rate_and_input_scale_train_finitely_or_stop_with_the_last_good_state(
    dtype: Any, kind: str, lr_exponent: float, x_exponent: float, seed: int
) -> None:
    # No RuntimeWarning may escape (pytest makes it an error), and nothing inf or NaN may remain.
    lr = 10.0**lr_exponent
    optimizer = {
        "sgd": lambda: SGD(lr),
        "momentum": lambda: SGD(lr, momentum=0.9),
        "nesterov": lambda: SGD(lr, momentum=0.5, nesterov=True),
        "adam": lambda: Adam(lr),
        "adamw": lambda: Adam(lr, weight_decay=0.1),
    }[kind]()
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((12, 3)) * 10.0**x_exponent).astype(dtype)
    net = NeuralNetwork([Dense(3, 4, "tanh", seed=seed, dtype=dtype), Dense(4, 1, seed=seed + 1, dtype=dtype)], MSE())
    snapshot = AfterEachStep()
    initial = net.get_arrays()
    try:
        net.train(X, X[:, :1], 3, optimizer, batch_size=4, callbacks=[snapshot])
    except TrainingDivergedError:
        # the last good state: after the last successful step, or the initial one if none succeeded
        expected_params = snapshot.params or initial
        for key, value in net.get_arrays().items():
            assert value.tobytes() == expected_params[key].tobytes(), key
        state = optimizer.state_arrays(net.layers)
        assert state.keys() == snapshot.state.keys()
        for key, value in state.items():
            assert value.tobytes() == snapshot.state[key].tobytes(), key
    for value in [*net.get_arrays().values(), *optimizer.state_arrays(net.layers).values()]:
        assert np.isfinite(value).all()


# -- second review: coefficients cast to float32, tiny epsilon, callbacks that write parameters --


def _float32_line(perfect_fit: bool) -> tuple[NeuralNetwork, NDArray[Any], NDArray[Any]]:
    rng = np.random.default_rng(0)
    X = (0.01 * rng.standard_normal((32, 3))).astype(np.float32)
    net = NeuralNetwork([Dense(3, 1, seed=0, dtype=np.float32)], MSE(), seed=0)
    return net, X, net.predict(X) if perfect_fit else np.zeros((32, 1), np.float32)


@pytest.mark.parametrize(
    "optimizer, perfect_fit",
    [(SGD(learning_rate=1e39), False), (SGD(learning_rate=1e39), True), (Adam(learning_rate=1e39), True)],
    ids=["sgd-lr-above-float32-max", "sgd-lr-above-float32-max-zero-gradient", "adam-lr-above-float32-max"],
)
def test_a_coefficient_that_overflows_in_float32_is_caught_not_applied(optimizer: Optimizer, perfect_fit: bool) -> None:
    # The gradients are small or zero, so lr·|g| looks harmless in Python floats; the
    # coefficient itself (lr) is what overflows once cast to float32 (and inf·0 is NaN).
    net, X, Y = _float32_line(perfect_fit)
    before = net.get_arrays()
    with pytest.raises(TrainingDivergedError, match="optimizer step would have made"):
        net.train(X, Y, epochs=1, optimizer=optimizer)
    after = net.get_arrays()
    assert all(np.array_equal(before[key], after[key]) for key in before)


# Only float32 can lose ε: a Python float > 0 is at least float64's smallest number.
@pytest.mark.parametrize("dtype, epsilon", [(np.float32, 1e-46)])
def test_an_epsilon_that_underflows_never_gives_0_over_0(dtype: type[np.floating[Any]], epsilon: float) -> None:
    # ε is 0 in the parameter dtype; a zero gradient would then step by m̂/(√v̂ + ε) = 0/0 = NaN.
    net = NeuralNetwork([Dense(3, 2, seed=0, dtype=dtype)], MSE(), seed=0)
    X = np.ones((4, 3), dtype)
    Y = net.predict(X)  # a perfect fit: every gradient is exactly 0
    before = net.get_arrays()
    with pytest.raises(TrainingDivergedError, match="optimizer step would have made"):
        net.train(X, Y, epochs=1, optimizer=Adam(epsilon=epsilon))
    assert all(np.array_equal(value, net.get_arrays()[key]) for key, value in before.items())


def test_parameters_written_by_a_callback_mid_epoch_are_guarded_too() -> None:
    class LoadHugeWeights(Callback):
        def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
            if batch == 0:
                assert self.network is not None
                arrays = self.network.get_arrays()
                arrays["0.W"] = np.full_like(arrays["0.W"], 2.0e38)
                self.network.set_arrays(arrays)

    net = NeuralNetwork([Dense(1, 1, activation="tanh", seed=0, dtype=np.float32)], MSE(), seed=0)
    X, Y = np.ones((8, 1), np.float32), np.zeros((8, 1), np.float32)
    with pytest.raises(TrainingDivergedError, match="batch 1"):
        net.train(
            X,
            Y,
            epochs=1,
            optimizer=Adam(learning_rate=1.0, weight_decay=3.0),
            batch_size=4,
            shuffle=False,
            callbacks=[LoadHugeWeights()],
        )
    assert np.all(np.isfinite(net.layers[0].params["W"]))
