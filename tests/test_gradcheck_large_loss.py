"""A large loss value |L| must not buy a wrong gradient a pass.

The rounding of L (≈ eps·|L|) turns into an error ≈ eps·|L|/h of a central difference. The
allowance for it once grew without limit, and the retries only tried smaller steps, so a Dense
layer with bias 1e6..1e8 and dW off by 0.1 %..10 % passed the default check. Now, when rounding
dominates at h0, larger steps are tried (rounding falls, truncation is measured), and an element
that would still need more than ``inconclusive`` (10) times the tolerance is *inconclusive*,
never a pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradcheck import DEFAULT_TOLERANCES, check_layer
from gradcheck.cli import main
from refnet import Dense
from refnet.base import Layer

Array = Any


def scaled_dense(factor: float) -> type[Dense]:
    """Dense whose dW is multiplied by ``factor`` (1.0: the correct layer)."""

    class ScaledDense(Dense):
        def backward(self, grad_y: Array) -> Array:
            grad_x = super().backward(grad_y)
            self.grads["W"] *= factor
            return grad_x

    return ScaledDense


def offset_dense(factor: float, offset: float, activation: str = "identity", seed: int = 0) -> Dense:
    layer = scaled_dense(factor)(3, 3, activation, seed=seed)
    layer.params["b"][:] = offset
    return layer


@pytest.mark.parametrize("offset", [1e6, 1e7, 1e8])
@pytest.mark.parametrize("factor", [1.001, 1.01, 1.1])
def test_a_wrong_dW_fails_however_large_the_loss(offset: float, factor: float) -> None:
    x = np.random.default_rng(1).standard_normal((5, 3))
    report = check_layer(offset_dense(factor, offset), x)
    verdicts = {result.tensor: result.verdict for result in report.results}
    assert verdicts["W"] == "fail"
    assert verdicts["b"] == "pass"


@pytest.mark.parametrize("activation", ["identity", "relu"])
@pytest.mark.parametrize("offset", [1e3, 1e4, 1e5, 1e6, 1e7, 1e8])
def test_a_correct_dense_passes_however_large_the_loss(activation: str, offset: float) -> None:
    # the larger steps decide it: a Dense is linear in each parameter, so rounding falls with h and
    # truncation stays at zero up to the largest step
    for seed in range(5):
        x = np.random.default_rng(seed + 1).standard_normal((5, 3))
        report = check_layer(offset_dense(1.0, offset, activation, seed), x)
        assert report.passed, report.failures


def test_the_reviewers_user_layer_fails_on_the_command_line(tmp_path: Path) -> None:
    module = tmp_path / "big_bias_layer.py"
    module.write_text(
        "import numpy as np\n"
        "from refnet import Dense\n"
        "class WrongDense(Dense):\n"
        "    def backward(self, grad_y):\n"
        "        gx = super().backward(grad_y)\n"
        "        self.grads['W'] *= 1.1\n"
        "        return gx\n"
        "def make():\n"
        "    layer = WrongDense(3, 3, seed=0)\n"
        "    layer.params['b'][:] = 1e8\n"
        "    return layer, np.random.default_rng(1).standard_normal((5, 3))\n"
    )
    assert main(["--check", f"{module}:make"]) == 1


def shifted_tanh(offset: float) -> Layer:
    """y = tanh(x) + offset with the right gradient: curved, so large steps carry truncation."""

    class ShiftedTanh(Layer):
        def forward(self, x: Array, training: bool = True) -> Array:
            self.x = x
            return np.tanh(x) + offset

        def backward(self, grad_y: Array) -> Array:
            return grad_y * (1 - np.tanh(self.x) ** 2)

    return ShiftedTanh()


@pytest.mark.parametrize("offset", [1e5, 1e6])
def test_a_correct_curved_layer_with_a_large_offset_passes(offset: float) -> None:
    for seed in range(10):
        x = np.random.default_rng(seed).standard_normal((4, 5))
        assert check_layer(shifted_tanh(offset), x, seed=seed).passed


def test_an_undecidable_element_is_inconclusive_never_a_pass_or_a_fail() -> None:
    # |L| ≈ 1e8 and a curved function: no step brings rounding + truncation within 10× the tolerance
    # of the small gradient elements, so the check cannot tell a right gradient from one 1e-4 off
    x = np.random.default_rng(0).standard_normal((4, 5))
    (result,) = check_layer(shifted_tanh(1e8), x).results
    assert result.verdict == "inconclusive" and not result.passed
    assert "inconclusive" in result.message and "--sweep" in result.message
    assert result.tolerance > DEFAULT_TOLERANCES.inconclusive * DEFAULT_TOLERANCES.allowed(abs(result.analytic))


def test_the_allowance_of_a_pass_never_exceeds_ten_times_the_tolerance() -> None:
    tol = DEFAULT_TOLERANCES
    for offset in (1e4, 1e6, 1e8):
        x = np.random.default_rng(2).standard_normal((5, 3))
        for result in check_layer(offset_dense(1.0, offset), x).results:
            scale = max(abs(result.analytic), abs(result.numerical))
            assert result.passed
            assert result.tolerance <= tol.inconclusive * tol.allowed(scale) * (1 + 1e-12)
