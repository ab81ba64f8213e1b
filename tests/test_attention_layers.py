"""LayerNorm, PositionalEmbedding, GELU, SiLU and refnet's own erf."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import assert_gradient_close, assert_layer_gradients_close, central_difference
from hypothesis import given, settings
from hypothesis import strategies as st

from refnet import GELU, LayerNorm, PositionalEmbedding, ShapeError, SiLU
from refnet.support.erf import erf

seeds = st.integers(0, 2**31 - 1)

# -- erf -----------------------------------------------------------------------------------------


def test_erf_is_within_1e_15_relative_of_math_erf_everywhere() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            rng.uniform(-7, 7, 50_000),
            np.linspace(-6.5, 6.5, 20_001),
            rng.standard_normal(10_000) * 1e-3,
            rng.standard_normal(1_000) * 1e-150,
            np.arange(-192, 193) / 32,  # the grid points themselves
            np.arange(-192, 192) / 32 + 1 / 64,  # and the points halfway between
            [0.0, 5e-324, 1e-300, 5.9, 6.0, 6.1, 30.0, 1e300],
        ]
    )
    expected = np.array([math.erf(value) for value in x])
    relative = np.abs(erf(x) - expected) / np.abs(expected).clip(min=np.finfo(float).tiny)
    assert relative.max() <= 1e-15
    assert erf(np.array([np.inf, -np.inf])).tolist() == [1.0, -1.0]


def test_erf_is_odd_and_keeps_the_shape_and_float32() -> None:
    x = np.random.default_rng(1).standard_normal((3, 4, 5))
    np.testing.assert_array_equal(erf(-x), -erf(x))
    assert erf(x).shape == (3, 4, 5)
    assert erf(x.astype(np.float32)).dtype == np.float32
    assert erf(np.zeros(0)).shape == (0,)


def test_erf_blocks_give_the_numbers_of_one_block() -> None:
    """erf runs block by block (a speed mechanism): an array across many blocks gives each element's own value."""
    x = np.random.default_rng(2).uniform(-5, 5, 100_003)
    whole = erf(x)
    np.testing.assert_array_equal(whole[::997], np.array([erf(np.array([value]))[0] for value in x[::997]]))


# -- LayerNorm -----------------------------------------------------------------------------------


@given(seeds, st.sampled_from([(5, 6), (2, 3, 4), (2, 2, 2, 3)]))
@settings(max_examples=20, deadline=None)
def test_layernorm_rows_have_mean_beta_and_std_gamma(seed: int, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(seed)
    layer = LayerNorm(shape[-1])
    layer.params["gamma"][:] = 2.0
    layer.params["beta"][:] = 0.5
    x = 3.0 * rng.standard_normal(shape) + 7.0
    y = layer.forward(x)
    np.testing.assert_allclose(y.mean(axis=-1), 0.5, atol=1e-12)
    var = x.var(axis=-1)
    np.testing.assert_allclose(y.std(axis=-1), 2.0 * np.sqrt(var / (var + 1e-5)), rtol=1e-10)


def test_layernorm_normalizes_each_row_alone_independent_of_the_batch() -> None:
    rng = np.random.default_rng(3)
    layer = LayerNorm(4)
    x = rng.standard_normal((6, 4))
    np.testing.assert_array_equal(layer.forward(x)[2:3], layer.forward(x[2:3]))
    np.testing.assert_array_equal(layer.forward(x, training=False), layer.forward(x, training=True))


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5)])
def test_layernorm_gradients_match_central_differences(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(4)
    layer = LayerNorm(5)
    layer.params["gamma"][:] = rng.uniform(0.5, 1.5, 5)
    layer.params["beta"][:] = rng.standard_normal(5)
    x, G = rng.standard_normal(shape), rng.standard_normal(shape)
    assert_layer_gradients_close(layer, x, G)


def test_layernorm_bad_input_and_config() -> None:
    with pytest.raises(ShapeError, match=r"LayerNorm: x must have shape \(N, \.\.\., 4\)"):
        LayerNorm(4).forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="eps"):
        LayerNorm(4, eps=0.0)
    layer = LayerNorm(4, eps=1e-3, dtype=np.float32)
    assert LayerNorm.from_config(layer.get_config()).get_config() == {
        "num_features": 4,
        "eps": 1e-3,
        "dtype": "float32",
    }
    assert layer.forward(np.ones((2, 4))).dtype == np.float32


