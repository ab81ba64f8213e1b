"""Stateful updates against their closed forms: what changes from one call to the next.

A gradient check looks at one forward and one backward; these checks follow a component over
several calls and compare every state it passes through with the formula (``gradcheck.suite.optim``
does the same for SGD, Nesterov, Adam and AdamW):

- BatchNorm running statistics over a sequence of batches of different sizes:
      running_mean ← (1 − m)·running_mean + m·mean(x)
      running_var  ← (1 − m)·running_var  + m·Σ(x − mean)²/(N − 1)      (unbiased)
  with the contract's m = 0.1 and with m = 0.3, then their use in evaluation;
- gradient clipping by the global norm ‖g‖ = √(Σ over every parameter of Σg²): above clip_norm
  every gradient is scaled by exactly clip_norm/‖g‖, below it the step is untouched;
- the learning-rate schedules, as functions and through ``LearningRateScheduler``'s hooks:
      step_decay:        lr0·drop^⌊epoch/every⌋
      exponential_decay: lr0·rateᵉᵖᵒᶜʰ
      cosine_decay:      min_lr + (lr0 − min_lr)·(1 + cos(π·min(epoch, epochs)/epochs))/2;
- Adam and SGD with momentum stepping three layers at once (their arrays share one flat
  buffer), straight through and with the state carried to a new optimizer halfway;
- SGD with momentum and Adam on a parameter larger than one block of the blocked update;
- ``Neuron.train``: plain gradient descent on the mean squared error, epoch by epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from gradcheck.core.results import CheckResult
from gradcheck.core.tolerances import Tolerances
from gradcheck.core.values import compare
from gradcheck.suite import textbook
from gradcheck.suite.cases import Runner
from gradcheck.suite.optim import ParameterHolder, adam_steps, run_steps
from gradcheck.suite.references import BATCHNORM_EPS, BATCHNORM_MOMENTUM, ValueCheck, rows, runner, vector
from refnet.base import Layer
from refnet.batchnorm import BatchNorm
from refnet.callbacks import LearningRateScheduler, Schedule, cosine_decay, exponential_decay, step_decay
from refnet.neuron import Neuron
from refnet.optimizers import SGD, Adam, Optimizer
from refnet.support.packing import BLOCK_BYTES

# -- BatchNorm ------------------------------------------------------------------------------


def running_statistics(momentum: float | None) -> ValueCheck:
    """Four training batches of 4, 7, 2 and 5 rows, then an evaluation batch (None: the default momentum)."""

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        layer = BatchNorm(3) if momentum is None else BatchNorm(3, momentum=momentum)
        m = BATCHNORM_MOMENTUM if momentum is None else momentum
        layer.params["gamma"][:] = rng.uniform(0.5, 1.5, 3)
        layer.params["beta"][:] = rng.standard_normal(3)
        start_mean, start_var = vector(layer.state["running_mean"]), vector(layer.state["running_var"])
        batches = [
            rng.standard_normal((n, 3)) * rng.uniform(0.5, 3.0, 3) + rng.standard_normal(3) for n in (4, 7, 2, 5)
        ]
        means, variances = [], []
        for x in batches:
            layer.forward(x.copy(), training=True)
            means.append(layer.state["running_mean"].copy())
            variances.append(layer.state["running_var"].copy())
        ref_means, ref_vars = textbook.running_statistics([rows(x) for x in batches], start_mean, start_var, m)
        x = rng.standard_normal((6, 3))
        y = layer.forward(x.copy(), training=False)
        gamma, beta = vector(layer.params["gamma"]), vector(layer.params["beta"])
        expected_y = textbook.batchnorm(rows(x), gamma, beta, ref_means[-1], ref_vars[-1], BATCHNORM_EPS)
        return [
            compare(
                "running_mean",
                np.array(ref_means),
                np.array(means),
                tol,
                f"running ← {1 - m:g}·running + {m:g}·mean(x)",
                component="BatchNorm",
                steps=True,
            ),
            compare(
                "running_var",
                np.array(ref_vars),
                np.array(variances),
                tol,
                f"running ← {1 - m:g}·running + {m:g}·Σ(x − mean)²/(N − 1)",
                component="BatchNorm",
                steps=True,
            ),
            compare(
                "y (eval after training)", expected_y, y, tol, "gamma·(x − running_mean)/√(running_var + eps) + beta"
            ),
        ]

    return check


# -- clipping -------------------------------------------------------------------------------


def clipping(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
    """SGD(lr, clip_norm) on two layers: scaled by clip/‖g‖ above the norm, untouched below it."""
    lr = 0.1
    theta = [rng.standard_normal((3, 2)), rng.standard_normal(4)]
    grads = [rng.standard_normal((3, 2)), rng.standard_normal(4)]
    norm = math.sqrt(sum(g * g for grad in grads for g in grad.ravel().tolist()))
    results = []
    for label, clip in (("above", norm / 3.0), ("below", norm * 1.5)):
        layers = [ParameterHolder(W=value) for value in theta]
        for layer, grad in zip(layers, grads, strict=True):
            np.copyto(layer.grads["W"], grad)
        optimizer = SGD(learning_rate=lr, clip_norm=clip)
        measured = optimizer.global_norm(layers)
        optimizer.step(layers)
        scale = clip / norm if norm > clip else 1.0
        expected = np.concatenate(
            [(value - lr * scale * grad).ravel() for value, grad in zip(theta, grads, strict=True)]
        )
        actual = np.concatenate([layer.params["W"].ravel() for layer in layers])
        formula = "θ − lr·g·clip/‖g‖" if label == "above" else "θ − lr·g (‖g‖ <= clip: no scaling)"
        results.append(compare(f"clip_norm, ‖g‖ {label}", expected, actual, tol, formula, component="SGD", steps=True))
        results.append(compare(f"global_norm ({label})", norm, measured, tol, "√(Σ over every parameter of Σg²)"))
    results.append(adam_clipping(rng, tol))
    return results


def adam_clipping(rng: np.random.Generator, tol: Tolerances) -> CheckResult:
    """Adam(clip_norm=1) over three steps of norms above, below and above 1: the moments see the clipped g."""
    lr, beta1, beta2, eps, clip = 0.01, 0.9, 0.999, 1e-8, 1.0
    theta0 = rng.standard_normal(5)
    gradients = [3.0 * rng.standard_normal(5), 0.1 * rng.standard_normal(5), 5.0 * rng.standard_normal(5)]
    layer = ParameterHolder(W=theta0)
    actual = run_steps(Adam(lr, beta1, beta2, eps, clip_norm=clip), [layer], [[g] for g in gradients])[0]
    clipped = [g * (clip / math.sqrt(float(g @ g)) if math.sqrt(float(g @ g)) > clip else 1.0) for g in gradients]
    expected = adam_steps(theta0, np.array(clipped), lr, beta1, beta2, eps)
    return compare("clip_norm", expected, actual, tol, "Adam on g·min(1, clip/‖g‖)", component="Adam", steps=True)


# -- several layers in one step, and a state carried to another optimizer ------------------

SHAPES = [(3, 2), (2,), (4, 1)]


def optimizers() -> list[tuple[str, Callable[[], Optimizer], Callable[[Any, Any], Any]]]:
    """(name, factory, closed form of θ after each step for one flattened array) of the optimizers checked."""
    return [
        ("Adam", lambda: Adam(0.01), lambda theta, g: adam_steps(theta, g, 0.01, 0.9, 0.999, 1e-8)),
        ("SGD, momentum", lambda: SGD(0.1, momentum=0.9), lambda theta, g: momentum_steps(theta, g, 0.1, 0.9, False)),
        (
            "SGD, Nesterov",
            lambda: SGD(0.1, momentum=0.9, nesterov=True),
            lambda theta, g: momentum_steps(theta, g, 0.1, 0.9, True),
        ),
    ]


def several_layers(resume: bool) -> ValueCheck:
    """Three layers stepped at once for four steps: each parameter follows its own closed form.

    Stepped together, the layers' parameters share one flat buffer per dtype (``refnet.support.packing``),
    and so do the optimizer's moments. With ``resume``, the state of the first two steps is
    copied out (``state_arrays``) into a new optimizer (``load_state_arrays``), as a resumed
    run does, and the last two steps must continue the same sequence.
    """

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        thetas0 = [rng.standard_normal(shape) for shape in SHAPES]
        gradients = [[rng.standard_normal(shape) for shape in SHAPES] for _ in range(4)]
        per_layer = [np.array([step[k].ravel() for step in gradients]) for k in range(len(SHAPES))]
        results = []
        for name, make, closed_form in optimizers():
            layers = [ParameterHolder(W=theta) for theta in thetas0]
            optimizer = make()
            histories = run_steps(optimizer, layers, gradients[:2] if resume else gradients)
            if resume:
                carried, as_layers = make(), list[Layer](layers)
                carried.load_state_arrays(as_layers, optimizer.state_arrays(as_layers))
                later = run_steps(carried, layers, gradients[2:])
                histories = [np.concatenate([early, late]) for early, late in zip(histories, later, strict=True)]
            actual = np.hstack([history.reshape(4, -1) for history in histories])
            expected = np.hstack([closed_form(theta.ravel(), g) for theta, g in zip(thetas0, per_layer, strict=True)])
            what = f"{name}, state carried over after step 2" if resume else f"{name}, three layers"
            results.append(
                compare(what, expected, actual, tol, "each array its own sequence", component=name, steps=True)
            )
        return results

    return check


def momentum_steps(theta0: Any, gradients: Any, lr: float, mu: float, nesterov: bool) -> Any:
    """θ after each step of v ← μ·v + g;  θ ← θ − lr·v  (Nesterov: θ ← θ − lr·(g + μ·v))."""
    theta, velocity, thetas = theta0.copy(), np.zeros_like(theta0), []
    for g in gradients:
        velocity = mu * velocity + g
        theta = theta - lr * (g + mu * velocity if nesterov else velocity)
        thetas.append(theta)
    return np.array(thetas)


# -- learning-rate schedules ----------------------------------------------------------------

SCHEDULES: dict[str, tuple[Callable[[], Schedule], Callable[[int, float], float]]] = {
    "step_decay": (lambda: step_decay(0.5, every=3), lambda epoch, lr0: lr0 * 0.5 ** math.floor(epoch / 3)),
    "exponential_decay": (lambda: exponential_decay(0.9), lambda epoch, lr0: lr0 * 0.9**epoch),
    "cosine_decay": (
        lambda: cosine_decay(10, min_lr=0.01),
        lambda epoch, lr0: 0.01 + (lr0 - 0.01) * (1 + math.cos(math.pi * min(epoch, 10) / 10)) / 2,
    ),
}


def schedule(name: str) -> ValueCheck:
    """The schedule for epochs 0..14, as a function and as the rate LearningRateScheduler sets and logs."""
    make, formula = SCHEDULES[name]

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        epochs, lr0 = range(15), 0.2
        function = make()
        expected = np.array([formula(epoch, lr0) for epoch in epochs])
        results = [
            compare(
                "schedule(epoch, lr0)",
                expected,
                np.array([function(e, lr0) for e in epochs]),
                tol,
                f"{name}: lr(epoch) for epochs 0..14",
                component=name,
                steps=True,
            )
        ]
        for label, initial_lr, optimizer_lr in (("lr0 from the optimizer", None, lr0), ("initial_lr", lr0, 0.7)):
            set_rates, logged = drive_scheduler(LearningRateScheduler(make(), initial_lr=initial_lr), optimizer_lr)
            results.append(
                compare(
                    f"scheduler, {label}",
                    np.vstack([expected, expected]),
                    np.vstack([set_rates, logged]),
                    tol,
                    "optimizer.learning_rate and logs['lr']",
                    component=name,
                    steps=True,
                )
            )
        return results

    return check


def drive_scheduler(scheduler: LearningRateScheduler, learning_rate: float) -> tuple[Any, Any]:
    """Run the callback's hooks as ``train`` does for epochs 0..14: the rates it set, and the rates it logged."""
    optimizer = SGD(learning_rate=learning_rate)
    scheduler.bind(None, optimizer)  # type: ignore[arg-type]  # a schedule needs no network
    scheduler.on_train_begin()
    set_rates, logged = [], []
    for epoch in range(15):
        scheduler.on_epoch_begin(epoch)
        set_rates.append(optimizer.learning_rate)
        logs: dict[str, float] = {"loss": 1.0}
        scheduler.on_epoch_end(epoch, logs)
        logged.append(logs.get("lr", math.nan))
    return np.array(set_rates), np.array(logged)


