"""gradcheck catches deliberately corrupted components, and passes their correct originals.

Every case builds a refnet component, or a subclass of it with one bug (a gradient scaled by
1.01, a sign flipped, a term dropped, a regularization term missing, a sum instead of a
mean), and checks it at the same point. The correct one must pass, the corrupted one must
fail, with the plain check and with the convergence sweep.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pytest

from gradcheck import Report, check_layer, check_loss, check_network, check_regularizer
from gradcheck.core.kinks import push_from_zero
from gradcheck.core.tolerances import DEFAULT_TOLERANCES
from gradcheck.suite.catalog import check_rng
from gradcheck.suite.sequences import embedding_gradient
from refnet import (
    ELU,
    MAE,
    MSE,
    SELU,
    BatchNorm,
    BinaryCrossEntropy,
    CrossEntropy,
    Dense,
    Dropout,
    ElasticNet,
    Huber,
    Identity,
    LeakyReLU,
    MulticlassHinge,
    NeuralNetwork,
    Neuron,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from refnet.embedding import Embedding
from refnet.functions import Activation
from refnet.graph import Add, Concatenate, GraphModel, Input, Merge, Multiply
from refnet.losses import Loss

Array = Any
L = TypeVar("L", bound=Loss)
Case = Callable[[bool, bool], Report]


def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def away_from_zero(shape: tuple[int, ...], scale: float = 1.0) -> Array:
    return push_from_zero(scale * rng().standard_normal(shape), 0.05)


# -- corrupted activations -----------------------------------------------------------------


def corrupt_activation(base: type[Activation], transform: Callable[[Array, Array, Array], Array]) -> type[Activation]:
    """A subclass of ``base`` whose gradient is transform(correct_gradient, y, grad_y)."""

    class Corrupted(base):  # type: ignore[valid-type, misc]
        def gradient(self, y: Array, grad_y: Array, out: Array = None) -> Array:
            return transform(np.array(super().gradient(y, grad_y)), y, grad_y)

    return Corrupted


SCALED = lambda g, y, gy: 1.01 * g  # noqa: E731
FLIPPED = lambda g, y, gy: -g  # noqa: E731
ACTIVATION_BUGS: dict[str, tuple[type[Activation], type[Activation]]] = {
    "Identity scaled 1.01": (Identity, corrupt_activation(Identity, SCALED)),
    "Identity sign flipped": (Identity, corrupt_activation(Identity, FLIPPED)),
    "ReLU scaled 1.01": (ReLU, corrupt_activation(ReLU, SCALED)),
    "ReLU sign flipped": (ReLU, corrupt_activation(ReLU, FLIPPED)),
    "LeakyReLU scaled 1.01": (LeakyReLU, corrupt_activation(LeakyReLU, SCALED)),
    "LeakyReLU negative slope dropped": (LeakyReLU, corrupt_activation(LeakyReLU, lambda g, y, gy: gy * (y > 0))),
    "Sigmoid scaled 1.01": (Sigmoid, corrupt_activation(Sigmoid, SCALED)),
    "Sigmoid term (1 - y) dropped": (Sigmoid, corrupt_activation(Sigmoid, lambda g, y, gy: gy * y)),
    "Tanh sign flipped": (Tanh, corrupt_activation(Tanh, FLIPPED)),
    "Tanh term -y² dropped": (Tanh, corrupt_activation(Tanh, lambda g, y, gy: gy)),
    "Softmax scaled 1.01": (Softmax, corrupt_activation(Softmax, SCALED)),
    "Softmax sum term dropped": (Softmax, corrupt_activation(Softmax, lambda g, y, gy: y * gy)),
}


def activation_case(name: str) -> Case:
    def run(bad: bool, sweep: bool) -> Report:
        cls = ACTIVATION_BUGS[name][bad]
        layer = cls(0.1) if issubclass(cls, LeakyReLU) else cls()
        return check_layer(layer, away_from_zero((4, 5), 1.5), sweep=sweep)

    return run


def dense_activation_case(name: str) -> Case:
    """The same activation bug inside a Dense layer."""

    def run(bad: bool, sweep: bool) -> Report:
        cls = ACTIVATION_BUGS[name][bad]
        activation = cls(0.1) if issubclass(cls, LeakyReLU) else cls()
        layer = Dense(4, 3, activation, seed=3)
        x = rng().standard_normal((5, 4))
        z = x @ layer.params["W"]
        layer.params["b"][:] = -np.median(z, axis=0) + 0.05  # pre-activations on both sides of 0, none at 0
        assert np.abs(z + layer.params["b"]).min() > 1e-3
        return check_layer(layer, x, sweep=sweep)

    return run


# -- corrupted Dense -----------------------------------------------------------------------


class DenseScaledW(Dense):
    def backward(self, grad_y: Array) -> Array:
        grad_x = super().backward(grad_y)
        self.grads["W"] *= 1.01
        return grad_x


class DenseFlippedB(Dense):
    def backward(self, grad_y: Array) -> Array:
        grad_x = super().backward(grad_y)
        self.grads["b"] *= -1
        return grad_x


class DenseScaledX(Dense):
    def backward(self, grad_y: Array) -> Array:
        return 1.01 * super().backward(grad_y)


class DenseNoRegularizationGradient(Dense):
    """Reports the penalty in the loss but forgets its gradient."""

    def backward(self, grad_y: Array) -> Array:
        grad_x = super().backward(grad_y)
        self.grads["W"] -= self.regularizer.gradient(self.params["W"])
        return grad_x


class DenseNoL1Gradient(Dense):
    def backward(self, grad_y: Array) -> Array:
        grad_x = super().backward(grad_y)
        self.grads["W"] -= self.regularizer.l1_lambda * np.sign(self.params["W"])
        return grad_x


class DenseNoPenalty(Dense):
    """Adds the regularization gradient but leaves the penalty out of the reported loss."""

    def penalty(self) -> float:
        return 0.0


def dense_case(cls: type[Dense], activation: str, l1: float = 0.0, l2: float = 0.0) -> Case:
    def run(bad: bool, sweep: bool) -> Report:
        layer = (cls if bad else Dense)(4, 3, activation, l1, l2, seed=5)
        push_from_zero(layer.params["W"], 0.05)
        x = rng().standard_normal((5, 4))
        layer.params["b"][:] = -np.median(x @ layer.params["W"], axis=0) + 0.05
        return check_layer(layer, x, sweep=sweep)

    return run


# -- corrupted losses ----------------------------------------------------------------------


def corrupt_loss(base: type[L], transform: Callable[[Loss, Array, Array, Array], Array]) -> type[L]:
    """A subclass of ``base`` whose gradient is transform(self, correct_gradient, y_pred, target)."""

    class Corrupted(base):  # type: ignore[valid-type, misc]
        def gradient(self, y_pred: Array, target: Array) -> Array:
            return transform(self, np.array(super().gradient(y_pred, target)), y_pred, target)

        def value_and_gradient(self, y_pred: Array, target: Array) -> tuple[float, Array]:
            return self.loss(y_pred, target), self.gradient(y_pred, target)

    return Corrupted


def sigmoid(z: Array) -> Array:
    return np.asarray(Sigmoid().function(np.asarray(z, dtype=np.float64)))


LOSS_BUGS: dict[
    str, tuple[Callable[[], Loss], Callable[[], Loss], Callable[[np.random.Generator], tuple[Any, Any]]]
] = {
    "MSE sum instead of mean": (
        MSE,
        corrupt_loss(MSE, lambda s, g, p, t: g * p.size),
        lambda r: (r.standard_normal((5, 3)), r.standard_normal((5, 3))),
    ),
    "MSE factor 2 dropped": (
        MSE,
        corrupt_loss(MSE, lambda s, g, p, t: g / 2),
        lambda r: (r.standard_normal((5, 3)), r.standard_normal((5, 3))),
    ),
    "CrossEntropy labels sum instead of mean": (
        CrossEntropy,
        corrupt_loss(CrossEntropy, lambda s, g, p, t: g * p.shape[0]),
        lambda r: (r.standard_normal((6, 4)), r.integers(0, 4, 6)),
    ),
    "CrossEntropy labels scaled 1.01": (
        CrossEntropy,
        corrupt_loss(CrossEntropy, lambda s, g, p, t: 1.01 * g),
        lambda r: (r.standard_normal((6, 4)), r.integers(0, 4, 6)),
    ),
    "CrossEntropy probabilities target term dropped": (
        CrossEntropy,
        corrupt_loss(CrossEntropy, lambda s, g, p, t: g + t / p.shape[0]),
        lambda r: (r.standard_normal((6, 4)), r.dirichlet(np.ones(4), 6)),
    ),
    "BinaryCrossEntropy probabilities sum instead of mean": (
        BinaryCrossEntropy,
        corrupt_loss(BinaryCrossEntropy, lambda s, g, p, t: g * p.size),
        lambda r: (r.uniform(0.05, 0.95, (6, 2)), r.uniform(0, 1, (6, 2))),
    ),
    "BinaryCrossEntropy probabilities (1 - p) term dropped": (
        BinaryCrossEntropy,
        corrupt_loss(BinaryCrossEntropy, lambda s, g, p, t: (p - t) / p / p.size),
        lambda r: (r.uniform(0.05, 0.95, (6, 2)), r.uniform(0, 1, (6, 2))),
    ),
    "BinaryCrossEntropy from_logits sign flipped": (
        lambda: BinaryCrossEntropy(from_logits=True),
        lambda: corrupt_loss(BinaryCrossEntropy, lambda s, g, p, t: -g)(from_logits=True),
        lambda r: (3 * r.standard_normal((6, 2)), r.integers(0, 2, (6, 2)).astype(float)),
    ),
    "BinaryCrossEntropy from_logits sigmoid dropped": (
        lambda: BinaryCrossEntropy(from_logits=True),
        lambda: corrupt_loss(BinaryCrossEntropy, lambda s, g, p, t: (p - t) / p.size)(from_logits=True),
        lambda r: (3 * r.standard_normal((6, 2)), r.integers(0, 2, (6, 2)).astype(float)),
    ),
}


class FusedPathScaled(CrossEntropy):
    """forward/backward are right; only the fused value_and_gradient that training uses is off."""

    def value_and_gradient(self, y_pred: Array, target: Array) -> tuple[float, Array]:
        value, gradient = super().value_and_gradient(y_pred, target)
        return value, 1.01 * gradient


LOSS_BUGS["CrossEntropy fused value_and_gradient scaled 1.01"] = (
    CrossEntropy,
    FusedPathScaled,
    lambda r: (r.standard_normal((6, 4)), r.integers(0, 4, 6)),
)


def loss_case(name: str) -> Case:
    def run(bad: bool, sweep: bool) -> Report:
        right, broken, draw = LOSS_BUGS[name]
        y_pred, y_true = draw(rng())
        return check_loss((broken if bad else right)(), y_pred, y_true, sweep=sweep)

    return run


# -- corrupted regularizer, dropout, batch norm, neuron ---------------------------------------


class ElasticNetNoL1(ElasticNet):
    def add_gradient(self, W: Array, grad_W: Array) -> None:
        grad_W += self.l2_lambda * W


class ElasticNetL2Doubled(ElasticNet):
    """Forgot the 1/2 of (l2/2)·ΣW² when differentiating: 2·l2·W."""

    def add_gradient(self, W: Array, grad_W: Array) -> None:
        super().add_gradient(W, grad_W)
        grad_W += self.l2_lambda * W


class ElasticNetL1Flipped(ElasticNet):
    def add_gradient(self, W: Array, grad_W: Array) -> None:
        grad_W -= self.l1_lambda * np.sign(W)
        grad_W += self.l2_lambda * W


def elastic_net_case(cls: type[ElasticNet], l1: float, l2: float) -> Case:
    def run(bad: bool, sweep: bool) -> Report:
        return check_regularizer((cls if bad else ElasticNet)(l1, l2), away_from_zero((4, 3)), sweep=sweep)

    return run


class DropoutFreshMask(Dropout):
    """The classic bug: backward draws a new mask instead of reusing the forward's."""

    def backward(self, grad_y: Array) -> Array:
        return np.asarray(grad_y * self.draw_mask(grad_y.shape, grad_y.dtype))


