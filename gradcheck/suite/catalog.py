"""The catalog: one explicit list of checks covering every public refnet component.

``CATALOG`` is the list. Each ``Check`` names the refnet classes it covers; ``uncovered()``
lists the public components (found by introspecting ``refnet.__all__``) that no check
covers. What a check really runs is watched, not trusted: ``exercised(check)`` records the
refnet classes whose methods run while it runs, ``unexercised()`` the public components no
check runs; the suite fails when that list is not empty or a check covers what it never runs.
``run_catalog`` runs the checks whose name matches a pattern; each check draws from its own
Generator, made from the run's seed and the check's name, so filtering never changes what a
check sees. Besides the
gradient and optimizer checks, it holds the ``... reference`` checks of every value against
the textbook (``gradcheck.suite.references``) and the stateful ones (``gradcheck.suite.stateful``).

The catalog runs with ``CATALOG_TOLERANCES``: the defaults but ``kink_fraction = 0``. Its
checks draw every input at least ``kink_margin`` (a thousand steps) from every known kink,
so no element should ever sit on one (none did over 200 seeds); a kink found there means a
point was drawn badly or a "kink" is hiding a wrong gradient, and is not a pass. The
default 0.5 stays for user checks, whose points may sit anywhere.
"""

from __future__ import annotations

import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from types import FrameType

import numpy as np

import refnet
from gradcheck.core.guard import guarded
from gradcheck.core.results import CheckResult, Report
from gradcheck.core.tolerances import DEFAULT_TOLERANCES, Tolerances
from gradcheck.suite import (
    attention_references,
    cases,
    conv_references,
    optim,
    references,
    sequences,
    stateful,
    toolkit,
)
from refnet.base import Array, Layer
from refnet.batchnorm import BatchNorm
from refnet.dropout import Dropout
from refnet.functions import Activation, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from refnet.graph import Add, Concatenate, GraphModel, Input, Merge, Multiply, Node
from refnet.layer import Dense
from refnet.losses import MSE, BinaryCrossEntropy, CrossEntropy, Loss
from refnet.network import NeuralNetwork
from refnet.neuron import Neuron
from refnet.optimizers import SGD, Adam, Optimizer
from refnet.regularizers import ElasticNet


@dataclass(frozen=True)
class Check:
    """A named check, the refnet classes it covers, and how to run it."""

    name: str
    covers: tuple[type, ...]
    run: cases.Runner


def _closed_form(
    check: Callable[[optim.OptimizerFactory, Tolerances], CheckResult], optimizer: type[Optimizer]
) -> cases.Runner:
    """A closed-form optimizer check as a catalog runner (it draws nothing and never sweeps)."""

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        start = time.perf_counter()
        return Report([check(optimizer, tol)], time.perf_counter() - start)

    return run


def _mlp_tanh(rng: np.random.Generator) -> list[Layer]:
    return [
        Dense(3, 5, "tanh", l1_lambda=0.01, l2_lambda=0.05, rng=rng),
        Dense(5, 2, "sigmoid", l2_lambda=0.05, rng=rng),
    ]


def _relu_batchnorm_dropout(rng: np.random.Generator) -> list[Layer]:
    return [
        Dense(4, 6, "relu", l2_lambda=0.1, rng=rng),
        BatchNorm(6),
        Dropout(0.25, seed=int(rng.integers(2**31))),
        Dense(6, 3, l1_lambda=0.01, rng=rng),
    ]


def _frozen_batchnorm(rng: np.random.Generator) -> list[Layer]:
    """A frozen BatchNorm in training mode between two live layers: its input gradient still uses the
    batch statistics (mean(grad_x_hat·x_hat) included), though it computes no dgamma and dbeta."""
    batchnorm = BatchNorm(5)
    batchnorm.params["gamma"][:] = rng.uniform(0.5, 1.5, 5)
    batchnorm.params["beta"][:] = rng.standard_normal(5)
    batchnorm.trainable = False
    return [Dense(3, 5, "tanh", rng=rng), batchnorm, Dense(5, 2, rng=rng)]


def _leaky_deep(rng: np.random.Generator) -> list[Layer]:
    return [
        Dense(5, 4, "leaky_relu", l1_lambda=0.02, rng=rng),
        Dense(4, 4, "tanh", rng=rng),
        Dense(4, 1, l2_lambda=0.1, rng=rng),
    ]


