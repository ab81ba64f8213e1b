"""Fuzzing: random small networks fed random inputs, well-formed or hostile.

Every draw is labelled *valid* (the right shape and kind, finite values) or *invalid* (NaN,
inf, empty or wrongly shaped arrays, object and string arrays, ragged lists, None), and
each label has its own promise:

- invalid input is refused: one of refnet's documented exceptions, from a ``raise``
  statement in refnet itself, with a message;
- valid input of ordinary size succeeds, with finite outputs of the right shape and dtype
  and finite gradients and parameters. The only refusals it may meet are named in advance:
  a BatchNorm asked for training statistics of a one-row batch, values too large for the
  network's dtype (``NonFiniteError``, or "too large for float32" when casting), and a
  training run that diverges with a large learning rate (``TrainingDivergedError``).

Never a raw NumPy error, a warning (the suite turns warnings into errors) or a NaN.
"""

from __future__ import annotations

import itertools
import linecache
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

import refnet
from refnet import (
    MSE,
    SGD,
    Adam,
    BatchNorm,
    BinaryCrossEntropy,
    CrossEntropy,
    Dense,
    Dropout,
    Loss,
    NeuralNetwork,
    NonFiniteError,
    ShapeError,
    TrainingDivergedError,
)

REFNET_DIR = Path(refnet.__file__).resolve().parent
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Valid values up to this magnitude must go through: no overflow is possible for the small
#: networks drawn here (widths <= 5, weights of order 1).
ORDINARY = 1e3
#: Magnitudes of the drawn values, ordinary ones twice as often as extreme ones.
SCALES = [1.0, 1.0, ORDINARY, ORDINARY, 1e30, 1e150, 1e300]


@dataclass(frozen=True)
class Drawn:
    """A drawn argument: its value, whether it is valid, and the largest magnitude in it."""

    value: Any
    valid: bool
    scale: float = 0.0


@st.composite
def networks(draw: st.DrawFn) -> NeuralNetwork:
    """2-4 layers of random widths and activations, sometimes with Dropout/BatchNorm, and a loss that fits."""
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    seed = draw(st.integers(0, 2**16))
    widths = draw(st.lists(st.integers(1, 5), min_size=2, max_size=4))
    layers: list[Any] = []
    for index, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        activation = draw(st.sampled_from(["identity", "relu", "leaky_relu", "sigmoid", "tanh"]))
        last = index == len(widths) - 2
        l2 = draw(st.sampled_from([0.0, 0.01]))
        layers.append(Dense(n_in, n_out, None if last else activation, l2_lambda=l2, seed=seed + index, dtype=dtype))
        if not last and draw(st.booleans()):
            layers.append(draw(st.sampled_from([Dropout(0.3, seed=seed), BatchNorm(n_out, dtype=dtype)])))
    out = widths[-1]
    losses = [MSE(), BinaryCrossEntropy(from_logits=True)] + ([CrossEntropy()] if out >= 2 else [])
    return NeuralNetwork(layers, draw(st.sampled_from(losses)), seed=seed)


def finite_matrix(rows: int, cols: int, scale: float, seed: int) -> NDArray[Any]:
    return np.random.default_rng(seed).normal(scale=scale, size=(rows, cols))


def largest(array: NDArray[Any]) -> float:
    return float(np.abs(array).max()) if array.size else 0.0


