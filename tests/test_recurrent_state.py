"""Carried state: h_0 (c_0) given or left by the last batch (stateful), its gradient, truncated BPTT, bad state."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import refnet
from gradcheck.suite.catalog import CATALOG
from refnet import GRU, LSTM, RNN, ShapeError
from refnet.errors import CallOrderError
from refnet.recurrent import Recurrent

LAYERS = (RNN, LSTM, GRU)


def states(cls: type[Recurrent], rng: np.random.Generator, N: int, H: int) -> list[Any]:
    """A nonzero (h_0[, c_0]) for ``cls``, each (N, H)."""
    return [rng.uniform(-0.9, 0.9, (N, H)) for _ in cls.state_names]


def copy_of(layer: Recurrent, **options: Any) -> Recurrent:
    """A layer of the same class and sizes with ``layer``'s weights (and ``options`` changed)."""
    config = {**layer.get_config(), **options}
    twin = type(layer).from_config(config)
    assert isinstance(twin, Recurrent)
    for name, value in layer.params.items():
        twin.params[name][:] = value
    return twin


def test_the_carried_state_cases_are_in_the_catalog() -> None:
    names = {check.name for check in CATALOG}
    for cls in LAYERS:
        name = cls.__name__
        assert {f"{name}[T=1, h_0 ≠ 0]", f"{name}[T=5, h_0 ≠ 0, BPTT]", f"{name}[carried state] reference"} <= names


@pytest.mark.parametrize("cls", LAYERS)
def test_a_zero_initial_state_is_the_default(cls: type[Recurrent]) -> None:
    rng = np.random.default_rng(0)
    layer = cls(3, 4, seed=1)
    x = rng.standard_normal((2, 5, 3))
    default = layer.forward(x)
    layer.set_initial_state(*[np.zeros((2, 4)) for _ in cls.state_names])
    np.testing.assert_array_equal(layer.forward(x), default)
    layer.set_initial_state(*states(cls, rng, 2, 4))
    assert not np.allclose(layer.forward(x), default)
    layer.reset_state()
    np.testing.assert_array_equal(layer.forward(x), default)


def test_rnn_first_step_reads_h_0_through_W_h() -> None:
    layer = RNN(2, 3, seed=0)
    x, h_0 = np.array([[[0.3, -0.2]]]), np.array([[0.5, -0.4, 0.1]])
    layer.set_initial_state(h_0)
    p = layer.params
    np.testing.assert_allclose(layer.forward(x)[:, 0], np.tanh(x[:, 0] @ p["W_x"] + h_0 @ p["W_h"] + p["b"]))


def test_lstm_first_step_reads_c_0_through_the_forget_gate() -> None:
    layer = LSTM(2, 3, seed=0)
    x, h_0, c_0 = np.array([[[0.3, -0.2]]]), np.array([[0.5, -0.4, 0.1]]), np.array([[1.5, -2.0, 0.7]])
    layer.set_initial_state(h_0, c_0)
    layer.forward(x)
    p, H = layer.params, 3
    z = x[:, 0] @ p["W_x"] + h_0 @ p["W_h"] + p["b"]
    i, f, g = 1 / (1 + np.exp(-z[:, :H])), 1 / (1 + np.exp(-z[:, H : 2 * H])), np.tanh(z[:, 2 * H : 3 * H])
    np.testing.assert_allclose(layer.cell_states()[:, 0], f * c_0 + i * g, rtol=1e-12)


def test_rnn_initial_state_gradient_is_dz_through_W_h() -> None:
    rng = np.random.default_rng(1)
    layer = RNN(2, 3, seed=0)
    layer.set_initial_state(rng.standard_normal((4, 3)))
    y = layer.forward(rng.standard_normal((4, 1, 2)))
    grad_y = rng.standard_normal(y.shape)
    layer.backward(grad_y)
    (grad_h_0,) = layer.initial_state_gradient()
    expected = (grad_y[:, 0] * (1 - y[:, 0] ** 2)) @ layer.params["W_h"].T
    np.testing.assert_allclose(grad_h_0, expected, rtol=1e-12)


