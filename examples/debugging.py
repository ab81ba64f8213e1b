"""Debugging a network that does not learn: three broken set-ups, diagnosed and fixed.

``refnet.diagnose(net, X, Y, optimizer)`` runs the checks an experienced practitioner runs first
(cs231n's list): the loss against chance, whether a short run overfits a small subset, and per
layer the output statistics, dead ReLUs, saturated sigmoids, gradient norms and the update-to-weight
ratio of one step. Each broken set-up below is diagnosed, fixed as the diagnosis says, diagnosed
again (no findings), and both are trained for a few epochs to show the difference.

Data: scikit-learn's 8x8 digits (the examples extra: ``pip install "refnet[examples]"``). Outputs
(a diagnosis plot, the per-epoch diagnostics of the fixed run) go to REFNET_OUT (default: a new
temporary folder).

    python examples/debugging.py
"""

from __future__ import annotations

from typing import Any

import numpy as np
from outputs import output_folder  # examples/outputs.py: REFNET_OUT, created if missing
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from refnet import (
    SGD,
    Adam,
    CrossEntropy,
    Dense,
    DiagnosticsCallback,
    NeuralNetwork,
    Optimizer,
    TerminateOnNaN,
    diagnose,
)

out = output_folder("refnet-debugging-")
digits = load_digits()
X = (digits.data - digits.data.mean(axis=0)) / (digits.data.std(axis=0) + 1e-8)  # standardized pixels
X_train, X_test, y_train, y_test = train_test_split(X, digits.target, test_size=0.25, random_state=0)


def mlp(activation: str = "relu", weight_init: Any = "auto") -> NeuralNetwork:
    return NeuralNetwork(
        [
            Dense(64, 64, activation, weight_init=weight_init),
            Dense(64, 64, activation, weight_init=weight_init),
            Dense(64, 10),  # logits for CrossEntropy
        ],
        CrossEntropy(),
        seed=0,
    )


def train_and_test(net: NeuralNetwork, labels: Any, optimizer: Optimizer) -> float:
    """Train for 20 epochs on (X_train, labels); the accuracy on the held-out digits (TerminateOnNaN: a run
    that diverges stops quietly at its last finite parameters)."""
    net.train(X_train, labels, epochs=20, optimizer=optimizer, batch_size=32, callbacks=[TerminateOnNaN()])
    return net.evaluate(X_test, y_test)["accuracy"]


def case(title: str, broken: tuple[NeuralNetwork, Any, Optimizer], fixed: tuple[NeuralNetwork, Any, Optimizer]) -> None:
    print(f"\n=== {title} ===")
    results = []
    for label, (net, labels, optimizer) in (("broken", broken), ("fixed", fixed)):
        report = diagnose(net, X_train, labels, optimizer)
        print(f"--- {label}: refnet.diagnose ---")
        print(report)
        results.append((report, train_and_test(net, labels, optimizer)))
    (bad, bad_accuracy), (good, good_accuracy) = results
    print(f"test accuracy after 20 epochs: broken {bad_accuracy:.1%}, fixed {good_accuracy:.1%}")
    assert bad.findings and not good.findings, "the broken set-up must have findings, the fixed one none"
    assert good_accuracy >= 0.9 and good_accuracy > bad_accuracy + 0.05


# 1. The learning rate is 100 times too large: every step changes the weights by about their own size.
case(
    "1. learning rate too high: SGD(lr=5.0)",
    broken=(mlp(), y_train, SGD(learning_rate=5.0)),
    fixed=(mlp(), y_train, SGD(learning_rate=0.05)),
)


# 2. Sigmoid units initialized with weights of standard deviation 4: most outputs sit at 0 or 1.
def large_normal(shape: tuple[int, int], rng: np.random.Generator, dtype: Any) -> Any:
    return (4.0 * rng.standard_normal(shape)).astype(dtype)


case(
    "2. sigmoid saturation from a bad initialization: W ~ N(0, 4²)",
    broken=(mlp("sigmoid", large_normal), y_train, Adam(0.003)),
    fixed=(mlp("sigmoid"), y_train, Adam(0.003)),  # 'auto': Glorot uniform for sigmoid
)

# 3. A label bug: the labels were shuffled on their own (say, a sort applied to X but not to y).
shuffled = np.random.default_rng(1).permutation(y_train)
case(
    "3. a label bug: y shuffled apart from X",
    broken=(mlp(), shuffled, Adam(0.003)),
    fixed=(mlp(), y_train, Adam(0.003)),
)

# The diagnosis of a network as a picture, and the per-layer statistics recorded during training.
report = diagnose(mlp("sigmoid", large_normal), X_train, y_train, Adam(0.003), overfit=False)
report.plot(out / "diagnosis_saturated.png")
recorder = DiagnosticsCallback(X_train, y_train)
mlp().train(X_train, y_train, epochs=10, optimizer=Adam(0.003), callbacks=[recorder])
recorder.plot(out / "diagnostics_over_epochs.png")
print(f"\nplots: {out / 'diagnosis_saturated.png'}, {out / 'diagnostics_over_epochs.png'}")
print(f"findings over 10 healthy epochs: {sum(len(d.findings) for d in recorder.diagnoses)}")
