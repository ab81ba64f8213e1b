"""The error-vs-h curves of a sweep (the V shape), one panel per component, drawn with matplotlib."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradcheck.core.results import CheckResult

COLUMNS = 4  #: panels per row
TITLE = "gradcheck convergence sweep: error falls as h² where the gradient is right, stays flat where wrong"
TITLE_POINTS = 12.0  #: the title's font size


def plot_sweeps(results: Sequence[CheckResult], path: str | Path) -> Any:
    """Save log-log plots of |numerical − analytic| against h: a panel per component, a curve per tensor.

    A right gradient draws a V: the right arm falls with slope 2 (truncation, shown by the
    dotted reference line), the left arm rises as rounding ≈ eps/h takes over. A wrong
    gradient draws a flat line at its error (dashed and thick, its verdict in the legend).
    Returns the matplotlib Figure; raises ImportError when matplotlib is missing.
    """
    from refnet.plotting import require_figure

    swept = [result for result in results if result.sweep_errors]
    components = list(dict.fromkeys(result.component for result in swept))
    columns = max(1, min(COLUMNS, len(components)))
    rows = max(1, math.ceil(len(components) / columns))
    figure = require_figure()(figsize=(4.4 * columns, 3.4 * rows + 0.6))
    for number, component in enumerate(components, start=1):
        axis = figure.add_subplot(rows, columns, number)
        for result in (result for result in swept if result.component == component):
            h = np.asarray(result.sweep_steps)
            errors = np.asarray(result.sweep_errors, dtype=np.float64)
            errors = np.where(errors > 0, errors, np.nan)  # log axes cannot show an exact 0
            label = result.tensor if result.passed else f"{result.tensor} ({result.verdict.upper()})"
            style, width = ("-", 1.2) if result.passed else ("--", 2.5)
            axis.loglog(h, errors, style, marker=".", label=label, linewidth=width)
        h = np.asarray(next(result.sweep_steps for result in swept if result.component == component))
        axis.loglog(h, 1e-2 * (h / h[0]) ** 2, "k:", linewidth=0.8, label="slope 2")
        axis.set_title("\n".join(textwrap.wrap(component, 40)), fontsize="small")
        axis.set_xlabel("step h", fontsize="small")
        axis.set_ylabel("|numerical − analytic|", fontsize="small")
        axis.tick_params(labelsize="x-small")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize="x-small", loc="best")
    # wrapped to the figure's width (a character of a 12-point title is about 0.55 × 12 points wide), so that
    # one narrow panel does not clip it at both sides; the panels leave room for its lines
    width_points = 72.0 * figure.get_figwidth()
    lines = textwrap.wrap(TITLE, max(20, int(0.9 * width_points / (0.55 * TITLE_POINTS))))
    figure.suptitle("\n".join(lines), fontsize=TITLE_POINTS)
    title_inches = len(lines) * 1.2 * TITLE_POINTS / 72.0
    figure.tight_layout(rect=(0.0, 0.0, 1.0, 1.0 - title_inches / figure.get_figheight()))
    figure.savefig(path, dpi=90)
    return figure
