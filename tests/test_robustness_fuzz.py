"""Fuzzing: random small networks fed random, often hostile, inputs.

Whatever hypothesis draws (NaN, inf, huge values, empty or wrongly shaped arrays, object
and string arrays, ragged lists, None), every public call either raises one of refnet's
documented exceptions, from a ``raise`` statement in refnet itself, or returns finite
outputs and leaves finite gradients and parameters. Never a raw NumPy error, a warning (the
suite turns warnings into errors) or a NaN.
"""

from __future__ import annotations

import itertools
import linecache
import math
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

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
    NeuralNetwork,
)

REFNET_DIR = Path(refnet.__file__).resolve().parent
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


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


def finite_matrix(rows: int, cols: int, scale: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=scale, size=(rows, cols))


@st.composite
def hostile_inputs(draw: st.DrawFn, n_features: int) -> Any:
    """An X for a network with ``n_features`` inputs: well-formed, extreme, or malformed."""
    rows = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**16))
    good = finite_matrix(rows, n_features, draw(st.sampled_from([1.0, 1e3, 1e30, 1e150, 1e300])), seed)
    kind = draw(
        st.sampled_from(["good", "good", "nan", "inf", "empty", "no_columns", "wide", "1d", "3d", "object", "str"])
    )
    if kind == "good":
        return good
    if kind in ("nan", "inf"):
        good[draw(st.integers(0, rows - 1)), draw(st.integers(0, n_features - 1))] = (
            np.nan if kind == "nan" else -np.inf
        )
        return good
    malformed = {
        "empty": np.zeros((0, n_features)),
        "no_columns": np.zeros((rows, 0)),
        "wide": np.ones((rows, n_features + 1)),
        "1d": np.ones(n_features),
        "3d": np.ones((rows, n_features, 1)),
        "object": good.astype(object),
        "str": good.astype(str),
    }
    return draw(st.sampled_from([malformed[kind], None, "abc", [[1.0, 2.0], [3.0]], 3.5, good.tolist()]))


def targets_for(net: NeuralNetwork, rows: int, draw: st.DrawFn) -> Any:
    """A Y that fits the loss, or (sometimes) one that does not."""
    out = net.output_features()
    assert out is not None
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    if isinstance(net.loss, CrossEntropy):
        good: Any = rng.integers(0, out, size=rows)
    elif isinstance(net.loss, BinaryCrossEntropy):
        good = rng.integers(0, 2, size=(rows, out)).astype(float)
    else:
        good = rng.normal(size=(rows, out))
    bad = [
        np.full((rows, out), np.nan),
        np.full((rows + 1, out), 0.5),
        np.full(rows, out + 3),
        np.array([["x"] * out] * rows),
        np.full((rows, out), 1e300),
        None,
    ]
    return draw(st.one_of(st.just(good), st.just(good), st.sampled_from(bad)))


def raised_by_refnet(error: BaseException) -> bool:
    """True when the innermost frame is inside refnet and on a ``raise`` statement (not in NumPy)."""
    tb = error.__traceback__
    assert tb is not None
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = Path(tb.tb_frame.f_code.co_filename).resolve()
    line = linecache.getline(str(filename), tb.tb_lineno)
    return REFNET_DIR in filename.parents and line.strip().startswith("raise")


def assert_clean_failure(error: BaseException) -> None:
    event(f"refused: {type(error).__name__}")
    assert isinstance(error, (ValueError, TypeError)), f"undocumented exception {type(error).__name__}: {error}"
    assert raised_by_refnet(error), f"{type(error).__name__} not raised by refnet's own checks: {error}"
    assert str(error), "an error without a message"


def assert_finite_network(net: NeuralNetwork) -> None:
    for layer in net.layers:
        for name, value in {**layer.params, **layer.grads, **layer.state}.items():
            assert np.isfinite(value).all(), f"{type(layer).__name__}.{name} is not finite"


@FUZZ
@given(st.data(), networks())
def test_forward_and_predict_give_finite_outputs_or_a_clear_error(data: st.DataObject, net: NeuralNetwork) -> None:
    assert net.in_features is not None
    X = data.draw(hostile_inputs(net.in_features))
    training = data.draw(st.booleans())
    try:
        y = net.forward(X, training=training)
    except Exception as error:
        assert_clean_failure(error)
        return
    assert np.isfinite(y).all()
    assert y.dtype == net.dtype and y.shape == (len(y), net.output_features())