def test_lstm_cell_state_gradient_is_dc_times_the_forget_gate() -> None:
    rng = np.random.default_rng(2)
    layer = LSTM(2, 3, seed=0)
    h_0, c_0 = states(LSTM, rng, 4, 3)
    layer.set_initial_state(h_0, c_0)
    x = rng.standard_normal((4, 1, 2))
    layer.forward(x)
    grad_y = rng.standard_normal((4, 1, 3))
    layer.backward(grad_y)
    p, H = layer.params, 3
    z = x[:, 0] @ p["W_x"] + h_0 @ p["W_h"] + p["b"]
    f, o = 1 / (1 + np.exp(-z[:, H : 2 * H])), 1 / (1 + np.exp(-z[:, 3 * H :]))
    tanh_c = np.tanh(layer.cell_states()[:, 0])
    _, grad_c_0 = layer.initial_state_gradient()
    np.testing.assert_allclose(grad_c_0, grad_y[:, 0] * o * (1 - tanh_c**2) * f, rtol=1e-12)


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("return_sequences", [True, False])
def test_stateful_windows_continue_one_sequence(cls: type[Recurrent], return_sequences: bool) -> None:
    rng = np.random.default_rng(3)
    whole = cls(3, 4, seed=5)
    stateful = copy_of(whole, stateful=True, return_sequences=return_sequences)
    x = rng.standard_normal((2, 9, 3))
    h = whole.forward(x)
    first, second = stateful.forward(x[:, :4]), stateful.forward(x[:, 4:])
    if return_sequences:
        # x @ W_x is one matrix product over 9 steps there and two (4, 5) here: equal to rounding
        np.testing.assert_allclose(np.concatenate([first, second], axis=1), h, rtol=1e-12, atol=1e-14)
    else:
        np.testing.assert_allclose(first, h[:, 3], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(second, h[:, -1], rtol=1e-12, atol=1e-14)
    for carried, expected in zip(stateful.final_state(), whole.final_state(), strict=True):
        np.testing.assert_allclose(carried, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cls", LAYERS)
def test_a_carried_state_is_a_constant_to_the_next_windows_backward(cls: type[Recurrent]) -> None:
    """Truncated BPTT: window 2 after window 1 computes exactly what a layer started at window 1's final state does."""
    rng = np.random.default_rng(4)
    stateful = cls(3, 4, stateful=True, seed=6)
    x1, x2 = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 5, 3))
    grad_y = rng.standard_normal((2, 5, 4))
    stateful.forward(x1)
    carried = stateful.final_state()
    y = stateful.forward(x2)
    grad_x = stateful.backward(grad_y)
    fresh = copy_of(stateful, stateful=False)
    fresh.set_initial_state(*carried)
    np.testing.assert_array_equal(fresh.forward(x2), y)  # the same arithmetic: bitwise
    np.testing.assert_array_equal(fresh.backward(grad_y), grad_x)
    for name, value in stateful.grads.items():
        np.testing.assert_array_equal(fresh.grads[name], value)
    for mine, theirs in zip(stateful.initial_state_gradient(), fresh.initial_state_gradient(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    # Full BPTT over both windows sends window 2's gradient back into window 1: different weight gradients
    whole = copy_of(stateful, stateful=False)
    whole.forward(np.concatenate([x1, x2], axis=1))
    grad_whole = whole.backward(np.concatenate([np.zeros((2, 4, 4)), grad_y], axis=1))
    assert np.abs(grad_whole[:, :4]).max() > 1e-6
    assert not np.allclose(whole.grads["W_h"], stateful.grads["W_h"])


@pytest.mark.parametrize("cls", LAYERS)
def test_the_carried_state_is_a_copy(cls: type[Recurrent]) -> None:
    rng = np.random.default_rng(5)
    layer = cls(3, 4, stateful=True, seed=0)
    x = rng.standard_normal((2, 3, 3))
    layer.forward(x)
    assert layer.initial_state is not None
    kept = [state.copy() for state in layer.initial_state]
    layer.backward(rng.standard_normal((2, 3, 4)))
    for state, before in zip(layer.initial_state, kept, strict=True):
        np.testing.assert_array_equal(state, before)
    given = states(cls, rng, 2, 4)
    layer.set_initial_state(*given)
    first = layer.forward(x)
    for array in given:
        array[:] = 0.0  # the caller's arrays were copied
    layer.set_initial_state(*[rng.uniform(-0.9, 0.9, (2, 4)) for _ in cls.state_names])
    assert not np.allclose(layer.forward(x), first)


@pytest.mark.parametrize("cls", LAYERS)
def test_stateful_carries_in_evaluation_too_and_reset_starts_over(cls: type[Recurrent]) -> None:
    rng = np.random.default_rng(6)
    layer = cls(3, 4, stateful=True, seed=0)
    x = rng.standard_normal((2, 3, 3))
    first = layer.forward(x, training=False)
    second = layer.forward(x, training=False)
    assert not np.allclose(first, second)
    layer.reset_state()
    np.testing.assert_array_equal(layer.forward(x, training=False), first)


@pytest.mark.parametrize("cls", LAYERS)
def test_float32_carries_a_float32_state(cls: type[Recurrent]) -> None:
    layer = cls(3, 4, stateful=True, seed=0, dtype=np.float32)
    layer.forward(np.ones((2, 3, 3), dtype=np.float32))
    assert layer.initial_state is not None and all(state.dtype == np.float32 for state in layer.initial_state)
    layer.set_initial_state(*[np.full((2, 4), 0.5) for _ in cls.state_names])
    assert all(state.dtype == np.float32 for state in layer.initial_state)
    layer.backward(np.ones((2, 3, 4), dtype=np.float32))
    assert all(grad.dtype == np.float32 for grad in layer.initial_state_gradient())


# -- bad state at the boundary -------------------------------------------------------------------


@pytest.mark.parametrize("cls", LAYERS)
def test_a_batch_of_another_size_than_the_carried_state_is_a_shape_error(cls: type[Recurrent]) -> None:
    layer = cls(3, 4, stateful=True, seed=0)
    layer.forward(np.ones((4, 2, 3)))
    with pytest.raises(ShapeError, match=r"stateful=True\) carries the state of the last batch, 4 sequences.*has 3"):
        layer.forward(np.ones((3, 2, 3)))
    with pytest.raises(ShapeError, match="reset_state()"):
        layer.forward(np.ones((3, 2, 3)))
    layer.reset_state()
    assert layer.forward(np.ones((3, 2, 3))).shape == (3, 2, 4)


@pytest.mark.parametrize("cls", LAYERS)
def test_a_set_state_of_another_batch_size_than_x_is_a_shape_error(cls: type[Recurrent]) -> None:
    layer = cls(3, 4, seed=0)
    layer.set_initial_state(*[np.zeros((2, 4)) for _ in cls.state_names])
    with pytest.raises(ShapeError, match="set by set_initial_state has 2 rows, but x has 5 sequences"):
        layer.forward(np.ones((5, 2, 3)))


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("shape", [(2, 5), (4,), (1, 2, 4), (0, 4)])
def test_an_initial_state_of_the_wrong_shape_is_a_shape_error(cls: type[Recurrent], shape: tuple[int, ...]) -> None:
    layer = cls(3, 4, seed=0)
    with pytest.raises(ShapeError, match=r"initial state h must have shape \(N, 4\)") as error:
        layer.set_initial_state(*[np.zeros(shape) for _ in cls.state_names])
    assert str(error.value).endswith(f"got {shape}")
    assert layer.initial_state is None


def test_lstm_h_0_and_c_0_of_different_batch_sizes_are_a_shape_error() -> None:
    with pytest.raises(ShapeError, match="h_0 and c_0 must have one shape"):
        LSTM(3, 4).set_initial_state(np.zeros((2, 4)), np.zeros((3, 4)))


def test_lstm_c_0_of_the_wrong_width_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match=r"initial state c must have shape \(N, 4\)"):
        LSTM(3, 4).set_initial_state(np.zeros((2, 4)), np.zeros((2, 3)))


def test_lstm_needs_both_states_and_rnn_gru_only_h() -> None:
    with pytest.raises(TypeError, match="needs both h_0 and c_0"):
        LSTM(3, 4).set_initial_state(np.zeros((2, 4)))
    for cls in (RNN, GRU):
        with pytest.raises(TypeError, match="has no cell state"):
            cls(3, 4).set_initial_state(np.zeros((2, 4)), np.zeros((2, 4)))


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_a_non_finite_initial_state_is_refused(value: float) -> None:
    h = np.zeros((2, 4))
    h[1, 2] = value
    with pytest.raises(ValueError, match=r"initial state h contains 1 non-finite"):
        RNN(3, 4).set_initial_state(h)


def test_an_initial_state_that_is_not_numbers_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        RNN(3, 4).set_initial_state("zeros")


def test_integer_initial_states_are_taken_as_floats() -> None:
    layer = RNN(3, 4, seed=0)
    layer.set_initial_state(np.ones((2, 4), dtype=np.int64))
    assert layer.initial_state is not None and layer.initial_state[0].dtype == np.float64
    np.testing.assert_array_equal(layer.initial_state[0], np.ones((2, 4)))


def test_stateful_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="stateful must be True or False"):
        GRU(3, 4, stateful=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", LAYERS)
def test_state_and_its_gradient_before_forward_and_backward_are_call_order_errors(cls: type[Recurrent]) -> None:
    layer = cls(3, 4)
    with pytest.raises(CallOrderError, match="final_state called before forward"):
        layer.final_state()
    layer.forward(np.ones((2, 3, 3)))
    with pytest.raises(CallOrderError, match="initial_state_gradient called before backward"):
        layer.initial_state_gradient()


# -- config, saving, networks --------------------------------------------------------------------


@pytest.mark.parametrize("cls", LAYERS)
def test_stateful_is_saved_and_the_carried_state_is_not(cls: type[Recurrent], tmp_path: Any) -> None:
    rng = np.random.default_rng(7)
    net = refnet.NeuralNetwork([cls(3, 4, stateful=True, seed=0), refnet.Dense(4, 2, seed=1)], refnet.MSE())
    x = rng.standard_normal((2, 3, 3))
    from_zero = net.predict(x)
    net.predict(x)  # the layer now carries a state
    net.save(tmp_path / "model.npz")
    loaded = refnet.NeuralNetwork.load(tmp_path / "model.npz")
    layer = loaded.layers[0]
    assert isinstance(layer, cls) and layer.stateful and layer.initial_state is None
    assert "stateful=True" in repr(layer)
    np.testing.assert_array_equal(loaded.predict(x), from_zero)  # a loaded model starts from zeros
    assert not np.allclose(net.predict(x), from_zero)  # the original goes on from its state


def test_a_network_carries_the_state_from_batch_to_batch_in_training() -> None:
    """Row n of batch b + 1 continues row n of batch b: one epoch of two batches of 2, without shuffling."""
    rng = np.random.default_rng(8)
    net = refnet.NeuralNetwork([LSTM(3, 4, stateful=True, seed=0), refnet.Dense(4, 1, seed=1)], refnet.MSE())
    X, Y = rng.standard_normal((4, 3, 3)), rng.standard_normal((4, 3, 1))
    for layer in net.layers:
        layer.trainable = False  # the weights stay as they are: the state alone carries over
    net.train(X, Y, epochs=1, batch_size=2, shuffle=False, optimizer=refnet.SGD(), verbose=0)
    lstm = net.layers[0]
    assert isinstance(lstm, LSTM)
    whole = copy_of(lstm, stateful=False)
    whole.forward(np.concatenate([X[:2], X[2:]], axis=1))  # the two batches as one sequence of 6 steps per row
    for carried, expected in zip(lstm.final_state(), whole.final_state(), strict=True):
        np.testing.assert_allclose(carried, expected, rtol=1e-12, atol=1e-14)
    with pytest.raises(ShapeError, match="carries the state of the last batch, 2 sequences, but this batch has 1"):
        net.train(X[:3], Y[:3], epochs=1, batch_size=2, shuffle=False, verbose=0)