# -- optimizers over several blocks ---------------------------------------------------------


def blocked(
    make: Callable[[], Optimizer],
    steps: Callable[[Any, Any, int], Any],
    formula: str,
    sizes: tuple[int, ...] = (int(2.5 * BLOCK_BYTES / 8),),
) -> ValueCheck:
    """Parameters of these sizes against the closed form: by default one of 2.5 blocks (the blocked
    update's several-block path); several small ones share one packed buffer."""

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        theta0s = [rng.standard_normal(size) for size in sizes]
        gs = [np.linspace(-2.0, 3.0, size) for size in sizes]
        actual = run_steps(make(), [ParameterHolder(W=theta0) for theta0 in theta0s], [gs] * 3)
        name = type(make()).__name__

        def closed_form(theta0: Any, g: Any) -> Any:
            return np.array([steps(theta0, g, t) for t in (1, 2, 3)])

        return [
            compare(
                f"{theta0.size} elements, 3 steps",
                closed_form(theta0, g),
                theta,
                tol,
                formula,
                component=name,
                steps=True,
            )
            for theta0, g, theta in zip(theta0s, gs, actual, strict=True)
        ]

    return check


class RebindingMomentum(SGD):
    """Momentum SGD written as a learner might, rebinding its slot: state["velocity"] = μ·v + g.

    ``Optimizer.step`` must keep the rebound values in the state it shares (a block's view, a packed buffer).
    """

    def update(self, theta: Any, g: Any, state: dict[str, Any]) -> None:
        state["velocity"] = self.momentum * state["velocity"] + g
        theta -= self.learning_rate * state["velocity"]