class DropoutUnscaled(Dropout):
    """Forgets the 1/(1 − p) in backward."""

    def backward(self, grad_y: Array) -> Array:
        assert self.scaled_mask is not None
        return np.asarray(grad_y * (self.scaled_mask != 0))


def dropout_case(cls: type[Dropout]) -> Case:
    def run(bad: bool, sweep: bool) -> Report:
        layer = (cls if bad else Dropout)(0.3, seed=11)
        return check_layer(layer, rng().standard_normal((6, 5)), sweep=sweep)

    return run


class BatchNormRecordingInput(BatchNorm):
    """BatchNorm that keeps its own copy of the last forward's x and mode, for the corruptions below."""

    def forward(self, x: Array, training: bool = True) -> Array:
        self.x_seen, self.training_seen = np.array(x, dtype=np.float64), training
        return super().forward(x, training)

    def batch_statistics(self) -> tuple[Array, Array]:
        """(xhat, 1/sqrt(var + eps)) of the last forward, from the textbook formula: the batch's
        mean and biased variance in training, the running statistics in evaluation."""
        if self.training_seen:
            mu, var = self.x_seen.mean(axis=0), self.x_seen.var(axis=0)
        else:
            mu, var = self.state["running_mean"], self.state["running_var"]
        inv_std = 1.0 / np.sqrt(var + self.eps)
        return (self.x_seen - mu) * inv_std, inv_std


