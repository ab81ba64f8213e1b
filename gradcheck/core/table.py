"""Aligned text tables of results, for the terminal.

Columns of the main table: ``worst`` is the element (or direction) furthest outside its
tolerance, ``analytic`` and ``numerical`` the two values there, ``abs err`` = |analytic −
numerical|, ``rel err`` = abs err / max(|analytic|, |numerical|), and ``abs tol`` the absolute
error allowed at that element: a pass has abs err <= abs tol.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gradcheck.core.results import CheckResult


def _number(value: float, form: str) -> str:
    return "-" if math.isnan(value) else format(value, form)


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


def verdict_text(result: CheckResult) -> str:
    """ "pass", "pass (2 on kinks)", "FAIL", "KINK", "INCONCLUSIVE" or "ERROR"."""
    text = result.verdict.upper() if result.verdict != "pass" else "pass"
    if result.kinks:
        text += f" ({result.kinks} on kink{'s' if result.kinks > 1 else ''})"
    return text


def slope_text(result: CheckResult) -> str:
    """The convergence order "1.98"; "exact" for a sweep whose error never rose above rounding; "-" unswept."""
    if result.slope is not None:
        return f"{result.slope:.2f}"
    return "exact" if result.sweep_errors and result.passed else "-"


def format_table(results: Sequence[CheckResult], slope: bool = False) -> str:
    """One row per result: where the worst element is, both values, the errors, the verdict.

    With ``slope=True`` a column shows the convergence order from ``--sweep``.
    """
    header = ["component", "tensor", "worst", "analytic", "numerical", "abs err", "rel err", "abs tol", "verdict"]
    if slope:
        header.insert(-1, "slope")
    rows = [header]
    for result in results:
        row = [
            result.component,
            result.tensor,
            result.index,
            _number(result.analytic, " .3e"),
            _number(result.numerical, " .3e"),
            _number(result.abs_error, ".1e"),
            _number(result.rel_error, ".1e"),
            _number(result.tolerance, ".1e"),
            verdict_text(result),
        ]
        if slope:
            row.insert(-1, slope_text(result))
        rows.append(row)
    return _columns(rows, right={3, 4, 5, 6, 7, 8} if slope else {3, 4, 5, 6, 7})


def format_sweep_table(results: Sequence[CheckResult]) -> str:
    """|numerical − analytic| at each decade of h, one row per swept result, and the slope.

    Results swept over different steps (a float32 component's sweep is coarser) get a table each.
    """
    tables = []
    for steps in dict.fromkeys(result.sweep_steps for result in results if result.sweep_errors):
        decades = [i for i, h in enumerate(steps) if abs(round(math.log10(h)) - math.log10(h)) < 1e-9]
        header = ["component", "tensor", *(f"h={steps[i]:.0e}" for i in decades), "slope"]
        rows = [header]
        for result in results:
            if result.sweep_errors and result.sweep_steps == steps:
                errors = [f"{result.sweep_errors[i]:.1e}" for i in decades]
                rows.append([result.component, result.tensor, *errors, slope_text(result)])
        tables.append(_columns(rows, right=set(range(2, len(header)))))
    return "\n\n".join(tables)