@st.composite
def inputs(draw: st.DrawFn, n_features: int) -> Drawn:
    """An X for a network with ``n_features`` inputs: well-formed (of any size), or malformed."""
    rows = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**16))
    good = finite_matrix(rows, n_features, draw(st.sampled_from(SCALES)), seed)
    kind = draw(st.sampled_from(["array"] * 4 + ["list", "int", "nan", "inf", "malformed"]))
    if kind == "array":
        return Drawn(good, True, largest(good))
    if kind == "list":
        return Drawn(good.tolist(), True, largest(good))
    if kind == "int":
        integers = np.clip(np.round(good), -1000, 1000).astype(np.int64)
        return Drawn(integers, True, largest(integers))
    if kind in ("nan", "inf"):
        good[draw(st.integers(0, rows - 1)), draw(st.integers(0, n_features - 1))] = (
            np.nan if kind == "nan" else -np.inf
        )
        return Drawn(good, False)
    malformed = [
        np.zeros((0, n_features)),
        np.zeros((rows, 0)),
        np.ones((rows, n_features + 1)),
        np.ones(n_features),
        np.ones((rows, n_features, n_features + 1)),  # (N, ..., D) with the wrong D ((N, 1, 1) is a valid batch)
        good.astype(object),
        good.astype(str),
        np.ones((rows, n_features), dtype=complex),
        None,
        "abc",
        [[1.0, 2.0], [3.0]],
        3.5,
    ]
    return Drawn(draw(st.sampled_from(malformed)), False)


def rows_of(X: Drawn) -> int:
    return len(X.value) if X.valid else 2


