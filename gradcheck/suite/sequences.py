"""The sequence components' catalog checks: Embedding, RNN, LSTM, GRU.

Two kinds, as for every component:

- gradients by central differences (``gradcheck.checks.run_targets``) of L = Σ grad_y·y, for every
  parameter (and the input, where it has one); Embedding's ids always repeat, so a backward that
  overwrites the rows of repeated ids (``dW[ids] = grad_y``, numpy-ml's bug) instead of adding them
  gives a gradient of the wrong size and fails;
- values against ``gradcheck.suite.recurrent_references``, the formulas as scalar loops in plain Python;
- carried state: a nonzero initial state h_0 (c_0) in the references, its gradient dL/dh_0 (dL/dc_0) by
  central differences, and the closed form of truncated BPTT: two windows with the state carried give
  the values of one forward over the concatenated sequence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import numpy as np
from numpy.typing import NDArray

from gradcheck.checks import check_layer, run_targets
from gradcheck.core.lines import Target
from gradcheck.core.results import CheckResult, Report
from gradcheck.core.tolerances import Tolerances
from gradcheck.core.values import compare
from gradcheck.network_check import check_network
from gradcheck.repeat import repeat_failures_of
from gradcheck.suite import recurrent_references as textbook
from gradcheck.suite import textbook as plain_textbook
from gradcheck.suite.cases import Runner, seed_from
from gradcheck.suite.references import ValueCheck, rows, runner
from refnet.embedding import Embedding
from refnet.layer import Dense
from refnet.losses import CrossEntropy
from refnet.network import NeuralNetwork
from refnet.recurrent import GRU, LSTM, RNN, Recurrent

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


# -- RNN, LSTM, GRU ----------------------------------------------------------------------------

#: The recurrent layers' sizes in the catalog: D = 3 inputs, H = 4 hidden units (D ≠ H, so a
#: transposed W_x or W_h fails on shapes or values), N = 2 sequences.
D_IN, HIDDEN, ROWS = 3, 4, 2


def recurrent(make: Callable[..., Recurrent], steps: int, return_sequences: bool = True) -> Runner:
    """``make(D, H, return_sequences)`` at x (N, steps, D): dL/dx, dL/dW_x, dL/dW_h, dL/db by central differences.

    L = Σ grad_y·y sums every h_t (return_sequences) or h_T only; T = 1 checks one step, T >= 5 the
    loop backwards through time (dL/dh_t, dL/dc_t carried from t + 1). Biases are redrawn larger than
    the init's, so the gates sit away from ½ and a gate's formula mixed up with another's shows.
    """

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        layer = make(D_IN, HIDDEN, return_sequences, rng=rng)
        for name in layer.bias_names:
            layer.params[name][:] = rng.uniform(-1.0, 1.0, layer.params[name].shape)
        x = rng.standard_normal((ROWS, steps, D_IN))
        return check_layer(layer, x, seed=seed_from(rng), tolerances=tol, sweep=sweep)

    return run


def recurrent_values(make: Callable[..., Recurrent]) -> ValueCheck:
    """Every h_t, and h_T alone without return_sequences, against the scalar loops over t (T = 5, D = 3, H = 4)."""

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        layer = make(D_IN, HIDDEN, True, rng=rng)
        last = make(D_IN, HIDDEN, False, rng=rng)
        for name, value in layer.params.items():
            value[:] = rng.uniform(-0.8, 0.8, value.shape)
            last.params[name][:] = value
        x = rng.standard_normal((ROWS, 5, D_IN))
        expected = reference_states(layer, x.tolist())
        name = type(layer).__name__
        return [
            compare("y (every h_t)", expected, layer.forward(x.copy()), tol, f"{name}: h_t for t = 1 … T, h_0 = 0"),
            compare(
                "y (h_T, return_sequences=False)",
                [states[-1] for states in expected],
                last.forward(x.copy()),
                tol,
                f"{name}: h_T only",
            ),
        ]

    return check


def reference_states(
    layer: Recurrent, x: textbook.Sequences, state: tuple[NDArray[np.float64], ...] | None = None
) -> textbook.Sequences:
    """h[n][t] of ``layer``'s textbook recurrence, from its parameters and the initial ``state`` (None: zeros)."""
    p = {name: value.tolist() for name, value in layer.params.items()}
    h_0 = None if state is None else state[0].tolist()
    if isinstance(layer, LSTM):
        c_0 = None if state is None else state[1].tolist()
        return textbook.lstm(x, p["W_x"], p["W_h"], p["b"], h_0, c_0)[0]
    if isinstance(layer, GRU):
        return textbook.gru(x, p["W_x"], p["W_h"], p["b_x"], p["b_h"], h_0)
    return textbook.rnn(x, p["W_x"], p["W_h"], p["b"], h_0)


