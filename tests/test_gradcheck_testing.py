"""gradcheck.testing in refnet's own suite: hypothesis draws shapes and check points away from the kinks,
and assert_gradients proves every refnet layer right at each of them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck.testing import assert_gradients, away_from, layer_cases, layer_inputs
from refnet import Add, BatchNorm, Concatenate, Dense, Dropout, LeakyReLU, Multiply, ReLU, Softmax, Tanh

Array = Any


def relu_distance(layer: Dense, x: Array) -> float:
    """The smallest |pre-activation| x @ W + b of a ReLU-family Dense: its kinks."""
    return float(np.abs(x @ layer.params["W"] + layer.params["b"]).min())


@settings(max_examples=25, deadline=None)
@given(case=layer_cases(lambda d: Dense(d, 3, "relu", l1_lambda=0.0, seed=d), distance=relu_distance))
def test_dense_relu_gradients_are_right_at_every_drawn_shape_and_point(case: tuple[Dense, Array]) -> None:
    layer, x = case
    assert_gradients(layer, x)


@settings(max_examples=20, deadline=None)
@given(
    case=layer_cases(lambda d: Dense(d, 2, "leaky_relu", seed=d), distance=relu_distance, widths=(1, 4)),
    seed=st.integers(0, 2**16),
)
def test_dense_leaky_relu_gradients_are_right_for_any_upstream_gradient(case: tuple[Dense, Array], seed: int) -> None:
    layer, x = case
    assert_gradients(layer, x, seed=seed)


@pytest.mark.parametrize(
    "make", [ReLU, lambda: LeakyReLU(0.2), Tanh, Softmax], ids=["ReLU", "LeakyReLU", "Tanh", "Softmax"]
)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_activations_pass_at_drawn_points_away_from_zero(make: Any, data: st.DataObject) -> None:
    layer = make()
    assert_gradients(layer, data.draw(layer_inputs(layer)))


@settings(max_examples=15, deadline=None)
@given(data=st.data(), make=st.sampled_from([Add, Multiply, Concatenate]))
def test_merges_pass_for_drawn_pairs_of_inputs(data: st.DataObject, make: Any) -> None:
    layer = make()
    xs = data.draw(layer_inputs(layer))
    assert isinstance(xs, list) and len(xs) == 2 and xs[0].shape == xs[1].shape
    assert_gradients(layer, xs)


@settings(max_examples=15, deadline=None)
@given(data=st.data(), training=st.booleans())
def test_batchnorm_and_dropout_pass_with_drawn_batches(data: st.DataObject, training: bool) -> None:
    norm = BatchNorm(3)
    x = data.draw(layer_inputs(norm))  # at least BatchNorm.min_batch_rows = 2 rows
    assert x.shape[0] >= 2
    assert_gradients(norm, x)
    dropout = Dropout(0.4, seed=data.draw(st.integers(0, 100)))
    assert_gradients(dropout, data.draw(layer_inputs(dropout)))


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_layer_inputs_keep_their_shape_promises_and_their_distance_from_the_kinks(data: st.DataObject) -> None:
    kinks = data.draw(st.lists(st.floats(-2, 2), min_size=1, max_size=3), label="kinks")
    margin = data.draw(st.floats(1e-3, 0.2), label="margin")
    x = data.draw(layer_inputs(width=3, rows=(2, 5), kinks=kinks, margin=margin))
    assert x.shape[1] == 3 and 2 <= x.shape[0] <= 5 and x.dtype == np.float64
    for kink in kinks:
        assert np.all(np.abs(x - kink) >= margin * (1 - 1e-12))


@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_layer_inputs_take_the_width_from_the_layer_and_a_float32_margin_from_its_parameters(
    data: st.DataObject,
) -> None:
    drawn = data.draw(layer_inputs(Dense(7, 2, dtype=np.float32, seed=0), bound=0.2))
    assert drawn.shape[1] == 7 and np.all(np.abs(drawn) >= 0.05)
    drawn = data.draw(layer_inputs(Dense(7, 2, seed=0), bound=0.2))
    assert np.all(np.abs(drawn) >= 1e-3)


def test_away_from_moves_only_the_values_inside_the_margin_to_the_nearer_side() -> None:
    moved = away_from(np.array([0.02, -1e-5, 0.3, 0.97, 1.04]), kinks=(0.0, 1.0), margin=0.1)
    assert np.allclose(moved, [0.1, -0.1, 0.3, 0.9, 1.1])


def test_away_from_never_pushes_a_value_from_one_kink_onto_another() -> None:
    moved = away_from(np.array([0.1, 0.04]), kinks=(0.15, 0.0), margin=0.1)
    assert np.allclose(moved, [0.25, -0.1])
