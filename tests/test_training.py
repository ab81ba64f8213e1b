"""train(): validation data and split, the History, the progress display and History.plot."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from refnet import MSE, SGD, Adam, Callback, CrossEntropy, Dense, History, NeuralNetwork
from refnet.callbacks import Logs
from refnet.progress import ProgressBar


def classification(n: int = 60, seed: int = 0) -> tuple[NDArray[Any], NDArray[Any]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, (X[:, 0] * X[:, 1] > 0).astype(int)


def classifier(seed: int = 0) -> NeuralNetwork:
    return NeuralNetwork([Dense(2, 16, "tanh", seed=seed), Dense(16, 2, seed=seed + 1)], CrossEntropy(), seed=seed + 2)


def regressor(seed: int = 0) -> NeuralNetwork:
    return NeuralNetwork([Dense(2, 8, "tanh", seed=seed), Dense(8, 1, seed=seed + 1)], MSE(), seed=seed + 2)


# -- validation ----------------------------------------------------------------------------


def test_validation_data_gives_val_loss_and_val_accuracy_every_epoch() -> None:
    X, Y = classification()
    Xv, Yv = classification(40, seed=1)
    net = classifier()
    history = net.train(X, Y, epochs=4, optimizer=Adam(0.05), batch_size=16, validation_data=(Xv, Yv))
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 4 for values in history.history.values())
    assert all(0.0 <= a <= 1.0 for a in history["accuracy"] + history["val_accuracy"])
    final = net.evaluate(Xv, Yv)
    assert history["val_loss"][-1] == final["loss"] and history["val_accuracy"][-1] == final["accuracy"]


def test_regression_history_has_no_accuracy() -> None:
    X, Y = classification()
    history = regressor().train(X, Y.astype(float), epochs=2, optimizer=SGD(0.01), validation_data=(X, Y))
    assert set(history.history) == {"loss", "val_loss"}


def test_validation_split_without_shuffle_holds_out_the_last_rows() -> None:
    X, Y = classification(50)
    net = classifier()
    history = net.train(X, Y, epochs=3, optimizer=Adam(0.05), validation_split=0.2, split_shuffle=False)
    assert history["val_loss"][-1] == net.evaluate(X[-10:], Y[-10:])["loss"]
    # ... and trains on the others only: the same as training on X[:40] without a split
    other = classifier()
    other.train(X[:40], Y[:40], epochs=3, optimizer=Adam(0.05))
    np.testing.assert_array_equal(net.layers[0].params["W"], other.layers[0].params["W"])


def test_validation_split_shuffles_with_the_network_generator() -> None:
    X, Y = classification(50)
    net = classifier(seed=0)
    history = net.train(X, Y, epochs=2, optimizer=Adam(0.05), validation_split=0.3)
    held = np.random.default_rng(2).permutation(50)[-15:]  # the network's seed is 2: its first draw
    assert history["val_loss"][-1] == net.evaluate(X[held], Y[held])["loss"]


@pytest.mark.parametrize("split", [1.0, -0.1, 0.001])
def test_validation_split_must_leave_rows_on_both_sides(split: float) -> None:
    X, Y = classification(50)
    with pytest.raises(ValueError, match="validation_split"):
        classifier().train(X, Y, epochs=1, optimizer=SGD(0.1), validation_split=split)


def test_validation_data_and_split_are_exclusive() -> None:
    X, Y = classification(50)
    with pytest.raises(ValueError, match="not both"):
        classifier().train(X, Y, epochs=1, optimizer=SGD(0.1), validation_data=(X, Y), validation_split=0.2)


# -- History -------------------------------------------------------------------------------


class BatchLog(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[Logs] = []

    def on_batch_end(self, batch: int, logs: Logs) -> None:
        self.batches.append(dict(logs))


def test_epoch_loss_is_the_batch_size_weighted_mean_of_the_batch_losses() -> None:
    X, Y = classification(23)
    log = BatchLog()
    history = classifier().train(X, Y, epochs=1, optimizer=SGD(0.1), batch_size=10, callbacks=[log])
    assert [b["size"] for b in log.batches] == [10, 10, 3]
    weighted = sum(b["loss"] * b["size"] for b in log.batches) / 23
    assert history["loss"][0] == pytest.approx(weighted, rel=1e-14)
    assert history["loss"][0] != pytest.approx(np.mean([b["loss"] for b in log.batches]), rel=1e-9)


def test_history_repr_and_membership() -> None:
    X, Y = classification(20)
    history = classifier().train(X, Y, epochs=2, optimizer=SGD(0.1))
    assert "loss" in history and "val_loss" not in history
    assert repr(history) == "History(epochs=2, keys=['loss', 'accuracy'])"


# -- progress display ----------------------------------------------------------------------


class FakeStream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_verbose_zero_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    X, Y = classification(20)
    classifier().train(X, Y, epochs=3, optimizer=SGD(0.1), verbose=0)
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("verbose", [1, 2])
def test_without_a_terminal_progress_is_one_plain_line_per_epoch(
    capsys: pytest.CaptureFixture[str], verbose: int
) -> None:
    X, Y = classification(40)
    Xv, Yv = classification(20, seed=1)
    history = classifier().train(
        X, Y, epochs=3, optimizer=SGD(0.1), batch_size=8, validation_data=(Xv, Yv), verbose=verbose
    )
    out = capsys.readouterr().out
    assert "\r" not in out and "\x1b" not in out
    lines = out.splitlines()
    assert len(lines) == 3
    for epoch, line in enumerate(lines):
        assert line.startswith(f"epoch {epoch + 1}/3  loss {history['loss'][epoch]:.4f}")
        assert f"val_loss {history['val_loss'][epoch]:.4f}" in line
        assert f"val_accuracy {history['val_accuracy'][epoch]:.4f}" in line


def test_in_a_terminal_progress_is_a_live_bar_replaced_by_the_epoch_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = FakeStream(tty=True)
    monkeypatch.setattr(sys, "stdout", stream)
    X, Y = classification(40)
    history = classifier().train(X, Y, epochs=2, optimizer=SGD(0.1), batch_size=10, verbose=1)
    out = stream.getvalue()
    assert out.count("\n") == 2, "one finished line per epoch"
    assert "\r" in out and "[" + "=" * 30 + "] 4/4" in out
    assert "1/4  loss" in out, "the bar is drawn during the epoch"
    last = out.split("\n")[-2].split("\r")[-1]
    assert last.startswith("\x1b[2Kepoch 2/2  loss ")  # the bar is erased and replaced by the summary
    assert f"accuracy {history['accuracy'][1]:.4f}" in last


def test_progress_bar_redraws_at_most_once_per_bar_step() -> None:
    stream = FakeStream(tty=True)
    bar = ProgressBar(epochs=1, samples=1000, batch_size=1, stream=stream)
    bar.on_epoch_begin(0)
    for batch in range(1000):
        bar.on_batch_end(batch, {"loss": 1.0, "size": 1.0})
    assert stream.getvalue().count("\r") == 31  # the empty bar, then one redraw per step


def test_progress_bar_uses_the_stream_isatty() -> None:
    assert ProgressBar(1, 10, 5, stream=FakeStream(tty=True)).live
    assert not ProgressBar(1, 10, 5, stream=FakeStream(tty=False)).live
    assert not ProgressBar(1, 10, 5, verbose=2, stream=FakeStream(tty=True)).live


# -- plots ---------------------------------------------------------------------------------


def test_history_plot_writes_a_png_with_loss_and_metric_panels(tmp_path: Path) -> None:
    X, Y = classification(30)
    history = classifier().train(X, Y, epochs=5, optimizer=SGD(0.1), validation_data=(X, Y))
    path = tmp_path / "curves.png"
    figure = history.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    left, right = figure.axes
    assert [line.get_label() for line in left.get_lines()] == ["loss", "val_loss"]
    assert [line.get_label() for line in right.get_lines()] == ["accuracy", "val_accuracy"]
    assert (left.get_ylabel(), right.get_ylabel()) == ("loss", "accuracy")
    np.testing.assert_array_equal(left.get_lines()[0].get_ydata(), history["loss"])
    np.testing.assert_array_equal(left.get_lines()[0].get_xdata(), [1, 2, 3, 4, 5])


def test_history_plot_of_a_regression_has_one_panel() -> None:
    X, Y = classification(30)
    history = regressor().train(X, Y.astype(float), epochs=3, optimizer=SGD(0.1))
    assert len(history.plot().axes) == 1


def test_history_plot_refuses_unknown_keys_and_an_empty_history() -> None:
    X, Y = classification(30)
    history = regressor().train(X, Y.astype(float), epochs=1, optimizer=SGD(0.1))
    with pytest.raises(ValueError, match="no \\['accuracy'\\]"):
        history.plot(keys=("accuracy",))
    with pytest.raises(ValueError, match="empty"):
        History().plot()


def test_history_plot_without_matplotlib_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    X, Y = classification(30)
    history = regressor().train(X, Y.astype(float), epochs=1, optimizer=SGD(0.1))
    with pytest.raises(ImportError, match=r'pip install "refnet\[plot\]"'):
        history.plot()


def test_a_live_bar_interrupted_mid_epoch_still_ends_its_line() -> None:
    stream = FakeStream(tty=True)
    bar = ProgressBar(epochs=3, samples=40, batch_size=10, stream=stream)
    bar.on_epoch_begin(0)
    bar.on_batch_end(0, {"loss": 1.0, "size": 10.0})
    bar.on_train_end()
    assert stream.getvalue().endswith("loss 1.0000\n")
