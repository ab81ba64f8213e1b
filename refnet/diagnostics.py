"""Is my network learning? The checks an experienced practitioner runs first (cs231n's list), built in.

``diagnose(net, X, Y)`` returns a ``Diagnosis``: printed, a table (at the REPL too); ``.to_json()`` for
tools; ``.plot(path)`` with the ``plot`` extra. ``DiagnosticsCallback(X, Y)`` records the per-layer part
after every epoch of ``train``. What it measures, on a copy of the network (the network itself is
never changed):

- the loss at the current parameters against the loss of chance, an uninformed constant prediction:
  zero logits for a classifier (−ln(1/C) for C classes with CrossEntropy, ln 2 for BinaryCrossEntropy,
  (C − 1)·margin for MulticlassHinge), the targets' mean for MSE and Huber (MSE: the variance of Y),
  their median for MAE;
- whether a short run can overfit a small subset (``rows`` rows, ``steps`` full-batch steps): if it
  cannot, that is the most common sign of a bug; and whether what it learns there carries over to
  other rows (when it does not at all, the labels may not belong to their rows);
- per layer, on a batch: the output's mean and standard deviation, the fraction of dead ReLU units
  (never active on the batch), the fraction of saturated sigmoid/tanh outputs (σ' < 1 % of its peak:
  σ(1 − σ) < 0.0025, 1 − tanh² < 0.01), each parameter's gradient norm ‖g‖, and the update-to-weight
  ratio ‖Δθ‖/‖θ‖ of one optimizer step (the rule of thumb: about 1e-3).

It reads every layer through the Layer interface only (``forward``, ``params``, ``grads``): a layer's
output is its forward's, watched while the copy runs, so any layer (convolutions, recurrent layers,
attention) is measured the same way. A unit is one entry of the last axis (channels, axis 1, for
4-D images).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from refnet.base import Array, Layer
from refnet.callbacks import Callback, Logs
from refnet.diagnosis import (
    OVERFIT_TARGET,
    Diagnosis,
    LayerStats,
    Overfit,
    ParameterStats,
    layer_findings,
    network_findings,
)
from refnet.errors import TrainingDivergedError
from refnet.functions import ReLU, Sigmoid, Tanh
from refnet.losses import MAE, BinaryCrossEntropy, Loss
from refnet.optimizers import Adam, Optimizer
from refnet.support.checks import as_array, check_int
from refnet.support.numerics import float_errors_as_values

if TYPE_CHECKING:
    from refnet.network import NeuralNetwork

BATCH_ROWS = 256  # rows of the batch the per-layer statistics are measured on


# -- measuring ---------------------------------------------------------------------------------


#: The layer methods a model runs a layer's forward through: ``forward`` (the interface), and what a
#: network calls on the arrays it validated once, where a layer has one (``forward_unchecked``).
FORWARD_METHODS = ("forward", "forward_unchecked")


@contextmanager
def watched(layers: list[Layer]) -> Iterator[dict[int, Array]]:
    """While inside, every layer's forward output is recorded by layer index (the last call's).

    Each layer's forward methods are shadowed by instance attributes that call them and keep a copy of
    y; leaving removes the attributes again. Used on the diagnostic copy only.
    """
    outputs: dict[int, Array] = {}

    def recorder(index: int, forward: Any) -> Any:
        def forward_and_record(x: Array, training: bool = True) -> Array:
            y = forward(x, training=training)
            outputs[index] = np.array(y, copy=True)
            return y

        return forward_and_record

    for index, layer in enumerate(layers):
        for method in FORWARD_METHODS:
            if hasattr(layer, method):
                setattr(layer, method, recorder(index, getattr(layer, method)))
    try:
        yield outputs
    finally:
        for layer in layers:
            for method in FORWARD_METHODS:
                vars(layer).pop(method, None)


def units_axis(y: Array) -> int:
    """The axis whose entries are the units: channels (axis 1) of 4-D images, else the last."""
    return 1 if y.ndim == 4 else y.ndim - 1


def kind_of(layer: Layer) -> str | None:
    """'relu', 'sigmoid' or 'tanh' for a layer that ends in one (Dense(..., 'relu') or a ReLU layer), else None."""
    activation = getattr(layer, "activation", layer)
    for cls, name in ((ReLU, "relu"), (Sigmoid, "sigmoid"), (Tanh, "tanh")):
        if type(activation) is cls:
            return name
    return None


def dead_fraction(y: Array) -> float:
    """The fraction of units whose output is 0 for every row (and position) of the batch."""
    axis = units_axis(y)
    alive = np.moveaxis(y, axis, -1).reshape(-1, y.shape[axis]) > 0
    return float(1.0 - alive.any(axis=0).mean())


def saturated_fraction(kind: str, y: Array) -> float:
    """The fraction of outputs where the derivative is below 1 % of its peak: σ(1 − σ) < 0.0025, 1 − tanh² < 0.01."""
    slope = y * (1 - y) / 0.25 if kind == "sigmoid" else 1 - y * y
    return float((slope < 0.01).mean())


def layer_stats(index: int, layer: Layer, y: Array) -> LayerStats:
    kind = kind_of(layer)
    counts, edges = np.histogram(y[np.isfinite(y)], bins=30) if np.isfinite(y).any() else (np.zeros(30), [0.0, 1.0])
    return LayerStats(
        index=index,
        layer=repr(layer),
        activation=kind,
        mean=float(y.mean()),
        std=float(y.std()),
        dead_fraction=dead_fraction(y) if kind == "relu" else None,
        saturated_fraction=saturated_fraction(kind, y) if kind in ("sigmoid", "tanh") else None,
        histogram=([int(c) for c in counts], [float(e) for e in edges]),
        frozen=not layer.trainable,
    )


def norm(array: Array) -> float:
    flat = np.asarray(array, dtype=np.float64).ravel()
    return math.sqrt(float(flat @ flat))


def fresh(optimizer: Optimizer) -> Optimizer:
    """A new optimizer of the same kind and settings, without state."""
    return type(optimizer).from_config(optimizer.get_config())


def probe(net: NeuralNetwork, X: Array, Y: Any, optimizer: Optimizer) -> list[LayerStats]:
    """Per-layer statistics on a copy of ``net``: outputs and gradients on (X, Y), then one step's Δθ."""
    copied = copy.deepcopy(net)
    with watched(copied.layers) as outputs:
        copied.compute_gradients(X, Y)
    stats = [layer_stats(index, layer, outputs[index]) for index, layer in enumerate(copied.layers) if index in outputs]
    before = [{name: value.copy() for name, value in layer.params.items()} for layer in copied.layers]
    grads = [{name: norm(value) for name, value in layer.grads.items()} for layer in copied.layers]
    fresh(optimizer).step(copied.layers)
    for layer_stat in stats:
        layer = copied.layers[layer_stat.index]
        for name, value in layer.params.items():
            theta = before[layer_stat.index][name]
            size = norm(theta)
            if layer_stat.frozen:  # its gradients are not computed, and no step moves it
                layer_stat.params.append(ParameterStats(name, None, size, None))
                continue
            ratio = norm(value - theta) / size if size > 0 else None
            layer_stat.params.append(ParameterStats(name, grads[layer_stat.index][name], size, ratio))
    return stats


