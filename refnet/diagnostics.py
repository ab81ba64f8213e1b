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
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from refnet.base import Array, Layer
from refnet.callbacks import Callback, Logs
from refnet.errors import TrainingDivergedError
from refnet.functions import ReLU, Sigmoid, Tanh
from refnet.losses import MAE, BinaryCrossEntropy, Loss
from refnet.optimizers import Adam, Optimizer
from refnet.support.checks import as_array, check_int

if TYPE_CHECKING:
    from refnet.network import NeuralNetwork

#: The thresholds of the findings (rules of thumb, not laws).
DEAD_FRACTION = 0.25  # a layer with more dead ReLU units than this
SATURATED_FRACTION = 0.25  # a layer with more saturated sigmoid/tanh outputs than this
UPDATE_RATIO_HIGH = 0.1  # 100 × the 1e-3 rule of thumb (Adam(0.01) on a small layer moves ≈ 3e-2)
UPDATE_RATIO_LOW = 1e-6
LOSS_ABOVE_CHANCE = 2.0  # the loss more than this times chance (random outputs alone add up to about 1×)
OVERFIT_TARGET = 0.1  # overfitting means a data loss below this fraction of chance
BATCH_ROWS = 256  # rows of the batch the per-layer statistics are measured on


@dataclass
class Finding:
    """One problem in plain language: ``code`` for tools, ``layer`` (or None for the whole network)."""

    code: str
    message: str
    layer: int | None = None


@dataclass
class ParameterStats:
    """One parameter array: its gradient norm ‖g‖ (None when frozen: not computed), its norm ‖θ‖, and
    ‖Δθ‖/‖θ‖ of one step (None when ‖θ‖ = 0 or frozen)."""

    name: str
    grad_norm: float | None
    weight_norm: float
    update_ratio: float | None


@dataclass
class LayerStats:
    """One layer's output on the batch, and its parameters."""

    index: int
    layer: str
    activation: str | None
    mean: float
    std: float
    dead_fraction: float | None  # ReLU layers only
    saturated_fraction: float | None  # sigmoid and tanh layers only
    histogram: tuple[list[int], list[float]]  # counts and bin edges of the output values
    frozen: bool = False  # ``layer.trainable`` False: no gradients, no updates
    params: list[ParameterStats] = field(default_factory=list)


@dataclass
class Overfit:
    """The short run on a small subset: its data loss before and after, and on held-out rows."""

    rows: int
    steps: int
    optimizer: str
    initial_loss: float
    final_loss: float
    fitted: bool
    held_out_score: float | None = None  # held-out accuracy (classifiers) or data loss (regression)
    held_out_chance: float | None = None


