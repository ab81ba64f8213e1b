"""Peer comparison: scikit-learn's MLPClassifier (NumPy, hand-written backprop) on digits.

Same data split, architecture (64-32-10, ReLU hidden layer, softmax output trained with
cross-entropy), batch size 32, epochs, optimizer (Adam: lr 1e-3, beta1 0.9, beta2 0.999,
eps 1e-8), shuffling every epoch, float64, and the same L2 objective:

- scikit-learn adds ``0.5·alpha·Σ‖W‖² / n_batch`` to every mini-batch loss (its gradient
  ``alpha·W / n_batch``), where n_batch is that batch's number of rows;
- refnet adds ``(l2/2)·Σ‖W‖²`` (gradient ``l2·W``), not divided by the batch size;

so ``l2_lambda = alpha / batch_size`` is the identical objective when every batch is full:
the training split is 1344 = 42 × 32 rows, so it is. Biases are unregularized in both.

Remaining differences, stated: initialization (scikit-learn: Glorot uniform with its
own scaling; refnet: He normal for ReLU layers) and Adam's epsilon (scikit-learn adds eps
to √v before the bias correction of the step size, i.e. eps·√(1−β2ᵗ) in refnet's terms;
negligible next to √v̂). Timed: refnet ``train`` against scikit-learn ``fit``, each from a
fresh model, round by round (scikit-learn runs in the untimed setup hook, with its own
timer); accuracy is on the 453 held-out rows, mean and standard deviation over the timed
rounds' seeds (one seed per round, the same for both libraries).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import harness
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from refnet import Adam, NeuralNetwork

EPOCHS = 40
BATCH = 32
ALPHA = 1e-4  # scikit-learn's default L2 strength
HIDDEN = 32


def test_digits_against_sklearn(benchmark: Any) -> None:
    digits = load_digits()
    X = digits.data / 16.0
    X_train, X_test, y_train, y_test = train_test_split(
        X, digits.target, train_size=42 * BATCH, stratify=digits.target, random_state=0
    )
    epochs = max(5, EPOCHS // 4) if harness.QUICK else EPOCHS
    sklearn_times: list[float] = []
    sklearn_accuracy: list[float] = []
    networks: list[NeuralNetwork] = []

    def setup() -> tuple[tuple[NeuralNetwork], dict[str, Any]]:
        seed = len(networks)
        model = MLPClassifier(
            hidden_layer_sizes=(HIDDEN,),
            activation="relu",
            solver="adam",
            alpha=ALPHA,
            batch_size=BATCH,
            learning_rate_init=1e-3,
            beta_1=0.9,
            beta_2=0.999,
            epsilon=1e-8,
            max_iter=epochs,
            shuffle=True,
            tol=0.0,
            n_iter_no_change=epochs + 1,  # never stop early: exactly `epochs` epochs
            random_state=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached, as intended
            start = time.perf_counter()
            model.fit(X_train, y_train)
            sklearn_times.append(time.perf_counter() - start)
        assert model.n_iter_ == epochs
        sklearn_accuracy.append(float(model.score(X_test, y_test)))
        net = harness.make_mlp((64, HIDDEN, 10), np.float64, seed=seed, l2_lambda=ALPHA / BATCH)
        networks.append(net)
        return (net,), {}

    def train(net: NeuralNetwork) -> None:
        net.train(X_train, y_train, epochs=epochs, optimizer=Adam(learning_rate=1e-3), batch_size=BATCH)

    warmup = 1
    benchmark.group = "peer: digits"
    benchmark.pedantic(train, setup=setup, rounds=harness.rounds(10), warmup_rounds=warmup, iterations=1)
    refnet_accuracy = [net.evaluate(X_test, y_test)["accuracy"] for net in networks[warmup:]]
    if benchmark.stats is None:
        return
    refnet_time = benchmark.stats.stats.min
    sklearn_time = min(sklearn_times[warmup:])
    benchmark.extra_info.update(
        {
            "bound": "sklearn",
            "epochs": epochs,
            "batch_size": BATCH,
            "sklearn_alpha": ALPHA,
            "refnet_l2_lambda": ALPHA / BATCH,
            "refnet_time_s": refnet_time,
            "sklearn_time_s": sklearn_time,
            "ratio_min": refnet_time / sklearn_time,
            "refnet_accuracy": float(np.mean(refnet_accuracy)),
            "sklearn_accuracy": float(np.mean(sklearn_accuracy[warmup:])),
            "refnet_accuracy_std": float(np.std(refnet_accuracy)),
            "sklearn_accuracy_std": float(np.std(sklearn_accuracy[warmup:])),
            "refnet_accuracy_per_seed": refnet_accuracy,
            "sklearn_accuracy_per_seed": sklearn_accuracy[warmup:],
        }
    )