class BatchNormNoMeanTerm(BatchNormRecordingInput):
    """Treats the batch mean as a constant: drops − mean(gx)."""

    def backward(self, grad_y: Array) -> Array:
        grad_x = super().backward(grad_y)
        if not self.training_seen:
            return grad_x
        inv_std = self.batch_statistics()[1]
        gx = grad_y * self.params["gamma"]
        return np.asarray(grad_x + gx.mean(axis=0) * inv_std)


class BatchNormNoVarianceTerm(BatchNormRecordingInput):
    """Treats the batch variance as a constant: drops − xhat·mean(gx·xhat)."""

    def backward(self, grad_y: Array) -> Array:
        grad_x = super().backward(grad_y)
        xhat, inv_std = self.batch_statistics()
        N = xhat.shape[0]
        return np.asarray(grad_x + xhat * (self.grads["gamma"] * self.params["gamma"] / N) * inv_std)


class BatchNormScaledGamma(BatchNorm):
    def backward(self, grad_y: Array) -> Array:
        grad_x = super().backward(grad_y)
        self.grads["gamma"] *= 1.01
        return grad_x


class BatchNormScaledX(BatchNorm):
    def backward(self, grad_y: Array) -> Array:
        return np.asarray(1.01 * super().backward(grad_y))


def batchnorm_case(cls: type[BatchNorm], training: bool) -> Case:
    def run(bad: bool, sweep: bool) -> Report:
        r = rng()
        layer = (cls if bad else BatchNorm)(4)
        layer.params["gamma"][:] = r.uniform(0.5, 1.5, 4)
        layer.params["beta"][:] = r.standard_normal(4)
        layer.state["running_mean"][:] = r.standard_normal(4)
        layer.state["running_var"][:] = r.uniform(0.5, 2.0, 4)
        x = r.standard_normal((6, 4)) * 2 + 1
        return check_layer(layer, x, training=training, sweep=sweep)

    return run


