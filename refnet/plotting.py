"""Plots with matplotlib, an optional extra: ``pip install "refnet[plot]"``.

Figures are made with ``matplotlib.figure.Figure`` directly, not through ``pyplot``: no
global figure list and no backend switch, so plotting works the same in a script, on a
headless server and in a notebook (where the returned Figure displays itself).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from refnet.callbacks import History
    from refnet.diagnosis import Diagnosis

INSTALL_HINT = 'plotting needs matplotlib, an optional extra: pip install "refnet[plot]" (or pip install matplotlib)'


def require_figure() -> Any:
    """``matplotlib.figure.Figure``, or an ImportError that says how to install matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return Figure


def plot_history(history: History, path: str | Path | None = None, keys: tuple[str, ...] | None = None) -> Any:
    """Per-epoch curves: losses (``loss``, ``val_loss``) on the left, other metrics
    (``accuracy``, ``val_accuracy``) on the right; the learning rate ``lr`` is left out.

    Args:
        history: the History returned by ``train``.
        path: if given, the figure is saved there (PNG for a ``.png`` name).
        keys: the logged quantities to draw (default: all of them).

    Returns:
        The matplotlib Figure.
    """
    Figure = require_figure()
    if not history.epochs:
        raise ValueError("the History is empty: train for at least one epoch before plotting")
    keys = tuple(history.history) if keys is None else tuple(keys)
    unknown = [key for key in keys if key not in history.history]
    if unknown:
        raise ValueError(f"History has no {unknown}; it has {sorted(history.history)}")
    losses = [key for key in keys if key.endswith("loss")]
    metrics = [key for key in keys if not key.endswith("loss") and key != "lr"]
    metric_label = "accuracy" if all("accuracy" in key for key in metrics) else "metric"
    panels = [(group, label) for group, label in ((losses, "loss"), (metrics, metric_label)) if group]
    if not panels:
        raise ValueError(f"nothing to plot among {list(keys)}")
    figure = Figure(figsize=(6 * len(panels), 4), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    epochs = [epoch + 1 for epoch in history.epochs]
    for axis, (group, label) in zip(axes, panels, strict=True):
        for key in group:
            axis.plot(epochs, history.history[key], marker="." if len(epochs) < 30 else None, label=key)
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
        axis.legend()
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure


# -- diagnostics (issue 22) ------------------------------------------------------------------


def plot_diagnosis(diagnosis: Diagnosis, path: str | Path | None = None) -> Any:
    """One ``refnet.diagnose`` report: a histogram of every layer's outputs (top row), then each parameter's
    gradient norm and update-to-weight ratio (log scale, the 1e-3 rule of thumb drawn). Returns the Figure."""
    Figure = require_figure()
    layers = diagnosis.layers
    if not layers:
        raise ValueError("the diagnosis has no layers to plot")
    figure = Figure(figsize=(max(8, 2.2 * len(layers)), 7), layout="constrained")
    grid = figure.add_gridspec(2, max(len(layers), 2))
    for column, stats in enumerate(layers):
        axis = figure.add_subplot(grid[0, column])
        counts, edges = stats.histogram
        axis.stairs(counts, edges, fill=True)
        axis.set_title(f"{stats.index}: {stats.activation or type_name(stats.layer)}", fontsize=9)
        axis.tick_params(labelsize=7)
    # Only what was measured: a frozen layer has no gradient, a parameter at 0 (a new bias) no ratio.
    gradients = {f"{s.index}.{p.name}": p.grad_norm for s in layers for p in s.params if p.grad_norm is not None}
    ratios = {f"{s.index}.{p.name}": p.update_ratio for s in layers for p in s.params if p.update_ratio is not None}
    half = max(len(layers), 2) // 2
    for axis, values, label in (
        (figure.add_subplot(grid[1, :half]), gradients, "gradient norm ‖g‖"),
        (figure.add_subplot(grid[1, half:]), ratios, "update / weight ‖Δθ‖/‖θ‖"),
    ):
        axis.bar(list(values), [max(value, 1e-30) for value in values.values()])
        axis.set_yscale("log")
        plain_log_labels(axis)
        axis.set_ylabel(label)
        axis.tick_params(axis="x", labelrotation=45, labelsize=7)
        if "update" in label:
            axis.axhline(1e-3, color="gray", linestyle="--", linewidth=1)
    figure.suptitle(f"diagnosis: {len(diagnosis.findings)} finding(s)")
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure


def plot_diagnostics_over_epochs(epochs: list[int], diagnoses: list[Diagnosis], path: str | Path | None = None) -> Any:
    """``DiagnosticsCallback``'s record: every parameter's gradient norm and update ratio over the epochs,
    and the last epoch's output histograms. Returns the Figure."""
    Figure = require_figure()
    if not diagnoses:
        raise ValueError("nothing recorded: train with the callback for at least one epoch before plotting")
    figure = Figure(figsize=(12, 4), layout="constrained")
    gradient_axis, ratio_axis, histogram_axis = figure.subplots(1, 3)
    shown = [epoch + 1 for epoch in epochs]
    for stats in diagnoses[-1].layers:
        for param_index, param in enumerate(stats.params):
            label = f"{stats.index}.{param.name}"
            series = [d.layers[[s.index for s in d.layers].index(stats.index)].params[param_index] for d in diagnoses]
            gradient_axis.plot(shown, [max(p.grad_norm or 0.0, 1e-30) for p in series], label=label)
            ratio_axis.plot(shown, [p.update_ratio if p.update_ratio else float("nan") for p in series], label=label)
        counts, edges = stats.histogram
        histogram_axis.stairs(counts, edges, label=f"{stats.index}: {stats.activation or type_name(stats.layer)}")
    for axis, label in ((gradient_axis, "gradient norm ‖g‖"), (ratio_axis, "update / weight (last step)")):
        axis.set_yscale("log")
        plain_log_labels(axis)
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.legend(fontsize=7)
    ratio_axis.axhline(1e-3, color="gray", linestyle="--", linewidth=1)
    histogram_axis.set_title("outputs at the last epoch", fontsize=9)
    histogram_axis.legend(fontsize=7)
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure


def type_name(layer_repr: str) -> str:
    """'Dense' from 'Dense(4, 3, ...)'."""
    return layer_repr.split("(", 1)[0]


def plain_log_labels(axis: Any) -> None:
    """Tick labels of a log axis as plain text (1e-03), not mathtext: matplotlib's mathtext parser warns
    under the pyparsing that older matplotlib releases need, and every warning is an error in the tests."""
    from matplotlib import ticker

    axis.yaxis.set_major_formatter(ticker.LogFormatter())
    axis.yaxis.set_minor_formatter(ticker.NullFormatter())