def sgd_momentum_steps(theta0: Any, g: Any, t: int) -> Any:
    """Momentum μ = 0.9, lr = 0.1, constant g: θ_t = θ_0 − lr·g·Σ_k (1 − μᵏ)/(1 − μ)."""
    return theta0 - 0.1 * g * sum((1 - 0.9**k) / (1 - 0.9) for k in range(1, t + 1))


def adam_constant_steps(theta0: Any, g: Any, t: int) -> Any:
    """Constant g: every step is lr·g/(|g| + ε), lr = 0.01."""
    return theta0 - t * 0.01 * g / (np.abs(g) + 1e-8)


# -- Neuron.train ---------------------------------------------------------------------------


def neuron_training(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
    """Neuron(3, sigmoid).train for 4 epochs against gradient descent on mean((ŷ − y)²), by hand."""
    lr, epochs = 0.5, 4
    layer = Neuron(3, "sigmoid", bias=0.1, rng=rng)
    X, y = rng.standard_normal((6, 3)), rng.uniform(0.0, 1.0, 6)
    w, b = vector(layer.params["w"]), float(layer.params["b"][0])
    losses, X_rows = [], rows(X)
    for _ in range(epochs):
        z = [sum(wi * xi for wi, xi in zip(w, row, strict=True)) + b for row in X_rows]
        y_hat = [textbook.sigmoid(v) for v in z]
        losses.append(sum((p - t) ** 2 for p, t in zip(y_hat, y, strict=True)) / len(y))
        grad_z = [2.0 * (p - t) / len(y) * p * (1.0 - p) for p, t in zip(y_hat, y, strict=True)]
        w = [wi - lr * sum(gz * row[i] for gz, row in zip(grad_z, X_rows, strict=True)) for i, wi in enumerate(w)]
        b -= lr * sum(grad_z)
    history = layer.train(X, y, epochs=epochs, learning_rate=lr)
    return [
        compare("losses", losses, history, tol, "mean((ŷ − y)²) before each epoch's step"),
        compare("w", w, layer.params["w"], tol, "w ← w − lr·Σ_n dL/dz·x"),
        compare("b", [b], layer.params["b"], tol, "b ← b − lr·Σ_n dL/dz"),
    ]


# -- the catalog's stateful checks ----------------------------------------------------------

CHECKS: list[tuple[str, tuple[type, ...], Runner]] = [
    ("BatchNorm[running statistics, momentum 0.1]", (BatchNorm,), runner(running_statistics(None))),
    ("BatchNorm[running statistics, momentum 0.3]", (BatchNorm,), runner(running_statistics(0.3))),
    ("clip_norm[SGD, Adam]", (SGD, Adam), runner(clipping)),
    ("SGD, Adam[three layers in one step]", (SGD, Adam), runner(several_layers(resume=False))),
    ("SGD, Adam[state carried to a new optimizer]", (SGD, Adam), runner(several_layers(resume=True))),
    *((f"schedule[{name}]", (LearningRateScheduler,), runner(schedule(name))) for name in SCHEDULES),
    (
        "SGD[momentum, several blocks]",
        (SGD,),
        runner(blocked(lambda: SGD(0.1, momentum=0.9), sgd_momentum_steps, "θ_t = θ₀ − lr·g·Σ(1−μᵏ)/(1−μ)")),
    ),
    (
        "Optimizer[an update that rebinds its slot, several blocks]",
        (Optimizer,),
        runner(
            blocked(lambda: RebindingMomentum(0.1, momentum=0.9), sgd_momentum_steps, "θ_t = θ₀ − lr·g·Σ(1−μᵏ)/(1−μ)")
        ),
    ),
    (
        "Optimizer[an update that rebinds its slot, packed layers]",
        (Optimizer,),
        runner(
            blocked(
                lambda: RebindingMomentum(0.1, momentum=0.9),
                sgd_momentum_steps,
                "θ_t = θ₀ − lr·g·Σ(1−μᵏ)/(1−μ)",
                sizes=(7, 5),
            )
        ),
    ),
    (
        "Adam[constant gradient, several blocks]",
        (Adam,),
        runner(blocked(lambda: Adam(0.01), adam_constant_steps, "θ_t = θ₀ − t·lr·g/(|g| + ε)")),
    ),
    ("Neuron[train]", (Neuron,), runner(neuron_training)),
]
