"""gradcheck says why a check is not a plain pass: a forward that is not deterministic, a kink inside
the step, a sweep with no slope to fit, and a plot title that fits its figure.

The components are written here as a user would write them, without refnet.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from gradcheck import check_component
from gradcheck.core.table import format_sweep_table, format_table
from gradcheck.plot import TITLE, plot_sweeps

Array = NDArray[np.float64]


class Abs:
    """y = |x|, grad_x = grad_y·sign(x): right everywhere but at its kink x = 0."""

    def __init__(self) -> None:
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}

    def forward(self, x: Array, training: bool = True) -> Array:
        self.x = x
        return np.abs(x)

    def backward(self, grad_y: Array) -> Array:
        return grad_y * np.sign(self.x)


class RedrawingDropout:
    """Inverted dropout that draws its mask from the global ``np.random`` on every forward."""

    def __init__(self, rate: float = 0.5) -> None:
        self.rate = rate
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}

    def forward(self, x: Array, training: bool = True) -> Array:
        self.mask = (np.random.random(x.shape) >= self.rate) / (1.0 - self.rate)  # noqa: NPY002 (the user's bug)
        return x * self.mask

    def backward(self, grad_y: Array) -> Array:
        return grad_y * self.mask


class Linear:
    """y = x @ W: its central difference is exact, so a sweep has no truncation slope to fit."""

    def __init__(self) -> None:
        self.W = np.random.default_rng(0).standard_normal((4, 2))
        self.params = {"W": self.W}
        self.grads: dict[str, Array] = {}

    def forward(self, x: Array, training: bool = True) -> Array:
        self.x = x
        return x @ self.W

    def backward(self, grad_y: Array) -> Array:
        self.grads["W"] = self.x.T @ grad_y
        return grad_y @ self.W.T


def point() -> Array:
    return np.random.default_rng(1).standard_normal((3, 4))


def test_a_forward_that_redraws_its_randomness_is_reported_as_not_deterministic() -> None:
    (result,) = check_component(RedrawingDropout(), (point(),)).results
    assert result.verdict == "inconclusive"
    assert result.message.startswith("forward is not deterministic: two calls on the same input differ by ")
    assert "seed it per call" in result.message and "evaluation mode" in result.message
    assert "rounding" not in result.message


def test_an_element_within_a_step_of_a_kink_is_a_kink_with_its_distance() -> None:
    x = point()
    x[0, 0], x[1, 2] = 1e-9, -3e-10  # within a step h0 = 1e-6 of Abs's kink at 0
    report = check_component(Abs(), (x,))
    (result,) = report.results
    assert result.verdict == "pass" and result.kinks == 2  # 2 of 12 elements on kinks are set aside
    assert "inf" not in result.message and "rounding" not in result.message
    distance = float(result.message.split("a kink ")[1].split()[0])
    assert 1e-10 < distance < 1e-9  # the nearer kink, (1, 2), is 3e-10 away
    assert "kink" in report.explanations()


def test_a_sweep_of_a_linear_map_says_it_is_exact_instead_of_printing_no_slope() -> None:
    report = check_component(Linear(), (point(),), sweep=True)
    assert report.passed
    for result in report.results:
        assert result.slope is None
        assert "no slope to measure" in result.message and "exact" in result.message
    for table in (format_table(report.results, slope=True), format_sweep_table(report.results)):
        rows = table.splitlines()[2:]
        assert rows and all(row.split()[-1] != "-" and "exact" in row.split() for row in rows)
    assert "exact" in report.explanations()


@pytest.mark.parametrize("components", [1, 2])
def test_the_plot_title_fits_inside_the_figure(tmp_path: Any, components: int) -> None:
    pytest.importorskip("matplotlib")
    report = check_component(Linear(), (point(),), sweep=True, name="Linear")
    if components == 2:
        report.extend(check_component(Linear(), (point(),), sweep=True, name="Linear again"))
    figure = plot_sweeps(report.results, tmp_path / "sweep.png")
    # The figure's only text of its own is the title (Figure.get_suptitle needs matplotlib 3.8).
    (title,) = figure.texts
    assert " ".join(title.get_text().split()) == " ".join(TITLE.split())
    box = title.get_window_extent()
    width = figure.get_figwidth() * figure.dpi
    assert 0.0 <= box.x0 and box.x1 <= width
