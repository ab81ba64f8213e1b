"""The NeuralNetwork API: building, forward/predict, compute_gradients, evaluate, summary, train."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from refnet import MSE, SGD, Adam, Callback, CrossEntropy, Dense, NeuralNetwork

SETTINGS = settings(max_examples=20, deadline=None)


def test_add_and_set_loss_chain_and_record_the_layers() -> None:
    first, second, loss = Dense(3, 4, "relu"), Dense(4, 2), MSE()
    net = NeuralNetwork().add(first).add(second).set_loss(loss)
    assert net.layers == [first, second]
    assert net.loss is loss


def test_forward_and_predict_compose_the_layers_in_order() -> None:
    rng = np.random.default_rng(0)
    first, second = Dense(3, 4, "tanh", seed=1), Dense(4, 2, "sigmoid", seed=2)
    net = NeuralNetwork([first, second])
    X = rng.normal(size=(5, 3))
    hidden = np.tanh(X @ first.params["W"] + first.params["b"])
    expected = 1 / (1 + np.exp(-(hidden @ second.params["W"] + second.params["b"])))
    np.testing.assert_allclose(net.forward(X), expected, rtol=1e-12)
    np.testing.assert_allclose(net.predict(X), expected, rtol=1e-12)


def test_compute_gradients_reports_data_loss_plus_every_penalty() -> None:
    rng = np.random.default_rng(1)
    first = Dense(3, 4, "tanh", l1_lambda=0.1, seed=1)
    second = Dense(4, 2, l2_lambda=0.3, seed=2)
    net = NeuralNetwork([first, second], MSE())
    X, Y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    prediction = np.tanh(X @ first.params["W"] + first.params["b"]) @ second.params["W"] + second.params["b"]
    expected = (
        np.mean((prediction - Y) ** 2) + 0.1 * np.abs(first.params["W"]).sum() + 0.15 * (second.params["W"] ** 2).sum()
    )
    assert net.compute_gradients(X, Y) == pytest.approx(expected, rel=1e-12)
    assert net.evaluate(X, Y)["loss"] == pytest.approx(expected, rel=1e-12)


def test_evaluate_reports_accuracy_for_classifiers() -> None:
    rng = np.random.default_rng(2)
    net = NeuralNetwork([Dense(4, 3, seed=0)], CrossEntropy())
    X, labels = rng.normal(size=(50, 4)), rng.integers(0, 3, size=50)
    result = net.evaluate(X, labels)
    assert result["accuracy"] == pytest.approx(np.mean(net.predict(X).argmax(axis=1) == labels))
    assert "accuracy" not in NeuralNetwork([Dense(4, 1)], MSE()).evaluate(X, labels.astype(float))


def test_summary_prints_the_table_and_returns_nothing_so_the_repl_shows_no_escaped_string(
    capsys: pytest.CaptureFixture[str],
) -> None:
    net = NeuralNetwork([Dense(3, 7, "relu"), Dense(7, 2, "sigmoid")], MSE())
    assert net.summary() is None  # type: ignore[func-returns-value]
    assert capsys.readouterr().out == str(net) + "\n"
    lines: list[str] = []
    net.summary(print_fn=lines.append)
    assert lines == [str(net)] and str(net).count("\n") >= 4


def test_summary_lists_layer_names_output_shapes_and_parameter_counts() -> None:
    net = NeuralNetwork([Dense(3, 7, "relu"), Dense(7, 2, "sigmoid")], MSE())
    text = str(net)
    assert "Dense" in text and "relu" in text and "sigmoid" in text
    assert "(N, 7)" in text and "(N, 2)" in text
    assert str(3 * 7 + 7) in text and str(7 * 2 + 2) in text
    assert str(3 * 7 + 7 + 7 * 2 + 2) in text
    assert net.parameter_count() == 3 * 7 + 7 + 7 * 2 + 2


class BatchRecorder(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[int, float, float]] = []

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        self.batches.append((batch, logs["size"], logs["loss"]))


@SETTINGS
@given(st.integers(1, 13), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_train_uses_every_row_and_history_loss_is_the_batch_size_weighted_mean(
    N: int, batch_size: int, seed: int
) -> None:
    """Replays a shuffle=False run by hand: y = xW + b, MSE, plain SGD, one step per batch."""
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(N, 3)), rng.normal(size=(N, 2))
    layer = Dense(3, 2, seed=seed)
    W, b = layer.params["W"].copy(), layer.params["b"].copy()
    net = NeuralNetwork([layer], MSE())
    recorder = BatchRecorder()
    lr, epochs = 0.05, 2
    history = net.train(
        X, Y, epochs=epochs, optimizer=SGD(lr), batch_size=batch_size, shuffle=False, callbacks=[recorder]
    )

    expected_sizes, expected_epoch_losses = [], []
    for _ in range(epochs):
        weighted = 0.0
        for start in range(0, N, batch_size):
            x, y = X[start : start + batch_size], Y[start : start + batch_size]
            error = x @ W + b - y
            weighted += float(np.mean(error**2)) * len(x)
            grad = 2 * error / error.size
            W, b = W - lr * x.T @ grad, b - lr * grad.sum(axis=0)
            expected_sizes.append(float(len(x)))
        expected_epoch_losses.append(weighted / N)

    assert [size for _, size, _ in recorder.batches] == expected_sizes
    assert sum(expected_sizes) == epochs * N  # the last partial batch is used
    np.testing.assert_allclose(history["loss"], expected_epoch_losses, rtol=1e-10)
    np.testing.assert_allclose(layer.params["W"], W, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.params["b"], b, rtol=1e-10, atol=1e-12)


def test_the_default_batch_size_is_32_and_none_is_full_batch() -> None:
    X, Y = np.ones((70, 2)), np.ones(70)
    default, full = BatchRecorder(), BatchRecorder()
    NeuralNetwork([Dense(2, 1)], MSE()).train(X, Y, epochs=2, optimizer=SGD(0.01), callbacks=[default])
    NeuralNetwork([Dense(2, 1)], MSE()).train(X, Y, epochs=2, optimizer=SGD(0.01), batch_size=None, callbacks=[full])
    assert [size for _, size, _ in default.batches] == [32.0, 32.0, 6.0] * 2
    assert [size for _, size, _ in full.batches] == [70.0] * 2


def test_training_solves_xor() -> None:
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    labels = np.array([0, 1, 1, 0])
    net = NeuralNetwork([Dense(2, 8, "tanh", seed=0), Dense(8, 2, seed=1)], CrossEntropy(), seed=0)
    history = net.train(X, labels, epochs=300, optimizer=Adam(0.05))
    np.testing.assert_array_equal(net.predict(X).argmax(axis=1), labels)
    assert history["loss"][-1] < 0.1 * history["loss"][0]
    assert net.evaluate(X, labels)["accuracy"] == 1.0


def test_training_reaches_95_percent_test_accuracy_on_digits() -> None:
    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data / 16.0, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    net = NeuralNetwork([Dense(64, 64, "relu", seed=0), Dense(64, 10, seed=1)], CrossEntropy(), seed=0)
    net.train(X_train, y_train, epochs=20, optimizer=Adam(0.005), batch_size=32)
    accuracy = np.mean(net.predict(X_test).argmax(axis=1) == y_test)
    assert accuracy >= 0.95
    assert net.evaluate(X_test, y_test)["accuracy"] == pytest.approx(accuracy)
