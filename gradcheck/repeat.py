"""Backward twice: a second backward for the same forward must change nothing.

A caller may run backward more than once for one forward (to inspect grads, or a graph that
revisits a layer). backward must overwrite, not accumulate: after

    y = forward(x);  grad_x = backward(grad_y);  grads = copy(layer.grads);  backward(grad_y)

the second call must return grad_x again and leave every grads[θ] equal to the copy, bit for
bit. A gradient that accumulates (grads[θ] += ...) is right after the first call and twice
too large after the second; an elementwise comparison after one call never sees it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from gradcheck.core.lines import Array
from gradcheck.core.results import CheckResult, relative_error


def repeat_failures_of(name: str, pairs: Iterable[tuple[str, Array, Array]]) -> list[CheckResult]:
    """A failing result for every (tensor, first, second) whose two backward passes differ.

    backward may be called twice for one forward (e.g. by a caller inspecting grads); it must
    overwrite, not accumulate: grad_x and every grads[θ] must come out bitwise the same.
    """
    failures = []
    for label, first, second in pairs:
        if first.shape != second.shape or not np.array_equal(first, second):
            failures.append(_repeat_failure(name, label, first, second))
    return failures


def _repeat_failure(name: str, label: str, first: Array, second: Array) -> CheckResult:
    """A failing result: a second backward for the same forward returned something else."""
    if first.shape != second.shape:
        index, a, n = "shape", float("nan"), float("nan")
    else:
        at = np.unravel_index(int(np.argmax(np.abs(first - second))), first.shape)
        index, a, n = str(tuple(int(i) for i in at)), float(first[at]), float(second[at])
    return CheckResult(
        component=name,
        tensor=f"{label} (backward twice)",
        index=index,
        analytic=a,
        numerical=n,
        abs_error=abs(a - n),
        rel_error=relative_error(a, n),
        tolerance=0.0,
        verdict="fail",
        method="repeat",
        message=f"a second backward for the same forward changed {label}: it must overwrite, not accumulate",
    )
