"""gradcheck in your own test suite: an assertion, and hypothesis strategies for check points.

    from gradcheck.testing import assert_gradients, layer_inputs

    def test_my_layer_gradients():
        assert_gradients(MyLayer(4, 3), x)      # AssertionError carrying the table unless all pass

    @given(x=layer_inputs(width=4))             # shapes (N, 4) and values drawn away from 0
    def test_my_layer_gradients_anywhere(x):
        assert_gradients(MyLayer(4, 3), x)

``assert_gradients`` takes what ``gradcheck.check_component`` takes: a layer (refnet's or any
object with forward/backward and params/grads) and x; ``Functions(forward, vjp, params)`` and
x; a loss, y_pred and y_true; a NeuralNetwork, X and Y. The strategies need hypothesis
(a test dependency, imported when they are called).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gradcheck.adapters import LayerAdapter
from gradcheck.core.lines import Array
from gradcheck.core.results import Report
from gradcheck.core.tolerances import Tolerances, tolerances_for
from gradcheck.precision import coarsest
from gradcheck.usercheck import check_component


def assert_gradients(
    component: Any,
    *inputs: Any,
    seed: int = 0,
    tolerances: Tolerances | None = None,
    sweep: bool = False,
    name: str | None = None,
    timeout: float | None = None,
) -> Report:
    """Check ``component`` at ``inputs`` and return the report; AssertionError with the table unless all pass.

    A failure, a kink-dominated tensor, an inconclusive verdict or an error raised by the
    component are all assertion failures: the message is the table and why each did not pass.
    Arguments that cannot be checked (NaN in x, not a component) raise ValueError/TypeError.
    """
    report = check_component(
        component, inputs, seed=seed, tolerances=tolerances, sweep=sweep, name=name, timeout=timeout
    )
    if not report.passed:
        raise AssertionError("gradcheck found gradients that do not pass:\n" + report.table(slope=sweep))
    return report


def away_from(values: Array, kinks: Sequence[float], margin: float) -> Array:
    """``values`` with every entry closer than ``margin`` to a kink moved out of reach (a copy).

    The forbidden intervals (kink − margin, kink + margin) are merged where they overlap, and an
    entry inside one moves to its nearer end, so two kinks close together never push an entry
    from one onto the other.
    """
    moved = np.array(values, dtype=np.float64)
    intervals: list[list[float]] = []
    for kink in sorted(kinks):
        if intervals and kink - margin <= intervals[-1][1]:
            intervals[-1][1] = kink + margin
        else:
            intervals.append([kink - margin, kink + margin])
    for low, high in intervals:
        inside = (moved > low) & (moved < high)
        moved[inside] = np.where(moved[inside] - low < high - moved[inside], low, high)
    return moved


def layer_inputs(
    component: Any = None,
    *,
    width: int | None = None,
    widths: tuple[int, int] = (1, 6),
    rows: tuple[int, int] = (1, 8),
    bound: float = 3.0,
    kinks: Sequence[float] = (0.0,),
    margin: float | None = None,
    distance: Callable[[Array], float] | None = None,
    count: int | None = None,
) -> Any:
    """A hypothesis strategy of check points x of shape (N, D) for a layer, away from its kinks.

    - D is ``width``, else ``component.in_features`` (when an int), else drawn from ``widths``;
    - N is drawn from ``rows``, at least ``component.min_batch_rows`` (e.g. 2 for BatchNorm);
    - values lie in [−bound, bound], at least ``margin`` from every value in ``kinks`` (the
      input-level kinks, 0 for ReLU); margin defaults to the kink margin of the precision the
      component's parameters are in (1e-3 in float64, 0.05 in float32);
    - ``distance(x)``, if given, is the distance to the nearest kink inside the layer (e.g. its
      smallest |pre-activation|): draws closer than ``margin`` are rejected;
    - ``count`` inputs of the same shape (a list; default 2 for a layer with several inputs).
    """
    from hypothesis import strategies as st  # type: ignore[import-not-found, unused-ignore]
    from hypothesis.extra.numpy import arrays  # type: ignore[import-not-found, unused-ignore]

    if margin is None:
        params = getattr(component, "params", {}) if component is not None else {}
        floats = [value for value in params.values() if isinstance(value, np.ndarray)]
        margin = tolerances_for(coarsest(floats)).kink_margin
    known = getattr(component, "in_features", None)
    width = width or (known if isinstance(known, int) and known > 0 else None)
    fewest = max(rows[0], int(getattr(component, "min_batch_rows", 1) or 1))
    if count is None:
        count = 2 if component is not None and LayerAdapter(component).many else 1
    values = st.floats(-bound, bound, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    shapes = st.tuples(st.integers(fewest, max(fewest, rows[1])), st.just(width) if width else st.integers(*widths))
    kept_away = float(margin)

    def points(shape: tuple[int, int]) -> Any:
        one = arrays(np.float64, shape, elements=values).map(lambda x: away_from(x, kinks, kept_away))
        return one if count == 1 else st.lists(one, min_size=count, max_size=count)

    strategy = shapes.flatmap(points)
    if distance is not None:
        strategy = strategy.filter(lambda x: distance(x) >= kept_away)
    return strategy


def layer_cases(
    make: Callable[[int], Any],
    *,
    widths: tuple[int, int] = (1, 6),
    rows: tuple[int, int] = (1, 8),
    bound: float = 3.0,
    kinks: Sequence[float] = (0.0,),
    margin: float | None = None,
    distance: Callable[[Any, Array], float] | None = None,
) -> Any:
    """A hypothesis strategy of (layer, x): a width D from ``widths``, ``make(D)``, and x (N, D) for it.

    ``distance(layer, x)``, if given, is the distance to the nearest kink inside the layer; draws
    closer than the margin are rejected (see ``layer_inputs`` for the rest).
    """
    from hypothesis import strategies as st  # type: ignore[import-not-found, unused-ignore]

    def case(draw: Any) -> tuple[Any, Array]:
        d = draw(st.integers(*widths))
        layer = make(d)
        inside = None if distance is None else (lambda x: distance(layer, x))
        x = draw(layer_inputs(layer, width=d, rows=rows, bound=bound, kinks=kinks, margin=margin, distance=inside))
        return layer, x

    return st.composite(case)()
