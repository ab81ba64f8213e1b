"""The sequence components' catalog checks: Embedding (and the recurrent layers).

Two kinds, as for every component:

- gradients by central differences (``gradcheck.checks.run_targets``) of L = Σ grad_y·y, for every
  parameter (and the input, where it has one); Embedding's ids always repeat, so a backward that
  overwrites the rows of repeated ids (``dW[ids] = grad_y``, numpy-ml's bug) instead of adding them
  gives a gradient of the wrong size and fails;
- values against ``gradcheck.suite.recurrent_references``, the formulas as scalar loops in plain Python.
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray

from gradcheck.checks import run_targets
from gradcheck.core.lines import Target
from gradcheck.core.results import CheckResult, Report
from gradcheck.core.tolerances import Tolerances
from gradcheck.repeat import repeat_failures_of
from gradcheck.suite import recurrent_references as textbook
from gradcheck.suite.cases import Runner, seed_from
from gradcheck.suite.references import compare, rows, runner
from refnet.embedding import Embedding

# -- Embedding --------------------------------------------------------------------------------


def repeated_ids(rng: np.random.Generator, shape: tuple[int, ...], distinct: int) -> NDArray[np.int64]:
    """Ids of ``shape`` drawn from 0 … distinct − 1, with id 1 at three positions of the first row for certain."""
    ids = rng.integers(0, distinct, size=shape)
    ids.reshape(shape[0], -1)[0, :3] = 1
    return ids


def embedding_gradient(make: type[Embedding] = Embedding) -> Runner:
    """Embedding(7, 4) at ids (3, 5) from 0 … 3 (15 positions, 4 ids: repeats everywhere); dW by central differences.

    L = Σ grad_y·W[ids]; its gradient dW[v] = Σ_{p: ids_p = v} grad_y[p]. A second backward must give the same dW.
    ``make`` is the class checked (a test hands in a deliberately broken one).
    """

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        return embedding_report(make(7, 4, rng=rng), rng, tol, sweep)

    return run


def embedding_report(layer: Embedding, rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
    """``embedding_gradient``'s work on one layer of 7 rows and width 4."""
    start = time.perf_counter()
    ids = repeated_ids(rng, (3, 5), 4)
    grad_y = rng.standard_normal((3, 5, 4))
    layer.forward(repeated_ids(rng, (2, 2), 7))  # an earlier call of another shape: a stale cache shows
    layer.backward(np.ones((2, 2, 4)))
    layer.forward(ids)
    layer.backward(grad_y)
    dW = layer.grads["W"].copy()
    layer.backward(grad_y)
    again = layer.grads["W"].copy()

    def loss() -> float:
        return float(np.sum(grad_y * layer.forward(ids)))

    report = run_targets([Target("Embedding", "W", layer.params["W"], dW, loss)], tol, seed_from(rng), sweep)
    report.results += repeat_failures_of("Embedding", [("W", dW, again)])
    report.seconds = time.perf_counter() - start
    return report


def embedding_values(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
    """y = W[ids] and dW (repeated ids summed) against the scalar loops, for ids (4, 6) and (2, 3, 2)."""
    layer = Embedding(5, 3, rng=rng)
    W = rows(layer.params["W"])
    results = []
    for shape in ((4, 6), (2, 3, 2)):
        ids = repeated_ids(rng, shape, 5)
        grad_y = rng.standard_normal((*shape, 3))
        y = layer.forward(ids)
        layer.backward(grad_y)
        flat = [int(v) for v in ids.ravel()]
        label = "x".join(str(size) for size in shape)
        results += [
            compare(f"y (ids {label})", textbook.embedding(flat, W), y.reshape(-1, 3), tol, "y_p = W[ids_p]"),
            compare(
                f"W (ids {label})",
                textbook.embedding_backward(flat, rows(grad_y.reshape(-1, 3)), 5),
                layer.grads["W"],
                tol,
                "dW_v = Σ_{p: ids_p = v} grad_y_p",
            ),
        ]
    return results


CHECKS: list[tuple[str, tuple[type, ...], Runner]] = [
    ("Embedding[repeated ids]", (Embedding,), embedding_gradient()),
    ("Embedding reference", (Embedding,), runner(embedding_values)),
]
