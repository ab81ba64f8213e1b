"""gradcheck's closed-form optimizer checks: refnet passes, corrupted optimizers fail.

The corrupted Adams share one reference update with a switch per bug, so each differs
from a correct Adam (which must pass every check) in exactly one place.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gradcheck import check_optimizers
from gradcheck.suite.optim import ADAM_CHECKS, SGD_CHECKS, ParameterHolder, run_steps
from gradcheck.suite.toolkit import check_toolkit_optimizers
from refnet import SGD, AdaGrad, Adam, RMSProp
from refnet.support.packing import ParamState

Array = Any


class ReferenceAdam(Adam):
    """Adam written out plainly, with switches that plant one bug each."""

    bias_correction = True
    epsilon_inside_root = False
    t_offset = 0
    swap_betas = False
    coupled_weight_decay = False

    def update(self, param: Array, grad: Array, state: ParamState) -> None:
        # step() has made m and v (zeros at first) and advanced t, as for every optimizer.
        t = state["t"] + self.t_offset
        beta1, beta2 = (self.beta2, self.beta1) if self.swap_betas else (self.beta1, self.beta2)
        if self.coupled_weight_decay:
            grad = grad + self.weight_decay * param
        elif self.weight_decay:
            param *= 1 - self.learning_rate * self.weight_decay
        state["m"] = beta1 * state["m"] + (1 - beta1) * grad
        state["v"] = beta2 * state["v"] + (1 - beta2) * grad**2
        m_hat, v_hat = state["m"], state["v"]
        if self.bias_correction:
            m_hat, v_hat = m_hat / (1 - beta1**t), v_hat / (1 - beta2**t)
        if self.epsilon_inside_root:
            param -= self.learning_rate * m_hat / np.sqrt(v_hat + self.epsilon)
        else:
            param -= self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon)


class NoBiasCorrection(ReferenceAdam):
    bias_correction = False


class EpsilonInsideRoot(ReferenceAdam):
    epsilon_inside_root = True


class StepOffByOne(ReferenceAdam):
    t_offset = 1


class SwappedBetas(ReferenceAdam):
    swap_betas = True


class CoupledWeightDecay(ReferenceAdam):
    coupled_weight_decay = True


class SharedStateAdam(ReferenceAdam):
    """State keyed by the parameter's name only: two layers' "W" share moments and t."""

    def step(self, layers: Any) -> None:
        shared: dict[str, ParamState] = self.__dict__.setdefault("_shared", {})
        for layer in layers:
            for name, param in layer.params.items():
                state = shared.setdefault(name, {})
                self.start_step(param, state)
                self.update(param, layer.grads[name], state)


def failing(report: Any) -> set[str]:
    return {result.tensor for result in report.results if result.verdict == "fail"}


def test_refnet_optimizers_pass_every_closed_form() -> None:
    report = check_optimizers()
    assert report.passed, report.table()
    assert len(report.results) == len(ADAM_CHECKS) + len(SGD_CHECKS)


def test_the_plain_reference_adam_passes_so_each_corruption_below_is_the_only_difference() -> None:
    assert check_optimizers(adam=ReferenceAdam).passed


@pytest.mark.parametrize(
    ("adam", "expected"),
    [
        (NoBiasCorrection, {"constant g", "first step", "g near ε", "bias correction", "per-layer state"}),
        # ε inside the root changes every step by a relative ~ε/(2g²) (5e-8 at g = 0.3), far above
        # the closed forms' rtol of 1e-9, so every check with a nonzero gradient sees it.
        (EpsilonInsideRoot, {"constant g", "first step", "g near ε", "bias correction", "per-layer state"}),
        (StepOffByOne, {"constant g", "first step", "g near ε", "bias correction", "per-layer state"}),
        (SwappedBetas, {"bias correction", "per-layer state"}),
        (CoupledWeightDecay, {"AdamW, g = 0"}),
        (SharedStateAdam, {"per-layer state"}),
    ],
)
def test_corrupted_adam_fails_exactly_the_checks_that_can_see_its_bug(adam: type[Adam], expected: set[str]) -> None:
    report = check_optimizers(adam=adam)
    assert failing(report) == expected, report.table()


class MomentumWithoutAccumulation(SGD):
    def update(self, param: Array, grad: Array, state: ParamState) -> None:
        param -= self.learning_rate * grad * (1 + self.momentum if self.momentum else 1)


class NesterovAsMomentum(SGD):
    def update(self, param: Array, grad: Array, state: ParamState) -> None:
        velocity = state.setdefault("velocity", np.zeros_like(param))
        velocity *= self.momentum
        velocity += grad
        param -= self.learning_rate * velocity


class SignFlippedSGD(SGD):
    def update(self, param: Array, grad: Array, state: ParamState) -> None:
        super().update(param, -grad, state)


class DecayingSGD(SGD):
    """A hidden weight decay: moves parameters even when the gradient is zero."""

    def update(self, param: Array, grad: Array, state: ParamState) -> None:
        super().update(param, grad + 1e-4 * param, state)


@pytest.mark.parametrize(
    ("sgd", "expected"),
    [
        (MomentumWithoutAccumulation, {"momentum", "nesterov"}),
        (NesterovAsMomentum, {"nesterov"}),
        (SignFlippedSGD, {"½·a·θ²", "momentum", "nesterov"}),
        (DecayingSGD, {"g = 0", "½·a·θ²", "momentum", "nesterov"}),
    ],
)
def test_corrupted_sgd_fails_exactly_the_closed_forms_that_can_see_its_bug(sgd: type[SGD], expected: set[str]) -> None:
    report = check_optimizers(sgd=sgd)
    assert failing(report) == expected, report.table()


def test_constant_gradient_adam_step_is_lr_g_over_abs_g_plus_eps_at_every_step() -> None:
    layer = ParameterHolder(W=[0.0, 0.0])
    g = np.array([0.3, -4.0])
    thetas = run_steps(Adam(learning_rate=0.01), [layer], [[g]] * 10)[0]
    steps = -np.diff(np.vstack([[0.0, 0.0], thetas]), axis=0)
    np.testing.assert_allclose(steps, np.tile(0.01 * g / (np.abs(g) + 1e-8), (10, 1)), rtol=1e-12)


def test_a_gradient_equal_to_epsilon_tells_inside_from_outside_the_root_by_orders_of_magnitude() -> None:
    # With g = ε the first step is lr·g/(|g| + ε) = lr/2 (ε outside the root, refnet's Adam) but
    # lr·g/sqrt(g² + ε) ≈ lr·1e-4 (inside): the "g near ε" check cannot confuse the two.
    lr, eps = 0.01, 1e-8
    steps = {}
    for adam in (Adam, EpsilonInsideRoot):
        layer = ParameterHolder(W=[0.0])
        steps[adam] = -run_steps(adam(learning_rate=lr, epsilon=eps), [layer], [[np.array([eps])]])[0][0, 0]
    assert steps[Adam] == pytest.approx(lr / 2, rel=1e-12)
    assert steps[EpsilonInsideRoot] < steps[Adam] / 1000


def test_failure_reports_the_step_and_element_with_the_reference_and_the_checked_value() -> None:
    report = check_optimizers(adam=EpsilonInsideRoot)
    (result,) = [r for r in report.results if r.tensor == "g near ε"]
    assert result.index.startswith("step 1, [")
    assert result.method == "closed form"
    assert f"the reference gives {result.analytic:.10g}, the checked code {result.numerical:.10g}" in result.message
    assert result.abs_error > result.tolerance


def test_every_public_optimizer_has_closed_form_checks_and_corrupted_variants_here() -> None:
    from gradcheck import public_components
    from refnet import Optimizer

    optimizers = {cls for cls in public_components() if issubclass(cls, Optimizer)}
    corrupted = {value for value in globals().values() if isinstance(value, type) and value.__module__ == __name__}
    assert optimizers == {Adam, SGD, RMSProp, AdaGrad}, (
        "a new optimizer needs closed-form checks in gradcheck/suite/optim.py (issue 22's: gradcheck/suite/toolkit.py)"
    )
    assert all(any(issubclass(cls, optimizer) for cls in corrupted) for optimizer in optimizers)


# -- the learner's toolkit (issue 22): RMSProp, AdaGrad and amsgrad, each corrupted in one place ----


class RMSPropEpsilonInsideRoot(RMSProp):
    def update(self, theta: Array, g: Array, state: ParamState) -> None:
        v = state["v"]
        v[:] = self.rho * v + (1 - self.rho) * g**2
        direction = g / np.sqrt(v + self.epsilon)
        if self.momentum:
            state["b"][:] = self.momentum * state["b"] + direction
            direction = state["b"]
        theta -= self.learning_rate * direction


class RMSPropMomentumOnTheGradient(RMSProp):
    """The buffer accumulates g instead of g/(√v + ε) (a classic mix-up with SGD's momentum)."""

    def update(self, theta: Array, g: Array, state: ParamState) -> None:
        v = state["v"]
        v[:] = self.rho * v + (1 - self.rho) * g**2
        if not self.momentum:
            theta -= self.learning_rate * g / (np.sqrt(v) + self.epsilon)
            return
        state["b"][:] = self.momentum * state["b"] + g
        theta -= self.learning_rate * state["b"] / (np.sqrt(v) + self.epsilon)


class AdaGradMeanOfSquares(AdaGrad):
    """G as a running mean (RMSProp-like, ρ = 0.9) instead of the sum."""

    def update(self, theta: Array, g: Array, state: ParamState) -> None:
        G = state["G"]
        G[:] = 0.9 * G + 0.1 * g**2
        theta -= self.learning_rate * g / (np.sqrt(G) + self.epsilon)


class AmsgradIgnored(Adam):
    """amsgrad accepted and dropped: plain Adam."""

    def __init__(self, *args: Any, amsgrad: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)


def test_refnet_passes_every_toolkit_closed_form() -> None:
    report = check_toolkit_optimizers()
    assert report.passed and len(report.results) == 9, report.table()


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"rmsprop": RMSPropEpsilonInsideRoot},
            {"constant g", "g near ε", "sequence, momentum 0", "sequence, momentum 0.9"},
        ),
        ({"rmsprop": RMSPropMomentumOnTheGradient}, {"sequence, momentum 0.9"}),
        ({"adagrad": AdaGradMeanOfSquares}, {"constant g", "sequence", "g near ε"}),
        ({"adam": AmsgradIgnored}, {"amsgrad, falling gradients"}),
    ],
    ids=["rmsprop-eps-inside", "rmsprop-momentum-on-g", "adagrad-mean", "amsgrad-ignored"],
)
def test_corrupted_toolkit_optimizers_fail_the_closed_forms_that_can_see_their_bug(
    kwargs: dict[str, Any], expected: set[str]
) -> None:
    report = check_toolkit_optimizers(**kwargs)
    assert failing(report) == expected, report.table()
