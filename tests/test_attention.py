"""MultiHeadAttention: the formula, the causal mask, the heads, its gradients and its errors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from helpers import assert_gradient_close, assert_layer_gradients_close, central_difference
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from refnet import MultiHeadAttention, ShapeError
from refnet.attention import attention_backward, attention_forward, causal_mask, merge_heads, split_heads

seeds = st.integers(0, 2**31 - 1)


def randomized(E: int, H: int, causal: bool, seed: int) -> MultiHeadAttention:
    layer = MultiHeadAttention(E, H, causal, seed=seed)
    rng = np.random.default_rng(seed + 1)
    for name, value in layer.params.items():
        value[:] = (0.5 if name.startswith("W") else 0.2) * rng.standard_normal(value.shape)
    return layer


def one_head_by_hand(x: NDArray[Any], layer: MultiHeadAttention) -> NDArray[Any]:
    """Single-head attention written out for one sequence x (T, E), a loop over the queries."""
    p = layer.params
    Q, K, V = x @ p["W_q"] + p["b_q"], x @ p["W_k"] + p["b_k"], x @ p["W_v"] + p["b_v"]
    T, E = x.shape
    Z = np.zeros((T, E))
    for t in range(T):
        keys = range(t + 1) if layer.causal else range(T)
        scores = np.array([Q[t] @ K[s] / math.sqrt(E) for s in keys])
        weights = np.exp(scores - scores.max())
        weights /= weights.sum()
        Z[t] = sum(w * V[s] for w, s in zip(weights, keys, strict=True))
    return Z @ p["W_o"] + p["b_o"]


@pytest.mark.parametrize("causal", [False, True])
def test_one_head_is_softmax_of_scaled_scores_times_values(causal: bool) -> None:
    layer = randomized(6, 1, causal, seed=3)
    x = np.random.default_rng(4).standard_normal((2, 5, 6))
    y = layer.forward(x)
    for n in range(2):
        np.testing.assert_allclose(y[n], one_head_by_hand(x[n], layer), rtol=1e-12, atol=1e-12)


def test_heads_attend_separately_and_are_concatenated() -> None:
    """With W_o = I, head h's output fills columns h·d … (h+1)·d − 1, and depends only on those columns of Q, K, V."""
    layer = randomized(8, 2, False, seed=5)
    layer.params["W_o"][:] = np.eye(8)
    layer.params["b_o"][:] = 0.0
    x = np.random.default_rng(6).standard_normal((1, 4, 8))
    y = layer.forward(x)[0]
    p = layer.params
    for h in range(2):
        cols = slice(4 * h, 4 * h + 4)
        Q, K = x[0] @ p["W_q"][:, cols] + p["b_q"][cols], x[0] @ p["W_k"][:, cols] + p["b_k"][cols]
        V = x[0] @ p["W_v"][:, cols] + p["b_v"][cols]
        S = Q @ K.T / 2.0
        A = np.exp(S - S.max(axis=1, keepdims=True))
        A /= A.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(y[:, cols], A @ V, rtol=1e-12, atol=1e-12)


def test_split_and_merge_heads_are_inverse_and_take_contiguous_columns() -> None:
    X = np.arange(2 * 3 * 8, dtype=float).reshape(2, 3, 8)
    heads = split_heads(X, 4)
    assert heads.shape == (2, 4, 3, 2)
    np.testing.assert_array_equal(heads[1, 2], X[1][:, 4:6])
    np.testing.assert_array_equal(merge_heads(heads), X)


@given(seeds, st.integers(2, 7), st.sampled_from([1, 2, 4]))
@settings(max_examples=25, deadline=None)
def test_causal_output_never_depends_on_later_tokens_bitwise(seed: int, T: int, H: int) -> None:
    """Changing token t' changes no output at t < t', to the last bit (the future's weight is exactly 0)."""
    layer = randomized(8, H, True, seed)
    rng = np.random.default_rng(seed + 2)
    x = rng.standard_normal((2, T, 8))
    later = int(rng.integers(1, T))
    changed = x.copy()
    changed[:, later:] = 100.0 * rng.standard_normal((2, T - later, 8))
    y, y_changed = layer.forward(x).copy(), layer.forward(changed)
    np.testing.assert_array_equal(y[:, :later], y_changed[:, :later])
    assert not np.array_equal(y[:, later:], y_changed[:, later:])