class NeuronScaledW(Neuron):
    def backward(self, grad_y: Array) -> Array:
        grad_x = super().backward(grad_y)
        self.grads["w"] *= 1.01
        return grad_x


class NeuronFlippedX(Neuron):
    def backward(self, grad_y: Array) -> Array:
        return np.asarray(-super().backward(grad_y))


class NeuronMeanBias(Neuron):
    """db as a mean over the batch instead of a sum (the loss already divided by N)."""

    def backward(self, grad_y: Array) -> Array:
        grad_x = super().backward(grad_y)
        self.grads["b"] /= grad_y.shape[0]
        return grad_x


def neuron_case(cls: type[Neuron]) -> Case:
    def run(bad: bool, sweep: bool) -> Report:
        layer = (cls if bad else Neuron)(4, "tanh", bias=0.2, seed=2)
        return check_layer(layer, rng().standard_normal((5, 4)), sweep=sweep)

    return run


# -- corrupted networks ----------------------------------------------------------------------


def network_case(bug: str) -> Case:
    """A three-layer network with one corrupted part; always through compute_gradients."""

    def run(bad: bool, sweep: bool) -> Report:
        first: type[Dense] = Dense
        middle: type[Dense] = Dense
        loss: Loss = MSE()
        if bad and bug == "penalty missing from the loss":
            first = DenseNoPenalty
        if bad and bug == "regularization gradient missing":
            first = DenseNoRegularizationGradient
        if bad and bug == "hidden W scaled 1.01":
            middle = DenseScaledW
        if bad and bug == "loss sum instead of mean":
            loss = corrupt_loss(MSE, lambda s, g, p, t: g * p.size)()
        layers = [first(3, 5, "tanh", 0.02, 0.1, seed=1), middle(5, 4, "sigmoid", seed=2), Dense(4, 2, seed=3)]
        push_from_zero(layers[0].params["W"], 0.05)
        r = rng()
        net = NeuralNetwork(layers, loss)
        return check_network(net, r.standard_normal((6, 3)), r.standard_normal((6, 2)), sweep=sweep)

    return run


