"""What ``refnet.diagnose`` reports: the ``Diagnosis`` and its parts, the rules that turn measurements into
findings (each threshold a rule of thumb, named here), the table it prints as, and its JSON.

The measuring is ``refnet.diagnostics``'s; this module only judges and shows what was measured.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: The thresholds of the findings (rules of thumb, not laws).
DEAD_FRACTION = 0.25  # a layer with more dead ReLU units than this
SATURATED_FRACTION = 0.25  # a layer with more saturated sigmoid/tanh outputs than this
UPDATE_RATIO_HIGH = 0.1  # 100 × the 1e-3 rule of thumb (Adam(0.01) on a small layer moves ≈ 3e-2)
UPDATE_RATIO_LOW = 1e-6
LOSS_ABOVE_CHANCE = 2.0  # the loss more than this times chance (random outputs alone add up to about 1×)
OVERFIT_TARGET = 0.1  # overfitting means a data loss below this fraction of chance


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
            if param.grad_norm == 0.0 and param.weight_norm > 0.0:
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
        findings.append(
            Finding(
                "loss_not_finite",
                f"the loss is {loss}: the outputs overflow (parameters that diverged, or inputs far too large: "
                "standardize X)",
            )
        )
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


__all__ = ["Diagnosis", "Finding", "LayerStats", "Overfit", "ParameterStats"]
