"""refnet.diagnose: each finding is provoked by a network built to have it, and a healthy network has none."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from refnet import (
    MSE,
    SGD,
    Adam,
    BatchNorm,
    BinaryCrossEntropy,
    Callback,
    CrossEntropy,
    Dense,
    Diagnosis,
    DiagnosticsCallback,
    Dropout,
    GraphModel,
    Input,
    MulticlassHinge,
    NeuralNetwork,
    Softmax,
    diagnose,
)
from refnet.errors import ShapeError


def classes(n: int = 400, seed: int = 0) -> tuple[Any, Any]:
    """Four classes that a small network learns: the argmax of a fixed projection of X (8 features)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 8))
    return X, (X @ np.random.default_rng(99).standard_normal((8, 4))).argmax(axis=1)


def classifier(activation: str = "relu", seed: int = 0, **kwargs: Any) -> NeuralNetwork:
    return NeuralNetwork(
        [Dense(8, 32, activation, **kwargs), Dense(32, 32, activation, **kwargs), Dense(32, 4)],
        CrossEntropy(),
        seed=seed,
    )


def codes(report: Diagnosis) -> set[str]:
    return {finding.code for finding in report.findings}


@pytest.fixture(scope="module")
def healthy() -> Diagnosis:
    X, y = classes()
    return diagnose(classifier(), X, y, Adam(0.003))


# -- a healthy network ----------------------------------------------------------------------


def test_a_healthy_classifier_has_no_findings(healthy: Diagnosis) -> None:
    assert healthy.findings == [], str(healthy)
    assert healthy.overfit is not None and healthy.overfit.fitted


def test_a_healthy_regression_has_no_findings() -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 5))
    Y = np.tanh(X @ rng.standard_normal((5, 2)))
    Y = (Y - Y.mean(axis=0)) / Y.std(axis=0)
    net = NeuralNetwork([Dense(5, 32, "tanh"), Dense(32, 2)], MSE(), seed=0)
    report = diagnose(net, X, Y, Adam(0.01))
    assert report.findings == [], str(report)


def test_the_per_layer_statistics_are_those_of_the_layers_outputs(healthy: Diagnosis) -> None:
    X, _ = classes()
    order = np.random.default_rng(0).permutation(len(X))[:256]  # the batch diagnose measures (seed 0)
    net = classifier()
    first = net.layers[0].forward(X[order])
    stats = healthy.layers[0]
    assert stats.activation == "relu" and healthy.layers[2].activation is None
    assert stats.mean == pytest.approx(first.mean(), rel=1e-12) and stats.std == pytest.approx(first.std(), rel=1e-12)
    assert stats.dead_fraction == float(np.mean(~(first > 0).any(axis=0)))
    assert sum(stats.histogram[0]) == first.size


def test_the_gradient_norms_are_those_of_compute_gradients_on_the_batch(healthy: Diagnosis) -> None:
    X, y = classes()
    order = np.random.default_rng(0).permutation(len(X))[:256]
    net = classifier()
    net.compute_gradients(X[order], y[order])
    for stats, layer in zip(healthy.layers, net.layers, strict=True):
        for param in stats.params:
            assert param.grad_norm == pytest.approx(float(np.linalg.norm(layer.grads[param.name])), rel=1e-12)


def test_the_update_ratio_is_one_sgd_steps_lr_times_the_gradient_over_the_weights() -> None:
    X, y = classes()
    net = classifier()
    report = diagnose(net, X, y, SGD(0.01), overfit=False)
    order = np.random.default_rng(0).permutation(len(X))[:256]
    net.compute_gradients(X[order], y[order])
    W, g = net.layers[1].params["W"], net.layers[1].grads["W"]
    expected = 0.01 * np.linalg.norm(g) / np.linalg.norm(W)
    assert report.layers[1].params[0].update_ratio == pytest.approx(expected, rel=1e-10)
    assert report.layers[1].params[1].update_ratio is None  # b starts at 0: no ratio