def batchnorm_network_case(bad: bool, sweep: bool) -> Report:
    r = rng()
    layers = [Dense(3, 4, "tanh", seed=1), (BatchNormNoMeanTerm if bad else BatchNorm)(4), Dense(4, 3, seed=2)]
    net = NeuralNetwork(layers, CrossEntropy())
    return check_network(net, r.standard_normal((6, 3)), r.integers(0, 3, 6), sweep=sweep)


# -- corrupted merge layers and graphs --------------------------------------------------------


class AddFirstOnly(Add):
    """Passes the gradient to the first input only (a dropped term)."""

    def backward_many(self, grad_y: Array) -> list[Array]:
        grads = super().backward_many(grad_y)
        return [grads[0]] + [np.zeros_like(grad) for grad in grads[1:]]


class MultiplyOwnFactor(Multiply):
    """grad_x_i = grad_y ⊙ x_i instead of the product of the other inputs."""

    def forward_many(self, xs: list[Array], training: bool = True) -> Array:
        self.xs_seen = [np.array(x) for x in xs]
        return super().forward_many(xs, training)

    def backward_many(self, grad_y: Array) -> list[Array]:
        return [grad_y * x for x in self.xs_seen]


class ConcatenateShifted(Concatenate):
    """Splits grad_y one column too late."""

    def forward_many(self, xs: list[Array], training: bool = True) -> Array:
        self.widths_seen = [np.shape(x)[1] for x in xs]
        return super().forward_many(xs, training)

    def backward_many(self, grad_y: Array) -> list[Array]:
        bounds = np.cumsum(self.widths_seen)[:-1] + 1
        return list(np.split(grad_y, bounds, axis=1))


def merge_case(good: type[Merge], bad_cls: type[Merge], widths: tuple[int, ...]) -> Case:
    def run(bad: bool, sweep: bool) -> Report:
        xs = [rng().standard_normal((4, width)) + i for i, width in enumerate(widths)]
        return check_layer((bad_cls if bad else good)(), xs, sweep=sweep)

    return run


class LastWinsGraph(GraphModel):
    """At a fan-out, keeps the last gradient that arrives instead of summing them."""

    def backward(self, grad_y: Array) -> Array:
        grads = {id(self.output_node): grad_y}
        for node in reversed(self.nodes):
            if node.layer is None:
                continue
            grad_y = grads.pop(id(node))
            layer = node.layer
            inputs = layer.backward_many(grad_y) if layer.multiple_inputs else [layer.backward(grad_y)]
            for source, grad_x in zip(node.inputs, inputs, strict=True):
                grads[id(source)] = grad_x
        return grads[id(self.input_node)]


def fan_out_graph_case(bad: bool, sweep: bool) -> Report:
    x = Input(3)
    h = Dense(3, 3, "tanh", seed=1)(x)
    y = Add()(h, Dense(3, 3, "sigmoid", seed=2)(h))  # h fans out to Add and to the second Dense
    model = (LastWinsGraph if bad else GraphModel)(x, Dense(3, 2, seed=3)(y), MSE())
    r = rng()
    return check_network(model, r.standard_normal((5, 3)), r.standard_normal((5, 2)), sweep=sweep)


# -- the learner's toolkit (issue 22): ELU, SELU, Softplus, MAE, Huber, MulticlassHinge ------------

