"""Embedding: y = W[ids], repeated ids accumulate their gradient rows, ids are validated at the boundary."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refnet
from gradcheck.suite.catalog import CATALOG
from refnet import Embedding, ShapeError
from refnet.errors import CallOrderError


def test_embedding_is_public_and_registered() -> None:
    assert "Embedding" in refnet.__all__ and refnet.Embedding is Embedding
    assert Embedding.takes_ids is True
    assert {"Embedding[repeated ids]", "Embedding reference"} <= {check.name for check in CATALOG}


def test_forward_picks_the_rows_of_the_ids() -> None:
    layer = Embedding(4, 2, seed=0)
    layer.params["W"][:] = [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0]]
    y = layer.forward(np.array([[3, 0, 3], [1, 1, 2]]))
    assert y.shape == (2, 3, 2)
    np.testing.assert_array_equal(y[0], [[6.0, 7.0], [0.0, 1.0], [6.0, 7.0]])
    np.testing.assert_array_equal(y[1], [[2.0, 3.0], [2.0, 3.0], [4.0, 5.0]])


def test_repeated_ids_accumulate_their_gradient_rows() -> None:
    layer = Embedding(4, 2, seed=0)
    layer.forward(np.array([[1, 1, 1], [3, 1, 0]]))
    grad_y = np.array([[[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]], [[4.0, 40.0], [5.0, 50.0], [6.0, 60.0]]])
    assert layer.backward(grad_y) is None  # type: ignore[func-returns-value]  # ids have no gradient
    # id 1 at four positions: 1 + 2 + 3 + 5; id 0 once (6); id 3 once (4); id 2 never
    np.testing.assert_array_equal(layer.grads["W"], [[6.0, 60.0], [11.0, 110.0], [0.0, 0.0], [4.0, 40.0]])


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 5),
    st.lists(st.integers(1, 4), min_size=1, max_size=3),
    st.integers(0, 2**31),
)
def test_the_gradient_of_each_row_is_the_sum_over_its_positions(V: int, E: int, shape: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    layer = Embedding(V, E, seed=seed)
    ids = rng.integers(0, V, size=shape)
    grad_y = rng.standard_normal((*shape, E))
    layer.forward(ids)
    layer.backward(grad_y)
    flat_ids, flat_grad = ids.reshape(-1), grad_y.reshape(-1, E)
    for v in range(V):
        expected = flat_grad[flat_ids == v].sum(axis=0) if (flat_ids == v).any() else np.zeros(E)
        np.testing.assert_allclose(layer.grads["W"][v], expected, rtol=1e-12, atol=1e-12)


def test_backward_twice_gives_the_same_gradient() -> None:
    layer = Embedding(3, 2, seed=1)
    layer.forward(np.array([[0, 0, 2]]))
    grad_y = np.ones((1, 3, 2))
    layer.backward(grad_y)
    first = layer.grads["W"].copy()
    layer.backward(grad_y)
    np.testing.assert_array_equal(layer.grads["W"], first)
    np.testing.assert_array_equal(first, [[2.0, 2.0], [0.0, 0.0], [1.0, 1.0]])


def test_grads_are_written_into_the_same_array() -> None:
    layer = Embedding(3, 2, seed=1)
    grads_before = layer.grads["W"]
    layer.forward(np.array([2, 1]))
    layer.backward(np.ones((2, 2)))
    assert layer.grads["W"] is grads_before


def test_default_init_is_standard_normal_and_seeded() -> None:
    W = Embedding(400, 50, seed=3).params["W"]
    assert abs(W.mean()) < 0.02 and abs(W.std() - 1.0) < 0.02
    np.testing.assert_array_equal(W, Embedding(400, 50, seed=3).params["W"])
    np.testing.assert_array_equal(W, Embedding(400, 50, rng=np.random.default_rng(3)).params["W"])


def test_float32_end_to_end() -> None:
    layer = Embedding(5, 3, seed=0, dtype=np.float32)
    y = layer.forward(np.array([[1, 2], [1, 4]], dtype=np.int32))
    layer.backward(np.ones((2, 2, 3)))  # float64 upstream: cast to W's dtype
    assert layer.params["W"].dtype == y.dtype == layer.grads["W"].dtype == np.float32


@pytest.mark.parametrize(
    "ids", [np.array([[1.0, 2.0]]), np.array([[True, False]]), [[0.0, 1.0]], np.array([[1.5]], dtype=np.float32)]
)
def test_ids_that_are_not_integers_are_a_type_error(ids: Any) -> None:
    with pytest.raises(TypeError, match="Embedding: ids must be .*(integer ids|numeric array)"):
        Embedding(5, 3, seed=0).forward(ids)


@pytest.mark.parametrize(("bad", "shown"), [(-1, "-1"), (5, "5"), (99, "99")])
def test_ids_out_of_range_are_a_value_error(bad: int, shown: str) -> None:
    ids = np.array([[0, 1], [2, bad]])
    with pytest.raises(ValueError, match=rf"0 … 4 .*got {shown} at index \(1, 1\)"):
        Embedding(5, 3, seed=0).forward(ids)


@pytest.mark.parametrize("ids", [np.array(3), np.zeros((0, 4), dtype=np.int64)])
def test_ids_without_a_batch_are_a_shape_error(ids: Any) -> None:
    with pytest.raises(ShapeError, match="shape"):
        Embedding(5, 3, seed=0).forward(ids)


def test_grad_y_of_the_wrong_shape_is_a_shape_error() -> None:
    layer = Embedding(5, 3, seed=0)
    layer.forward(np.array([[0, 1]]))
    with pytest.raises(ShapeError, match=r"\(1, 2, 3\)"):
        layer.backward(np.ones((1, 2, 4)))


def test_backward_before_forward_is_a_call_order_error() -> None:
    with pytest.raises(CallOrderError):
        Embedding(5, 3, seed=0).backward(np.ones((1, 3)))


@pytest.mark.parametrize(("args", "error"), [((0, 3), ValueError), ((5, 2.0), TypeError), ((5, -1), ValueError)])
def test_bad_sizes_are_refused(args: tuple[Any, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        Embedding(*args)


def test_shapes_and_config() -> None:
    layer = Embedding(7, 4, seed=0, dtype=np.float32)
    assert layer.in_features is None and layer.output_features(3) == 4
    assert layer.output_shape((12,)) == (12, 4) and layer.output_shape((2, 3)) == (2, 3, 4)
    config = layer.get_config()
    assert config == {"num_embeddings": 7, "embedding_dim": 4, "dtype": "float32"}
    assert Embedding.array_shapes(config) == ({"W": (7, 4)}, {})
    rebuilt = Embedding.from_config(config)
    assert rebuilt.params["W"].shape == (7, 4) and rebuilt.params["W"].dtype == np.float32


def test_a_network_seed_redraws_an_unseeded_embedding_only() -> None:
    unseeded, seeded = Embedding(6, 3), Embedding(6, 3, seed=5)
    kept = seeded.params["W"].copy()
    unseeded.adopt_rng(np.random.default_rng(9))
    seeded.adopt_rng(np.random.default_rng(9))
    np.testing.assert_array_equal(unseeded.params["W"], np.random.default_rng(9).standard_normal((6, 3)))
    np.testing.assert_array_equal(seeded.params["W"], kept)


def test_a_changed_or_copied_embedding_keeps_its_weights_under_a_network_seed() -> None:
    changed = Embedding(6, 3)
    changed.params["W"][0, 0] = 42.0
    copied = pickle.loads(pickle.dumps(Embedding(6, 3)))
    before = copied.params["W"].copy()
    changed.adopt_rng(np.random.default_rng(9))
    copied.adopt_rng(np.random.default_rng(9))
    assert changed.params["W"][0, 0] == 42.0
    np.testing.assert_array_equal(copied.params["W"], before)


def test_a_model_holding_an_embedding_saves_and_loads(tmp_path: Any) -> None:
    net = refnet.NeuralNetwork(
        [Embedding(5, 3, seed=0, dtype=np.float32), refnet.Dense(3, 2, seed=1, dtype=np.float32)], refnet.MSE()
    )
    net.save(tmp_path / "model.npz")
    loaded = refnet.NeuralNetwork.load(tmp_path / "model.npz")
    layer = loaded.layers[0]
    assert isinstance(layer, Embedding) and layer.get_config() == net.layers[0].get_config()
    np.testing.assert_array_equal(layer.params["W"], net.layers[0].params["W"])