def test_causal_weights_above_the_diagonal_are_exactly_zero() -> None:
    rng = np.random.default_rng(0)
    Q, K, V = (rng.standard_normal((2, 3, 6, 4)) for _ in range(3))
    _, A = attention_forward(Q, K, V, causal_mask(6))
    assert np.all(A[..., np.triu_indices(6, 1)[0], np.triu_indices(6, 1)[1]] == 0.0)
    np.testing.assert_allclose(A.sum(axis=-1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(A[..., 0, 0], 1.0, rtol=0)  # the first token sees only itself


def test_softmax_is_stable_for_huge_scores() -> None:
    """Scores of ±1e4 would overflow exp without the row max taken off first."""
    Q = np.full((1, 1, 3, 2), 100.0)
    K = np.array([[[[100.0, 100.0], [-100.0, -100.0], [0.0, 0.0]]]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        Z, A = attention_forward(Q, K, np.eye(3, 2)[None, None], None)
    np.testing.assert_array_equal(A[0, 0, :, 0], 1.0)
    assert np.isfinite(Z).all()


def test_attention_backward_matches_central_differences() -> None:
    rng = np.random.default_rng(1)
    Q, K, V = (rng.standard_normal((2, 2, 4, 3)) for _ in range(3))
    G = rng.standard_normal((2, 2, 4, 3))
    allowed = causal_mask(4)

    def loss() -> float:
        return float((attention_forward(Q, K, V, allowed)[0] * G).sum())

    _, A = attention_forward(Q, K, V, allowed)
    dQ, dK, dV = attention_backward(Q, K, V, A, G)
    for analytic, array in ((dQ, Q), (dK, K), (dV, V)):
        assert_gradient_close(analytic, central_difference(loss, array))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("H", [1, 2, 4])
def test_layer_gradients_match_central_differences(causal: bool, H: int) -> None:
    layer = randomized(8, H, causal, seed=7)
    rng = np.random.default_rng(8)
    x, G = rng.standard_normal((2, 4, 8)), rng.standard_normal((2, 4, 8))
    assert_layer_gradients_close(layer, x, G)


def test_key_bias_gradient_is_zero_softmax_ignores_a_constant_row_shift() -> None:
    layer = randomized(8, 2, False, seed=9)
    rng = np.random.default_rng(10)
    layer.forward(rng.standard_normal((3, 5, 8)))
    layer.backward(rng.standard_normal((3, 5, 8)))
    np.testing.assert_allclose(layer.grads["b_k"], 0.0, atol=1e-13)
    assert np.abs(layer.grads["b_q"]).max() > 1e-3


def test_backward_params_fills_the_same_grads_as_backward() -> None:
    layer = randomized(8, 2, True, seed=11)
    rng = np.random.default_rng(12)
    x, G = rng.standard_normal((2, 5, 8)), rng.standard_normal((2, 5, 8))
    layer.forward(x)
    layer.backward(G)
    expected = {name: value.copy() for name, value in layer.grads.items()}
    layer.backward_params(G)
    for name, value in layer.grads.items():
        np.testing.assert_array_equal(value, expected[name])


def test_a_mask_removes_the_keys_it_forbids() -> None:
    """A key-padding mask: forbidding key 3 gives the output of the sequence without token 3 (for the others)."""
    layer = randomized(4, 2, False, seed=13)
    x = np.random.default_rng(14).standard_normal((1, 4, 4))
    mask = np.ones((4, 4), dtype=bool)
    mask[:, 3] = False
    masked = layer.forward(x, mask=mask)[0, :3]
    np.testing.assert_allclose(masked, layer.forward(x[:, :3])[0], rtol=1e-12, atol=1e-12)


def test_glorot_weights_zero_biases_and_seeds() -> None:
    layer = MultiHeadAttention(16, 4, seed=0)
    limit = math.sqrt(6 / 32)
    for name in ("W_q", "W_k", "W_v", "W_o"):
        assert layer.params[name].shape == (16, 16)
        assert np.abs(layer.params[name]).max() <= limit
        assert np.abs(layer.params[name]).max() > 0.8 * limit
    for name in ("b_q", "b_k", "b_v", "b_o"):
        np.testing.assert_array_equal(layer.params[name], np.zeros(16))
    again = MultiHeadAttention(16, 4, seed=0)
    np.testing.assert_array_equal(layer.params["W_v"], again.params["W_v"])
    assert not np.array_equal(layer.params["W_q"], layer.params["W_k"])


def test_float32_end_to_end() -> None:
    layer = MultiHeadAttention(8, 2, True, seed=0, dtype=np.float32)
    y = layer.forward(np.random.default_rng(0).standard_normal((2, 3, 8)))
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32
    assert all(value.dtype == np.float32 for value in layer.grads.values())


def test_config_rebuilds_the_layer() -> None:
    layer = MultiHeadAttention(8, 4, True, seed=1)
    rebuilt = MultiHeadAttention.from_config(layer.get_config())
    assert rebuilt.get_config() == {"embed_dim": 8, "num_heads": 4, "causal": True, "dtype": "float64"}
    assert MultiHeadAttention.array_shapes(layer.get_config())[0]["W_o"] == (8, 8)


# -- bad input: clear errors at the boundary ---------------------------------------------------


def test_embed_dim_not_divisible_by_num_heads_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"embed_dim \(10\) must be divisible by num_heads \(4\)"):
        MultiHeadAttention(10, 4)


def test_causal_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="causal"):
        MultiHeadAttention(8, 2, causal="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", [(4, 8), (2, 3, 6), (2, 3, 8, 1)])
def test_input_of_the_wrong_shape_is_a_shape_error(shape: tuple[int, ...]) -> None:
    with pytest.raises(ShapeError, match="MultiHeadAttention"):
        MultiHeadAttention(8, 2, seed=0).forward(np.zeros(shape))


@pytest.mark.parametrize(
    "mask",
    [np.ones((4, 4), dtype=bool), np.ones((2, 3, 3), dtype=bool), np.ones((3, 3)), np.ones((1, 1, 3, 3), dtype=bool)],
)
def test_a_mask_of_the_wrong_shape_or_dtype_is_a_shape_error(mask: NDArray[Any]) -> None:
    with pytest.raises(ShapeError, match=r"mask must be booleans of shape \(3, 3\) or \(1, 3, 3\)"):
        MultiHeadAttention(8, 2, seed=0).forward(np.zeros((1, 3, 8)), mask=mask)


def test_a_mask_with_a_query_that_sees_nothing_is_refused() -> None:
    mask = np.ones((3, 3), dtype=bool)
    mask[1] = False
    with pytest.raises(ValueError, match="no key to attend to"):
        MultiHeadAttention(8, 2, seed=0).forward(np.zeros((1, 3, 8)), mask=mask)


def test_grad_y_of_another_shape_is_a_shape_error() -> None:
    layer = MultiHeadAttention(8, 2, seed=0)
    layer.forward(np.zeros((2, 3, 8)))
    with pytest.raises(ShapeError, match="grad_y"):
        layer.backward(np.zeros((2, 4, 8)))