ACTIVATION_BUGS.update(
    {
        "ELU scaled 1.01": (ELU, corrupt_activation(ELU, SCALED)),
        "ELU negative branch's e^x dropped": (ELU, corrupt_activation(ELU, lambda g, y, gy: gy)),
        "SELU scale dropped": (SELU, corrupt_activation(SELU, lambda g, y, gy: g / 1.0507009873554805)),
        "Softplus derivative 1 − e^y": (Softplus, corrupt_activation(Softplus, lambda g, y, gy: -gy * np.expm1(y))),
        "Softplus sign flipped": (Softplus, corrupt_activation(Softplus, FLIPPED)),
    }
)


def regression_away(r: np.random.Generator) -> tuple[Any, Any]:
    """(ŷ, y) with |ŷ − y| between 0.05 (MAE's kink) and 2.5 (both sides of Huber's delta = 1)."""
    y = r.standard_normal((5, 3))
    return y + r.uniform(0.05, 2.5, (5, 3)) * r.choice([-1.0, 1.0], (5, 3)), y


LOSS_BUGS.update(
    {
        "MAE sum instead of mean": (MAE, corrupt_loss(MAE, lambda s, g, p, t: g * p.size), regression_away),
        "Huber delta ignored": (Huber, corrupt_loss(Huber, lambda s, g, p, t: (p - t) / p.size), regression_away),
        "Huber scaled 1.01": (Huber, corrupt_loss(Huber, lambda s, g, p, t: 1.01 * g), regression_away),
        "MulticlassHinge label's term dropped": (
            MulticlassHinge,
            corrupt_loss(MulticlassHinge, lambda s, g, p, t: g * (1 - t)),
            lambda r: (1.5 * r.standard_normal((6, 4)), r.integers(0, 4, 6)),
        ),
        "MulticlassHinge sum instead of mean": (
            MulticlassHinge,
            corrupt_loss(MulticlassHinge, lambda s, g, p, t: g * p.shape[0]),
            lambda r: (1.5 * r.standard_normal((6, 4)), r.integers(0, 4, 6)),
        ),
    }
)


CASES: dict[str, Case] = {
    **{name: activation_case(name) for name in ACTIVATION_BUGS},
    **{f"Dense with {name}": dense_activation_case(name) for name in ACTIVATION_BUGS if "Identity" not in name},
    "Dense W scaled 1.01": dense_case(DenseScaledW, "tanh"),
    "Dense b sign flipped": dense_case(DenseFlippedB, "sigmoid"),
    "Dense grad_x scaled 1.01": dense_case(DenseScaledX, "relu"),
    "Dense regularization gradient missing": dense_case(DenseNoRegularizationGradient, "tanh", 0.05, 0.1),
    "Dense L1 gradient missing": dense_case(DenseNoL1Gradient, "relu", 0.05, 0.0),
    "Dense penalty missing from the loss": dense_case(DenseNoPenalty, "identity", 0.0, 0.1),
    **{name: loss_case(name) for name in LOSS_BUGS},
    "ElasticNet L1 term missing": elastic_net_case(ElasticNetNoL1, 0.05, 0.1),
    "ElasticNet L2 gradient doubled": elastic_net_case(ElasticNetL2Doubled, 0.0, 0.1),
    "ElasticNet L1 sign flipped": elastic_net_case(ElasticNetL1Flipped, 0.05, 0.0),
    "Dropout fresh mask in backward": dropout_case(DropoutFreshMask),
    "Dropout 1/(1-p) dropped": dropout_case(DropoutUnscaled),
    "BatchNorm train mean term dropped": batchnorm_case(BatchNormNoMeanTerm, training=True),
    "BatchNorm train variance term dropped": batchnorm_case(BatchNormNoVarianceTerm, training=True),
    "BatchNorm train gamma scaled 1.01": batchnorm_case(BatchNormScaledGamma, training=True),
    "BatchNorm eval grad_x scaled 1.01": batchnorm_case(BatchNormScaledX, training=False),
    "BatchNorm eval variance term dropped": batchnorm_case(BatchNormNoVarianceTerm, training=False),
    "Neuron w scaled 1.01": neuron_case(NeuronScaledW),
    "Neuron grad_x sign flipped": neuron_case(NeuronFlippedX),
    "Neuron db mean instead of sum": neuron_case(NeuronMeanBias),
    **{
        f"Network {bug}": network_case(bug)
        for bug in (
            "penalty missing from the loss",
            "regularization gradient missing",
            "hidden W scaled 1.01",
            "loss sum instead of mean",
        )
    },
    "Network BatchNorm mean term dropped": batchnorm_network_case,
    "Add gradient to the first input only": merge_case(Add, AddFirstOnly, (3, 3, 3)),
    "Multiply own factor instead of the others": merge_case(Multiply, MultiplyOwnFactor, (3, 3)),
    "Concatenate split one column late": merge_case(Concatenate, ConcatenateShifted, (2, 3)),
    "GraphModel fan-out gradients not summed": fan_out_graph_case,
}