def test_diagnose_leaves_the_network_exactly_as_it_was() -> None:
    X, y = classes()
    net = NeuralNetwork([Dense(8, 16, "relu"), BatchNorm(16), Dropout(0.3), Dense(16, 4)], CrossEntropy(), seed=2)
    before = net.get_arrays()
    state = net.rng.bit_generator.state, net.layers[2].generator().bit_generator.state  # type: ignore[union-attr]
    diagnose(net, X, y)
    after = net.get_arrays()
    assert before.keys() == after.keys() and all(np.array_equal(before[key], after[key]) for key in before)
    assert (net.rng.bit_generator.state, net.layers[2].generator().bit_generator.state) == state  # type: ignore[union-attr]
    assert net.optimizer is None


@pytest.mark.parametrize(
    ("loss", "Y", "chance"),
    [
        (CrossEntropy(), np.arange(40) % 5, math.log(5)),
        (MulticlassHinge(margin=0.5), np.arange(40) % 5, 4 * 0.5),
        (BinaryCrossEntropy(from_logits=True), (np.arange(40 * 5) % 2).reshape(40, 5).astype(float), math.log(2)),
    ],
    ids=["cross-entropy", "hinge", "bce"],
)
def test_the_loss_of_chance_is_that_of_an_uninformed_classifier(loss: Any, Y: Any, chance: float) -> None:
    X = np.random.default_rng(0).standard_normal((40, 3))
    report = diagnose(NeuralNetwork([Dense(3, 5, seed=0)], loss), X, Y, overfit=False)
    assert report.chance == pytest.approx(chance, rel=1e-12)


def test_the_loss_of_chance_for_mse_is_the_variance_of_y() -> None:
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((50, 3)), 3.0 * rng.standard_normal((50, 2)) + 1.0
    report = diagnose(NeuralNetwork([Dense(3, 2, seed=0)], MSE()), X, Y, overfit=False)
    assert report.chance == pytest.approx(float(Y.var(axis=0).mean()), rel=1e-12)


# -- each finding, provoked ------------------------------------------------------------------


def test_outputs_too_large_at_initialization_put_the_loss_far_above_chance() -> None:
    X, y = classes()
    net = classifier()
    net.layers[2].params["W"] *= 30.0
    report = diagnose(net, X, y, overfit=False)
    assert "loss_above_chance" in codes(report)
    assert "too large" in report.findings[0].message


def test_unstandardized_regression_targets_put_the_loss_above_chance_and_say_so() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 3))
    Y = X @ rng.standard_normal((3, 1)) + 50.0
    report = diagnose(NeuralNetwork([Dense(3, 1, seed=0)], MSE()), X, Y, overfit=False)
    assert "loss_above_chance" in codes(report) and "standardize Y" in str(report)


def test_a_double_softmax_cannot_overfit_a_small_subset() -> None:
    # a classic bug: a softmax output fed to CrossEntropy, which expects logits
    X, y = classes()
    net = NeuralNetwork([Dense(8, 32, "relu"), Dense(32, 4, "softmax")], CrossEntropy(), seed=0)
    report = diagnose(net, X, y, Adam(0.01))
    assert "cannot_overfit" in codes(report), str(report)
    assert report.overfit is not None and not report.overfit.fitted


def test_an_overwhelming_penalty_cannot_overfit_a_small_subset() -> None:
    X, y = classes()
    report = diagnose(classifier(l2_lambda=5.0), X, y, Adam(0.01))
    assert "cannot_overfit" in codes(report)


def test_a_learning_rate_100_times_too_large_is_found() -> None:
    X, y = classes()
    report = diagnose(classifier(), X, y, SGD(5.0))  # 0.05 trains this network well
    assert "update_ratio_high" in codes(report), str(report)
    assert {"cannot_overfit", "overfit_diverged"} & codes(report)
    assert "learning rate is likely too high" in str(report)
    assert diagnose(classifier(), X, y, SGD(0.05)).findings == []


def test_a_learning_rate_far_too_small_is_found() -> None:
    X, y = classes()
    report = diagnose(classifier(), X, y, SGD(1e-7), overfit=False)
    assert "update_ratio_low" in codes(report)


