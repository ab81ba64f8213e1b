"""Plots with matplotlib, an optional extra: ``pip install "refnet[plot]"``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from refnet.callbacks import History


def require_matplotlib() -> Any:
    """Import matplotlib.pyplot with a headless backend, or say how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError('plotting needs matplotlib: pip install "refnet[plot]" (or pip install matplotlib)') from exc
    return plt


def plot_history(history: History, path: str | Path | None = None, keys: tuple[str, ...] | None = None) -> Any:
    """Loss curves (and accuracy curves, on a second panel) per epoch; returns the Figure."""
    plt = require_matplotlib()
    keys = keys or tuple(history.history)
    losses = [key for key in keys if key.endswith("loss")]
    metrics = [key for key in keys if not key.endswith("loss") and key != "lr"]
    panels = 2 if metrics else 1
    figure, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    epochs = [epoch + 1 for epoch in history.epochs]
    for group, axis, label in ((losses, axes[0][0], "loss"), (metrics, axes[0][-1], "metric")):
        if not group:
            continue
        for key in group:
            axis.plot(epochs, history.history[key], label=key)
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
        axis.legend()
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure
