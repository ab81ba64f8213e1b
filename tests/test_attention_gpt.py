"""The tiny GPT: token + position embeddings, causal pre-LN blocks, next-token logits at every position."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from refnet import Adam, GraphModel, MultiHeadAttention, ShapeError
from refnet.transformer import tiny_gpt


def test_logits_at_every_position_and_the_layers_in_order() -> None:
    model = tiny_gpt(11, 8, 16, 2, 2, seed=0)
    ids = np.random.default_rng(0).integers(0, 11, (3, 8))
    assert model.predict(ids).shape == (3, 8, 11)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[:2] == ["Embedding", "PositionalEmbedding"]
    assert kinds.count("MultiHeadAttention") == 2 and kinds[-2:] == ["LayerNorm", "Dense"]
    assert all(layer.causal for layer in model.layers if isinstance(layer, MultiHeadAttention))


def test_a_later_token_never_changes_an_earlier_prediction_bitwise() -> None:
    model = tiny_gpt(11, 8, 16, 4, 2, seed=1)
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 11, (4, 8))
    changed = ids.copy()
    changed[:, 5:] = (ids[:, 5:] + 1 + rng.integers(0, 9, (4, 3))) % 11
    logits, logits_changed = model.predict(ids), model.predict(changed)
    np.testing.assert_array_equal(logits[:, :5], logits_changed[:, :5])
    assert not np.array_equal(logits[:, 5:], logits_changed[:, 5:])


def test_a_prompt_shorter_than_the_table_runs_and_a_longer_one_is_refused() -> None:
    model = tiny_gpt(11, 8, 16, 2, 1, seed=2)
    ids = np.random.default_rng(2).integers(0, 11, (2, 8))
    np.testing.assert_allclose(model.predict(ids[:, :3]), model.predict(ids)[:, :3], rtol=1e-12, atol=1e-12)
    with pytest.raises(ShapeError, match="max_length = 8"):
        model.predict(np.zeros((1, 9), dtype=np.int64))
    with pytest.raises(TypeError, match="integer ids"):
        model.predict(np.zeros((1, 4)))


def test_it_learns_a_periodic_sequence_and_saves_and_loads(tmp_path: Path) -> None:
    """0 1 2 … 6 0 1 2 …: every next token is determined by the current one (and by the position)."""
    model = tiny_gpt(7, 10, 16, 2, 1, seed=3)
    starts = np.random.default_rng(3).integers(0, 7, 64)
    ids = (starts[:, None] + np.arange(11)) % 7
    X, Y = ids[:, :10], ids[:, 1:]
    before = model.evaluate(X, Y)["loss"]
    model.train(X, Y, epochs=30, optimizer=Adam(learning_rate=0.01), batch_size=16, verbose=False)
    after = model.evaluate(X, Y)
    assert after["loss"] < 0.1 * before
    assert after["accuracy"] == 1.0
    path = tmp_path / "gpt.npz"
    model.save(path)
    loaded = GraphModel.load(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_float32_end_to_end() -> None:
    model = tiny_gpt(5, 6, 8, 2, 1, seed=4, dtype=np.float32)
    ids = np.random.default_rng(4).integers(0, 5, (2, 6))
    assert model.predict(ids).dtype == np.float32
    model.compute_gradients(ids, ids)
    assert all(value.dtype == np.float32 for layer in model.layers for value in layer.grads.values())
