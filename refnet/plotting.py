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