def _wide(rng: np.random.Generator) -> list[Layer]:
    return [
        Dense(10, 16, "tanh", l2_lambda=0.01, rng=rng),
        Dense(16, 8, "sigmoid", l2_lambda=0.01, rng=rng),
        Dense(8, 4, rng=rng),
    ]


def _softmax_output(rng: np.random.Generator) -> list[Layer]:
    return [Dense(3, 4, "tanh", rng=rng), Dense(4, 3, "softmax", l2_lambda=0.05, rng=rng)]


def _residual(rng: np.random.Generator) -> tuple[Node, Node]:
    """x → Dense(tanh) → Dense → Add(x, ·) → Dense: x fans out, so its gradients are summed."""
    x = Input(4)
    h = Dense(4, 6, "tanh", l2_lambda=0.05, rng=rng)(x)
    y = Add()(x, Dense(6, 4, l1_lambda=0.01, rng=rng)(h))
    return x, Dense(4, 2, rng=rng)(y)


def _gated_concat(rng: np.random.Generator) -> tuple[Node, Node]:
    """Multiply(Dense(tanh)(x), Dense(sigmoid)(x)), concatenated with x, then Dense."""
    x = Input(3)
    gated = Multiply()(Dense(3, 4, "tanh", rng=rng)(x), Dense(3, 4, "sigmoid", rng=rng)(x))
    return x, Dense(7, 3, l2_lambda=0.05, rng=rng)(Concatenate()(gated, x))


def _internal_fan_out(rng: np.random.Generator) -> tuple[Node, Node]:
    """x → h = Dense(tanh)(x); Add(Dense(h), Dense(sigmoid)(h)): h, not an input, fans out.

    dL/dh = grad_a·W_aᵀ + grad_b·W_bᵀ must be summed inside the graph; dropping either term
    changes the first Dense's grads (and dL/dX).
    """
    x = Input(3)
    h = Dense(3, 5, "tanh", l2_lambda=0.05, rng=rng)(x)
    return x, Add()(Dense(5, 3, rng=rng)(h), Dense(5, 3, "sigmoid", l1_lambda=0.01, rng=rng)(h))


def _binary(rng: np.random.Generator, rows: int) -> Array:
    return rng.integers(0, 2, size=(rows, 1)).astype(np.float64)