def test_a_loss_that_rises_in_the_overfit_run_says_the_learning_rate_is_too_high() -> None:
    X, y = classes()
    report = diagnose(classifier(), X, y, SGD(300.0), steps=50)
    assert "overfit_diverged" in codes(report), str(report)


def test_dead_relu_units_are_counted_and_reported() -> None:
    X, y = classes()
    net = classifier()
    net.layers[0].params["b"][:24] = -100.0  # 24 of 32 units can never fire
    report = diagnose(net, X, y, overfit=False)
    assert report.layers[0].dead_fraction == 0.75
    assert "dead_relu" in codes(report)
    assert "layer 0" in str(report) and "75% of ReLU units are dead" in str(report)


def test_a_layer_no_gradient_reaches_is_reported() -> None:
    X, y = classes()
    net = classifier()
    net.layers[1].params["b"][:] = -100.0  # every unit of layer 1 is dead: layer 0 gets no gradient
    report = diagnose(net, X, y, overfit=False)
    assert any(f.code == "zero_gradient" and f.layer == 0 for f in report.findings)


def test_sigmoid_saturation_from_a_bad_initialization_is_found() -> None:
    X, y = classes()

    def large(shape: Any, rng: Any, dtype: Any) -> Any:
        return (5.0 * rng.standard_normal(shape)).astype(dtype)

    report = diagnose(classifier("sigmoid", weight_init=large), X, y, overfit=False)
    assert "saturated" in codes(report)
    assert report.layers[0].saturated_fraction is not None and report.layers[0].saturated_fraction > 0.5
    healthy = diagnose(classifier("sigmoid"), X, y, overfit=False)
    assert healthy.layers[0].saturated_fraction is not None and healthy.layers[0].saturated_fraction < 0.05


def test_labels_shuffled_apart_from_their_rows_are_found() -> None:
    X, y = classes()
    report = diagnose(classifier(), X, np.random.default_rng(5).permutation(y), Adam(0.003))
    assert codes(report) == {"labels_unrelated"}, str(report)


# -- the report: table, JSON, plot --------------------------------------------------------


def test_the_report_prints_as_a_table_with_one_row_per_parameter(healthy: Diagnosis) -> None:
    text = str(healthy)
    assert repr(healthy) == text
    lines = text.splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("#  layer"))
    assert set(lines[header + 1]) == {"-"}
    assert len([line for line in lines[header + 2 :] if line.strip().split()[0] in ("W", "b") or "Dense" in line]) == 6
    assert lines[-1] == "no findings: nothing looks wrong"


def test_the_report_is_json_for_tools() -> None:
    X, y = classes()
    net = classifier()
    net.layers[0].params["b"][:] = -100.0
    data = json.loads(diagnose(net, X, y, overfit=False).to_json())
    assert data["layers"][0]["dead_fraction"] == 1.0
    assert "dead_relu" in [finding["code"] for finding in data["findings"]]
    assert data["overfit"] is None and data["chance"] == pytest.approx(math.log(4))


