"""Convolutional layers inside networks: shapes through the stack, training, saving, graphs, clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import assert_gradient_close, central_difference
from numpy.typing import NDArray

from refnet import (
    SGD,
    Adam,
    Add,
    AvgPool2D,
    BatchNorm2D,
    Callback,
    Conv2D,
    CrossEntropy,
    Dense,
    EarlyStopping,
    Flatten,
    GraphModel,
    Input,
    MaxPool2D,
    NeuralNetwork,
    ReLU,
    ShapeError,
    Tanh,
)


def small_cnn(dtype: Any = np.float64, seed: int = 0, input_shape: Any = (1, 8, 8)) -> NeuralNetwork:
    return NeuralNetwork(
        [
            Conv2D(1, 4, 3, padding=1, activation="relu", l2_lambda=1e-3, dtype=dtype),
            BatchNorm2D(4, dtype=dtype),
            MaxPool2D(2),
            Conv2D(4, 6, 3, stride=1, activation="tanh", dtype=dtype),
            AvgPool2D(2),
            Flatten(),
            Dense(6, 3, dtype=dtype),
        ],
        CrossEntropy(),
        seed=seed,
        input_shape=input_shape,
    )


def blobs(n: int = 60, seed: int = 0) -> tuple[Any, Any]:
    """Images of a bright square in one of three corners (the label), plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = 0.1 * rng.standard_normal((n, 1, 8, 8))
    for i, label in enumerate(y):
        top, left = [(0, 0), (0, 5), (5, 0)][label]
        X[i, 0, top : top + 3, left : left + 3] += 1.0
    return X, y


def test_summary_shows_the_per_sample_image_shapes() -> None:
    text = str(small_cnn())
    for shape in ("(N, 4, 8, 8)", "(N, 4, 4, 4)", "(N, 6, 2, 2)", "(N, 6, 1, 1)", "(N, 6)", "(N, 3)"):
        assert shape in text
    assert small_cnn().output_shape() == (3,)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_cnn_learns_and_keeps_its_dtype(dtype: Any) -> None:
    X, y = blobs()
    net = small_cnn(dtype)
    history = net.train(X, y, epochs=15, optimizer=Adam(0.01), batch_size=16, verbose=0)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert net.evaluate(X, y)["accuracy"] >= 0.9
    probabilities = net.predict_proba(X[:5])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert net.predict(X).dtype == dtype
    for layer in net.layers:
        for array in (*layer.params.values(), *layer.grads.values(), *layer.state.values()):
            assert array.dtype == dtype


def test_a_saved_cnn_loads_with_the_same_predictions_and_statistics(tmp_path: Path) -> None:
    X, y = blobs()
    net = small_cnn()
    net.train(X, y, epochs=2, optimizer=SGD(0.05, momentum=0.9), verbose=0)
    net.save(tmp_path / "cnn.npz")
    loaded = NeuralNetwork.load(tmp_path / "cnn.npz")
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in net.layers]
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    np.testing.assert_array_equal(loaded.layers[1].state["running_var"], net.layers[1].state["running_var"])
    conv, first = loaded.layers[3], loaded.layers[0]
    assert isinstance(conv, Conv2D) and isinstance(first, Conv2D)
    assert (conv.kernel_size, conv.stride, conv.padding, conv.activation.name) == ((3, 3), (1, 1), (0, 0), "tanh")
    assert first.regularizer.l2_lambda == 1e-3


def test_the_network_seed_drives_the_conv_weights() -> None:
    first, again, other = small_cnn(seed=3), small_cnn(seed=3), small_cnn(seed=4)
    np.testing.assert_array_equal(first.layers[0].params["W"], again.layers[0].params["W"])
    assert not np.array_equal(first.layers[0].params["W"], other.layers[0].params["W"])


def test_the_conv_penalty_is_part_of_the_reported_loss() -> None:
    X, y = blobs(8)
    net = small_cnn()
    W = net.layers[0].params["W"]
    assert net.penalty() == pytest.approx(0.5e-3 * float((W * W).sum()), rel=1e-12)
    data_loss = CrossEntropy().forward(net.forward(X, training=True), y)
    assert net.compute_gradients(X, y) == pytest.approx(data_loss + net.penalty(), rel=1e-12)


class Recorder(Callback):
    """Keeps a copy of every parameter and state array at the end of each epoch."""

    def __init__(self, net: NeuralNetwork) -> None:
        self.net = net
        self.epochs: list[list[NDArray[Any]]] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.epochs.append(
            [value.copy() for layer in self.net.layers for value in (*layer.params.values(), *layer.state.values())]
        )


