"""Aligned text tables of results, for the terminal."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gradcheck.results import CheckResult


def _number(value: float) -> str:
    return f"{value: .3e}"


def _columns(rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(w) if c in right else cell.ljust(w) for c, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def format_table(results: Sequence[CheckResult], slope: bool = False) -> str:
    """One row per result: where the worst element is, both values, the errors, the verdict.

    With ``slope=True`` a column shows the convergence order from ``--sweep``.
    """
    header = ["component", "tensor", "worst", "analytic", "numerical", "abs err", "rel err", "tol", "verdict"]
    if slope:
        header.insert(-1, "slope")
    rows = [header]
    for result in results:
        verdict = result.verdict.upper() if result.verdict != "pass" else "pass"
        if result.kinks:
            verdict += f" ({result.kinks} kink{'s' if result.kinks > 1 else ''})"
        row = [
            result.component,
            result.tensor,
            result.index,
            _number(result.analytic),
            _number(result.numerical),
            f"{result.abs_error:.1e}",
            f"{result.rel_error:.1e}",
            f"{result.tolerance:.1e}",
            verdict,
        ]
        if slope:
            row.insert(-1, "-" if result.slope is None else f"{result.slope:.2f}")
        rows.append(row)
    return _columns(rows, right={3, 4, 5, 6, 7, 8} if slope else {3, 4, 5, 6, 7})


def format_sweep_table(results: Sequence[CheckResult], steps: Sequence[float]) -> str:
    """|numerical − analytic| at each decade of h, one row per swept result, and the slope."""
    decades = [i for i, h in enumerate(steps) if abs(round(math.log10(h)) - math.log10(h)) < 1e-9]
    header = ["component", "tensor", *(f"h={steps[i]:.0e}" for i in decades), "slope"]
    rows = [header]
    for result in results:
        if not result.sweep_errors:
            continue
        errors = [f"{result.sweep_errors[i]:.1e}" for i in decades]
        slope = "-" if result.slope is None else f"{result.slope:.2f}"
        rows.append([result.component, result.tensor, *errors, slope])
    return _columns(rows, right=set(range(2, len(header))))
