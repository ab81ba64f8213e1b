"""refnet.support.numerics: the finiteness test, the Σx² bound and the snapshot everyone shares."""

from __future__ import annotations

import math

import numpy as np

from refnet.support.numerics import Snapshot, all_finite, float_errors_as_values, largest_square


def test_finite_check_agrees_with_isfinite() -> None:
    huge = np.full((40, 40), 1e30, dtype=np.float32)  # Σ x² overflows, yet every entry is finite
    assert all_finite(huge)
    for bad in (np.inf, -np.inf, np.nan):
        array = np.ones((5, 7))
        array[2, 3] = bad
        assert not all_finite(array)
    assert all_finite(np.ones((4, 6))[:, ::2])
    assert all_finite(np.zeros(3))


def test_largest_square_is_the_largest_sum_of_squares_and_inf_for_a_non_finite_array() -> None:
    assert largest_square([np.array([3.0, 4.0]), np.array([[1.0, 2.0]])]) == 25.0
    assert largest_square([]) == 0.0
    assert largest_square([np.array([1.0]), np.array([np.nan])]) == math.inf
    assert largest_square([np.full(4, 1e30, dtype=np.float32)]) == math.inf  # the squares overflow float32


def test_snapshot_restores_arrays_in_place_and_generator_states() -> None:
    live = np.arange(6.0).reshape(2, 3)
    view = live[0]
    rng = np.random.default_rng(0)
    snapshot = Snapshot([live], [rng])
    first_draw = rng.random()
    live[...] = -1.0
    snapshot.restore()
    np.testing.assert_array_equal(view, [0.0, 1.0, 2.0])  # the same array object, written back
    assert rng.random() == first_draw


def test_float_errors_as_values_gives_inf_and_nan_without_warnings() -> None:
    with float_errors_as_values():
        values = np.array([1e308]) * 10, np.zeros(1) / 0.0, np.ones(1) / 0.0
    assert np.isinf(values[0]).all() and np.isnan(values[1]).all() and np.isinf(values[2]).all()