CATALOG: list[Check] = [
    *(Check(f"Dense[{name}]", (Dense,), cases.dense(name)) for name in cases.ACTIVATIONS),
    Check("Dense[tanh, L1+L2]", (Dense, ElasticNet), cases.dense("tanh", l1=0.05, l2=0.1)),
    Check("Dense[relu, L1]", (Dense, ElasticNet), cases.dense("relu", l1=0.05)),
    Check("Dense[sigmoid, 16→12, projections]", (Dense,), cases.dense("sigmoid", l2=0.01, shape=(8, 16, 12))),
    Check("Identity", (Identity,), cases.activation(Identity)),
    Check("ReLU", (ReLU,), cases.activation(ReLU)),
    Check("LeakyReLU", (LeakyReLU,), cases.activation(lambda: LeakyReLU(0.1))),
    Check("Sigmoid", (Sigmoid,), cases.activation(Sigmoid)),
    Check("Tanh", (Tanh,), cases.activation(Tanh)),
    Check("Softmax", (Softmax,), cases.activation(Softmax)),
    Check("MSE", (MSE,), cases.loss(MSE, cases.regression)),
    Check("CrossEntropy[labels]", (CrossEntropy,), cases.loss(CrossEntropy, cases.labels)),
    Check("CrossEntropy[one-hot]", (CrossEntropy,), cases.loss(CrossEntropy, cases.one_hot)),
    Check("CrossEntropy[probabilities]", (CrossEntropy,), cases.loss(CrossEntropy, cases.probabilities)),
    Check(
        "BinaryCrossEntropy[probabilities]",
        (BinaryCrossEntropy,),
        cases.loss(BinaryCrossEntropy, cases.binary_probabilities),
    ),
    Check(
        "BinaryCrossEntropy[from_logits]",
        (BinaryCrossEntropy,),
        cases.loss(lambda: BinaryCrossEntropy(from_logits=True), cases.binary_logits),
    ),
    Check("ElasticNet[L1]", (ElasticNet,), cases.elastic_net(0.05, 0.0)),
    Check("ElasticNet[L2]", (ElasticNet,), cases.elastic_net(0.0, 0.1)),
    Check("ElasticNet[L1+L2]", (ElasticNet,), cases.elastic_net(0.03, 0.2)),
    Check("Dropout[fixed mask]", (Dropout,), cases.dropout(training=True)),
    Check("Dropout[eval]", (Dropout,), cases.dropout(training=False)),
    Check("BatchNorm[train]", (BatchNorm,), cases.batchnorm(training=True)),
    Check("BatchNorm[eval]", (BatchNorm,), cases.batchnorm(training=False)),
    Check("Neuron[sigmoid]", (Neuron,), cases.neuron("sigmoid")),
    Check("Neuron[relu]", (Neuron,), cases.neuron("relu")),
    Check(
        "Network[tanh→sigmoid, MSE, L1+L2]",
        (NeuralNetwork, Dense, ElasticNet, MSE),
        cases.network(_mlp_tanh, MSE, lambda rng, n: rng.standard_normal((n, 2)), rows=6),
    ),
    Check(
        "Network[relu→BN→dropout, CE labels, L1+L2]",
        (NeuralNetwork, BatchNorm, Dropout, CrossEntropy),
        cases.network(_relu_batchnorm_dropout, CrossEntropy, lambda rng, n: rng.integers(0, 3, n), rows=8),
    ),
    Check(
        "Network[tanh→frozen BN (train)→linear, MSE]",
        (NeuralNetwork, BatchNorm),
        cases.network(_frozen_batchnorm, MSE, lambda rng, n: rng.standard_normal((n, 2)), rows=6),
    ),
    Check(
        "Network[leaky→tanh→linear, BCE logits, L1+L2]",
        (NeuralNetwork, BinaryCrossEntropy),
        cases.network(_leaky_deep, lambda: BinaryCrossEntropy(from_logits=True), _binary, rows=7),
    ),
    Check(
        "Network[softmax output, BCE probabilities, L2]",
        (NeuralNetwork, Softmax, BinaryCrossEntropy),
        cases.network(_softmax_output, BinaryCrossEntropy, lambda rng, n: rng.uniform(0, 1, (n, 3)), rows=5),
    ),
    Check(
        "Network[10→16→8→4, MSE, L2, projections]",
        (NeuralNetwork, MSE),
        cases.network(_wide, MSE, lambda rng, n: rng.standard_normal((n, 4)), rows=12),
    ),
    Check("Add[3 inputs]", (Add, Merge), cases.merge(Add, (4, 4, 4))),
    Check("Multiply[3 inputs]", (Multiply, Merge), cases.merge(Multiply, (4, 4, 4))),
    Check("Concatenate[widths 2, 3, 1]", (Concatenate,), cases.merge(Concatenate, (2, 3, 1))),
    Check(
        "GraphModel[residual tanh block, MSE, L1+L2]",
        (GraphModel, Add),
        cases.graph(_residual, MSE, lambda rng, n: rng.standard_normal((n, 2)), rows=6),
    ),
    Check(
        "GraphModel[multiply gate + concatenate, CE labels, L2]",
        (GraphModel, Multiply, Concatenate),
        cases.graph(_gated_concat, CrossEntropy, lambda rng, n: rng.integers(0, 3, n), rows=7),
    ),
    Check(
        "GraphModel[internal fan-out h → two Dense → Add, MSE, L1+L2]",
        (GraphModel, Add),
        cases.graph(_internal_fan_out, MSE, lambda rng, n: rng.standard_normal((n, 3)), rows=6),
    ),
    *(Check(f"Adam[{name}]", (Adam,), _closed_form(check, Adam)) for name, check in optim.ADAM_CHECKS.items()),
    *(Check(f"SGD[{name}]", (SGD,), _closed_form(check, SGD)) for name, check in optim.SGD_CHECKS.items()),
    *(Check(name, covers, run) for name, covers, run in (*references.CHECKS, *stateful.CHECKS)),
    # the convolutional layers (issue 19)
    *(Check(name, covers, run) for name, covers, run in conv_references.CHECKS),
    *(Check(name, covers, run) for name, covers, run in sequences.CHECKS),  # issue 20: Embedding, RNN, LSTM, GRU
    *(Check(name, covers, run) for name, covers, run in toolkit.CHECKS),  # issue 22: the learner's toolkit
    # issue 21: LayerNorm, MultiHeadAttention, PositionalEmbedding, GELU, SiLU, the transformer block
    *(Check(name, covers, run) for name, covers, run in attention_references.CHECKS),
]