@pytest.mark.parametrize("sweep", [False, True], ids=["step", "sweep"])
@pytest.mark.parametrize("name", list(CASES))
def test_corrupted_component_is_reported_as_a_failure(name: str, sweep: bool) -> None:
    report = CASES[name](True, sweep)
    assert any(result.verdict == "fail" for result in report.results), report.table()
    assert not report.passed


@pytest.mark.parametrize("sweep", [False, True], ids=["step", "sweep"])
@pytest.mark.parametrize("name", list(CASES))
def test_correct_original_of_each_corrupted_case_passes(name: str, sweep: bool) -> None:
    report = CASES[name](False, sweep)
    assert report.passed, report.table()


def test_the_failure_names_the_corrupted_tensor_and_only_that_one() -> None:
    report = dense_case(DenseScaledW, "tanh")(True, False)
    verdicts = {result.tensor: result.verdict for result in report.results}
    assert verdicts == {"x": "pass", "W": "fail", "b": "pass"}
    failure = report.failures[0]
    assert failure.rel_error == pytest.approx(0.01 / 1.01, rel=1e-3)
    assert failure.index.startswith("(") and "disagree" in failure.message


def test_a_backward_that_accumulates_across_calls_is_reported() -> None:
    class Accumulating(Tanh):
        calls = 0

        def backward(self, grad_y: Array) -> Array:
            self.calls += 1
            return np.asarray(super().backward(grad_y) * self.calls)

    report = check_layer(Accumulating(), rng().standard_normal((3, 3)))
    assert any(result.tensor == "x (backward twice)" and result.verdict == "fail" for result in report.results)


# -- corrupted sequence layers (issue 20) ----------------------------------------------------


class OverwritingEmbedding(Embedding):
    """numpy-ml's bug: dW[ids] = grad_y keeps one row of each repeated id."""

    def backward(self, grad_y: Any) -> None:  # type: ignore[override]  # as Embedding: ids have no gradient
        assert self._ids is not None
        self.grads["W"].fill(0.0)
        self.grads["W"][self._ids] = grad_y


class AssignAddEmbedding(Embedding):
    """dW[ids] += grad_y looks like an accumulation but buffers: each repeated id still gets one row."""

    def backward(self, grad_y: Any) -> None:  # type: ignore[override]  # as Embedding: ids have no gradient
        assert self._ids is not None
        self.grads["W"].fill(0.0)
        self.grads["W"][self._ids] += grad_y


@pytest.mark.parametrize("broken", [OverwritingEmbedding, AssignAddEmbedding])
def test_gradcheck_catches_the_overwrite_of_repeated_ids(broken: type[Embedding]) -> None:
    report = embedding_gradient(broken)(check_rng(0, "Embedding[repeated ids]"), DEFAULT_TOLERANCES, False)
    assert [result.verdict for result in report.results] == ["fail"]
    assert embedding_gradient()(check_rng(0, "Embedding[repeated ids]"), DEFAULT_TOLERANCES, False).passed


def test_every_public_layer_loss_and_regularizer_has_a_corrupted_variant_here() -> None:
    from gradcheck import public_components
    from refnet import Optimizer

    corrupted: set[type] = {bad for _, bad in ACTIVATION_BUGS.values()}
    corrupted |= {type(LOSS_BUGS[name][1]()) for name in LOSS_BUGS}
    corrupted |= {value for value in globals().values() if isinstance(value, type) and value.__module__ == __name__}
    bases = {base for cls in corrupted for base in cls.__mro__[1:]}
    components = [cls for cls in public_components() if not issubclass(cls, Optimizer)]  # see test_gradcheck_optim
    missing = [cls.__name__ for cls in components if cls not in bases]
    assert missing == [], f"add a corrupted variant of {missing} to this file"
