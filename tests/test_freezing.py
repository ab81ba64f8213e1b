"""Freezing (issue 22): ``layer.trainable = False`` keeps a layer's parameters bitwise, skips their gradients,
still sends the input gradient back, still counts the penalty, and is saved and loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradcheck import check_network
from refnet import (
    MSE,
    SGD,
    AdaGrad,
    Adam,
    BatchNorm,
    CrossEntropy,
    Dense,
    Dropout,
    GraphModel,
    Input,
    NeuralNetwork,
    RMSProp,
    Tanh,
    diagnose,
)
from refnet.errors import ModelFileError

OPTIMIZERS = [
    lambda: SGD(0.1),
    lambda: SGD(0.1, momentum=0.9, nesterov=True),
    lambda: Adam(0.01, weight_decay=0.1),
    lambda: Adam(0.01, amsgrad=True, clip_norm=0.5),
    lambda: RMSProp(0.01, momentum=0.9),
    lambda: AdaGrad(0.1),
]
IDS = ["sgd", "nesterov", "adamw", "amsgrad-clip", "rmsprop", "adagrad"]


def data(n: int = 40) -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 4))
    return X, np.tanh(X @ rng.standard_normal((4, 2)))


def network() -> NeuralNetwork:
    return NeuralNetwork(
        [Dense(4, 8, "relu", l2_lambda=0.1), BatchNorm(8), Dropout(0.2), Dense(8, 8, "tanh"), Dense(8, 2)],
        MSE(),
        seed=1,
    )


def test_every_layer_is_trainable_by_default() -> None:
    assert all(layer.trainable for layer in network().layers)
    assert Tanh().trainable and Dropout(0.1).trainable


@pytest.mark.parametrize("make", OPTIMIZERS, ids=IDS)
def test_no_optimizer_changes_a_frozen_layers_parameters_bitwise(make: Any) -> None:
    X, Y = data()
    net = network()
    net.layers[0].trainable = False
    net.layers[1].trainable = False
    frozen = {name: value.copy() for layer in net.layers[:2] for name, value in layer.params.items()}
    trained_before = net.layers[3].params["W"].copy()
    net.train(X, Y, epochs=3, optimizer=make(), batch_size=8)
    for layer in net.layers[:2]:
        for name, value in layer.params.items():
            assert value.tobytes() == frozen[name].tobytes(), name
    assert not np.array_equal(net.layers[3].params["W"], trained_before)  # the others still learn


def test_a_frozen_batchnorm_still_updates_its_running_statistics_in_training() -> None:
    X, Y = data()
    net = network()
    net.layers[1].trainable = False
    net.train(X, Y, epochs=1, optimizer=Adam(0.01), batch_size=8)
    assert not np.array_equal(net.layers[1].state["running_mean"], np.zeros(8))
    np.testing.assert_array_equal(net.layers[1].params["gamma"], np.ones(8))


@pytest.mark.parametrize("frozen", [1, 3], ids=["batchnorm", "dense"])
def test_the_input_gradient_still_flows_through_a_frozen_layer(frozen: int) -> None:
    X, Y = data()
    net, reference = network(), network()
    net.layers[frozen].trainable = False
    for grad in net.layers[frozen].grads.values():
        grad[...] = 7.0  # stale values, which the frozen layer's input gradient must not read
    net.compute_gradients(X, Y)
    reference.compute_gradients(X, Y)
    # layer 0 sits below the frozen layer: its gradient is exactly what it is without freezing
    np.testing.assert_array_equal(net.layers[0].grads["W"], reference.layers[0].grads["W"])
    np.testing.assert_array_equal(net.layers[4].grads["W"], reference.layers[4].grads["W"])


def test_check_network_leaves_out_a_frozen_layers_parameters_and_checks_the_rest() -> None:
    X, Y = data(12)
    net = network()
    net.layers[1].trainable = False  # BatchNorm in training mode: its input gradient uses the batch statistics
    report = check_network(net, X, Y)
    tensors = [result.tensor for result in report.results]
    assert "X" in tensors and "layers[0].W" in tensors and "layers[3].W" in tensors
    assert not any(tensor.startswith("layers[1].") for tensor in tensors)
    assert report.passed, report


def test_a_frozen_dense_skips_its_parameter_gradients() -> None:
    X, Y = data()
    net = network()
    layer = net.layers[3]
    layer.grads["W"][...] = 7.0
    layer.trainable = False
    net.compute_gradients(X, Y)
    assert (layer.grads["W"] == 7.0).all()  # not computed (not overwritten)


def test_the_penalty_of_a_frozen_layer_still_counts_in_the_reported_loss() -> None:
    X, Y = data()
    net = network()
    with_penalty = net.evaluate(X, Y)["loss"]
    net.layers[0].trainable = False
    assert net.penalty() == net.layers[0].penalty() > 0
    assert net.evaluate(X, Y)["loss"] == with_penalty
    assert net.compute_gradients(X, Y) == network().compute_gradients(X, Y)


def test_clip_norm_measures_only_the_parameters_it_updates() -> None:
    X, Y = data()
    net = network()
    net.layers[0].trainable = False
    net.compute_gradients(X, Y)
    optimizer = SGD(0.1, clip_norm=1.0)
    trainable = [layer for layer in net.layers if layer.trainable]
    expected = np.sqrt(sum(float((g**2).sum()) for layer in trainable for g in layer.grads.values()))
    assert optimizer.global_norm(net.layers) == pytest.approx(expected, rel=1e-12)
    net.layers[0].grads["W"][...] = 1e6  # a huge (stale) gradient of the frozen layer changes nothing
    assert optimizer.global_norm(net.layers) == pytest.approx(expected, rel=1e-12)


def test_freezing_then_unfreezing_resumes_training_of_the_layer() -> None:
    X, Y = data()
    net = network()
    net.layers[0].trainable = False
    net.train(X, Y, epochs=1, optimizer=Adam(0.01))
    W = net.layers[0].params["W"].copy()
    net.layers[0].trainable = True
    net.train(X, Y, epochs=1)
    assert not np.array_equal(net.layers[0].params["W"], W)


def test_the_flag_is_saved_and_loaded(tmp_path: Path) -> None:
    net = network()
    net.layers[3].trainable = False
    net.save(tmp_path / "net.npz")
    loaded = NeuralNetwork.load(tmp_path / "net.npz")
    assert [layer.trainable for layer in loaded.layers] == [True, True, True, False, True]


def test_a_file_with_a_trainable_flag_that_is_not_a_bool_is_refused(tmp_path: Path) -> None:
    import json

    net = network()
    net.layers[0].trainable = False
    path = tmp_path / "net.npz"
    net.save(path)
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    key = next(key for key in arrays if "config" in key)
    config = json.loads(str(arrays[key]))
    config["layers"][0]["trainable"] = "no"
    arrays[key] = np.array(json.dumps(config))
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match="trainable"):
        NeuralNetwork.load(path)


def test_summary_shows_trainable_and_frozen_parameter_counts() -> None:
    net = network()
    net.layers[0].trainable = False
    text = str(net)
    frozen = net.layers[0].parameter_count()
    assert f"trainable: {net.parameter_count() - frozen:,}" in text and f"frozen: {frozen:,}" in text
    assert "frozen" in text.splitlines()[2]  # the layer's own row says so


def test_a_frozen_layer_in_a_graph_stays_put() -> None:
    X, Y = data()
    x = Input(4)
    first = Dense(4, 6, "tanh", seed=0)
    model = GraphModel(x, Dense(6, 2, seed=1)(first(x)), MSE())
    first.trainable = False
    W = first.params["W"].copy()
    model.train(X, Y, epochs=2, optimizer=Adam(0.01))
    assert first.params["W"].tobytes() == W.tobytes()


def test_diagnose_reports_a_frozen_layer_without_update_findings() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = (X[:, 0] > 0).astype(int)
    net = NeuralNetwork([Dense(4, 16, "relu"), Dense(16, 2)], CrossEntropy(), seed=0)
    net.layers[0].trainable = False
    report = diagnose(net, X, y, Adam(0.01), overfit=False)
    assert report.layers[0].frozen and not report.layers[1].frozen
    assert all(param.update_ratio is None for param in report.layers[0].params)
    assert report.findings == [], str(report)