# -- carried state: h_0 (and c_0) given, its gradient, two windows as one sequence ----------------


def initial_state(layer: Recurrent, rng: np.random.Generator) -> tuple[NDArray[np.float64], ...]:
    """A nonzero (h_0[, c_0]), each (N, H) in (−0.9, 0.9), set on ``layer``; returned as drawn."""
    state = tuple(rng.uniform(-0.9, 0.9, (ROWS, HIDDEN)) for _ in layer.state_names)
    layer.set_initial_state(*state)
    return state


def recurrent_from_state(make: Callable[..., Recurrent], steps: int, return_sequences: bool = True) -> Runner:
    """``recurrent`` from a nonzero initial state: dL/dx and the weights, and dL/dh_0 (dL/dc_0), by central differences.

    h_0 enters the first step's formulas (h_0 @ W_h, and f ⊙ c_0 in the LSTM); the loop from T down to 1
    carries dL/dh_t past t = 1 into dL/dh_0, which ``initial_state_gradient`` returns.
    """

    def run(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
        start = time.perf_counter()
        layer = make(D_IN, HIDDEN, return_sequences, rng=rng)
        for name in layer.bias_names:
            layer.params[name][:] = rng.uniform(-1.0, 1.0, layer.params[name].shape)
        initial_state(layer, rng)
        x = rng.standard_normal((ROWS, steps, D_IN))
        grad_y = rng.standard_normal(layer.forward(x).shape)
        report = check_layer(layer, x, grad_y=grad_y, seed=seed_from(rng), tolerances=tol, sweep=sweep)
        layer.forward(x)
        layer.backward(grad_y)
        name = type(layer).__name__
        assert layer.initial_state is not None
        targets = [
            Target(name, f"{key}_0", live, grad, lambda: float(np.sum(grad_y * layer.forward(x))))
            for key, live, grad in zip(
                layer.state_names, layer.initial_state, layer.initial_state_gradient(), strict=True
            )
        ]
        report.results += run_targets(targets, tol, seed_from(rng), sweep).results
        report.seconds = time.perf_counter() - start
        return report

    return run


def recurrent_state_values(make: Callable[..., Recurrent]) -> ValueCheck:
    """From h_0 (c_0) ≠ 0: every h_t against the scalar loops; and the closed form of a carried state.

    Stateful, two windows x[:, :2] and x[:, 2:] give the h_t of one forward over x (T = 5): the first
    window's final state is the second's initial state. Only the rounding of x @ W_x over T·N rows
    at once may differ (a matrix product of another size), hence the closed-form tolerance.
    """

    def check(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
        layer = make(D_IN, HIDDEN, True, rng=rng)
        for value in layer.params.values():
            value[:] = rng.uniform(-0.8, 0.8, value.shape)
        state = initial_state(layer, rng)
        x = rng.standard_normal((ROWS, 5, D_IN))
        name = type(layer).__name__
        whole = layer.forward(x.copy())
        stateful = make(D_IN, HIDDEN, True, stateful=True, rng=rng)
        for key, value in layer.params.items():
            stateful.params[key][:] = value
        stateful.set_initial_state(*state)
        windows = np.concatenate([stateful.forward(x[:, :2].copy()), stateful.forward(x[:, 2:].copy())], axis=1)
        layer.forward(x.copy())
        return [
            compare(
                "y (h_0 ≠ 0)",
                reference_states(layer, x.tolist(), state),
                whole,
                tol,
                f"{name}: h_t for t = 1 … T from a given h_0" + (", c_0" if len(state) == 2 else ""),
            ),
            compare("y (two windows, state carried)", whole, windows, tol, f"{name}(stateful): windows = one sequence"),
            compare(
                "final state (two windows)",
                np.stack(layer.final_state()),
                np.stack(stateful.final_state()),
                tol,
                f"{name}(stateful): the second window ends where the whole sequence does",
            ),
        ]

    return check


def lstm_cell_values(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
    """The LSTM's cell state c_t (read from its cache, the c_t of the formula) against the scalar loops."""
    layer = LSTM(D_IN, HIDDEN, rng=rng)
    for value in layer.params.values():
        value[:] = rng.uniform(-0.8, 0.8, value.shape)
    x = rng.standard_normal((ROWS, 5, D_IN))
    layer.forward(x.copy())
    p = {name: value.tolist() for name, value in layer.params.items()}
    expected = textbook.lstm(x.tolist(), p["W_x"], p["W_h"], p["b"])[1]
    return [compare("c_t", expected, layer.cell_states(), tol, "c_t = f ⊙ c_{t−1} + i ⊙ g, c_0 = 0")]


# -- whole sequence models ------------------------------------------------------------------------


def sequence_classifier(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
    """GRU(3, 4) → LSTM(4, 5) → Dense(5, 3) on x (2, 5, 3), CrossEntropy over every position with labels (2, 5).

    ``check_network``: dL/dX and every parameter of L = compute_gradients(X, Y), the mean over N·T
    positions; Dense acts on (N, T, H) along the last axis, the recurrent layers chain their hidden sizes.
    """
    network = NeuralNetwork(
        [GRU(3, 4, rng=rng), LSTM(4, 5, rng=rng), Dense(5, 3, l2_lambda=0.05, rng=rng)], CrossEntropy()
    )
    X, Y = rng.standard_normal((ROWS, 5, 3)), rng.integers(0, 3, size=(ROWS, 5))
    return check_network(network, X, Y, seed=seed_from(rng), tolerances=tol, sweep=sweep)


def language_model(rng: np.random.Generator) -> NeuralNetwork:
    """Embedding(6, 3) → RNN(3, 4) → Dense(4, 6): next-id logits at every position, CrossEntropy."""
    return NeuralNetwork([Embedding(6, 3, rng=rng), RNN(3, 4, rng=rng), Dense(4, 6, rng=rng)], CrossEntropy())


def language_model_gradient(rng: np.random.Generator, tol: Tolerances, sweep: bool) -> Report:
    """``language_model`` on ids (2, 5) with repeats: every parameter of L = compute_gradients(ids, Y).

    Ids have no gradient, so unlike ``check_network`` there is no dL/dX; the Embedding's dW gathers the
    gradient of every position that read a row, through the RNN's backward through time.
    """
    start = time.perf_counter()
    network = language_model(rng)
    ids = repeated_ids(rng, (ROWS, 5), 6)
    Y = rng.integers(0, 6, size=(ROWS, 5))
    network.compute_gradients(ids, Y)
    grads = [{key: value.copy() for key, value in layer.grads.items()} for layer in network.layers]

    def loss() -> float:
        return network.compute_gradients(ids, Y)

    targets = [
        Target("NeuralNetwork", f"layers[{i}].{key}", layer.params[key], grads[i][key], loss)
        for i, layer in enumerate(network.layers)
        for key in layer.params
    ]
    report = run_targets(targets, tol, seed_from(rng), sweep)
    report.seconds = time.perf_counter() - start
    return report


def language_model_values(rng: np.random.Generator, tol: Tolerances) -> list[CheckResult]:
    """predict and evaluate's loss of ``language_model`` against the textbook: embedding, recurrence, affine, CE.

    The cross-entropy is the mean over all N·T positions (SPEC: sequence losses), each position's logits a row.
    """
    network = language_model(rng)
    ids = repeated_ids(rng, (ROWS, 5), 6)
    Y = rng.integers(0, 6, size=(ROWS, 5))
    embedding, rnn, dense = network.layers
    p = {name: value.tolist() for name, value in rnn.params.items()}
    W = rows(embedding.params["W"])
    x = [textbook.embedding([int(v) for v in sequence], W) for sequence in ids]
    h = textbook.rnn(x, p["W_x"], p["W_h"], p["b"])
    W_out, b_out = rows(dense.params["W"]), [float(v) for v in dense.params["b"]]
    logits = [[[b_out[c] + textbook.column(h_t, W_out, c) for c in range(6)] for h_t in sequence] for sequence in h]
    positions = [row for sequence in logits for row in sequence]
    one_hot = [[1.0 if c == int(y) else 0.0 for c in range(6)] for y in Y.ravel()]
    return [
        compare("predict", logits, network.predict(ids), tol, "Dense(RNN(W_E[ids])) at every position"),
        compare(
            "evaluate loss",
            plain_textbook.cross_entropy(positions, one_hot),
            network.evaluate(ids, Y)["loss"],
            tol,
            "cross-entropy, the mean over N·T positions",
        ),
    ]


RECURRENT: tuple[type[Recurrent], ...] = (RNN, LSTM, GRU)

CHECKS: list[tuple[str, tuple[type, ...], Runner]] = [
    ("Embedding[repeated ids]", (Embedding,), embedding_gradient()),
    ("Embedding reference", (Embedding,), runner(embedding_values)),
    *(
        check
        for cls in RECURRENT
        for check in (
            (f"{cls.__name__}[T=1, D=3→H=4]", (cls,), recurrent(cls, 1)),
            (f"{cls.__name__}[T=5, D=3→H=4, BPTT]", (cls,), recurrent(cls, 5)),
            (f"{cls.__name__}[T=5, return_sequences=False]", (cls,), recurrent(cls, 5, return_sequences=False)),
            (f"{cls.__name__} reference", (cls,), runner(recurrent_values(cls))),
            # issue 20, carried state: h_0 (c_0) given, its gradient, two windows = one sequence
            (f"{cls.__name__}[T=1, h_0 ≠ 0]", (cls,), recurrent_from_state(cls, 1)),
            (f"{cls.__name__}[T=5, h_0 ≠ 0, BPTT]", (cls,), recurrent_from_state(cls, 5)),
            (f"{cls.__name__}[T=5, h_0 ≠ 0, return_sequences=False]", (cls,), recurrent_from_state(cls, 5, False)),
            (f"{cls.__name__}[carried state] reference", (cls,), runner(recurrent_state_values(cls))),
        )
    ),
    ("LSTM[float32, rebuilt in float64]", (LSTM,), recurrent(partial(LSTM, dtype=np.float32), 2)),
    ("LSTM[cell state] reference", (LSTM,), runner(lstm_cell_values)),
    ("Network[GRU→LSTM→Dense, CE over (N, T, C)]", (NeuralNetwork, GRU, LSTM, CrossEntropy), sequence_classifier),
    ("Network[Embedding→RNN→Dense, CE, ids]", (NeuralNetwork, Embedding, RNN), language_model_gradient),
    ("Network[Embedding→RNN→Dense, CE] reference", (NeuralNetwork, Embedding, RNN), runner(language_model_values)),
]