def targets_for(loss: Loss, rows: int, out: int, draw: Callable[[st.SearchStrategy[Any]], Any]) -> Drawn:
    """A Y that fits the loss (mostly), or one that does not."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if isinstance(loss, CrossEntropy):
        valid = [rng.integers(0, out, size=rows), np.eye(out)[rng.integers(0, out, size=rows)]]
        invalid: list[NDArray[Any] | None] = [
            np.full(rows, out + 3),
            np.full(rows, -1),
            np.full((rows, out), 2.0),
            np.full(rows, 0.5),
        ]
    elif isinstance(loss, BinaryCrossEntropy):
        valid = [rng.integers(0, 2, size=(rows, out)).astype(float), rng.uniform(size=(rows, out))]
        invalid = [np.full((rows, out), 1e300), np.full((rows, out), -0.5)]
    else:
        valid = [rng.normal(size=(rows, out)), np.full((rows, out), 1e300)]
        invalid = []
    invalid += [
        np.full((rows, out), np.nan),
        np.full((rows + 1, out), 0.5),
        np.array([["x"] * out] * rows),
        np.ones((rows, out, 3)),  # an extra axis no prediction here has (they are (N, C) or (N, C, 2, 3))
        None,
    ]
    if draw(st.integers(0, 4)) > 0:
        value = draw(st.sampled_from(valid))
        return Drawn(value, True, largest(value))
    return Drawn(draw(st.sampled_from(invalid)), False)


def innermost_frame(error: BaseException) -> tuple[Path, str]:
    tb = error.__traceback__
    assert tb is not None
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = Path(tb.tb_frame.f_code.co_filename).resolve()
    return filename, linecache.getline(str(filename), tb.tb_lineno)


def raised_by_refnet(error: BaseException) -> bool:
    """True when the innermost frame is inside refnet and on a ``raise`` statement (not in NumPy)."""
    filename, line = innermost_frame(error)
    return REFNET_DIR in filename.parents and line.strip().startswith("raise")


def assert_refused(error: BaseException) -> None:
    """The promise for invalid input: a documented exception with a message, raised by refnet."""
    event(f"invalid input refused: {type(error).__name__}")
    assert isinstance(error, (ValueError, TypeError)), f"undocumented exception {type(error).__name__}: {error}"
    assert raised_by_refnet(error), f"{type(error).__name__} not raised by refnet's own checks: {error}"
    assert str(error), "an error without a message"


def assert_allowed_for_valid_input(
    error: BaseException, *, scale: float, dtype: np.dtype[Any], one_row_batch_norm: bool, may_diverge: bool
) -> None:
    """The only refusals valid input may meet, each where its cause is present."""
    assert raised_by_refnet(error), f"{type(error).__name__} not raised by refnet's own checks: {error}"
    message = str(error)
    if isinstance(error, ShapeError) and one_row_batch_norm and "at least 2 rows" in message:
        event("valid input: BatchNorm refuses a one-row batch")
        return
    if isinstance(error, TrainingDivergedError) and (may_diverge or scale > ORDINARY):
        event("valid input: training diverged")
        return
    if isinstance(error, NonFiniteError) and not isinstance(error, TrainingDivergedError) and scale > ORDINARY:
        event("valid input: values too large for the model (NonFiniteError)")
        return
    if type(error) is ValueError and "too large for" in message and scale > float(np.finfo(dtype).max):
        event("valid input: values too large for the dtype")
        return
    raise AssertionError(f"valid input of magnitude {scale:g} refused: {type(error).__name__}: {message}")


def has_batch_norm(net: NeuralNetwork) -> bool:
    return any(isinstance(layer, BatchNorm) for layer in net.layers)


def assert_finite_network(net: NeuralNetwork) -> None:
    for layer in net.layers:
        for name, value in {**layer.params, **layer.grads, **layer.state}.items():
            assert np.isfinite(value).all(), f"{type(layer).__name__}.{name} is not finite"


@FUZZ
@given(st.data(), networks())
def test_forward_gives_finite_outputs_for_valid_input_and_refuses_invalid(
    data: st.DataObject, net: NeuralNetwork
) -> None:
    assert net.in_features is not None
    X = data.draw(inputs(net.in_features))
    training = data.draw(st.booleans())
    try:
        y = net.forward(X.value, training=training)
    except Exception as error:
        if not X.valid:
            assert_refused(error)
            return
        one_row = training and has_batch_norm(net) and rows_of(X) == 1
        assert_allowed_for_valid_input(
            error, scale=X.scale, dtype=net.dtype, one_row_batch_norm=one_row, may_diverge=False
        )
        return
    assert X.valid, "invalid input was accepted"
    event("valid input: output computed")
    assert y.dtype == net.dtype and y.shape == (rows_of(X), net.output_features())
    assert np.isfinite(y).all()


@FUZZ
@given(st.data(), networks(), st.sampled_from(["compute_gradients", "evaluate"]))
def test_compute_gradients_and_evaluate_succeed_for_valid_input_and_refuse_invalid(
    data: st.DataObject, net: NeuralNetwork, method: str
) -> None:
    assert net.in_features is not None and net.loss is not None
    X = data.draw(inputs(net.in_features))
    Y = targets_for(net.loss, rows_of(X), net.output_features() or 1, data.draw)
    try:
        result = getattr(net, method)(X.value, Y.value)
    except Exception as error:
        if not (X.valid and Y.valid):
            assert_refused(error)
            return
        one_row = method == "compute_gradients" and has_batch_norm(net) and rows_of(X) == 1
        assert_allowed_for_valid_input(
            error, scale=max(X.scale, Y.scale), dtype=net.dtype, one_row_batch_norm=one_row, may_diverge=False
        )
        return
    assert X.valid and Y.valid, "invalid input was accepted"
    event(f"valid input: {method} computed")
    value = result if method == "compute_gradients" else result["loss"]
    assert math.isfinite(value)
    if method == "evaluate" and net.loss.is_classification:
        assert 0.0 <= result["accuracy"] <= 1.0
    assert_finite_network(net)


@FUZZ
@given(st.data(), networks(), st.sampled_from(["sgd", "adam"]), st.sampled_from([None, 1, 3]))
def test_train_succeeds_for_valid_input_and_refuses_invalid_up_front(
    data: st.DataObject, net: NeuralNetwork, name: str, batch_size: int | None
) -> None:
    assert net.in_features is not None and net.loss is not None
    X = data.draw(inputs(net.in_features))
    Y = targets_for(net.loss, rows_of(X), net.output_features() or 1, data.draw)
    lr = data.draw(st.sampled_from([1e-3, 0.1, 10.0, 1e6]))
    optimizer = SGD(lr, momentum=0.9) if name == "sgd" else Adam(lr)
    before = net.get_arrays()
    try:
        history = net.train(X.value, Y.value, epochs=3, optimizer=optimizer, batch_size=batch_size)
    except Exception as error:
        for key, value in net.get_arrays().items():
            assert np.isfinite(value).all(), key
        if not isinstance(error, TrainingDivergedError):  # refused up front: nothing changed
            for key, value in net.get_arrays().items():
                assert value.tobytes() == before[key].tobytes(), key
        if not (X.valid and Y.valid):
            assert_refused(error)
            return
        rows = rows_of(X)
        batch = rows if batch_size is None else batch_size
        one_row = has_batch_norm(net) and (rows % batch or batch) == 1
        # Gradient descent on a squared error is stable only while lr·λ < 2(1 + μ), where the curvature λ grows
        # like |x|²: inputs of magnitude s make even lr = 1e-3 diverge once lr·s² is of order 1 (s ≈ 640 did).
        may_diverge = lr > 1e-3 or X.scale > (1.0 / lr) ** 0.5
        assert_allowed_for_valid_input(
            error, scale=max(X.scale, Y.scale), dtype=net.dtype, one_row_batch_norm=one_row, may_diverge=may_diverge
        )
        return
    assert X.valid and Y.valid, "invalid input was accepted"
    event("valid input: trained")
    assert history.epochs == [0, 1, 2] and np.isfinite(history["loss"]).all()
    for key, value in net.get_arrays().items():
        assert np.isfinite(value).all(), key


@st.composite
def loss_arguments(draw: st.DrawFn, loss: Loss, N: int, C: int) -> tuple[Drawn, Drawn]:
    """(y_pred, y_true) for ``loss``: valid ones (of any size) for it, or hostile ones."""
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    scale = draw(st.sampled_from(SCALES))
    pred = finite_matrix(N, C, scale, draw(st.integers(0, 99)))
    if isinstance(loss, BinaryCrossEntropy) and not loss.from_logits:
        pred = 1.0 / (1.0 + np.exp(-np.clip(pred, -50, 50)))  # probabilities
    if dtype is np.float32 and largest(pred) > float(np.finfo(np.float32).max):
        y_pred = Drawn(pred, True, largest(pred))  # cast below would overflow: keep float64
    else:
        y_pred = Drawn(pred.astype(dtype), True, largest(pred))
    y_true = targets_for(loss, N, C, draw)
    hostile = draw(st.sampled_from(["none"] * 6 + ["nan", "inf", "3d", "1d", "str", "object", "empty"]))
    if hostile == "none":
        return y_pred, y_true
    bad = y_pred.value.copy()
    if hostile in ("nan", "inf"):
        bad.flat[0] = np.nan if hostile == "nan" else np.inf
    bad = {
        "3d": np.ones((N, C, 2, 3)),  # extra axes no target here has
        "1d": bad.ravel(),
        "str": bad.astype(str),
        "object": bad.astype(object),
        "empty": np.zeros((0, C)),
    }.get(hostile, bad)
    return Drawn(bad, False), y_true


@FUZZ
@given(st.data(), st.integers(1, 4), st.integers(2, 4))
def test_losses_give_finite_values_for_valid_input_and_refuse_invalid(data: st.DataObject, N: int, C: int) -> None:
    loss = data.draw(
        st.sampled_from([MSE(), CrossEntropy(), BinaryCrossEntropy(), BinaryCrossEntropy(from_logits=True)])
    )
    y_pred, y_true = data.draw(loss_arguments(loss, N, C))
    try:
        value = loss.forward(y_pred.value, y_true.value)
        grad = loss.backward()
    except Exception as error:
        if not (y_pred.valid and y_true.valid):
            assert_refused(error)
            return
        assert_allowed_for_valid_input(
            error,
            scale=max(y_pred.scale, y_true.scale),
            dtype=y_pred.value.dtype,
            one_row_batch_norm=False,
            may_diverge=False,
        )
        return
    assert y_pred.valid and y_true.valid, "invalid input was accepted"
    event("valid input: loss computed")
    assert math.isfinite(value)
    assert grad.shape == (N, C) and grad.dtype == y_pred.value.dtype
    assert np.isfinite(grad).all()