@FUZZ
@given(st.data(), networks())
def test_compute_gradients_and_evaluate_give_finite_results_or_a_clear_error(
    data: st.DataObject, net: NeuralNetwork
) -> None:
    assert net.in_features is not None
    X = data.draw(hostile_inputs(net.in_features))
    rows = len(X) if isinstance(X, np.ndarray) and X.ndim >= 1 else 2
    Y = targets_for(net, rows, data.draw)
    method = data.draw(st.sampled_from(["compute_gradients", "evaluate"]))
    try:
        result = getattr(net, method)(X, Y)
    except Exception as error:
        assert_clean_failure(error)
        return
    value = result if method == "compute_gradients" else result["loss"]
    assert math.isfinite(value)
    assert_finite_network(net)


@FUZZ
@given(st.data(), networks(), st.sampled_from(["sgd", "adam"]), st.sampled_from([None, 1, 3]))
def test_train_ends_finite_or_raises_a_clear_error(
    data: st.DataObject, net: NeuralNetwork, name: str, batch_size: int | None
) -> None:
    assert net.in_features is not None
    X = data.draw(hostile_inputs(net.in_features))
    rows = len(X) if isinstance(X, np.ndarray) and X.ndim >= 1 else 2
    Y = targets_for(net, rows, data.draw)
    lr = data.draw(st.sampled_from([1e-3, 0.1, 10.0, 1e6]))
    optimizer = SGD(lr, momentum=0.9) if name == "sgd" else Adam(lr)
    before = net.get_arrays()
    try:
        history = net.train(X, Y, epochs=3, optimizer=optimizer, batch_size=batch_size)
    except Exception as error:
        assert_clean_failure(error)
        for key, value in net.get_arrays().items():
            assert np.isfinite(value).all(), key
        if not isinstance(error, refnet.TrainingDivergedError):  # refused up front: nothing changed
            for key, value in net.get_arrays().items():
                assert value.tobytes() == before[key].tobytes(), key
        return
    assert np.isfinite(history["loss"]).all()
    for key, value in net.get_arrays().items():
        assert np.isfinite(value).all(), key


@st.composite
def hostile_arrays(draw: st.DrawFn, shape: tuple[int, int]) -> Any:
    """An array meant to have ``shape``: finite (from tiny to huge), with NaN/inf, wrongly shaped, or not numeric."""
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    scale = draw(st.sampled_from([1.0, 1e3, 1e30, 1e150, 1e300]))
    good = finite_matrix(
        *shape, scale=min(scale, 1e30 if dtype is np.float32 else scale), seed=draw(st.integers(0, 99))
    )
    good = good.astype(dtype)
    kind = draw(st.sampled_from(["good", "good", "good", "nan", "inf", "shape", "1d", "str", "object", "empty"]))
    if kind == "nan":
        good.flat[0] = np.nan
    if kind == "inf":
        good.flat[-1] = np.inf
    return {
        "shape": np.ones((shape[0] + 1, shape[1])),
        "1d": good.ravel(),
        "str": good.astype(str),
        "object": good.astype(object),
        "empty": np.zeros((0, shape[1])),
    }.get(kind, good)


@FUZZ
@given(st.data(), st.integers(1, 4), st.integers(2, 4))
def test_losses_give_finite_values_and_gradients_or_a_clear_error(data: st.DataObject, N: int, C: int) -> None:
    loss = data.draw(
        st.sampled_from([MSE(), CrossEntropy(), BinaryCrossEntropy(), BinaryCrossEntropy(from_logits=True)])
    )
    y_pred = data.draw(hostile_arrays((N, C)))
    if isinstance(loss, CrossEntropy) and data.draw(st.booleans()):
        y_true: Any = np.random.default_rng(N).integers(-1, C + 1, size=N)
    else:
        y_true = data.draw(hostile_arrays((N, C)))
    try:
        value = loss.forward(y_pred, y_true)
        grad = loss.backward()
    except Exception as error:
        assert_clean_failure(error)
        return
    assert math.isfinite(value)
    assert np.isfinite(grad).all() and grad.shape == np.shape(y_pred)
