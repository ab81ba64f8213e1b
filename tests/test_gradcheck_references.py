"""The reference and stateful checks: they pass on refnet, and each catches a deliberately wrong forward.

Every corruption below keeps a component's backward consistent with its forward or lives
outside one forward/backward pair (an output scaled by 1.01, a penalty off by a constant, a
running variance off by 1 %, a mis-scaled Dropout mask, a wrong learning rate), which is what
the finite-difference checks cannot see. Each is applied with ``monkeypatch`` to refnet's class
for one test, and the named catalog checks must fail.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from helpers import central_difference

from gradcheck import CATALOG, run_catalog
from gradcheck.suite import attention_references, conv_references, stateful, textbook
from gradcheck.suite.catalog import CATALOG_TOLERANCES, public_components
from refnet import (
    ELU,
    MAE,
    MSE,
    SELU,
    Add,
    AvgPool2D,
    BatchNorm,
    BatchNorm2D,
    BinaryCrossEntropy,
    Concatenate,
    Conv2D,
    CrossEntropy,
    Dense,
    Dropout,
    ElasticNet,
    Flatten,
    Huber,
    Identity,
    LeakyReLU,
    MaxPool2D,
    MulticlassHinge,
    Multiply,
    NeuralNetwork,
    Neuron,
    Optimizer,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from refnet.attention import MultiHeadAttention
from refnet.callbacks import LearningRateScheduler
from refnet.embedding import Embedding
from refnet.functions import GELU, SiLU
from refnet.layernorm import LayerNorm
from refnet.optimizers import SGD
from refnet.positional import PositionalEmbedding
from refnet.recurrent import GRU, LSTM, RNN

Array = Any


def scaled(method: Callable[..., Any], factor: float = 1.01) -> Callable[..., Any]:
    """The method with its returned value multiplied by ``factor``."""

    def wrong(self: Any, *args: Any, **kwargs: Any) -> Any:
        return method(self, *args, **kwargs) * factor

    return wrong


def offset(method: Callable[..., Any], amount: float = 0.01) -> Callable[..., Any]:
    def wrong(self: Any, *args: Any, **kwargs: Any) -> Any:
        return method(self, *args, **kwargs) + amount

    return wrong


def test_every_reference_and_stateful_check_passes_on_refnet() -> None:
    report = run_catalog(pattern="reference")
    assert report.passed, report.table()
    for name, _, _ in stateful.CHECKS:
        assert run_catalog(pattern=name).passed, name


def test_reference_checks_are_in_the_catalog_and_listed() -> None:
    names = {check.name for check in CATALOG}
    assert {name for name, _, _ in stateful.CHECKS} <= names
    assert sum(name.endswith(" reference") for name in names) >= 25


def test_every_public_layer_loss_and_regularizer_has_a_reference_check() -> None:
    covered = {cls for check in CATALOG if check.name.endswith(" reference") for cls in check.covers}
    wanted = [cls for cls in public_components() if not issubclass(cls, Optimizer)]
    missing = [cls.__name__ for cls in wanted if cls not in covered]
    assert missing == [], f"no reference check covers {missing}: add one to gradcheck/suite/references.py"
    assert NeuralNetwork in covered


def unshifted_softmax(forward: Callable[..., Any]) -> Callable[..., Any]:
    """Attention whose softmax forgets to take each row's max off first (exp overflows on large scores)."""

    def attention(Q: Array, K: Array, V: Array, allowed: Any = None) -> tuple[Array, Array]:
        with np.errstate(over="ignore", invalid="ignore"):
            S = np.where(allowed, Q @ K.swapaxes(-1, -2) / np.sqrt(Q.shape[-1]), -np.inf)
            A = np.exp(S)
            A /= A.sum(axis=-1, keepdims=True)
        return A @ V, A

    return attention