def chance_prediction(loss: Loss, target: Array) -> tuple[Array, str]:
    """An uninformed prediction of target's shape and what it is: zero logits for a classifier (0.5 for
    probabilities), the targets' median for MAE, their mean otherwise."""
    if isinstance(loss, BinaryCrossEntropy) and not loss.from_logits:
        return np.full(target.shape, 0.5, dtype=target.dtype), "p = 0.5 everywhere"
    if loss.is_classification:
        return np.zeros(target.shape, dtype=target.dtype), "zero logits: every class equally likely"
    if isinstance(loss, MAE):
        return np.broadcast_to(np.median(target, axis=0), target.shape).copy(), "the median of Y"
    return np.broadcast_to(target.mean(axis=0), target.shape).copy(), "the mean of Y"


def data_loss(net: NeuralNetwork, X: Array, target: Array) -> float:
    """The loss of the evaluation-mode prediction, without penalties (inf or NaN, quietly, where it overflows)."""
    loss = net.core.loss
    with float_errors_as_values():
        return loss.loss(loss.check_prediction(net.core.forward(X, training=False)), target)


def overfit_check(
    net: NeuralNetwork, X: Array, Y: Any, target: Array, chance: float, optimizer: Optimizer, rows: int, steps: int
) -> Overfit:
    """Train a copy on ``rows`` rows for ``steps`` full-batch steps (it overfits when the data loss ends below
    a tenth of chance); then score it on up to 256 other rows."""
    copied, loss = copy.deepcopy(net), net.core.loss
    subset, held = slice(0, rows), slice(rows, rows + BATCH_ROWS)
    initial = data_loss(copied, X[subset], target[subset])
    run = fresh(optimizer)
    try:
        copied.train(X[subset], Y[subset], epochs=steps, optimizer=run, batch_size=None, shuffle=False)
        final = data_loss(copied, X[subset], target[subset])
    except TrainingDivergedError:
        final = math.inf
    fitted = final <= OVERFIT_TARGET * chance  # (every row right is not enough: a double softmax gets there)
    result = Overfit(rows, steps, repr(run), initial, final, fitted)
    if len(X) - rows >= 2 * rows and math.isfinite(final):
        result.held_out_score, result.held_out_chance = held_out(copied, loss, X[held], target[held], target[subset])
    return result


