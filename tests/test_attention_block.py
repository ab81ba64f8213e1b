"""The pre-LN transformer block built with the graph API: residual wiring, causality, saving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from refnet import MSE, GraphModel, Input, LayerNorm, MultiHeadAttention, ShapeError
from refnet.layer import Dense
from refnet.transformer import transformer_block


def block(causal: bool = True, seed: int = 0, T: int = 5, E: int = 8) -> GraphModel:
    x = Input((T, E))
    return GraphModel(x, transformer_block(x, 2, causal=causal, rng=np.random.default_rng(seed)), MSE())


def test_block_is_layernorm_attention_add_then_layernorm_gelu_mlp_add() -> None:
    model = block()
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["LayerNorm", "MultiHeadAttention", "Add", "LayerNorm", "Dense", "Dense", "Add"]
    hidden = model.layers[4]
    assert isinstance(hidden, Dense) and hidden.activation.name == "gelu" and hidden.out == 32  # F = 4E


def test_with_zero_sublayer_outputs_the_block_is_the_identity() -> None:
    """The residual paths: W_o = 0, b_o = 0 and a zero last Dense make y = x exactly."""
    model = block()
    for layer in model.layers:
        if isinstance(layer, MultiHeadAttention):
            layer.params["W_o"][:] = 0.0
        if isinstance(layer, Dense) and layer.activation.name == "identity":
            layer.params["W"][:] = 0.0
    X = np.random.default_rng(1).standard_normal((3, 5, 8))
    np.testing.assert_array_equal(model.predict(X), X)


def test_the_residual_gradient_reaches_the_input_unchanged_through_zero_sublayers() -> None:
    model = block()
    for layer in model.layers:
        for name, value in layer.params.items():
            if not isinstance(layer, LayerNorm) and name in ("W_o", "W"):
                value[:] = 0.0
    rng = np.random.default_rng(2)
    X = rng.standard_normal((2, 5, 8))
    model.forward(X, training=True)
    grad_y = rng.standard_normal((2, 5, 8))
    np.testing.assert_array_equal(model.backward(grad_y), grad_y)


def test_a_causal_block_never_lets_later_tokens_change_earlier_outputs_bitwise() -> None:
    model = block(causal=True)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((2, 5, 8))
    changed = X.copy()
    changed[:, 3:] = rng.standard_normal((2, 2, 8))
    y, y_changed = model.predict(X), model.predict(changed)
    np.testing.assert_array_equal(y[:, :3], y_changed[:, :3])
    assert not np.array_equal(y[:, 3:], y_changed[:, 3:])
    not_causal = block(causal=False)
    assert not np.array_equal(not_causal.predict(X)[:, :3], not_causal.predict(changed)[:, :3])


def test_a_shorter_sequence_runs_through_the_same_block() -> None:
    model = block(T=5)
    X = np.random.default_rng(4).standard_normal((2, 5, 8))
    np.testing.assert_allclose(model.predict(X[:, :3]), model.predict(X)[:, :3], rtol=1e-12, atol=1e-12)


def test_the_block_refuses_features_of_another_width() -> None:
    with pytest.raises(ShapeError):
        block().predict(np.zeros((2, 5, 6)))
    with pytest.raises(ShapeError, match=r"sequences of shape \(N, T, 8\)"):
        x = Input(8)
        transformer_block(x, 2)


def test_the_block_trains_a_copy_task_and_saves_and_loads(tmp_path: Path) -> None:
    """Predicting the token before (a causal shift) needs attention to the previous position."""
    from refnet import Adam, PositionalEmbedding

    rng = np.random.default_rng(5)
    x = Input((6, 8))
    h = PositionalEmbedding(6, 8, rng=rng)(x)
    model = GraphModel(x, transformer_block(h, 2, rng=rng), MSE(), seed=6)
    X = rng.standard_normal((64, 6, 8))
    Y = np.concatenate([np.zeros((64, 1, 8)), X[:, :-1]], axis=1)
    before = model.evaluate(X, Y)["loss"]
    model.train(X, Y, epochs=40, optimizer=Adam(learning_rate=0.01), batch_size=16, verbose=False)
    after = model.evaluate(X, Y)["loss"]
    assert after < 0.5 * before
    path = tmp_path / "block.npz"
    model.save(path)
    loaded = GraphModel.load(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