#: (check pattern, the class (or module) whose attribute is corrupted, the attribute, the corruption)
FORWARD_CORRUPTIONS: list[tuple[str, type | ModuleType, str, Callable[[Callable[..., Any]], Callable[..., Any]]]] = [
    ("Identity reference", Identity, "function", scaled),
    ("ReLU reference", ReLU, "function", scaled),
    ("LeakyReLU reference", LeakyReLU, "function", scaled),
    ("Sigmoid reference", Sigmoid, "function", scaled),
    ("Tanh reference", Tanh, "function", scaled),
    ("Softmax reference", Softmax, "function", scaled),
    *((f"Dense[{name}] reference", Dense, "forward", scaled)
      for name in ("identity", "relu", "leaky_relu", "sigmoid", "tanh", "softmax")),
    ("Dense[tanh] reference", Dense, "penalty", offset),
    ("Dropout reference", Dropout, "draw_mask", scaled),
    ("BatchNorm[train] reference", BatchNorm, "forward", scaled),
    ("BatchNorm[eval] reference", BatchNorm, "forward", scaled),
    ("Add reference", Add, "forward_many", scaled),
    ("Multiply reference", Multiply, "forward_many", scaled),
    ("Concatenate reference", Concatenate, "forward_many", scaled),
    ("Neuron[sigmoid] reference", Neuron, "forward", scaled),
    ("Neuron[relu] reference", Neuron, "forward", scaled),
    ("MSE reference", MSE, "loss", scaled),
    ("MSE reference", MSE, "value_and_gradient", lambda method: lambda self, *a: (method(self, *a)[0] * 1.01,
                                                                                   method(self, *a)[1])),
    ("CrossEntropy[labels] reference", CrossEntropy, "loss", scaled),
    ("CrossEntropy[probabilities] reference", CrossEntropy, "accuracy", scaled),
    ("BinaryCrossEntropy[probabilities, clipped] reference", BinaryCrossEntropy, "loss", scaled),
    ("BinaryCrossEntropy[from_logits] reference", BinaryCrossEntropy, "loss", scaled),
    # The clip point before issue 18: eps raised to the dtype's epsilon, a user's eps of 1e-20 ignored.
    ("BinaryCrossEntropy[eps 1e-20, below float64's spacing at 1] reference", BinaryCrossEntropy, "_clipped",
     lambda method: lambda self, p: np.clip(p, max(self.eps, np.finfo(p.dtype).eps),
                                            1 - max(self.eps, np.finfo(p.dtype).eps))),
    ("ElasticNet[L1] reference", ElasticNet, "penalty", offset),
    ("ElasticNet[L2] reference", ElasticNet, "penalty", offset),
    ("ElasticNet[L1+L2] reference", ElasticNet, "penalty", offset),
    ("ElasticNet[none] reference", ElasticNet, "penalty", offset),
    ("Network[tanh→BN→dropout, CE] reference", NeuralNetwork, "forward", scaled),
    ("Network[tanh→BN→dropout, CE] reference", NeuralNetwork, "penalty", offset),
    ("Network[leaky→sigmoid, BCE] reference", NeuralNetwork, "evaluate",
     lambda method: lambda self, *a: {**method(self, *a), "loss": method(self, *a)["loss"] * 1.01}),
    ("Network[relu→linear, BCE logits] reference", NeuralNetwork, "compute_gradients", scaled),
    ("GraphModel[residual, MSE] reference", NeuralNetwork, "forward", scaled),
    # the convolutional layers (issue 19)
    *((f"Conv2D[{label}] reference", Conv2D, "forward", scaled) for label, config, _ in conv_references.CONV_CASES
      if "dtype" not in config),
    ("Conv2D[tanh, 3x3 stride 2 padding 1, L1+L2] reference", Conv2D, "penalty", offset),
    *((f"{'MaxPool2D' if kind == 'max' else 'AvgPool2D'}[{label}] reference",
       MaxPool2D if kind == "max" else AvgPool2D, "forward", scaled)
      for label, kind, _, _, _ in conv_references.POOL_CASES),
    ("Flatten reference", Flatten, "forward", scaled),
    ("BatchNorm2D[train] reference", BatchNorm2D, "forward", scaled),
    ("BatchNorm2D[eval] reference", BatchNorm2D, "forward", scaled),
    ("Network[conv relu→maxpool→conv tanh→BN2D→avgpool→flatten→dense] reference", NeuralNetwork, "forward", scaled),
    ("Network[conv relu→maxpool→conv tanh→BN2D→avgpool→flatten→dense] reference", Conv2D, "penalty", offset),
    # issue 20: the sequence components
    ("Embedding reference", Embedding, "forward", scaled),
    # issue 21
    *((f"MultiHeadAttention[{name}] reference", MultiHeadAttention, "forward", scaled)
      for name in ("1 head", "1 head, causal", "2 heads", "2 heads, causal", "4 heads", "4 heads, causal")),
    *((f"LayerNorm[{shape}] reference", LayerNorm, "forward", scaled) for shape in ("(N, D)", "(N, T, D)")),
    ("PositionalEmbedding reference", PositionalEmbedding, "forward", scaled),
    ("GELU reference", GELU, "function", scaled),
    # an erf off by 4e-15 relative (far inside the value checks' 1e-9) fails the erf check
    ("GELU[erf] reference", attention_references, "erf", lambda erf: lambda x: erf(x) * (1 + 4e-15)),
    ("GELU[tanh] reference", GELU, "function", scaled),
    ("SiLU reference", SiLU, "function", scaled),
    ("TransformerBlock[pre-LN, causal] reference", NeuralNetwork, "forward", scaled),
    ("MultiHeadAttention[huge scores] reference", attention_references, "attention_forward", unshifted_softmax),
    ("TransformerBlock[pre-LN, not causal] reference", NeuralNetwork, "compute_gradients", scaled),
]  # fmt: skip