def held_out(net: NeuralNetwork, loss: Loss, X: Array, target: Array, seen: Array) -> tuple[float, float]:
    """(score, chance) on rows the overfit run never saw: accuracy against always guessing the subset's
    most common class, or the data loss against predicting the subset's mean."""
    prediction = loss.check_prediction(net.core.forward(X, training=False))
    if loss.is_classification:
        accuracy = loss.accuracy(prediction, target)
        if accuracy is not None:
            guess = np.zeros_like(target)
            if target.ndim == 2 and target.shape[1] > 1:
                guess[:, int(seen.sum(axis=0).argmax())] = 1  # the most common class, as one-hot rows
                majority = loss.accuracy(guess, target)
            else:
                majority = max(float((target > 0.5).mean()), float((target <= 0.5).mean()))
            return accuracy, float(majority if majority is not None else 0.0)
    constant = np.broadcast_to(seen.mean(axis=0), target.shape).copy()
    return loss.loss(prediction, target), loss.loss(constant, target)


# -- the entry point ---------------------------------------------------------------------------


def diagnose(
    net: NeuralNetwork,
    X: Any,
    Y: Any,
    optimizer: Optimizer | None = None,
    *,
    rows: int = 32,
    steps: int = 300,
    seed: int = 0,
    overfit: bool = True,
) -> Diagnosis:
    """Run the first checks on ``net`` with data (X, Y); ``net`` itself is left exactly as it was.

    Args:
        optimizer: what the overfit run and the one-step update ratio use (a fresh copy: its settings, not
            its state); default the network's last optimizer, else Adam(0.01).
        rows, steps: the overfit run: ``rows`` rows for ``steps`` full-batch steps.
        seed: which rows the subset, the held-out rows and the statistics batch are (a permutation from it).
        overfit: False skips the overfit run (the slow part).
    """
    rows = check_int(rows, "rows", minimum=2)
    steps = check_int(steps, "steps")
    X_checked, target = net.core.prepare(X, Y)
    order = np.random.default_rng(seed).permutation(len(X_checked))
    X_checked, target = X_checked[order], target[order]
    Y_rows = as_array(Y, "Y")[order]
    optimizer = optimizer if optimizer is not None else net.optimizer if net.optimizer is not None else Adam(0.01)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an Optimizer such as Adam(0.01), got {type(optimizer).__name__}")
    loss_object = net.core.loss
    chance_y, chance_means = chance_prediction(loss_object, target)
    chance = loss_object.loss(chance_y, target)
    loss = data_loss(net, X_checked, target)
    layers: list[LayerStats] = []
    fit = None
    if math.isfinite(loss):  # (where the outputs overflow, that is the finding: no gradient can be measured)
        batch = slice(0, BATCH_ROWS)
        layers = probe(net, X_checked[batch], Y_rows[batch], optimizer)
    if overfit and math.isfinite(loss):
        rows = min(rows, len(X_checked))
        fit = overfit_check(net, X_checked, Y_rows, target, chance, optimizer, rows, steps)
    regression = not loss_object.is_classification
    return Diagnosis(
        model=repr(net),
        loss_name=repr(loss_object),
        rows=len(X_checked),
        loss=loss,
        chance=chance,
        chance_means=chance_means,
        layers=layers,
        overfit=fit,
        findings=network_findings(loss, chance, fit, regression) + layer_findings(layers),
    )