def test_the_report_plots_to_a_png(tmp_path: Path, healthy: Diagnosis) -> None:
    pytest.importorskip("matplotlib")
    figure = healthy.plot(tmp_path / "diagnosis.png")
    assert (tmp_path / "diagnosis.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(figure.axes) == 3 + 2  # a histogram per layer, gradient norms, update ratios


def test_a_graph_model_is_diagnosed_layer_by_layer() -> None:
    X, y = classes()
    x = Input(8)
    h = Dense(8, 16, "tanh", seed=0)(x)
    model = GraphModel(x, Dense(16, 4, seed=1)(Dense(16, 16, "relu", seed=2)(h)), CrossEntropy())
    report = diagnose(model, X, y, Adam(0.01))
    assert [stats.activation for stats in report.layers] == ["tanh", "relu", None]
    assert report.findings == [], str(report)


def test_bad_arguments_are_refused() -> None:
    X, y = classes()
    with pytest.raises(TypeError, match="Optimizer"):
        diagnose(classifier(), X, y, "adam")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rows"):
        diagnose(classifier(), X, y, rows=1)
    with pytest.raises(ShapeError):
        diagnose(classifier(), X[:, :3], y)


def test_outputs_that_overflow_are_reported_not_raised() -> None:
    X, y = classes()
    net = classifier()
    for layer in net.layers:
        layer.params["W"] *= 1e120
    report = diagnose(net, X, y)
    assert codes(report) == {"loss_not_finite"} and report.layers == [] and report.overfit is None
    assert json.loads(report.to_json())["loss"] is None  # inf is not JSON: null


def test_a_stand_alone_softmax_layer_is_measured_like_any_layer() -> None:
    X, y = classes()
    net = NeuralNetwork([Dense(8, 4, seed=0), Softmax()], MSE())
    report = diagnose(net, X, np.eye(4)[y], overfit=False)
    assert len(report.layers) == 2 and report.layers[1].params == []


# -- the callback ----------------------------------------------------------------------------


def test_the_callback_records_one_diagnosis_per_epoch_with_the_real_last_step() -> None:
    X, y = classes(120)
    net = classifier()
    recorder = DiagnosticsCallback(X, y)
    thetas: list[Any] = []

    class Keep(Callback):
        def on_epoch_end(self, epoch: int, logs: Any) -> None:
            thetas.append(net.layers[1].params["W"].copy())

    start = net.layers[1].params["W"].copy()
    net.train(X, y, epochs=3, optimizer=SGD(0.1), batch_size=None, callbacks=[recorder, Keep()])
    assert recorder.epochs == [0, 1, 2] and len(recorder.diagnoses) == 3
    previous = [start, *thetas[:-1]]
    for diagnosis, before, after in zip(recorder.diagnoses, previous, thetas, strict=True):
        expected = np.linalg.norm(after - before) / np.linalg.norm(before)
        assert diagnosis.layers[1].params[0].update_ratio == pytest.approx(expected, rel=1e-12)


def test_the_callback_does_not_change_training() -> None:
    X, y = classes(120)

    def run(callbacks: list[Any]) -> Any:
        net = NeuralNetwork([Dense(8, 16, "relu"), BatchNorm(16), Dropout(0.2), Dense(16, 4)], CrossEntropy(), seed=4)
        history = net.train(X, y, epochs=3, optimizer=Adam(0.01), batch_size=32, callbacks=callbacks)
        return history["loss"], net.get_arrays()

    plain, watched = run([]), run([DiagnosticsCallback(X, y)])
    assert plain[0] == watched[0]
    assert all(np.array_equal(plain[1][key], watched[1][key]) for key in plain[1])


def test_the_callback_finds_dead_units_appearing_during_training() -> None:
    X, y = classes(200)
    net = classifier()
    assert diagnose(net, X, y, SGD(2.0), overfit=False).layers[1].dead_fraction == 0.0  # none dead at the start
    recorder = DiagnosticsCallback(X, y)
    net.train(X, y, epochs=2, optimizer=SGD(2.0), batch_size=16, callbacks=[recorder])
    last = recorder.diagnoses[-1]
    assert last.layers[1].dead_fraction is not None and last.layers[1].dead_fraction > 0.5
    assert any(finding.code == "dead_relu" and finding.layer == 1 for finding in last.findings), str(last)


def test_the_callback_plots_over_epochs(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    X, y = classes(120)
    recorder = DiagnosticsCallback(X, y)
    classifier().train(X, y, epochs=3, optimizer=Adam(0.01), callbacks=[recorder])
    recorder.plot(tmp_path / "epochs.png")
    assert (tmp_path / "epochs.png").read_bytes()[:4] == b"\x89PNG"


def test_an_embedding_first_sequence_classifier_is_diagnosed() -> None:
    from refnet.embedding import Embedding

    ids = np.random.default_rng(0).integers(0, 20, (300, 5))
    net = NeuralNetwork([Embedding(20, 8), Dense(8, 16, "relu"), Dense(16, 3)], CrossEntropy(), seed=0)
    report = diagnose(net, ids, ids % 3, Adam(0.01))  # a label per position, (N, T)
    assert report.chance == pytest.approx(math.log(3)) and len(report.layers) == 3
    assert report.layers[0].params[0].grad_norm is not None and report.layers[0].params[0].grad_norm > 0
    assert report.findings == [], str(report)