@dataclass
class Diagnosis:
    """What ``diagnose`` found. ``str()`` (and the REPL) shows the table; ``to_json()`` and ``plot(path)``."""

    model: str
    loss_name: str
    rows: int
    loss: float
    chance: float
    chance_means: str
    layers: list[LayerStats]
    overfit: Overfit | None
    findings: list[Finding]

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain lists, numbers and strings."""
        return asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        """The report as JSON (non-finite numbers as null)."""
        return json.dumps(_finite(self.to_dict()), indent=indent)

    def plot(self, path: str | Path | None = None) -> Any:
        """Per-layer activation histograms, gradient norms and update ratios (matplotlib, the ``plot`` extra)."""
        from refnet.plotting import plot_diagnosis

        return plot_diagnosis(self, path)

    def __str__(self) -> str:
        return report_table(self)

    __repr__ = __str__


# -- measuring ---------------------------------------------------------------------------------


@contextmanager
def watched(layers: list[Layer]) -> Iterator[dict[int, Array]]:
    """While inside, every layer's forward output is recorded by layer index (the last call's).

    Each layer's ``forward`` is shadowed by an instance attribute that calls it and keeps a copy of y;
    leaving removes the attribute again. Used on the diagnostic copy only.
    """
    outputs: dict[int, Array] = {}

    def recorder(index: int, forward: Any) -> Any:
        def forward_and_record(x: Array, training: bool = True) -> Array:
            y = forward(x, training=training)
            outputs[index] = np.array(y, copy=True)
            return y

        return forward_and_record

    for index, layer in enumerate(layers):
        setattr(layer, "forward", recorder(index, layer.forward))  # noqa: B010 (an instance attribute)
    try:
        yield outputs
    finally:
        for layer in layers:
            del layer.forward


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
    """The loss of the evaluation-mode prediction, without penalties."""
    loss = net.core.loss
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


# -- the findings ------------------------------------------------------------------------------


def layer_findings(layers: list[LayerStats]) -> list[Finding]:
    """Dead ReLUs, saturated sigmoid/tanh, gradients that are zero or not finite, update ratios far from 1e-3."""
    findings = []
    for stats in layers:
        where = f"layer {stats.index} ({stats.layer})"
        if stats.dead_fraction is not None and stats.dead_fraction > DEAD_FRACTION:
            findings.append(
                Finding(
                    "dead_relu",
                    f"{where}: {stats.dead_fraction:.0%} of ReLU units are dead (never active on the batch): lower "
                    "the learning rate, use He initialization, check the biases, or use leaky_relu",
                    stats.index,
                )
            )
        if stats.saturated_fraction is not None and stats.saturated_fraction > SATURATED_FRACTION:
            findings.append(
                Finding(
                    "saturated",
                    f"{where}: {stats.saturated_fraction:.0%} of {stats.activation} outputs are saturated (their "
                    "gradient is below 1 % of its peak): use Glorot initialization (weight_init='auto'), "
                    "standardize the inputs, or a smaller learning rate",
                    stats.index,
                )
            )
        for param in stats.params:
            if param.grad_norm is None:  # frozen
                continue
            if not math.isfinite(param.grad_norm):
                findings.append(Finding("nonfinite_gradient", f"{where}: the gradient of {param.name} is not finite"))
            elif param.grad_norm == 0.0 and param.weight_norm > 0.0:
                findings.append(
                    Finding(
                        "zero_gradient",
                        f"{where}: the gradient of {param.name} is exactly zero on the batch: nothing reaches this "
                        "layer (dead or saturated units downstream, or a detached input)",
                        stats.index,
                    )
                )
            if param.update_ratio is not None and param.update_ratio > UPDATE_RATIO_HIGH:
                findings.append(
                    Finding(
                        "update_ratio_high",
                        f"{where}: one step changes {param.name} by {param.update_ratio:.1e} of its size (rule of "
                        "thumb: about 1e-3): the learning rate is likely too high",
                        stats.index,
                    )
                )
            elif param.update_ratio is not None and param.grad_norm > 0.0 and param.update_ratio < UPDATE_RATIO_LOW:
                findings.append(
                    Finding(
                        "update_ratio_low",
                        f"{where}: one step changes {param.name} by only {param.update_ratio:.1e} of its size (rule "
                        "of thumb: about 1e-3): the learning rate is likely too low",
                        stats.index,
                    )
                )
    return findings


def network_findings(loss: float, chance: float, overfit: Overfit | None, regression: bool) -> list[Finding]:
    """The loss against chance, and the overfit run."""
    findings = []
    if not math.isfinite(loss):
        findings.append(Finding("loss_not_finite", f"the loss is {loss}: the outputs overflow"))
    elif loss > LOSS_ABOVE_CHANCE * chance + 1e-12:
        hint = (
            "standardize Y (or set the output bias to its mean)"
            if regression
            else "the initial outputs are too large: use a smaller initialization for the last layer"
        )
        findings.append(
            Finding(
                "loss_above_chance",
                f"the loss {loss:.3g} is {loss / chance:.1f} times the loss of chance {chance:.3g}: {hint}",
            )
        )
    if overfit is None:
        return findings
    if not math.isfinite(overfit.final_loss) or overfit.final_loss > overfit.initial_loss:
        findings.append(
            Finding(
                "overfit_diverged",
                f"training on {overfit.rows} rows made the loss worse ({overfit.initial_loss:.3g} → "
                f"{overfit.final_loss:.3g}) with {overfit.optimizer}: the learning rate is too high",
            )
        )
    elif not overfit.fitted:
        findings.append(
            Finding(
                "cannot_overfit",
                f"the network cannot overfit {overfit.rows} rows in {overfit.steps} steps (loss "
                f"{overfit.initial_loss:.3g} → {overfit.final_loss:.3g}, chance {chance:.3g}) — the most common sign "
                "of a bug: check that the loss matches the output layer (logits for CrossEntropy), the "
                "regularization strength, the learning rate, and units that are dead or saturated",
            )
        )
    elif overfit.held_out_score is not None and overfit.held_out_chance is not None:
        better = (
            overfit.held_out_score < 0.9 * overfit.held_out_chance
            if regression
            else overfit.held_out_score > overfit.held_out_chance + 0.05
        )
        if not better:
            what = "loss" if regression else "accuracy"
            findings.append(
                Finding(
                    "labels_unrelated",
                    f"the network fits {overfit.rows} rows, but what it learns there does not carry over to other "
                    f"rows (held-out {what} {overfit.held_out_score:.3g}, chance {overfit.held_out_chance:.3g}): the "
                    "labels may not belong to their rows (X and Y shuffled or sorted apart?)",
                )
            )
    return findings


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
    batch = slice(0, BATCH_ROWS)
    layers = probe(net, X_checked[batch], Y_rows[batch], optimizer)
    fit = None
    if overfit:
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


# -- the table ---------------------------------------------------------------------------------


def _number(value: float | None, digits: str = ".2g") -> str:
    return "-" if value is None else format(value, digits)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def report_table(report: Diagnosis) -> str:
    """The report as text: a header, one row per parameter (layer columns on its first row), the findings."""
    lines = [
        f"diagnosis of {report.model} on {report.rows} rows, loss {report.loss_name}",
        f"loss {report.loss:.4g} at the current parameters; chance ({report.chance_means}) {report.chance:.4g}",
    ]
    if report.overfit is not None:
        fit = report.overfit
        verdict = "overfits" if fit.fitted else "does NOT overfit"
        lines.append(
            f"overfit {fit.rows} rows, {fit.steps} steps of {fit.optimizer}: loss {fit.initial_loss:.3g} → "
            f"{fit.final_loss:.3g} ({verdict})"
        )
        if fit.held_out_score is not None:
            lines.append(f"  on other rows: {fit.held_out_score:.3g} (chance {_number(fit.held_out_chance, '.3g')})")
    header = ("#", "layer", "mean", "std", "dead", "saturated", "param", "|grad|", "update/weight")
    table: list[tuple[str, ...]] = [header]
    for stats in report.layers:
        first = (
            str(stats.index),
            stats.layer + (" (frozen)" if stats.frozen else ""),
            _number(stats.mean),
            _number(stats.std),
            _percent(stats.dead_fraction),
            _percent(stats.saturated_fraction),
        )
        params: list[ParameterStats | None] = [*stats.params] or [None]
        for position, param in enumerate(params):
            left = first if position == 0 else ("",) * len(first)
            right = (
                ("", "", "")
                if param is None
                else (param.name, _number(param.grad_norm, ".1e"), _number(param.update_ratio, ".1e"))
            )
            table.append(left + right)
    widths = [max(len(row[column]) for row in table) for column in range(len(header))]
    rendered = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in table]
    lines += [rendered[0], "-" * len(rendered[0]), *rendered[1:]]
    if report.findings:
        lines.append("findings:")
        lines += [f"  - {finding.message}" for finding in report.findings]
    else:
        lines.append("no findings: nothing looks wrong")
    return "\n".join(lines)


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no inf or NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


__all__ = ["Diagnosis", "DiagnosticsCallback", "Finding", "diagnose"]
