"""The error-vs-h curves of a sweep (the V shape), drawn with matplotlib if it is installed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gradcheck.results import CheckResult


def plot_sweeps(results: Sequence[CheckResult], steps: Sequence[float], path: str | Path) -> None:
    """Save a log-log plot of |numerical − analytic| against h for every swept result.

    A right gradient draws a V: the right arm falls with slope 2 (truncation, shown by the
    dashed reference line), the left arm rises as rounding ≈ eps/h takes over. A wrong
    gradient draws a flat line at its error. Raises ImportError when matplotlib is missing.
    """
    from refnet.plotting import require_figure

    figure = require_figure()(figsize=(8, 5.5))
    axis = figure.add_subplot()
    h = np.asarray(steps)
    swept = [result for result in results if result.sweep_errors]
    for result in swept:
        errors = np.asarray(result.sweep_errors, dtype=np.float64)
        errors = np.where(errors > 0, errors, np.nan)  # log axes cannot show an exact 0
        style = "-" if result.passed else "--"
        label = f"{result.component} {result.tensor}" + ("" if result.passed else f" ({result.verdict})")
        axis.loglog(h, errors, style, marker=".", label=label, linewidth=2.0 if not result.passed else 1.0)
    axis.loglog(h, 1e-2 * (h / h[0]) ** 2, "k:", label="slope 2 (h²)")
    axis.set_xlabel("step h (relative to max(1, |x|))")
    axis.set_ylabel("|numerical − analytic|")
    axis.set_title("gradcheck convergence sweep")
    axis.grid(True, which="both", alpha=0.3)
    if len(swept) <= 12:
        axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