def test_early_stopping_restores_the_best_conv_weights_and_running_statistics() -> None:
    X, y = blobs(48)
    net = small_cnn()
    recorder = Recorder(net)
    stop = EarlyStopping(monitor="loss", patience=2, restore_best_weights=True)
    history = net.train(X, y, epochs=8, optimizer=Adam(0.3), callbacks=[recorder, stop], verbose=0)  # overshoots
    best = int(np.argmin(history["loss"]))
    assert best < len(history["loss"]) - 1, "the rate was meant to overshoot after the best epoch"
    now = [value for layer in net.layers for value in (*layer.params.values(), *layer.state.values())]
    for restored, recorded in zip(now, recorder.epochs[best], strict=True):
        np.testing.assert_array_equal(restored, recorded)


def test_flatten_before_a_dense_of_the_wrong_width_names_both_widths() -> None:
    layers = [Conv2D(1, 2, 3), Flatten(), Dense(10, 2)]  # Flatten gives 2·6·6 = 72
    with pytest.raises(ShapeError, match=r"layer 2 \(Dense\).*expects 10 input features.*\(N, 72\)"):
        NeuralNetwork(layers, input_shape=(1, 8, 8))
    net = NeuralNetwork([Conv2D(1, 2, 3), Flatten(), Dense(10, 2)])
    with pytest.raises(ShapeError, match=r"layer 2 \(Dense\).*expects 10 input features.*\(N, 72\)"):
        net.predict(np.zeros((1, 1, 8, 8)))


@pytest.mark.parametrize("input_shape", [None, (1, 8, 8)])
def test_flat_rows_given_to_a_cnn_say_which_image_shape_is_expected(input_shape: Any) -> None:
    net = small_cnn(input_shape=input_shape)
    with pytest.raises(
        ShapeError, match=r"layer 0 \(Conv2D\).*= \(N, 1, H, W\), got \(N, 64\).*X.reshape\(N, 1, H, W\)"
    ):
        net.predict(np.zeros((5, 64)))
    with pytest.raises(ShapeError, match=r"layer 0 \(Conv2D\).*expects 1 channels \(axis 1\), got inputs of shape"):
        net.predict(np.zeros((5, 3, 8, 8)))


def test_images_smaller_than_a_kernel_are_refused_before_any_work() -> None:
    with pytest.raises(ShapeError, match=r"layer 2 \(MaxPool2D\).*kernel 2x2 is larger than the input 1x1"):
        NeuralNetwork([Conv2D(1, 2, 3), ReLU(), MaxPool2D(2)], input_shape=(1, 3, 3))


def residual_block(seed: int = 0) -> GraphModel:
    """x → Conv(tanh) → Conv → Add(x, ·) → Tanh → Flatten → Dense: a residual CNN block."""
    x = Input((3, 5, 5))
    h = Conv2D(3, 3, 3, padding=1, activation="tanh", seed=seed + 1)(x)
    r = Add()(x, Conv2D(3, 3, 3, padding=1, l2_lambda=0.01, seed=seed + 2)(h))
    return GraphModel(x, Dense(75, 2, seed=seed + 3)(Flatten()(Tanh()(r))), CrossEntropy())


def test_a_residual_cnn_block_has_the_gradients_of_central_differences() -> None:
    rng = np.random.default_rng(0)
    model = residual_block()
    X, y = rng.standard_normal((3, 3, 5, 5)), rng.integers(0, 2, 3)
    model.compute_gradients(X, y)
    for layer in model.layers:
        for name, value in layer.params.items():
            analytic = layer.grads[name].copy()
            assert_gradient_close(analytic, central_difference(lambda: model.compute_gradients(X, y), value))


def test_a_residual_cnn_block_trains_saves_and_loads(tmp_path: Path) -> None:
    X, y = blobs(30)
    X, y = np.repeat(X, 3, axis=1)[:, :, 1:6, 1:6], y % 2
    model = residual_block()
    assert "(N, 3, 5, 5)" in str(model)
    history = model.train(X, y, epochs=10, optimizer=Adam(0.01), verbose=0)
    assert history["loss"][-1] < history["loss"][0]
    model.save(tmp_path / "residual.npz")
    loaded = GraphModel.load(tmp_path / "residual.npz")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    with pytest.raises(ShapeError, match="Add"):
        x = Input((3, 5, 5))
        Add()(x, Conv2D(3, 4, 3, padding=1)(x))  # 4 channels cannot be added to 3