# Issue 22, the learner's toolkit.
FORWARD_CORRUPTIONS += [
    ("ELU reference", ELU, "function", scaled),
    ("ELU[alpha 0.5] reference", ELU, "function", scaled),
    ("SELU reference", SELU, "function", scaled),
    ("Softplus reference", Softplus, "function", scaled),
    *((f"Dense[{name}] reference", Dense, "forward", scaled) for name in ("elu", "selu", "softplus", "ELU(alpha 0.5)")),
    ("MAE reference", MAE, "loss", scaled),
    ("Huber[delta 1] reference", Huber, "loss", scaled),
    ("Huber[delta 0.3] reference", Huber, "loss", scaled),
    ("MulticlassHinge reference", MulticlassHinge, "loss", scaled),
    ("MulticlassHinge[margin 0.5] reference", MulticlassHinge, "accuracy", scaled),
    ("RNN reference", RNN, "sequence_forward", scaled),
    ("LSTM reference", LSTM, "sequence_forward", scaled),
    ("GRU reference", GRU, "sequence_forward", scaled),
    # issue 20, carried state: h_t from h_0 ≠ 0 is scaled (a stateful run's windows then still agree)
    ("RNN[carried state] reference", RNN, "sequence_forward", scaled),
    ("LSTM[carried state] reference", LSTM, "sequence_forward", scaled),
    ("GRU[carried state] reference", GRU, "sequence_forward", scaled),
    ("LSTM[cell state] reference", LSTM, "cell_states", scaled),
    ("Network[Embedding→RNN→Dense, CE] reference", NeuralNetwork, "forward", scaled),
]  # fmt: skip


@pytest.mark.parametrize("pattern, cls, method, corrupt", FORWARD_CORRUPTIONS)
def test_a_wrong_value_fails_its_reference_check(
    monkeypatch: pytest.MonkeyPatch, pattern: str, cls: type, method: str, corrupt: Callable[..., Any]
) -> None:
    assert run_catalog(pattern=pattern).passed
    monkeypatch.setattr(cls, method, corrupt(getattr(cls, method)))
    report = run_catalog(pattern=pattern)
    assert not report.passed
    assert all(result.method == "reference" for result in report.failures if "reference" in pattern)


