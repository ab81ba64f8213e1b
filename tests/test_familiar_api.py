"""What users of Keras and scikit-learn expect: History as a mapping, stops that say why, predict_proba, __version__."""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import refnet
from refnet import (
    MSE,
    SGD,
    BinaryCrossEntropy,
    Callback,
    CallOrderError,
    CrossEntropy,
    Dense,
    Dropout,
    EarlyStopping,
    NeuralNetwork,
    TerminateOnNaN,
)
from refnet.callbacks import Logs
from refnet.graph import GraphModel, Input


def classification(n: int = 40, seed: int = 0) -> tuple[NDArray[Any], NDArray[Any]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, (X[:, 0] * X[:, 1] > 0).astype(int)


def classifier(seed: int = 0) -> NeuralNetwork:
    return NeuralNetwork([Dense(2, 16, "tanh", seed=seed), Dense(16, 2, seed=seed + 1)], CrossEntropy(), seed=seed + 2)


class Scripted(Callback):
    """Logs ``name`` with the given value at each epoch's end (a metric EarlyStopping can monitor)."""

    def __init__(self, name: str, values: list[float]) -> None:
        super().__init__()
        self.name, self.values = name, values

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        logs[self.name] = self.values[epoch]


class StopAt(Callback):
    """Stops training at the end of one epoch without giving a reason."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if epoch == self.epoch:
            assert self.network is not None
            self.network.stop_training = True


# -- History is a read-only mapping ---------------------------------------------------------


def test_history_is_a_mapping_of_metric_to_per_epoch_list() -> None:
    X, Y = classification()
    history = classifier().train(X, Y, epochs=3, optimizer=SGD(0.1), validation_data=(X, Y))
    assert isinstance(history, Mapping)
    assert list(history.keys()) == ["loss", "accuracy", "val_loss", "val_accuracy"] == list(history)
    assert len(history) == 4 and "val_loss" in history and "lr" not in history
    assert dict(history) == history.history and dict(history.items()) == history.history
    assert all(len(values) == 3 for values in history.values())
    assert history.get("lr") is None and history.get("loss") == history["loss"]


def test_history_keeps_its_attributes() -> None:
    X, Y = classification()
    history = classifier().train(X, Y, epochs=2, optimizer=SGD(0.1))
    assert history.history["loss"] is history["loss"]
    assert history.epochs == [0, 1] and history.stopped_reason is None
    assert repr(history) == "History(epochs=2, keys=['loss', 'accuracy'])"


def test_history_cannot_be_assigned_to() -> None:
    history = classifier().train(*classification(), epochs=1, optimizer=SGD(0.1))
    with pytest.raises(TypeError):
        history["loss"] = [0.0]  # type: ignore[index]
    with pytest.raises(TypeError):
        del history["loss"]  # type: ignore[attr-defined]
    with pytest.raises(KeyError):
        history["val_loss"]


# -- a stop says why on the progress display ------------------------------------------------


@pytest.mark.parametrize("verbose", [1, 2])
def test_early_stopping_says_when_and_why_on_the_progress_display(
    capsys: pytest.CaptureFixture[str], verbose: int
) -> None:
    X, Y = classification(10)
    scores = [5.0, 4.0, 3.0, 3.5, 3.2, 4.0, 5.0, 1.0]
    stopper = EarlyStopping(monitor="score", patience=3)
    history = classifier().train(
        X, Y, epochs=8, optimizer=SGD(0.1), callbacks=[Scripted("score", scores), stopper], verbose=verbose
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7, "6 epochs, then why it stopped"
    expected = "early stopping: no score improvement for 3 epochs; best score 3 at epoch 3, whose weights are restored"
    assert history.stopped_reason == expected
    assert lines[-1] == f"stopped after epoch 6/8: {expected}"


def test_early_stopping_without_restore_does_not_claim_to_restore() -> None:
    X, Y = classification(10)
    stopper = EarlyStopping(monitor="score", patience=1, restore_best_weights=False)
    history = classifier().train(
        X, Y, epochs=5, optimizer=SGD(0.1), callbacks=[Scripted("score", [1.0, 2.0] * 3), stopper]
    )
    assert history.stopped_reason == "early stopping: no score improvement for 1 epochs; best score 1 at epoch 1"


def diverging() -> tuple[NeuralNetwork, NDArray[Any], NDArray[Any]]:
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(32, 3)) * 100, rng.normal(size=(32, 1)) * 1e6
    return NeuralNetwork([Dense(3, 8, "relu", seed=0), Dense(8, 1, seed=1)], MSE(), seed=2), X, Y


def test_a_stop_before_an_epoch_took_a_step_is_reported_during_that_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    net, X, Y = diverging()
    history = net.train(X, Y, epochs=50, optimizer=SGD(0.5), batch_size=32, callbacks=[TerminateOnNaN()], verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(history.epochs) + 1
    assert lines[-1] == f"stopped during epoch {len(history.epochs) + 1}/50: non-finite loss"


def test_a_stop_after_some_batches_of_an_epoch_is_reported_after_it(capsys: pytest.CaptureFixture[str]) -> None:
    net, X, Y = diverging()
    history = net.train(X, Y, epochs=50, optimizer=SGD(0.5), batch_size=8, callbacks=[TerminateOnNaN()], verbose=2)
    # The epoch's finished batches make its (partial) summary line; then the stop.
    assert capsys.readouterr().out.splitlines()[-1] == f"stopped after epoch {len(history.epochs)}/50: non-finite loss"


def test_a_callback_that_stops_without_a_reason_is_still_reported(capsys: pytest.CaptureFixture[str]) -> None:
    X, Y = classification()
    classifier().train(X, Y, epochs=5, optimizer=SGD(0.1), callbacks=[StopAt(1)], verbose=2)
    assert capsys.readouterr().out.splitlines()[-1] == "stopped after epoch 2/5: a callback set network.stop_training"


def test_a_stop_is_silent_with_verbose_zero(capsys: pytest.CaptureFixture[str]) -> None:
    X, Y = classification()
    history = classifier().train(X, Y, epochs=5, optimizer=SGD(0.1), callbacks=[StopAt(1)])
    assert capsys.readouterr() == ("", "") and history.epochs == [0, 1]


def test_a_run_that_is_not_stopped_ends_with_its_last_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    X, Y = classification()
    classifier().train(X, Y, epochs=2, optimizer=SGD(0.1), verbose=2)
    assert capsys.readouterr().out.splitlines()[-1].startswith("epoch 2/2  loss ")


# -- predict_proba ------------------------------------------------------------------------


def test_predict_proba_of_cross_entropy_is_the_softmax_of_the_logits() -> None:
    X, Y = classification()
    net = classifier()
    net.train(X, Y, epochs=3, optimizer=SGD(0.1))
    z = net.predict(X)
    probabilities = net.predict_proba(X)
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # the textbook softmax
    np.testing.assert_allclose(probabilities, expected, rtol=1e-12)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(probabilities.argmax(axis=1), z.argmax(axis=1))


def test_predict_proba_stays_finite_for_huge_logits_in_float32() -> None:
    net = NeuralNetwork([Dense(1, 3, seed=0, dtype=np.float32)], CrossEntropy())
    net.layers[0].params["W"][...] = [[100.0, -100.0, 0.0]]
    probabilities = net.predict_proba(np.array([[10.0], [-10.0]], dtype=np.float32))
    assert probabilities.dtype == np.float32
    np.testing.assert_array_equal(probabilities, [[1, 0, 0], [0, 1, 0]])


def test_predict_proba_of_binary_cross_entropy_on_logits_is_the_sigmoid() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 3))
    net = NeuralNetwork([Dense(3, 2, seed=0)], BinaryCrossEntropy(from_logits=True))
    z = net.predict(X)
    np.testing.assert_allclose(net.predict_proba(X), 1 / (1 + np.exp(-z)), rtol=1e-12)


def test_predict_proba_of_probability_outputs_is_the_output_itself() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 3))
    net = NeuralNetwork([Dense(3, 4, "tanh", seed=0), Dropout(0.5, seed=1), Dense(4, 1, "sigmoid", seed=2)])
    net.set_loss(BinaryCrossEntropy())
    np.testing.assert_array_equal(net.predict_proba(X), net.predict(X))
    np.testing.assert_array_equal(net.predict_proba(X), net.predict_proba(X))  # evaluation mode: no dropout


def test_predict_proba_of_a_graph_model() -> None:
    x = Input(2)
    model = GraphModel(x, Dense(2, 3, seed=0)(x), loss=CrossEntropy())
    X = np.array([[1.0, -1.0], [0.5, 2.0]])
    z = model.predict(X)
    np.testing.assert_allclose(model.predict_proba(X), np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), rtol=1e-12)


def test_predict_proba_refuses_a_regression_loss_and_says_what_to_use() -> None:
    net = NeuralNetwork([Dense(2, 1, seed=0)], MSE())
    with pytest.raises(TypeError, match=r"MSE is a regression loss.*CrossEntropy or BinaryCrossEntropy.*predict\(X\)"):
        net.predict_proba(np.ones((3, 2)))


def test_predict_proba_refuses_outputs_that_are_not_the_probabilities_the_loss_expects() -> None:
    net = NeuralNetwork([Dense(2, 1, seed=0)], BinaryCrossEntropy())  # a linear output, not a sigmoid
    net.layers[0].params["W"][...] = 5.0
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\].*from_logits=True"):
        net.predict_proba(np.ones((3, 2)))


def test_predict_proba_without_a_loss_says_to_set_one() -> None:
    with pytest.raises(CallOrderError, match="set_loss"):
        NeuralNetwork([Dense(2, 2, seed=0)]).predict_proba(np.ones((3, 2)))


# -- the version ------------------------------------------------------------------------------


def test_version_is_the_installed_distributions() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", refnet.__version__)
    assert importlib.metadata.version("refnet") == refnet.__version__


# -- the network's surface: what a Keras or scikit-learn user expects, and one seam ----------------

NETWORK_NAMES = {
    # building
    "add", "set_loss", "layers", "loss", "optimizer", "rng", "dtype", "in_features", "output_features",
    "input_shape", "output_shape",
    # running
    "forward", "backward", "predict", "predict_proba", "compute_gradients", "penalty",
    # training
    "train", "evaluate", "stop_training", "stop_reason",
    # inspection and files
    "summary", "parameter_count", "get_arrays", "set_arrays", "save", "load",
    # the seam training and gradcheck run on validated arrays
    "core",
}  # fmt: skip


def public_names(obj: object) -> set[str]:
    return {name for name in dir(obj) if not name.startswith("_")}


def test_a_network_shows_only_the_names_a_user_expects() -> None:
    from refnet import MSE, Dense, NeuralNetwork

    assert public_names(NeuralNetwork([Dense(2, 3)], MSE())) == NETWORK_NAMES


def test_a_graph_model_adds_only_its_graph() -> None:
    from refnet import Dense, GraphModel, Input

    x = Input(2)
    model = GraphModel(x, Dense(2, 1)(x))
    graph_names = {"nodes", "input_node", "output_node", "to_dot", "graph_config", "from_graph_config"}
    assert public_names(model) == NETWORK_NAMES | graph_names


def test_the_seam_is_at_most_six_names_each_documented() -> None:
    from refnet.network import Core

    names = public_names(Core) | {"network"}
    assert names == {"network", "loss", "prepare", "forward", "loss_and_gradients", "evaluate"}
    assert all(getattr(Core, name).__doc__ for name in names - {"network"})