class DiagnosticsCallback(Callback):
    """Records the per-layer statistics and their findings after every epoch (``diagnoses``, one per epoch).

    The statistics are measured on a copy of the network, on the first ``rows`` rows of (X, Y); the
    update-to-weight ratio is that of the epoch's last real step. ``plot(path)`` draws them over epochs.
    """

    def __init__(self, X: Any, Y: Any, rows: int = BATCH_ROWS) -> None:
        super().__init__()
        rows = check_int(rows, "rows")
        self.X, self.Y = as_array(X, "X")[:rows], as_array(Y, "Y")[:rows]
        self.diagnoses: list[Diagnosis] = []
        self.epochs: list[int] = []
        # The parameters after the latest step (before the next one), and before the latest step.
        self._kept: list[dict[str, Array]] = []
        self._before_last_step: list[dict[str, Array]] | None = None

    def _parameters(self) -> list[dict[str, Array]]:
        assert self.network is not None
        return [{name: value.copy() for name, value in layer.params.items()} for layer in self.network.layers]

    def on_train_begin(self) -> None:
        self._kept, self._before_last_step = self._parameters(), None

    def on_batch_end(self, batch: int, logs: Logs) -> None:
        self._before_last_step, self._kept = self._kept, self._parameters()

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        assert self.network is not None and self.optimizer is not None
        net, loss = self.network, self.network.core.loss
        X, target = net.core.prepare(self.X, self.Y)
        layers = probe(net, X, self.Y, self.optimizer)
        for stats in layers:  # the ratio of the epoch's last real step, not of the probe's own
            for param in stats.params:
                before = None if self._before_last_step is None else self._before_last_step[stats.index][param.name]
                size = 0.0 if before is None else norm(before)
                after = net.layers[stats.index].params[param.name]
                moved = before is not None and size > 0 and not stats.frozen
                param.update_ratio = norm(after - before) / size if moved else None
        chance_y, chance_means = chance_prediction(loss, target)
        chance, value = loss.loss(chance_y, target), data_loss(net, X, target)
        findings = network_findings(value, chance, None, not loss.is_classification) + layer_findings(layers)
        self.diagnoses.append(
            Diagnosis(repr(net), repr(loss), len(X), value, chance, chance_means, layers, None, findings)
        )
        self.epochs.append(epoch)

    def plot(self, path: str | Path | None = None) -> Any:
        """Gradient norms and update ratios of every parameter over the epochs (matplotlib, the ``plot`` extra)."""
        from refnet.plotting import plot_diagnostics_over_epochs

        return plot_diagnostics_over_epochs(self.epochs, self.diagnoses, path)


__all__ = ["DiagnosticsCallback", "diagnose"]
