"""RNN, LSTM, GRU: the step formulas from h_0 = 0, return_sequences, init, float32, the (N, T, D) boundary."""

from __future__ import annotations

import math
import pickle
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refnet
from gradcheck.suite.catalog import CATALOG
from refnet import GRU, LSTM, RNN, ShapeError
from refnet.errors import CallOrderError
from refnet.functions import Sigmoid
from refnet.recurrent import Recurrent, sigmoid

LAYERS = (RNN, LSTM, GRU)
BLOCKS = {RNN: 1, LSTM: 4, GRU: 3}


def sig(z: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def test_the_recurrent_layers_are_public_and_in_the_catalog() -> None:
    names = {check.name for check in CATALOG}
    for cls in LAYERS:
        assert cls.__name__ in refnet.__all__ and getattr(refnet, cls.__name__) is cls
        assert {f"{cls.__name__}[T=1, D=3→H=4]", f"{cls.__name__}[T=5, D=3→H=4, BPTT]"} <= names
        assert {f"{cls.__name__}[T=5, return_sequences=False]", f"{cls.__name__} reference"} <= names


@pytest.mark.parametrize("cls", LAYERS)
def test_parameter_layouts_are_the_contracts(cls: type[Recurrent]) -> None:
    k = BLOCKS[cls]
    layer = cls(3, 5, seed=0)
    shapes = {name: value.shape for name, value in layer.params.items()}
    biases = {"b_x": (3 * 5,), "b_h": (3 * 5,)} if cls is GRU else {"b": (k * 5,)}
    assert shapes == {"W_x": (3, k * 5), "W_h": (5, k * 5), **biases}
    assert {name: value.shape for name, value in layer.grads.items()} == shapes
    assert cls.array_shapes(layer.get_config()) == (shapes, {})


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("return_sequences", [True, False])
def test_output_shapes(cls: type[Recurrent], return_sequences: bool) -> None:
    layer = cls(3, 5, return_sequences, seed=0)
    y = layer.forward(np.zeros((2, 7, 3)))
    assert y.shape == ((2, 7, 5) if return_sequences else (2, 5))
    assert layer.output_shape((7, 3)) == ((7, 5) if return_sequences else (5,))
    assert layer.in_features == 3 and layer.output_features(3) == 5
    grad_x = layer.backward(np.ones_like(y))
    assert grad_x.shape == (2, 7, 3)


def test_rnn_one_step_from_the_zero_state_is_tanh_of_the_input_projection() -> None:
    layer = RNN(2, 3, seed=1)
    x = np.array([[[0.5, -1.0]]])
    expected = np.tanh(x[0, 0] @ layer.params["W_x"] + layer.params["b"])
    np.testing.assert_allclose(layer.forward(x)[0, 0], expected, rtol=1e-14)


def test_rnn_second_step_feeds_h_back_through_W_h() -> None:
    layer = RNN(2, 3, seed=1)
    W_x, W_h, b = layer.params["W_x"], layer.params["W_h"], layer.params["b"]
    x = np.array([[[0.5, -1.0], [2.0, 0.25]]])
    h1 = np.tanh(x[0, 0] @ W_x + b)
    h2 = np.tanh(x[0, 1] @ W_x + h1 @ W_h + b)
    np.testing.assert_allclose(layer.forward(x)[0], [h1, h2], rtol=1e-13)


def test_lstm_one_step_from_zero_state_ignores_the_forget_gate() -> None:
    """c_0 = 0: c_1 = i·g and h_1 = o·tanh(i·g), whatever f is."""
    layer = LSTM(1, 2, seed=2)
    layer.params["W_x"][:] = 0.0
    b = np.array([0.3, -0.2, 5.0, 5.0, 1.5, -0.7, 0.4, 0.9])  # [i | f | g | o], H = 2
    layer.params["b"][:] = b
    i, g, o = sig(b[0:2]), np.tanh(b[4:6]), sig(b[6:8])
    y = layer.forward(np.zeros((1, 1, 1)))
    np.testing.assert_allclose(y[0, 0], o * np.tanh(i * g), rtol=1e-14)
    np.testing.assert_allclose(layer.cell_states()[0, 0], i * g, rtol=1e-14)


def test_lstm_forget_gate_carries_the_cell_state() -> None:
    """With i = 0 (b_i → −∞) and f = 1 (b_f → +∞), c_t stays c_1; with f = 0 it is reset each step."""
    layer = LSTM(1, 1, seed=3)
    layer.params["W_x"][:] = 0.0
    layer.params["W_h"][:] = 0.0
    layer.params["b"][:] = [60.0, 60.0, 0.5, 60.0]  # i = f = o = 1, g = tanh(0.5)
    layer.forward(np.zeros((1, 3, 1)))
    np.testing.assert_allclose(layer.cell_states()[0, :, 0], [np.tanh(0.5) * k for k in (1, 2, 3)], rtol=1e-14)
    layer.params["b"][1] = -60.0  # f = 0: no memory
    layer.forward(np.zeros((1, 3, 1)))
    np.testing.assert_allclose(layer.cell_states()[0, :, 0], [np.tanh(0.5)] * 3, rtol=1e-14)


def test_gru_one_step_from_zero_state() -> None:
    """h_0 = 0: u = b_h, so h_1 = (1 − z)·tanh(a_n + r·b_h,n) with r, z from a + b_h."""
    layer = GRU(2, 2, seed=4)
    x = np.array([[[0.7, -0.3]]])
    a = x[0, 0] @ layer.params["W_x"] + layer.params["b_x"]
    u = layer.params["b_h"]
    r, z = sig(a[0:2] + u[0:2]), sig(a[2:4] + u[2:4])
    n = np.tanh(a[4:6] + r * u[4:6])
    np.testing.assert_allclose(layer.forward(x)[0, 0], (1 - z) * n, rtol=1e-14)


def test_gru_update_gate_one_keeps_the_previous_state() -> None:
    layer = GRU(1, 1, seed=5)
    layer.params["b_x"][:] = [0.0, 60.0, 0.0]  # z = 1 from the second step on: h_t = h_{t−1}
    layer.params["W_x"][:] = [[0.0, 0.0, 3.0]]
    y = layer.forward(np.array([[[1.0], [-2.0], [5.0]]]))
    assert y[0, 0, 0] == 0.0  # (1 − z)·n with z = 1 exactly, h_0 = 0
    np.testing.assert_array_equal(y[0, :, 0], [0.0, 0.0, 0.0])


@pytest.mark.parametrize("cls", LAYERS)
def test_return_sequences_false_gives_the_last_step_and_its_gradient(cls: type[Recurrent]) -> None:
    every, last = cls(3, 4, True, seed=6), cls(3, 4, False, seed=6)
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    y_every, y_last = every.forward(x), last.forward(x)
    np.testing.assert_array_equal(y_last, y_every[:, -1])
    grad_last = np.random.default_rng(1).standard_normal((2, 4))
    grad_every = np.zeros((2, 5, 4))
    grad_every[:, -1] = grad_last
    np.testing.assert_allclose(last.backward(grad_last), every.backward(grad_every), rtol=1e-13, atol=1e-15)
    for name in every.grads:
        np.testing.assert_allclose(last.grads[name], every.grads[name], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("cls", LAYERS)
def test_an_early_step_is_reached_through_time(cls: type[Recurrent]) -> None:
    """Only h_T reaches the loss, yet x_1 gets a gradient: it flowed back T − 1 steps.

    Cut every path from h_{t−1} to h_t (W_h = 0; the LSTM's forget gate f = 0, the GRU's update gate
    z = 0) and the early steps get none.
    """
    layer = cls(3, 4, False, seed=7)
    x = np.random.default_rng(2).standard_normal((2, 6, 3))
    layer.forward(x)
    assert np.abs(layer.backward(np.ones((2, 4)))[:, 0]).min() > 0.0
    layer.params["W_h"][:] = 0.0
    if cls is not RNN:  # the gate that carries h_{t−1} (GRU: z) or c_{t−1} (LSTM: f) shut: block 1
        layer.params["W_x"][:, 4:8] = 0.0
        layer.params["b_x" if cls is GRU else "b"][4:8] = -60.0
    layer.forward(x)
    grad_x = layer.backward(np.ones((2, 4)))
    assert np.abs(grad_x[:, :-1]).max() < 1e-20 and np.abs(grad_x[:, -1]).min() > 0.0


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(LAYERS), st.integers(1, 3), st.integers(1, 6), st.integers(1, 4), st.integers(1, 5))
def test_backward_is_linear_in_grad_y(cls: type[Recurrent], N: int, T: int, D: int, H: int) -> None:
    """BPTT is a vector-Jacobian product: backward(α·g₁ + g₂) = α·backward(g₁) + backward(g₂)."""
    rng = np.random.default_rng(N * 100 + T * 10 + D + H)
    layer = cls(D, H, seed=8)
    layer.forward(rng.standard_normal((N, T, D)))
    g1, g2, alpha = rng.standard_normal((N, T, H)), rng.standard_normal((N, T, H)), 1.7
    first = layer.backward(g1), {k: v.copy() for k, v in layer.grads.items()}
    second = layer.backward(g2), {k: v.copy() for k, v in layer.grads.items()}
    both = layer.backward(alpha * g1 + g2), layer.grads
    np.testing.assert_allclose(both[0], alpha * first[0] + second[0], rtol=1e-10, atol=1e-12)
    for name in layer.grads:
        np.testing.assert_allclose(both[1][name], alpha * first[1][name] + second[1][name], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", LAYERS)
def test_backward_params_fills_the_same_grads_and_skips_grad_x(cls: type[Recurrent]) -> None:
    layer = cls(3, 4, seed=9)
    y = layer.forward(np.random.default_rng(3).standard_normal((2, 5, 3)))
    grad_y = np.random.default_rng(4).standard_normal(y.shape)
    layer.backward(grad_y)
    expected = {k: v.copy() for k, v in layer.grads.items()}
    views = dict(layer.grads)
    layer.backward_params(grad_y)
    for name, value in expected.items():
        np.testing.assert_array_equal(layer.grads[name], value)
        assert layer.grads[name] is views[name]  # in place: an optimizer may hold views


@pytest.mark.parametrize("cls", LAYERS)
def test_init_is_pytorchs_uniform_and_seeded(cls: type[Recurrent]) -> None:
    H = 64
    layer = cls(16, H, seed=10)
    bound = 1 / math.sqrt(H)
    for value in layer.params.values():
        assert np.abs(value).max() <= bound and np.abs(value).max() > 0.95 * bound
        assert abs(value.mean()) < 0.1 * bound
    again = cls(16, H, rng=np.random.default_rng(10))
    for name, value in layer.params.items():
        np.testing.assert_array_equal(again.params[name], value)


@pytest.mark.parametrize("cls", LAYERS)
def test_orthogonal_recurrent_init_makes_every_gate_block_orthogonal(cls: type[Recurrent]) -> None:
    H = 6
    W_h = cls(4, H, recurrent_init="orthogonal", seed=11).params["W_h"]
    for k in range(BLOCKS[cls]):
        block = W_h[:, k * H : (k + 1) * H]
        np.testing.assert_allclose(block.T @ block, np.eye(H), atol=1e-12)
    assert BLOCKS[cls] == 1 or not np.allclose(W_h[:, :H], W_h[:, H : 2 * H])


def test_lstm_forget_bias_sets_the_forget_block_only() -> None:
    H = 3
    plain, biased = LSTM(2, H, seed=12), LSTM(2, H, forget_bias=1.0, seed=12)
    np.testing.assert_array_equal(biased.params["b"][H : 2 * H], 1.0)
    np.testing.assert_array_equal(
        np.delete(biased.params["b"], range(H, 2 * H)), np.delete(plain.params["b"], range(H, 2 * H))
    )
    assert biased.get_config()["forget_bias"] == 1.0
    assert LSTM.from_config(biased.get_config()).params["b"][H] == 1.0


@pytest.mark.parametrize("cls", LAYERS)
def test_float32_end_to_end(cls: type[Recurrent]) -> None:
    x = np.random.default_rng(5).standard_normal((3, 6, 4))
    single, double = cls(4, 5, seed=13, dtype=np.float32), cls(4, 5, seed=13)
    for name, value in double.params.items():
        value[:] = single.params[name]
    y = single.forward(x)
    grad_x = single.backward(np.ones_like(y))
    assert y.dtype == grad_x.dtype == np.float32
    assert all(value.dtype == np.float32 for value in single.grads.values())
    np.testing.assert_allclose(y, double.forward(x), atol=1e-6)
    np.testing.assert_allclose(grad_x, double.backward(np.ones((3, 6, 5))), atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_gates_sigmoid_is_refnets_sigmoid_to_rounding(dtype: Any) -> None:
    """(1 + tanh(z/2))/2 is σ(z): refnet's Sigmoid within two units of the dtype's epsilon, exact at the limits."""
    z = np.concatenate([np.linspace(-60.0, 60.0, 2001), [-1e4, -700.0, 0.0, 700.0, 1e4]]).astype(dtype)
    fast, formula = sigmoid(z.copy()), Sigmoid().function(z.copy())
    assert fast.dtype == formula.dtype == dtype
    assert np.abs(fast - formula).max() <= 2 * np.finfo(dtype).eps
    assert sigmoid(np.array([-1e4], dtype))[0] == 0.0 and sigmoid(np.array([1e4], dtype))[0] == 1.0
    out = np.empty_like(z)
    assert sigmoid(z, out=out) is out


@pytest.mark.parametrize("cls", LAYERS)
def test_a_2d_batch_is_a_shape_error_with_a_hint(cls: type[Recurrent]) -> None:
    with pytest.raises(ShapeError, match=r"one vector per sample, not a sequence \(X of shape \(N, T, D\)"):
        cls(3, 4, seed=0).forward(np.zeros((5, 3)))


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("shape", [(2, 0, 3), (0, 4, 3)])
def test_an_empty_sequence_is_a_shape_error(cls: type[Recurrent], shape: tuple[int, ...]) -> None:
    with pytest.raises(ShapeError, match="at least one"):
        cls(3, 4, seed=0).forward(np.zeros(shape))


@pytest.mark.parametrize("cls", LAYERS)
def test_the_wrong_input_width_is_a_shape_error(cls: type[Recurrent]) -> None:
    with pytest.raises(ShapeError, match=r"must have shape \(N, \.\.\., 3\), got \(1, 5, 2\)"):
        cls(3, 4, seed=0).forward(np.zeros((1, 5, 2)))
    with pytest.raises(ShapeError, match=r"\(T, 3\)"):
        cls(3, 4, seed=0).output_shape((5, 2))


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("return_sequences", [True, False])
def test_grad_y_of_the_wrong_shape_is_a_shape_error(cls: type[Recurrent], return_sequences: bool) -> None:
    layer = cls(3, 4, return_sequences, seed=0)
    layer.forward(np.zeros((2, 5, 3)))
    wrong = (2, 4) if return_sequences else (2, 5, 4)
    with pytest.raises(ShapeError, match="grad_y must have shape"):
        layer.backward(np.zeros(wrong))


@pytest.mark.parametrize("cls", LAYERS)
def test_backward_before_forward_is_a_call_order_error(cls: type[Recurrent]) -> None:
    with pytest.raises(CallOrderError):
        cls(3, 4, seed=0).backward(np.zeros((1, 1, 4)))


def test_a_non_finite_sequence_value_too_large_for_float32_is_refused() -> None:
    with pytest.raises(ValueError, match="too large"):
        LSTM(1, 2, seed=0, dtype=np.float32).forward(np.full((1, 2, 1), 1e300))


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: RNN(3, 4, return_sequences=1), TypeError),  # type: ignore[arg-type]
        (lambda: LSTM(3, 0), ValueError),
        (lambda: GRU(2.5, 4), TypeError),  # type: ignore[arg-type]
        (lambda: RNN(3, 4, recurrent_init="identity"), ValueError),
        (lambda: LSTM(3, 4, forget_bias=float("nan")), ValueError),
    ],
)
def test_bad_arguments_are_refused(make: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        make()


def test_hidden_sizes_that_do_not_chain_are_refused_when_added() -> None:
    with pytest.raises(ShapeError, match="expects 16 input features, but the previous layer outputs 8"):
        refnet.NeuralNetwork([LSTM(3, 8), GRU(16, 4)])


@pytest.mark.parametrize("cls", LAYERS)
def test_config_rebuilds_the_layer(cls: type[Recurrent]) -> None:
    layer = cls(3, 4, False, recurrent_init="orthogonal", seed=0, dtype=np.float32)
    rebuilt = cls.from_config(layer.get_config())
    assert rebuilt.get_config() == layer.get_config()
    assert {k: (v.shape, v.dtype) for k, v in rebuilt.params.items()} == {
        k: (v.shape, v.dtype) for k, v in layer.params.items()
    }


@pytest.mark.parametrize("cls", LAYERS)
def test_a_model_holding_a_recurrent_layer_saves_and_loads(cls: type[Recurrent], tmp_path: Any) -> None:
    net = refnet.NeuralNetwork([cls(3, 4, False, seed=0), refnet.Dense(4, 2, seed=1)], refnet.MSE())
    net.save(tmp_path / "model.npz")
    loaded = refnet.NeuralNetwork.load(tmp_path / "model.npz")
    layer = loaded.layers[0]
    assert isinstance(layer, cls) and layer.get_config() == net.layers[0].get_config()
    for name, value in net.layers[0].params.items():
        np.testing.assert_array_equal(layer.params[name], value)


def test_a_network_seed_redraws_an_unseeded_layer_only() -> None:
    unseeded, seeded = LSTM(3, 4), LSTM(3, 4, seed=1)
    kept = {k: v.copy() for k, v in seeded.params.items()}
    unseeded.adopt_rng(np.random.default_rng(9))
    seeded.adopt_rng(np.random.default_rng(9))
    reference = LSTM(3, 4, rng=np.random.default_rng(9))
    for name in kept:
        np.testing.assert_array_equal(unseeded.params[name], reference.params[name])
        np.testing.assert_array_equal(seeded.params[name], kept[name])
    copied = pickle.loads(pickle.dumps(GRU(3, 4)))
    before = {k: v.copy() for k, v in copied.params.items()}
    copied.adopt_rng(np.random.default_rng(9))
    for name in before:
        np.testing.assert_array_equal(copied.params[name], before[name])


@pytest.mark.parametrize("cls", LAYERS)
def test_a_sequence_model_learns_to_repeat_the_previous_id(cls: type[Recurrent]) -> None:
    """y_t = ids_{t−1}: the answer is one step back, so only a layer that carries h_{t−1} can learn it."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 4, size=(256, 8))
    Y = np.roll(ids, 1, axis=1)
    net = refnet.NeuralNetwork(
        [refnet.Embedding(4, 8, seed=1), cls(8, 16, seed=2), refnet.Dense(16, 4, seed=3)], refnet.CrossEntropy()
    )
    net.train(ids, Y, epochs=30, optimizer=refnet.Adam(0.02, clip_norm=5.0), batch_size=32)
    test = rng.integers(0, 4, size=(64, 8))
    predicted = net.predict_proba(test).argmax(axis=-1)
    assert (predicted[:, 1:] == test[:, :-1]).mean() > 0.95


def test_labels_of_the_wrong_shape_for_sequence_logits_are_a_shape_error() -> None:
    net = refnet.NeuralNetwork(
        [refnet.Embedding(5, 3, seed=0), LSTM(3, 4, seed=1), refnet.Dense(4, 5, seed=2)], refnet.CrossEntropy()
    )
    ids = np.zeros((6, 7), dtype=np.int64)
    for labels in (np.zeros(6, dtype=np.int64), np.zeros((6, 8), dtype=np.int64)):
        with pytest.raises(ShapeError, match=r"\(6, 7\)"):
            net.evaluate(ids, labels)


def test_a_network_tells_the_shapes_through_its_recurrent_layers() -> None:
    net = refnet.NeuralNetwork([GRU(3, 8), LSTM(8, 4, return_sequences=False), refnet.Dense(4, 2)], input_shape=(10, 3))
    assert net.output_shape() == (2,)
    with pytest.raises(ShapeError, match="return_sequences=True"):
        refnet.NeuralNetwork([LSTM(3, 8, return_sequences=False), RNN(8, 4)], input_shape=(10, 3))
    with pytest.raises(ShapeError, match=r"\(N, T, D\)"):
        refnet.NeuralNetwork([RNN(3, 4)], refnet.MSE()).forward(np.zeros((5, 3)))