# -- PositionalEmbedding -------------------------------------------------------------------------


def test_positional_embedding_adds_row_t_of_the_table_to_token_t() -> None:
    layer = PositionalEmbedding(5, 3, seed=0)
    x = np.random.default_rng(1).standard_normal((2, 4, 3))
    y = layer.forward(x)
    for t in range(4):
        np.testing.assert_array_equal(y[:, t], x[:, t] + layer.params["P"][t])


def test_positional_gradient_sums_over_the_batch_and_is_zero_past_the_sequence() -> None:
    layer = PositionalEmbedding(5, 3, seed=0)
    G = np.random.default_rng(2).standard_normal((2, 4, 3))
    layer.forward(np.zeros((2, 4, 3)))
    assert layer.backward(G) is G
    np.testing.assert_allclose(layer.grads["P"][:4], G.sum(axis=0), rtol=1e-15)
    np.testing.assert_array_equal(layer.grads["P"][4], 0.0)
    layer.forward(np.zeros((1, 2, 3)))
    layer.backward(np.ones((1, 2, 3)))
    np.testing.assert_array_equal(layer.grads["P"][2:], 0.0)  # a shorter sequence clears the rows it does not reach


def test_a_sequence_longer_than_the_table_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"6 positions but the table covers max_length = 5"):
        PositionalEmbedding(5, 3, seed=0).forward(np.zeros((1, 6, 3)))
    with pytest.raises(ShapeError, match="PositionalEmbedding"):
        PositionalEmbedding(5, 3, seed=0).forward(np.zeros((1, 4, 2)))


def test_positional_table_is_standard_normal_and_seeded() -> None:
    table = PositionalEmbedding(400, 50, seed=3).params["P"]
    assert abs(table.mean()) < 0.02
    assert abs(table.std() - 1.0) < 0.02
    np.testing.assert_array_equal(table, PositionalEmbedding(400, 50, seed=3).params["P"])


# -- GELU, SiLU ----------------------------------------------------------------------------------


def test_gelu_exact_values() -> None:
    """GELU(1) = Φ(1) = 0.8413447460685429…; GELU(−1) = −(1 − Φ(1)); GELU(0) = 0."""
    y = GELU().function(np.array([1.0, -1.0, 0.0, 40.0, -40.0]))
    np.testing.assert_allclose(y[:2], [0.8413447460685429, -0.15865525393145707], rtol=1e-15)
    assert y[2] == 0.0 and y[3] == 40.0 and y[4] == 0.0


def test_gelu_tanh_is_close_to_exact_but_not_equal() -> None:
    x = np.linspace(-4, 4, 81)
    exact, approximate = GELU().function(x), GELU("tanh").function(x)
    assert np.abs(exact - approximate).max() < 1e-3
    assert np.abs(exact - approximate).max() > 1e-5


@pytest.mark.parametrize("make", [GELU, lambda: GELU("tanh"), SiLU])
def test_gelu_silu_gradients_match_central_differences(make: object) -> None:
    layer = make()  # type: ignore[operator]
    rng = np.random.default_rng(5)
    x, G = 2.0 * rng.standard_normal((4, 6)), rng.standard_normal((4, 6))

    def loss() -> float:
        return float((layer.forward(x) * G).sum())

    layer.forward(x)
    assert_gradient_close(layer.backward(G), central_difference(loss, x))


def test_silu_is_x_times_sigmoid_without_overflow() -> None:
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = SiLU().function(np.array([-1000.0, 0.0, 2.0, 1000.0]))
    np.testing.assert_allclose(y, [0.0, 0.0, 2.0 / (1.0 + math.exp(-2.0)), 1000.0], rtol=1e-15, atol=0)


def test_gelu_rejects_unknown_approximations() -> None:
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        GELU("fast")