def test_relu_derivative_at_zero_is_pinned_by_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """f'(0) = 0 by convention: a backward with 1 at 0 is consistent everywhere a finite difference looks."""

    def gradient(self: ReLU, y: Array, grad_y: Array, out: Array | None = None) -> Array:
        return grad_y * (y >= 0)

    monkeypatch.setattr(ReLU, "gradient", gradient)
    failed = {result.tensor for result in run_catalog(pattern="ReLU reference").failures}
    assert failed == {"grad_x", "gradient(y, grad_y)"}


def test_batchnorm_running_variance_that_is_biased_fails_the_stateful_check(monkeypatch: pytest.MonkeyPatch) -> None:
    forward = BatchNorm.forward

    def biased(self: BatchNorm, x: Array, training: bool = True) -> Array:
        before = self.state["running_var"].copy()
        y = forward(self, x, training)
        if training:
            N, m = x.shape[0], self.momentum
            unbiased_part = self.state["running_var"] - (1 - m) * before
            self.state["running_var"][:] = (1 - m) * before + unbiased_part * (N - 1) / N
        return y

    monkeypatch.setattr(BatchNorm, "forward", biased)
    report = run_catalog(pattern="BatchNorm[running statistics")
    assert {result.tensor for result in report.failures} == {"running_var", "y (eval after training)"}


def test_a_wrong_global_norm_fails_the_clipping_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Optimizer, "global_norm", scaled(Optimizer.global_norm))
    failed = {result.tensor for result in run_catalog(pattern="clip_norm").failures}
    assert {"clip_norm, ‖g‖ above", "global_norm (above)", "global_norm (below)", "clip_norm"} <= failed
    assert "clip_norm, ‖g‖ below" not in failed  # below the clip, the norm changes nothing


def test_a_scheduler_that_sets_another_rate_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    on_epoch_begin = LearningRateScheduler.on_epoch_begin

    def late(self: LearningRateScheduler, epoch: int) -> None:
        on_epoch_begin(self, epoch + 1)

    monkeypatch.setattr(LearningRateScheduler, "on_epoch_begin", late)
    for name in stateful.SCHEDULES:
        failed = {result.tensor for result in run_catalog(pattern=f"schedule[{name}]").failures}
        assert failed == {"scheduler, lr0 from the optimizer", "scheduler, initial_lr"}