CATALOG_TOLERANCES = replace(DEFAULT_TOLERANCES, kink_fraction=0.0)

ABSTRACT_BASES: tuple[type, ...] = (Layer, Activation, Loss, Optimizer)


def public_components() -> list[type]:
    """Every class in ``refnet.__all__`` that is a Layer, Loss, Optimizer or ElasticNet (bases excluded)."""
    found = []
    for name in refnet.__all__:
        value = getattr(refnet, name)
        component = isinstance(value, type) and issubclass(value, (Layer, Loss, Optimizer, ElasticNet))
        if component and value not in ABSTRACT_BASES:
            found.append(value)
    return found


def uncovered(catalog: list[Check] = CATALOG) -> list[type]:
    """Public refnet components that no check in ``catalog`` covers (should be empty)."""
    covered = {cls for check in catalog for cls in check.covers}
    return [cls for cls in public_components() if cls not in covered]


def exercised(check: Check, seed: int = 0) -> set[type]:
    """The public components whose own methods run while ``check`` runs, found by watching it run.

    A profile hook (``sys.setprofile``, put back afterwards) sees every call of a function defined
    in refnet's source; the class of its ``self`` is recorded when it is a public component and the
    method is not a dunder (a constructor or a ``__repr__`` builds or shows, it does not exercise).
    So a check exercises what it really runs, whatever its ``covers`` says.
    """
    root = str(Path(refnet.__file__).parent)
    seen: set[type] = set()

    def record(frame: FrameType, event: str, arg: object) -> None:
        code = frame.f_code
        if event == "call" and code.co_filename.startswith(root) and not code.co_name.startswith("__"):
            owner = type(frame.f_locals.get("self"))
            if owner.__module__.startswith("refnet"):
                seen.add(owner)
            # and refnet's class whose own method this is (Merge's, run by an Add; Optimizer's, run by a
            # subclass written outside refnet)
            seen.update(
                cls
                for cls in owner.__mro__
                if cls.__module__.startswith("refnet")
                and getattr(vars(cls).get(code.co_name), "__code__", None) is code
            )

    previous = sys.getprofile()
    sys.setprofile(record)
    try:
        check.run(check_rng(seed, check.name), CATALOG_TOLERANCES, False)
    finally:
        sys.setprofile(previous)
    return seen


def unexercised(catalog: list[Check] = CATALOG) -> list[type]:
    """Public refnet components whose methods no check in ``catalog`` runs (should be empty; runs the catalog)."""
    ran = {cls for check in catalog for cls in exercised(check)}
    return [cls for cls in public_components() if cls not in ran]


def select(pattern: str | None = None, catalog: list[Check] = CATALOG) -> list[Check]:
    """The checks whose name contains ``pattern`` (case-insensitive); all of them for None."""
    if not pattern:
        return list(catalog)
    return [check for check in catalog if pattern.lower() in check.name.lower()]


def check_rng(seed: int, name: str) -> np.random.Generator:
    """The Generator of one check: from the run's seed and the check's name."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def run_catalog(
    seed: int = 0,
    pattern: str | None = None,
    tolerances: Tolerances = CATALOG_TOLERANCES,
    sweep: bool = False,
    timeout: float | None = None,
) -> Report:
    """Run every catalog check whose name contains ``pattern``; each result names its check.

    ``seed`` (an int >= 0) fixes every check point; the report's time is the wall time. A check
    that raises, or runs longer than ``timeout`` seconds, gives an ``error`` result.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    start = time.perf_counter()
    report = Report()
    for check in select(pattern):
        part = guarded(check.name, partial(check.run, check_rng(seed, check.name), tolerances, sweep), timeout)
        report.results += [replace(result, component=check.name) for result in part.results]
    report.seconds = time.perf_counter() - start
    return report