@pytest.mark.parametrize("name", list(stateful.SCHEDULES))
def test_a_wrong_schedule_formula_fails(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    make, formula = stateful.SCHEDULES[name]
    monkeypatch.setitem(stateful.SCHEDULES, name, (lambda: lambda epoch, lr0: make()(epoch, lr0) * 1.01, formula))
    results = stateful.schedule(name)(np.random.default_rng(0), CATALOG_TOLERANCES)
    assert {result.tensor for result in results if not result.passed} == {
        "schedule(epoch, lr0)",
        "scheduler, lr0 from the optimizer",
        "scheduler, initial_lr",
    }


def test_an_update_wrong_in_its_last_block_fails_the_several_block_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    update = SGD.update

    def off_at_the_end(self: SGD, param: Array, grad: Array, state: dict[str, Any]) -> None:
        update(self, param, grad, state)
        param[-1] += 1e-6

    monkeypatch.setattr(SGD, "update", off_at_the_end)
    assert not run_catalog(pattern="SGD[momentum, several blocks]").passed


def test_neuron_training_with_another_learning_rate_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    train = Neuron.train

    def faster(self: Neuron, X: Array, y: Array, epochs: int = 100, learning_rate: float = 0.1) -> list[float]:
        return train(self, X, y, epochs, learning_rate * 1.01)

    monkeypatch.setattr(Neuron, "train", faster)
    failed = {result.tensor for result in run_catalog(pattern="Neuron[train]").failures}
    assert failed == {"losses", "w", "b"}


def test_a_dropout_rate_off_by_two_percent_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def draw_mask(self: Dropout, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Array:
        keep = self.rng.random(shape) >= self.p * 1.02
        return keep.astype(dtype) * dtype.type(1.0 / (1.0 - self.p))

    monkeypatch.setattr(Dropout, "draw_mask", draw_mask)
    failed = {result.tensor for result in run_catalog(pattern="Dropout reference").failures}
    assert failed == {"drop rate"}


# -- the textbook formulas themselves ---------------------------------------------------------


def test_textbook_batchnorm_backward_is_the_derivative_of_textbook_batchnorm() -> None:
    rng = np.random.default_rng(3)
    x, gamma, grad_y = rng.standard_normal((5, 3)), rng.uniform(0.5, 1.5, 3), rng.standard_normal((5, 3))

    def loss() -> float:
        X = x.tolist()
        y = textbook.batchnorm(X, gamma.tolist(), [0.0] * 3, textbook.column_mean(X), textbook.column_variance(X), 1e-5)
        return float(np.sum(np.array(y) * grad_y))

    grad_x = textbook.batchnorm_backward(x.tolist(), gamma.tolist(), grad_y.tolist(), 1e-5)[0]
    np.testing.assert_allclose(grad_x, central_difference(loss, x), rtol=1e-6, atol=1e-8)


def test_textbook_softmax_vjp_is_the_derivative_of_textbook_softmax() -> None:
    rng = np.random.default_rng(4)
    z, grad_y = rng.standard_normal(5), rng.standard_normal(5)
    numerical = central_difference(lambda: float(np.dot(textbook.softmax(z.tolist()), grad_y)), z)
    np.testing.assert_allclose(textbook.softmax_vjp(z.tolist(), grad_y.tolist()), numerical, rtol=1e-6, atol=1e-9)


def test_textbook_losses_at_known_points() -> None:
    assert textbook.sigmoid(0.0) == 0.5 and textbook.sigmoid(-1000.0) == 0.0 and textbook.sigmoid(1000.0) == 1.0
    assert textbook.mse([[1.0, 2.0]], [[0.0, 0.0]]) == 2.5
    assert textbook.cross_entropy([[0.0, 0.0]], [[1.0, 0.0]]) == pytest.approx(np.log(2))
    assert textbook.binary_cross_entropy([[0.0]], [[1.0]], 1e-7) == pytest.approx(-np.log(1e-7))
    assert textbook.binary_cross_entropy_logits([[0.0]], [[1.0]]) == pytest.approx(np.log(2))
    assert textbook.penalty([[1.0, -2.0, 0.0]], 0.5, 0.2) == pytest.approx(0.5 * 3 + 0.1 * 5)
    assert textbook.penalty_gradient([[1.0, -2.0, 0.0]], 0.5, 0.0) == [[0.5, -0.5, 0.0]]


def test_a_state_lost_when_carried_to_a_new_optimizer_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Optimizer, "load_state_arrays", lambda self, layers, arrays: None)
    failed = {result.tensor for result in run_catalog(pattern="SGD, Adam[").failures}
    assert failed == {
        "Adam, state carried over after step 2",
        "SGD, momentum, state carried over after step 2",
        "SGD, Nesterov, state carried over after step 2",
    }


def test_an_update_wrong_for_one_of_several_layers_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    step = Optimizer.step

    def off_for_the_last_layer(self: Optimizer, layers: Any) -> None:
        layers = list(layers)
        step(self, layers)
        if len(layers) == 3:
            layers[-1].params["W"][-1] += 1e-6

    monkeypatch.setattr(Optimizer, "step", off_for_the_last_layer)
    report = run_catalog(pattern="SGD, Adam[three layers")
    assert len(report.failures) == 3


def test_every_reference_check_is_proven_to_catch_a_wrong_value() -> None:
    proven = {pattern for pattern, _, _, _ in FORWARD_CORRUPTIONS}
    references = {check.name for check in CATALOG if check.name.endswith(" reference")}
    assert references - proven == set(), "add a corruption for each new reference check to FORWARD_CORRUPTIONS"
